//! Real exporters scraped for real: node_exporter and RabbitMQ's Prometheus plugin.
//! `scripts/test.sh` installs both (Debian packages) and sets
//! `MESHSCOPE_REAL_COMPONENTS=required`, so under the project's test command a missing
//! component fails the test instead of skipping it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::collect::{check_config, dump, free_port, get, start_collector, wait_for, Proc};

pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether to run: the component is installed, or the test command requires it.
pub fn available(bin: &str) -> bool {
    if have(bin) {
        return true;
    }
    assert!(
        std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() != Ok("required"),
        "{bin} is not installed, and scripts/test.sh should have installed it"
    );
    eprintln!("SKIPPED: {bin} is not installed (run scripts/test.sh to install it)");
    false
}

/// Scrape `target` (host:port) as job `job` until `up` is 1 for a few scrapes, then stop
/// the collector and return the store's directory.
fn scrape_for_a_while(dir: &Path, job: &str, target: &str, path: &str) -> std::path::PathBuf {
    let cfg = dir.join("meshscope.yml");
    std::fs::write(
        &cfg,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: {job}\n    metrics_path: {path}\n    static_configs: [{{targets: ['{target}']}}]\n"),
    )
    .unwrap();
    check_config(&cfg);
    let data = dir.join("data");
    let web = free_port();
    let mut col = start_collector(&cfg, &data, web, &dir.join("collector.log"));
    let mut ups = 0;
    wait_for("three good scrapes", Duration::from_secs(60), || {
        let (_, b) = get(&format!("http://127.0.0.1:{web}/api/v1/targets")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        let t = &v["data"]["activeTargets"][0];
        if t["health"] == "up" {
            ups += 1;
        } else if t["health"] == "down" {
            eprintln!("{job}: {}", t["lastError"]);
        }
        std::thread::sleep(Duration::from_millis(500));
        ups >= 6
    });
    Command::new("kill")
        .args(["-INT", &col.0.id().to_string()])
        .status()
        .unwrap();
    col.0.wait().unwrap();
    data
}

#[test]
fn node_exporter_network_series_arrive() {
    let _serial = super::serial();
    if !available("prometheus-node-exporter") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let port = free_port();
    let _ne = Proc(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("node_exporter", Duration::from_secs(20), || {
        get(&format!("http://127.0.0.1:{port}/metrics")).is_some()
    });
    let data = scrape_for_a_while(d.path(), "node", &format!("127.0.0.1:{port}"), "/metrics");
    let rx = dump(&data, "node_network_receive_bytes_total");
    assert!(!rx.is_empty(), "no node_network_receive_bytes_total");
    assert!(
        rx.iter().all(|(s, _, _)| s.contains("job=\"node\"")
            && s.contains(&format!("instance=\"127.0.0.1:{port}\""))
            && s.contains("device=")),
        "{rx:?}"
    );
    // Per device, a counter: one sample per scrape, never going down.
    let mut by_device = std::collections::BTreeMap::<&str, Vec<f64>>::new();
    for (s, _, v) in &rx {
        by_device
            .entry(s.as_str())
            .or_default()
            .push(v.parse().unwrap());
    }
    for (dev, vals) in &by_device {
        assert!(vals.len() >= 3, "{dev}: {vals:?}");
        assert!(vals.windows(2).all(|w| w[1] >= w[0]), "{dev}: {vals:?}");
    }
    assert!(!dump(&data, "node_network_transmit_packets_total").is_empty());
    assert!(!dump(&data, "node_exporter_build_info").is_empty());
}

/// A running RabbitMQ broker with its Prometheus plugin on 127.0.0.1:15692, stopped on
/// drop if this started it.
pub struct Rabbit(bool);

impl Drop for Rabbit {
    fn drop(&mut self) {
        if self.0 {
            let _ = Command::new("rabbitmqctl")
                .arg("stop")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub const RABBITMQ_METRICS: &str = "127.0.0.1:15692";

/// Start RabbitMQ as DESIGN.md says (unless the Debian package already runs one) and wait
/// for its metrics endpoint.
pub fn start_rabbitmq() -> Rabbit {
    let metrics = format!("http://{RABBITMQ_METRICS}/metrics");
    let started = if get(&metrics).is_some_and(|(c, _)| c == 200) {
        false
    } else {
        let st = Command::new("rabbitmq-plugins")
            .args(["enable", "--offline", "rabbitmq_prometheus"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "enabling rabbitmq_prometheus failed");
        let st = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "starting rabbitmq-server failed");
        true
    };
    let r = Rabbit(started);
    wait_for(
        "RabbitMQ's metrics endpoint",
        Duration::from_secs(120),
        || get(&metrics).is_some_and(|(c, _)| c == 200),
    );
    r
}

#[test]
fn rabbitmq_prometheus_plugin_series_arrive() {
    let _serial = super::serial();
    if !available("rabbitmq-server") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let _broker = start_rabbitmq();
    let data = scrape_for_a_while(d.path(), "rabbitmq", "127.0.0.1:15692", "/metrics");
    let build = dump(&data, "rabbitmq_build_info");
    assert!(!build.is_empty(), "no rabbitmq_build_info");
    assert!(
        build.iter().all(|(s, _, _)| s.contains("job=\"rabbitmq\"")),
        "{build:?}"
    );
    // The broker's own counters (the message model the mesh dashboards read).
    let conns = dump(&data, "rabbitmq_connections_opened_total");
    assert!(!conns.is_empty(), "no rabbitmq_connections_opened_total");
    let up = dump(&data, "up{job=\"rabbitmq\"}");
    assert!(
        up.iter().filter(|(_, _, v)| v == "1").count() >= 3,
        "{up:?}"
    );
}
