use super::*;

fn cfgs(yaml: &str) -> Vec<RelabelConfig> {
    let v: Vec<RelabelConfig> = serde_yaml::from_str(yaml).unwrap();
    for c in &v {
        c.validate().unwrap();
    }
    v
}

fn lm(pairs: &[(&str, &str)]) -> LabelMap {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn run(input: &[(&str, &str)], yaml: &str) -> Option<LabelMap> {
    let mut l = lm(input);
    process(&mut l, &cfgs(yaml)).then_some(l)
}

#[test]
fn replace_with_templates_and_defaults() {
    // Default action replace, default regex (.*), replacement $1.
    assert_eq!(
        run(&[("a", "foo")], "- source_labels: [a]\n  target_label: b\n"),
        Some(lm(&[("a", "foo"), ("b", "foo")]))
    );
    assert_eq!(
        run(
            &[("a", "foo"), ("b", "bar")],
            "- source_labels: [a, b]\n  regex: 'f(.*);(.*)r'\n  target_label: c\n  replacement: 'ch${1}-${2}'\n"
        ),
        Some(lm(&[("a", "foo"), ("b", "bar"), ("c", "choo-ba")]))
    );
    // No match: nothing changes.
    assert_eq!(
        run(
            &[("a", "foo")],
            "- source_labels: [a]\n  regex: 'o+'\n  target_label: b\n"
        ),
        Some(lm(&[("a", "foo")]))
    );
    // The regex is anchored: `f` alone does not match `foo`.
    assert_eq!(
        run(
            &[("a", "foo")],
            "- source_labels: [a]\n  regex: f\n  target_label: b\n  replacement: x\n"
        ),
        Some(lm(&[("a", "foo")]))
    );
    // An empty result deletes the target label.
    assert_eq!(
        run(
            &[("a", "foo"), ("b", "x")],
            "- source_labels: [c]\n  target_label: b\n"
        ),
        Some(lm(&[("a", "foo")]))
    );
    // The target label itself can be a template; an invalid result changes nothing.
    assert_eq!(
        run(&[("a", "some-name-value")], "- source_labels: [a]\n  regex: 'some-([^-]+)-([^,]+)'\n  target_label: '${1}'\n  replacement: '${2}'\n"),
        Some(lm(&[("a", "some-name-value"), ("name", "value")]))
    );
    assert_eq!(
        run(&[("a", "some-1-value")], "- source_labels: [a]\n  regex: 'some-([^-]+)-([^,]+)'\n  target_label: '${1}'\n  replacement: '${2}'\n"),
        Some(lm(&[("a", "some-1-value")]))
    );
}

#[test]
fn keep_drop_and_equal_variants() {
    let y = "- source_labels: [a]\n  regex: 'f.*'\n  action: keep\n";
    assert!(run(&[("a", "foo")], y).is_some());
    assert!(run(&[("a", "boo")], y).is_none());
    let y = "- source_labels: [a]\n  regex: 'f.*'\n  action: DROP\n";
    assert!(run(&[("a", "foo")], y).is_none());
    assert!(run(&[("a", "boo")], y).is_some());
    let y = "- source_labels: [a]\n  target_label: b\n  action: keepequal\n";
    assert!(run(&[("a", "1"), ("b", "1")], y).is_some());
    assert!(run(&[("a", "1"), ("b", "2")], y).is_none());
    let y = "- source_labels: [a]\n  target_label: b\n  action: dropequal\n";
    assert!(run(&[("a", "1"), ("b", "1")], y).is_none());
    assert!(run(&[("a", "1"), ("b", "2")], y).is_some());
}

#[test]
fn hashmod_matches_prometheus() {
    // The same case as Prometheus's relabel_test.go.
    assert_eq!(
        run(
            &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            "- source_labels: [c]\n  target_label: d\n  modulus: 1000\n  action: hashmod\n"
        ),
        Some(lm(&[
            ("a", "foo"),
            ("b", "bar"),
            ("c", "baz"),
            ("d", "976")
        ]))
    );
}

#[test]
fn label_map_drop_keep_and_case() {
    assert_eq!(
        run(
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            "- regex: '(b.*)'\n  replacement: 'bar_${1}'\n  action: labelmap\n"
        ),
        Some(lm(&[
            ("a", "foo"),
            ("b1", "bar"),
            ("b2", "baz"),
            ("bar_b1", "bar"),
            ("bar_b2", "baz")
        ]))
    );
    assert_eq!(
        run(
            &[("a", "1"), ("b1", "2"), ("b2", "3")],
            "- regex: 'b.*'\n  action: labeldrop\n"
        ),
        Some(lm(&[("a", "1")]))
    );
    assert_eq!(
        run(
            &[("a", "1"), ("b1", "2"), ("b2", "3")],
            "- regex: 'b.*'\n  action: labelkeep\n"
        ),
        Some(lm(&[("b1", "2"), ("b2", "3")]))
    );
    assert_eq!(
        run(&[("a", "AbC")], "- source_labels: [a]\n  target_label: l\n  action: lowercase\n- source_labels: [a]\n  target_label: u\n  action: uppercase\n"),
        Some(lm(&[("a", "AbC"), ("l", "abc"), ("u", "ABC")]))
    );
}

#[test]
fn invalid_configs_are_rejected_with_prometheus_messages() {
    let bad = |y: &str| -> String {
        match serde_yaml::from_str::<Vec<RelabelConfig>>(y) {
            Err(e) => e.to_string(),
            Ok(v) => v[0].validate().unwrap_err(),
        }
    };
    assert!(bad("- action: hashmod\n  target_label: a\n").contains("non-zero modulus"));
    assert!(bad("- action: replace\n  target_label: ''\n").contains("requires 'target_label'"));
    assert!(bad("- action: lowercase\n  target_label: 'a-b'\n").contains("invalid 'target_label'"));
    assert!(
        bad("- action: labeldrop\n  regex: a\n  source_labels: [x]\n")
            .contains("requires only 'regex'")
    );
    assert!(bad("- action: keepequal\n  target_label: a\n  regex: x\n")
        .contains("requires only 'source_labels'"));
    assert!(bad("- action: labelmap\n  replacement: 'a-b'\n").contains("invalid 'replacement'"));
    assert!(bad("- action: nope\n").contains("unknown relabel action \"nope\""));
    assert!(bad("- action: ''\n").contains("cannot be empty"));
    assert!(bad("- regex: '(a'\n").contains("invalid regular expression"));
    assert!(bad("- source_labels: ['a-b']\n").contains("not a valid label name"));
    assert!(bad("- modulus: -1\n  action: hashmod\n").contains("invalid"));
    assert!(bad("- foo: 1\n").contains("unknown field `foo`"));
}

#[test]
fn target_templates() {
    for ok in ["a", "_a1", "${1}", "$1", "a_${1}_b", "${name}x"] {
        assert!(is_valid_target_template(ok), "{ok}");
    }
    for bad in ["", "1a", "a-b", "${}", "$", "a b"] {
        assert!(!is_valid_target_template(bad), "{bad}");
    }
}
