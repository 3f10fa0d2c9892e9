#![no_main]
//! The exposition parser on arbitrary bytes: errors, never panics; every sample's labels
//! iterate.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::exposition::{Event, Format, Parser};

fuzz_target!(|data: &[u8]| {
    let mut p = Parser::new(data, Format::OpenMetrics);
    while let Ok(Some(ev)) = p.next() {
        if let Event::Sample(s) = ev {
            for (n, v) in s.labels() {
                let _ = (n.len(), v.len());
            }
            if let Some(e) = s.exemplar {
                let _ = e.labels().count();
            }
        }
    }
});
