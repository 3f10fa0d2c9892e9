//! Differential test of PromQL against the real Prometheus 2.42 (Debian's package): the
//! same OpenMetrics history of the simulated mesh is backfilled into both (`promtool tsdb
//! create-blocks-from openmetrics` on one side, `meshscope tsdb import openmetrics` on
//! the other), then a corpus of queries runs as instant and range queries through both
//! HTTP APIs. Labels must match exactly and values to 1e-9 relative (NaN = NaN).
//!
//! `scripts/test.sh` installs Prometheus and sets `MESHSCOPE_REAL_COMPONENTS=required`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::collect::{free_port, get, wait_for, Proc};
use super::meshscope;
use super::real::have;

/// The queries: templates applied to the simulated mesh's metric names by kind, plus
/// fixed ones across metrics. Deterministic.
pub fn corpus(names: &[String]) -> Vec<String> {
    let counter = [
        "rate(M[5m])",
        "increase(M[10m])",
        "irate(M[5m])",
        "sum by (node) (rate(M[5m]))",
        "sum without (instance) (rate(M[1m]))",
        "resets(M[30m])",
        "changes(M[30m])",
        "rate(M[5m] offset 10m)",
        "deriv(M[10m])",
        "delta(M[5m])",
        "idelta(M[5m])",
        "max by (role) (rate(M[5m]))",
        "rate(M[10m:1m])",
        "avg_over_time(rate(M[5m])[20m:2m])",
        "rate(M[5m]) > 0",
        "rate(M[5m]) / on (node) group_left max by (node) (up)",
    ];
    let gauge = [
        "M",
        "avg_over_time(M[10m])",
        "max_over_time(M[15m])",
        "min_over_time(M[15m])",
        "quantile_over_time(0.9, M[15m])",
        "stddev_over_time(M[15m])",
        "predict_linear(M[30m], 600)",
        "holt_winters(M[15m], 0.5, 0.5)",
        "avg by (role) (M)",
        "M > 1",
        "M * 2 - 1",
        "abs(M - 100)",
        "clamp(M, 0, 10)",
        "count_values(\"v\", round(M))",
        "quantile(0.5, M)",
        "stddev by (role) (M)",
        "bottomk(2, M)",
        "last_over_time(M[5m])",
        "timestamp(M)",
        "M @ end()",
        "max_over_time(M[30m:1m])",
        "label_replace(M, \"kind\", \"$1\", \"node\", \"([a-z]+)-.*\")",
        "M offset 1h",
        "sum(M) by (node) / ignoring (node) group_left sum(M)",
        "count(M) by (role)",
        "group by (role) (M)",
        "sort_desc(M)",
        "-M",
        "M == bool 0",
        "exp(M / 1e9)",
    ];
    let bucket = [
        "histogram_quantile(0.99, sum by (le) (rate(M[5m])))",
        "histogram_quantile(0.5, rate(M[5m]))",
        "histogram_quantile(0.9, sum by (le, node) (rate(M[10m])))",
    ];
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let (templates, every): (&[&str], usize) = if n.ends_with("_bucket") {
            (&bucket, 1)
        } else if n.ends_with("_total") || n.ends_with("_count") || n.ends_with("_sum") {
            (&counter, 4)
        } else {
            (&gauge, 5)
        };
        for (j, t) in templates.iter().enumerate() {
            // Each name gets a rotating share of its templates.
            if (i + j) % every == 0 {
                out.push(t.replace('M', n));
            }
        }
    }
    out.extend(
        [
            "up",
            "sum(up)",
            "count by (role) (up)",
            "up == 0",
            "absent(up{node=\"nope\"})",
            "absent_over_time(up{node=\"nope\"}[10m])",
            "present_over_time(up[10m])",
            "count_over_time(up[10m])",
            "sum_over_time(up[30m])",
            "topk(3, count by (node) ({__name__=~\".+_total\"}))",
            "count({__name__=~\"node_network_.*\", device!=\"lo\"})",
            "up or vector(0)",
            "up unless up{role=\"kafka\"}",
            "up and on (node) (up == 1)",
            "scalar(sum(up)) * 2",
            "vector(1) + 1",
            "time() - time()",
            "day_of_week()",
            "hour(vector(time()))",
            "sum by (role) (up) / on (role) group_left count by (role) (up)",
            "max_over_time((sum by (role) (up))[1h:5m])",
            "label_join(up, \"both\", \"/\", \"node\", \"role\")",
            "up @ start()",
            "rate(node_network_receive_bytes_total[5m] @ end())",
            "max_over_time(up[10m:1m] @ end())",
            "sum_over_time(up[10m:1m] offset 5m)",
            "up offset -5m",
            "rate(node_network_transmit_bytes_total[5m] offset 30m @ start())",
            "min_over_time(rate(node_network_receive_bytes_total[1m])[30m:])",
            "count_over_time(up[1h:7m])",
            "sum(up) @ end()",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    // Every expression of the mesh model.
    for g in meshscope_collector::rules::mesh_model().unwrap() {
        for r in g.rules {
            out.push(r.expr.trim().to_string());
        }
    }
    // Every dashboard query, as Grafana sends it with every variable at All.
    for d in meshscope_dashboards::all() {
        for (_, e) in meshscope_dashboards::lint::exprs(&d.json()) {
            out.push(meshscope_dashboards::lint::expand(&e, "1m", &|_| {
                ".*".to_string()
            }));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn values_equal(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let parse = |s: &str| -> Option<f64> {
        match s {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => s.parse().ok(),
        }
    };
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => {
            if x.is_nan() && y.is_nan() {
                return true;
            }
            if x == y {
                return true;
            }
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

/// Differences between two query responses (empty when they agree).
pub fn diff_results(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let status = |v: &Value| v["status"].as_str().unwrap_or("").to_string();
    if status(a) != status(b) {
        out.push(format!(
            "status {} vs {} ({} / {})",
            status(a),
            status(b),
            a["error"],
            b["error"]
        ));
        return out;
    }
    if status(a) != "success" {
        return out;
    }
    let (da, db) = (&a["data"], &b["data"]);
    if da["resultType"] != db["resultType"] {
        out.push(format!(
            "result type {} vs {}",
            da["resultType"], db["resultType"]
        ));
        return out;
    }
    let key = |m: &Value| m.to_string();
    let points = |r: &Value| -> Vec<(String, String)> {
        let mut v = Vec::new();
        if let Some(p) = r.get("value") {
            v.push((p[0].to_string(), p[1].as_str().unwrap_or("").to_string()));
        }
        if let Some(ps) = r.get("values").and_then(Value::as_array) {
            for p in ps {
                v.push((p[0].to_string(), p[1].as_str().unwrap_or("").to_string()));
            }
        }
        v
    };
    match da["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            let (x, y) = (&da["result"], &db["result"]);
            if x[0] != y[0]
                || !values_equal(x[1].as_str().unwrap_or(""), y[1].as_str().unwrap_or(""))
            {
                out.push(format!("{x} vs {y}"));
            }
        }
        _ => {
            let set = |d: &Value| -> BTreeMap<String, Vec<(String, String)>> {
                d["result"]
                    .as_array()
                    .map(|rs| rs.iter().map(|r| (key(&r["metric"]), points(r))).collect())
                    .unwrap_or_default()
            };
            let (sa, sb) = (set(da), set(db));
            for (k, pa) in &sa {
                match sb.get(k) {
                    None => out.push(format!("only in meshscope: {k}")),
                    Some(pb) => {
                        if pa.len() != pb.len() {
                            out.push(format!("{k}: {} points vs {}", pa.len(), pb.len()));
                            continue;
                        }
                        for (x, y) in pa.iter().zip(pb) {
                            if x.0 != y.0 || !values_equal(&x.1, &y.1) {
                                out.push(format!("{k}: {x:?} vs {y:?}"));
                                break;
                            }
                        }
                    }
                }
            }
            for k in sb.keys() {
                if !sa.contains_key(k) {
                    out.push(format!("only in Prometheus: {k}"));
                }
            }
        }
    }
    out
}

#[test]
fn the_comparison_catches_differences() {
    let v = |r: &str| -> Value { serde_json::from_str(r).unwrap() };
    let a = v(
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[10,"1.5"]}]}}"#,
    );
    assert!(diff_results(&a, &a).is_empty());
    for other in [
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[10,"1.5000001"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"2"},"value":[10,"1.5"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[11,"1.5"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
        r#"{"status":"error","errorType":"execution","error":"x"}"#,
    ] {
        assert!(!diff_results(&a, &v(other)).is_empty(), "{other}");
    }
    let nan = v(r#"{"status":"success","data":{"resultType":"scalar","result":[10,"NaN"]}}"#);
    assert!(diff_results(&nan, &nan).is_empty());
}

fn query(base: &str, path: &str, params: &[(&str, String)]) -> Value {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let r = c.post(format!("{base}{path}")).form(params).send().unwrap();
    serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

fn start_prometheus(dir: &Path, data: &Path, port: u16) -> Proc {
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let p = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", data.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=3650d")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(p)
}

#[test]
fn promql_agrees_with_prometheus_2_42() {
    let _serial = super::serial();
    if !have("prometheus") || !have("promtool") {
        assert!(
            std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() != Ok("required"),
            "prometheus/promtool are not installed, and scripts/test.sh should have installed them"
        );
        eprintln!("SKIPPED: prometheus is not installed (run scripts/test.sh to install it)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let hist = d.path().join("history.om");
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    run(meshscope()
        .args([
            "simulate",
            "--nodes",
            "8",
            "--seed",
            "7",
            "--history",
            "3h",
            "--history-step",
            "30s",
            "--history-out",
        ])
        .arg(&hist));
    let pdata = d.path().join("prom");
    run(Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&hist)
        .arg(&pdata));
    let mdata = d.path().join("ms");
    run(meshscope()
        .args(["tsdb", "import", "openmetrics"])
        .arg(&hist)
        .arg("--storage.tsdb.path")
        .arg(&mdata));
    let (pp, mp) = (free_port(), free_port());
    let _prom = start_prometheus(d.path(), &pdata, pp);
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let _ms = super::collect::start_collector(&cfg, &mdata, mp, &d.path().join("ms.log"));
    let (pb, mb) = (
        format!("http://127.0.0.1:{pp}"),
        format!("http://127.0.0.1:{mp}"),
    );
    wait_for("Prometheus", Duration::from_secs(60), || {
        get(&format!("{pb}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    wait_for("meshscope", Duration::from_secs(60), || {
        get(&format!("{mb}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    let names: Vec<String> = serde_json::from_str::<Value>(
        &get(&format!("{pb}/api/v1/label/__name__/values"))
            .unwrap()
            .1,
    )
    .unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(names.len() > 20, "{names:?}");
    let queries = corpus(&names);
    let instants = [now_s - 9000 + 7, now_s - 3600 + 13, now_s - 1200];
    let ranges = [
        (now_s - 10_500, now_s - 600, "60"),
        (now_s - 7200, now_s - 300, "317"),
    ];
    let (mut cases, mut mismatches) = (0usize, Vec::new());
    // Cases where both sides returned data (agreeing on errors or on nothing proves less).
    let (mut with_data, mut errors) = (0usize, 0usize);
    let mut count = |v: &Value| {
        if v["status"] != "success" {
            errors += 1;
        } else if match &v["data"]["result"] {
            Value::Array(a) => !a.is_empty(),
            _ => true,
        } {
            with_data += 1;
        }
    };
    for q in &queries {
        for t in instants {
            let params = [("query", q.clone()), ("time", t.to_string())];
            let (a, b) = (
                query(&mb, "/api/v1/query", &params),
                query(&pb, "/api/v1/query", &params),
            );
            cases += 1;
            count(&b);
            let d = diff_results(&a, &b);
            if !d.is_empty() {
                mismatches.push(format!(
                    "instant {q} @ {t}: {}",
                    d[..d.len().min(3)].join("; ")
                ));
            }
        }
        for (s, e, step) in ranges {
            let params = [
                ("query", q.clone()),
                ("start", s.to_string()),
                ("end", e.to_string()),
                ("step", step.to_string()),
            ];
            let (a, b) = (
                query(&mb, "/api/v1/query_range", &params),
                query(&pb, "/api/v1/query_range", &params),
            );
            cases += 1;
            count(&b);
            let d = diff_results(&a, &b);
            if !d.is_empty() {
                mismatches.push(format!(
                    "range {q} step {step}: {}",
                    d[..d.len().min(3)].join("; ")
                ));
            }
        }
    }
    for m in mismatches.iter().take(40) {
        eprintln!("MISMATCH {m}");
    }
    eprintln!(
        "promql vs Prometheus 2.42: {} queries, {cases} cases ({with_data} with data, {errors} errors), {} mismatches",
        queries.len(),
        mismatches.len()
    );
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
    assert!(
        with_data * 10 > cases * 8,
        "too few cases with data: {with_data} of {cases}"
    );
}
