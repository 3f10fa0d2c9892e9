#![no_main]
//! Series selectors (`tsdb dump --match`) on arbitrary text.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = meshscope_collector::tsdb::labels::parse_selector(s);
    }
});
