//! `meshscope collect` as a process: scraping the simulated mesh, the HTTP endpoints,
//! reload, and recovery after `kill -9` and a torn WAL tail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::meshscope;
use serde_json::Value;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn get(url: &str) -> Option<(u16, String)> {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let r = c.get(url).send().ok()?;
    let code = r.status().as_u16();
    Some((code, r.text().ok()?))
}

pub fn start_simulator(nodes: usize, dir: &Path) -> (Proc, u16, PathBuf) {
    start_simulator_with(nodes, dir, &[])
}

/// The simulator with extra arguments (`--no-failures` where a test needs every node up:
/// by default kafka-0 fails 4 minutes in every 30 of wall-clock time).
pub fn start_simulator_with(nodes: usize, dir: &Path, extra: &[&str]) -> (Proc, u16, PathBuf) {
    let port = free_port();
    let targets = dir.join("targets.json");
    let p = meshscope()
        .args(["simulate", "--nodes", &nodes.to_string()])
        .args(extra)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--targets-file")
        .arg(&targets)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Proc(p);
    wait_for("the simulator", Duration::from_secs(30), || {
        targets.exists() && get(&format!("http://127.0.0.1:{port}/targets")).is_some()
    });
    (p, port, targets)
}

/// A collector in `dir` scraping the simulator's `targets` every second (`extra` goes
/// into its configuration before `scrape_configs`, e.g. `rule_files`): the process and
/// the port of its API.
pub fn start_mesh_collector(dir: &Path, targets: &Path, extra: &str) -> (Proc, u16) {
    let cfg = dir.join("meshscope.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n{extra}scrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\n",
            targets.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let p = start_collector(&cfg, &dir.join("data"), port, &dir.join("c.log"));
    (p, port)
}

pub fn start_collector(config: &Path, data: &Path, port: u16, log: &Path) -> Proc {
    start_collector_with(config, data, port, log, &[])
}

/// [`start_collector`] with extra flags.
pub fn start_collector_with(
    config: &Path,
    data: &Path,
    port: u16,
    log: &Path,
    extra: &[&str],
) -> Proc {
    let log = std::fs::File::create(log).unwrap();
    let p = meshscope()
        .args(["collect", "--config.file"])
        .arg(config)
        .arg("--storage.tsdb.path")
        .arg(data)
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stderr(log)
        .spawn()
        .unwrap();
    let p = Proc(p);
    wait_for("the collector", Duration::from_secs(30), || {
        get(&format!("http://127.0.0.1:{port}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    p
}

/// `meshscope check config` accepts the file.
pub fn check_config(cfg: &Path) {
    let check = meshscope()
        .args(["check", "config"])
        .arg(cfg)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

/// `tsdb dump --match SELECTOR` of a stopped store: (labels text, timestamp ms, value text).
pub fn dump(data: &Path, selector: &str) -> Vec<(String, i64, String)> {
    let out = meshscope()
        .args(["tsdb", "dump", "--match", selector, "--storage.tsdb.path"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (rest, ts) = l.rsplit_once(' ')?;
            let (series, v) = rest.rsplit_once(' ')?;
            // Timestamps are seconds with a fraction in OpenMetrics.
            let ms = (ts.parse::<f64>().ok()? * 1000.0).round() as i64;
            Some((series.to_string(), ms, v.to_string()))
        })
        .collect()
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn collect_scrapes_the_mesh_serves_targets_and_reloads() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (_sim, _sim_port, _targets) = start_simulator(6, d.path());
    let cfg = d.path().join("meshscope.yml");
    let good = "global:\n  scrape_interval: 200ms\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: [targets.json]\n";
    std::fs::write(&cfg, good).unwrap();
    check_config(&cfg);
    let port = free_port();
    let data = d.path().join("data");
    let mut col = start_collector(&cfg, &data, port, &d.path().join("collector.log"));
    let base = format!("http://127.0.0.1:{port}");
    wait_for("all targets up", Duration::from_secs(20), || {
        get(&format!("{base}/api/v1/targets")).is_some_and(|(_, b)| {
            let v: serde_json::Value = serde_json::from_str(&b).unwrap();
            let a = v["data"]["activeTargets"].as_array().unwrap();
            // Every target scraped at least once (kafka-0 may be in its failing window).
            a.len() == 6
                && a.iter().all(|t| t["health"] != "unknown")
                && a.iter().filter(|t| t["health"] == "up").count() >= 5
        })
    });
    let (_, body) = get(&format!("{base}/api/v1/targets?state=active")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    let t0 = &v["data"]["activeTargets"][0];
    for k in [
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "lastError",
        "lastScrape",
        "lastScrapeDuration",
        "health",
        "scrapeInterval",
        "scrapeTimeout",
    ] {
        assert!(!t0[k].is_null(), "targets API lacks {k}: {t0}");
    }
    assert_eq!(t0["scrapeInterval"], "200ms");
    // Filtered out, but present (and empty), as Prometheus answers.
    assert_eq!(v["data"]["droppedTargets"], serde_json::json!([]));
    assert_eq!(get(&format!("{base}/-/healthy")).unwrap().0, 200);
    let (_, m) = get(&format!("{base}/metrics")).unwrap();
    assert!(metric(&m, "meshscope_tsdb_head_series") > 100.0, "{m}");
    assert!(metric(&m, "meshscope_tsdb_head_samples_appended_total") > 0.0);
    assert!(m.contains("meshscope_scrape_duration_seconds_bucket{le=\"+Inf\"}"));

    // The metadata API, as Grafana's variable queries use it.
    let json = |path: &str| -> (u16, serde_json::Value) {
        let (c, b) = get(&format!("{base}{path}")).unwrap();
        (c, serde_json::from_str(&b).unwrap())
    };
    let (_, v) = json("/api/v1/labels");
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for n in ["__name__", "instance", "job", "node", "role"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let (_, v) = json("/api/v1/label/node/values?match[]=up");
    assert_eq!(v["data"].as_array().unwrap().len(), 6, "{v}");
    let (_, v) = json(
        "/api/v1/series?match[]=up%7Bnode%3D%22pulsar-0%22%7D&match[]=up%7Bnode%3D%22nats-0%22%7D",
    );
    let s = v["data"].as_array().unwrap();
    assert_eq!(s.len(), 2, "{v}");
    assert_eq!(s[0]["__name__"], "up");
    assert_eq!(s[0]["job"], "mesh");
    let (c, v) = json("/api/v1/series");
    assert_eq!((c, v["errorType"].as_str()), (400, Some("bad_data")));
    let (c, v) = json("/api/v1/labels?start=soon");
    assert_eq!(c, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("start"));
    let (c, v) = json("/api/v1/status/buildinfo");
    assert_eq!((c, v["status"].as_str()), (200, Some("success")));
    let form = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/series"))
        .form(&[("match[]", "up{node=\"pulsar-0\"}")])
        .send()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&form.text().unwrap()).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");

    // A bad reload keeps the running configuration and says why; a good one applies.
    let client = reqwest::blocking::Client::new();
    std::fs::write(&cfg, format!("{good}    scrape_interval: soon\n")).unwrap();
    let r = client.post(format!("{base}/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let msg = r.text().unwrap();
    assert!(
        msg.contains(
            "meshscope.yml:7:22: scrape_configs[0].scrape_interval: invalid duration \"soon\""
        ),
        "{msg}"
    );
    let (_, m) = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(metric(&m, "meshscope_config_last_reload_successful"), 0.0);
    std::fs::write(&cfg, good.replace("200ms", "300ms")).unwrap();
    // SIGHUP reloads too.
    Command::new("kill")
        .args(["-HUP", &col.0.id().to_string()])
        .status()
        .unwrap();
    // The targets show the new interval as soon as the scrape side has applied it; the
    // reload is reported successful once the rules and remote write have too.
    wait_for("the SIGHUP reload", Duration::from_secs(10), || {
        get(&format!("{base}/api/v1/targets")).is_some_and(|(_, b)| b.contains("\"300ms\""))
            && get(&format!("{base}/metrics"))
                .is_some_and(|(_, m)| metric(&m, "meshscope_config_last_reload_successful") == 1.0)
    });

    // A clean stop; then the store holds the mesh's series with the target labels.
    Command::new("kill")
        .args(["-INT", &col.0.id().to_string()])
        .status()
        .unwrap();
    let st = col.0.wait().unwrap();
    assert!(st.success(), "{st:?}");
    // (kafka-0 is the simulated node that fails 4 minutes in 30: not checked here.)
    let up = dump(&data, "up{job=\"mesh\"}");
    assert!(
        up.iter()
            .any(|(s, _, v)| s.contains("node=\"pulsar-0\"") && v == "1"),
        "{up:?}"
    );
    let msgs = dump(&data, "pulsar_in_messages_total");
    assert!(
        msgs.iter()
            .any(|(s, _, _)| s.contains("instance=\"pulsar-0\"") && s.contains("job=\"mesh\"")),
        "{msgs:?}"
    );
}

/// Timestamps of `up` per target, sorted.
fn up_times(data: &Path) -> std::collections::BTreeMap<String, Vec<i64>> {
    let mut m = std::collections::BTreeMap::<String, Vec<i64>>::new();
    // Every `up` sample, 0 or 1 (the simulated kafka-0 fails now and then): each one
    // is a committed scrape.
    for (s, t, _) in dump(data, "up") {
        m.entry(s).or_default().push(t);
    }
    for v in m.values_mut() {
        v.sort();
    }
    m
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn kill_9_at_random_moments_loses_nothing_committed() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (_sim, _p, _t) = start_simulator(24, d.path());
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 100ms\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: [targets.json]\n").unwrap();
    let data = d.path().join("data");
    // A seeded sequence of kill moments (no rand dependency needed here).
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut kills = Vec::new();
    for round in 0..4 {
        let port = free_port();
        let mut col = start_collector(&cfg, &data, port, &d.path().join(format!("c{round}.log")));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(800 + seed % 1500));
        Command::new("kill")
            .args(["-9", &col.0.id().to_string()])
            .status()
            .unwrap();
        let killed_at = now_ms();
        col.0.wait().unwrap();
        kills.push(killed_at);
    }
    // Every scrape that finished well before a kill was committed, so it is there.
    let times = up_times(&data);
    assert!(times.len() >= 20, "{}", times.len());
    for (series, ts) in &times {
        for &k in &kills {
            let before: Vec<i64> = ts.iter().copied().filter(|t| *t <= k).collect();
            let last = *before.last().unwrap_or(&0);
            assert!(
                last >= k - 600,
                "{series}: last sample {}ms before the kill at {k}",
                k - last
            );
        }
        // Within a run, samples follow the 100 ms grid with no hole: a lost WAL record
        // would leave one. (A single skipped tick is tolerated: on a loaded 2-core CI
        // machine a scrape can start late by more than an interval.)
        for w in ts.windows(2) {
            let gap = w[1] - w[0];
            let across_kill = kills.iter().any(|k| w[0] <= *k && *k <= w[1]);
            assert!(
                across_kill || (gap % 100 == 0 && gap <= 200),
                "{series}: gap of {gap}ms at {}",
                w[0]
            );
        }
    }
}

#[test]
fn a_torn_wal_tail_is_cut_with_a_warning_and_the_rest_kept() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (_sim, _p, _t) = start_simulator(4, d.path());
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 100ms\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: [targets.json]\n").unwrap();
    let data = d.path().join("data");
    let port = free_port();
    let mut col = start_collector(&cfg, &data, port, &d.path().join("c0.log"));
    std::thread::sleep(Duration::from_millis(1500));
    Command::new("kill")
        .args(["-9", &col.0.id().to_string()])
        .status()
        .unwrap();
    col.0.wait().unwrap();
    let before = up_times(&data);
    // Tear the tail: half a record header and garbage, as a crash mid-write leaves.
    let wal = data.join("wal");
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    f.write_all(&[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 2, 9, 9])
        .unwrap();
    drop(f);
    let log = d.path().join("c1.log");
    let port = free_port();
    let col = start_collector(&cfg, &data, port, &log);
    let (_, m) = get(&format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(
        metric(&m, "meshscope_tsdb_wal_truncated_bytes"),
        11.0,
        "{m}"
    );
    drop(col);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("WARN") && text.to_lowercase().contains("torn"),
        "{text}"
    );
    let after = up_times(&data);
    for (s, ts) in &before {
        let a = &after[s];
        assert!(ts.iter().all(|t| a.contains(t)), "{s}: samples lost");
    }
}

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        st.success().then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_full_disk_stops_ingestion_turns_unready_and_recovers() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let disk = d.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&disk, "8m") else {
        assert!(
            !is_root(),
            "mounting a tmpfs failed although running as root"
        );
        eprintln!("SKIPPED: a full disk needs a tmpfs, and mounting one needs root");
        return;
    };
    let (_sim, _p, _t) = start_simulator(8, d.path());
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 100ms\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: [targets.json]\n").unwrap();
    let data = disk.join("data");
    let port = free_port();
    let log = d.path().join("c.log");
    let mut col = start_collector(&cfg, &data, port, &log);
    let base = format!("http://127.0.0.1:{port}");
    std::thread::sleep(Duration::from_millis(1500));
    // Fill the disk.
    let filler = disk.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8; 1]);
    }
    let full_at = now_ms();
    wait_for("/-/ready to turn unready", Duration::from_secs(20), || {
        get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 503)
    });
    let (_, m) = get(&format!("{base}/metrics")).unwrap();
    assert_eq!(metric(&m, "meshscope_tsdb_ready"), 0.0);
    assert!(metric(&m, "meshscope_tsdb_wal_write_failures_total") >= 1.0);
    std::thread::sleep(Duration::from_millis(800));
    // Space returns: ingestion resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let freed_at = now_ms();
    wait_for("/-/ready to recover", Duration::from_secs(20), || {
        get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    std::thread::sleep(Duration::from_millis(1000));
    Command::new("kill")
        .args(["-INT", &col.0.id().to_string()])
        .status()
        .unwrap();
    col.0.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("Writing the WAL failed"), "{text}");
    assert!(text.contains("ingestion resumed"), "{text}");
    // The store opens; samples from before the disk filled and after it recovered are
    // there, and none from the time it was full.
    let times = up_times(&data);
    assert!(!times.is_empty());
    for (s, ts) in &times {
        assert!(
            ts.iter().any(|t| *t < full_at - 500),
            "{s}: nothing from before"
        );
        assert!(
            ts.iter().any(|t| *t > freed_at + 300),
            "{s}: nothing from after"
        );
        let during = ts
            .iter()
            .filter(|t| **t > full_at + 1000 && **t < freed_at - 200)
            .count();
        assert_eq!(during, 0, "{s}: samples stored while the disk was full");
    }
}

#[test]
fn http_sd_finds_the_simulators_targets_and_keeps_them_when_it_fails() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let (sim, sp, _) = start_simulator_with(5, d.path(), &["--no-failures"]);
    let cfg = d.path().join("meshscope.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mesh\n    http_sd_configs:\n      - url: http://127.0.0.1:{sp}/targets\n        refresh_interval: 1s\n    relabel_configs:\n      - source_labels: [__meta_url]\n        target_label: sd_url\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _c = start_collector(&cfg, &d.path().join("data"), port, &d.path().join("c.log"));
    let active = || -> Vec<Value> {
        let (_, body) = get(&format!("{base}/api/v1/targets")).unwrap();
        serde_json::from_str::<Value>(&body).unwrap()["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_for("five targets up", Duration::from_secs(30), || {
        let a = active();
        a.len() == 5 && a.iter().all(|t| t["health"] == "up")
    });
    let t = &active()[0];
    assert_eq!(
        t["discoveredLabels"]["__meta_url"],
        format!("http://127.0.0.1:{sp}/targets")
    );
    assert!(t["labels"]["node"].is_string(), "{t}");
    assert_eq!(
        t["labels"]["sd_url"],
        format!("http://127.0.0.1:{sp}/targets")
    );
    // The endpoint goes away (with the targets behind it): the failures are counted and
    // the targets stay, down.
    drop(sim);
    wait_for("SD failures counted", Duration::from_secs(30), || {
        get(&format!("{base}/metrics"))
            .is_some_and(|(_, b)| metric(&b, "meshscope_sd_http_failures_total") >= 2.0)
    });
    let a = active();
    assert_eq!(a.len(), 5, "the last good targets are kept");
    wait_for("the targets down", Duration::from_secs(30), || {
        active().iter().all(|t| t["health"] == "down")
    });
}
