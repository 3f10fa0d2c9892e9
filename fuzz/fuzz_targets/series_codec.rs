#![no_main]
//! The block series encoding: arbitrary bytes decode to `None` or samples, never a panic;
//! samples built from the input round-trip bit for bit.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::tsdb::series_codec::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    let mut samples = Vec::new();
    let mut t = 0i64;
    for w in data.chunks_exact(9) {
        t = t.wrapping_add(i64::from(w[0]) + 1);
        let mut b = [0u8; 8];
        b.copy_from_slice(&w[1..9]);
        // Small integers and decimals too, not only random bit patterns.
        let v = match w[0] % 3 {
            0 => f64::from_bits(u64::from_le_bytes(b)),
            1 => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])) / 1000.0,
        };
        if samples.last().is_some_and(|(p, _)| *p >= t) {
            break;
        }
        samples.push((t, v));
    }
    let mut enc = Vec::new();
    encode(&samples, &mut enc);
    let back = decode(&enc).expect("encoded samples decode");
    assert_eq!(back.len(), samples.len());
    for (a, b) in samples.iter().zip(&back) {
        assert!(a.0 == b.0 && a.1.to_bits() == b.1.to_bits(), "{a:?} != {b:?}");
    }
});
