//! The small store both PromQL fuzz targets evaluate over.
use std::sync::OnceLock;

use meshscope_collector::promql::test_script::MemStore;
use meshscope_collector::tsdb::Labels;

pub fn store() -> &'static MemStore {
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
