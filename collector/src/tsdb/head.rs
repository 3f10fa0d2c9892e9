//! The in-memory head: the newest samples of every active series, in XOR chunks, with
//! an inverted index (postings) for label matchers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::chunk::{XorAppender, SAMPLES_PER_CHUNK};
use super::head_chunks::{DiskRef, HeadChunks, Header};
use super::labels::{Labels, Matcher};
use super::postings;
use super::query::{ChunkData, SeriesChunks};

/// A head chunk is also cut when its bytes reach this size. The open chunk is most of
/// what a series costs in memory, and closed chunks cost none (they are on disk, linked
/// from the newest): 128 bytes (50 to 120 samples) keeps a series of a full head near
/// 400 bytes, where 256 took 520 (`examples/headbench.rs`, 200,000 series, 3 h at 10 s).
/// Prometheus later added such a cap too (1 KiB). Blocks re-encode samples, so the cap
/// changes nothing in them.
const HEAD_CHUNK_MAX_BYTES: usize = 128;

pub type SeriesRef = u64;

/// Why a sample was not appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Older than the newest sample of its series.
    OutOfOrder,
    /// Same timestamp as the newest sample, different value.
    Duplicate,
    /// Older than what the head still accepts (already persisted into blocks).
    OutOfBounds,
}

impl Rejected {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::OutOfOrder => "out_of_order",
            Rejected::Duplicate => "duplicate",
            Rejected::OutOfBounds => "out_of_bounds",
        }
    }
}

/// One series of the head: its labels and ref, which never change (read without its
/// lock: the head's tables compare and hash them), and its chunks behind a lock. 112
/// bytes, so that with the `Arc`'s counts it fits a 128-byte allocation (at a million
/// series, every 8 bytes is 8 MB).
pub struct HeadSeries {
    pub labels: Labels,
    pub sref: SeriesRef,
    state: Mutex<MemSeries>,
}

impl HeadSeries {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, MemSeries> {
        lock(&self.state)
    }

    fn chunks_in(&self, mint: i64, maxt: i64, floor: i64, files: &HeadChunks) -> Vec<ChunkData> {
        self.lock().chunks_in(self.sref, mint, maxt, floor, files)
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.labels.as_bytes().len() + self.lock().memory_bytes()
    }
}

/// A head series' chunks. Chunks the files could not take are kept by the head's
/// [`HeadChunks`], not here.
pub struct MemSeries {
    /// Where the newest closed chunk is in the head-chunks files; its record there links
    /// to the chunk before it, and so on.
    last: Option<DiskRef>,
    open: Option<XorAppender>,
    /// Set when the head dropped the series; appenders then look it up again.
    pub(crate) removed: bool,
    /// Whether the series record is in the WAL.
    pub(crate) logged: bool,
}

impl MemSeries {
    fn new() -> MemSeries {
        MemSeries {
            last: None,
            open: None,
            removed: false,
            logged: false,
        }
    }

    fn open_chunk(&self) -> Option<&XorAppender> {
        self.open.as_ref().filter(|a| a.count() > 0)
    }

    /// The end of the newest closed chunk.
    fn closed_max(&self, sref: SeriesRef, files: &HeadChunks) -> Option<i64> {
        let disk = self.last.and_then(|at| files.header(at)).map(|h| h.max_t);
        let kept = files
            .with_kept(sref, |k| k.last().map(|c| c.max_t))
            .flatten();
        disk.max(kept)
    }

    /// Whether the series has samples in `[mint, maxt]` (and at or after `floor`).
    fn has_data_in(
        &self,
        sref: SeriesRef,
        mint: i64,
        maxt: i64,
        floor: i64,
        files: &HeadChunks,
    ) -> bool {
        let lo = mint.max(floor);
        if let Some(a) = self.open_chunk() {
            if a.max_time() >= lo && a.min_time() <= maxt {
                return true;
            }
        }
        files
            .with_kept(sref, |k| k.iter().any(|c| c.max_t >= lo && c.min_t <= maxt))
            .unwrap_or(false)
            || self.closed_headers_from(lo, files).any(|h| h.min_t <= maxt)
    }

    /// Append one sample; `chunk_range` aligns chunk boundaries with block boundaries.
    pub(crate) fn append(
        &mut self,
        sref: SeriesRef,
        t: i64,
        v: f64,
        chunk_range: i64,
        files: &HeadChunks,
    ) -> Result<bool, Rejected> {
        if let Some(a) = self.open_chunk() {
            if t < a.max_time() {
                return Err(Rejected::OutOfOrder);
            }
            if t == a.max_time() {
                if a.last_value().to_bits() == v.to_bits() {
                    return Ok(false);
                }
                return Err(Rejected::Duplicate);
            }
        } else if self.closed_max(sref, files).is_some_and(|m| t <= m) {
            return Err(Rejected::OutOfOrder);
        }
        let cut = match self.open_chunk() {
            None => true,
            Some(a) => {
                // A chunk ends with its chunk range (aligned with blocks).
                let end = (a.min_time().div_euclid(chunk_range) + 1).saturating_mul(chunk_range);
                a.count() >= SAMPLES_PER_CHUNK
                    || a.bytes().len() >= HEAD_CHUNK_MAX_BYTES
                    || t >= end
            }
        };
        if cut {
            self.close_open_chunk(sref, files);
            self.open = Some(XorAppender::default());
        }
        if let Some(a) = self.open.as_mut() {
            a.append(t, v);
        }
        Ok(true)
    }

    fn close_open_chunk(&mut self, sref: SeriesRef, files: &HeadChunks) {
        let Some(a) = self.open.take().filter(|a| a.count() > 0) else {
            return;
        };
        let (min_t, max_t) = (a.min_time(), a.max_time());
        match files.write(a.bytes(), min_t, max_t, self.last) {
            Some(at) => self.last = Some(at),
            None => files.keep(
                sref,
                ChunkData {
                    min_t,
                    max_t,
                    data: a.bytes().into(),
                },
            ),
        }
    }

    /// The closed chunks on disk from the newest back, while they end at or after `lo`,
    /// each as `read` gives it (its header alone, or with its bytes: one `pread` either
    /// way). None when the open chunk starts at or before `lo`: every closed chunk ends
    /// before it.
    fn closed_from<'a, T>(
        &self,
        lo: i64,
        files: &'a HeadChunks,
        read: impl Fn(&HeadChunks, DiskRef) -> Option<(Header, T)> + 'a,
    ) -> impl Iterator<Item = (Header, T)> + 'a {
        let skip = self.open_chunk().is_some_and(|a| a.min_time() <= lo);
        let mut next = if skip { None } else { self.last };
        std::iter::from_fn(move || {
            let (h, x) = read(files, next?).filter(|(h, _)| h.max_t >= lo)?;
            next = h.prev;
            Some((h, x))
        })
    }

    /// [`MemSeries::closed_from`] reading headers only.
    fn closed_headers_from<'a>(
        &self,
        lo: i64,
        files: &'a HeadChunks,
    ) -> impl Iterator<Item = Header> + 'a {
        self.closed_from(lo, files, |f, at| f.header(at).map(|h| (h, ())))
            .map(|(h, ())| h)
    }

    /// Chunks overlapping `[mint, maxt]`, the open one included, in time order. Closed
    /// chunks on disk are followed from the newest back to the first that ends before
    /// `mint` or before `floor` (what the head truncated: persisted in blocks).
    fn chunks_in(
        &self,
        sref: SeriesRef,
        mint: i64,
        maxt: i64,
        floor: i64,
        files: &HeadChunks,
    ) -> Vec<ChunkData> {
        let lo = mint.max(floor);
        let mut out: Vec<ChunkData> = self
            .closed_from(lo, files, HeadChunks::read)
            .filter(|(h, _)| h.min_t <= maxt)
            .map(|(_, c)| c)
            .collect();
        out.reverse();
        let kept = files.with_kept(sref, |k| {
            k.iter()
                .filter(|c| c.max_t >= lo && c.min_t <= maxt)
                .cloned()
                .collect::<Vec<_>>()
        });
        if let Some(kept) = kept.filter(|k| !k.is_empty()) {
            out.extend(kept);
            out.sort_by_key(|c| c.min_t);
        }
        if let Some(a) = self.open_chunk() {
            if a.max_time() >= lo && a.min_time() <= maxt {
                out.push(ChunkData {
                    min_t: a.min_time(),
                    max_t: a.max_time(),
                    data: a.bytes().into(),
                });
            }
        }
        out
    }

    /// Drop chunks that end before `t`; returns the first sample's time still in the
    /// head, `None` when the series is left empty.
    fn truncate_before(&mut self, sref: SeriesRef, t: i64, files: &HeadChunks) -> Option<i64> {
        let kept = files
            .with_kept(sref, |k| {
                k.retain(|c| c.max_t >= t);
                k.first().map(|c| c.min_t)
            })
            .flatten();
        // The start of the oldest chunk on disk that ends at or after `t`, found by
        // following the links back.
        let oldest_on_disk = self.closed_headers_from(t, files).last().map(|h| h.min_t);
        if oldest_on_disk.is_none() {
            // Every chunk on disk ends before `t` (when the open chunk starts at or before
            // `t`, they end before it).
            self.last = None;
        }
        if self.open_chunk().is_some_and(|a| a.max_time() < t) {
            self.open = None;
        }
        [
            oldest_on_disk,
            kept,
            self.open_chunk().map(|a| a.min_time()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            // The appender itself is inside `Self`; its bytes are on the heap.
            + self.open.as_ref().map_or(0, |a| a.bytes().len())
    }
}

pub type SeriesHandle = Arc<HeadSeries>;

#[derive(Default)]
struct Index {
    next_ref: SeriesRef,
    /// Series by ref, and by the hash of their labels: tables of handles alone (8 bytes
    /// a series each; maps from ref to handle and from hash to refs took 16 and 24).
    series: hashbrown::HashTable<SeriesHandle>,
    by_labels: hashbrown::HashTable<SeriesHandle>,
    postings: postings::Postings<SeriesRef>,
    selections: Mutex<Selections>,
}

/// The label by which selections are kept per value: the mesh model is evaluated node by
/// node after each scrape (`rules::partition`), so every selector of the model comes back
/// with `node="a"` or `node=~"a|b|…"` added, several times a second; dashboards filter by
/// `node=~"$node"` too.
const SELECTION_LABEL: &str = "node";

/// At most this many selections are kept (a selector's other matchers make its key); when
/// a new one would pass it, all are dropped and rebuilt as they are asked for again, so
/// that one-off queries cannot keep the mesh model's out, nor hold memory for ever.
const MAX_SELECTIONS: usize = 1024;

/// Standing selections: for a selector's matchers other than its `node` matcher, the
/// matching series grouped by their `node` value, kept up to date as series come and go.
/// A selector restricted to a few nodes then costs a lookup per node instead of an
/// intersection of postings and a check of every candidate's labels.
#[derive(Default)]
struct Selections {
    by_key: HashMap<String, Selection>,
    /// Keys by the metric name their selection requires (most have one), and those that
    /// require none: a new series is checked against these only.
    by_name: HashMap<Box<str>, Vec<String>>,
    unnamed: Vec<String>,
}

struct Selection {
    matchers: Vec<Matcher>,
    /// Refs by `node` value, each list sorted.
    by_value: HashMap<Box<str>, Vec<SeriesRef>>,
}

impl Selections {
    fn keys_for(&self, labels: &Labels) -> impl Iterator<Item = &String> {
        let named = labels.name().and_then(|n| self.by_name.get(n));
        named.into_iter().flatten().chain(self.unnamed.iter())
    }

    /// A series was created: add it where it matches.
    fn added(&mut self, sref: SeriesRef, labels: &Labels) {
        let Some(v) = labels.get(SELECTION_LABEL).filter(|v| !v.is_empty()) else {
            return;
        };
        let keys: Vec<String> = self
            .keys_for(labels)
            .filter(|k| {
                self.by_key[k.as_str()]
                    .matchers
                    .iter()
                    .all(|m| m.matches_labels(labels))
            })
            .cloned()
            .collect();
        for k in keys {
            if let Some(sel) = self.by_key.get_mut(&k) {
                insert_sorted(sel.by_value.entry(v.into()).or_default(), sref);
            }
        }
    }

    /// A series was removed.
    fn removed(&mut self, sref: SeriesRef, labels: &Labels) {
        let Some(v) = labels.get(SELECTION_LABEL).filter(|v| !v.is_empty()) else {
            return;
        };
        let keys: Vec<String> = self.keys_for(labels).cloned().collect();
        for k in keys {
            let Some(sel) = self.by_key.get_mut(&k) else {
                continue;
            };
            if let Some(list) = sel.by_value.get_mut(v) {
                list.retain(|r| *r != sref);
                if list.is_empty() {
                    sel.by_value.remove(v);
                }
            }
        }
    }
}

/// Add `r` to a sorted list of refs. New series take increasing refs (a push); a replayed
/// one (a checkpoint's order) may not, and the lists stay sorted for binary searches.
fn insert_sorted(list: &mut Vec<SeriesRef>, r: SeriesRef) {
    match list.last() {
        Some(last) if *last > r => {
            let i = list.partition_point(|x| *x < r);
            list.insert(i, r);
        }
        _ => list.push(r),
    }
}

/// `matchers` split into the `node` matcher with its few values and the others' key;
/// `None` when the selector has no such matcher.
fn selection_key(matchers: &[Matcher]) -> Option<(usize, &[String], String)> {
    let i = matchers
        .iter()
        .position(|m| m.name == SELECTION_LABEL && m.values().is_some())?;
    // A series without the label has the value "": the selections do not hold those.
    let values = matchers[i]
        .values()
        .filter(|v| !v.iter().any(String::is_empty))?;
    let mut rest: Vec<String> = matchers
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, m)| m.to_string())
        .collect();
    rest.sort_unstable();
    Some((i, values, rest.join("\u{0}")))
}

/// A ref's hash for the table of series (splitmix64's finaliser: refs are dense).
fn ref_hash(r: SeriesRef) -> u64 {
    let mut z = r.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Index {
    fn get(&self, r: SeriesRef) -> Option<&SeriesHandle> {
        self.series.find(ref_hash(r), |s| s.sref == r)
    }

    fn remove(&mut self, sref: SeriesRef, labels: &Labels) {
        lock(&self.selections).removed(sref, labels);
        let Ok(e) = self.series.find_entry(ref_hash(sref), |s| s.sref == sref) else {
            return;
        };
        let (handle, _) = e.remove();
        if let Ok(e) = self
            .by_labels
            .find_entry(labels.hash64(), |s| Arc::ptr_eq(s, &handle))
        {
            e.remove();
        }
        for (n, val) in labels.iter() {
            if let Some(values) = self.postings.get_mut(n) {
                if let Some(p) = values.get_mut(val) {
                    p.retain(|r| *r != sref);
                    if p.is_empty() {
                        values.remove(val);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(n);
                }
            }
        }
    }
}

/// The head block.
pub struct Head {
    index: RwLock<Index>,
    pub(crate) chunk_range: i64,
    /// Samples before this time are rejected: they belong to persisted blocks.
    min_valid_time: AtomicI64,
    files: HeadChunks,
    min_time: AtomicI64,
    max_time: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Head {
    /// A head that keeps every chunk in memory.
    pub fn new(chunk_range: i64) -> Head {
        Head::with_files(chunk_range, HeadChunks::in_memory())
    }

    /// A head that writes closed chunks to files in `dir` (emptied first).
    pub fn with_chunk_dir(chunk_range: i64, dir: &std::path::Path) -> std::io::Result<Head> {
        Ok(Head::with_files(chunk_range, HeadChunks::on_disk(dir)?))
    }

    fn with_files(chunk_range: i64, files: HeadChunks) -> Head {
        Head {
            files,
            index: RwLock::new(Index {
                next_ref: 1,
                ..Index::default()
            }),
            chunk_range,
            min_valid_time: AtomicI64::new(i64::MIN),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Find the series with these labels.
    pub fn get(&self, labels: &Labels) -> Option<SeriesHandle> {
        let idx = self.read();
        idx.by_labels
            .find(labels.hash64(), |s| s.labels == *labels)
            .cloned()
    }

    /// Find or create the series; `true` when it was created.
    pub fn get_or_create(&self, labels: &Labels) -> (SeriesHandle, bool) {
        if let Some(s) = self.get(labels) {
            return (s, false);
        }
        self.create_with_ref(labels, None)
    }

    /// Create a series with a given ref (WAL replay) or a new one.
    pub(crate) fn create_with_ref(
        &self,
        labels: &Labels,
        sref: Option<SeriesRef>,
    ) -> (SeriesHandle, bool) {
        let mut idx = self.write();
        let h = labels.hash64();
        if let Some(s) = idx.by_labels.find(h, |s| s.labels == *labels) {
            return (s.clone(), false);
        }
        let logged = sref.is_some();
        let sref = match sref {
            Some(r) => {
                idx.next_ref = idx.next_ref.max(r + 1);
                r
            }
            None => {
                let r = idx.next_ref;
                idx.next_ref += 1;
                r
            }
        };
        let mut ms = MemSeries::new();
        ms.logged = logged;
        let s = Arc::new(HeadSeries {
            labels: labels.clone(),
            sref,
            state: Mutex::new(ms),
        });
        idx.series
            .insert_unique(ref_hash(sref), s.clone(), |s| ref_hash(s.sref));
        // Growing the table hashes every series' labels again (the hash is not stored:
        // 8 bytes a series).
        idx.by_labels
            .insert_unique(h, s.clone(), |s| s.labels.hash64());
        for (n, v) in labels.iter() {
            let p = idx
                .postings
                .entry(n.into())
                .or_default()
                .entry(v.into())
                .or_default();
            insert_sorted(p, sref);
        }
        lock(&idx.selections).added(sref, labels);
        (s, true)
    }

    pub fn series_by_ref(&self, sref: SeriesRef) -> Option<SeriesHandle> {
        self.read().get(sref).cloned()
    }

    /// Append to a series handle.
    pub fn append(&self, s: &SeriesHandle, t: i64, v: f64) -> Result<bool, Rejected> {
        if t < self.min_valid_time.load(Ordering::Relaxed) {
            return Err(Rejected::OutOfBounds);
        }
        let r = s.lock().append(s.sref, t, v, self.chunk_range, &self.files);
        if r.is_ok() {
            self.min_time.fetch_min(t, Ordering::Relaxed);
            self.max_time.fetch_max(t, Ordering::Relaxed);
        }
        r
    }

    /// Give back the spare capacity of the index (postings lists grow by doubling while
    /// series are created). Run by the store's periodic maintenance.
    pub fn shrink_index(&self) {
        let mut idx = self.write();
        for values in idx.postings.values_mut() {
            for list in values.values_mut() {
                list.shrink_to_fit();
            }
            values.shrink_to_fit();
        }
        idx.postings.shrink_to_fit();
        idx.series.shrink_to_fit(|s| ref_hash(s.sref));
        idx.by_labels.shrink_to_fit(|s| s.labels.hash64());
    }

    /// Bytes of closed head chunks on disk.
    pub fn chunk_files_bytes(&self) -> u64 {
        self.files.size_bytes()
    }

    pub fn num_series(&self) -> usize {
        self.read().series.len()
    }

    /// `(min, max)` sample time in the head, if it has samples.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let (a, b) = (
            self.min_time.load(Ordering::Relaxed),
            self.max_time.load(Ordering::Relaxed),
        );
        (a <= b).then_some((a, b))
    }

    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Relaxed)
    }

    /// Refs of series whose labels match all matchers.
    fn matching(&self, idx: &Index, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let Some((i, values, key)) = selection_key(matchers) else {
            return self.matching_by_postings(idx, matchers);
        };
        let mut sel = lock(&idx.selections);
        if !sel.by_key.contains_key(&key) {
            if sel.by_key.len() >= MAX_SELECTIONS {
                *sel = Selections::default();
            }
            let rest: Vec<Matcher> = matchers
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, m)| m.clone())
                .collect();
            let mut by_value: HashMap<Box<str>, Vec<SeriesRef>> = HashMap::new();
            for r in self.matching_by_postings(idx, &rest) {
                if let Some(s) = idx.get(r) {
                    if let Some(v) = s.labels.get(SELECTION_LABEL).filter(|v| !v.is_empty()) {
                        by_value.entry(v.into()).or_default().push(r);
                    }
                }
            }
            let name = rest
                .iter()
                .find(|m| m.name == "__name__" && m.op == super::labels::MatchOp::Equal)
                .map(|m| m.value.clone());
            match name {
                Some(n) => sel.by_name.entry(n.into()).or_default().push(key.clone()),
                None => sel.unnamed.push(key.clone()),
            }
            sel.by_key.insert(
                key.clone(),
                Selection {
                    matchers: rest,
                    by_value,
                },
            );
        }
        let by_value = &sel.by_key[&key].by_value;
        let lists: Vec<&[SeriesRef]> = values
            .iter()
            .filter_map(|v| by_value.get(v.as_str()))
            .map(Vec::as_slice)
            .collect();
        postings::union(&lists)
    }

    /// [`Head::matching`] from the postings, without the standing selections.
    fn matching_by_postings(&self, idx: &Index, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let mut cand = postings::candidates(&idx.postings, matchers, || {
            idx.series.iter().map(|s| s.sref).collect()
        });
        cand.retain(|r| {
            idx.get(*r)
                .is_some_and(|s| matchers.iter().all(|m| m.matches_labels(&s.labels)))
        });
        cand
    }

    /// Series matching `matchers` with chunks overlapping `[mint, maxt]`.
    pub fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        let idx = self.read();
        let refs = self.matching(&idx, matchers);
        refs.iter()
            .filter_map(|r| idx.get(*r))
            .filter_map(|s| {
                let chunks = s.chunks_in(mint, maxt, self.min_valid_time(), &self.files);
                (!chunks.is_empty()).then(|| SeriesChunks {
                    labels: s.labels.clone(),
                    chunks,
                })
            })
            .collect()
    }

    /// Label sets of matching series that have data in `[mint, maxt]`.
    pub fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let idx = self.read();
        self.matching(&idx, matchers)
            .iter()
            .filter_map(|r| idx.get(*r))
            .filter(|s| {
                s.lock()
                    .has_data_in(s.sref, mint, maxt, self.min_valid_time(), &self.files)
            })
            .map(|s| s.labels.clone())
            .collect()
    }

    /// Every series with its chunks in `[mint, maxt)`, sorted by labels (for persisting).
    /// Chunks are read one series at a time as the iterator goes, so persisting a head
    /// never holds more than one series' chunks beside the head itself.
    pub(crate) fn snapshot(&self, mint: i64, maxt: i64) -> impl Iterator<Item = SeriesChunks> + '_ {
        // Handles sorted by their labels (no copy of every series' labels).
        let mut all: Vec<SeriesHandle> = self.read().series.iter().cloned().collect();
        all.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
        all.into_iter().filter_map(move |s| {
            let chunks = s.chunks_in(mint, maxt - 1, self.min_valid_time(), &self.files);
            (!chunks.is_empty()).then(|| SeriesChunks {
                labels: s.labels.clone(),
                chunks,
            })
        })
    }

    /// Every series, in ref order (for WAL checkpoints).
    pub(crate) fn series_handles(&self) -> Vec<SeriesHandle> {
        let idx = self.read();
        let mut v: Vec<SeriesHandle> = idx.series.iter().cloned().collect();
        v.sort_unstable_by_key(|s| s.sref);
        v
    }

    /// One series' chunks overlapping `[mint, maxt]`.
    pub(crate) fn chunks_of(&self, s: &SeriesHandle, mint: i64, maxt: i64) -> Vec<ChunkData> {
        s.chunks_in(mint, maxt, self.min_valid_time(), &self.files)
    }

    /// Drop everything before `t` (persisted into a block) and series left empty.
    pub(crate) fn truncate(&self, t: i64) -> usize {
        self.min_valid_time.fetch_max(t, Ordering::Relaxed);
        let mut idx = self.write();
        let mut empty = Vec::new();
        let mut new_min = i64::MAX;
        for s in &idx.series {
            let mut g = s.lock();
            match g.truncate_before(s.sref, t, &self.files) {
                Some(first) => new_min = new_min.min(first),
                None => {
                    g.removed = true;
                    empty.push((s.sref, s.labels.clone()));
                }
            }
        }
        for (r, l) in &empty {
            idx.remove(*r, l);
        }
        self.min_time.store(new_min, Ordering::Relaxed);
        if idx.series.is_empty() {
            self.max_time.store(i64::MIN, Ordering::Relaxed);
        }
        drop(idx);
        self.files.truncate_before(t);
        empty.len()
    }

    /// Cardinality statistics for `/api/v1/status/tsdb`, each list the top `limit`:
    /// (series by metric name, distinct values by label name, bytes of values by label
    /// name, series by label pair), and the number of label pairs.
    #[allow(clippy::type_complexity)]
    pub fn cardinality(
        &self,
        limit: usize,
    ) -> (
        Vec<(String, u64)>,
        Vec<(String, u64)>,
        Vec<(String, u64)>,
        Vec<(String, u64)>,
        u64,
    ) {
        let idx = self.read();
        let top = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(limit);
            v
        };
        let mut by_name = Vec::new();
        let mut values_by_label = Vec::new();
        let mut bytes_by_label = Vec::new();
        let mut pairs = Vec::new();
        let mut n_pairs = 0u64;
        for (name, values) in &idx.postings {
            values_by_label.push((name.to_string(), values.len() as u64));
            let mut bytes = 0u64;
            for (value, refs) in values {
                n_pairs += 1;
                bytes += (value.len() * refs.len()) as u64;
                if &**name == "__name__" {
                    by_name.push((value.to_string(), refs.len() as u64));
                }
                pairs.push((format!("{name}={value}"), refs.len() as u64));
            }
            bytes_by_label.push((name.to_string(), bytes));
        }
        (
            top(by_name),
            top(values_by_label),
            top(bytes_by_label),
            top(pairs),
            n_pairs,
        )
    }

    /// Label names of matching series.
    pub fn label_names(&self, matchers: &[Matcher]) -> Vec<String> {
        let idx = self.read();
        if matchers.is_empty() {
            return idx.postings.keys().map(|k| k.to_string()).collect();
        }
        let mut names: Vec<String> = self
            .matching(&idx, matchers)
            .iter()
            .filter_map(|r| idx.get(*r))
            .flat_map(|s| s.labels.iter().map(|(n, _)| n.to_string()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Approximate bytes the head holds for its series (for `tsdb analyze` and the
    /// memory benchmark).
    pub fn memory_bytes(&self) -> usize {
        let idx = self.read();
        let series: usize = idx
            .series
            .iter()
            // The handle in both tables, and the `Arc`'s counts.
            .map(|s| s.memory_bytes() + 32)
            .sum();
        let postings: usize = idx
            .postings
            .iter()
            .map(|(k, v)| {
                k.len()
                    + 48
                    + v.iter()
                        .map(|(val, p)| val.len() + 48 + p.capacity() * 8)
                        .sum::<usize>()
            })
            .sum();
        series + postings + idx.by_labels.capacity() * 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::labels::MatchOp;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// A series with its lock and the `Arc`'s counts fits a 128-byte allocation.
    #[test]
    fn a_series_fits_128_bytes() {
        assert!(std::mem::size_of::<HeadSeries>() + 16 <= 128);
    }

    #[test]
    fn append_rejects_out_of_order_and_duplicates() {
        let h = Head::new(7_200_000);
        let (s, created) = h.get_or_create(&l(&[("__name__", "a")]));
        assert!(created);
        assert_eq!(h.append(&s, 10, 1.0), Ok(true));
        assert_eq!(h.append(&s, 10, 1.0), Ok(false));
        assert_eq!(h.append(&s, 10, 2.0), Err(Rejected::Duplicate));
        assert_eq!(h.append(&s, 5, 2.0), Err(Rejected::OutOfOrder));
        assert_eq!(h.append(&s, 20, 2.0), Ok(true));
        let (s2, created) = h.get_or_create(&l(&[("__name__", "a")]));
        assert!(!created);
        assert!(Arc::ptr_eq(&s, &s2));
    }

    #[test]
    fn chunks_cut_at_120_samples_and_block_boundaries() {
        let h = Head::new(1000);
        let (s, _) = h.get_or_create(&l(&[("__name__", "a")]));
        // A steady value: a few bits a sample, so that only the sample count and the
        // range cut chunks here (not their size).
        for t in 0..300 {
            h.append(&s, t * 5, 1.0).unwrap();
        }
        let c = &h.select(&[], 0, i64::MAX)[0];
        // 200 samples per 1000 ms range, cut at 120 and at t=1000: [0,600) [600,1000) [1000,1495]
        assert_eq!(
            c.chunks.iter().map(|c| c.min_t).collect::<Vec<_>>(),
            vec![0, 600, 1000]
        );
        assert_eq!(c.samples(0, i64::MAX).count(), 300);
        assert_eq!(c.samples(100, 199).count(), 20);
    }

    #[test]
    fn noisy_chunks_are_cut_by_size() {
        let h = Head::new(7_200_000);
        let (s, _) = h.get_or_create(&l(&[("__name__", "a")]));
        let mut v = 0.0;
        for t in 0..120 {
            // Increments whose low bits change every sample: about 3 bytes a sample.
            v += ((t * 7919) % 1000) as f64 + 0.25;
            h.append(&s, t * 15_000, v).unwrap();
        }
        let c = &h.select(&[], 0, i64::MAX)[0];
        assert!(c.chunks.len() >= 2, "{} chunks", c.chunks.len());
        assert!(c
            .chunks
            .iter()
            .all(|c| c.data.len() < HEAD_CHUNK_MAX_BYTES + 16));
        assert_eq!(c.samples(0, i64::MAX).count(), 120);
    }

    #[test]
    fn postings_select_with_all_matcher_kinds() {
        let h = Head::new(7_200_000);
        for (job, inst) in [
            ("node", "a"),
            ("node", "b"),
            ("rabbit", "a"),
            ("pulsar", "c"),
        ] {
            let (s, _) =
                h.get_or_create(&l(&[("__name__", "up"), ("job", job), ("instance", inst)]));
            h.append(&s, 1, 1.0).unwrap();
        }
        let (s, _) = h.get_or_create(&l(&[("__name__", "up"), ("instance", "z")]));
        h.append(&s, 1, 1.0).unwrap();
        let count = |ms: Vec<Matcher>| h.select(&ms, 0, 10).len();
        assert_eq!(count(vec![Matcher::equal("job", "node")]), 2);
        assert_eq!(
            count(vec![Matcher::new(MatchOp::NotEqual, "job", "node").unwrap()]),
            3
        );
        assert_eq!(
            count(vec![Matcher::new(MatchOp::Regex, "job", "n.*|r.*").unwrap()]),
            3
        );
        assert_eq!(
            count(vec![
                Matcher::new(MatchOp::NotRegex, "job", "n.*").unwrap(),
                Matcher::equal("instance", "a")
            ]),
            1
        );
        assert_eq!(count(vec![Matcher::equal("job", "")]), 1);
        assert_eq!(
            count(vec![
                Matcher::equal("__name__", "up"),
                Matcher::new(MatchOp::Regex, "job", ".+").unwrap()
            ]),
            4
        );
        assert_eq!(count(vec![Matcher::equal("job", "missing")]), 0);
    }

    /// Selectors with a `node` matcher are answered from the standing selections: equal
    /// to the postings' answer before and after series come and go.
    #[test]
    fn node_selections_stay_equal_to_the_postings() {
        let h = Head::new(100);
        let add = |name: &str, node: &str, cluster: &str, t: i64| {
            let (s, _) = h.get_or_create(&l(&[
                ("__name__", name),
                ("cluster", cluster),
                ("node", node),
            ]));
            h.append(&s, t, 1.0).unwrap();
        };
        for n in 0..20 {
            for c in ["local_app", "inbound|80", "web", "db"] {
                add("rq", &format!("n{n}"), c, 10);
            }
            add("up", &format!("n{n}"), "", 10);
        }
        let (s, _) = h.get_or_create(&l(&[("__name__", "rq"), ("cluster", "web")]));
        h.append(&s, 10, 1.0).unwrap();
        let cases = || -> Vec<Vec<Matcher>> {
            let re = |n: &str, v: &str| Matcher::new(MatchOp::Regex, n, v).unwrap();
            let not = |n: &str, v: &str| Matcher::new(MatchOp::NotRegex, n, v).unwrap();
            vec![
                vec![
                    Matcher::equal("__name__", "rq"),
                    Matcher::equal("node", "n3"),
                ],
                vec![Matcher::equal("__name__", "rq"), re("node", "n3|n7|n30")],
                vec![
                    Matcher::equal("__name__", "rq"),
                    not("cluster", "local_app|inbound\\|.*"),
                    re("node", "n1|n2|n11"),
                ],
                vec![re("__name__", "rq|up"), re("node", "n4|n5")],
                vec![Matcher::equal("node", "n9")],
                vec![Matcher::equal("__name__", "rq"), re("node", "n1|")],
            ]
        };
        let check = |h: &Head| {
            for ms in cases() {
                let idx = h.read();
                let mut want = h.matching_by_postings(&idx, &ms);
                want.sort_unstable();
                assert_eq!(h.matching(&idx, &ms), want, "{ms:?}");
            }
        };
        check(&h);
        check(&h);
        // New series of known selections, and some gone.
        for n in 15..25 {
            add("rq", &format!("n{n}"), "web", 300);
        }
        add("up", "n3", "", 300);
        assert!(h.truncate(200) > 0);
        check(&h);
        // One-off selectors past the bound: all are dropped, the answers stay right.
        for i in 0..MAX_SELECTIONS + 5 {
            let ms = [
                Matcher::equal("job", format!("j{i}")),
                Matcher::equal("node", "n1"),
            ];
            assert!(h.matching(&h.read(), &ms).is_empty());
        }
        assert!(lock(&h.read().selections).by_key.len() <= MAX_SELECTIONS);
        check(&h);
        assert_eq!(
            h.select(
                &[
                    Matcher::equal("__name__", "rq"),
                    Matcher::equal("node", "n21")
                ],
                0,
                1000
            )
            .len(),
            1
        );
    }

    #[test]
    fn truncate_drops_old_chunks_and_empty_series() {
        let h = Head::new(100);
        let (a, _) = h.get_or_create(&l(&[("__name__", "a")]));
        let (b, _) = h.get_or_create(&l(&[("__name__", "b")]));
        for t in 0..30 {
            h.append(&a, t * 10, 1.0).unwrap();
        }
        h.append(&b, 50, 1.0).unwrap();
        assert_eq!(h.truncate(200), 1);
        assert!(b.lock().removed);
        assert_eq!(h.num_series(), 1);
        assert_eq!(
            h.select(&[], 0, i64::MAX)[0]
                .samples(0, i64::MAX)
                .next()
                .map(|s| s.0),
            Some(200)
        );
        assert_eq!(h.append(&a, 150, 1.0), Err(Rejected::OutOfBounds));
        assert!(h.get(&l(&[("__name__", "b")])).is_none());
    }
}

#[cfg(test)]
mod disk_tests {
    use super::*;

    /// Closed chunks on disk keep only their start in memory: queries, truncation at
    /// any time and out-of-order checks must still see each chunk's exact end.
    #[test]
    fn chunks_on_disk_keep_exact_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let h = Head::with_chunk_dir(1000, dir.path()).unwrap();
        let (s, _) = h.get_or_create(&Labels::from_pairs([("__name__", "a")]));
        // 7 ms apart: chunks [0, 833] (120 samples), [840, 994], [1001, ...], ...
        for t in 0..400 {
            h.append(&s, t * 7, 1.0).unwrap();
        }
        assert!(h.chunk_files_bytes() > 0);
        let all = h.select(&[], 0, i64::MAX);
        let ranges: Vec<(i64, i64)> = all[0].chunks.iter().map(|c| (c.min_t, c.max_t)).collect();
        assert_eq!(ranges[..3], [(0, 833), (840, 994), (1001, 1834)]);
        // A query between two chunks' data gets no chunk that holds none of it.
        let gap = h.select(&[], 995, 1000);
        assert!(gap.is_empty(), "{:?}", gap[0].chunks);
        assert_eq!(
            all[0].samples(995, 1007).map(|s| s.0).collect::<Vec<_>>(),
            [1001]
        );
        // Truncating off a chunk boundary drops exactly the chunks that end before it.
        h.truncate(997);
        let left = h.select(&[], 0, i64::MAX);
        assert_eq!(left[0].chunks[0].min_t, 1001);
        assert_eq!(h.time_range().map(|r| r.0), Some(1001));
        h.truncate(1500);
        assert_eq!(h.select(&[], 0, i64::MAX)[0].chunks[0].min_t, 1001);
    }

    /// Closed chunks on disk linked from the newest back: every window and every
    /// truncation gives what a head keeping its chunks in memory gives, and a series'
    /// memory does not grow with its closed chunks.
    #[test]
    fn linked_chunks_on_disk_equal_chunks_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Head::with_chunk_dir(10_000, dir.path()).unwrap();
        let mem = Head::new(10_000);
        let heads = [&disk, &mem];
        let names = ["a", "b", "c"];
        let handles: Vec<Vec<SeriesHandle>> = heads
            .iter()
            .map(|h| {
                names
                    .iter()
                    .map(|n| h.get_or_create(&Labels::from_pairs([("__name__", *n)])).0)
                    .collect()
            })
            .collect();
        // a: every 7 ms; b: every 13 ms with a pause; c: only early samples.
        for t in 0..6000i64 {
            for (k, hs) in handles.iter().enumerate() {
                let h = heads[k];
                if t % 7 == 0 {
                    h.append(&hs[0], t, (t * 3 % 17) as f64).unwrap();
                }
                if t % 13 == 0 && !(2000..3000).contains(&t) {
                    h.append(&hs[1], t, t as f64 / 4.0).unwrap();
                }
                if t % 5 == 0 && t < 1500 {
                    h.append(&hs[2], t, 1.0).unwrap();
                }
            }
        }
        let read = |h: &Head, lo: i64, hi: i64| -> Vec<(String, Vec<(i64, f64)>)> {
            h.select(&[], lo, hi)
                .into_iter()
                .map(|s| {
                    let name = s.labels.name().unwrap_or("").to_string();
                    (name, s.samples(lo, hi).collect::<Vec<_>>())
                })
                .filter(|(_, v)| !v.is_empty())
                .collect()
        };
        let windows = [
            (0, i64::MAX),
            (0, 0),
            (833, 1700),
            (1990, 3010),
            (4999, 5001),
            (5990, 6000),
            (7000, 8000),
        ];
        for (lo, hi) in windows {
            assert_eq!(read(&disk, lo, hi), read(&mem, lo, hi), "[{lo}, {hi}]");
        }
        let before = handles[0][0].memory_bytes();
        assert!(handles[0][0].lock().last.is_some());
        for t in [100, 1234, 1500, 2500, 4000, 5999] {
            disk.truncate(t);
            mem.truncate(t);
            for (lo, hi) in windows {
                assert_eq!(
                    read(&disk, lo, hi),
                    read(&mem, lo, hi),
                    "after {t}: [{lo}, {hi}]"
                );
            }
            assert_eq!(disk.time_range(), mem.time_range(), "after {t}");
            assert_eq!(disk.num_series(), mem.num_series(), "after {t}");
            assert_eq!(
                disk.series_labels(&[], 0, i64::MAX),
                mem.series_labels(&[], 0, i64::MAX)
            );
        }
        // Out-of-order checks see the end of the newest closed chunk.
        let a = &handles[0][0];
        assert_eq!(disk.append(a, 5999, 0.0), Err(Rejected::Duplicate));
        // About 60 closed chunks of `a` went through the files; its memory did not grow
        // with them (one link, whatever their number).
        assert!(
            a.memory_bytes() <= before + 64,
            "{} > {before}",
            a.memory_bytes()
        );
    }
}
