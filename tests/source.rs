//! The `prometheus-http-query` crate's client, through meshscope's `Source`, against the
//! collector and against a real Prometheus 2.42 scraping the same simulated mesh with
//! the same rules: every call the viewer and reporter use must work on both.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use meshscope_source::{Source, SourceError, SourceOptions};
use prometheus_http_query::TargetState;

use super::collect::{free_port, get, start_collector, start_simulator_with, wait_for, Proc};
use super::real::have;

fn source(url: &str) -> Source {
    Source::new(&SourceOptions {
        url: url.into(),
        ..SourceOptions::default()
    })
    .unwrap()
}

/// The calls the viewer and reporter make, checked for sensible answers.
async fn exercise(src: &Source, nodes: usize) {
    // Rounded up: a target whose first scrape was in this second counts at `now` (the
    // model can be there before it, from another target's series joined with its `up`).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 1;
    let name = src.url().to_string();
    // Instant and range queries of the model.
    let up = src.instant("node:mesh_up:max", None).await.unwrap();
    assert_eq!(up.len(), nodes, "{name}: {up:?}");
    assert!(up
        .iter()
        .all(|(m, _, _)| m.contains_key("node") && m.contains_key("role")));
    let r = src
        .range(
            "sum by (role) (node:mesh_messages_in:rate1m)",
            now - 60,
            now + 30,
            5.0,
        )
        .await
        .unwrap();
    assert!(!r.is_empty(), "{name}");
    let scalar = src.instant("scalar(count(up))", Some(now)).await.unwrap();
    if scalar[0].2 != nodes as f64 {
        // What each target's `up` was around that instant, to tell why.
        let ups = src.range("up", now - 20, now + 5, 1.0).await;
        panic!(
            "{name}: count(up) at {now} is {}, not {nodes}; up around it: {ups:?}",
            scalar[0].2
        );
    }
    // An invalid query: the server's error, one line.
    let e = src.instant("sum(up", None).await.unwrap_err();
    assert!(
        matches!(e, SourceError::Query { ref kind, .. } if kind.contains("bad_data") || kind.contains("BadData")),
        "{name}: {e}"
    );
    let c = src.client();
    // Series, label names and values.
    let sel = prometheus_http_query::Selector::new().metric("up");
    let series = c
        .series(&[sel])
        .unwrap()
        .start(now - 60)
        .end(now)
        .get()
        .await
        .unwrap();
    assert_eq!(series.len(), nodes, "{name}");
    let names = c.label_names().get().await.unwrap();
    assert!(names.iter().any(|n| n == "node"), "{name}: {names:?}");
    let roles = c.label_values("role").get().await.unwrap();
    assert!(roles.iter().any(|r| r == "kafka"), "{name}: {roles:?}");
    // Targets, rules, alerts, metadata, flags, build information.
    let t = c.targets(Some(TargetState::Active)).await.unwrap();
    assert_eq!(t.active().len(), nodes, "{name}");
    assert!(t.active().iter().all(|t| t.labels().contains_key("node")));
    let groups = c.rules().get().await.unwrap();
    assert!(groups.iter().any(|g| g.name() == "mesh-node"), "{name}");
    c.alerts().await.unwrap();
    let meta = c
        .metric_metadata()
        .metric("pulsar_in_messages_total")
        .get()
        .await
        .unwrap();
    assert!(
        meta.contains_key("pulsar_in_messages_total"),
        "{name}: {meta:?}"
    );
    c.flags().await.unwrap();
    src.check().await.unwrap();
}

#[test]
fn the_http_query_crate_works_against_meshscope_and_prometheus() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let nodes = 9;
    let (_sim, _port, targets) = start_simulator_with(nodes, d.path(), &["--no-failures"]);
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("model/mesh.rules.yml");
    let scrape = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\n",
        targets.display()
    );
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(&cfg, &scrape).unwrap();
    let mp = free_port();
    let _ms = start_collector(&cfg, &d.path().join("ms"), mp, &d.path().join("ms.log"));
    let mut urls = vec![format!("http://127.0.0.1:{mp}")];
    let _prom = if have("prometheus") {
        let pp = free_port();
        let pcfg = d.path().join("prometheus.yml");
        std::fs::write(
            &pcfg,
            format!("{scrape}rule_files: ['{}']\n", rules.display()),
        )
        .unwrap();
        let p = Command::new("prometheus")
            .arg(format!("--config.file={}", pcfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                d.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{pp}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        urls.push(format!("http://127.0.0.1:{pp}"));
        Some(Proc(p))
    } else {
        assert!(
            std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() != Ok("required"),
            "prometheus is not installed, and scripts/test.sh should have installed it"
        );
        None
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for url in &urls {
        // The model appears after the first rule evaluations (every 15 s): messages on
        // every node but host-0 and router-0.
        wait_for("the mesh model", Duration::from_secs(60), || {
            get(&format!(
                "{url}/api/v1/query?query=count(node:mesh_messages_in:rate1m)"
            ))
            .is_some_and(|(_, b)| b.contains(&format!("\"{}\"", nodes - 2)))
        });
        rt.block_on(exercise(&source(url), nodes));
    }
    // Unreachable and invalid sources are one clear line each.
    let e = rt
        .block_on(source(&format!("http://127.0.0.1:{}", free_port())).check())
        .unwrap_err();
    assert!(matches!(e, SourceError::Unreachable { .. }), "{e}");
    assert!(
        e.to_string().starts_with("cannot reach http://127.0.0.1:"),
        "{e}"
    );
    let e = Source::new(&SourceOptions {
        url: "localhost:9477".into(),
        ..SourceOptions::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("invalid source"), "{e}");
}
