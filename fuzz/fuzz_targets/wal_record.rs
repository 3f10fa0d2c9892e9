#![no_main]
//! WAL record payloads on arbitrary bytes (a corrupt WAL must not crash replay); a
//! decoded record re-encodes to a payload that decodes to the same record.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::tsdb::wal::Record;

fuzz_target!(|data: &[u8]| {
    if let Some(r) = Record::decode(data) {
        let mut framed = Vec::new();
        r.encode_into(&mut framed);
        // encode_into frames the payload: 4 bytes length, 4 bytes CRC.
        let again = Record::decode(&framed[8..]);
        let same = match (&r, &again) {
            (Record::Series(a), Some(Record::Series(b))) => a == b,
            (Record::Samples(a), Some(Record::Samples(b))) => {
                a.len() == b.len()
                    && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1 == y.1 && x.2.to_bits() == y.2.to_bits())
            }
            _ => false,
        };
        assert!(same, "record does not round-trip");
    }
});
