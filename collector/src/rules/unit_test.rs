//! `meshscope test rules`: Prometheus's rule unit tests (the file format `promtool test
//! rules` reads) run on our engine. For each test the input series are loaded into a
//! store of its own from time 0, then every group of the rule files is evaluated at every
//! `evaluation_interval` up to the last `eval_time`, as promtool does (group intervals do
//! not count); `alert_rule_test` compares the firing alerts of an alert name at a time,
//! labels and annotations, and `promql_expr_test` an expression's samples.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::manager::{AlertState, RuleManager};
use crate::config::duration::parse_duration;
use crate::promql::test_script::{almost_equal, expand_values, parse_series_labels};
use crate::promql::{EvalOptions, Value};
use crate::tsdb::{Db, Labels, Options};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    /// Accepted: every group is evaluated at every step, in file order.
    #[serde(default)]
    #[allow(dead_code)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

fn duration(s: &Option<String>, default_ms: i64, what: &str) -> Result<i64, String> {
    match s {
        None => Ok(default_ms),
        Some(s) => parse_duration(s).map_err(|e| format!("{what}: {e}")),
    }
}

/// What one file's tests found: `failures` is empty when every test passed.
pub struct Outcome {
    pub failures: Vec<String>,
}

/// Run the tests of one file (rule files relative to it). An error is a file that cannot
/// be read or understood; failed tests are in the outcome.
pub fn run_file(path: &Path) -> Result<Outcome, String> {
    let text = crate::config::read_file(path).map_err(|e| e.to_string())?;
    crate::config::check_yaml(&text, path).map_err(|e| e.to_string())?;
    let file: TestFile =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let groups = super::load_rule_files(&file.rule_files, base)?;
    let eval_ms = duration(&file.evaluation_interval, 60_000, "evaluation_interval")?;
    if eval_ms <= 0 {
        return Err("evaluation_interval must be positive".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for t in &file.tests {
        let r = rt.block_on(async { run_test(t, groups.clone(), eval_ms) });
        match r {
            Ok(mut f) => failures.append(&mut f),
            Err(e) => failures.push(format!("name: {}: {e}", t.name)),
        }
    }
    Ok(Outcome { failures })
}

fn run_test(t: &TestGroup, groups: Vec<super::Group>, eval_ms: i64) -> Result<Vec<String>, String> {
    let interval = duration(&t.interval, 60_000, "interval")?;
    if interval <= 0 {
        return Err("interval must be positive".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // Each test's store is a detail of the run: its opening is not logged.
    let db =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            Db::open(dir.path(), Options::default())
        });
    let db = Arc::new(db.map_err(|e| e.to_string())?);
    {
        let mut app = db.appender();
        for s in &t.input_series {
            let labels = parse_series_labels(&s.series)
                .map_err(|e| format!("series {:?}: {e}", s.series))?;
            let values =
                expand_values(&s.values).map_err(|e| format!("series {:?}: {e}", s.series))?;
            let h = app.series(&labels);
            for (i, v) in values.into_iter().enumerate() {
                if let Some(v) = v {
                    app.add(&h, i as i64 * interval, v);
                }
            }
        }
        app.commit().map_err(|e| e.to_string())?;
    }
    let opts = EvalOptions::default();
    // A manager whose own schedule never runs: the test steps it.
    let stopped = CancellationToken::new();
    stopped.cancel();
    let rules = RuleManager::new(db.clone(), opts.clone(), stopped);
    rules.apply(groups, eval_ms);
    let mut checks: Vec<(i64, Check)> = Vec::new();
    for a in &t.alert_rule_test {
        let at = parse_duration(&a.eval_time).map_err(|e| format!("eval_time: {e}"))?;
        checks.push((at, Check::Alert(a)));
    }
    for e in &t.promql_expr_test {
        let at = parse_duration(&e.eval_time).map_err(|e| format!("eval_time: {e}"))?;
        checks.push((at, Check::Expr(e)));
    }
    checks.sort_by_key(|c| c.0);
    let mut failures = Vec::new();
    let mut ts = 0;
    for (at, check) in checks {
        // Every step up to the check's time (alerts as of the last step at or before it).
        while ts <= at {
            rules.evaluate_all_at(ts);
            ts += eval_ms;
        }
        match check {
            Check::Alert(a) => {
                if let Some(f) = check_alerts(&rules, a, at) {
                    failures.push(format!("name: {},\n{f}", t.name));
                }
            }
            Check::Expr(e) => {
                if let Some(f) = check_expr(&db, e, at, &opts) {
                    failures.push(format!("name: {},\n{f}", t.name));
                }
            }
        }
    }
    Ok(failures)
}

enum Check<'a> {
    Alert(&'a AlertTest),
    Expr(&'a ExprTest),
}

fn check_alerts(rules: &RuleManager, a: &AlertTest, at: i64) -> Option<String> {
    let mut got: Vec<(Labels, BTreeMap<String, String>)> = rules
        .status()
        .iter()
        .flat_map(|g| g.rules.iter())
        .filter(|r| r.rule.name == a.alertname)
        .flat_map(|r| r.alerts.iter())
        .filter(|al| al.state == AlertState::Firing)
        .map(|al| (al.labels.clone(), al.annotations.clone()))
        .collect();
    let mut want: Vec<(Labels, BTreeMap<String, String>)> = a
        .exp_alerts
        .iter()
        .map(|x| {
            let mut l = x.exp_labels.clone();
            l.insert("alertname".into(), a.alertname.clone());
            (Labels::from_pairs(l), x.exp_annotations.clone())
        })
        .collect();
    got.sort_by(|x, y| x.0.cmp(&y.0));
    want.sort_by(|x, y| x.0.cmp(&y.0));
    (got != want).then(|| {
        let show = |v: &[(Labels, BTreeMap<String, String>)]| {
            v.iter()
                .map(|(l, an)| format!("Labels:{l} Annotations:{an:?}"))
                .collect()
        };
        mismatch(
            format!("alertname: {}", a.alertname),
            at,
            show(&want),
            show(&got),
        )
    })
}

/// A failed check as promtool prints it: what, when, what was expected, what was got.
fn mismatch(what: String, at: i64, want: Vec<String>, got: Vec<String>) -> String {
    let lines = |v: Vec<String>| -> String {
        v.iter()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "  {what}, time: {},\n  exp:\n{}\n  got:\n{}",
        crate::config::duration::format_duration(at),
        lines(want),
        lines(got)
    )
}

fn check_expr(db: &Db, e: &ExprTest, at: i64, opts: &EvalOptions) -> Option<String> {
    let got: Vec<(Labels, f64)> = match crate::promql::instant_query(db, &e.expr, at, opts) {
        Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        Ok(Value::Scalar { v, .. }) => vec![(Labels::default(), v)],
        Ok(_) => return Some(format!("  expr: {:?}: not a vector or scalar", e.expr)),
        Err(err) => return Some(format!("  expr: {:?}: {err}", e.expr)),
    };
    let mut want = Vec::new();
    for s in &e.exp_samples {
        let l = if s.labels.trim().is_empty() {
            Labels::default()
        } else {
            match parse_series_labels(&s.labels) {
                Ok(l) => l,
                Err(err) => return Some(format!("  labels {:?}: {err}", s.labels)),
            }
        };
        want.push((l, s.value));
    }
    let matches = got.len() == want.len()
        && want
            .iter()
            .all(|(l, v)| got.iter().any(|(gl, gv)| gl == l && almost_equal(*gv, *v)));
    (!matches).then(|| {
        let show = |v: &[(Labels, f64)]| {
            v.iter()
                .map(|(l, x)| format!("{l} {}", crate::promql::format_float(*x)))
                .collect()
        };
        mismatch(format!("expr: {:?}", e.expr), at, show(&want), show(&got))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_tests(file: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../model/tests")
            .join(file)
    }

    #[test]
    fn the_mesh_models_rule_tests_pass_on_our_engine_as_on_promtool() {
        for f in ["alerts.test.yml", "exporters.test.yml"] {
            let o = run_file(&model_tests(f)).expect("the test file");
            assert!(o.failures.is_empty(), "{f}: {:#?}", o.failures);
        }
    }

    #[test]
    fn every_alert_of_the_mesh_model_has_a_case_that_fires_it() {
        let text = std::fs::read_to_string(model_tests("alerts.test.yml")).expect("the file");
        let file: TestFile = serde_yaml::from_str(&text).expect("a test file");
        let fired: std::collections::BTreeSet<&str> = file
            .tests
            .iter()
            .flat_map(|t| t.alert_rule_test.iter())
            .filter(|a| !a.exp_alerts.is_empty())
            .map(|a| a.alertname.as_str())
            .collect();
        let alerts: std::collections::BTreeSet<String> = super::super::mesh_model()
            .expect("the model")
            .iter()
            .flat_map(|g| g.rules.iter())
            .filter(|r| matches!(r.kind, super::super::RuleKind::Alerting { .. }))
            .map(|r| r.name.clone())
            .collect();
        for a in &alerts {
            assert!(
                fired.contains(a.as_str()),
                "{a} has no case in alerts.test.yml"
            );
        }
        assert_eq!(alerts.len(), meshscope_model::ALERTS.len());
    }

    #[test]
    fn a_wrong_expectation_fails_and_says_what_was_got() {
        let d = tempfile::tempdir().expect("a directory");
        std::fs::write(
            d.path().join("r.yml"),
            "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 2m\n        labels: {severity: page}\n        annotations: {summary: '{{ $labels.instance }} down'}\n      - record: job:up:sum\n        expr: sum by (job) (up)\n",
        )
        .expect("rules");
        let case = |alerts: &str, exprs: &str| {
            format!("rule_files: [r.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'up{{job=\"a\", instance=\"x\"}}'\n        values: '1 1 0 0 0 0'\n      - series: 'up{{job=\"a\", instance=\"y\"}}'\n        values: '1x5'\n    alert_rule_test:\n{alerts}    promql_expr_test:\n{exprs}")
        };
        let good = case(
            "      - eval_time: 3m\n        alertname: Down\n        exp_alerts: []\n      - eval_time: 4m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {severity: page, job: a, instance: x}\n            exp_annotations: {summary: x down}\n",
            "      - expr: job:up:sum\n        eval_time: 4m\n        exp_samples:\n          - labels: 'job:up:sum{job=\"a\"}'\n            value: 1\n",
        );
        let f = d.path().join("good.yml");
        std::fs::write(&f, good).expect("test file");
        let o = run_file(&f).expect("runs");
        assert!(o.failures.is_empty(), "{:#?}", o.failures);

        let bad = case(
            "      - eval_time: 3m\n        alertname: Down\n        exp_alerts:\n          - exp_labels: {severity: page, job: a, instance: x}\n",
            "      - expr: job:up:sum\n        eval_time: 4m\n        exp_samples:\n          - labels: 'job:up:sum{job=\"a\"}'\n            value: 2\n",
        );
        let f = d.path().join("bad.yml");
        std::fs::write(&f, bad).expect("test file");
        let o = run_file(&f).expect("runs");
        assert_eq!(o.failures.len(), 2, "{:#?}", o.failures);
        assert!(
            o.failures[0].contains("alertname: Down, time: 3m"),
            "{}",
            o.failures[0]
        );
        assert!(
            o.failures[1].contains("job:up:sum{job=\"a\"} 1"),
            "{}",
            o.failures[1]
        );

        std::fs::write(&f, "tests:\n  - nme: x\n").expect("test file");
        let e = run_file(&f).err().expect("an unknown key is an error");
        assert!(e.contains("unknown field `nme`"), "{e}");
    }
}
