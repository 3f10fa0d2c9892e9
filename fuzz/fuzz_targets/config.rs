#![no_main]
//! Configuration loading on arbitrary text: an error with a position, never a panic.
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = meshscope_collector::config::load_str(s, Path::new("f.yml"), Path::new("."));
    }
});
