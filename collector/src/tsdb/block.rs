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
//! - `index`: a zstd frame of `uvarint n` series entries (`uvarint len`, packed labels,
//!   `uvarint offset`, `uvarint length` of the series' frame, `zigzag min_t`, `zigzag
//!   max_t`), sorted by labels, then a CRC-32 (LE) of the compressed bytes;
//! - `meta.json`: id, time range (`maxTime` exclusive, as in Prometheus), stats,
//!   compaction level and sources.
//!
//! Blocks are written into `<ULID>.tmp` and renamed when complete, so a crash or a full
//! disk never leaves a half block behind a real name.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::chunk::SAMPLES_PER_CHUNK;
use super::labels::{read_uvarint, write_uvarint, Labels, Matcher};
use super::postings::{self, Postings};
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

struct BlockSeries {
    labels: Labels,
    offset: u64,
    len: u64,
    min_t: i64,
    max_t: i64,
}

/// An open block: its index in memory, its chunks read on demand.
pub struct Block {
    dir: PathBuf,
    pub meta: BlockMeta,
    series: Vec<BlockSeries>,
    postings: Postings<u32>,
    chunks: File,
    size: u64,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
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
    index: Vec<u8>,
    n: u64,
    level: i32,
    last: Option<Labels>,
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
            index: Vec::new(),
            n: 0,
            level: if level > 1 { 9 } else { 3 },
            last: None,
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
        write_uvarint(&mut self.index, labels.as_bytes().len() as u64);
        self.index.extend_from_slice(labels.as_bytes());
        write_uvarint(&mut self.index, self.offset);
        write_uvarint(&mut self.index, frame.len() as u64);
        write_uvarint(&mut self.index, zigzag(min_t));
        write_uvarint(&mut self.index, zigzag(max_t));
        self.offset += frame.len() as u64;
        self.n += 1;
        self.meta.stats.num_series += 1;
        self.meta.stats.num_samples += n;
        self.meta.stats.num_chunks += num_chunks;
        self.last = Some(labels.clone());
        Ok(())
    }

    /// Write the index and meta, sync, and move the block to its real name. Returns
    /// `None` when no series was added (no block is written).
    pub fn finish(mut self) -> io::Result<Option<Block>> {
        if self.n == 0 {
            drop(self.chunks);
            fs::remove_dir_all(&self.tmp)?;
            return Ok(None);
        }
        self.chunks.flush()?;
        self.chunks.get_ref().sync_all()?;
        let mut body = Vec::with_capacity(self.index.len() + 10);
        write_uvarint(&mut body, self.n);
        body.extend_from_slice(&self.index);
        let mut idx = compress(&body, 3)?;
        let crc = crc32fast::hash(&idx);
        idx.extend_from_slice(&crc.to_le_bytes());
        write_synced(&self.tmp.join("index"), &idx)?;
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
        let raw = fs::read(dir.join("index"))?;
        if raw.len() < 4 {
            return Err(corrupt(format!("{}: index too short", dir.display())));
        }
        let (data, crc) = raw.split_at(raw.len() - 4);
        if crc32fast::hash(data).to_le_bytes() != crc {
            return Err(corrupt(format!(
                "{}: index checksum mismatch",
                dir.display()
            )));
        }
        let body = zstd::stream::decode_all(data)
            .map_err(|e| corrupt(format!("{}: index: {e}", dir.display())))?;
        let bad = || corrupt(format!("{}: malformed index", dir.display()));
        let mut pos = 0;
        let n = read_uvarint(&body, &mut pos).ok_or_else(bad)? as usize;
        let mut series = Vec::with_capacity(n.min(1 << 20));
        let mut postings: Postings<u32> = HashMap::new();
        for i in 0..n {
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
            for (name, value) in labels.iter() {
                postings
                    .entry(name.into())
                    .or_default()
                    .entry(value.into())
                    .or_default()
                    .push(i as u32);
            }
            series.push(BlockSeries {
                labels,
                offset,
                len: flen,
                min_t,
                max_t,
            });
        }
        // Postings lists grew by doubling; a block keeps them for its whole life.
        for values in postings.values_mut() {
            for list in values.values_mut() {
                list.shrink_to_fit();
            }
        }
        let chunks = File::open(dir.join("chunks"))?;
        let size = super::wal::dir_size(dir);
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            series,
            postings,
            chunks,
            size,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    /// The series' chunks with samples in `[mint, maxt]`.
    fn read_chunks(&self, s: &BlockSeries, mint: i64, maxt: i64) -> io::Result<Vec<ChunkData>> {
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
        s: &BlockSeries,
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

    fn matching(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut c = postings::candidates(&self.postings, matchers, || {
            (0..self.series.len() as u32).collect()
        });
        c.retain(|i| {
            let l = &self.series[*i as usize].labels;
            matchers.iter().all(|m| m.matches_labels(l))
        });
        c
    }

    /// Matching series with their chunks in `[mint, maxt]`. A series whose chunks cannot
    /// be read is logged and left out.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        if self.meta.max_time <= mint || self.meta.min_time > maxt {
            return Vec::new();
        }
        self.matching(matchers)
            .into_iter()
            .map(|i| &self.series[i as usize])
            .filter(|s| s.max_t >= mint && s.min_t <= maxt)
            .filter_map(|s| match self.read_chunks(s, mint, maxt) {
                Ok(chunks) => Some(SeriesChunks {
                    labels: s.labels.clone(),
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
        self.matching(matchers)
            .into_iter()
            .map(|i| &self.series[i as usize])
            .filter(|s| s.max_t >= mint && s.min_t <= maxt)
            .map(|s| s.labels.clone())
            .collect()
    }

    /// Every series in label order with its samples (for compaction and dump).
    pub fn iter_series(&self) -> impl Iterator<Item = io::Result<SeriesChunks>> + '_ {
        self.series.iter().map(|s| {
            self.read_chunks(s, i64::MIN, i64::MAX)
                .map(|chunks| SeriesChunks {
                    labels: s.labels.clone(),
                    chunks,
                })
        })
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let s = &blk.series[0];
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
        let c = blk.read_chunks(s, n * 15_000 - 60_000, n * 15_000).unwrap();
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

    #[test]
    fn ulids_are_26_chars_and_distinct() {
        let a = new_ulid();
        let b = new_ulid();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
