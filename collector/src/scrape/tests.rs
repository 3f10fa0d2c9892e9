use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::scrape_loop::ScrapeLoop;
use super::target::{populate, Health, Populated};
use super::*;
use crate::config::{self, relabel::LabelMap};
use crate::tsdb::chunk::is_stale_nan;
use crate::tsdb::{Matcher, Options, Queryable};

#[derive(Clone, Default)]
struct Bodies(Arc<Mutex<String>>);

async fn serve(bodies: Bodies) -> std::net::SocketAddr {
    let b1 = bodies.clone();
    let app = Router::new()
        .route(
            "/text",
            get(move || {
                let b = b1.clone();
                async move { b.0.lock().unwrap().clone() }
            }),
        )
        .route(
            "/om",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    "# TYPE a counter\na_total{x=\"1\"} 5\n# EOF\n",
                )
            }),
        )
        .route(
            "/gzip",
            get(|| async {
                use std::io::Write;
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(b"zipped 42\n").unwrap();
                ([(header::CONTENT_ENCODING, "gzip")], e.finish().unwrap())
            }),
        )
        .route(
            "/500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response() }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                "never"
            }),
        )
        .route(
            "/bad5000",
            get(|| async {
                let mut s = String::new();
                for i in 0..4999 {
                    s.push_str(&format!("good{{i=\"{i}\"}} 1\n"));
                }
                s.push_str("bad{ 1\n");
                s
            }),
        )
        .route(
            "/accept",
            get(|h: axum::http::HeaderMap| async move {
                let a = h
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let ok = a.starts_with("application/openmetrics-text;version=1.0.0");
                let t = h.get("X-Prometheus-Scrape-Timeout-Seconds").is_some();
                format!("accept_ok {}\ntimeout_header {}\n", ok as u8, t as u8)
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

fn job(extra: &str, addr: std::net::SocketAddr, path: &str) -> (Config, Arc<Target>) {
    let yaml = format!(
        "scrape_configs:\n  - job_name: t\n    scrape_interval: 1s\n    metrics_path: {path}\n    static_configs:\n      - targets: ['{addr}']\n        labels: {{node: n1}}\n{extra}"
    );
    let cfg = config::load_str(&yaml, Path::new("t.yml"), Path::new(".")).unwrap();
    let sc = &cfg.scrape_configs[0];
    let t = LabelMap::from([("__address__".to_string(), addr.to_string())]);
    let Ok(Populated::Target(t)) = populate(&t, &sc.static_configs[0].labels, sc) else {
        panic!("no target")
    };
    (cfg, Arc::new(t))
}

fn new_loop(db: &Arc<Db>, cfg: &Config, t: &Arc<Target>) -> ScrapeLoop {
    let sc = &cfg.scrape_configs[0];
    ScrapeLoop::new(
        db.clone(),
        t.clone(),
        Arc::new(sc.clone()),
        http::Client::new(&sc.http(), cfg).unwrap(),
        Arc::new(ScrapeStats::default()),
    )
}

type Found = Vec<(Vec<(String, String)>, Vec<(i64, f64)>)>;

fn series(db: &Db, name: &str) -> Found {
    db.select(&[Matcher::equal("__name__", name)], i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| (s.labels.to_pairs(), s.samples(i64::MIN, i64::MAX).collect()))
        .collect()
}

fn value(db: &Db, name: &str) -> Vec<f64> {
    series(db, name)
        .into_iter()
        .flat_map(|(_, s)| s.into_iter().map(|(_, v)| v))
        .collect()
}

fn open_db() -> (tempfile::TempDir, Arc<Db>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    (dir, db)
}

#[tokio::test]
async fn a_scrape_stores_samples_with_target_labels_and_report_series() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() =
        "# TYPE m counter\nm{instance=\"inner\",a=\"1\"} 3\nm{a=\"2\"} 4\nexplicit 7 1000\n".into();
    let addr = serve(bodies.clone()).await;
    let (_d, db) = open_db();
    let (cfg, t) = job("", addr, "/text");
    let mut sl = new_loop(&db, &cfg, &t);
    sl.scrape_once(10_000).await;
    let m = series(&db, "m");
    assert_eq!(m.len(), 2);
    let inst = addr.to_string();
    // honor_labels false: the exposition's instance becomes exported_instance.
    assert_eq!(
        m[0].0,
        vec![
            ("__name__".to_string(), "m".to_string()),
            ("a".into(), "1".into()),
            ("exported_instance".into(), "inner".into()),
            ("instance".into(), inst.clone()),
            ("job".into(), "t".into()),
            ("node".into(), "n1".into()),
        ]
    );
    assert_eq!(m[0].1, vec![(10_000, 3.0)]);
    // honor_timestamps: the exposition's timestamp is kept.
    assert_eq!(series(&db, "explicit")[0].1, vec![(1000, 7.0)]);
    assert_eq!(value(&db, "up"), vec![1.0]);
    assert_eq!(value(&db, "scrape_samples_scraped"), vec![3.0]);
    assert_eq!(
        value(&db, "scrape_samples_post_metric_relabeling"),
        vec![3.0]
    );
    assert_eq!(value(&db, "scrape_series_added"), vec![3.0]);
    assert_eq!(
        series(&db, "up")[0]
            .0
            .iter()
            .filter(|(n, _)| n == "instance")
            .count(),
        1
    );
    let st = t.status.lock().unwrap().clone();
    assert_eq!(st.health, Health::Up);
    assert_eq!(st.last_scrape_ms, 10_000);

    // Second scrape: one series vanished (stale marker), the cache serves the other.
    *bodies.0.lock().unwrap() = "m{a=\"2\"} 5\n".into();
    sl.scrape_once(11_000).await;
    let m = series(&db, "m");
    assert_eq!(m[0].1.len(), 2);
    assert_eq!(m[0].1[1].0, 11_000);
    assert!(is_stale_nan(m[0].1[1].1), "{:?}", m[0].1);
    assert_eq!(m[1].1, vec![(10_000, 4.0), (11_000, 5.0)]);
    assert_eq!(value(&db, "scrape_series_added"), vec![3.0, 0.0]);
    // Explicit timestamps get no staleness markers.
    assert_eq!(series(&db, "explicit")[0].1.len(), 1);
}

#[tokio::test]
async fn honor_labels_keeps_the_exposition_labels() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() = "m{instance=\"inner\",job=\"other\"} 1\n".into();
    let addr = serve(bodies).await;
    let (_d, db) = open_db();
    let (cfg, t) = job(
        "    honor_labels: true\n    honor_timestamps: false\n",
        addr,
        "/text",
    );
    new_loop(&db, &cfg, &t).scrape_once(5_000).await;
    let m = series(&db, "m");
    assert!(m[0].0.contains(&("instance".into(), "inner".into())));
    assert!(m[0].0.contains(&("job".into(), "other".into())));
    assert!(m[0].0.contains(&("node".into(), "n1".into())));
}

#[tokio::test]
async fn failed_scrapes_store_nothing_of_the_body_and_mark_stale() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() = "good{i=\"1\"} 1\n".into();
    let addr = serve(bodies).await;
    let (_d, db) = open_db();
    for (path, extra, why) in [
        ("/500", "", "server returned HTTP status 500"),
        (
            "/hang",
            "    scrape_timeout: 200ms\n",
            "timed out after 200ms",
        ),
        ("/bad5000", "", "line 5000"),
        (
            "/bad5000",
            "    body_size_limit: 1KB\n",
            "body size limit exceeded",
        ),
        ("/bad5000", "    sample_limit: 10\n", "line 5000"),
        (
            "/text",
            "    sample_limit: 0\n    label_limit: 2\n",
            "label_limit exceeded",
        ),
        (
            "/text",
            "    label_value_length_limit: 1\n",
            "label_value_length_limit exceeded",
        ),
        (
            "/text",
            "    label_name_length_limit: 3\n",
            "label_name_length_limit exceeded",
        ),
    ] {
        let (cfg, t) = job(extra, addr, path);
        let mut sl = new_loop(&db, &cfg, &t);
        sl.scrape_once(1_000).await;
        let st = t.status.lock().unwrap().clone();
        assert_eq!(st.health, Health::Down, "{path}");
        assert!(st.last_error.contains(why), "{path}: {}", st.last_error);
    }
    assert!(series(&db, "good").is_empty(), "nothing partial is stored");
    assert!(value(&db, "up").iter().all(|v| *v == 0.0));

    // A target that worked and then fails: its series go stale.
    let (_d2, db2) = open_db();
    let b = Bodies::default();
    *b.0.lock().unwrap() = "good{i=\"1\"} 1\n".into();
    let addr2 = serve(b.clone()).await;
    let (cfg, t) = job("    sample_limit: 1\n", addr2, "/text");
    let mut sl = new_loop(&db2, &cfg, &t);
    sl.scrape_once(2_000).await;
    // The body now exceeds the sample limit.
    *b.0.lock().unwrap() = "good{i=\"1\"} 1\ngood{i=\"2\"} 1\n".into();
    sl.scrape_once(3_000).await;
    let g = series(&db2, "good");
    assert_eq!(g.len(), 1, "the over-limit body added nothing");
    assert_eq!(g[0].1[0], (2_000, 1.0));
    assert_eq!(g[0].1[1].0, 3_000);
    assert!(is_stale_nan(g[0].1[1].1));
    assert!(t
        .status
        .lock()
        .unwrap()
        .last_error
        .contains("sample_limit exceeded"));
}

#[tokio::test]
async fn negotiation_gzip_and_openmetrics() {
    let addr = serve(Bodies::default()).await;
    let (_d, db) = open_db();
    for path in ["/om", "/gzip", "/accept"] {
        let (cfg, t) = job("", addr, path);
        new_loop(&db, &cfg, &t).scrape_once(1_000).await;
        assert_eq!(t.status.lock().unwrap().last_error, "", "{path}");
    }
    assert_eq!(value(&db, "a_total"), vec![5.0]);
    assert_eq!(value(&db, "zipped"), vec![42.0]);
    assert_eq!(value(&db, "accept_ok"), vec![1.0]);
    assert_eq!(value(&db, "timeout_header"), vec![1.0]);
}

#[tokio::test]
async fn metric_relabelling_drops_and_rewrites() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() = "keep_me{a=\"x\"} 1\ndrop_me 2\n".into();
    let addr = serve(bodies).await;
    let (_d, db) = open_db();
    let extra = "    metric_relabel_configs:\n      - source_labels: [__name__]\n        regex: drop_.*\n        action: drop\n      - source_labels: [a]\n        target_label: b\n";
    let (cfg, t) = job(extra, addr, "/text");
    let mut sl = new_loop(&db, &cfg, &t);
    sl.scrape_once(1_000).await;
    sl.scrape_once(2_000).await;
    assert!(series(&db, "drop_me").is_empty());
    assert!(series(&db, "keep_me")[0]
        .0
        .contains(&("b".into(), "x".into())));
    assert_eq!(
        value(&db, "scrape_samples_post_metric_relabeling"),
        vec![1.0, 1.0]
    );
    assert_eq!(value(&db, "scrape_samples_scraped"), vec![2.0, 2.0]);
}

#[tokio::test]
async fn the_manager_follows_file_sd_and_marks_removed_targets_stale() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() = "m 1\n".into();
    let addr = serve(bodies).await;
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("targets.json");
    std::fs::write(
        &sd,
        format!("[{{\"targets\": [\"{addr}\"], \"labels\": {{\"node\": \"a\"}}}}]"),
    )
    .unwrap();
    let yaml = "scrape_configs:\n  - job_name: sd\n    scrape_interval: 100ms\n    metrics_path: /text\n    file_sd_configs:\n      - files: ['*.json']\n        refresh_interval: 1h\n";
    let cfg = config::load_str(yaml, &dir.path().join("c.yml"), dir.path()).unwrap();
    let (_d, db) = open_db();
    let stop = CancellationToken::new();
    let m = ScrapeManager::start(db.clone(), stop.clone());
    m.apply(&cfg).unwrap();
    let wait = |f: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !f() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "timed out"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || wait(&|| value(&db2, "m").len() >= 2))
        .await
        .unwrap();
    let pools = m.targets();
    assert_eq!(pools[0].active.len(), 1);
    assert_eq!(
        pools[0].active[0].discovered["__meta_filepath"],
        sd.display().to_string()
    );
    // Relabel the node by editing the file: the watcher picks it up without waiting for
    // refresh_interval; the old target's series are marked stale.
    std::fs::write(
        &sd,
        format!("[{{\"targets\": [\"{addr}\"], \"labels\": {{\"node\": \"b\"}}}}]"),
    )
    .unwrap();
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || {
        wait(&|| {
            series(&db2, "m")
                .iter()
                .any(|(l, _)| l.contains(&("node".into(), "b".into())))
                && series(&db2, "m").iter().any(|(l, s)| {
                    l.contains(&("node".into(), "a".into()))
                        && s.last().is_some_and(|(_, v)| is_stale_nan(*v))
                })
        })
    })
    .await
    .unwrap();
    // A broken file keeps the last good targets.
    std::fs::write(&sd, "[{\"targets\": ").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(m.targets()[0].active.len(), 1);
    assert!(m.stats.sd_file_read_errors.load(Ordering::Relaxed) >= 1);
    // Removing the job stops it.
    m.apply(&config::load_str("", Path::new("c.yml"), dir.path()).unwrap())
        .unwrap();
    assert!(m.targets().is_empty());
    stop.cancel();
}

#[tokio::test]
async fn target_limit_fails_the_whole_job_until_the_targets_fit() {
    let addr = serve(Bodies::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("t.yml");
    std::fs::write(&sd, format!("- targets: ['{addr}', 'localhost:1']\n")).unwrap();
    let yaml = "scrape_configs:\n  - job_name: lim\n    scrape_interval: 100ms\n    metrics_path: /text\n    target_limit: 1\n    file_sd_configs: [{files: ['t.yml']}]\n";
    let cfg = config::load_str(yaml, &dir.path().join("c.yml"), dir.path()).unwrap();
    let (_d, db) = open_db();
    let stop = CancellationToken::new();
    let m = ScrapeManager::start(db, stop.clone());
    m.apply(&cfg).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while m.targets()[0].active.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "targets not discovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let p = &m.targets()[0];
    assert!(p
        .limit_error
        .as_deref()
        .unwrap()
        .contains("target_limit exceeded"));
    assert_eq!(p.active[0].status.lock().unwrap().health, Health::Down);
    // Down to one target: the same job now scrapes it.
    std::fs::write(&sd, format!("- targets: ['{addr}']\n")).unwrap();
    loop {
        let p = &m.targets()[0];
        if p.limit_error.is_none()
            && p.active.len() == 1
            && p.active[0].status.lock().unwrap().health == Health::Up
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scrape after the targets fit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.cancel();
}

/// An HTTPS target whose certificate names only `meshscope.test`, reached as 127.0.0.1.
async fn serve_tls(dir: &Path) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ck = rcgen::generate_simple_self_signed(vec!["meshscope.test".to_string()]).unwrap();
    std::fs::write(dir.join("ca.pem"), ck.cert.pem()).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let sc = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(sc));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "tls_metric 1\n";
                let _ = tls
                    .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes())
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn tls_verifies_against_server_name_and_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let addr = serve_tls(dir.path()).await;
    let (_d, db) = open_db();
    let scrape = |tls: &'static str| {
        let yaml = format!(
            "scrape_configs:\n  - job_name: t\n    scheme: https\n    tls_config: {tls}\n    static_configs: [{{targets: ['{addr}']}}]\n"
        );
        let cfg = config::load_str(&yaml, &dir.path().join("c.yml"), dir.path()).unwrap();
        let sc = &cfg.scrape_configs[0];
        let t = LabelMap::from([("__address__".to_string(), addr.to_string())]);
        let Ok(Populated::Target(t)) = populate(&t, &LabelMap::new(), sc) else {
            panic!("no target")
        };
        (cfg, Arc::new(t))
    };
    // The certificate does not name 127.0.0.1: refused without server_name.
    let (cfg, t) = scrape("{ca_file: ca.pem}");
    new_loop(&db, &cfg, &t).scrape_once(1_000).await;
    let e = t.status.lock().unwrap().last_error.clone();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // With server_name it verifies.
    let (cfg, t) = scrape("{ca_file: ca.pem, server_name: meshscope.test}");
    new_loop(&db, &cfg, &t).scrape_once(2_000).await;
    assert_eq!(t.status.lock().unwrap().last_error, "");
    // A wrong server_name fails again; an unknown CA fails; insecure_skip_verify passes.
    let (cfg, t) = scrape("{ca_file: ca.pem, server_name: other.test}");
    new_loop(&db, &cfg, &t).scrape_once(3_000).await;
    assert_ne!(t.status.lock().unwrap().last_error, "");
    let (cfg, t) = scrape("{server_name: meshscope.test}");
    new_loop(&db, &cfg, &t).scrape_once(4_000).await;
    assert_ne!(t.status.lock().unwrap().last_error, "");
    let (cfg, t) = scrape("{insecure_skip_verify: true}");
    new_loop(&db, &cfg, &t).scrape_once(5_000).await;
    assert_eq!(t.status.lock().unwrap().last_error, "");
    assert_eq!(
        series(&db, "tls_metric")[0].1,
        vec![(2_000, 1.0), (5_000, 1.0)]
    );
}

#[test]
fn http_sd_bodies_are_parsed_like_sd_files_and_errors_name_the_url() {
    let url = "http://sd.example/targets";
    let g = super::discovery::parse_http_sd(
        url,
        br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "lab"}}, {"targets": []}]"#,
    )
    .unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].targets.len(), 2);
    assert_eq!(g[0].labels["env"], "lab");
    assert_eq!(g[0].labels["__meta_url"], url);
    for (body, want) in [
        (&b"{}"[..], "line 1 column"),
        (
            br#"[{"targets": ["a:1"], "labels": {"1x": "v"}}]"#,
            "not a valid label name",
        ),
        (br#"[{"targets": ["a/b:1"]}]"#, "group 0"),
        (br#"[{"targets": ["a:1"], "extra": 1}]"#, "unknown field"),
        (b"\xff\xfe", "line 1"),
    ] {
        let e = super::discovery::parse_http_sd(url, body).unwrap_err();
        assert!(e.contains(url) && e.contains(want), "{e}");
    }
}

/// A scrape tells the mesh model which nodes it wrote: the target's, and those metric
/// relabelling gives its series (nats-surveyor's servers, docs/mesh-model.md).
#[tokio::test]
async fn a_scrape_reports_the_nodes_of_its_series() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() =
        "nats_core_recv_msgs_count{server_name=\"nats-a\"} 1\nnats_core_recv_msgs_count{server_name=\"nats-b\"} 2\nother 3\n".into();
    let addr = serve(bodies).await;
    let (_d, db) = open_db();
    let (cfg, t) = job(
        "    metric_relabel_configs:\n      - source_labels: [server_name]\n        regex: (.+)\n        target_label: node\n",
        addr,
        "/text",
    );
    let sc = &cfg.scrape_configs[0];
    let stats = Arc::new(ScrapeStats::default());
    let mut l = ScrapeLoop::new(
        db.clone(),
        t.clone(),
        Arc::new(sc.clone()),
        http::Client::new(&sc.http(), &cfg).unwrap(),
        stats.clone(),
    );
    let mut rx = stats.committed.subscribe();
    l.scrape_once(5_000).await;
    assert!(rx.has_changed().unwrap());
    let mut got: Vec<String> = stats
        .committed
        .take_nodes()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["n1", "nats-a", "nats-b"]);
    assert!(stats.committed.take_nodes().is_empty(), "taken once");
    rx.borrow_and_update();
    // The next scrape reports them again (its samples are new data for each).
    l.scrape_once(6_000).await;
    assert_eq!(stats.committed.take_nodes().len(), 3);
}

/// Staleness kept in the cache: a series two exposition lines name (relabelling made
/// them one) is not stale while one of them is scraped; a failed scrape marks what the
/// last good one appended, once; a series back after that is appended again and goes
/// stale again when it vanishes.
#[tokio::test]
async fn staleness_follows_series_not_lines() {
    let bodies = Bodies::default();
    *bodies.0.lock().unwrap() = "m{a=\"1\"} 1\nm{a=\"2\"} 1\nk 1\n".into();
    let addr = serve(bodies.clone()).await;
    let (_d, db) = open_db();
    let extra = "    honor_timestamps: false\n    metric_relabel_configs:\n      - regex: a\n        action: labeldrop\n";
    let (cfg, t) = job(extra, addr, "/text");
    let mut sl = new_loop(&db, &cfg, &t);
    sl.scrape_once(10_000).await;
    // The two lines are one series: the second sample of the scrape is a duplicate.
    assert_eq!(series(&db, "m").len(), 1);
    *bodies.0.lock().unwrap() = "m{a=\"2\"} 2\nk 2\n".into();
    sl.scrape_once(11_000).await;
    assert_eq!(series(&db, "m")[0].1, vec![(10_000, 1.0), (11_000, 2.0)]);
    // Both lines gone: stale, once.
    *bodies.0.lock().unwrap() = "k 3\n".into();
    sl.scrape_once(12_000).await;
    sl.scrape_once(13_000).await;
    let m = &series(&db, "m")[0].1;
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(is_stale_nan(m[2].1) && m[2].0 == 12_000);
    // A failed scrape marks k stale; the next good one appends it again.
    *bodies.0.lock().unwrap() = "k 4\nbroken{\n".into();
    sl.scrape_once(14_000).await;
    *bodies.0.lock().unwrap() = "k 5\n".into();
    sl.scrape_once(15_000).await;
    *bodies.0.lock().unwrap() = "".into();
    sl.scrape_once(16_000).await;
    sl.scrape_once(17_000).await;
    let k: Vec<(i64, String)> = series(&db, "k")[0]
        .1
        .iter()
        .map(|(t, v)| {
            (
                *t,
                if is_stale_nan(*v) {
                    "stale".into()
                } else {
                    v.to_string()
                },
            )
        })
        .collect();
    let want: Vec<(i64, String)> = [
        (10_000, "1"),
        (11_000, "2"),
        (12_000, "3"),
        (13_000, "3"),
        (14_000, "stale"),
        (15_000, "5"),
        (16_000, "stale"),
    ]
    .iter()
    .map(|(t, v)| (*t, v.to_string()))
    .collect();
    assert_eq!(k, want);
}
