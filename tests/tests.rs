//! End-to-end tests of the `meshscope` binary across parts.
#![allow(clippy::unwrap_used)] // a test crate: failures should panic with the error

use std::process::Command;

/// Tests that start servers (the collector, Prometheus, exporters, the simulator) or
/// check timing run one at a time: on a 2-core machine several at once starve each other
/// and their schedules.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn meshscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshscope"))
}

/// Three hours of a 9-node mesh at 60 s, written to `dest_flag` `dest`.
fn simulate_history(dest_flag: &str, dest: &std::path::Path) {
    let st = meshscope()
        .args([
            "simulate",
            "--nodes",
            "9",
            "--seed",
            "4",
            "--history",
            "3h",
            "--history-step",
            "60s",
            dest_flag,
        ])
        .arg(dest)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The `up` lines of one node in a store's dump.
fn dumped_up(store: &std::path::Path, node: &str) -> Vec<String> {
    let out = meshscope()
        .args([
            "tsdb",
            "dump",
            "--match",
            &format!("up{{node=\"{node}\"}}"),
            "--match",
            "up{role=\"kafka\"}",
            "--storage.tsdb.path",
        ])
        .arg(store)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dump = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        dump.matches("# EOF").count(),
        1,
        "one # EOF however many --match"
    );
    dump.lines()
        .filter(|l| l.starts_with("up{"))
        .map(str::to_string)
        .collect()
}

#[test]
fn check_metrics_exit_codes_and_positions() {
    let d = tempfile::tempdir().unwrap();
    let good = d.path().join("good.prom");
    std::fs::write(&good, "# TYPE a gauge\na{x=\"1\"} 1\n").unwrap();
    let out = meshscope()
        .args(["check", "metrics"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid, 1 samples"));

    let bad = d.path().join("bad.prom");
    std::fs::write(&bad, "a 1\nb{x=1} 2\n").unwrap();
    let out = meshscope()
        .args(["check", "metrics"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(":2:5: expected '\"'"), "{stdout}");

    let out = meshscope()
        .args(["check", "metrics", "--format", "openmetrics"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an OpenMetrics body needs # EOF"
    );
}

#[test]
fn simulated_history_imports_and_dumps_back() {
    let d = tempfile::tempdir().unwrap();
    let om = d.path().join("h.om");
    simulate_history("--history-out", &om);
    let store = d.path().join("store");
    let out = meshscope()
        .args(["tsdb", "import", "openmetrics"])
        .arg(&om)
        .arg("--storage.tsdb.path")
        .arg(&store)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Imported"));

    // kafka-0 is matched by both selectors and is printed once.
    let ups = dumped_up(&store, "kafka-0");
    assert_eq!(ups.len(), 181, "3h at 60s, both ends included");
    assert!(ups[0].contains("role=\"kafka\""));

    // The same history written straight into a store has the same series and count.
    let direct = d.path().join("direct");
    simulate_history("--storage.tsdb.path", &direct);
    let direct_ups = dumped_up(&direct, "kafka-0");
    assert_eq!(direct_ups.len(), 181);
    assert_eq!(direct_ups[0].split(' ').next(), ups[0].split(' ').next());
    let a = meshscope()
        .args(["tsdb", "analyze", "--storage.tsdb.path"])
        .arg(&direct)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&a.stdout).contains("bytes per sample"));
}

mod alerts;
mod collect;
mod dashboards;
mod faults;
mod hostile;
mod lab;
mod promql_diff;
mod query_api;
mod real;
mod remote;
mod report;
mod rules;
mod security;
mod source;
mod viewer;
