//! Faulty targets: one hangs, one drips, one sends 1 GiB, one breaks on line 5000, one
//! returns 500. The healthy target keeps its schedule, memory stays bounded and nothing
//! of a failed body is stored.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::collect::{dump, get, start_collector, wait_for};

fn respond(mut s: TcpStream) {
    let path;
    {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            return;
        }
        path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
    }
    let ok = |s: &mut TcpStream, body: &str| {
        let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    };
    match path.as_str() {
        "/good" => ok(&mut s, "healthy_metric 1\n"),
        "/500" => {
            let _ = write!(s, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom");
        }
        "/hang" => std::thread::sleep(Duration::from_secs(30)),
        "/drip" => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
            );
            for _ in 0..300 {
                if s.write_all(b"d").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        "/huge" => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                1u64 << 30
            );
            let line = b"huge_metric{pad=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n";
            let chunk: Vec<u8> = line.iter().copied().cycle().take(1 << 16).collect();
            let mut sent = 0u64;
            while sent < 1 << 30 {
                if s.write_all(&chunk).is_err() {
                    return;
                }
                sent += chunk.len() as u64;
            }
        }
        "/bad5000" => {
            let mut b = String::new();
            for i in 0..4999 {
                b.push_str(&format!("partial_metric{{i=\"{i}\"}} 1\n"));
            }
            b.push_str("partial_metric{i=\"5000\" 1\n");
            ok(&mut s, &b);
        }
        _ => {
            let _ = write!(
                s,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    }
}

fn serve() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || respond(s));
        }
    });
    port
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn faulty_targets_do_not_disturb_the_others() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    let port = serve();
    let mut cfg = String::from(
        "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\nscrape_configs:\n",
    );
    for job in ["good", "500", "hang", "drip", "huge", "bad5000"] {
        cfg.push_str(&format!(
            "  - job_name: {job}\n    metrics_path: /{job}\n    body_size_limit: 16MB\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ));
    }
    let cfg_path = d.path().join("meshscope.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let data = d.path().join("data");
    let web = super::collect::free_port();
    let mut col = start_collector(&cfg_path, &data, web, &d.path().join("c.log"));
    let base = format!("http://127.0.0.1:{web}");
    std::thread::sleep(Duration::from_secs(5));
    let (_, body) = get(&format!("{base}/api/v1/targets")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let err_of = |job: &str| -> String {
        v["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["scrapePool"] == job)
            .map(|t| format!("{} {}", t["health"], t["lastError"]))
            .unwrap()
    };
    assert_eq!(err_of("good"), "\"up\" \"\"");
    for (job, why) in [
        ("500", "HTTP status 500"),
        ("hang", "timed out after 150ms"),
        ("drip", "timed out after 150ms"),
        ("huge", "body size limit exceeded"),
        ("bad5000", "line 5000"),
    ] {
        let e = err_of(job);
        assert!(e.starts_with("\"down\"") && e.contains(why), "{job}: {e}");
    }
    let rss = peak_rss_kb(col.0.id());
    std::process::Command::new("kill")
        .args(["-INT", &col.0.id().to_string()])
        .status()
        .unwrap();
    wait_for("the collector to stop", Duration::from_secs(20), || {
        col.0.try_wait().unwrap().is_some()
    });
    assert!(rss < 256 * 1024, "peak RSS {rss} kB");

    // The healthy target kept its 200 ms schedule throughout.
    let mut good: Vec<i64> = dump(&data, "up{job=\"good\"}")
        .into_iter()
        .map(|(_, t, _)| t)
        .collect();
    good.sort();
    assert!(good.len() >= 20, "{good:?}");
    // Timestamps stay on the 200 ms grid; a tick is skipped only if the machine stalls
    // for longer than an interval (allowed rarely: CI runs tests side by side on 2 cores).
    let mut skipped = 0;
    for w in good.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap > 0 && gap % 200 == 0,
            "off the schedule: {gap}ms in {good:?}"
        );
        skipped += gap / 200 - 1;
    }
    assert!(
        skipped * 20 <= good.len() as i64,
        "{skipped} scrapes skipped: {good:?}"
    );
    assert!(dump(&data, "healthy_metric").len() >= 20);
    // Nothing of the failed bodies, and `up` 0 for each faulty target.
    assert!(dump(&data, "partial_metric").is_empty());
    assert!(dump(&data, "huge_metric").is_empty());
    for job in ["500", "hang", "drip", "huge", "bad5000"] {
        let up = dump(&data, &format!("up{{job=\"{job}\"}}"));
        assert!(
            !up.is_empty() && up.iter().all(|(_, _, v)| v == "0"),
            "{job}: {up:?}"
        );
    }
}
