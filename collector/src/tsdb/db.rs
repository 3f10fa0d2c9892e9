//! The store: head + WAL + blocks, with persistence, compaction and retention.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::block::{Block, BlockWriter};
use super::head::{Head, Rejected, SeriesHandle, SeriesRef};
use super::labels::{Labels, Matcher};
use super::query::{Queryable, SeriesChunks};
use super::wal::{self, Record, Wal};

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// How long the store stays unready after a failed WAL write.
pub const READY_AFTER_WAL_FAILURE: Duration = Duration::from_secs(2);

/// Store options. Defaults follow Prometheus.
#[derive(Clone, Debug)]
pub struct Options {
    /// Keep blocks whose data is newer than this (0 = forever).
    pub retention_time_ms: i64,
    /// Keep blocks + WAL under this many bytes (0 = no limit).
    pub retention_size_bytes: u64,
    /// The head is cut into blocks of this range (2h).
    pub block_range_ms: i64,
    pub wal_segment_size: u64,
    /// How long written WAL data may stay un-fsynced.
    pub wal_sync_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention_time_ms: 15 * DAY_MS,
            retention_size_bytes: 0,
            block_range_ms: 2 * HOUR_MS,
            wal_segment_size: 128 << 20,
            wal_sync_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the WAL failed, ingestion is stopped until it succeeds: {0}")]
    Wal(std::io::Error),
    #[error("the store in {0} is in use by another process (its lock file is held); stop that process first")]
    Locked(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Counters for the collector's own `/metrics`.
#[derive(Default, Debug)]
pub struct DbStats {
    pub samples_appended: AtomicU64,
    pub rejected_out_of_order: AtomicU64,
    pub rejected_duplicate: AtomicU64,
    pub rejected_out_of_bounds: AtomicU64,
    pub series_created: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub wal_write_failures: AtomicU64,
    pub compactions: AtomicU64,
    pub head_truncations: AtomicU64,
    pub blocks_deleted: AtomicU64,
    pub wal_truncated_bytes: AtomicU64,
}

/// Result of one commit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    pub appended: u64,
    pub rejected: u64,
}

pub struct Db {
    dir: PathBuf,
    opts: Options,
    head: Head,
    wal: Mutex<Wal>,
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Serialises persistence, compaction and retention.
    maintenance: Mutex<()>,
    pub stats: DbStats,
    wal_failing: AtomicBool,
    /// When the last WAL write failed, in ms since `started`, plus 1 (0: never).
    wal_failed_at_ms: AtomicU64,
    started: Instant,
    _lock: fs::File,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// Open (or create) the store in `dir`: load blocks, replay the WAL.
    pub fn open(dir: &Path, opts: Options) -> Result<Db, DbError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // One process per store: a second writer would interleave WAL records. The lock
        // goes with the process, so a `kill -9` leaves nothing to clean up.
        let lock_path = dir.join("lock");
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(DbError::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir).map_err(io_err(&blocks_dir))?;
        let mut blocks = Vec::new();
        for e in fs::read_dir(&blocks_dir)
            .map_err(io_err(&blocks_dir))?
            .flatten()
        {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                tracing::info!(dir = %p.display(), "Removing an unfinished block");
                let _ = fs::remove_dir_all(&p);
                continue;
            }
            match Block::open(&p) {
                Ok(b) => blocks.push(Arc::new(b)),
                Err(e) => {
                    tracing::error!(dir = %p.display(), error = %e, "Skipping an unreadable block")
                }
            }
        }
        blocks.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
        // Blocks a finished compaction replaced but did not get to delete.
        let replaced: std::collections::HashSet<String> = blocks
            .iter()
            .filter(|b| b.meta.compaction.level > 1)
            .flat_map(|b| {
                b.meta
                    .compaction
                    .sources
                    .iter()
                    .filter(|s| **s != b.meta.ulid)
                    .cloned()
            })
            .collect();
        blocks.retain(|b| {
            if replaced.contains(&b.meta.ulid) {
                let _ = fs::remove_dir_all(b.dir());
                false
            } else {
                true
            }
        });
        let chunks_dir = dir.join("chunks_head");
        let head =
            Head::with_chunk_dir(opts.block_range_ms, &chunks_dir).map_err(io_err(&chunks_dir))?;
        let max_block = blocks.iter().map(|b| b.meta.max_time).max();
        if let Some(m) = max_block {
            // Samples before the newest block are already persisted.
            head.truncate(m);
        }
        let wal_dir = dir.join("wal");
        let start = std::time::Instant::now();
        let mut refs: std::collections::HashMap<SeriesRef, SeriesHandle> =
            std::collections::HashMap::new();
        let mut samples = 0u64;
        let (wal, rs) = Wal::open(&wal_dir, opts.wal_segment_size, &mut |rec| match rec {
            Record::Series(s) => {
                for (r, l) in s {
                    let (h, _) = head.create_with_ref(&l, Some(r));
                    refs.insert(r, h);
                }
            }
            Record::Samples(s) => {
                for (r, t, v) in s {
                    if let Some(h) = refs.get(&r) {
                        if head.append(h, t, v).is_ok() {
                            samples += 1;
                        }
                    }
                }
            }
        })
        .map_err(io_err(&wal_dir))?;
        // Series replayed without samples newer than the blocks are dropped again.
        head.truncate(max_block.unwrap_or(i64::MIN));
        tracing::info!(
            blocks = blocks.len(),
            series = head.num_series(),
            samples,
            records = rs.records,
            truncated_bytes = rs.truncated_bytes,
            duration_ms = start.elapsed().as_millis() as u64,
            "Opened the store"
        );
        let db = Db {
            dir: dir.to_path_buf(),
            opts,
            head,
            wal: Mutex::new(wal),
            blocks: RwLock::new(blocks),
            maintenance: Mutex::new(()),
            stats: DbStats::default(),
            wal_failing: AtomicBool::new(false),
            wal_failed_at_ms: AtomicU64::new(0),
            started: Instant::now(),
            _lock: lock_file,
        };
        db.stats
            .wal_truncated_bytes
            .store(rs.truncated_bytes, Ordering::Relaxed);
        Ok(db)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// False while WAL writes fail (disk full) and for [`READY_AFTER_WAL_FAILURE`] after
    /// the last failure: `/-/ready` reports unready. (On a nearly full disk a small
    /// commit can still fit where a larger one fails; readiness should not flicker.)
    pub fn is_ready(&self) -> bool {
        match self.wal_failed_at_ms.load(Ordering::Relaxed) {
            0 => true,
            at => {
                let now = self.started.elapsed().as_millis() as u64;
                now.saturating_sub(at - 1) >= READY_AFTER_WAL_FAILURE.as_millis() as u64
            }
        }
    }

    pub fn appender(&self) -> Appender<'_> {
        Appender {
            db: self,
            samples: Vec::new(),
        }
    }

    /// fsync the WAL if it has unsynced data.
    pub fn sync_wal(&self) -> std::io::Result<()> {
        if lock(&self.wal).sync()? {
            self.stats.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn wal_size_bytes(&self) -> u64 {
        lock(&self.wal).size_bytes()
    }

    /// Persist, compact and apply retention. Call periodically; cheap when there is
    /// nothing to do.
    pub fn maintain(&self) -> Result<(), DbError> {
        let _g = lock(&self.maintenance);
        self.persist_head(false)?;
        self.compact()?;
        self.apply_retention();
        self.head.shrink_index();
        Ok(())
    }

    /// Persist every complete block range of the head (all of it when `all`, as on
    /// shutdown of a backfill).
    pub fn persist_head(&self, all: bool) -> Result<(), DbError> {
        let range = self.opts.block_range_ms;
        loop {
            let Some((hmin, hmax)) = self.head.time_range() else {
                return Ok(());
            };
            let mint = hmin.div_euclid(range) * range;
            let maxt = mint + range;
            let ready = if all {
                hmin <= hmax
            } else {
                hmax - mint >= range * 3 / 2 && hmax >= maxt
            };
            if !ready {
                return Ok(());
            }
            let blocks_dir = self.dir.join("blocks");
            let mut w = BlockWriter::new(&blocks_dir, mint, maxt, 1, vec![])
                .map_err(io_err(&blocks_dir))?;
            for s in self.head.snapshot(mint, maxt) {
                if let Err(e) = w.add_series(&s.labels, s.samples(mint, maxt - 1)) {
                    w.abort();
                    return Err(io_err(&blocks_dir)(e));
                }
            }
            let blk = w.finish().map_err(io_err(&blocks_dir))?;
            if let Some(b) = blk {
                tracing::info!(ulid = %b.meta.ulid, mint, maxt, series = b.meta.stats.num_series, samples = b.meta.stats.num_samples, "Persisted a head block");
                self.add_block(b);
            }
            self.truncate_head(maxt)?;
        }
    }

    fn add_block(&self, b: Block) {
        let mut bl = self.blocks.write().unwrap_or_else(|e| e.into_inner());
        bl.push(Arc::new(b));
        bl.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
    }

    /// Drop head data before `t` and checkpoint the WAL.
    fn truncate_head(&self, t: i64) -> Result<(), DbError> {
        let wal_dir = self.dir.join("wal");
        let closed = lock(&self.wal).roll().map_err(io_err(&wal_dir))?;
        self.head.truncate(t);
        // The checkpoint is written as it is built, a few hundred series at a time, so
        // that it costs little memory beside the head.
        let series = self.head.series_handles();
        let head = &self.head;
        let records = series.chunks(500).flat_map(|part| {
            let mut out = vec![Record::Series(
                part.iter().map(|h| (h.sref, h.labels.clone())).collect(),
            )];
            let mut batch = Vec::new();
            for h in part {
                let sref = h.sref;
                let sc = SeriesChunks {
                    labels: Labels::default(),
                    chunks: head.chunks_of(h, t, i64::MAX),
                };
                batch.extend(sc.samples(t, i64::MAX).map(|(ts, v)| (sref, ts, v)));
            }
            out.push(Record::Samples(batch));
            out
        });
        wal::write_checkpoint(&wal_dir, closed, records).map_err(io_err(&wal_dir))?;
        self.stats.head_truncations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The largest block a compaction may produce.
    fn max_block_range(&self) -> i64 {
        let by_retention = if self.opts.retention_time_ms > 0 {
            self.opts.retention_time_ms / 10
        } else {
            i64::MAX
        };
        by_retention.min(31 * DAY_MS).max(self.opts.block_range_ms)
    }

    /// Merge overlapping blocks, then blocks that fill a larger aligned range
    /// (ranges grow 3× from the block range, as in Prometheus).
    pub fn compact(&self) -> Result<(), DbError> {
        loop {
            let blocks = self.blocks();
            let plan = plan_compaction(&blocks, self.opts.block_range_ms, self.max_block_range());
            let Some(group) = plan else { return Ok(()) };
            self.merge(&group)?;
        }
    }

    fn merge(&self, group: &[Arc<Block>]) -> Result<(), DbError> {
        let blocks_dir = self.dir.join("blocks");
        let mint = group.iter().map(|b| b.meta.min_time).min().unwrap_or(0);
        let maxt = group.iter().map(|b| b.meta.max_time).max().unwrap_or(0);
        let level = group
            .iter()
            .map(|b| b.meta.compaction.level)
            .max()
            .unwrap_or(1)
            + 1;
        let mut sources: Vec<String> = group
            .iter()
            .flat_map(|b| b.meta.compaction.sources.clone())
            .collect();
        sources.extend(group.iter().map(|b| b.meta.ulid.clone()));
        sources.sort();
        sources.dedup();
        let mut w = BlockWriter::new(&blocks_dir, mint, maxt, level, sources)
            .map_err(io_err(&blocks_dir))?;
        // Merge the label-sorted series of every block (k-way by labels).
        let mut iters: Vec<_> = group.iter().map(|b| b.iter_series().peekable()).collect();
        loop {
            let mut next: Option<Labels> = None;
            for it in iters.iter_mut() {
                match it.peek() {
                    Some(Ok(s)) if next.as_ref().is_none_or(|n| s.labels < *n) => {
                        next = Some(s.labels.clone())
                    }
                    Some(Err(_)) => {
                        if let Some(Err(e)) = it.next() {
                            w.abort();
                            return Err(io_err(&blocks_dir)(e));
                        }
                    }
                    _ => {}
                }
            }
            let Some(labels) = next else { break };
            let mut merged = SeriesChunks {
                labels: labels.clone(),
                chunks: Vec::new(),
            };
            for it in iters.iter_mut() {
                if matches!(it.peek(), Some(Ok(s)) if s.labels == labels) {
                    if let Some(Ok(s)) = it.next() {
                        merged.chunks.extend(s.chunks);
                    }
                }
            }
            if let Err(e) = w.add_series(&labels, merged.samples(i64::MIN, i64::MAX)) {
                w.abort();
                return Err(io_err(&blocks_dir)(e));
            }
        }
        let new = w.finish().map_err(io_err(&blocks_dir))?;
        {
            let mut bl = self.blocks.write().unwrap_or_else(|e| e.into_inner());
            bl.retain(|b| !group.iter().any(|g| g.meta.ulid == b.meta.ulid));
            if let Some(n) = new {
                tracing::info!(ulid = %n.meta.ulid, level, mint, maxt, merged = group.len(), "Compacted blocks");
                bl.push(Arc::new(n));
            }
            bl.sort_by_key(|b| (b.meta.min_time, b.meta.max_time));
        }
        for b in group {
            if let Err(e) = fs::remove_dir_all(b.dir()) {
                tracing::warn!(dir = %b.dir().display(), error = %e, "Could not remove a compacted block");
            }
        }
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Delete blocks past the time or size retention.
    pub fn apply_retention(&self) {
        let blocks = self.blocks();
        let mut delete: Vec<Arc<Block>> = Vec::new();
        if self.opts.retention_time_ms > 0 {
            if let Some(newest) = blocks.iter().map(|b| b.meta.max_time).max() {
                let cutoff = newest - self.opts.retention_time_ms;
                delete.extend(blocks.iter().filter(|b| b.meta.max_time <= cutoff).cloned());
            }
        }
        if self.opts.retention_size_bytes > 0 {
            let mut total: u64 =
                blocks.iter().map(|b| b.size_bytes()).sum::<u64>() + self.wal_size_bytes();
            for b in &blocks {
                if total <= self.opts.retention_size_bytes {
                    break;
                }
                if !delete.iter().any(|d| d.meta.ulid == b.meta.ulid) {
                    delete.push(b.clone());
                }
                total = total.saturating_sub(b.size_bytes());
            }
        }
        if delete.is_empty() {
            return;
        }
        {
            let mut bl = self.blocks.write().unwrap_or_else(|e| e.into_inner());
            bl.retain(|b| !delete.iter().any(|d| d.meta.ulid == b.meta.ulid));
        }
        for b in delete {
            tracing::info!(ulid = %b.meta.ulid, min_time = b.meta.min_time, max_time = b.meta.max_time, "Deleting a block past retention");
            let _ = fs::remove_dir_all(b.dir());
            self.stats.blocks_deleted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sync the WAL; call on shutdown.
    pub fn close(&self) -> std::io::Result<()> {
        self.sync_wal()
    }

    /// `(min, max)` time over blocks and head.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let mut r: Option<(i64, i64)> = self.head.time_range();
        for b in self.blocks() {
            let (a, z) = (b.meta.min_time, b.meta.max_time - 1);
            r = Some(r.map_or((a, z), |(x, y)| (x.min(a), y.max(z))));
        }
        r
    }

    /// Append a whole ordered stream of samples directly into blocks (backfill): the
    /// caller provides sorted, complete series for `[mint, maxt)`.
    pub fn import_block(&self, w: BlockWriter) -> Result<(), DbError> {
        let blocks_dir = self.dir.join("blocks");
        if let Some(b) = w.finish().map_err(io_err(&blocks_dir))? {
            self.add_block(b);
        }
        Ok(())
    }

    pub fn block_writer(&self, mint: i64, maxt: i64) -> Result<BlockWriter, DbError> {
        let blocks_dir = self.dir.join("blocks");
        BlockWriter::new(&blocks_dir, mint, maxt, 1, vec![]).map_err(io_err(&blocks_dir))
    }
}

/// Choose the next group of blocks to merge, if any.
fn plan_compaction(blocks: &[Arc<Block>], base: i64, max_range: i64) -> Option<Vec<Arc<Block>>> {
    // Overlapping blocks first (vertical compaction).
    for (i, a) in blocks.iter().enumerate() {
        let group: Vec<Arc<Block>> = blocks[i..]
            .iter()
            .filter(|b| b.meta.min_time < a.meta.max_time && a.meta.min_time < b.meta.max_time)
            .cloned()
            .collect();
        if group.len() > 1 {
            return Some(group);
        }
    }
    let newest = blocks.iter().map(|b| b.meta.max_time).max()?;
    let mut range = base * 3;
    while range <= max_range {
        let mut windows: BTreeMap<i64, Vec<Arc<Block>>> = BTreeMap::new();
        for b in blocks {
            let w = b.meta.min_time.div_euclid(range);
            if (b.meta.max_time - 1).div_euclid(range) == w
                && b.meta.max_time - b.meta.min_time < range
            {
                windows.entry(w).or_default().push(b.clone());
            }
        }
        for (w, group) in windows {
            let window_end = (w + 1) * range;
            if group.len() > 1 && window_end <= newest {
                return Some(group);
            }
        }
        range *= 3;
    }
    None
}

/// One transaction: samples are collected, then written to the WAL and the head
/// together on commit. Dropping without commit ingests nothing.
pub struct Appender<'a> {
    db: &'a Db,
    samples: Vec<(SeriesHandle, i64, f64)>,
}

impl Appender<'_> {
    /// The series for these labels, created if new.
    pub fn series(&mut self, labels: &Labels) -> SeriesHandle {
        let (h, created) = self.db.head.get_or_create(labels);
        if created {
            self.db.stats.series_created.fetch_add(1, Ordering::Relaxed);
        }
        h
    }

    pub fn add(&mut self, s: &SeriesHandle, t: i64, v: f64) {
        self.add_owned(s.clone(), t, v);
    }

    /// [`Appender::add`] for a handle the caller gives up (no reference-count traffic).
    pub fn add_owned(&mut self, s: SeriesHandle, t: i64, v: f64) {
        self.samples.push((s, t, v));
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Write the WAL records, then apply to the head.
    pub fn commit(mut self) -> Result<CommitStats, DbError> {
        let db = self.db;
        let mut new_series: Vec<(SeriesRef, Labels)> = Vec::new();
        let mut wal_samples = Vec::with_capacity(self.samples.len());
        for (h, t, v) in self.samples.iter_mut() {
            if h.lock().removed {
                // The head dropped this series (it went idle); look it up again.
                *h = db.head.get_or_create(&h.labels.clone()).0;
            }
            if !h.lock().logged {
                new_series.push((h.sref, h.labels.clone()));
            }
            wal_samples.push((h.sref, *t, *v));
        }
        let mut buf = Vec::with_capacity(16 * wal_samples.len() + 64);
        if !new_series.is_empty() {
            Record::Series(new_series).encode_into(&mut buf);
        }
        if !wal_samples.is_empty() {
            Record::Samples(wal_samples).encode_into(&mut buf);
        }
        {
            let mut w = lock(&db.wal);
            if let Err(e) = w.write(&buf) {
                db.stats.wal_write_failures.fetch_add(1, Ordering::Relaxed);
                let at = db.started.elapsed().as_millis() as u64 + 1;
                db.wal_failed_at_ms.store(at, Ordering::Relaxed);
                if !db.wal_failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "Writing the WAL failed: ingestion stopped until it succeeds (disk full?)");
                }
                return Err(DbError::Wal(e));
            }
        }
        if db.wal_failing.swap(false, Ordering::Relaxed) {
            tracing::info!("Writing the WAL works again: ingestion resumed");
        }
        let mut st = CommitStats::default();
        for (h, t, v) in self.samples.drain(..) {
            h.lock().logged = true;
            match db.head.append(&h, t, v) {
                Ok(_) => st.appended += 1,
                Err(r) => {
                    st.rejected += 1;
                    let c = match r {
                        Rejected::OutOfOrder => &db.stats.rejected_out_of_order,
                        Rejected::Duplicate => &db.stats.rejected_duplicate,
                        Rejected::OutOfBounds => &db.stats.rejected_out_of_bounds,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        db.stats
            .samples_appended
            .fetch_add(st.appended, Ordering::Relaxed);
        Ok(st)
    }
}

impl Queryable for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        let mut parts: Vec<Vec<SeriesChunks>> = self
            .blocks()
            .iter()
            .map(|b| b.select(matchers, mint, maxt))
            .chain(std::iter::once(self.head.select(matchers, mint, maxt)))
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() <= 1 {
            // One source (an instant query, or the head alone): nothing to merge.
            let mut v = parts.pop().unwrap_or_default();
            v.retain(|s| !s.chunks.is_empty());
            if !v.is_sorted_by(|a, b| a.labels <= b.labels) {
                v.sort_unstable_by(|a, b| a.labels.cmp(&b.labels));
            }
            return v;
        }
        let mut by: BTreeMap<Labels, Vec<super::query::ChunkData>> = BTreeMap::new();
        for s in parts.into_iter().flatten() {
            by.entry(s.labels).or_default().extend(s.chunks);
        }
        by.into_iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(labels, chunks)| SeriesChunks { labels, chunks })
            .collect()
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut v: Vec<Labels> = self.head.series_labels(matchers, mint, maxt);
        for b in self.blocks() {
            v.extend(b.series_labels(matchers, mint, maxt));
        }
        v.sort();
        v.dedup();
        v
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut names: Vec<String> = self
            .series(matchers, mint, maxt)
            .iter()
            .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut vals: Vec<String> = self
            .series(matchers, mint, maxt)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        vals.sort();
        vals.dedup();
        vals
    }
}

#[cfg(test)]
mod tests;
