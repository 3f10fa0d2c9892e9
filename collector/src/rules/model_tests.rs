//! The mesh model's exporter cases (`model/tests/exporters.test.yml`, Prometheus's
//! rule-test format, which `promtool test rules` runs on a real Prometheus) on our own
//! engine: each case becomes a promqltest script in which every record name is replaced
//! by its rule's expression, evaluated at the case's time. A recording rule's sample at
//! `t` is its expression at `t`, so the two must agree.

use crate::promql::test_script::run_script;
use crate::promql::EvalOptions;

const CASES: &str = include_str!("../../../model/tests/exporters.test.yml");

/// `expr` with each record name replaced by its rule's expression, in parentheses.
fn substituted(expr: &str, records: &[(String, String)]) -> String {
    let mut out = expr.to_string();
    // Longest names first, so that no name is replaced inside a longer one.
    let mut by_len: Vec<&(String, String)> = records.iter().collect();
    by_len.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
    for (name, e) in by_len {
        if out.contains(name.as_str()) {
            let flat = e.split_whitespace().collect::<Vec<_>>().join(" ");
            out = out.replace(name.as_str(), &format!("({flat})"));
        }
    }
    out
}

/// Labels without the metric name: a substituted expression's result has none.
fn without_name(labels: &str) -> &str {
    labels.find('{').map_or("{}", |i| &labels[i..])
}

#[test]
fn the_mesh_model_reads_what_the_real_exporters_emit_on_our_engine_too() {
    let groups = super::mesh_model().unwrap();
    let records: Vec<(String, String)> = groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter(|r| matches!(r.kind, super::RuleKind::Recording))
        .map(|r| (r.name.clone(), r.expr.clone()))
        .collect();
    assert!(records.len() > 30);
    let doc: serde_yaml::Value = serde_yaml::from_str(CASES).unwrap();
    let tests = doc["tests"].as_sequence().unwrap();
    let mut checked = 0;
    for t in tests {
        let name = t["name"].as_str().unwrap();
        let mut script = format!("load {}\n", t["interval"].as_str().unwrap());
        for s in t["input_series"].as_sequence().unwrap() {
            script.push_str(&format!(
                "  {} {}\n",
                s["series"].as_str().unwrap(),
                s["values"].as_str().unwrap()
            ));
        }
        for e in t["promql_expr_test"].as_sequence().unwrap() {
            let expr = substituted(e["expr"].as_str().unwrap(), &records);
            assert_ne!(expr, e["expr"].as_str().unwrap(), "{name}: no record named");
            script.push_str(&format!(
                "\neval instant at {} {expr}\n",
                e["eval_time"].as_str().unwrap()
            ));
            for x in e["exp_samples"].as_sequence().unwrap() {
                script.push_str(&format!(
                    "  {} {}\n",
                    without_name(x["labels"].as_str().unwrap()),
                    serde_yaml::to_string(&x["value"]).unwrap().trim()
                ));
            }
            checked += 1;
        }
        let out = run_script(name, &script, &EvalOptions::default());
        assert!(
            out.failures.is_empty(),
            "{name}: {:#?}\n{script}",
            out.failures
        );
    }
    assert!(checked >= 40, "{checked}");
}
