#![no_main]
//! The text parser on arbitrary bytes: errors, never panics; every sample's labels
//! iterate; and a second pass that knows every series (the scrape cache's fast path)
//! yields exactly the same samples.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::exposition::{series_key, Event, Format, Parser};

type Seen = Vec<(Vec<u8>, String, Vec<(String, String)>, u64, Option<i64>)>;

fn collect(data: &[u8], known: &dyn Fn(u128) -> bool) -> (Seen, bool) {
    let mut p = Parser::new(data, Format::Text);
    let mut out = Vec::new();
    loop {
        match p.next_with(known) {
            Ok(Some(Event::Sample(s))) => {
                let labels = s
                    .labels()
                    .map(|(n, v)| (n.to_string(), v.into_owned()))
                    .collect();
                out.push((
                    s.series.to_vec(),
                    s.name.to_string(),
                    labels,
                    s.value.to_bits(),
                    s.timestamp_ms,
                ));
            }
            Ok(Some(_)) => {}
            Ok(None) => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (slow, ok) = collect(data, &|_| false);
    let keys: std::collections::HashSet<u128> = slow.iter().map(|s| series_key(&s.0)).collect();
    let (fast, ok2) = collect(data, &|k| keys.contains(&k));
    // Knowing series may only skip checks already passed: a body the slow pass accepts
    // gives the same samples on the fast pass.
    if ok {
        assert!(ok2, "the fast path rejected a valid body");
        assert_eq!(slow, fast, "the fast path changed the samples");
    }
});
