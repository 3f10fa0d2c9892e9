//! Remote write (Prometheus's remote_write 1.0: protobuf, Snappy, the standard headers)
//! to any Prometheus-compatible receiver: Prometheus with
//! `--web.enable-remote-write-receiver`, Mimir, Thanos Receive, VictoriaMetrics, Cortex.
//! One [`queue::Queue`] per `remote_write` entry, each following the WAL on its own.

pub mod proto;
pub mod queue;
pub mod wal_tail;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use queue::{Queue, DROP_REASONS};

/// A metric family for `/metrics`: name, type, help and `({labels}, value)` samples.
pub type Family = (&'static str, &'static str, &'static str, Vec<(String, f64)>);

/// The queues of the current configuration.
pub struct RemoteWrite {
    wal_dir: PathBuf,
    shutdown: CancellationToken,
    queues: Mutex<Vec<Queue>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A queue's name in metrics: its `name`, or a short hash of its configuration as
/// Prometheus does.
fn queue_name(i: usize, rw: &crate::config::RemoteWriteConfig) -> String {
    rw.name.clone().unwrap_or_else(|| {
        let h = xxhash_rust::xxh3::xxh3_64(format!("{i}{:?}", rw).as_bytes());
        format!("{:06x}", h & 0xff_ffff)
    })
}

impl RemoteWrite {
    pub fn new(wal_dir: PathBuf, shutdown: CancellationToken) -> RemoteWrite {
        RemoteWrite {
            wal_dir,
            shutdown,
            queues: Mutex::new(Vec::new()),
        }
    }

    /// Start, keep or restart the queues for `cfg` (on start and reload): a queue whose
    /// settings and external labels are unchanged keeps running.
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let external = queue::external_labels(cfg);
        // Every new destination's HTTP client first: a bad one refuses the whole
        // configuration and leaves the running queues alone.
        for (i, rw) in cfg.remote_write.iter().enumerate() {
            crate::scrape::http::Client::new(&rw.http(), cfg)
                .map_err(|e| format!("remote_write[{i}]: {e}"))?;
        }
        let mut old = std::mem::take(&mut *lock(&self.queues));
        let mut next = Vec::new();
        for (i, rw) in cfg.remote_write.iter().enumerate() {
            if let Some(p) = old
                .iter()
                .position(|q| q.config == *rw && q.external == external)
            {
                next.push(old.remove(p));
                continue;
            }
            let name = queue_name(i, rw);
            tracing::info!(url = %rw.url, name = %name, "Starting remote write");
            next.push(Queue::start(
                self.wal_dir.clone(),
                rw,
                cfg,
                name,
                &self.shutdown,
            )?);
        }
        *lock(&self.queues) = next;
        // Stopped outside the lock: they flush for a few seconds.
        std::thread::spawn(move || old.into_iter().for_each(Queue::stop));
        Ok(())
    }

    /// Stop every queue, flushing what they hold (at most a few seconds).
    pub fn stop(&self) {
        let qs = std::mem::take(&mut *lock(&self.queues));
        qs.into_iter().for_each(Queue::stop);
    }

    /// Metric families for `/metrics`: (name, type, help, [(labels, value)]).
    pub fn metrics(&self) -> Vec<Family> {
        let qs = lock(&self.queues);
        if qs.is_empty() {
            return Vec::new();
        }
        let base = |q: &Queue| {
            format!(
                "remote_name=\"{}\",url=\"{}\"",
                crate::exposition::write::escape_label_value(&q.name),
                crate::exposition::write::escape_label_value(&q.url)
            )
        };
        let mut out: Vec<Family> = ONE_VALUE
            .iter()
            .map(|(name, ty, help, get)| {
                let v = qs
                    .iter()
                    .map(|q| (format!("{{{}}}", base(q)), get(&q.stats)))
                    .collect();
                (*name, *ty, *help, v)
            })
            .collect();
        let dropped = qs
            .iter()
            .flat_map(|q| {
                let b = base(q);
                DROP_REASONS.iter().enumerate().map(move |(i, r)| {
                    (
                        format!("{{{b},reason=\"{r}\"}}"),
                        q.stats.dropped[i].load(Ordering::Relaxed) as f64,
                    )
                })
            })
            .collect();
        out.push((
            "meshscope_remote_storage_samples_dropped_total",
            "counter",
            "Samples not sent, by reason (http_4xx: refused by the receiver; dropped_series: removed by write_relabel_configs; shutdown: unsent when the queue stopped).",
            dropped,
        ));
        out
    }
}

/// The families with one value per queue.
type Getter = fn(&queue::QueueStats) -> f64;
const ONE_VALUE: &[(&str, &str, &str, Getter)] = &[
    (
        "meshscope_remote_storage_samples_total",
        "counter",
        "Samples sent to the remote storage (acknowledged).",
        |s| s.sent.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_samples_failed_total",
        "counter",
        "Samples in sends that failed with a recoverable error (they are retried).",
        |s| s.failed.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_samples_in_total",
        "counter",
        "Samples read from the WAL and queued for sending.",
        |s| s.samples_in.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_samples_pending",
        "gauge",
        "Samples queued and not yet acknowledged.",
        |s| s.pending.load(Ordering::Relaxed).max(0) as f64,
    ),
    (
        "meshscope_remote_storage_bytes_total",
        "counter",
        "Compressed request bytes sent.",
        |s| s.bytes_sent.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_highest_timestamp_in_seconds",
        "gauge",
        "Newest sample timestamp read from the WAL.",
        |s| ts_secs(s.highest_read_ms.load(Ordering::Relaxed)),
    ),
    (
        "meshscope_remote_storage_queue_highest_sent_timestamp_seconds",
        "gauge",
        "Newest sample timestamp the receiver acknowledged.",
        |s| ts_secs(s.highest_sent_ms.load(Ordering::Relaxed)),
    ),
    (
        "meshscope_remote_storage_lag_seconds",
        "gauge",
        "Newest timestamp read from the WAL minus the newest acknowledged.",
        |s| {
                let (r, w) = (
                    s.highest_read_ms.load(Ordering::Relaxed),
                    s.highest_sent_ms.load(Ordering::Relaxed),
                );
                if r <= 0 || w <= 0 {
                    0.0
                } else {
                    (r - w).max(0) as f64 / 1000.0
                }
            },
    ),
    (
        "meshscope_remote_storage_shards",
        "gauge",
        "Shards sending in parallel.",
        |s| s.shards.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_shards_desired",
        "gauge",
        "Shards the last calculation asked for.",
        |s| s.desired_shards.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_wal_segment",
        "gauge",
        "The WAL segment being read.",
        |s| s.segment.load(Ordering::Relaxed) as f64,
    ),
    (
        "meshscope_remote_storage_wal_segments_skipped_total",
        "counter",
        "WAL segments deleted by the head's truncation before they were read (their samples were not sent).",
        |s| s.wal_segments_skipped.load(Ordering::Relaxed) as f64,
    ),
];

fn ts_secs(ms: i64) -> f64 {
    if ms <= 0 {
        0.0
    } else {
        ms as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        crate::config::load_str(
            text,
            std::path::Path::new("m.yml"),
            std::path::Path::new("/"),
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_destination_on_reload_keeps_the_running_queues() {
        let d = tempfile::tempdir().unwrap();
        let (_w, _) = crate::tsdb::wal::Wal::open(d.path(), 1 << 20, &mut |_| {}).unwrap();
        let rw = RemoteWrite::new(d.path().to_path_buf(), CancellationToken::new());
        rw.apply(&config(
            "remote_write:\n  - url: http://127.0.0.1:9/api/v1/write\n    name: a\n",
        ))
        .unwrap();
        let bad = config(
            "remote_write:\n  - url: https://127.0.0.1:9/w\n    tls_config: {ca_file: /nonexistent/ca.pem}\n",
        );
        let e = rw.apply(&bad).unwrap_err();
        assert!(e.contains("remote_write[0]"), "{e}");
        let names: Vec<String> = lock(&rw.queues).iter().map(|q| q.name.clone()).collect();
        assert_eq!(names, vec!["a".to_string()]);
        // Its metrics are there, labelled.
        let m = rw.metrics();
        assert!(m
            .iter()
            .any(|f| f.0 == "meshscope_remote_storage_samples_pending"
                && f.3[0].0.contains("remote_name=\"a\"")));
        tokio::task::spawn_blocking(move || rw.stop())
            .await
            .unwrap();
    }
}
