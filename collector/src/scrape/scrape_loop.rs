//! One target's scrape loop: fetch on a fixed schedule, parse, label, check limits and
//! append the whole body in one transaction (or nothing of it), then the report series
//! and staleness markers.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap as HashMap;
use tokio_util::sync::CancellationToken;

use super::http::Client;
use super::target::{Health, Target};
use super::ScrapeStats;
use crate::config::relabel::{self, LabelMap};
use crate::config::ScrapeConfig;
use crate::exposition::{series_key, Event, Format, Parser};
use crate::tsdb::chunk::stale_nan;
use crate::tsdb::head::SeriesHandle;
use crate::tsdb::{Db, Labels};

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// FxHash rather than SipHash for the per-sample maps (cache, staleness sets): keys are
// not attacker-chosen in a way that matters here (a target can only slow its own loop),
// and SipHash was a visible share of a scrape's CPU.

/// What the per-target cache knows about a series seen in an earlier scrape, keyed by
/// its raw `name{labels}` bytes: no label parsing, relabelling or hashing on a hit. It
/// also says which series the last successful scrape appended, for staleness markers
/// (one entry per scraped series: 32 bytes with its key, at a million series a map less).
struct Cached {
    /// `None`: dropped by `metric_relabel_configs`.
    handle: Option<SeriesHandle>,
    /// The scrape (`ScrapeLoop::iter`, wrapping) that last saw it.
    seen: u32,
    /// Appended without an explicit timestamp by the last successful scrape, and by this
    /// one: such a series that vanishes gets a staleness marker.
    in_prev: bool,
    in_cur: bool,
}

/// Scrape bodies are read into buffers shared by all targets: a scrape holds one only
/// while it fetches and parses, so a thousand targets need a buffer per scrape running
/// at once, not one each (100 targets of 800 KB bodies kept 80 MB).
static BODY_BUFFERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Buffers kept for reuse, and the largest kept.
const BODY_BUFFERS_KEPT: usize = 8;
const BODY_BUFFER_MAX: usize = 64 << 20;

fn take_body_buffer() -> Vec<u8> {
    BODY_BUFFERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop()
        .unwrap_or_default()
}

fn give_body_buffer(mut buf: Vec<u8>) {
    if buf.capacity() > BODY_BUFFER_MAX {
        return;
    }
    buf.clear();
    let mut pool = BODY_BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    if pool.len() < BODY_BUFFERS_KEPT {
        pool.push(buf);
    }
}

/// Appends waiting for the scrape's commit.
pub type Pending = Vec<(SeriesHandle, i64, f64)>;

/// The counts a successful scrape reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub scraped: u64,
    pub post_relabel: u64,
    pub series_added: u64,
    pub stale_markers: u64,
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

pub struct ScrapeLoop {
    db: Arc<Db>,
    pub target: Arc<Target>,
    cfg: Arc<ScrapeConfig>,
    client: Client,
    stats: Arc<ScrapeStats>,
    cache: HashMap<u128, Cached>,
    /// How many cache entries have `in_prev` set.
    prev_len: usize,
    report: Vec<SeriesHandle>,
    iter: u64,
    meta: std::collections::BTreeMap<String, super::target::MetricMeta>,
    meta_dirty: bool,
    /// The `node` label values of this target's series (the target's own, and any that
    /// metric relabelling gives its series): the nodes whose model a scrape changes. At
    /// most [`MAX_NODES_PER_TARGET`].
    nodes: std::collections::HashSet<Arc<str>>,
    nodes_capped: bool,
}

/// A target whose series name more nodes than this (a hostile or mislabelled body) has
/// the rest of them brought up to date by no per-node evaluation; said once in the log.
const MAX_NODES_PER_TARGET: usize = 10_000;

fn key(h: &SeriesHandle) -> usize {
    Arc::as_ptr(h) as *const () as usize
}

impl ScrapeLoop {
    pub fn new(
        db: Arc<Db>,
        target: Arc<Target>,
        cfg: Arc<ScrapeConfig>,
        client: Client,
        stats: Arc<ScrapeStats>,
    ) -> ScrapeLoop {
        let mut app = db.appender();
        let report = REPORT_NAMES
            .iter()
            .map(|n| {
                let mut l = target.labels.clone();
                l.push(("__name__".into(), (*n).into()));
                app.series(&Labels::from_pairs(l))
            })
            .collect();
        drop(app);
        let nodes = target
            .labels
            .iter()
            .filter(|(n, v)| n == "node" && !v.is_empty())
            .map(|(_, v)| Arc::from(v.as_str()))
            .collect();
        ScrapeLoop {
            db,
            target,
            cfg,
            client,
            stats,
            cache: HashMap::default(),
            prev_len: 0,
            report,
            iter: 0,
            meta: std::collections::BTreeMap::new(),
            meta_dirty: false,
            nodes,
            nodes_capped: false,
        }
    }

    /// The start offset within the interval, from a hash of the target, so that targets
    /// spread evenly and each one's timestamps are periodic (and stay so across restarts).
    pub fn first_scrape_at(&self, now_ms: i64) -> i64 {
        let iv = self.target.interval.0.max(1);
        let offset = (self.target.hash % iv as u64) as i64;
        let base = now_ms - now_ms.rem_euclid(iv) + offset;
        if base < now_ms {
            base + iv
        } else {
            base
        }
    }

    /// Run until `stop`; then, if `stale` says so (the target went away), mark every
    /// series of the target stale.
    pub async fn run(mut self, stop: CancellationToken, stale: Arc<std::sync::atomic::AtomicBool>) {
        let iv = self.target.interval.as_std().max(Duration::from_millis(1));
        let wall_now = now_ms();
        let first = self.first_scrape_at(wall_now);
        let anchor_instant = Instant::now() + Duration::from_millis((first - wall_now) as u64);
        let mut ticker = tokio::time::interval_at(anchor_instant.into(), iv);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let tick = tokio::select! {
                _ = stop.cancelled() => break,
                t = ticker.tick() => t,
            };
            // The scheduled time, in wall-clock terms: periodic timestamps compress well.
            // If the wall clock disagrees by more than half an interval (it was stepped,
            // or this tick ran very late), the actual time is used instead.
            let sched = first
                + tick
                    .into_std()
                    .saturating_duration_since(anchor_instant)
                    .as_millis() as i64;
            let now = now_ms();
            let ts = if (now - sched).abs() <= self.target.interval.0 / 2 {
                sched
            } else {
                now
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.scrape_once(ts) => {}
            }
        }
        if stale.load(Ordering::Relaxed) {
            self.mark_all_stale(now_ms());
        }
    }

    /// One scrape at timestamp `ts` (ms): fetch, ingest, report.
    pub async fn scrape_once(&mut self, ts: i64) {
        let start = Instant::now();
        let mut buf = take_body_buffer();
        let fetched = self
            .client
            .fetch(
                &self.target.url,
                self.target.timeout.as_std(),
                self.cfg.body_size_limit.0,
                &mut buf,
            )
            .await;
        let result = match fetched {
            Ok(ct) => self.ingest(&buf, Format::from_content_type(&ct), ts),
            Err(e) => Err(e),
        };
        give_body_buffer(buf);
        let dur = start.elapsed().as_secs_f64();
        self.stats.observe(dur);
        self.finish(ts, dur, result);
    }

    fn finish(&mut self, ts: i64, dur: f64, result: Result<(Ingested, Pending), String>) {
        let (up, counts, err) = match result {
            Ok((c, pending)) => {
                let mut app = self.db.appender();
                for (h, t, v) in pending {
                    app.add_owned(h, t, v);
                }
                self.add_report(&mut app, ts, 1.0, dur, &c);
                match app.commit() {
                    Ok(_) => (true, c, String::new()),
                    Err(e) => {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        (false, c, format!("storing the samples failed: {e}"))
                    }
                }
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                // Nothing of the body is kept; what the last good scrape had goes stale.
                let prev = self.take_prev();
                let db = self.db.clone();
                let mut app = db.appender();
                for h in &prev {
                    app.add(h, ts, stale_nan());
                }
                let c = Ingested {
                    stale_markers: prev.len() as u64,
                    ..Ingested::default()
                };
                self.add_report(&mut app, ts, 0.0, dur, &c);
                if let Err(se) = app.commit() {
                    tracing::warn!(target = %self.target.url, error = %se, "Storing the report series failed");
                }
                tracing::debug!(target = %self.target.url, error = %e, "Scrape failed");
                (false, c, e)
            }
        };
        self.stats.scrapes.fetch_add(1, Ordering::Relaxed);
        self.stats.committed.bump(self.nodes.iter());
        self.stats
            .samples_scraped
            .fetch_add(counts.scraped, Ordering::Relaxed);
        let mut st = self.target.status.lock().unwrap_or_else(|e| e.into_inner());
        st.health = if up { Health::Up } else { Health::Down };
        st.last_error = err;
        st.last_scrape_ms = ts;
        st.last_duration_s = dur;
        st.last_samples = counts.scraped;
        if up && self.meta_dirty {
            st.metadata = Arc::new(self.meta.clone());
            self.meta_dirty = false;
        }
    }

    fn add_report(
        &self,
        app: &mut crate::tsdb::Appender<'_>,
        ts: i64,
        up: f64,
        dur: f64,
        c: &Ingested,
    ) {
        let vals = [
            up,
            dur,
            c.scraped as f64,
            c.post_relabel as f64,
            c.series_added as f64,
        ];
        for (h, v) in self.report.iter().zip(vals) {
            app.add(h, ts, v);
        }
    }

    /// Parse a whole body into pending appends; any error rejects all of it.
    pub fn ingest(
        &mut self,
        body: &[u8],
        format: Format,
        ts: i64,
    ) -> Result<(Ingested, Pending), String> {
        self.iter += 1;
        let iter = self.iter;
        let mut c = Ingested::default();
        let mut pending: Vec<(SeriesHandle, i64, f64)> = Vec::with_capacity(self.prev_len + 16);
        let mut new_keys: Vec<u128> = Vec::new();
        let honor_ts = self.cfg.honor_timestamps;
        let mut p = Parser::new(body, format);
        let result = loop {
            let cache = &self.cache;
            let ev = match p.next_with(&|k| cache.contains_key(&k)) {
                Ok(Some(ev)) => ev,
                Ok(None) => break Ok(()),
                Err(e) => break Err(format!("parse error at {e}")),
            };
            let s = match ev {
                Event::Sample(s) => s,
                Event::Type { name, ty } => {
                    let m = self.meta.entry(name.to_string()).or_default();
                    if m.ty != ty.as_str() {
                        m.ty = ty.as_str();
                        self.meta_dirty = true;
                    }
                    continue;
                }
                Event::Help { name, text } => {
                    if self.meta.get(name).is_none_or(|m| m.help != text) {
                        self.meta.entry(name.to_string()).or_default().help = text.into_owned();
                        self.meta_dirty = true;
                    }
                    continue;
                }
                Event::Unit { name, unit } => {
                    if self.meta.get(name).is_none_or(|m| m.unit != unit) {
                        self.meta.entry(name.to_string()).or_default().unit = unit.to_string();
                        self.meta_dirty = true;
                    }
                    continue;
                }
            };
            c.scraped += 1;
            let (t, explicit) = match s.timestamp_ms {
                Some(t) if honor_ts => (t, true),
                _ => (ts, false),
            };
            let ck = s.key.unwrap_or_else(|| series_key(s.series));
            let entry = match self.cache.get_mut(&ck) {
                Some(entry) => {
                    entry.seen = iter as u32;
                    entry
                }
                None => {
                    let labels = match self.sample_labels(&s) {
                        Ok(l) => l,
                        Err(e) => break Err(e),
                    };
                    let entry = match labels {
                        Some(l) => {
                            c.series_added += 1;
                            if let Some(n) = l.get("node").filter(|n| !n.is_empty()) {
                                let known = self.nodes.contains(n);
                                if !known && self.nodes.len() < MAX_NODES_PER_TARGET {
                                    self.nodes.insert(Arc::from(n));
                                } else if !known && !self.nodes_capped {
                                    self.nodes_capped = true;
                                    tracing::warn!(target = %self.target.url, limit = MAX_NODES_PER_TARGET, "Series of this target name more nodes than the mesh model follows per target");
                                }
                            }
                            Some(self.db.appender().series(&l))
                        }
                        None => None,
                    };
                    new_keys.push(ck);
                    self.cache.entry(ck).or_insert(Cached {
                        handle: entry,
                        seen: iter as u32,
                        in_prev: false,
                        in_cur: false,
                    })
                }
            };
            let Some(h) = &entry.handle else { continue };
            c.post_relabel += 1;
            entry.in_cur |= !explicit;
            pending.push((h.clone(), t, s.value));
        };
        let result = result.and_then(|()| {
            let limit = self.cfg.sample_limit;
            if limit > 0 && c.post_relabel > limit {
                Err(format!(
                    "sample_limit exceeded: {} samples after relabelling, the limit is {limit}",
                    c.post_relabel
                ))
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            // Forget what this failed body taught the cache: nothing of it was stored.
            for k in new_keys {
                self.cache.remove(&k);
            }
            for e in self.cache.values_mut() {
                e.in_cur = false;
            }
            return Err(e);
        }
        // Staleness: what the last successful scrape appended and this one did not. A
        // series that two keys name (relabelling made them one) is stale only when
        // neither appended it.
        let mut stale: Vec<SeriesHandle> = Vec::new();
        let mut prev_len = 0;
        for e in self.cache.values_mut() {
            if e.in_prev && !e.in_cur {
                stale.extend(e.handle.clone());
            }
            e.in_prev = std::mem::take(&mut e.in_cur);
            prev_len += usize::from(e.in_prev);
        }
        self.prev_len = prev_len;
        if !stale.is_empty() {
            let appended: std::collections::HashSet<usize> = self
                .cache
                .values()
                .filter(|e| e.in_prev)
                .filter_map(|e| e.handle.as_ref().map(key))
                .collect();
            stale.retain(|h| !appended.contains(&key(h)));
            stale.sort_unstable_by_key(key);
            stale.dedup_by_key(|h| key(h));
        }
        c.stale_markers = stale.len() as u64;
        pending.extend(stale.into_iter().map(|h| (h, ts, stale_nan())));
        // Drop cache entries for series gone for two scrapes, and handles of series the
        // head has let go (idle, persisted): the next miss looks them up again.
        if self.cache.len() > 2 * (c.scraped as usize) + 64 || iter.is_multiple_of(16) {
            let now = iter as u32;
            self.cache.retain(|_, e| {
                now.wrapping_sub(e.seen) < 2 && e.handle.as_ref().is_none_or(|h| !h.lock().removed)
            });
            self.cache.shrink_to_fit();
        }
        Ok((c, pending))
    }

    /// The labels of a new series: exposition labels, target labels (honor_labels /
    /// `exported_`), metric relabelling and the label limits. `None` = dropped.
    fn sample_labels(&self, s: &crate::exposition::Sample<'_>) -> Result<Option<Labels>, String> {
        let mut lm = LabelMap::new();
        lm.insert("__name__".into(), s.name.to_string());
        for (n, v) in s.labels() {
            if n == "__name__" {
                continue;
            }
            if lm.insert(n.to_string(), v.into_owned()).is_some() {
                return Err(format!(
                    "label {n:?} appears twice in series {}",
                    String::from_utf8_lossy(s.series)
                ));
            }
        }
        for (n, v) in &self.target.labels {
            if self.cfg.honor_labels {
                lm.entry(n.clone()).or_insert_with(|| v.clone());
            } else {
                if let Some(old) = lm.remove(n) {
                    let mut name = format!("exported_{n}");
                    while lm.contains_key(&name) {
                        name = format!("exported_{name}");
                    }
                    lm.insert(name, old);
                }
                lm.insert(n.clone(), v.clone());
            }
        }
        lm.retain(|_, v| !v.is_empty());
        if !relabel::process(&mut lm, &self.cfg.metric_relabel_configs) {
            return Ok(None);
        }
        let name = lm.get("__name__").cloned().unwrap_or_default();
        if name.is_empty() {
            return Err(format!(
                "series {} has no metric name after relabelling",
                String::from_utf8_lossy(s.series)
            ));
        }
        let cfg = &self.cfg;
        if cfg.label_limit > 0 && lm.len() as u64 > cfg.label_limit {
            return Err(format!(
                "label_limit exceeded (metric: {:.50}, number of labels: {}, limit: {})",
                name,
                lm.len(),
                cfg.label_limit
            ));
        }
        for (n, v) in &lm {
            if cfg.label_name_length_limit > 0 && n.len() as u64 > cfg.label_name_length_limit {
                return Err(format!(
                    "label_name_length_limit exceeded (metric: {name:.50}, label name: {n:.50}, length: {}, limit: {})",
                    n.len(),
                    cfg.label_name_length_limit
                ));
            }
            if cfg.label_value_length_limit > 0 && v.len() as u64 > cfg.label_value_length_limit {
                return Err(format!(
                    "label_value_length_limit exceeded (metric: {name:.50}, label name: {n:.50}, value: {v:.50}, length: {}, limit: {})",
                    v.len(),
                    cfg.label_value_length_limit
                ));
            }
        }
        Ok(Some(Labels::from_pairs(lm)))
    }

    /// The series the last successful scrape appended (without explicit timestamps),
    /// forgotten as such: after a failed scrape or when the target goes, each gets its
    /// staleness marker once.
    fn take_prev(&mut self) -> Vec<SeriesHandle> {
        let mut out = Vec::with_capacity(self.prev_len);
        for e in self.cache.values_mut() {
            if std::mem::take(&mut e.in_prev) {
                out.extend(e.handle.clone());
            }
        }
        self.prev_len = 0;
        out.sort_unstable_by_key(key);
        out.dedup_by_key(|h| key(h));
        out
    }

    /// Staleness markers for every series of the target (it went away).
    pub fn mark_all_stale(&mut self, ts: i64) {
        let prev = self.take_prev();
        let db = self.db.clone();
        let mut app = db.appender();
        for h in prev.iter().chain(self.report.iter()) {
            app.add(h, ts, stale_nan());
        }
        if let Err(e) = app.commit() {
            tracing::warn!(target = %self.target.url, error = %e, "Storing staleness markers failed");
        }
        self.stats.committed.bump(self.nodes.iter());
    }
}
