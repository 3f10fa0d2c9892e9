#![no_main]
//! The HTTP API's time parameters (`start`, `end`): Unix seconds or RFC 3339.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = meshscope_collector::api::parse_time(s);
    }
});
