//! Remote write into a real Prometheus 2.42 (`--web.enable-remote-write-receiver`): an
//! outage of the receiver while the collector scrapes loses nothing, counted with PromQL
//! on both sides.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Datelike;

use serde_json::Value;

use super::collect::{free_port, get, start_collector, start_simulator_with, wait_for, Proc};
use super::real::have;

fn required() -> bool {
    std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() == Ok("required")
}

/// A Prometheus that scrapes nothing and receives remote writes (`config`: the rest of
/// its configuration, e.g. rule files), ready.
pub fn receiver_with(dir: &Path, name: &str, port: u16, config: &str) -> Proc {
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).unwrap();
    let p = super::dashboards::start_prometheus(
        &cfg,
        &dir.join(format!("{name}-data")),
        port,
        &dir.join(format!("{name}-{}.log", std::process::id())),
    );
    wait_for("Prometheus", Duration::from_secs(60), || {
        get(&format!("http://127.0.0.1:{port}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    p
}

pub fn receiver(dir: &Path, port: u16) -> Proc {
    receiver_with(dir, "receiver", port, "global:\n  scrape_interval: 15s\n")
}

/// An instant query: each result's labels and value.
pub fn query(base: &str, expr: &str, time: Option<f64>) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut params = vec![("query", expr.to_string())];
    if let Some(t) = time {
        params.push(("time", format!("{t:.3}")));
    }
    let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), &params).unwrap();
    let (code, body) = get(url.as_str()).unwrap_or((0, String::new()));
    assert_eq!(code, 200, "{expr} on {base}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let labels = r["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            (labels, r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// One sample of the collector's own metrics (summed over its label sets).
pub fn own_metric(base: &str, name: &str) -> f64 {
    let (_, body) = get(&format!("{base}/metrics")).unwrap();
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Whether Prometheus is here (else the test is skipped, unless the test command
/// requires the real components).
fn have_prometheus() -> bool {
    let ok = have("prometheus");
    if !ok {
        assert!(
            !required(),
            "prometheus is not installed, and scripts/test.sh should have installed it"
        );
        eprintln!("SKIPPED: prometheus is not installed");
    }
    ok
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_two_minute_receiver_outage_loses_no_sample() {
    if !have_prometheus() {
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (_sim, _, targets) = start_simulator_with(4, d.path(), &["--no-failures"]);
    let pp = free_port();
    let pb = format!("http://127.0.0.1:{pp}");
    let prom = receiver(d.path(), pp);
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{collector: edge-a}}\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\nremote_write:\n  - url: {pb}/api/v1/write\n    name: prom\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: scrape_series_added\n        action: drop\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 2s\n",
            targets.display()
        ),
    )
    .unwrap();
    let start = now();
    let mp = free_port();
    let mb = format!("http://127.0.0.1:{mp}");
    let _c = start_collector(&cfg, &d.path().join("data"), mp, &d.path().join("c.log"));
    wait_for(
        "the collector's samples in Prometheus",
        Duration::from_secs(60),
        || {
            query(&pb, "count(up{collector=\"edge-a\"})", None)
                .first()
                .is_some_and(|(_, v)| *v == 4.0)
        },
    );

    // The receiver goes away for two minutes while the collector scrapes on.
    drop(prom);
    std::thread::sleep(Duration::from_secs(120));
    assert!(
        own_metric(&mb, "meshscope_remote_storage_samples_failed_total") > 0.0,
        "no failed sends were counted during the outage"
    );
    let pending = own_metric(&mb, "meshscope_remote_storage_samples_pending");
    assert!(pending > 0.0, "nothing pending during the outage");
    let back = now();
    let _prom = receiver(d.path(), pp);

    // Caught up: the WAL read past `end` and nothing pending.
    let end = back + 15.0;
    wait_for("the catch-up", Duration::from_secs(120), || {
        now() > end + 3.0
            && own_metric(&mb, "meshscope_remote_storage_highest_timestamp_in_seconds") > end + 2.0
            && own_metric(&mb, "meshscope_remote_storage_samples_pending") == 0.0
    });
    eprintln!(
        "caught up {:.1} s after the receiver came back",
        now() - back
    );

    // Every sample the collector stored up to `end` is in Prometheus: counted per metric
    // name and node with the same PromQL on both sides.
    let range = (end - start + 60.0).ceil() as u64;
    let (_, names) = get(&format!("{mb}/api/v1/label/__name__/values")).unwrap();
    let names: Vec<String> = serde_json::from_str::<Value>(&names).unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .filter(|n| n != "scrape_series_added")
        .collect();
    assert!(names.len() > 20, "{names:?}");
    let counts = |base: &str| -> BTreeMap<(String, String), f64> {
        let mut out = BTreeMap::new();
        for name in &names {
            let expr =
                format!("sum by (node) (count_over_time({{__name__=\"{name}\"}}[{range}s]))");
            for (l, v) in query(base, &expr, Some(end)) {
                out.insert(
                    (name.clone(), l.get("node").cloned().unwrap_or_default()),
                    v,
                );
            }
        }
        out
    };
    let ours = counts(&mb);
    let theirs = counts(&pb);
    let total: f64 = ours.values().sum();
    assert!(total > 4.0 * 150.0 * 20.0, "too few samples: {total}");
    assert_eq!(ours, theirs, "samples per node: collector vs Prometheus");
    // The outage is in both: samples from its middle.
    let mid = back - 60.0;
    let n = |base: &str| {
        query(base, "count(up)", Some(mid))
            .first()
            .map_or(0.0, |x| x.1)
    };
    assert_eq!(n(&pb), 4.0, "Prometheus lacks the outage's samples");
    // External labels on every series; the relabelled-away series is not there.
    assert_eq!(
        query(
            &pb,
            "count({__name__!=\"\", collector!=\"edge-a\"})",
            Some(end)
        ),
        vec![]
    );
    assert_eq!(query(&pb, "scrape_series_added", Some(end)), vec![]);
    assert!(own_metric(&mb, "meshscope_remote_storage_samples_total") >= total);
    assert_no_batch_refused(&mb);
}

/// The receiver refused no batch of `base`'s remote write (a refused batch is dropped).
fn assert_no_batch_refused(base: &str) {
    let (_, m) = get(&format!("{base}/metrics")).unwrap();
    let refused = m
        .lines()
        .find(|l| {
            l.starts_with("meshscope_remote_storage_samples_dropped_total{")
                && l.contains("reason=\"http_4xx\"")
        })
        .unwrap_or_else(|| panic!("no dropped counter:\n{m}"));
    assert!(refused.ends_with(" 0"), "{refused}");
}

/// A collector with `extra` flags and `external_labels` remote-writing the simulated
/// mesh at 2 s into `url`; without the mesh model unless `extra` turns it on.
fn edge_collector(
    dir: &Path,
    name: &str,
    targets: &Path,
    url: &str,
    labels: &str,
    extra: &[&str],
) -> (Proc, String) {
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 2s\n  external_labels: {{{labels}}}\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\nremote_write:\n  - url: {url}\n    queue_config: {{batch_send_deadline: 1s}}\n",
            targets.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let p = Proc(
        super::meshscope()
            .args(["collect", "--config.file"])
            .arg(&cfg)
            .arg("--storage.tsdb.path")
            .arg(dir.join(name))
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .args(
                (!extra.iter().any(|a| a.starts_with("--rules.mesh-model")))
                    .then_some("--rules.mesh-model=false"),
            )
            .args(extra)
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    (p, format!("http://127.0.0.1:{port}"))
}

#[test]
fn shards_split_the_targets_and_an_ha_pair_sends_both_copies() {
    if !have_prometheus() {
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let nodes = 12;
    let (_sim, _, targets) = start_simulator_with(nodes, d.path(), &["--no-failures"]);
    let pp = free_port();
    let pb = format!("http://127.0.0.1:{pp}");
    let _prom = receiver(d.path(), pp);
    let url = format!("{pb}/api/v1/write");
    let t = targets.as_path();
    let _s0 = edge_collector(
        d.path(),
        "s0",
        t,
        &url,
        "collector: shard-0",
        &["--shard", "0/2"],
    );
    let _s1 = edge_collector(
        d.path(),
        "s1",
        t,
        &url,
        "collector: shard-1",
        &["--shard", "1/2"],
    );
    let _ha = edge_collector(d.path(), "a", t, &url, "collector: ha, replica: a", &[]);
    let _hb = edge_collector(d.path(), "b", t, &url, "collector: ha, replica: b", &[]);
    let count = |expr: &str| query(&pb, expr, None).len();
    wait_for(
        "every copy of every target in Prometheus",
        Duration::from_secs(90),
        || {
            count("up{collector=~\"shard-.\"}") == nodes
                && count("up{collector=\"ha\"}") == 2 * nodes
        },
    );
    // The shards: each target scraped by exactly one of them, together all of them.
    let per_instance = query(
        &pb,
        "count by (instance) (up{collector=~\"shard-.\"})",
        None,
    );
    assert_eq!(per_instance.len(), nodes);
    assert!(
        per_instance.iter().all(|(_, v)| *v == 1.0),
        "{per_instance:?}"
    );
    let per_shard = query(
        &pb,
        "count by (collector) (up{collector=~\"shard-.\"})",
        None,
    );
    eprintln!("targets per shard: {per_shard:?}");
    // The simulated targets share one address: the path splits them.
    assert_eq!(per_shard.len(), 2, "both shards scrape: {per_shard:?}");
    // The HA pair: two copies told apart by `replica`; dropping it gives one per target.
    let pair = query(&pb, "count by (instance) (up{collector=\"ha\"})", None);
    assert!(pair.iter().all(|(_, v)| *v == 2.0), "{pair:?}");
    assert_eq!(count("max without (replica) (up{collector=\"ha\"})"), nodes);
    // The same samples from both replicas (same targets, own scrape times).
    let n = |r: &str| {
        query(
            &pb,
            &format!("sum(count_over_time(up{{collector=\"ha\",replica=\"{r}\"}}[1m]))"),
            None,
        )[0]
        .1
    };
    assert!(
        (n("a") - n("b")).abs() <= 2.0 * nodes as f64,
        "{} vs {}",
        n("a"),
        n("b")
    );
}

/// The edge/central topology of README "Running at scale": the collector scrapes and
/// remote-writes the raw series (not its own mesh model), Prometheus 2.42 evaluates the
/// mesh-model rules. Pointed at Prometheus, the terminal dashboard shows every node with
/// live rates, and the weekly deck has the same slides with the same data hashes in the
/// notes as the deck from the collector.
#[test]
fn the_viewer_and_reporter_read_the_mesh_from_prometheus_fed_by_remote_write() {
    if !(have("prometheus") && have("tmux") && have("python3")) {
        assert!(
            !required(),
            "prometheus or tmux is not installed, and scripts/test.sh should have installed them"
        );
        eprintln!("SKIPPED: prometheus or tmux is not installed");
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let nodes = 6;
    let start = now();
    let (_sim, _, targets) = start_simulator_with(nodes, d.path(), &["--no-failures"]);
    let pp = free_port();
    let pb = format!("http://127.0.0.1:{pp}");
    let _prom = receiver_with(
        d.path(),
        "central",
        pp,
        &format!(
            "global:\n  evaluation_interval: 15s\nrule_files:\n  - '{}'\n",
            super::rules::rules_file().display()
        ),
    );
    let cfg = d.path().join("edge.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 2s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\nremote_write:\n  - url: {pb}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s}}\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: '(node|link|group):mesh_.+|ALERTS|ALERTS_FOR_STATE'\n        action: drop\n",
            targets.display()
        ),
    )
    .unwrap();
    // The deck's health is read at minute boundaries. The collector's model starts with
    // its first scrape, Prometheus's at its first rule evaluation after the first remote
    // write (up to 15 s + the send later): start just after a minute boundary so that both
    // begin within the same minute and have the same minutes.
    while now().rem_euclid(60.0) > 10.0 {
        std::thread::sleep(Duration::from_millis(250));
    }
    let mp = free_port();
    let mb = format!("http://127.0.0.1:{mp}");
    let _c = start_collector(&cfg, &d.path().join("edge"), mp, &d.path().join("edge.log"));
    for base in [&mb, &pb] {
        wait_for("the mesh model", Duration::from_secs(120), || {
            get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 200)
                && query(base, "count(node:mesh_messages_in:rate1m)", None)
                    .first()
                    .is_some_and(|(_, v)| *v == nodes as f64)
        });
    }
    let model_at = now();
    // The same raw data: the samples of the raw counters since the model appeared on
    // both, timestamp and value. Remote write delivers in batches, so Prometheus may not
    // hold the last samples yet: wait (bounded) until it does (see the known bug below).
    while now() < model_at + 14.0 {
        std::thread::sleep(Duration::from_millis(250));
    }
    let t = now() - 4.0;
    let sel = format!(
        "{{__name__=~\"pulsar_in_messages_total|kafka_server_brokertopicmetrics_messagesin_total|grpc_server_msg_received_total\"}}[{}s]",
        (t - model_at).floor() as i64
    );
    let samples = |base: &str| -> BTreeMap<String, Value> {
        let url = reqwest::Url::parse_with_params(
            &format!("{base}/api/v1/query"),
            &[("query", sel.clone()), ("time", format!("{t:.3}"))],
        )
        .unwrap();
        let (code, body) = get(url.as_str()).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["metric"].to_string(), r["values"].clone()))
            .collect()
    };
    let a = samples(&mb);
    assert!(a.len() >= 3, "{a:?}");
    // Every sample, timestamp and value, on both sides. (Remote write sends in batches:
    // wait, bounded, for the last ones. A receiver that also evaluates the model refuses
    // a batch that carries model series it records itself, out of order, and with it the
    // raw samples beside them: hence every model record is dropped by the relabelling.)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let b = samples(&pb);
        if a.iter().all(|(k, v)| b.get(k) == Some(v)) && b.keys().all(|k| a.contains_key(k)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the raw samples differ: collector {a:?}\nPrometheus {b:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_no_batch_refused(&mb);
    // The model: the same nodes and roles (Prometheus evaluates it on its own schedule,
    // so its values are those of other instants).
    let model = |base: &str| -> Vec<(String, String)> {
        query(base, "node:mesh_up:max", None)
            .into_iter()
            .map(|(l, _)| (l["node"].clone(), l["role"].clone()))
            .collect()
    };
    assert_eq!(model(&mb), model(&pb));

    // The terminal dashboard on Prometheus: every node with a live rate.
    let names: Vec<String> = model(&pb).into_iter().map(|(n, _)| n).collect();
    tui_shows_every_node(&pb, &names, &names);

    // The reporter on both: the same slides and data. Its availability is read
    // each minute: wait for a minute boundary after the model appeared on both.
    let first_minute = ((model_at / 60.0).floor() + 1.0) * 60.0;
    while now() < first_minute + 2.0 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let week = chrono::Utc::now().date_naive().iso_week();
    let week = format!("{}-W{:02}", week.year(), week.week());
    let generated_at = chrono::Utc::now();
    let generated = generated_at.to_rfc3339();
    // The minutes with health data, on each side (the reporter's step is a minute from
    // the week's start, a minute boundary).
    let minutes = |base: &str| -> Vec<f64> {
        let first = (start / 60.0).floor() * 60.0;
        let last = generated_at.timestamp() as f64;
        let mut out = Vec::new();
        let mut b = first;
        while b <= last {
            out.push(
                query(base, "count(node:mesh_up:max)", Some(b))
                    .first()
                    .map_or(0.0, |(_, v)| *v),
            );
            b += 60.0;
        }
        out
    };
    let (minutes_a, minutes_b) = (minutes(&mb), minutes(&pb));
    let args = [
        "--week",
        week.as_str(),
        "--generated-at",
        generated.as_str(),
    ];
    let (da, db) = (d.path().join("edge.pptx"), d.path().join("central.pptx"));
    for (base, out) in [(&mb, &da), (&pb, &db)] {
        let o = super::report::report(base, &args, out);
        assert!(o.status.success(), "report from {base}: {o:?}");
    }
    if !have_python_pptx() {
        assert!(!required(), "python-pptx is not installed");
        return;
    }
    let (ra, rb) = (super::report::read_deck(&da), super::report::read_deck(&db));
    let (sa, sb) = (
        ra["slides"].as_array().unwrap(),
        rb["slides"].as_array().unwrap(),
    );
    assert_eq!(sa.len(), sb.len());
    let hash = |x: &Value| -> String {
        x["notes"]
            .as_str()
            .unwrap_or("")
            .lines()
            .find_map(|l| l.strip_prefix("SHA-256 of the data drawn: "))
            .unwrap_or("")
            .to_string()
    };
    // The data each slide draws is the same from both sources, so the SHA-256 in the
    // notes is too: availability from the per-minute health (1 on every node), the nodes,
    // roles and hours, and the hourly series, which are gaps until the first hour of the
    // run ends. A run that crossed an hour's end has an hourly value evaluated from
    // different rule instants: then only the slides without hourly data are compared.
    // (Incidents are hourly too: a node over an SLO target is found to the hour. CI failed
    // on them in a run that crossed 17:00.)
    let crossed = (start / 3600.0).floor() != (now() / 3600.0).floor();
    let mut compared = 0;
    for (x, y) in sa.iter().zip(sb) {
        let title = x["title"].as_str().unwrap_or("");
        let hourly = !(title.starts_with("Availability") || title.starts_with("Messaging health"));
        if crossed && hourly {
            continue;
        }
        // The data-quality slides count each series' points and list its gaps (the
        // first is from the week's start to the first point): equal only if both sources
        // have health in the same minutes (the start above makes that so unless
        // Prometheus took more than the rest of the first minute to evaluate its rules).
        if title.starts_with("Data quality") && minutes_a != minutes_b {
            eprintln!(
                "not comparing {title:?}: health minutes differ, collector {minutes_a:?} vs Prometheus {minutes_b:?}"
            );
            continue;
        }
        assert!(!hash(x).is_empty(), "{title}: no data hash in the notes");
        assert_eq!(
            hash(x),
            hash(y),
            "{title}: data hash, collector vs Prometheus"
        );
        compared += 1;
    }
    // At least the title slide and availability; with every slide before an hour ends.
    let want = if crossed { 2 } else { 3 };
    assert!(compared >= want, "{compared} slides compared");
    for (x, y) in sa.iter().zip(sb) {
        assert_eq!(x["title"], y["title"]);
        for (p, q) in x["charts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(y["charts"].as_array().unwrap())
        {
            assert_eq!(p["categories"], q["categories"], "{}", x["title"]);
        }
    }
}

fn have_python_pptx() -> bool {
    Command::new("python3")
        .args(["-c", "import pptx"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `meshscope view --tui --source BASE` in tmux lists every one of `names`, those in
/// `rated` with a live message rate, and exits 0 on q.
fn tui_shows_every_node(base: &str, names: &[String], rated: &[String]) {
    let sock = format!("meshscope-rw-{}", std::process::id());
    let tm = |args: &[&str]| {
        let o = Command::new("tmux")
            .args(["-L", &sock])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let cmd = format!(
        "env -u DISPLAY {} view --tui --source {base} --interval 1s; echo EXITED $?; sleep 60",
        env!("CARGO_BIN_EXE_meshscope")
    );
    tm(&[
        "new-session",
        "-d",
        "-s",
        "v",
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    let _kill = super::viewer::TmuxServer(sock.clone());
    let mut screen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = |screen: &str, n: &str, rate: bool| {
        screen.lines().any(|l| {
            l.split_whitespace().next() == Some(n)
                && (!rate
                    || l.split_whitespace()
                        .nth(3)
                        .is_some_and(|v| v.parse::<f64>().is_ok()))
        })
    };
    while !(names.iter().all(|n| row(&screen, n, false))
        && rated.iter().all(|n| row(&screen, n, true)))
    {
        assert!(
            Instant::now() < deadline,
            "not every node with a rate from {base}:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(500));
        screen = tm(&["capture-pane", "-p", "-t", "v"]);
    }
    tm(&["send-keys", "-t", "v", "q"]);
    wait_for("the viewer's exit", Duration::from_secs(20), || {
        tm(&["capture-pane", "-p", "-t", "v"]).contains("EXITED 0")
    });
}

/// VictoriaMetrics 1.79 (Debian's), storing in `dir`, on `port`. Queries see samples
/// older than a second (its default holds back the last 30 s, which a live viewer
/// cannot use: README "Running at scale").
fn start_victoriametrics(dir: &Path, port: u16) -> Proc {
    let log = std::fs::File::create(dir.join("vm.log")).unwrap();
    let p = Proc(
        Command::new("victoria-metrics")
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.join("vm").display()))
            .args(["-search.latencyOffset=1s", "-search.disableCache"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for("VictoriaMetrics", Duration::from_secs(60), || {
        get(&format!("http://127.0.0.1:{port}/health")).is_some_and(|(c, _)| c == 200)
    });
    p
}

/// The collector's own dashboard reads the collector, not the mesh.
const COLLECTOR_DASHBOARD: &str = "meshscope-collector";

/// The scale-out of README "Running at scale": two sharded collectors, each evaluating
/// the mesh model for its own nodes, remote-write raw and model series into
/// VictoriaMetrics 1.79. The union there has every node's model exactly once, and the
/// terminal viewer, the reporter and every mesh dashboard query read VictoriaMetrics as
/// their source.
#[test]
fn two_shards_write_the_mesh_into_victoriametrics_and_every_part_reads_it() {
    if !(have("victoria-metrics") && have("tmux") && have("python3")) {
        assert!(
            !required(),
            "victoria-metrics or tmux is not installed, and scripts/test.sh should have installed them"
        );
        eprintln!("SKIPPED: victoria-metrics or tmux is not installed");
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    // 16 nodes: every role, and two gRPC services, one calling the other.
    let nodes = 16;
    let (_sim, _, targets) = start_simulator_with(nodes, d.path(), &["--no-failures"]);
    let vp = free_port();
    let vb = format!("http://127.0.0.1:{vp}");
    let _vm = start_victoriametrics(d.path(), vp);
    let url = format!("{vb}/api/v1/write");
    let t = targets.as_path();
    let model = ["--rules.mesh-model=true"];
    let (_s0, b0) = edge_collector(
        d.path(),
        "s0",
        t,
        &url,
        "collector: shard-0",
        &[&model[..], &["--shard", "0/2"]].concat(),
    );
    let (_s1, b1) = edge_collector(
        d.path(),
        "s1",
        t,
        &url,
        "collector: shard-1",
        &[&model[..], &["--shard", "1/2"]].concat(),
    );

    // Every node's model exactly once in the union, from the shard that scrapes it.
    let per_node = |record: &str| query(&vb, &format!("count by (node) ({record})"), None);
    // Every node but hosts and routers carries messages.
    let carriers = || {
        let n = query(&vb, "count(node:mesh_up:max{role!~\"host|router\"})", None);
        n.first().map_or(0, |(_, v)| *v as usize)
    };
    wait_for(
        "every node's model in VictoriaMetrics",
        Duration::from_secs(120),
        || {
            let c = carriers();
            c > 0 && per_node("node:mesh_messages_in:rate1m").len() == c
        },
    );
    let model_at = now();
    for record in ["node:mesh_up:max", "node:mesh_service:info"] {
        let got = per_node(record);
        assert!(got.iter().all(|(_, v)| *v == 1.0), "{record}: {got:?}");
    }
    assert_eq!(per_node("node:mesh_up:max").len(), nodes);
    let by_shard = query(&vb, "count by (collector) (node:mesh_up:max)", None);
    assert_eq!(by_shard.len(), 2, "both shards evaluate: {by_shard:?}");
    // The model a shard wrote is the model it holds.
    for b in [&b0, &b1] {
        let mine = query(b, "node:mesh_up:max", None);
        assert!(!mine.is_empty());
        for (l, v) in mine {
            let there = query(
                &vb,
                &format!("node:mesh_up:max{{node=\"{}\"}}", l["node"]),
                None,
            );
            assert_eq!(there.len(), 1);
            assert_eq!(there[0].1, v);
        }
        assert_no_batch_refused(b);
    }

    // The terminal dashboard on VictoriaMetrics.
    let names: Vec<String> = per_node("node:mesh_up:max")
        .into_iter()
        .map(|(l, _)| l["node"].clone())
        .collect();
    let rated: Vec<String> = query(&vb, "node:mesh_up:max{role!~\"host|router\"}", None)
        .into_iter()
        .map(|(l, _)| l["node"].clone())
        .collect();
    tui_shows_every_node(&vb, &names, &rated);

    // The weekly deck from VictoriaMetrics: every node in the availability chart. Its
    // health is read at minute boundaries: wait for one after the model appeared.
    let minute = (model_at / 60.0).ceil() * 60.0;
    while now() < minute + 5.0 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let chart = super::report::this_weeks_availability(&vb, &d.path().join("vm.pptx"));
    let mut want = names.clone();
    want.sort();
    assert_eq!(chart["categories"], serde_json::json!(want), "{chart}");

    // Every query of the mesh dashboards returns data from VictoriaMetrics (rates over a
    // minute of scrapes need that minute).
    let first = now();
    while now() < first + 45.0 {
        std::thread::sleep(Duration::from_secs(1));
    }
    let now = now();
    let mut empty = Vec::new();
    for (uid, title, i, e) in super::dashboards::queries() {
        if uid == COLLECTOR_DASHBOARD {
            continue;
        }
        let x = meshscope_dashboards::lint::expand(&e, "1m", &|_| ".*".to_string());
        let n = super::dashboards::series(&vb, &x, now)
            .unwrap_or_else(|err| panic!("{uid} / {title}: {x}: {err}"));
        if n == 0 {
            empty.push(format!("{uid} / {title} [{i}]: {x}"));
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries with no data from VictoriaMetrics:\n{}",
        empty.join("\n")
    );
}
