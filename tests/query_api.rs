//! `/api/v1/query` and `/api/v1/query_range` of `meshscope collect`: results, Prometheus's
//! error types and status codes, and the query limits.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::collect::{free_port, get, wait_for, Proc};
use super::meshscope;

fn start(data: &std::path::Path, dir: &std::path::Path, extra: &[&str]) -> (Proc, String) {
    let cfg = dir.join("meshscope.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let p = meshscope()
        .args(["collect", "--config.file"])
        .arg(&cfg)
        .arg("--storage.tsdb.path")
        .arg(data)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for("the collector", Duration::from_secs(30), || {
        get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    (Proc(p), base)
}

fn post(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let c = reqwest::blocking::Client::new();
    let r = c.post(url).form(form).send().unwrap();
    let code = r.status().as_u16();
    (code, serde_json::from_str(&r.text().unwrap()).unwrap())
}

/// A response for an assertion message, cut short.
fn brief(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

fn get_json(url: &str) -> (u16, Value) {
    let (c, body) = get(url).unwrap();
    (c, serde_json::from_str(&body).unwrap())
}

#[test]
fn query_endpoints_answer_like_prometheus() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let st = meshscope()
        .args([
            "simulate",
            "--nodes",
            "4",
            "--history",
            "2h",
            "--history-step",
            "30s",
        ])
        .arg("--storage.tsdb.path")
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (_p, base) = start(&data, d.path(), &[]);

    // An instant query, by GET and by form POST.
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query?query=count(up)&time={}",
        now - 60
    ));
    assert_eq!(c, 200, "{}", brief(&v));
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["value"][1], "4");
    assert_eq!(v["data"]["result"][0]["value"][0], now - 60);
    let (c, v2) = post(
        &format!("{base}/api/v1/query"),
        &[("query", "count(up)"), ("time", &(now - 60).to_string())],
    );
    assert_eq!(c, 200);
    assert_eq!(v2, v);

    // Scalars and special floats are formatted as Prometheus does.
    let (_, v) = get_json(&format!("{base}/api/v1/query?query=1%2F0&time=1.5"));
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "scalar", "result": [1.5, "+Inf"]})
    );
    let (_, v) = get_json(&format!("{base}/api/v1/query?query=0%2F0&time=2"));
    assert_eq!(v["data"]["result"], serde_json::json!([2, "NaN"]));

    // A range query: a matrix with a point per step.
    let (c, v) = post(
        &format!("{base}/api/v1/query_range"),
        &[
            ("query", "sum by (role) (up)"),
            ("start", &(now - 3600).to_string()),
            ("end", &(now - 60).to_string()),
            ("step", "5m"),
        ],
    );
    assert_eq!(c, 200, "{}", brief(&v));
    assert_eq!(v["data"]["resultType"], "matrix");
    let series = v["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 4, "{}", brief(&v));
    assert!(series
        .iter()
        .all(|s| s["values"].as_array().unwrap().len() == 12));

    // Errors: bad PromQL is 400 bad_data, too many points is 400, a bad time is 400.
    let (c, v) = get_json(&format!("{base}/api/v1/query?query=sum(up"));
    assert_eq!(
        (c, v["errorType"].as_str()),
        (400, Some("bad_data")),
        "{}",
        brief(&v)
    );
    // Prometheus's wording and position: `1:7: parse error: unclosed left parenthesis`.
    assert_eq!(
        v["error"].as_str(),
        Some("invalid parameter \"query\": 1:7: parse error: unclosed left parenthesis"),
        "{}",
        brief(&v)
    );
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query_range?query=up&start=0&end={now}&step=1"
    ));
    assert_eq!(c, 400);
    assert!(
        v["error"].as_str().unwrap().contains("11,000 points"),
        "{}",
        brief(&v)
    );
    let (c, v) = get_json(&format!("{base}/api/v1/query?query=up&time=soon"));
    assert_eq!((c, v["errorType"].as_str()), (400, Some("bad_data")));
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query_range?query=up&start=10&end=0&step=1"
    ));
    assert_eq!(c, 400, "{}", brief(&v));
    // Many-to-many matching is an execution error: 422.
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query?query=up%20%2B%20on()%20up&time={}",
        now - 60
    ));
    assert_eq!(
        (c, v["errorType"].as_str()),
        (422, Some("execution")),
        "{}",
        brief(&v)
    );
}

#[test]
fn query_limits_answer_with_prometheus_errors() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let st = meshscope()
        .args([
            "simulate",
            "--nodes",
            "4",
            "--history",
            "3h",
            "--history-step",
            "15s",
        ])
        .arg("--storage.tsdb.path")
        .arg(&data)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (_p, base) = start(
        &data,
        d.path(),
        &["--query.max-samples", "1000", "--query.timeout", "2m"],
    );
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query?query=count_over_time(%7B__name__%3D~%22.%2B%22%7D%5B1h%5D)&time={}",
        now - 60
    ));
    assert_eq!(
        (c, v["errorType"].as_str()),
        (422, Some("execution")),
        "{}",
        brief(&v)
    );
    assert!(
        v["error"].as_str().unwrap().contains("too many samples"),
        "{}",
        brief(&v)
    );
    drop(_p);
    let (_p, base) = start(&data, d.path(), &["--query.timeout", "1ms"]);
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query_range?query=last_over_time(%7B__name__%3D~%22.%2B%22%7D%5B1h%3A5s%5D)&start={}&end={now}&step=60",
        now - 7200
    ));
    assert_eq!(
        (c, v["errorType"].as_str()),
        (503, Some("timeout")),
        "{}",
        brief(&v)
    );
}

#[test]
fn metadata_and_status_endpoints_answer() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (_sim, _port, targets) = super::collect::start_simulator(2, d.path());
    let (_c, port) = super::collect::start_mesh_collector(d.path(), &targets, "");
    let base = format!("http://127.0.0.1:{port}");
    // The Pulsar broker types every family as a gauge, its counters included.
    wait_for("metadata", Duration::from_secs(30), || {
        get(&format!(
            "{base}/api/v1/metadata?metric=pulsar_in_messages_total"
        ))
        .and_then(|(_, b)| serde_json::from_str::<Value>(&b).ok())
        .is_some_and(|v| v["data"]["pulsar_in_messages_total"][0]["type"] == "gauge")
    });
    let (_, v) = get_json(&format!("{base}/api/v1/metadata?limit=3"));
    assert_eq!(v["data"].as_object().unwrap().len(), 3, "{}", brief(&v));
    let (c, v) = get_json(&format!("{base}/api/v1/status/flags"));
    assert_eq!(c, 200);
    assert_eq!(v["data"]["query.lookback-delta"], "5m");
    assert_eq!(v["data"]["web.listen-address"], format!("127.0.0.1:{port}"));
    let (_, v) = get_json(&format!("{base}/api/v1/status/config"));
    assert!(v["data"]["yaml"]
        .as_str()
        .unwrap()
        .contains("job_name: mesh"));
    let (_, v) = get_json(&format!("{base}/api/v1/status/runtimeinfo"));
    assert_eq!(v["data"]["reloadConfigSuccess"], true);
    assert_eq!(v["data"]["storageRetention"], "15d");
    let (_, v) = get_json(&format!("{base}/api/v1/status/tsdb"));
    assert!(
        v["data"]["headStats"]["numSeries"].as_u64().unwrap() > 20,
        "{}",
        brief(&v)
    );
    let names = v["data"]["seriesCountByMetricName"].as_array().unwrap();
    assert_eq!(names.len(), 10);
    assert!(names[0]["value"].as_u64() >= names[9]["value"].as_u64());
    let (c, v) = get_json(&format!(
        "{base}/api/v1/query_exemplars?query=up&start=0&end=10"
    ));
    assert_eq!((c, v["data"].clone()), (200, serde_json::json!([])));
    let (c, _) = get_json(&format!(
        "{base}/api/v1/query_exemplars?query=up(&start=0&end=10"
    ));
    assert_eq!(c, 400);
}
