#![no_main]
//! PromQL: parse any input and, when it parses, evaluate it as an instant and a range
//! query over a small store, with a small sample limit and timeout (as the HTTP API
//! would). Nothing may panic, overflow or allocate without bound.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meshscope_collector::promql::test_script::MemStore;
use meshscope_collector::promql::{instant_query, range_query, EvalOptions};
use meshscope_collector::tsdb::Labels;

fn store() -> &'static MemStore {
    static S: OnceLock<MemStore> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = MemStore::default();
        for (name, job, f) in [
            ("up", "a", 1.0),
            ("up", "b", 0.0),
            ("http_requests_total", "a", 10.0),
            ("http_requests_total", "b", 7.5),
            ("latency_bucket", "a", 3.0),
        ] {
            let mut l = vec![("__name__", name.to_string()), ("job", job.to_string())];
            if name == "latency_bucket" {
                l.push(("le", "+Inf".to_string()));
            }
            let pts: Vec<(i64, f64)> = (0..60).map(|i| (i * 15_000, f * i as f64)).collect();
            s.add(Labels::from_pairs(l), &pts);
        }
        s
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    if q.len() > 64 * 1024 {
        return;
    }
    let opts = EvalOptions {
        max_samples: 200_000,
        timeout: std::time::Duration::from_millis(200),
        ..EvalOptions::default()
    };
    let _ = instant_query(store(), q, 600_000, &opts);
    let _ = range_query(store(), q, 0, 900_000, 30_000, &opts);
});
