//! Alerts reach people: the collector sends firing and resolved alerts to real
//! Alertmanagers (Debian's prometheus-alertmanager 0.25), which notify a webhook of the
//! test's own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::collect::{free_port, get, start_collector_with, wait_for, Proc};
use super::real::available;

/// An HTTP server on a thread: `respond` gives each request's status and body, from its
/// path and body.
fn serve(respond: impl Fn(&str, &[u8]) -> (u16, String) + Send + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let (code, text) = respond(&path, &body);
            let _ = write!(
                c,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    port
}

/// Debian's Alertmanager on `port`, notifying `hook` (a URL) of every group at once.
fn start_alertmanager(dir: &Path, port: u16, hook: &str) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = dir.join("am.yml");
    std::fs::write(
        &cfg,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook}\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let p = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("am.log")).unwrap())
        .spawn()
        .unwrap();
    let p = Proc(p);
    wait_for("Alertmanager", Duration::from_secs(30), || {
        get(&format!("http://127.0.0.1:{port}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    p
}

/// The test's webhook: every notification it receives, by path.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

fn webhook() -> (u16, Received) {
    let log: Received = Arc::default();
    let l2 = log.clone();
    let port = serve(move |path, body| {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        l2.lock().unwrap().push((path.to_string(), v));
        (200, String::new())
    });
    (port, log)
}

/// A target serving `body`, or failing while the flag is set.
fn switchable_target(body: &'static str) -> (u16, Arc<AtomicBool>) {
    let down = Arc::new(AtomicBool::new(false));
    let d2 = down.clone();
    let port = serve(move |_, _| {
        if d2.load(Ordering::SeqCst) {
            (503, "down".into())
        } else {
            (200, body.into())
        }
    });
    (port, down)
}

/// The collector on `config` (written to DIR/meshscope.yml), with `extra` flags; its URL.
fn collector(dir: &Path, config: &str, extra: &[&str]) -> (Proc, String) {
    let cfg = dir.join("meshscope.yml");
    std::fs::write(&cfg, config).unwrap();
    let port = free_port();
    let p = start_collector_with(
        &cfg,
        &dir.join("data"),
        port,
        &dir.join("collector.log"),
        extra,
    );
    (p, format!("http://127.0.0.1:{port}"))
}

/// The alerts a webhook path received: (notification status, alert labels, annotations).
fn received(log: &Received, path: &str) -> Vec<(String, Value, Value)> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, v)| {
            v["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        a["status"].as_str().unwrap_or("").to_string(),
                        a["labels"].clone(),
                        a["annotations"].clone(),
                    )
                })
        })
        .collect()
}

#[test]
fn alerts_reach_every_alertmanager_fire_and_resolve() {
    if !available("prometheus-alertmanager") {
        return;
    }
    let _g = super::serial();
    let dir = tempfile::tempdir().unwrap();
    // The webhook both Alertmanagers notify (paths /a and /b), and a target that fails
    // while `down` is set.
    let (hook, log) = webhook();
    let (target, down) = switchable_target("x 1\n");
    let (am_a, am_b) = (free_port(), free_port());
    let _a = start_alertmanager(
        &dir.path().join("a"),
        am_a,
        &format!("http://127.0.0.1:{hook}/a"),
    );
    std::fs::write(
        dir.path().join("alerts.yml"),
        "groups:\n  - name: t\n    interval: 1s\n    rules:\n      - alert: TargetDown\n        expr: up{job=\"svc\"} == 0\n        for: 2s\n        labels:\n          severity: page\n        annotations:\n          summary: '{{ $labels.instance }} is down'\n",
    )
    .unwrap();
    let (_c, base) = collector(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    cluster: c1\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: svc\n    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\nalerting:\n  alert_relabel_configs:\n    - target_label: via\n      replacement: meshscope\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_a}', '127.0.0.1:{am_b}']\n"
        ),
        &["--rules.mesh-model=false", "--rules.alert.resend-delay=2s"],
    );
    let (_, ams) = get(&format!("{base}/api/v1/alertmanagers")).unwrap();
    let ams: Value = serde_json::from_str(&ams).unwrap();
    let urls: Vec<&str> = ams["data"]["activeAlertmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["url"].as_str())
        .collect();
    assert_eq!(
        urls,
        [
            format!("http://127.0.0.1:{am_a}/api/v2/alerts"),
            format!("http://127.0.0.1:{am_b}/api/v2/alerts")
        ],
        "{ams}"
    );
    // Nothing fires while the target is up.
    std::thread::sleep(Duration::from_secs(4));
    assert!(received(&log, "/a").is_empty(), "{:?}", log.lock().unwrap());

    // The target fails: the first Alertmanager notifies the webhook, with the rule's
    // labels and annotations, the external label and the alert relabelling's label.
    down.store(true, Ordering::SeqCst);
    let firing = |path: &str| {
        received(&log, path)
            .into_iter()
            .find(|(s, l, _)| s == "firing" && l["alertname"] == "TargetDown")
    };
    wait_for(
        "the firing alert at Alertmanager a",
        Duration::from_secs(30),
        || firing("/a").is_some(),
    );
    let (_, labels, ann) = firing("/a").unwrap();
    assert_eq!(labels["severity"], "page", "{labels}");
    assert_eq!(labels["cluster"], "c1", "{labels}");
    assert_eq!(labels["via"], "meshscope", "{labels}");
    assert_eq!(labels["job"], "svc", "{labels}");
    assert_eq!(
        ann["summary"],
        format!("127.0.0.1:{target} is down"),
        "{ann}"
    );

    // The second Alertmanager was down while the alert fired: it gets the alert once it
    // is up, from the alert being sent again while it fires.
    let _b = start_alertmanager(
        &dir.path().join("b"),
        am_b,
        &format!("http://127.0.0.1:{hook}/b"),
    );
    wait_for(
        "the firing alert at Alertmanager b",
        Duration::from_secs(30),
        || firing("/b").is_some(),
    );

    // The target is back: both notify the webhook that the alert resolved.
    down.store(false, Ordering::SeqCst);
    let resolved = |path: &str| {
        received(&log, path)
            .iter()
            .any(|(s, l, _)| s == "resolved" && l["alertname"] == "TargetDown")
    };
    wait_for(
        "the resolved alert at both",
        Duration::from_secs(30),
        || resolved("/a") && resolved("/b"),
    );

    // The collector's own metrics count what it sent, and the failures to the one that
    // was down.
    let (_, metrics) = get(&format!("{base}/metrics")).unwrap();
    let value = |name: &str, am: u16| -> f64 {
        let prefix = format!("{name}{{alertmanager=\"http://127.0.0.1:{am}/api/v2/alerts\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        value("meshscope_notifications_sent_total", am_a) >= 2.0,
        "{metrics}"
    );
    assert!(
        value("meshscope_notifications_sent_total", am_b) >= 2.0,
        "{metrics}"
    );
    assert!(
        value("meshscope_notifications_errors_total", am_b) >= 1.0,
        "{metrics}"
    );
    assert!(metrics.contains("meshscope_notifications_alertmanagers_discovered 2"));
}

/// The mesh model's own alert, end to end: a node whose every target fails fires
/// `MeshNodeDown` (after its minute of `for`), and Alertmanager notifies the webhook with
/// the rule's labels and annotations; it resolves when the node is back.
#[test]
fn a_failed_node_fires_the_mesh_models_node_down_alert() {
    if !available("prometheus-alertmanager") {
        return;
    }
    let _g = super::serial();
    let dir = tempfile::tempdir().unwrap();
    let (hook, log) = webhook();
    let (target, down) = switchable_target("grpc_server_started_total 1\n");
    let am = free_port();
    let _a = start_alertmanager(
        &dir.path().join("am"),
        am,
        &format!("http://127.0.0.1:{hook}/m"),
    );
    let (_c, _) = collector(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mesh\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n        labels: {{node: n1, role: grpc}}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am}']\n"
        ),
        &[],
    );
    std::thread::sleep(Duration::from_secs(3));
    down.store(true, Ordering::SeqCst);
    let alert = |status: &str| {
        received(&log, "/m")
            .into_iter()
            .find(|(s, l, _)| s == status && l["alertname"] == "MeshNodeDown")
    };
    // `for: 1m` on a 15 s group interval, then Alertmanager's group_wait.
    wait_for(
        "MeshNodeDown at the webhook",
        Duration::from_secs(150),
        || alert("firing").is_some(),
    );
    let (_, labels, ann) = alert("firing").unwrap();
    assert_eq!(labels["node"], "n1", "{labels}");
    assert_eq!(labels["role"], "grpc", "{labels}");
    assert_eq!(labels["severity"], "critical", "{labels}");
    assert_eq!(ann["summary"], "n1 (grpc) is down", "{ann}");
    assert_eq!(ann["runbook_url"], "docs/runbooks.md#meshnodedown", "{ann}");
    down.store(false, Ordering::SeqCst);
    wait_for("MeshNodeDown resolved", Duration::from_secs(60), || {
        alert("resolved").is_some()
    });
}
