#![no_main]
//! file_sd files (JSON and YAML) on arbitrary text.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::scrape::discovery::parse_sd;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_sd(Path::new("t.json"), s);
        let _ = parse_sd(Path::new("t.yml"), s);
    }
});
