//! End-to-end tests of the `meshscope` binary across parts.

use std::process::Command;

fn meshscope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshscope"))
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
            "--history-out",
        ])
        .arg(&om)
        .status()
        .unwrap();
    assert!(st.success());
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

    let out = meshscope()
        .args([
            "tsdb",
            "dump",
            "--match",
            "up{node=\"kafka-0\"}",
            "--storage.tsdb.path",
        ])
        .arg(&store)
        .output()
        .unwrap();
    assert!(out.status.success());
    let dump = String::from_utf8_lossy(&out.stdout);
    let ups: Vec<&str> = dump.lines().filter(|l| l.starts_with("up{")).collect();
    assert_eq!(ups.len(), 181, "3h at 60s, both ends included");
    assert!(ups[0].contains("role=\"kafka\""));

    // The same history written straight into a store holds the same samples.
    let direct = d.path().join("direct");
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
            "--storage.tsdb.path",
        ])
        .arg(&direct)
        .status()
        .unwrap();
    assert!(st.success());
    let a = meshscope()
        .args(["tsdb", "analyze", "--storage.tsdb.path"])
        .arg(&direct)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&a.stdout).contains("bytes per sample"));
}
