#![no_main]
//! file_sd files (JSON and YAML) and HTTP SD bodies on arbitrary input.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::scrape::discovery::{parse_http_sd, parse_sd};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = parse_http_sd("http://sd/", data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_sd(Path::new("t.json"), s);
        let _ = parse_sd(Path::new("t.yml"), s);
    }
});
