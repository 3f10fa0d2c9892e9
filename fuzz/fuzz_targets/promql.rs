#![no_main]
//! PromQL: parse any input and, when it parses, evaluate it as an instant and a range
//! query over a small store, with a small sample limit and timeout (as the HTTP API
//! would). Nothing may panic, overflow or allocate without bound.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::promql::{instant_query, range_query, EvalOptions};
#[path = "common/promql_store.rs"]
mod promql_store;
use promql_store::store;

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
