//! Head memory per active series and append throughput.
//!
//! `cargo run --release -p meshscope-collector --example headbench -- [SERIES] [SAMPLES] [STEP_MS]`
//!
//! Creates SERIES series shaped like the simulated mesh's (a metric name and six labels:
//! instance, job, node, role, and two per-series labels) and appends SAMPLES samples to
//! each, STEP_MS apart (15 s by default): integer counters with noisy increments and
//! two-decimal gauges, through the WAL as the scrape path does, one commit per "scrape"
//! of 500 series. It then runs the store's maintenance, as the collector does every
//! minute, and prints the process RSS growth per series before and after it, the head's
//! own estimate, and samples/s on one thread.
//!
//! A full head: `-- 1000000 1082 10000` (3 h at 10 s and just past it, so that the
//! maintenance persists the first block and truncates the head).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use std::time::Instant;

use meshscope_collector::tsdb::{Db, Labels, Options};

// The `meshscope` binary's allocator: what the head costs in the collector.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let samples: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(240);
    let step: i64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(15_000);
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        wal_segment_size: 1 << 30,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let roles = [
        "pulsar", "kafka", "rabbitmq", "nats", "grpc", "envoy", "host", "router",
    ];
    let labels: Vec<Labels> = (0..n)
        .map(|i| {
            let node = i / 500;
            let role = roles[node % roles.len()];
            Labels::from_pairs([
                ("__name__", format!("{role}_metric_{}_total", i % 50)),
                ("instance", format!("{role}-{node}")),
                ("job", "mesh".to_string()),
                ("node", format!("{role}-{node}")),
                ("role", role.to_string()),
                (
                    "topic",
                    format!("persistent://public/default/topic-{}", i % 10),
                ),
                ("peer", format!("peer-{}", (i / 50) % 10)),
            ])
        })
        .collect();
    // The benchmark's own data is allocated before the baseline.
    let mut values: Vec<f64> = (0..n).map(|i| (i as f64) * 1000.0).collect();
    let mut handles = Vec::with_capacity(n);
    let base_rss = rss_bytes();
    {
        let mut app = db.appender();
        for l in &labels {
            handles.push(app.series(l));
        }
    }
    drop(labels);
    let t0 = 1_800_000_000_000i64;
    // Values like the mesh's: four in five series are integer counters growing by a
    // noisy amount each scrape, one in five a gauge with two decimals wandering around.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let start = Instant::now();
    let mut appended = 0u64;
    for k in 0..samples {
        let t = t0 + k * step;
        for (c, chunk) in handles.chunks(500).enumerate() {
            let mut app = db.appender();
            for (j, h) in chunk.iter().enumerate() {
                let i = c * 500 + j;
                let r = next();
                values[i] = if i % 5 == 4 {
                    ((50.0 + (r % 2000) as f64 / 100.0) * 100.0).round() / 100.0
                } else {
                    values[i] + ((i % 97) as f64 * 17.0 + (r % 64) as f64).round()
                };
                app.add(h, t, values[i]);
            }
            appended += app.commit().unwrap().appended;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // What the collector's periodic maintenance does (a no-op for data this young,
    // except giving back the index's spare capacity).
    let before = rss_bytes().saturating_sub(base_rss);
    db.maintain().unwrap();
    let rss = rss_bytes().saturating_sub(base_rss);
    println!(
        "before maintenance: {} bytes per series; blocks persisted by it: {}",
        before / n as u64,
        db.blocks().len()
    );
    println!("series: {n}, samples per series: {samples}, appended: {appended}");
    println!(
        "append: {:.2} M samples/s on one thread ({secs:.2} s, WAL writes included)",
        appended as f64 / secs / 1e6
    );
    println!(
        "head: {} bytes per series by the head's estimate",
        db.head().memory_bytes() / n
    );
    println!(
        "RSS growth: {} bytes per series (labels, index, chunks, allocator overhead)",
        rss / n as u64
    );
}
