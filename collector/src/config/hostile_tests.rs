//! Hostile configuration and rule files: deep nesting, alias bombs, huge scalars, deep
//! PromQL. Each is refused with its position (or loads), quickly and without a crash.

use std::time::Instant;

use super::*;

/// Documents built to hurt a YAML reader, by name.
pub(crate) fn hostile_yaml() -> Vec<(&'static str, String)> {
    let n = 50_000;
    let mut bomb =
        String::from("alerting:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "  a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let mut block = String::from("global:\n");
    for i in 0..2_000 {
        block.push_str(&" ".repeat(2 * (i + 1)));
        block.push_str("k:\n");
    }
    vec![
        (
            "deep flow sequences",
            format!("scrape_configs: {}{}\n", "[".repeat(n), "]".repeat(n)),
        ),
        (
            "deep flow mappings",
            format!("global: {}{}\n", "{a: ".repeat(n), "}".repeat(n)),
        ),
        ("deep block mappings", block),
        ("an alias bomb", bomb),
        (
            "a deep alias chain",
            format!(
                "alerting:\n  a: &a [x]\n{}",
                (0..5000)
                    .map(|i| format!("  b{i}: &b{i} [*a]\n"))
                    .collect::<String>()
            ),
        ),
        (
            "a huge scalar",
            format!("global:\n  scrape_interval: '{}'\n", "9".repeat(4 << 20)),
        ),
        ("a huge key", format!("{}: 1\n", "k".repeat(4 << 20))),
        (
            "many keys",
            (0..100_000).map(|i| format!("k{i}: {i}\n")).collect(),
        ),
        (
            "tabs and junk",
            "\t\u{0}\u{feff}[{]}&*!|>%@`".repeat(10_000),
        ),
    ]
}

#[test]
fn hostile_configuration_files_are_refused_with_a_position() {
    for (what, text) in hostile_yaml() {
        let t0 = Instant::now();
        let r = load_str(&text, Path::new("bad.yml"), Path::new("."));
        let e = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
        let msg = e.to_string();
        assert!(msg.starts_with("bad.yml"), "{what}: {msg}");
        assert!(msg.len() < 2000, "{what}: a {} byte message", msg.len());
        assert!(t0.elapsed().as_secs() < 20, "{what}: {:?}", t0.elapsed());
    }
}

#[test]
fn hostile_rule_files_are_refused_with_a_position() {
    let deep = format!("{}up{}", "sum(".repeat(5000), ")".repeat(5000));
    let chain = format!("1{}", "+1".repeat(20_000));
    let mut cases: Vec<(&str, String)> = hostile_yaml()
        .into_iter()
        .map(|(w, t)| (w, t.replace("scrape_configs:", "groups:")))
        .collect();
    cases.push((
        "deep PromQL",
        format!("groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: '{deep}'\n"),
    ));
    cases.push((
        "a long chain of PromQL",
        format!("groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: '{chain}'\n"),
    ));
    for (what, text) in cases {
        let t0 = Instant::now();
        let e = crate::rules::parse_rules(&text, "bad.rules.yml")
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        let msg = e.to_string();
        assert!(msg.starts_with("bad.rules.yml"), "{what}: {msg}");
        assert!(msg.len() < 2000, "{what}: a {} byte message", msg.len());
        assert!(t0.elapsed().as_secs() < 20, "{what}: {:?}", t0.elapsed());
        if what.contains("PromQL") {
            assert!(msg.contains("bad.rules.yml:5:"), "{what}: {msg}");
            assert!(msg.contains("--query.max-depth"), "{what}: {msg}");
        }
    }
}
