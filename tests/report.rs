//! `meshscope report` end to end: the weekly deck from the demo's store, read back by
//! python-pptx (every chart value against the source's own PromQL, every note, the data
//! hashes recomputed), validated by openxml-audit, rendered by LibreOffice (one page per
//! slide, none blank); the same deck from a real Prometheus holding the same data; the
//! scheduled daemon; and the errors a user meets. `scripts/test.sh` installs
//! LibreOffice, poppler, python-pptx and openxml-audit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::collect::{free_port, get, wait_for, Proc};
use super::meshscope;
use super::real::available;

const TOLERANCE: f64 = 1e-9;

/// Whether python3 imports `module` (under the test command, a missing one fails).
pub fn python_has(module: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() != Ok("required"),
            "python module {module} is missing, and scripts/test.sh should have installed it"
        );
        eprintln!("SKIPPED: python module {module} is missing (run scripts/test.sh)");
    }
    ok
}

fn readers_available() -> bool {
    python_has("pptx")
        && python_has("openxml_audit")
        && available("soffice")
        && available("pdftoppm")
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pptx")
        .join(name)
}

/// `meshscope report --source BASE` for the current week into `out`: the deck's
/// "Availability per node against its SLO" chart (python-pptx reads it back).
pub fn this_weeks_availability(base: &str, out: &Path) -> Value {
    use chrono::Datelike;
    let week = chrono::Utc::now().date_naive().iso_week();
    let week = format!("{}-W{:02}", week.year(), week.week());
    let o = report(base, &["--week", &week], out);
    assert!(o.status.success(), "report from {base}: {o:?}");
    let deck = read_deck(out);
    deck["slides"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["charts"].as_array().unwrap())
        .find(|c| c["title"] == "Availability per node against its SLO")
        .unwrap_or_else(|| panic!("no availability chart in {deck}"))
        .clone()
}

/// The deck as python-pptx reads it (after a save and reopen that must change nothing).
pub fn read_deck(path: &Path) -> Value {
    let out = Command::new("python3")
        .arg(script("read_deck.py"))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python-pptx: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn audit(path: &Path) {
    // `openxml-audit` as a module: the same program as the console script, found
    // wherever pip put the package, whatever is on PATH.
    let out = Command::new("python3")
        .args(["-m", "openxml_audit"])
        .arg(path)
        .args(["--format", "microsoft365", "-o", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "openxml-audit output: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let r = &v[0];
    assert_eq!(r["error_count"], 0, "openxml-audit: {r}");
    assert_eq!(r["warning_count"], 0, "openxml-audit: {r}");
    assert_eq!(r["valid"], true, "openxml-audit: {r}");
}

/// Render with LibreOffice: one page per slide, and no page with an empty body.
fn render(path: &Path, dir: &Path, slides: usize) {
    let out = Command::new("soffice")
        .args([
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
        ])
        .arg(dir)
        .arg(path)
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "soffice: {out:?}");
    let pdf = dir.join(path.file_stem().unwrap()).with_extension("pdf");
    let info = Command::new("pdfinfo").arg(&pdf).output().unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(|p| p.trim().parse().unwrap())
        .unwrap();
    assert_eq!(pages, slides, "one PDF page per slide");
    let prefix = dir.join("page");
    let st = Command::new("pdftoppm")
        .args(["-r", "24", "-png"])
        .arg(&pdf)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(st.success());
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), slides);
    let out = Command::new("python3")
        .arg(script("pages.py"))
        .args(&pngs)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (page, ink) = line.rsplit_once(' ').unwrap();
        let ink: f64 = ink.parse().unwrap();
        assert!(ink > 0.001, "{page} is blank below its title ({ink})");
    }
}

/// A range query's result: labels to values by time.
fn range(
    base: &str,
    expr: &str,
    start: i64,
    end: i64,
    step: i64,
) -> Vec<(Value, BTreeMap<i64, f64>)> {
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/query_range"))
        .form(&[
            ("query", expr.to_string()),
            ("start", start.to_string()),
            ("end", end.to_string()),
            ("step", step.to_string()),
        ])
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["status"], "success", "{expr}: {v}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let pts = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap() as i64,
                        p[1].as_str().unwrap().parse::<f64>().unwrap(),
                    )
                })
                .collect();
            (s["metric"].clone(), pts)
        })
        .collect()
}

/// One value per hour of the week from a single-series result (None: a gap).
fn hourly(base: &str, expr: &str, start: i64, hours: usize) -> Vec<Option<f64>> {
    let r = range(base, expr, start + 3600, start + hours as i64 * 3600, 3600);
    assert!(r.len() <= 1, "{expr}: one series");
    (0..hours)
        .map(|h| {
            r.first()
                .and_then(|(_, m)| m.get(&(start + (h as i64 + 1) * 3600)).copied())
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

fn assert_series(what: &str, chart: &[Value], source: &[Option<f64>]) {
    assert_eq!(chart.len(), source.len(), "{what}: points");
    for (i, (c, s)) in chart.iter().zip(source).enumerate() {
        match (c.as_f64(), s) {
            (Some(c), Some(s)) => assert!(close(c, *s), "{what}[{i}]: chart {c}, source {s}"),
            (None, None) => {}
            (c, s) => panic!("{what}[{i}]: chart {c:?}, source {s:?} (a gap must stay a gap)"),
        }
    }
}

fn chart<'a>(deck: &'a Value, slide_title: &str) -> &'a Value {
    let s = deck["slides"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == slide_title)
        .unwrap_or_else(|| panic!("no slide {slide_title:?}"));
    &s["charts"][0]
}

fn values<'a>(chart: &'a Value, series: &str) -> &'a [Value] {
    chart["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == series)
        .unwrap_or_else(|| panic!("no series {series:?} in {}", chart["title"]))["values"]
        .as_array()
        .unwrap()
}

/// The SHA-256 the notes state, recomputed from what python-pptx read: every chart
/// (categories; each series' name and values as IEEE-754 bits, `-` for a gap) and every
/// table (tab-separated rows). Only for slides without pictures (their values are not in
/// the slide).
fn data_hash(slide: &Value) -> Option<String> {
    if slide["pictures"].as_u64() != Some(0) {
        return None;
    }
    let mut h = Sha256::new();
    let mut line = |s: &str| {
        h.update(s.as_bytes());
        h.update(b"\n");
    };
    for c in slide["charts"].as_array().unwrap() {
        line("chart");
        for cat in c["categories"].as_array().unwrap() {
            line(cat.as_str().unwrap());
        }
        for s in c["series"].as_array().unwrap() {
            line(s["name"].as_str().unwrap());
            for v in s["values"].as_array().unwrap() {
                match v.as_f64() {
                    Some(x) => line(&format!("{:016x}", x.to_bits())),
                    None => line("-"),
                }
            }
        }
    }
    for t in slide["tables"].as_array().unwrap() {
        line("table");
        for row in t.as_array().unwrap() {
            let cells: Vec<&str> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            line(&cells.join("\t"));
        }
    }
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn stated_hash(notes: &str) -> String {
    notes
        .lines()
        .find_map(|l| l.strip_prefix("SHA-256 of the data drawn: "))
        .unwrap_or_else(|| panic!("no data hash in the notes: {notes}"))
        .to_string()
}

pub fn report(base: &str, extra: &[&str], out: &Path) -> std::process::Output {
    meshscope()
        .args(["report", "--source", base, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `meshscope demo --history 7d`, then `meshscope report` at once: the deck of the last
/// complete week, in every reader, with every chart value equal to the source's.
#[test]
fn demo_history_gives_a_deck_every_reader_opens_with_the_source_numbers() {
    if !readers_available() {
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _demo = Proc(
        meshscope()
            .args(["demo", "--no-viewer", "--nodes", "4", "--history", "7d"])
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--storage.tsdb.path")
            .arg(d.path().join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the demo's API", Duration::from_secs(300), || {
        get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 200)
    });

    let generated = chrono::DateTime::from_timestamp(now(), 0)
        .unwrap()
        .to_rfc3339();
    let args = ["--generated-at", generated.as_str()];
    let deck_path = d.path().join("week.pptx");
    let out = report(&base, &args, &deck_path);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Wrote") && stdout.contains("slides"),
        "{stdout}"
    );
    let bytes = std::fs::read(&deck_path).unwrap();
    assert_eq!(
        meshscope_reporter::pptx::lint::lint(&bytes),
        Vec::<String>::new()
    );
    // The same data and generation time give the same bytes.
    let again = d.path().join("again.pptx");
    assert!(report(&base, &args, &again).status.success());
    assert_eq!(
        std::fs::read(&again).unwrap(),
        bytes,
        "byte-identical decks"
    );

    let week = meshscope_reporter::week::Week::last_complete(chrono::Utc::now(), chrono_tz::UTC);
    let p = week.period(chrono_tz::UTC);
    let (start, hours) = (p.start.timestamp(), p.hours());
    let deck = read_deck(&deck_path);
    let slides = deck["slides"].as_array().unwrap();
    assert_eq!(deck["slide_width"], 12_192_000, "16:9");
    assert_eq!(slides[0]["title"], format!("Messaging health, week {week}"));

    // Every slide has notes with the query, the source and a data hash; where the slide
    // holds all it draws, the hash recomputes from what python-pptx read.
    let mut rechecked = 0;
    for s in slides {
        let notes = s["notes"].as_str().unwrap();
        assert!(notes.contains(&format!("Source: {base}")), "{notes}");
        let stated = stated_hash(notes);
        assert_eq!(stated.len(), 64);
        if s["title"] != slides[0]["title"] {
            assert!(
                notes.contains("PromQL") || notes.contains("gap"),
                "{}: {notes}",
                s["title"]
            );
        }
        if let Some(h) = data_hash(s) {
            assert_eq!(h, stated, "{}: the data hash in the notes", s["title"]);
            rechecked += 1;
        }
    }
    assert!(rechecked >= 8, "{rechecked} slides rechecked");

    // Chart values against the source's own PromQL.
    let t = chart(&deck, "Throughput");
    assert_eq!(t["categories"].as_array().unwrap().len(), hours);
    for (series, expr) in [
        (
            "Messages in",
            "sum(avg_over_time(node:mesh_messages_in:rate1m[1h])) * 3600",
        ),
        (
            "Messages out",
            "sum(avg_over_time(node:mesh_messages_out:rate1m[1h])) * 3600",
        ),
    ] {
        assert_series(
            series,
            values(t, series),
            &hourly(&base, expr, start, hours),
        );
    }
    // Every series of every native chart is checked against the source.
    let prev = week.previous().period(chrono_tz::UTC).start.timestamp();
    for (series, expr) in [
        (
            "In, previous week",
            "sum(avg_over_time(node:mesh_messages_in:rate1m[1h])) * 3600",
        ),
        (
            "Out, previous week",
            "sum(avg_over_time(node:mesh_messages_out:rate1m[1h])) * 3600",
        ),
    ] {
        assert_series(series, values(t, series), &hourly(&base, expr, prev, hours));
    }
    let e = chart(&deck, "Errors and drops");
    assert_series(
        "Errors/s",
        values(e, "Errors/s"),
        &hourly(
            &base,
            "sum(avg_over_time(node:mesh_errors:rate1m[1h]))",
            start,
            hours,
        ),
    );
    assert_series(
        "Drops/s",
        values(e, "Drops/s"),
        &hourly(
            &base,
            "sum(avg_over_time(node:mesh_drops:rate1m[1h]))",
            start,
            hours,
        ),
    );
    for (series, expr) in [
        (
            "Errors/s, previous week",
            "sum(avg_over_time(node:mesh_errors:rate1m[1h]))",
        ),
        (
            "Drops/s, previous week",
            "sum(avg_over_time(node:mesh_drops:rate1m[1h]))",
        ),
    ] {
        assert_series(series, values(e, series), &hourly(&base, expr, prev, hours));
    }
    let b = chart(&deck, "Backlog and consumer lag");
    for s in b["series"].as_array().unwrap() {
        let role = s["name"].as_str().unwrap();
        let expr = format!("sum(max_over_time(node:mesh_backlog:sum{{role=\"{role}\"}}[1h]))");
        assert_series(
            role,
            s["values"].as_array().unwrap(),
            &hourly(&base, &expr, start, hours),
        );
    }
    let f = &slides.iter().find(|s| s["title"] == "Fabric").unwrap()["charts"][0];
    assert_series(
        "peers down",
        values(f, "Peers down (hourly peak, sum)"),
        &hourly(
            &base,
            "sum(max_over_time(node:mesh_bgp_peers_down:count[1h]))",
            start,
            hours,
        ),
    );
    assert_series(
        "fabric drops",
        values(f, "Fabric drops/s"),
        &hourly(
            &base,
            "sum(avg_over_time(node:mesh_fabric_drops:rate1m[1h]))",
            start,
            hours,
        ),
    );

    // Availability per node, from `up` each minute.
    let up = range(&base, "node:mesh_up:max", start, p.end.timestamp() - 60, 60);
    let a = chart(&deck, "Availability and error budget");
    let cats: Vec<&str> = a["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cats.len(), up.len(), "a bar per node");
    let mut downs = 0;
    for (labels, pts) in &up {
        let node = labels["node"].as_str().unwrap();
        let i = cats.iter().position(|c| *c == node).unwrap();
        let avail = pts.values().filter(|v| **v >= 1.0).count() as f64 / pts.len() as f64;
        let got = values(a, "Availability")[i].as_f64().unwrap();
        assert!(close(got, avail), "{node}: chart {got}, source {avail}");
        assert_eq!(
            values(a, "SLO")[i].as_f64(),
            Some(0.999),
            "{node}: the default SLO"
        );
        // Down intervals: runs of minutes at 0.
        let mut prev_down = false;
        for t in (start..p.end.timestamp()).step_by(60) {
            let down = pts.get(&t).is_some_and(|v| *v < 1.0);
            if down && !prev_down {
                downs += 1;
            }
            prev_down = down;
        }
    }
    assert!(downs > 0, "the simulated mesh has a failing node");
    let incidents: usize = slides
        .iter()
        .filter(|s| s["title"].as_str().unwrap().starts_with("Incidents"))
        .flat_map(|s| s["tables"][0].as_array().unwrap().iter().skip(1))
        .filter(|row| row[4] == "down")
        .count();
    assert_eq!(incidents, downs, "every interval a node was down is listed");

    // Latency per day from the hourly means.
    let l = chart(&deck, "Latency");
    let p50 = range(
        &base,
        "avg_over_time(node:mesh_latency_seconds:p50[1h])",
        start + 3600,
        p.end.timestamp(),
        3600,
    );
    let p99 = range(
        &base,
        "avg_over_time(node:mesh_latency_seconds:p99[1h])",
        start + 3600,
        p.end.timestamp(),
        3600,
    );
    for day in 0..7i64 {
        let in_day =
            |t: &i64| (start + day * 86_400 + 3600..=start + (day + 1) * 86_400).contains(t);
        let v50: Vec<f64> = p50
            .iter()
            .flat_map(|(_, m)| m.iter().filter(|(t, _)| in_day(t)).map(|(_, v)| *v))
            .collect();
        let v99 = p99
            .iter()
            .flat_map(|(_, m)| m.iter().filter(|(t, _)| in_day(t)).map(|(_, v)| *v));
        let mean = v50.iter().sum::<f64>() / v50.len() as f64 * 1e3;
        let worst = v99.fold(f64::MIN, f64::max) * 1e3;
        let got50 = values(l, "p50 (mean of nodes)")[day as usize]
            .as_f64()
            .unwrap();
        let got99 = values(l, "p99 (worst node-hour)")[day as usize]
            .as_f64()
            .unwrap();
        assert!(
            close(got50, mean) && close(got99, worst),
            "day {day}: {got50}/{got99} vs {mean}/{worst}"
        );
    }

    audit(&deck_path);
    let pdf_dir = d.path().join("pdf");
    std::fs::create_dir_all(&pdf_dir).unwrap();
    render(&deck_path, &pdf_dir, slides.len());

    daemon_catches_up_and_prunes(&base, d.path(), week);
}

fn wait_exit(p: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let t = std::time::Instant::now();
    loop {
        if let Some(s) = p.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < within, "the process did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `meshscope report --schedule`: started with a state two weeks behind, it skips the
/// missed week the source has no data for, writes the last complete week, keeps the
/// newest two decks, leaves no temporary file, and stops cleanly on SIGTERM.
fn daemon_catches_up_and_prunes(base: &str, dir: &Path, latest: meshscope_reporter::week::Week) {
    let decks = dir.join("decks");
    std::fs::create_dir_all(&decks).unwrap();
    for old in ["2026-W01", "2026-W02"] {
        std::fs::write(decks.join(format!("meshscope-weekly-{old}.pptx")), b"old").unwrap();
    }
    let state = decks.join(".meshscope-report.state");
    std::fs::write(&state, format!("{}\n", latest.previous().previous())).unwrap();
    let log = dir.join("daemon.log");
    let mut daemon = Proc(
        meshscope()
            .args([
                "report",
                "--source",
                base,
                "--schedule",
                "*/30 * * * * *",
                "--keep",
                "2",
                "--out-dir",
            ])
            .arg(&decks)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the daemon's catch-up", Duration::from_secs(120), || {
        std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == latest.to_string())
    });
    let deck = decks.join(format!("meshscope-weekly-{latest}.pptx"));
    let bytes = std::fs::read(&deck).unwrap();
    assert_eq!(
        meshscope_reporter::pptx::lint::lint(&bytes),
        Vec::<String>::new()
    );
    let mut names: Vec<String> = std::fs::read_dir(&decks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".meshscope-report.state".to_string(),
            "meshscope-weekly-2026-W02.pptx".into(),
            format!("meshscope-weekly-{latest}.pptx")
        ],
        "the newest two decks, the state, no temporary file"
    );
    let st = Command::new("kill")
        .args(["-TERM", &daemon.0.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let st = wait_exit(&mut daemon.0, Duration::from_secs(15));
    assert!(st.success(), "{st:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("Skipped a missed week without data"), "{log}");
    assert!(log.contains("Wrote the weekly deck"), "{log}");
}

/// The same week from a real Prometheus 2.42 holding the same model series (imported with
/// promtool from the collector's store) gives the same deck, value for value.
#[test]
fn the_deck_from_prometheus_equals_the_deck_from_the_collector() {
    if !python_has("pptx") || !available("prometheus") || !available("promtool") {
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    let end = now() / 60 * 60;
    let start = end - 12 * 3600;
    let st = meshscope()
        .args([
            "simulate",
            "--nodes",
            "4",
            "--seed",
            "3",
            "--history",
            "12h",
            "--storage.tsdb.path",
        ])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let st = meshscope()
        .args([
            "tsdb",
            "backfill-rules",
            "--start",
            &(start - 3600).to_string(),
            "--end",
            &end.to_string(),
            "--storage.tsdb.path",
        ])
        .arg(&store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // The series the deck reads, as OpenMetrics, into Prometheus's own blocks.
    let names: Vec<String> = meshscope_reporter::query::Metric::ALL
        .iter()
        .map(|m| m.record().to_string())
        .collect();
    let om = d.path().join("model.om");
    let out = meshscope()
        .args([
            "tsdb",
            "dump",
            "--match",
            &format!("{{__name__=~\"{}\"}}", names.join("|")),
            "--storage.tsdb.path",
        ])
        .arg(&store)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&om, &out.stdout).unwrap();
    let prom_data = d.path().join("prom");
    let st = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&prom_data)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let cfg = d.path().join("empty.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 15s\n").unwrap();
    let prom_port = free_port();
    let _prom = Proc(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", prom_data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let col_port = free_port();
    let _col =
        super::collect::start_collector(&cfg, &store, col_port, &d.path().join("collector.log"));
    let prom = format!("http://127.0.0.1:{prom_port}");
    let col = format!("http://127.0.0.1:{col_port}");
    wait_for("Prometheus", Duration::from_secs(60), || {
        get(&format!("{prom}/-/ready")).is_some_and(|(c, _)| c == 200)
    });

    let week = meshscope_reporter::week::Week::of(
        chrono::DateTime::from_timestamp(end - 6 * 3600, 0)
            .unwrap()
            .date_naive(),
    );
    let generated = chrono::DateTime::from_timestamp(end, 0)
        .unwrap()
        .to_rfc3339();
    let args = [
        "--week",
        &week.to_string(),
        "--timezone",
        "Europe/Berlin",
        "--generated-at",
        &generated,
    ];
    let (a, b) = (
        d.path().join("collector.pptx"),
        d.path().join("prometheus.pptx"),
    );
    let out = report(&col, &args, &a);
    assert!(out.status.success(), "{out:?}");
    let out = report(&prom, &args, &b);
    assert!(out.status.success(), "against Prometheus: {out:?}");
    let (da, db) = (read_deck(&a), read_deck(&b));
    let (sa, sb) = (
        da["slides"].as_array().unwrap(),
        db["slides"].as_array().unwrap(),
    );
    assert_eq!(sa.len(), sb.len());
    let mut points = 0;
    for (x, y) in sa.iter().zip(sb) {
        assert_eq!(x["title"], y["title"]);
        assert_eq!(x["tables"], y["tables"], "{}: tables", x["title"]);
        let (cx, cy) = (
            x["charts"].as_array().unwrap(),
            y["charts"].as_array().unwrap(),
        );
        assert_eq!(cx.len(), cy.len());
        for (p, q) in cx.iter().zip(cy) {
            assert_eq!(p["categories"], q["categories"]);
            for (s, t) in p["series"]
                .as_array()
                .unwrap()
                .iter()
                .zip(q["series"].as_array().unwrap())
            {
                assert_eq!(s["name"], t["name"]);
                let want: Vec<Option<f64>> = t["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(Value::as_f64)
                    .collect();
                assert_series(
                    &format!("{}: {}", x["title"], s["name"]),
                    s["values"].as_array().unwrap(),
                    &want,
                );
                points += want.iter().flatten().count();
            }
        }
        let strip = |n: &str| {
            n.lines()
                .filter(|l| !l.starts_with("Source:") && !l.starts_with("SHA-256"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(x["notes"].as_str().unwrap()),
            strip(y["notes"].as_str().unwrap())
        );
    }
    // The 12 hours of data can straddle the week's start (Monday 00:00 in Berlin): the
    // week of their middle holds at least 5 of them (about 9 points an hour; 94 in a run
    // on a Monday morning, more than 110 on other days).
    assert!(points > 40, "{points} chart points compared");

    // A week the source has nothing for is a clear error, and no file.
    let none = d.path().join("none.pptx");
    let out = report(&prom, &["--week", "2026-W01"], &none);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no mesh-model data for 2026-W01"), "{err}");
    assert!(!none.exists());
}

/// What a user gets wrong gets a message that names it, and no deck.
#[test]
fn report_errors_name_the_problem() {
    let d = tempfile::tempdir().unwrap();
    let out_file = d.path().join("x.pptx");
    let port = free_port();
    let down = format!("http://127.0.0.1:{port}");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--week".into(), "2026-W60".into()],
            "--week \"2026-W60\": 2026 has weeks 1 to 53",
        ),
        (
            vec!["--week".into(), "47".into()],
            "expected an ISO week such as 2026-W47",
        ),
        (
            vec!["--timezone".into(), "Mars/Olympus".into()],
            "--timezone \"Mars/Olympus\": unknown time zone",
        ),
        (
            vec!["--generated-at".into(), "yesterday".into()],
            "--generated-at \"yesterday\": expected RFC 3339",
        ),
        (
            vec!["--week".into(), "2026-W40".into()],
            "gave up after 4 attempts",
        ),
    ];
    for (args, want) in cases {
        let out = report(
            &down,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &out_file,
        );
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!out_file.exists());
    }
    let out = report(&down, &[], &out_file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot reach {down}")), "{err}");

    let slo = d.path().join("slo.yml");
    std::fs::write(&slo, "roles:\n  kafka:\n    latency_p99: 0.1\n").unwrap();
    let out = report(&down, &["--slo", slo.to_str().unwrap()], &out_file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("slo.yml: 3:5: roles.kafka: unknown field `latency_p99`, expected one of `availability`, `latency_p99_seconds`")
            && !err.contains("at line"),
        "{err}"
    );

    let out = meshscope()
        .args([
            "report",
            "--source",
            &down,
            "--schedule",
            "every monday",
            "--out-dir",
        ])
        .arg(d.path().join("decks"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--schedule \"every monday\": not a cron expression"),
        "{err}"
    );
}

/// A deck of hostile labels and degenerate values (markup, control bytes, non-characters,
/// emoji, right-to-left text, empty names; NaN, infinities, huge, tiny and negative
/// values, series missing) opens in every reader.
#[test]
fn a_hostile_deck_opens_in_every_reader() {
    if !readers_available() {
        return;
    }
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("hostile.pptx");
    std::fs::write(&path, meshscope_reporter::sample::hostile_deck(3, 8)).unwrap();
    let deck = read_deck(&path);
    let slides = deck["slides"].as_array().unwrap();
    let text = serde_json::to_string(&deck).unwrap();
    for s in meshscope_reporter::sample::HOSTILE {
        let kept: String = s
            .chars()
            .filter(|c| !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
            .collect();
        if !kept.is_empty() {
            assert!(
                text.contains(
                    &serde_json::to_string(&kept)
                        .unwrap()
                        .trim_matches('"')
                        .to_string()
                ),
                "{kept:?} survives"
            );
        }
    }
    audit(&path);
    let pdf = d.path().join("pdf");
    std::fs::create_dir_all(&pdf).unwrap();
    render(&path, &pdf, slides.len());
}
