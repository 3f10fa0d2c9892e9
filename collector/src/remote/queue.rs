//! One remote_write destination: a reader thread follows the WAL and hands each sample
//! to a shard (by series, so a series' samples stay in order), each shard batches and
//! sends with retries. A full shard blocks the reader, which then stops reading the WAL
//! until the receiver takes data again: an outage costs memory of `capacity` samples per
//! shard, and nothing that is still in the WAL is lost.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use super::wal_tail::{Event, WalTail};
use crate::config::relabel::{process, LabelMap};
use crate::config::{Config, RemoteWriteConfig};
use crate::scrape::http::{describe, Client};
use crate::tsdb::head::SeriesRef;
use crate::tsdb::labels::Labels;
use crate::tsdb::wal::Record;

/// The queue settings with Prometheus's defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSettings {
    pub capacity: usize,
    pub min_shards: usize,
    pub max_shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
    pub remote_timeout: Duration,
}

impl QueueSettings {
    /// Defaults as in current Prometheus (capacity 10000, at most 50 shards, 2000
    /// samples a send, 5 s deadline, backoff 30 ms to 5 s, timeout 30 s); retrying on 429
    /// is on, as the protocol asks of senders.
    pub fn from_config(rw: &RemoteWriteConfig) -> QueueSettings {
        let q = rw
            .queue_config
            .clone()
            .unwrap_or(crate::config::QueueConfig {
                capacity: None,
                max_shards: None,
                min_shards: None,
                max_samples_per_send: None,
                batch_send_deadline: None,
                min_backoff: None,
                max_backoff: None,
                retry_on_http_429: None,
            });
        let ms = |d: Option<crate::config::Duration>, def: u64| {
            Duration::from_millis(d.map_or(def, |d| d.0.max(0) as u64))
        };
        let min_shards = q.min_shards.unwrap_or(1).max(1) as usize;
        QueueSettings {
            capacity: q.capacity.unwrap_or(10_000).max(1) as usize,
            min_shards,
            max_shards: (q.max_shards.unwrap_or(50) as usize).max(min_shards),
            max_samples_per_send: q.max_samples_per_send.unwrap_or(2000).max(1) as usize,
            batch_send_deadline: ms(q.batch_send_deadline, 5000),
            min_backoff: ms(q.min_backoff, 30),
            max_backoff: ms(q.max_backoff, 5000),
            retry_on_http_429: q.retry_on_http_429.unwrap_or(true),
            remote_timeout: ms(rw.remote_timeout, 30_000),
        }
    }
}

/// Why samples were not sent.
pub const DROP_REASONS: [&str; 3] = ["http_4xx", "dropped_series", "shutdown"];

/// Counters for `/metrics` (names follow Prometheus's `prometheus_remote_storage_*`).
#[derive(Debug, Default)]
pub struct QueueStats {
    pub samples_in: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: [AtomicU64; DROP_REASONS.len()],
    pub retried_batches: AtomicU64,
    pub pending: AtomicI64,
    pub bytes_sent: AtomicU64,
    pub highest_read_ms: AtomicI64,
    pub highest_sent_ms: AtomicI64,
    pub shards: AtomicU64,
    pub desired_shards: AtomicU64,
    /// Microseconds spent in successful sends (for the shard calculation).
    pub send_us: AtomicU64,
    pub segment: AtomicU64,
    /// WAL segments deleted (by the head's truncation) before they were read.
    pub wal_segments_skipped: AtomicU64,
    /// The last attempt failed (no resharding while the receiver is down).
    pub failing: AtomicBool,
}

impl QueueStats {
    fn count_dropped(&self, reason: &str, n: u64) {
        if let Some(i) = DROP_REASONS.iter().position(|r| *r == reason) {
            self.dropped[i].fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// A series as it is sent: labels after external labels and `write_relabel_configs`.
#[derive(Debug)]
pub struct OutSeries {
    labels: Vec<Label>,
    hash: u64,
}

type Item = (Arc<OutSeries>, i64, f64);

struct Ctx {
    url: String,
    client: Client,
    headers: Vec<(String, String)>,
    s: QueueSettings,
    stats: Arc<QueueStats>,
    stop: CancellationToken,
    /// When a shard first saw the stop (the flush deadline counts from there).
    stopped_at: std::sync::OnceLock<Instant>,
}

impl Ctx {
    /// Stopping and past the flush deadline: give up what is left.
    fn give_up(&self) -> bool {
        self.stop.is_cancelled()
            && self.stopped_at.get_or_init(Instant::now).elapsed() >= FLUSH_DEADLINE
    }
}

/// A running queue.
pub struct Queue {
    pub name: String,
    pub url: String,
    pub stats: Arc<QueueStats>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
    /// What it was started with, to tell on reload whether it must restart.
    pub config: RemoteWriteConfig,
    pub external: Vec<(String, String)>,
}

impl Queue {
    pub fn start(
        wal_dir: PathBuf,
        rw: &RemoteWriteConfig,
        cfg: &Config,
        name: String,
        parent: &CancellationToken,
    ) -> Result<Queue, String> {
        let client = Client::new(&rw.http(), cfg)?;
        let s = QueueSettings::from_config(rw);
        let stats = Arc::new(QueueStats::default());
        let stop = parent.child_token();
        let external = external_labels(cfg);
        let ctx = Arc::new(Ctx {
            url: rw.url.clone(),
            client,
            headers: rw
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            s,
            stats: stats.clone(),
            stop: stop.clone(),
            stopped_at: std::sync::OnceLock::new(),
        });
        let relabel = rw.write_relabel_configs.clone();
        let ext = external.clone();
        let rt = tokio::runtime::Handle::current();
        // The thread finds the end of the WAL before `start` returns: whatever is
        // committed after that is sent.
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("remote-write {name}"))
            .spawn(move || {
                let prepare = move |l: &Labels| prepare(l, &ext, &relabel);
                if let Err(e) = read_loop(&wal_dir, &ctx, &rt, &prepare, ready_tx) {
                    tracing::error!(url = %ctx.url, error = %e, "Remote write stopped: reading the WAL failed");
                }
            })
            .map_err(|e| format!("starting the remote-write thread: {e}"))?;
        let _ = ready.recv();
        Ok(Queue {
            name,
            url: rw.url.clone(),
            stats,
            stop,
            thread: Some(thread),
            config: rw.clone(),
            external,
        })
    }

    /// Stop reading, flush what is queued (for at most a few seconds) and wait.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The configuration's `global.external_labels`.
pub fn external_labels(cfg: &Config) -> Vec<(String, String)> {
    cfg.global
        .external_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// External labels (unless the series has the label) then the write relabelling; `None`
/// when the relabelling drops the series.
pub fn prepare(
    l: &Labels,
    external: &[(String, String)],
    relabel: &[crate::config::relabel::RelabelConfig],
) -> Option<Arc<OutSeries>> {
    let mut m: LabelMap = l
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in external {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if !process(&mut m, relabel) || m.is_empty() {
        return None;
    }
    let labels: Vec<Label> = m
        .into_iter()
        .map(|(name, value)| Label { name, value })
        .collect();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for l in &labels {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    Some(Arc::new(OutSeries {
        labels,
        hash: h.digest(),
    }))
}

struct Shards {
    tx: Vec<mpsc::Sender<Item>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Shards {
    fn start(n: usize, ctx: &Arc<Ctx>, rt: &tokio::runtime::Handle) -> Shards {
        let mut tx = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (t, r) = mpsc::channel(ctx.s.capacity);
            tx.push(t);
            tasks.push(rt.spawn(run_shard(r, ctx.clone())));
        }
        ctx.stats.shards.store(n as u64, Ordering::Relaxed);
        Shards { tx, tasks }
    }

    /// Close the shards and wait until each has sent (or given up on) what it holds.
    fn finish(self, rt: &tokio::runtime::Handle) {
        drop(self.tx);
        for t in self.tasks {
            let _ = rt.block_on(t);
        }
    }
}

/// How often the shard count is reconsidered.
const RESHARD_EVERY: Duration = Duration::from_secs(10);
/// How often the WAL is looked at when nothing new was there.
const POLL: Duration = Duration::from_millis(50);

fn read_loop(
    wal_dir: &std::path::Path,
    ctx: &Arc<Ctx>,
    rt: &tokio::runtime::Handle,
    prepare: &dyn Fn(&Labels) -> Option<Arc<OutSeries>>,
    ready: std::sync::mpsc::Sender<()>,
) -> std::io::Result<()> {
    // Series by WAL reference, with the segment they were last seen in (for dropping
    // the ones a checkpoint no longer has).
    let mut series: HashMap<SeriesRef, (Option<Arc<OutSeries>>, u64)> = HashMap::new();
    let tail = WalTail::open_at_end(wal_dir, &mut |s| {
        for (r, l) in s {
            series.insert(r, (prepare(&l), 0));
        }
    });
    let _ = ready.send(());
    let mut tail = tail?;
    let stats = &ctx.stats;
    let mut shards = Shards::start(ctx.s.min_shards, ctx, rt);
    let mut last_reshard = Instant::now();
    let (mut last_in, mut last_sent, mut last_us) = (0u64, 0u64, 0u64);
    while !ctx.stop.is_cancelled() {
        let seg = tail.segment();
        stats.segment.store(seg, Ordering::Relaxed);
        let mut blocked = false;
        let n = tail.poll(&mut |e| match e {
            Event::Record(Record::Series(s)) => {
                for (r, l) in s {
                    series.insert(r, (prepare(&l), seg));
                }
            }
            Event::Record(Record::Samples(v)) => {
                if let Some(hi) = v.iter().map(|x| x.1).max() {
                    stats.highest_read_ms.fetch_max(hi, Ordering::Relaxed);
                }
                for (r, t, val) in v {
                    if ctx.stop.is_cancelled() {
                        // Stopping: what is left stays in the WAL.
                        break;
                    }
                    match series.get(&r) {
                        Some((Some(s), _)) => {
                            stats.samples_in.fetch_add(1, Ordering::Relaxed);
                            stats.pending.fetch_add(1, Ordering::Relaxed);
                            let shard = &shards.tx[(s.hash % shards.tx.len() as u64) as usize];
                            // Blocks while the shard is full: the WAL waits for us.
                            if shard.blocking_send((s.clone(), t, val)).is_err() {
                                stats.pending.fetch_sub(1, Ordering::Relaxed);
                                blocked = true;
                            }
                        }
                        _ => stats.count_dropped("dropped_series", 1),
                    }
                }
            }
            Event::Checkpoint { upto, series: live } => {
                let keep: std::collections::HashSet<SeriesRef> =
                    live.iter().map(|(r, _)| *r).collect();
                series.retain(|r, (_, s)| keep.contains(r) || *s > upto);
                for (r, l) in live {
                    series.entry(r).or_insert_with(|| (prepare(&l), upto));
                }
            }
            Event::Skipped { from, to } => {
                tracing::warn!(url = %ctx.url, from, to, "Remote write fell behind the WAL's truncation: segments were deleted before they were sent");
                stats
                    .wal_segments_skipped
                    .fetch_add(to + 1 - from, Ordering::Relaxed);
            }
        })?;
        if blocked {
            tracing::error!(url = %ctx.url, "Remote write stopped: a shard ended");
            break;
        }
        if last_reshard.elapsed() >= RESHARD_EVERY {
            let (i, s, us) = (
                stats.samples_in.load(Ordering::Relaxed),
                stats.sent.load(Ordering::Relaxed),
                stats.send_us.load(Ordering::Relaxed),
            );
            let secs = last_reshard.elapsed().as_secs_f64();
            let want = desired_shards(
                (i - last_in) as f64 / secs,
                (s - last_sent) as f64,
                (us - last_us) as f64 / 1e6,
                stats.pending.load(Ordering::Relaxed).max(0) as f64,
                &ctx.s,
            );
            stats.desired_shards.store(want as u64, Ordering::Relaxed);
            (last_in, last_sent, last_us) = (i, s, us);
            last_reshard = Instant::now();
            let cur = shards.tx.len();
            let off = (want as f64 - cur as f64).abs() / cur as f64;
            if want != cur && off > 0.3 && !stats.failing.load(Ordering::Relaxed) {
                tracing::info!(url = %ctx.url, from = cur, to = want, "Remote write resharding");
                shards.finish(rt);
                shards = Shards::start(want, ctx, rt);
            }
        }
        if n == 0 {
            std::thread::sleep(POLL);
        }
    }
    shards.finish(rt);
    Ok(())
}

/// Shards needed to keep up: the time a sample takes to send (from the last interval's
/// sends) times the rate samples come in, plus clearing a twentieth of the backlog a
/// second, as Prometheus estimates it.
pub fn desired_shards(
    in_rate: f64,
    sent: f64,
    send_secs: f64,
    pending: f64,
    s: &QueueSettings,
) -> usize {
    if sent <= 0.0 || send_secs <= 0.0 {
        return s.min_shards;
    }
    let per_sample = send_secs / sent;
    let want = (per_sample * (in_rate + 0.05 * pending)).ceil() as usize;
    want.clamp(s.min_shards, s.max_shards)
}

/// How long a shard keeps trying after the stop, before it drops what it holds.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

async fn run_shard(mut rx: mpsc::Receiver<Item>, ctx: Arc<Ctx>) {
    let max = ctx.s.max_samples_per_send;
    let mut batch: Vec<Item> = Vec::with_capacity(max);
    let mut buf = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + ctx.s.batch_send_deadline;
        while batch.len() < max {
            tokio::select! {
                x = rx.recv() => match x {
                    Some(x) => batch.push(x),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = ctx.stop.cancelled() => break,
            }
        }
        send(&ctx, &batch, &mut buf).await;
        batch.clear();
    }
}

/// Group a batch by series, samples in order.
pub fn request(batch: &[Item]) -> WriteRequest {
    let mut at: HashMap<*const OutSeries, usize> = HashMap::new();
    let mut ts: Vec<TimeSeries> = Vec::new();
    for (s, t, v) in batch {
        let i = *at.entry(Arc::as_ptr(s)).or_insert_with(|| {
            ts.push(TimeSeries {
                labels: s.labels.clone(),
                samples: Vec::new(),
            });
            ts.len() - 1
        });
        ts[i].samples.push(Sample {
            value: *v,
            timestamp: *t,
        });
    }
    WriteRequest { timeseries: ts }
}

enum Outcome {
    Sent,
    Retry(Option<Duration>, String),
    Drop(String),
}

async fn attempt(ctx: &Ctx, body: &bytes::Bytes) -> Outcome {
    let mut req = ctx
        .client
        .post(&ctx.url)
        .header(CONTENT_ENCODING, "snappy")
        .header(CONTENT_TYPE, "application/x-protobuf")
        .header(USER_AGENT, concat!("meshscope/", env!("CARGO_PKG_VERSION")))
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .timeout(ctx.s.remote_timeout)
        .body(body.clone());
    for (k, v) in &ctx.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = match ctx.client.authorize(req) {
        Ok(r) => r,
        Err(e) => return Outcome::Retry(None, e),
    };
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                return Outcome::Sent;
            }
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = resp.text().await.unwrap_or_default();
            let msg = format!(
                "server returned HTTP status {status}: {}",
                text.trim().chars().take(256).collect::<String>()
            );
            if status.is_server_error()
                || (status == reqwest::StatusCode::TOO_MANY_REQUESTS && ctx.s.retry_on_http_429)
            {
                Outcome::Retry(retry_after, msg)
            } else {
                Outcome::Drop(msg)
            }
        }
        Err(e) => Outcome::Retry(None, describe(&e)),
    }
}

async fn send(ctx: &Ctx, batch: &[Item], buf: &mut Vec<u8>) {
    let n = batch.len() as u64;
    let stats = &ctx.stats;
    let body = match proto::encode(&request(batch), buf) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            tracing::error!(url = %ctx.url, error = %e, "Remote write: encoding a batch failed");
            stats.count_dropped("http_4xx", n);
            stats.pending.fetch_sub(n as i64, Ordering::Relaxed);
            return;
        }
    };
    let mut backoff = ctx.s.min_backoff;
    loop {
        if ctx.give_up() {
            tracing::warn!(url = %ctx.url, samples = n, "Remote write: stopping with samples unsent");
            stats.count_dropped("shutdown", n);
            break;
        }
        let t0 = Instant::now();
        match attempt(ctx, &body).await {
            Outcome::Sent => {
                stats.sent.fetch_add(n, Ordering::Relaxed);
                stats
                    .send_us
                    .fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                stats
                    .bytes_sent
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                let hi = batch.iter().map(|x| x.1).max().unwrap_or(i64::MIN);
                stats.highest_sent_ms.fetch_max(hi, Ordering::Relaxed);
                if stats.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(url = %ctx.url, "Remote write: the receiver takes data again");
                }
                break;
            }
            Outcome::Drop(msg) => {
                tracing::error!(url = %ctx.url, samples = n, error = %msg, "Remote write: the receiver refused a batch; dropped");
                stats.count_dropped("http_4xx", n);
                break;
            }
            Outcome::Retry(after, msg) => {
                stats.failed.fetch_add(n, Ordering::Relaxed);
                stats.retried_batches.fetch_add(1, Ordering::Relaxed);
                if !stats.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(url = %ctx.url, error = %msg, "Remote write failed; retrying with backoff");
                }
                let wait = after.unwrap_or(backoff);
                backoff = (backoff * 2).min(ctx.s.max_backoff);
                if ctx.stop.is_cancelled() {
                    tokio::time::sleep(wait.min(Duration::from_millis(250))).await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = ctx.stop.cancelled() => {}
                    }
                }
            }
        }
    }
    stats.pending.fetch_sub(n as i64, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::wal::Wal;
    use std::sync::Mutex;

    /// A receiver that answers from a script (then 200), keeping what it accepted.
    #[derive(Default)]
    struct Receiver {
        script: Mutex<Vec<u16>>,
        got: Mutex<Vec<WriteRequest>>,
        requests: AtomicU64,
        headers: Mutex<Vec<axum::http::HeaderMap>>,
    }

    async fn receive(
        axum::extract::State(r): axum::extract::State<Arc<Receiver>>,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        r.requests.fetch_add(1, Ordering::SeqCst);
        r.headers.lock().unwrap().push(headers);
        let code = {
            let mut s = r.script.lock().unwrap();
            if s.is_empty() {
                200
            } else {
                s.remove(0)
            }
        };
        if code == 200 {
            r.got.lock().unwrap().push(proto::decode(&body).unwrap());
        }
        axum::http::StatusCode::from_u16(code).unwrap()
    }

    async fn serve(script: Vec<u16>) -> (Arc<Receiver>, String) {
        let r = Arc::new(Receiver {
            script: Mutex::new(script),
            ..Receiver::default()
        });
        let app = axum::Router::new()
            .route("/api/v1/write", axum::routing::post(receive))
            .with_state(r.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (r, url)
    }

    fn config(url: &str) -> Config {
        crate::config::load_str(
            &format!(
                "global:\n  external_labels: {{site: lab}}\nremote_write:\n  - url: {url}\n    name: test\n    headers: {{X-Scope-OrgID: tenant-1}}\n    basic_auth: {{username: u, password: p}}\n    write_relabel_configs:\n      - source_labels: [__name__]\n        regex: dropme\n        action: drop\n    queue_config:\n      max_samples_per_send: 3\n      batch_send_deadline: 50ms\n      min_backoff: 10ms\n      max_backoff: 40ms\n"
            ),
            std::path::Path::new("m.yml"),
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    fn write(w: &mut Wal, r: Record) {
        let mut b = Vec::new();
        r.encode_into(&mut b);
        w.write(&b).unwrap();
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..500 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn samples_arrive_in_order_after_retries_and_refused_batches_are_counted() {
        // Two failures (503, then 429) are retried; a 400 drops its batch.
        let (r, url) = serve(vec![503, 429]).await;
        let d = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(d.path(), 1 << 20, &mut |_| {}).unwrap();
        let a = Labels::from_pairs([("__name__", "a"), ("job", "x")]);
        write(&mut w, Record::Series(vec![(1, a)]));
        write(&mut w, Record::Samples(vec![(1, 1, 0.5)])); // history: not sent
        let cfg = config(&url);
        let stop = CancellationToken::new();
        let q = Queue::start(
            d.path().to_path_buf(),
            &cfg.remote_write[0],
            &cfg,
            "test".into(),
            &stop,
        )
        .unwrap();
        write(
            &mut w,
            Record::Series(vec![(2, Labels::from_pairs([("__name__", "dropme")]))]),
        );
        for t in 0..10 {
            write(
                &mut w,
                Record::Samples(vec![(1, 1000 + t, t as f64), (2, 1000 + t, 1.0)]),
            );
        }
        let stats = q.stats.clone();
        until("ten samples sent", || {
            stats.sent.load(Ordering::SeqCst) == 10
        })
        .await;
        let got = r.got.lock().unwrap().clone();
        let samples: Vec<(i64, f64)> = got
            .iter()
            .flat_map(|req| &req.timeseries)
            .flat_map(|ts| ts.samples.iter().map(|s| (s.timestamp, s.value)))
            .collect();
        assert_eq!(
            samples,
            (0..10).map(|t| (1000 + t, t as f64)).collect::<Vec<_>>()
        );
        let labels = &got[0].timeseries[0].labels;
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![("__name__", "a"), ("job", "x"), ("site", "lab")]
        );
        assert!(got
            .iter()
            .all(|g| g.timeseries.iter().all(|t| t.samples.len() <= 3)));
        assert_eq!(
            stats.failed.load(Ordering::SeqCst),
            6,
            "two failed sends of 3"
        );
        assert_eq!(
            stats.dropped[1].load(Ordering::SeqCst),
            10,
            "dropme by relabelling"
        );
        assert_eq!(stats.pending.load(Ordering::SeqCst), 0);
        assert_eq!(stats.highest_sent_ms.load(Ordering::SeqCst), 1009);
        let h = r.headers.lock().unwrap()[0].clone();
        assert_eq!(h["content-encoding"], "snappy");
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(h["x-scope-orgid"], "tenant-1");
        assert_eq!(h["authorization"], "Basic dTpw");

        // A 400 is not retried: the batch is dropped and counted, later ones go on.
        r.script.lock().unwrap().push(400);
        let before = r.requests.load(Ordering::SeqCst);
        write(&mut w, Record::Samples(vec![(1, 2000, 1.0)]));
        until("the refused batch", || {
            stats.dropped[0].load(Ordering::SeqCst) == 1
        })
        .await;
        write(&mut w, Record::Samples(vec![(1, 2001, 2.0)]));
        until("the next sample", || {
            stats.sent.load(Ordering::SeqCst) == 11
        })
        .await;
        assert_eq!(r.requests.load(Ordering::SeqCst), before + 2);
        assert_eq!(stats.pending.load(Ordering::SeqCst), 0);
        tokio::task::spawn_blocking(move || q.stop()).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_receiver_that_is_down_holds_the_reader_and_nothing_is_lost() {
        let d = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(d.path(), 1024, &mut |_| {}).unwrap();
        write(
            &mut w,
            Record::Series(vec![(1, Labels::from_pairs([("__name__", "a")]))]),
        );
        // Nothing listens on this port yet.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let url = format!("http://{addr}/api/v1/write");
        let mut cfg = config(&url);
        cfg.remote_write[0].queue_config.as_mut().unwrap().capacity = Some(5);
        let stop = CancellationToken::new();
        let q = Queue::start(
            d.path().to_path_buf(),
            &cfg.remote_write[0],
            &cfg,
            "down".into(),
            &stop,
        )
        .unwrap();
        // Many small segments: the reader goes through them while it catches up.
        for t in 0..500 {
            write(&mut w, Record::Samples(vec![(1, t, t as f64)]));
        }
        let stats = q.stats.clone();
        until("failures", || stats.failed.load(Ordering::SeqCst) > 0).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The reader is held: at most a shard's capacity plus a batch are pending.
        assert!(stats.pending.load(Ordering::SeqCst) <= 5 + 3 + 1);
        assert!(w.segment() > 3);
        // The receiver comes up on the same address.
        let r = Arc::new(Receiver::default());
        let app = axum::Router::new()
            .route("/api/v1/write", axum::routing::post(receive))
            .with_state(r.clone());
        let l = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        until("all 500 sent", || stats.sent.load(Ordering::SeqCst) == 500).await;
        let ts: Vec<i64> = r
            .got
            .lock()
            .unwrap()
            .iter()
            .flat_map(|g| {
                g.timeseries
                    .iter()
                    .flat_map(|t| t.samples.iter().map(|s| s.timestamp))
            })
            .collect();
        assert_eq!(ts, (0..500).collect::<Vec<_>>());
        tokio::task::spawn_blocking(move || q.stop()).await.unwrap();
    }

    #[test]
    fn shards_follow_the_load_within_their_bounds() {
        let s = QueueSettings {
            min_shards: 1,
            max_shards: 10,
            ..QueueSettings::from_config(&config("http://x/").remote_write[0])
        };
        // 1 ms a sample to send, 2000 samples/s in: 2 shards.
        assert_eq!(desired_shards(2000.0, 1000.0, 1.0, 0.0, &s), 2);
        // A backlog of 100,000 adds 5,000/s to clear; a larger one is capped at 10.
        assert_eq!(desired_shards(2000.0, 1000.0, 1.0, 100_000.0, &s), 7);
        assert_eq!(desired_shards(2000.0, 1000.0, 1.0, 1e6, &s), 10);
        assert_eq!(desired_shards(0.0, 0.0, 0.0, 0.0, &s), 1);
    }
}
