#![no_main]
//! file_sd files (JSON and YAML), HTTP SD bodies and Consul health answers on arbitrary
//! input.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::scrape::consul::{group, Entry};
use meshscope_collector::scrape::discovery::{parse_http_sd, parse_sd};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = parse_http_sd("http://sd/", data);
    if let Ok(e) = serde_json::from_slice::<Vec<Entry>>(data) {
        let _ = group("svc", &e, "dc1", ",");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_sd(Path::new("t.json"), s);
        let _ = parse_sd(Path::new("t.yml"), s);
    }
});
