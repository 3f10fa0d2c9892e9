#![no_main]
//! Remote write's WAL reader on arbitrary segment contents, appended in two parts (a
//! record may be cut anywhere) and followed by a second segment: it must never panic,
//! and a snappy-protobuf body of arbitrary bytes must decode or fail cleanly.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::remote::{proto, wal_tail::WalTail};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let _ = proto::decode(data);
    let Ok(d) = tempfile::tempdir() else { return };
    let seg = |i: u64| d.path().join(format!("{i:08}"));
    if std::fs::write(seg(1), b"").is_err() {
        return;
    }
    let Ok(mut t) = WalTail::open_at_end(d.path(), &mut |_| {}) else { return };
    let cut = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(seg(1)) else { return };
    let _ = f.write_all(&data[..cut]);
    let _ = t.poll(&mut |_| {});
    let _ = f.write_all(&data[cut..]);
    let _ = t.poll(&mut |_| {});
    let _ = std::fs::write(seg(2), data);
    let _ = t.poll(&mut |_| {});
});
