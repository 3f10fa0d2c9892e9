#![no_main]
//! Decoding XOR chunks read from (possibly corrupt) blocks.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::tsdb::chunk::XorIter;

fuzz_target!(|data: &[u8]| {
    for (t, v) in XorIter::new(data).take(100_000) {
        let _ = (t, v);
    }
});
