#![no_main]
//! A block's index file, read lazily from disk: opening the block and every kind of
//! selection on it either read or fail with an error, never a panic or an allocation
//! beyond the file's size. An input whose first byte is even patches a valid index
//! (pairs of a 16-bit offset and a byte XORed in), so that most of the file stays well
//! formed; any other input replaces the file (without the version-2 magic it goes through
//! the version-1 upgrade). cargo-fuzz builds with `--cfg fuzzing`, under which the reader
//! takes every checksum as matching: otherwise nearly every input would stop at one.
use libfuzzer_sys::fuzz_target;
use meshscope_collector::tsdb::block::{Block, BlockWriter};
use meshscope_collector::tsdb::{Labels, MatchOp, Matcher};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A block of 60 series (three names, seven nodes, two roles), written once.
fn base() -> &'static (tempfile::TempDir, PathBuf) {
    static BASE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    BASE.get_or_init(|| {
        let d = tempfile::tempdir().expect("a temporary directory");
        let mut w = BlockWriter::new(d.path(), 0, 100_000, 1, vec![]).expect("a block writer");
        let mut all: Vec<Labels> = (0..60)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__", format!("m{}", i % 3)),
                    ("node", format!("n{}", i % 7)),
                    ("role", format!("r{}", i % 2)),
                    ("i", format!("{i}")),
                ])
            })
            .collect();
        all.sort();
        for (k, l) in all.iter().enumerate() {
            let samples = (0..200).map(move |j| (j * 500, (j * k as i64) as f64));
            w.add_series(l, samples).expect("a series");
        }
        let b = w.finish().expect("the block").expect("a block with series");
        let dir = b.dir().to_path_buf();
        (d, dir)
    })
}

/// A directory with the block's meta.json and chunks, written once; each input writes
/// its own index there (files in a fresh directory per input made ~30 runs a second).
fn work() -> &'static tempfile::TempDir {
    static WORK: OnceLock<tempfile::TempDir> = OnceLock::new();
    WORK.get_or_init(|| {
        let (_keep, src) = base();
        let d = tempfile::tempdir().expect("a temporary directory");
        for f in ["meta.json", "chunks"] {
            std::fs::copy(src.join(f), d.path().join(f)).expect("a block file");
        }
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let (_keep, src) = base();
    let d = work();
    let index = d.path().join("index");
    let bytes = match data.first() {
        Some(b) if b % 2 == 0 => {
            let Ok(mut idx) = std::fs::read(src.join("index")) else { return };
            for p in data[1..].chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([p[0], p[1]]));
                if let Some(b) = idx.get_mut(at) {
                    *b ^= p[2];
                }
            }
            idx
        }
        _ => data.to_vec(),
    };
    if std::fs::write(&index, bytes).is_err() {
        return;
    }
    let Ok(block) = Block::open(d.path()) else { return };
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("a matcher");
    let selections = [
        vec![m(MatchOp::Equal, "__name__", "m1")],
        vec![m(MatchOp::Equal, "__name__", "m0"), m(MatchOp::Regex, "node", "n1|n3|n5")],
        vec![m(MatchOp::NotEqual, "role", "r0"), m(MatchOp::NotRegex, "i", "1.*")],
        vec![m(MatchOp::Regex, "node", ".+")],
        vec![m(MatchOp::Equal, "missing", "")],
    ];
    for s in &selections {
        for series in block.select(s, 0, 100_000) {
            let _ = series.samples(0, 100_000).count();
        }
        let _ = block.series_labels(s, 1000, 50_000);
    }
    for s in block.iter_series().take(100).flatten() {
        let _ = s.samples(i64::MIN, i64::MAX).count();
    }
});
