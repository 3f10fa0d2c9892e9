//! The bundled dashboards against real engines: every panel query is accepted by
//! `promtool check rules`, and returns data from the collector and from a real
//! Prometheus 2.42 scraping the simulated mesh, a real node_exporter and a real RabbitMQ
//! with the mesh-model rules loaded.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshscope_dashboards::{all, lint};
use serde_json::Value;

use super::collect::{free_port, get, start_collector, start_simulator_with, wait_for, Proc};
use super::real::{available, start_rabbitmq, RABBITMQ_METRICS};

/// Queries allowed to return nothing, each with its reason. At most 5% of all queries,
/// and none of the mesh dashboards'. Keyed by (dashboard uid, panel title, query index).
const EXPECTED_EMPTY: &[(&str, &str, usize, &str)] = &[];

/// Real-exporter queries allowed to return nothing for the real exporter's node: (uid,
/// panel title, query index, reason).
const EXPECTED_EMPTY_REAL: &[(&str, &str, usize, &str)] = &[
    (
        "meshscope-network",
        "Utilisation against link speed",
        0,
        "virtual NICs report no link speed (node_exporter gives -125000 for eth0 here: \
         /sys/class/net/eth0/speed is -1), and utilisation is only drawn for devices \
         with a speed",
    ),
    (
        "meshscope-network",
        "Utilisation against link speed",
        1,
        "as above, for transmit",
    ),
];

/// Every panel query of every dashboard: (uid, panel title, index in the panel, expr).
pub fn queries() -> Vec<(String, String, usize, String)> {
    let mut out = Vec::new();
    for d in all() {
        let j = d.json();
        for p in lint::panels(&j) {
            for (i, t) in p["targets"].as_array().into_iter().flatten().enumerate() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((
                        d.uid.to_string(),
                        p["title"].as_str().unwrap_or("").to_string(),
                        i,
                        e.to_string(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn promtool_accepts_every_panel_query() {
    let _serial = super::serial();
    if !available("promtool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut yml = String::from("groups:\n");
    for (n, (uid, title, i, e)) in queries().into_iter().enumerate() {
        let x = lint::expand(&e, "1m", &|_| ".*".to_string());
        yml += &format!(
            "  - name: {uid}-{n}\n    rules:\n      - record: meshscope_dashboard_query_{n}\n        # {title:?} query {i}\n        expr: {}\n",
            serde_json::to_string(&x).unwrap()
        );
    }
    let f = d.path().join("dashboards.rules.yml");
    std::fs::write(&f, &yml).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let n = queries().len();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("SUCCESS: {n} rules found")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Prometheus 2.42 with `cfg`, receiving remote writes too.
pub fn start_prometheus(cfg: &Path, data: &Path, port: u16, log: &Path) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    Proc(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Series a range query over the last minute returns.
pub fn series(base: &str, expr: &str, now: f64) -> Result<usize, String> {
    let url = format!("{base}/api/v1/query_range");
    let r = reqwest::blocking::Client::new()
        .post(url)
        .form(&[
            ("query", expr.to_string()),
            ("start", format!("{:.3}", now - 60.0)),
            ("end", format!("{now:.3}")),
            ("step", "15".to_string()),
        ])
        .send()
        .map_err(|e| e.to_string())?;
    let v: Value = r.json().map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(v.to_string());
    }
    Ok(v["data"]["result"].as_array().map_or(0, |a| a.len()))
}

/// Values a `label_values(selector, label)` variable lists.
fn label_values(base: &str, def: &str) -> Result<usize, String> {
    let inner = def
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or(format!("not label_values: {def}"))?;
    let (sel, label) = inner.rsplit_once(',').ok_or(format!("no label in {def}"))?;
    let sel = lint::expand(sel.trim(), "1m", &|_| ".*".to_string());
    let r = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/label/{}/values", label.trim()))
        .query(&[("match[]", sel)])
        .send()
        .map_err(|e| e.to_string())?;
    let v: Value = r.json().map_err(|e| e.to_string())?;
    Ok(v["data"].as_array().map_or(0, |a| a.len()))
}

#[test]
fn every_panel_query_returns_data_from_the_collector_and_from_prometheus_fed_by_remote_write() {
    let _serial = super::serial();
    let prom = available("prometheus");
    let node_exporter = available("prometheus-node-exporter");
    let rabbit = available("rabbitmq-server");
    if !(prom && node_exporter && rabbit) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (_sim, _sp, targets) = start_simulator_with(16, d.path(), &["--no-failures"]);
    let ne_port = free_port();
    let _ne = Proc(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{ne_port}"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _broker = start_rabbitmq();
    let mp = free_port();
    let pp = free_port();
    let scrape = |self_port: u16| {
        format!(
            "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{ne_port}']\n        labels: {{node: host-real, role: host}}\n  - job_name: rabbitmq\n    static_configs:\n      - targets: ['{RABBITMQ_METRICS}']\n        labels: {{node: rabbitmq-real, role: rabbitmq}}\n  - job_name: meshscope\n    static_configs:\n      - targets: ['127.0.0.1:{self_port}']\n",
            targets.display()
        )
    };
    // The topology of README "Running at scale": the collector scrapes everything and
    // remote-writes the raw series to Prometheus, which evaluates the mesh model itself.
    let mcfg = d.path().join("meshscope.yml");
    std::fs::write(
        &mcfg,
        format!(
            "{}remote_write:\n  - url: http://127.0.0.1:{pp}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: '(node|link|group):mesh_.+|ALERTS|ALERTS_FOR_STATE'\n        action: drop\n",
            scrape(mp)
        ),
    )
    .unwrap();
    let _ms = start_collector(&mcfg, &d.path().join("ms"), mp, &d.path().join("ms.log"));
    let rules = super::rules::rules_file();
    let pcfg = d.path().join("prometheus.yml");
    std::fs::write(
        &pcfg,
        format!(
            "global:\n  evaluation_interval: 5s\nrule_files:\n  - '{}'\n",
            rules.display()
        ),
    )
    .unwrap();
    let _prom = start_prometheus(
        &pcfg,
        &d.path().join("prom"),
        pp,
        &d.path().join("prom.log"),
    );
    let bases = [
        ("meshscope", format!("http://127.0.0.1:{mp}")),
        ("prometheus", format!("http://127.0.0.1:{pp}")),
    ];
    // Wait for the model (rules every 15 s) and for rates over a minute of scrapes: the
    // 16 simulated nodes have messages but the 2 hosts and 2 routers.
    for (_, b) in &bases {
        wait_for(
            "the mesh model on every node",
            Duration::from_secs(120),
            || {
                get(&format!(
                    "{b}/api/v1/query?query=count(node:mesh_messages_in:rate1m%7Bnode!~%22.*-real%22%7D)"
                ))
                .is_some_and(|(_, body)| body.contains("\"12\""))
            },
        );
    }
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(35) {
        std::thread::sleep(Duration::from_secs(1));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();

    let qs = queries();
    let mut empty: Vec<String> = Vec::new();
    for (name, base) in &bases {
        for (uid, title, i, e) in &qs {
            let x = lint::expand(e, "1m", &|_| ".*".to_string());
            let n = series(base, &x, now)
                .unwrap_or_else(|err| panic!("{name}: {uid} / {title}: {x}: {err}"));
            if n == 0 {
                if EXPECTED_EMPTY
                    .iter()
                    .any(|(u, t, k, _)| u == uid && t == title && k == i)
                {
                    continue;
                }
                empty.push(format!("{name}: {uid} / {title} [{i}]: {x}"));
            }
        }
        // The variables list something too.
        for dash in all() {
            for v in &dash.vars {
                let n = label_values(base, &v.query).unwrap();
                if n == 0 {
                    empty.push(format!(
                        "{name}: {} variable {}: {}",
                        dash.uid, v.name, v.query
                    ));
                }
            }
        }
    }
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );
    assert!(
        (EXPECTED_EMPTY.len() + EXPECTED_EMPTY_REAL.len()) * 20 <= qs.len(),
        "more than 5% of the queries are expected to be empty"
    );
    assert!(EXPECTED_EMPTY_REAL.iter().all(|e| !e.3.is_empty()));
    assert!(EXPECTED_EMPTY.iter().all(|(u, _, _, why)| !why.is_empty()
        && *u != "meshscope-mesh-overview"
        && *u != "meshscope-node-detail"));

    // The real exporters' own dashboards show the real exporters: each query with the
    // node variable set to the real node.
    let mut real_empty = Vec::new();
    for (uid, node) in [
        ("meshscope-rabbitmq", "rabbitmq-real"),
        ("meshscope-network", "host-real"),
    ] {
        for (u, title, i, e) in qs.iter().filter(|q| q.0 == uid) {
            let x = lint::expand(e, "1m", &|v| {
                if v == "node" {
                    node.to_string()
                } else {
                    ".*".to_string()
                }
            });
            for (name, base) in &bases {
                if series(base, &x, now).unwrap() == 0
                    && !EXPECTED_EMPTY_REAL
                        .iter()
                        .any(|(uu, t, k, _)| uu == u && t == title && k == i)
                {
                    real_empty.push(format!("{name}: {u} / {title} [{i}]: {x}"));
                }
            }
        }
    }
    assert!(
        real_empty.is_empty(),
        "queries without data from the real exporter:\n{}",
        real_empty.join("\n")
    );
}
