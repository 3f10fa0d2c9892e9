//! Immutable on-disk blocks.
//!
//! A block is a directory `blocks/<ULID>/` with
//! - `chunks`: per series, its samples in the compact encoding of
//!   [`super::series_codec`], zstd-compressed (with zstd's content checksum). A series
//!   of at most [`FRAME_SAMPLES`] samples is one zstd frame; a longer one (compacted
//!   blocks span days) is the byte `0x01` followed by parts of at most that many
//!   samples, each `zigzag min_t`, `uvarint max_t-min_t`, `uvarint len`, zstd frame, so
//!   that a query for minutes decodes one part, not days. (Blocks written before the
//!   compact encoding hold a list of XOR chunks: `uvarint n`, then per chunk `zigzag
//!   min_t`, `uvarint max_t-min_t`, `uvarint len`, bytes. All three are read.)
//! - `index`: the series (labels, where their data is in `chunks`, first and last
//!   timestamps) and postings, read lazily ([`super::block_index`]: an open block holds
//!   its symbols and postings table in memory, not its series). Blocks written before
//!   held a zstd frame of `uvarint n` series entries (`uvarint len`, packed labels,
//!   `uvarint offset`, `uvarint length` of the series' frame, `zigzag min_t`, `zigzag
//!   max_t`), sorted by labels, then a CRC-32 (LE) of the compressed bytes: such an
//!   index is rewritten in the new format when its block is opened;
//! - `meta.json`: id, time range (`maxTime` exclusive, as in Prometheus), stats,
//!   compaction level and sources.
//!
//! Blocks are written into `<ULID>.tmp` and renamed when complete, so a crash or a full
//! disk never leaves a half block behind a real name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::block_index::{self, corrupt, unzigzag, zigzag, Entry, IndexReader};
use super::chunk::SAMPLES_PER_CHUNK;
use super::labels::{read_uvarint, write_uvarint, Labels, Matcher};
use super::postings;
use super::query::{ChunkData, SeriesChunks};
use super::series_codec;
use super::wal::sync_dir;

/// The most samples in one zstd frame of a series (about 17 h at 15 s).
pub const FRAME_SAMPLES: usize = 4096;
/// The first byte of a series stored as several frames (a zstd frame starts with 0x28).
const MULTI_FRAME: u8 = 0x01;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockStats {
    pub num_samples: u64,
    pub num_series: u64,
    pub num_chunks: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Compaction {
    pub level: u32,
    pub sources: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    pub ulid: String,
    pub min_time: i64,
    /// Exclusive.
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
    pub version: u32,
}

/// An open block: its index's symbols and postings table in memory, its series entries,
/// postings lists and chunks read on demand.
pub struct Block {
    dir: PathBuf,
    pub meta: BlockMeta,
    index: IndexReader,
    chunks: File,
    size: u64,
}

/// A new ULID: 48 bits of milliseconds and 80 random bits, Crockford base32.
pub fn new_ulid() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut seed = [0u8; 16];
    let rs = std::collections::hash_map::RandomState::new();
    use std::hash::{BuildHasher, Hasher};
    let mut h = rs.build_hasher();
    h.write_u128(ms);
    h.write_u64(std::process::id() as u64);
    seed[..8].copy_from_slice(&h.finish().to_le_bytes());
    let mut h2 = rs.build_hasher();
    h2.write_u64(h.finish());
    seed[8..].copy_from_slice(&h2.finish().to_le_bytes());
    let rand = u128::from_le_bytes(seed) & ((1u128 << 80) - 1);
    let v = (ms << 80) | rand;
    (0..26)
        .rev()
        .map(|i| ALPHABET[((v >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// Writes one block; series must be added in label order.
pub struct BlockWriter {
    parent: PathBuf,
    tmp: PathBuf,
    meta: BlockMeta,
    chunks: BufWriter<File>,
    offset: u64,
    index: block_index::IndexWriter,
    last: Option<Labels>,
    level: i32,
}

impl BlockWriter {
    pub fn new(
        parent: &Path,
        min_time: i64,
        max_time: i64,
        level: u32,
        sources: Vec<String>,
    ) -> io::Result<BlockWriter> {
        fs::create_dir_all(parent)?;
        let ulid = new_ulid();
        let tmp = parent.join(format!("{ulid}.tmp"));
        fs::create_dir_all(&tmp)?;
        let chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join("chunks"))?);
        let index = block_index::IndexWriter::new(&tmp.join("index"))?;
        let sources = if sources.is_empty() {
            vec![ulid.clone()]
        } else {
            sources
        };
        Ok(BlockWriter {
            parent: parent.to_path_buf(),
            tmp,
            meta: BlockMeta {
                ulid,
                min_time,
                max_time,
                stats: BlockStats::default(),
                compaction: Compaction { level, sources },
                version: 1,
            },
            chunks,
            offset: 0,
            index,
            last: None,
            level: if level > 1 { 9 } else { 3 },
        })
    }

    /// Add a series with its samples (in time order, within the block's range). A series
    /// without samples is skipped.
    pub fn add_series(
        &mut self,
        labels: &Labels,
        samples: impl Iterator<Item = (i64, f64)>,
    ) -> io::Result<()> {
        if self.last.as_ref().is_some_and(|l| l >= labels) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("series {labels} added out of label order"),
            ));
        }
        let mut kept: Vec<(i64, f64)> = Vec::new();
        for (t, v) in samples {
            if kept.last().is_some_and(|p| t <= p.0) {
                continue;
            }
            kept.push((t, v));
        }
        let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
            return Ok(());
        };
        let (min_t, max_t, n) = (first.0, last.0, kept.len() as u64);
        let num_chunks = n.div_ceil(SAMPLES_PER_CHUNK as u64);
        let frame = if kept.len() <= FRAME_SAMPLES {
            let mut raw = Vec::with_capacity(kept.len() * 3 + 16);
            series_codec::encode(&kept, &mut raw);
            compress(&raw, self.level)?
        } else {
            let mut out = vec![MULTI_FRAME];
            let mut raw = Vec::new();
            for part in kept.chunks(FRAME_SAMPLES) {
                raw.clear();
                series_codec::encode(part, &mut raw);
                let f = compress(&raw, self.level)?;
                let (a, b) = (part[0].0, part[part.len() - 1].0);
                write_uvarint(&mut out, zigzag(a));
                write_uvarint(&mut out, (b - a) as u64);
                write_uvarint(&mut out, f.len() as u64);
                out.extend_from_slice(&f);
            }
            out
        };
        self.chunks.write_all(&frame)?;
        let e = Entry {
            labels: labels.clone(),
            offset: self.offset,
            len: frame.len() as u64,
            min_t,
            max_t,
        };
        self.index.add(&e)?;
        self.last = Some(e.labels);
        self.offset += frame.len() as u64;
        self.meta.stats.num_series += 1;
        self.meta.stats.num_samples += n;
        self.meta.stats.num_chunks += num_chunks;
        Ok(())
    }

    /// Write the index and meta, sync, and move the block to its real name. Returns
    /// `None` when no series was added (no block is written).
    pub fn finish(mut self) -> io::Result<Option<Block>> {
        if self.last.is_none() {
            drop(self.chunks);
            fs::remove_dir_all(&self.tmp)?;
            return Ok(None);
        }
        self.chunks.flush()?;
        self.chunks.get_ref().sync_all()?;
        self.index.finish()?;
        let meta = serde_json::to_vec_pretty(&self.meta).map_err(io::Error::other)?;
        write_synced(&self.tmp.join("meta.json"), &meta)?;
        sync_dir(&self.tmp);
        let dst = self.parent.join(&self.meta.ulid);
        fs::rename(&self.tmp, &dst)?;
        sync_dir(&self.parent);
        Block::open(&dst).map(Some)
    }

    /// Remove the partial block (after an error).
    pub fn abort(self) {
        let _ = fs::remove_dir_all(&self.tmp);
    }
}

fn compress(raw: &[u8], level: i32) -> io::Result<Vec<u8>> {
    let mut enc = zstd::stream::Encoder::new(Vec::with_capacity(raw.len() / 2 + 16), level)?;
    enc.include_checksum(true)?;
    enc.include_contentsize(true)?;
    enc.set_pledged_src_size(Some(raw.len() as u64))?;
    enc.write_all(raw)?;
    enc.finish()
}

/// Buffers reused across the series a thread reads. A zstd decompression context is
/// ~100 KiB to set up: made once per thread, not once per part (an instant query over a
/// few hundred series decodes a few hundred parts).
#[derive(Default)]
struct Scratch {
    frame: Vec<u8>,
    raw: Vec<u8>,
    ts: Vec<i64>,
    samples: Vec<(i64, f64)>,
    dctx: Option<zstd::bulk::Decompressor<'static>>,
}

impl Scratch {
    /// Give back what one huge series grew (compaction reads whole series).
    fn trim(&mut self) {
        const KEEP: usize = 1 << 20;
        if self.frame.capacity() > KEEP {
            self.frame = Vec::new();
        }
        if self.raw.capacity() > KEEP {
            self.raw = Vec::new();
        }
        if self.ts.capacity() * 8 > KEEP {
            self.ts = Vec::new();
        }
        if self.samples.capacity() * 16 > KEEP {
            self.samples = Vec::new();
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Decompress one frame into `out` (its checksum verified by zstd).
fn decompress(
    dctx: &mut Option<zstd::bulk::Decompressor<'static>>,
    frame: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    out.clear();
    // Frames are written with their content size; a missing or implausible one (a
    // damaged header) goes through the streaming decoder, which needs no size.
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten();
    match size {
        Some(n) if n <= 64 << 20 => {
            let d = match dctx {
                Some(d) => d,
                None => dctx.insert(zstd::bulk::Decompressor::new()?),
            };
            out.reserve(n as usize);
            d.decompress_to_buffer(frame, out)?;
            Ok(())
        }
        _ => {
            *out = zstd::stream::decode_all(frame)?;
            Ok(())
        }
    }
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

impl Block {
    pub fn open(dir: &Path) -> io::Result<Block> {
        let meta: BlockMeta = serde_json::from_slice(&fs::read(dir.join("meta.json"))?)
            .map_err(|e| corrupt(format!("{}: {e}", dir.join("meta.json").display())))?;
        let path = dir.join("index");
        let mut magic = [0u8; 8];
        let n = File::open(&path)?.read_at(&mut magic, 0)?;
        if n < magic.len() || &magic != block_index::MAGIC {
            upgrade_index(dir)?;
        }
        let index = IndexReader::open(&path)?;
        let chunks = File::open(dir.join("chunks"))?;
        let size = super::wal::dir_size(dir);
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            size,
        })
    }

    /// Bytes the open block holds in memory (its index's symbols and postings table).
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    /// The series' chunks with samples in `[mint, maxt]`.
    fn read_chunks(&self, s: &Entry, mint: i64, maxt: i64) -> io::Result<Vec<ChunkData>> {
        SCRATCH.with(|sc| {
            let mut sc = sc.borrow_mut();
            let r = self.read_chunks_with(&mut sc, s, mint, maxt);
            sc.trim();
            r
        })
    }

    fn read_chunks_with(
        &self,
        sc: &mut Scratch,
        s: &Entry,
        mint: i64,
        maxt: i64,
    ) -> io::Result<Vec<ChunkData>> {
        let Scratch {
            frame,
            raw,
            ts,
            samples,
            dctx,
        } = sc;
        frame.clear();
        frame.resize(s.len as usize, 0);
        self.chunks.read_exact_at(frame, s.offset)?;
        let zerr = |e: io::Error| {
            corrupt(format!(
                "{}: chunks of {}: {e}",
                self.dir.display(),
                s.labels
            ))
        };
        let bad = || {
            corrupt(format!(
                "{}: malformed chunks of {}",
                self.dir.display(),
                s.labels
            ))
        };
        samples.clear();
        if frame.first() == Some(&MULTI_FRAME) {
            // Parts: decode those that overlap `[mint, maxt]`.
            let mut b = &frame[1..];
            while !b.is_empty() {
                let mut pos = 0;
                let a = unzigzag(read_uvarint(b, &mut pos).ok_or_else(bad)?);
                let span = read_uvarint(b, &mut pos).ok_or_else(bad)?;
                let len = read_uvarint(b, &mut pos).ok_or_else(bad)? as usize;
                let end = pos.checked_add(len).ok_or_else(bad)?;
                let f = b.get(pos..end).ok_or_else(bad)?;
                let z = a.saturating_add(span.min(i64::MAX as u64) as i64);
                if z >= mint && a <= maxt {
                    decompress(dctx, f, raw).map_err(zerr)?;
                    series_codec::decode_range(raw, mint, maxt, ts, samples).ok_or_else(bad)?;
                }
                b = &b[end..];
            }
            return Ok(ChunkData::encode(samples));
        }
        decompress(dctx, frame, raw).map_err(zerr)?;
        if raw.first() == Some(&0) {
            // The compact encoding: rebuild XOR chunks for readers, of only the samples
            // asked for (an instant query wants minutes of a block that may span days).
            series_codec::decode_range(raw, mint, maxt, ts, samples).ok_or_else(bad)?;
            return Ok(ChunkData::encode(samples));
        }
        // The older layout: a list of XOR chunks.
        let raw = &raw[..];
        let mut pos = 0;
        let n = read_uvarint(raw, &mut pos).ok_or_else(bad)?;
        let mut out = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let min_t = unzigzag(read_uvarint(raw, &mut pos).ok_or_else(bad)?);
            let max_t = min_t.wrapping_add(read_uvarint(raw, &mut pos).ok_or_else(bad)? as i64);
            let len = read_uvarint(raw, &mut pos).ok_or_else(bad)? as usize;
            let data: Arc<[u8]> = raw
                .get(pos..pos.checked_add(len).ok_or_else(bad)?)
                .ok_or_else(bad)?
                .into();
            pos += len;
            out.push(ChunkData { min_t, max_t, data });
        }
        Ok(out)
    }

    fn err(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: index: {e}", self.dir.display()))
    }

    /// The entries of the series that match, in label order, whose samples overlap
    /// `[mint, maxt]`.
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> io::Result<Vec<Entry>> {
        let mut owned: Vec<Vec<Vec<u32>>> = Vec::new();
        for m in matchers.iter().filter(|m| !m.matches("")) {
            match self.index.lists_for(m).map_err(|e| self.err(e))? {
                Some(lists) if !lists.is_empty() => owned.push(lists),
                _ => return Ok(Vec::new()),
            }
        }
        let refs = if owned.is_empty() {
            self.index.all().map_err(|e| self.err(e))?
        } else {
            let sets = owned
                .iter()
                .map(|ls| ls.iter().map(Vec::as_slice).collect())
                .collect();
            postings::intersect(sets)
        };
        let mut reader = self.index.series();
        let mut out = Vec::new();
        for r in refs {
            let e = reader.entry(r).map_err(|e| self.err(e))?;
            if e.max_t >= mint
                && e.min_t <= maxt
                && matchers.iter().all(|m| m.matches_labels(&e.labels))
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Matching series with their chunks in `[mint, maxt]`. A series whose chunks cannot
    /// be read is logged and left out, as is every series of a block whose index cannot.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        if self.meta.max_time <= mint || self.meta.min_time > maxt {
            return Vec::new();
        }
        let entries = match self.matching(matchers, mint, maxt) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(block = %self.dir.display(), error = %e, "Reading the index failed");
                return Vec::new();
            }
        };
        entries
            .into_iter()
            .filter_map(|s| match self.read_chunks(&s, mint, maxt) {
                Ok(chunks) => Some(SeriesChunks {
                    labels: s.labels,
                    chunks: chunks.into_iter().filter(|c| c.max_t >= mint && c.min_t <= maxt).collect(),
                }),
                Err(e) => {
                    tracing::error!(block = %self.dir.display(), error = %e, "Reading chunks failed");
                    None
                }
            })
            .collect()
    }

    pub fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        if self.meta.max_time <= mint || self.meta.min_time > maxt {
            return Vec::new();
        }
        match self.matching(matchers, mint, maxt) {
            Ok(entries) => entries.into_iter().map(|e| e.labels).collect(),
            Err(e) => {
                tracing::error!(block = %self.dir.display(), error = %e, "Reading the index failed");
                Vec::new()
            }
        }
    }

    /// Every series in label order with its samples (for compaction and dump).
    pub fn iter_series(&self) -> impl Iterator<Item = io::Result<SeriesChunks>> + '_ {
        let (refs, first) = match self.index.all() {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(Err(self.err(e)))),
        };
        let mut reader = self.index.series();
        first.into_iter().chain(refs.into_iter().map(move |r| {
            let s = reader.entry(r).map_err(|e| self.err(e))?;
            let chunks = self.read_chunks(&s, i64::MIN, i64::MAX)?;
            Ok(SeriesChunks {
                labels: s.labels,
                chunks,
            })
        }))
    }

    pub fn num_series(&self) -> usize {
        self.index.num_series()
    }
}

/// Rewrite a version-1 index (one zstd frame, read whole) of the block in `dir` into the
/// lazily read format, atomically: a crash leaves the old index or the new one.
fn upgrade_index(dir: &Path) -> io::Result<()> {
    let path = dir.join("index");
    let entries = read_index_v1(&path)?;
    let tmp = dir.join("index.v2.tmp");
    block_index::write(&tmp, &entries)?;
    fs::rename(&tmp, &path)?;
    sync_dir(dir);
    tracing::info!(block = %dir.display(), series = entries.len(), "Rewrote the block's index in the lazily read format");
    Ok(())
}

/// The series entries of a version-1 index.
fn read_index_v1(path: &Path) -> io::Result<Vec<Entry>> {
    let raw = fs::read(path)?;
    if raw.len() < 4 {
        return Err(corrupt(format!("{}: index too short", path.display())));
    }
    let (data, crc) = raw.split_at(raw.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if !block_index::checksum_ok(crc32fast::hash(data), stored) {
        return Err(corrupt(format!(
            "{}: index checksum mismatch",
            path.display()
        )));
    }
    let body = zstd::stream::decode_all(data)
        .map_err(|e| corrupt(format!("{}: index: {e}", path.display())))?;
    let bad = || corrupt(format!("{}: malformed index", path.display()));
    let mut pos = 0;
    let n = read_uvarint(&body, &mut pos).ok_or_else(bad)? as usize;
    let mut entries: Vec<Entry> = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let len = read_uvarint(&body, &mut pos).ok_or_else(bad)? as usize;
        let lb = body
            .get(pos..pos.checked_add(len).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let labels = Labels::from_bytes(lb).ok_or_else(bad)?;
        pos += len;
        let offset = read_uvarint(&body, &mut pos).ok_or_else(bad)?;
        let flen = read_uvarint(&body, &mut pos).ok_or_else(bad)?;
        let min_t = unzigzag(read_uvarint(&body, &mut pos).ok_or_else(bad)?);
        let max_t = unzigzag(read_uvarint(&body, &mut pos).ok_or_else(bad)?);
        if entries.last().is_some_and(|e| e.labels >= labels) {
            return Err(bad());
        }
        entries.push(Entry {
            labels,
            offset,
            len: flen,
            min_t,
            max_t,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::labels::MatchOp;

    #[test]
    fn write_open_select() {
        let d = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(d.path(), 0, 10_000, 1, vec![]).unwrap();
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        let b = Labels::from_pairs([("__name__", "b"), ("job", "y")]);
        w.add_series(&a, (0..500).map(|i| (i * 15, i as f64)))
            .unwrap();
        w.add_series(&b, (0..10).map(|i| (i * 1000, -(i as f64))))
            .unwrap();
        assert!(w.add_series(&a, std::iter::once((1, 1.0))).is_err());
        let blk = w.finish().unwrap().unwrap();
        assert_eq!(blk.meta.stats.num_samples, 510);
        assert_eq!(blk.meta.stats.num_chunks, 6); // 120+120+120+120+20, and 10
        let blk = Block::open(blk.dir()).unwrap();
        let got = blk.select(&[Matcher::equal("job", "x")], 0, 10_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples(0, i64::MAX).count(), 500);
        assert_eq!(got[0].samples(150, 300).count(), 11);
        assert_eq!(blk.select(&[], 20_000, 30_000).len(), 0);
        assert!(!d.path().join(format!("{}.tmp", blk.meta.ulid)).exists());
        // The index writer's scratch file is gone.
        let files: Vec<String> = fs::read_dir(blk.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!files.iter().any(|f| f.contains("entries")), "{files:?}");
    }

    /// A long series is stored in parts; a short window decodes only its part, and every
    /// window reads back exactly.
    #[test]
    fn long_series_are_stored_in_parts_and_read_back_exactly() {
        let d = tempfile::tempdir().unwrap();
        let n = FRAME_SAMPLES as i64 * 2 + 77;
        let mut w = BlockWriter::new(d.path(), 0, n * 15_000, 2, vec![]).unwrap();
        let a = Labels::from_pairs([("__name__", "a")]);
        let pts: Vec<(i64, f64)> = (0..n)
            .map(|i| (i * 15_000, (i * 7 % 13) as f64 + 0.5))
            .collect();
        w.add_series(&a, pts.iter().copied()).unwrap();
        let blk = w.finish().unwrap().unwrap();
        let blk = Block::open(blk.dir()).unwrap();
        let s = blk
            .index
            .series()
            .entry(blk.index.all().unwrap()[0])
            .unwrap();
        let mut head = [0u8; 1];
        blk.chunks.read_exact_at(&mut head, s.offset).unwrap();
        assert_eq!(head[0], MULTI_FRAME);
        for (lo, hi) in [
            (0, i64::MAX),
            (0, 0),
            (61_440_000, 61_500_000),
            (n * 15_000 - 60_000, n * 15_000),
        ] {
            let got: Vec<(i64, f64)> = blk.select(&[], lo, hi)[0].samples(lo, hi).collect();
            let want: Vec<(i64, f64)> = pts
                .iter()
                .copied()
                .filter(|p| p.0 >= lo && p.0 <= hi)
                .collect();
            assert_eq!(got, want, "[{lo}, {hi}]");
        }
        // A window inside the last part decodes only that part.
        let c = blk
            .read_chunks(&s, n * 15_000 - 60_000, n * 15_000)
            .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].min_t, c[0].max_t),
            (n * 15_000 - 60_000, (n - 1) * 15_000)
        );
    }

    #[test]
    fn corrupt_index_is_an_error_not_a_panic() {
        let d = tempfile::tempdir().unwrap();
        let mut w = BlockWriter::new(d.path(), 0, 100, 1, vec![]).unwrap();
        w.add_series(
            &Labels::from_pairs([("__name__", "a")]),
            std::iter::once((1, 1.0)),
        )
        .unwrap();
        let blk = w.finish().unwrap().unwrap();
        let p = blk.dir().join("index");
        let mut b = fs::read(&p).unwrap();
        b[3] ^= 0x40;
        fs::write(&p, b).unwrap();
        assert!(Block::open(blk.dir()).is_err());
    }

    /// Writes `entries` as a version-1 index (how blocks were written before the lazily
    /// read index).
    fn write_index_v1(path: &Path, entries: &[Entry]) {
        let mut body = Vec::new();
        write_uvarint(&mut body, entries.len() as u64);
        for e in entries {
            block_index::encode_raw_entry(e, &mut body);
        }
        let mut idx = compress(&body, 3).unwrap();
        let crc = crc32fast::hash(&idx);
        idx.extend_from_slice(&crc.to_le_bytes());
        fs::write(path, idx).unwrap();
    }

    /// A block of `n` series over few label values: metric m0..m9, node n0..n49, and
    /// one sample per series at `i`.
    fn sample_block(dir: &Path, n: usize) -> Block {
        let mut labels: Vec<Labels> = (0..n)
            .map(|i| {
                Labels::from_pairs([
                    ("__name__", format!("m{}", i % 10)),
                    ("node", format!("n{}", i % 50)),
                    ("i", i.to_string()),
                ])
            })
            .collect();
        labels.sort();
        let mut w = BlockWriter::new(dir, 0, 1_000_000, 1, vec![]).unwrap();
        for (i, l) in labels.iter().enumerate() {
            w.add_series(l, std::iter::once((i as i64, i as f64)))
                .unwrap();
        }
        w.finish().unwrap().unwrap()
    }

    fn brute_force(blk: &Block, matchers: &[Matcher]) -> Vec<Labels> {
        blk.iter_series()
            .map(|s| s.unwrap().labels)
            .filter(|l| matchers.iter().all(|m| m.matches_labels(l)))
            .collect()
    }

    /// Selections through the lazily read index equal a scan of every series, and an
    /// open block holds its symbols and postings table, not its series.
    #[test]
    fn lazy_index_selects_like_a_scan_and_holds_no_series() {
        let d = tempfile::tempdir().unwrap();
        let blk = sample_block(d.path(), 5000);
        assert_eq!(blk.num_series(), 5000);
        let cases = vec![
            vec![],
            vec![Matcher::equal("__name__", "m3")],
            vec![
                Matcher::equal("__name__", "m3"),
                Matcher::equal("node", "n13"),
            ],
            vec![
                Matcher::equal("__name__", "m3"),
                Matcher::equal("node", "n14"),
            ],
            vec![Matcher::new(MatchOp::Regex, "node", "n1.|n2").unwrap()],
            vec![
                Matcher::new(MatchOp::Regex, "node", "n1|n2|n3").unwrap(),
                Matcher::new(MatchOp::NotEqual, "__name__", "m1").unwrap(),
            ],
            vec![Matcher::new(MatchOp::NotRegex, "i", "1.*").unwrap()],
            vec![Matcher::equal("node", "absent")],
            vec![Matcher::equal("nolabel", "x")],
            vec![
                Matcher::new(MatchOp::Regex, "nolabel", ".*").unwrap(),
                Matcher::equal("i", "77"),
            ],
        ];
        for ms in &cases {
            let got: Vec<Labels> = blk
                .select(ms, 0, 1_000_000)
                .into_iter()
                .map(|s| s.labels)
                .collect();
            assert_eq!(got, brute_force(&blk, ms), "{ms:?}");
            assert_eq!(blk.series_labels(ms, 0, 1_000_000), got, "{ms:?}");
        }
        // Time ranges come from the entries: series i has its sample at its place i.
        assert_eq!(blk.select(&[], 10, 19).len(), 10);
        // 5,000 distinct values of `i` are symbols (about 10 bytes each, with their
        // lists' places): well under the 250 bytes a series the old index held.
        let mem = blk.memory_bytes();
        assert!(mem < 5000 * 60, "{mem} bytes in memory");
        let small = sample_block(tempfile::tempdir().unwrap().path(), 50);
        assert!(
            small.memory_bytes() < 50 * 60 + 2000,
            "{}",
            small.memory_bytes()
        );
    }

    /// A block written with the version-1 index is rewritten on open and reads the same.
    #[test]
    fn version_1_index_is_rewritten_on_open() {
        let d = tempfile::tempdir().unwrap();
        let blk = sample_block(d.path(), 300);
        let dir = blk.dir().to_path_buf();
        let want: Vec<SeriesChunks> = blk.select(&[], 0, 1_000_000);
        let mut reader = blk.index.series();
        let entries: Vec<Entry> = blk
            .index
            .all()
            .unwrap()
            .into_iter()
            .map(|r| reader.entry(r).unwrap())
            .collect();
        drop(reader);
        drop(blk);
        write_index_v1(&dir.join("index"), &entries);
        assert_ne!(
            &fs::read(dir.join("index")).unwrap()[..8],
            block_index::MAGIC
        );
        let blk = Block::open(&dir).unwrap();
        assert_eq!(
            &fs::read(dir.join("index")).unwrap()[..8],
            block_index::MAGIC
        );
        assert!(!dir.join("index.v2.tmp").exists());
        assert!(!dir.join("index.v2.entries").exists());
        let got = blk.select(&[], 0, 1_000_000);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.labels, w.labels);
            assert_eq!(
                g.samples(0, i64::MAX).collect::<Vec<_>>(),
                w.samples(0, i64::MAX).collect::<Vec<_>>()
            );
        }
        // A damaged version-1 index is an error, and stays as it was.
        write_index_v1(&dir.join("index"), &entries);
        let mut b = fs::read(dir.join("index")).unwrap();
        let k = b.len() / 2;
        b[k] ^= 0x10;
        fs::write(dir.join("index"), &b).unwrap();
        assert!(Block::open(&dir).is_err());
        assert_eq!(fs::read(dir.join("index")).unwrap(), b);
    }

    /// Every single flipped bit of the index file (the parser of outside input here) is
    /// refused at open or when read, or reads some series: never a panic.
    #[test]
    fn damaged_index_bytes_are_errors_not_panics() {
        let d = tempfile::tempdir().unwrap();
        let blk = sample_block(d.path(), 40);
        let dir = blk.dir().to_path_buf();
        drop(blk);
        let good = fs::read(dir.join("index")).unwrap();
        let ms = [Matcher::equal("__name__", "m3")];
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = good.clone();
                b[i] ^= bit;
                fs::write(dir.join("index"), &b).unwrap();
                if let Ok(blk) = Block::open(&dir) {
                    let _ = blk.select(&[], 0, 1_000_000);
                    let _ = blk.select(&ms, 0, 1_000_000);
                    let _ = blk.iter_series().count();
                }
            }
        }
        // A damaged series entry is refused by its checksum: the block's series are
        // left out of the answer (logged), never wrong.
        let mut b = good.clone();
        let entry = good.len() / 3;
        b[entry] ^= 0x04;
        fs::write(dir.join("index"), &b).unwrap();
        if let Ok(blk) = Block::open(&dir) {
            for s in blk.select(&[], 0, 1_000_000) {
                assert!(s.labels.get("__name__").is_some_and(|n| n.starts_with('m')));
            }
        }
    }

    #[test]
    fn ulids_are_26_chars_and_distinct() {
        let a = new_ulid();
        let b = new_ulid();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
