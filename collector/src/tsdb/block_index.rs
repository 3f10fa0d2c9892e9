//! A block's index, read lazily: only its symbols and the table of its postings lists are
//! held in memory while the block is open; series entries and postings lists are read
//! from the file (`pread`, so from the page cache) when a query needs them. An open
//! block then costs memory per distinct label name and value, not per series: the
//! version-1 index, held whole in memory, cost about 250 bytes per series for every
//! block (issue 18: a million series over a week of blocks).
//!
//! The file (all integers little-endian, `uvarint` as in [`super::labels`]):
//! - `MAGIC` (8 bytes);
//! - the symbols: every label name and value of the block and the empty string, sorted,
//!   each `uvarint len` then its bytes; a symbol's number is its place in that order, so
//!   numbers compare as the strings do;
//! - the series, each at an offset that is a multiple of 16 from the section's start (a
//!   series' reference is that offset / 16, so postings hold 32-bit references for up to
//!   64 GiB of entries), in label order: `uvarint` label count, per label the name's and
//!   the value's symbol numbers, `uvarint` offset and length of the series' data in
//!   `chunks`, `zigzag` first and last timestamps, then a CRC-32 of the entry's bytes;
//! - the postings lists: per label name and value the references of its series, sorted,
//!   `u32` each; the list of every series is the one of the empty name and value;
//! - the table: `uvarint` count, then per list the name's and value's symbol numbers,
//!   the list's offset and length (in references), and the CRC-32 of its bytes, ordered
//!   by name then value;
//! - the footer (48 bytes): offset and length of the symbols and of the table (`u64`
//!   each), the number of series (`u32`), the start of the series section (`u64`), and a
//!   CRC-32 of the symbols, the table and the footer's first 44 bytes.
//!
//! Version 1 (a zstd frame of every series entry, read whole) is rewritten into this
//! format when its block is opened ([`super::block::Block::open`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::labels::{read_uvarint, write_uvarint, Labels, Matcher};

pub(crate) const MAGIC: &[u8; 8] = b"MSINDEX2";
const FOOTER: usize = 48;
const ALIGN: u64 = 16;

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
pub(super) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// One series' entry: its labels and where its data is in `chunks`.
pub(crate) struct Entry {
    pub labels: Labels,
    pub offset: u64,
    pub len: u64,
    pub min_t: i64,
    pub max_t: i64,
}

/// Write an index of `entries` (in label order) to `path`, synced.
pub(crate) fn write(path: &Path, entries: &[Entry]) -> io::Result<()> {
    let mut w = IndexWriter::new(path)?;
    for e in entries {
        w.add(e)?;
    }
    w.finish()
}

/// Writes an index as series are added: each entry goes to a scratch file beside the
/// index as it comes, so that persisting a head of a million series does not hold every
/// series' labels again until the symbols are known; only the distinct names and values
/// are kept.
pub(crate) struct IndexWriter {
    path: std::path::PathBuf,
    scratch_path: std::path::PathBuf,
    scratch: BufWriter<File>,
    symbols: std::collections::HashSet<Box<str>>,
    n: u64,
}

impl IndexWriter {
    pub fn new(path: &Path) -> io::Result<IndexWriter> {
        let scratch_path = path.with_extension("entries");
        let scratch = BufWriter::with_capacity(1 << 20, File::create(&scratch_path)?);
        Ok(IndexWriter {
            path: path.to_path_buf(),
            scratch_path,
            scratch,
            symbols: std::collections::HashSet::from([Box::from("")]),
            n: 0,
        })
    }

    /// Add the next series (in label order: the caller checks).
    pub fn add(&mut self, e: &Entry) -> io::Result<()> {
        for (n, v) in e.labels.iter() {
            for s in [n, v] {
                if !self.symbols.contains(s) {
                    self.symbols.insert(s.into());
                }
            }
        }
        let mut b = Vec::with_capacity(e.labels.as_bytes().len() + 40);
        encode_raw_entry(e, &mut b);
        self.scratch.write_all(&b)?;
        self.n += 1;
        Ok(())
    }

    /// Write the index (symbols, the series from the scratch file, postings, table,
    /// footer), sync it, and remove the scratch file.
    pub fn finish(self) -> io::Result<()> {
        let IndexWriter {
            path,
            scratch_path,
            scratch,
            symbols,
            n,
        } = self;
        scratch.into_inner().map_err(|e| e.into_error())?;
        let r = write_from_scratch(&path, &scratch_path, symbols, n);
        let _ = std::fs::remove_file(&scratch_path);
        r
    }
}

/// An entry as the scratch file holds it, which is also how a version-1 index held it:
/// `uvarint` length and packed labels, `uvarint` offset and length, `zigzag` first and
/// last timestamps.
pub(super) fn encode_raw_entry(e: &Entry, out: &mut Vec<u8>) {
    write_uvarint(out, e.labels.as_bytes().len() as u64);
    out.extend_from_slice(e.labels.as_bytes());
    write_uvarint(out, e.offset);
    write_uvarint(out, e.len);
    write_uvarint(out, zigzag(e.min_t));
    write_uvarint(out, zigzag(e.max_t));
}

/// The scratch file's entries, one at a time.
fn scratch_entries(path: &Path) -> io::Result<impl Iterator<Item = io::Result<Entry>>> {
    use std::io::Read;
    let mut r = std::io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let bad = || corrupt("malformed index scratch file");
    let uvarint = move |r: &mut std::io::BufReader<File>| -> io::Result<Option<u64>> {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let mut byte = [0u8; 1];
            if r.read(&mut byte)? == 0 {
                return if shift == 0 { Ok(None) } else { Err(bad()) };
            }
            v |= u64::from(byte[0] & 0x7f) << shift;
            if byte[0] < 0x80 {
                return Ok(Some(v));
            }
            shift += 7;
            if shift > 63 {
                return Err(bad());
            }
        }
    };
    Ok(std::iter::from_fn(move || {
        let mut next = || -> io::Result<Option<Entry>> {
            let Some(len) = uvarint(&mut r)? else {
                return Ok(None);
            };
            let mut lb = vec![0u8; len as usize];
            r.read_exact(&mut lb)?;
            let labels = Labels::from_bytes(&lb).ok_or_else(bad)?;
            let mut field = || uvarint(&mut r)?.ok_or_else(bad);
            let (offset, len, min_t, max_t) = (field()?, field()?, field()?, field()?);
            Ok(Some(Entry {
                labels,
                offset,
                len,
                min_t: unzigzag(min_t),
                max_t: unzigzag(max_t),
            }))
        };
        next().transpose()
    }))
}

fn write_from_scratch(
    path: &Path,
    scratch: &Path,
    symbols: std::collections::HashSet<Box<str>>,
    num_series: u64,
) -> io::Result<()> {
    // Symbols: every name and value, and "" (the list of all series).
    let mut symbols: Vec<Box<str>> = symbols.into_iter().collect();
    symbols.sort_unstable();
    let sym = |s: &str| symbols.binary_search_by(|x| (**x).cmp(s)).unwrap_or(0) as u64;

    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(MAGIC);
    let symbols_off = out.len() as u64;
    write_uvarint(&mut out, symbols.len() as u64);
    for s in &symbols {
        write_uvarint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    let symbols_len = out.len() as u64 - symbols_off;
    while !(out.len() as u64).is_multiple_of(ALIGN) {
        out.push(0);
    }
    let series_start = out.len() as u64;

    let file = File::create(path)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&out)?;
    let mut pos = series_start;
    // Postings by (name, value) symbol numbers; the series' references grow, so each
    // list is sorted as it is built.
    let mut postings: std::collections::BTreeMap<(u64, u64), Vec<u32>> = Default::default();
    let mut all = Vec::with_capacity(num_series as usize);
    let mut e_buf = Vec::with_capacity(256);
    for e in scratch_entries(scratch)? {
        let e = e?;
        let r = (pos - series_start) / ALIGN;
        let r = u32::try_from(r).map_err(|_| io::Error::other("block index over 64 GiB"))?;
        all.push(r);
        e_buf.clear();
        write_uvarint(&mut e_buf, e.labels.len() as u64);
        for (n, v) in e.labels.iter() {
            let (ns, vs) = (sym(n), sym(v));
            write_uvarint(&mut e_buf, ns);
            write_uvarint(&mut e_buf, vs);
            postings.entry((ns, vs)).or_default().push(r);
        }
        write_uvarint(&mut e_buf, e.offset);
        write_uvarint(&mut e_buf, e.len);
        write_uvarint(&mut e_buf, zigzag(e.min_t));
        write_uvarint(&mut e_buf, zigzag(e.max_t));
        let crc = crc32fast::hash(&e_buf);
        e_buf.extend_from_slice(&crc.to_le_bytes());
        while !(e_buf.len() as u64).is_multiple_of(ALIGN) {
            e_buf.push(0);
        }
        w.write_all(&e_buf)?;
        pos += e_buf.len() as u64;
    }
    postings.insert((0, 0), all);
    let mut table = Vec::new();
    write_uvarint(&mut table, postings.len() as u64);
    let mut list = Vec::new();
    for ((ns, vs), refs) in &postings {
        list.clear();
        for r in refs {
            list.extend_from_slice(&r.to_le_bytes());
        }
        write_uvarint(&mut table, *ns);
        write_uvarint(&mut table, *vs);
        write_uvarint(&mut table, pos);
        write_uvarint(&mut table, refs.len() as u64);
        table.extend_from_slice(&crc32fast::hash(&list).to_le_bytes());
        w.write_all(&list)?;
        pos += list.len() as u64;
    }
    let table_off = pos;
    w.write_all(&table)?;
    let mut footer = Vec::with_capacity(FOOTER);
    footer.extend_from_slice(&symbols_off.to_le_bytes());
    footer.extend_from_slice(&symbols_len.to_le_bytes());
    footer.extend_from_slice(&table_off.to_le_bytes());
    footer.extend_from_slice(&(table.len() as u64).to_le_bytes());
    let n = u32::try_from(num_series).map_err(|_| io::Error::other("too many series"))?;
    footer.extend_from_slice(&n.to_le_bytes());
    footer.extend_from_slice(&series_start.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&out[symbols_off as usize..(symbols_off + symbols_len) as usize]);
    h.update(&table);
    h.update(&footer);
    footer.extend_from_slice(&h.finalize().to_le_bytes());
    debug_assert_eq!(footer.len(), FOOTER);
    w.write_all(&footer)?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// A postings list's place in the file.
struct List {
    name: u32,
    value: u32,
    offset: u64,
    count: u32,
    crc: u32,
}

/// An open index: symbols and the postings table in memory, the rest read on demand.
pub(crate) struct IndexReader {
    file: File,
    /// Every symbol's bytes, one after the other, and where each ends.
    symbols: String,
    ends: Vec<u32>,
    lists: Vec<List>,
    series_start: u64,
    /// Where the series section ends (the first postings list starts).
    series_end: u64,
    num_series: u32,
}

/// Whether a stored checksum matches. The fuzz target (`fuzz/fuzz_targets/block_index.rs`,
/// built with `--cfg fuzzing`) takes every checksum as matching, so that its inputs reach
/// the parsing behind them instead of stopping at the first check.
pub(super) fn checksum_ok(computed: u32, stored: u32) -> bool {
    cfg!(fuzzing) || computed == stored
}

pub(super) fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl IndexReader {
    pub fn open(path: &Path) -> io::Result<IndexReader> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        let bad = |what: &str| corrupt(format!("{}: {what}", path.display()));
        if size < (MAGIC.len() + FOOTER) as u64 {
            return Err(bad("index too short"));
        }
        let mut magic = [0u8; 8];
        file.read_exact_at(&mut magic, 0)?;
        if &magic != MAGIC {
            return Err(bad("not a version-2 index"));
        }
        let mut footer = [0u8; FOOTER];
        file.read_exact_at(&mut footer, size - FOOTER as u64)?;
        let u64_at = |i: usize| u64::from_le_bytes(footer[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(footer[i..i + 4].try_into().unwrap_or([0; 4]));
        let (symbols_off, symbols_len, table_off, table_len) =
            (u64_at(0), u64_at(8), u64_at(16), u64_at(24));
        let (num_series, series_start, crc) = (u32_at(32), u64_at(36), u32_at(44));
        let within = |off: u64, len: u64| off.checked_add(len).is_some_and(|e| e <= size);
        if !within(symbols_off, symbols_len)
            || !within(table_off, table_len)
            || len_too_big(symbols_len)
            || len_too_big(table_len)
        {
            return Err(bad("index footer out of range"));
        }
        let mut sym_bytes = vec![0u8; symbols_len as usize];
        file.read_exact_at(&mut sym_bytes, symbols_off)?;
        let mut table = vec![0u8; table_len as usize];
        file.read_exact_at(&mut table, table_off)?;
        let mut h = crc32fast::Hasher::new();
        h.update(&sym_bytes);
        h.update(&table);
        h.update(&footer[..44]);
        if !checksum_ok(h.finalize(), crc) {
            return Err(bad("index checksum mismatch"));
        }
        let malformed = || bad("malformed index");
        let mut pos = 0;
        let n = read_uvarint(&sym_bytes, &mut pos).ok_or_else(malformed)? as usize;
        let mut symbols = String::with_capacity(sym_bytes.len());
        let mut ends = Vec::with_capacity(n.min(sym_bytes.len()));
        for _ in 0..n {
            let len = read_uvarint(&sym_bytes, &mut pos).ok_or_else(malformed)? as usize;
            let end = pos.checked_add(len).ok_or_else(malformed)?;
            let s = sym_bytes.get(pos..end).ok_or_else(malformed)?;
            let s = std::str::from_utf8(s).map_err(|_| malformed())?;
            symbols.push_str(s);
            ends.push(u32::try_from(symbols.len()).map_err(|_| malformed())?);
            pos = end;
        }
        symbols.shrink_to_fit();
        let mut pos = 0;
        let n = read_uvarint(&table, &mut pos).ok_or_else(malformed)? as usize;
        let mut lists = Vec::with_capacity(n.min(table.len()));
        for _ in 0..n {
            let mut next = || read_uvarint(&table, &mut pos).ok_or_else(malformed);
            let (name, value, offset, count) = (next()?, next()?, next()?, next()?);
            let crc = table
                .get(pos..pos + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or_else(malformed)?;
            pos += 4;
            let fits = |s: u64| s < ends.len() as u64;
            if !fits(name) || !fits(value) || !within(offset, count.saturating_mul(4)) {
                return Err(malformed());
            }
            lists.push(List {
                name: name as u32,
                value: value as u32,
                offset,
                count: u32::try_from(count).map_err(|_| malformed())?,
                crc,
            });
        }
        if !lists.is_sorted_by_key(|l| (l.name, l.value)) {
            return Err(malformed());
        }
        let series_end = lists.iter().map(|l| l.offset).min().unwrap_or(table_off);
        if series_start > series_end {
            return Err(malformed());
        }
        let r = IndexReader {
            file,
            symbols,
            ends,
            lists,
            series_start,
            series_end,
            num_series,
        };
        if r.symbol(0) != Some("") {
            return Err(malformed());
        }
        Ok(r)
    }

    pub fn num_series(&self) -> usize {
        self.num_series as usize
    }

    /// What the open index holds in memory.
    pub fn memory_bytes(&self) -> usize {
        self.symbols.capacity()
            + self.ends.capacity() * 4
            + self.lists.capacity() * std::mem::size_of::<List>()
    }

    fn symbol(&self, i: u32) -> Option<&str> {
        let end = *self.ends.get(i as usize)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i as usize - 1] as usize,
        };
        self.symbols.get(start..end)
    }

    /// The number of a symbol (symbols are sorted).
    fn find_symbol(&self, s: &str) -> Option<u32> {
        let (mut lo, mut hi) = (0usize, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.symbol(mid as u32)?.cmp(s) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }

    /// The table's lists of label `name`.
    fn lists_of(&self, name: &str) -> &[List] {
        let Some(n) = self.find_symbol(name) else {
            return &[];
        };
        let a = self.lists.partition_point(|l| l.name < n);
        let b = self.lists.partition_point(|l| l.name <= n);
        &self.lists[a..b]
    }

    fn read_list(&self, l: &List) -> io::Result<Vec<u32>> {
        let mut b = vec![0u8; l.count as usize * 4];
        self.file.read_exact_at(&mut b, l.offset)?;
        if !checksum_ok(crc32fast::hash(&b), l.crc) {
            return Err(corrupt("postings list checksum mismatch"));
        }
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Every series' reference, in label order.
    pub fn all(&self) -> io::Result<Vec<u32>> {
        match self.lists.first() {
            Some(l) if l.name == 0 && l.value == 0 => self.read_list(l),
            _ => Err(corrupt("index without the list of all series")),
        }
    }

    /// Per matcher that does not match "", the lists of the values it matches; `None`
    /// for a name the block does not have (nothing can match).
    pub fn lists_for(&self, m: &Matcher) -> io::Result<Option<Vec<Vec<u32>>>> {
        let lists = self.lists_of(&m.name);
        if lists.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        match m.values() {
            Some(wanted) => {
                for v in wanted {
                    let Some(vs) = self.find_symbol(v) else {
                        continue;
                    };
                    if let Ok(i) = lists.binary_search_by_key(&vs, |l| l.value) {
                        out.push(self.read_list(&lists[i])?);
                    }
                }
            }
            None => {
                for l in lists {
                    if self.symbol(l.value).is_some_and(|v| m.matches(v)) {
                        out.push(self.read_list(l)?);
                    }
                }
            }
        }
        Ok(Some(out))
    }

    /// A reader of series entries; references asked in increasing order share reads.
    pub fn series(&self) -> SeriesReader<'_> {
        SeriesReader {
            idx: self,
            buf: Vec::new(),
            buf_start: 0,
        }
    }
}

/// Sizes read from the footer are held in memory: refuse absurd ones.
fn len_too_big(len: u64) -> bool {
    len > 4 << 30
}

/// Reads series entries through a window of the file.
pub(crate) struct SeriesReader<'a> {
    idx: &'a IndexReader,
    buf: Vec<u8>,
    buf_start: u64,
}

/// Series entries are read this much at a time: a query's candidates are sorted, and
/// neighbours in label order (a metric's series) share a read.
const WINDOW: u64 = 16 << 10;

impl SeriesReader<'_> {
    /// Make the window hold `[off, off + need)` (less at the section's end).
    fn fill(&mut self, off: u64, need: u64) -> io::Result<()> {
        let end = self.idx.series_end;
        let have = off >= self.buf_start && off + need <= self.buf_start + self.buf.len() as u64;
        if have || off >= end {
            return Ok(());
        }
        let len = need.max(WINDOW).min(end - off);
        self.buf.resize(len as usize, 0);
        self.idx.file.read_exact_at(&mut self.buf, off)?;
        self.buf_start = off;
        Ok(())
    }

    pub fn entry(&mut self, r: u32) -> io::Result<Entry> {
        let bad = || corrupt(format!("malformed series entry {r}"));
        let off = self.idx.series_start + u64::from(r) * ALIGN;
        if off >= self.idx.series_end {
            return Err(bad());
        }
        let mut need = 256;
        loop {
            self.fill(off, need)?;
            let at = (off - self.buf_start) as usize;
            let b = self.buf.get(at..).unwrap_or_default();
            match self.parse(b) {
                Ok(Some(e)) => return Ok(e),
                Ok(None) if (b.len() as u64) < self.idx.series_end - off => need *= 4,
                Ok(None) => return Err(bad()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Parse an entry at the start of `b`: `None` when `b` ends first.
    fn parse(&self, b: &[u8]) -> io::Result<Option<Entry>> {
        let bad = || corrupt("malformed series entry");
        let mut pos = 0;
        let Some(n) = read_uvarint(b, &mut pos) else {
            return Ok(None);
        };
        let mut packed = Vec::with_capacity(n.min(64) as usize * 24);
        let mut prev: Option<&str> = None;
        for _ in 0..n {
            let (Some(ns), Some(vs)) = (read_uvarint(b, &mut pos), read_uvarint(b, &mut pos))
            else {
                return Ok(None);
            };
            let sym = |s: u64| u32::try_from(s).ok().and_then(|s| self.idx.symbol(s));
            let (Some(name), Some(value)) = (sym(ns), sym(vs)) else {
                return Err(bad());
            };
            if prev.is_some_and(|p| p > name) {
                return Err(bad());
            }
            prev = Some(name);
            write_uvarint(&mut packed, name.len() as u64);
            packed.extend_from_slice(name.as_bytes());
            write_uvarint(&mut packed, value.len() as u64);
            packed.extend_from_slice(value.as_bytes());
        }
        let mut next = || read_uvarint(b, &mut pos);
        let (Some(offset), Some(len), Some(min_t), Some(max_t)) = (next(), next(), next(), next())
        else {
            return Ok(None);
        };
        let Some(crc) = b.get(pos..pos + 4) else {
            return Ok(None);
        };
        let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if !checksum_ok(crc32fast::hash(&b[..pos]), stored) {
            return Err(corrupt("series entry checksum mismatch"));
        }
        let labels = Labels::from_bytes(&packed).ok_or_else(bad)?;
        Ok(Some(Entry {
            labels,
            offset,
            len,
            min_t: unzigzag(min_t),
            max_t: unzigzag(max_t),
        }))
    }
}
