//! The bundled dashboards: committed as generated, structurally sound, every query valid
//! PromQL of Prometheus 2.42, every metric name documented.
#![allow(clippy::unwrap_used)] // a test crate: failures should panic with the error

use std::collections::BTreeSet;

use meshscope_dashboards::{all, catalogue, lint, repo_root, JSON_DIR};
use serde_json::{json, Value};

fn bundled() -> Vec<String> {
    all().iter().map(|d| d.uid.to_string()).collect()
}

#[test]
fn the_committed_json_is_what_the_generator_writes() {
    let dir = repo_root().join(JSON_DIR);
    let mut stale = Vec::new();
    for d in all() {
        let path = dir.join(d.file_name());
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != d.render() {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "regenerate with `cargo run -p meshscope-dashboards --example generate`: {stale:?}"
    );
    // And nothing else is in the folder.
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = all().iter().map(|d| d.file_name()).collect();
    assert_eq!(files, expected);
}

#[test]
fn the_set_is_complete_and_uids_are_unique() {
    let uids = bundled();
    let unique: BTreeSet<&String> = uids.iter().collect();
    assert_eq!(unique.len(), uids.len());
    for want in [
        "meshscope-mesh-overview",
        "meshscope-node-detail",
        "meshscope-pulsar",
        "meshscope-kafka",
        "meshscope-rabbitmq",
        "meshscope-nats",
        "meshscope-grpc",
        "meshscope-network",
        "meshscope-bgp-evpn",
        "meshscope-collector",
    ] {
        assert!(uids.iter().any(|u| u == want), "{want} missing");
    }
}

#[test]
fn every_dashboard_passes_the_lint() {
    let errs: Vec<String> = all()
        .iter()
        .flat_map(|d| lint::lint(&d.json(), &bundled()))
        .collect();
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

/// The lint is only worth something if it catches what it claims to.
#[test]
fn the_lint_catches_each_kind_of_mistake() {
    let base = meshscope_dashboards::defs::pulsar().json();
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "duplicate id",
            Box::new(|d| d["panels"][2]["id"] = d["panels"][1]["id"].clone()),
        ),
        (
            "overlaps",
            Box::new(|d| d["panels"][2]["gridPos"] = d["panels"][1]["gridPos"].clone()),
        ),
        (
            "not an allowed core panel",
            Box::new(|d| d["panels"][1]["type"] = json!("graph")),
        ),
        (
            "no description",
            Box::new(|d| d["panels"][1]["description"] = json!("")),
        ),
        (
            "must range over $__rate_interval",
            Box::new(|d| {
                let e = d["panels"][1]["targets"][0]["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "5m");
                d["panels"][1]["targets"][0]["expr"] = json!(e);
            }),
        ),
        (
            "does not filter by $node",
            Box::new(|d| {
                let e = d["panels"][1]["targets"][0]["expr"]
                    .as_str()
                    .unwrap()
                    .replace(r#", node=~"$node""#, "");
                d["panels"][1]["targets"][0]["expr"] = json!(e);
            }),
        ),
        (
            "is used but not defined",
            Box::new(|d| {
                let e = d["panels"][1]["targets"][0]["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$node", "$nod");
                d["panels"][1]["targets"][0]["expr"] = json!(e);
            }),
        ),
        (
            "is defined but not used",
            Box::new(|d| {
                let list = d["templating"]["list"].as_array_mut().unwrap();
                let mut extra = list[1].clone();
                extra["name"] = json!("unused");
                list.push(extra);
            }),
        ),
        (
            "does not point to a bundled dashboard",
            Box::new(|d| d["links"][0]["url"] = json!("/d/nowhere")),
        ),
        (
            "does not parse",
            Box::new(|d| {
                d["panels"][1]["targets"][0]["expr"] = json!("sum(rate(x[$__rate_interval])")
            }),
        ),
        (
            "must use the datasource variable",
            Box::new(|d| {
                d["panels"][1]["datasource"] = json!({"type": "prometheus", "uid": "abc"})
            }),
        ),
        (
            "unit",
            Box::new(|d| d["panels"][1]["fieldConfig"]["defaults"]["unit"] = json!("msg/s")),
        ),
        ("__inputs", Box::new(|d| d["__inputs"] = json!([]))),
        ("id must be null", Box::new(|d| d["id"] = json!(3))),
        (
            "multi-select with All",
            Box::new(|d| d["templating"]["list"][1]["multi"] = json!(false)),
        ),
    ];
    assert!(lint::lint(&base, &bundled()).is_empty());
    for (want, f) in cases {
        let mut d = base.clone();
        f(&mut d);
        let errs = lint::lint(&d, &bundled());
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

/// Expanded as Grafana would with every variable at All, each query is PromQL that
/// Prometheus 2.42 accepts (the collector's parser refuses what 2.42 does not know).
#[test]
fn every_query_parses_as_prometheus_2_42_promql() {
    for d in all() {
        for (title, e) in lint::exprs(&d.json()) {
            let x = lint::expand(&e, "1m", &|_| ".*".to_string());
            if let Err(err) = meshscope_collector::promql::parse(&x) {
                panic!("{} / {title}: {x}: {err:?}", d.uid);
            }
            // Far inside `--query.max-depth` (256): the deepest panel measures 15 or less.
            let depth = meshscope_collector::promql::query_depth(&x);
            assert!(depth <= 15, "{} / {title}: depth {depth}: {x}", d.uid);
        }
    }
}

fn model_names() -> BTreeSet<String> {
    let rules = std::fs::read_to_string(repo_root().join("model/mesh.rules.yml")).unwrap();
    rules
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("- record:")
                .or_else(|| l.trim().strip_prefix("record:"))
        })
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn every_metric_name_is_in_the_model_the_collector_or_the_named_exporter() {
    let cat = catalogue().unwrap();
    let model = model_names();
    assert!(
        model.contains("node:mesh_up:max") && model.len() >= 20,
        "{model:?}"
    );
    for (k, v) in &cat {
        assert!(!v.is_empty(), "catalogue section {k} is empty");
    }
    let mut bad = Vec::new();
    for d in all() {
        let mut allowed: BTreeSet<&String> = model.iter().collect();
        for src in ["prometheus", "collector"].iter().chain(d.sources.iter()) {
            let names = cat
                .get(*src)
                .unwrap_or_else(|| panic!("{}: no catalogue section {src}", d.uid));
            allowed.extend(names);
        }
        let mesh = d.sources.is_empty() && d.uid != "meshscope-collector";
        for (title, e) in lint::exprs(&d.json()) {
            let x = lint::expand(&e, "1m", &|_| ".*".to_string());
            let ast = promql_parser::parser::parse(&x).unwrap();
            for name in lint::metric_names(&ast) {
                if !allowed.contains(&name) {
                    bad.push(format!("{} / {title}: {name}", d.uid));
                }
                // Mesh dashboards read the model only.
                if mesh && !model.contains(&name) {
                    bad.push(format!(
                        "{} / {title}: {name} is not a mesh-model series",
                        d.uid
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_provisioning_files_point_at_the_json_and_the_collector() {
    let root = repo_root().join("dashboards/provisioning");
    let p: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("dashboards/meshscope.yml")).unwrap(),
    )
    .unwrap();
    let provider = &p["providers"][0];
    assert_eq!(provider["type"], "file");
    // `cp -r dashboards/provisioning/* /etc/grafana/provisioning/` puts the JSON there.
    let path = provider["options"]["path"].as_str().unwrap();
    let rel = JSON_DIR.strip_prefix("dashboards/provisioning/").unwrap();
    assert_eq!(path, format!("/etc/grafana/provisioning/{rel}"));
    let ds: Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("datasources/meshscope.yml")).unwrap(),
    )
    .unwrap();
    let ds = &ds["datasources"][0];
    assert_eq!(ds["type"], "prometheus");
    assert_eq!(ds["url"], "http://127.0.0.1:9477");
    assert_eq!(ds["jsonData"]["httpMethod"], "POST");
}
