//! Sending alerts to Alertmanagers, as Prometheus's notifier does: the rule manager hands
//! over the alerts that are due (firing ones again every minute, resolved ones once more
//! after they cleared), they wait in a bounded queue (the oldest dropped and counted when
//! it is full), and a sender posts them in batches of at most 64 to every discovered
//! Alertmanager of every `alerting.alertmanagers` entry (`POST …/api/v2/alerts`), all at
//! once. External labels are added to each alert and `alert_relabel_configs` applied
//! before it is queued. Discovery is the scrape side's (`static_configs`,
//! `file_sd_configs`, `http_sd_configs`), followed by the entry's `relabel_configs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
#[cfg(test)]
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::relabel::{self, LabelMap, RelabelConfig};
use crate::config::{AlertmanagerConfig, Config};
use crate::scrape::discovery::{self, Update};
use crate::scrape::http;
use crate::scrape::target::TargetGroup;
use crate::tsdb::Labels;

/// Default of `--alertmanager.notification-queue-capacity`, as in Prometheus.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// The most alerts in one request, as in Prometheus.
const MAX_BATCH: usize = 64;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One alert as the rule manager hands it over.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// When it resolved, or until when a firing alert is valid if not sent again.
    pub ends_at_ms: i64,
    pub generator_url: String,
}

/// The body of Alertmanager's `POST /api/v2/alerts`: a list of these.
#[derive(Serialize)]
struct PostableAlert<'a> {
    labels: BTreeMap<&'a str, &'a str>,
    annotations: &'a BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt")]
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
}

/// Counters of one Alertmanager (by its URL), for `/metrics`.
#[derive(Default, Debug)]
pub struct AmStats {
    pub sent: AtomicU64,
    pub errors: AtomicU64,
    /// Requests and their total time (the latency summary's count and sum), µs.
    pub requests: AtomicU64,
    pub latency_us: AtomicU64,
}

/// One `alerting.alertmanagers` entry with what its discovery found.
struct AmSet {
    cfg: AlertmanagerConfig,
    client: http::Client,
    groups: BTreeMap<String, Vec<TargetGroup>>,
    /// The Alertmanagers' alert URLs, and the label sets relabelling dropped.
    active: Vec<String>,
    dropped: Vec<LabelMap>,
}

impl AmSet {
    fn resolve(&mut self) {
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for g in self.groups.values().flatten() {
            for t in &g.targets {
                let mut lb: LabelMap = g.labels.clone();
                lb.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())));
                lb.insert("__scheme__".into(), self.cfg.scheme.clone());
                let prefix = self.cfg.path_prefix.trim_end_matches('/');
                lb.insert("__alerts_path__".into(), format!("{prefix}/api/v2/alerts"));
                let before = lb.clone();
                if !relabel::process(&mut lb, &self.cfg.relabel_configs) {
                    dropped.push(before);
                    continue;
                }
                let Some(addr) = lb.get("__address__").filter(|a| !a.is_empty()) else {
                    dropped.push(before);
                    continue;
                };
                let url = format!(
                    "{}://{}{}",
                    lb.get("__scheme__").map_or("http", String::as_str),
                    addr,
                    lb.get("__alerts_path__").map_or("", String::as_str)
                );
                if !active.contains(&url) {
                    active.push(url);
                }
            }
        }
        self.active = active;
        self.dropped = dropped;
    }
}

/// What `/api/v1/alertmanagers` shows.
pub struct Discovered {
    pub active: Vec<String>,
    pub dropped: Vec<LabelMap>,
}

/// The queue, the Alertmanagers and the sender.
pub struct Notifier {
    capacity: usize,
    queue: Mutex<VecDeque<Notification>>,
    wake: Notify,
    external_labels: Mutex<LabelMap>,
    relabel: Mutex<Vec<RelabelConfig>>,
    sets: Mutex<Vec<AmSet>>,
    /// Stops the discovery of the running configuration.
    discovery_stop: Mutex<CancellationToken>,
    shutdown: CancellationToken,
    /// Alerts dropped: the queue was full, relabelling dropped none of them but no
    /// Alertmanager took them, or there was none to send to.
    pub dropped: AtomicU64,
    pub stats: Mutex<HashMap<String, Arc<AmStats>>>,
    pub sd_failures: Arc<AtomicU64>,
}

impl Notifier {
    /// A notifier with a queue of `capacity` alerts; its sender and discovery run on the
    /// current runtime until `shutdown`.
    pub fn start(capacity: usize, shutdown: CancellationToken) -> Arc<Notifier> {
        let n = Notifier::new(capacity, shutdown);
        tokio::spawn(n.clone().send_loop());
        n
    }

    /// The notifier without its sender task.
    fn new(capacity: usize, shutdown: CancellationToken) -> Arc<Notifier> {
        Arc::new(Notifier {
            capacity: capacity.max(1),
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            external_labels: Mutex::new(LabelMap::new()),
            relabel: Mutex::new(Vec::new()),
            sets: Mutex::new(Vec::new()),
            discovery_stop: Mutex::new(CancellationToken::new()),
            shutdown,
            dropped: AtomicU64::new(0),
            stats: Mutex::new(HashMap::new()),
            sd_failures: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Apply a configuration (on start and reload): external labels, alert relabelling
    /// and the Alertmanagers (their discovery restarted).
    pub fn apply(self: &Arc<Self>, cfg: &Config) -> Result<(), String> {
        // Every client first: a configuration that fails leaves the running one alone.
        let mut sets = Vec::new();
        let mut sd_clients = Vec::new();
        for (i, am) in cfg.alerting.alertmanagers.iter().enumerate() {
            let client = http::Client::new(&am.http(), cfg)
                .map_err(|e| format!("alerting.alertmanagers[{i}]: {e}"))?;
            let mut s = AmSet {
                cfg: am.clone(),
                client,
                groups: BTreeMap::new(),
                active: Vec::new(),
                dropped: Vec::new(),
            };
            s.groups.insert(
                "static".into(),
                discovery::static_groups(&am.static_configs),
            );
            s.resolve();
            sets.push(s);
            let mut clients = Vec::new();
            for (j, h) in am.http_sd_configs.iter().enumerate() {
                clients.push(http::Client::new(&h.http(), cfg).map_err(|e| {
                    format!("alerting.alertmanagers[{i}].http_sd_configs[{j}]: {e}")
                })?);
            }
            sd_clients.push(clients);
        }
        let stop = self.shutdown.child_token();
        let old = std::mem::replace(&mut *lock(&self.discovery_stop), stop.clone());
        old.cancel();
        *lock(&self.sets) = sets;
        // One task per entry applies its providers' groups. It checks its token under
        // the sets' lock, and a reload cancels the token before it replaces the sets: an
        // update of the earlier configuration never lands in the new one.
        for ((i, am), clients) in cfg
            .alerting
            .alertmanagers
            .iter()
            .enumerate()
            .zip(sd_clients)
        {
            let (tx, mut rx) = mpsc::unbounded_channel::<Update>();
            let (weak, st) = (Arc::downgrade(self), stop.clone());
            tokio::spawn(async move {
                loop {
                    let u = tokio::select! {
                        _ = st.cancelled() => break,
                        u = rx.recv() => u,
                    };
                    let (Some(u), Some(n)) = (u, weak.upgrade()) else {
                        break;
                    };
                    let mut sets = lock(&n.sets);
                    if st.is_cancelled() {
                        break;
                    }
                    if let Some(s) = sets.get_mut(i) {
                        s.groups.insert(u.provider, u.groups);
                        s.resolve();
                    }
                }
            });
            let sink = |kind: &str, j: usize| discovery::Sink {
                job: format!("alertmanagers[{i}]"),
                provider: format!("{kind}/{j}"),
                tx: tx.clone(),
                failures: self.sd_failures.clone(),
            };
            for (j, fsd) in am.file_sd_configs.iter().enumerate() {
                let patterns = fsd.files.iter().map(|f| cfg.resolve(f)).collect();
                tokio::spawn(discovery::run_file_sd(
                    patterns,
                    fsd.refresh().as_std(),
                    sink("file_sd", j),
                    stop.clone(),
                ));
            }
            for ((j, h), client) in am.http_sd_configs.iter().enumerate().zip(clients) {
                tokio::spawn(discovery::run_http_sd(
                    h.url.clone(),
                    h.refresh().as_std(),
                    client,
                    sink("http_sd", j),
                    stop.clone(),
                ));
            }
        }
        *lock(&self.external_labels) = cfg.global.external_labels.clone();
        *lock(&self.relabel) = cfg.alerting.alert_relabel_configs.clone();
        Ok(())
    }

    /// Queue alerts: external labels added (where the alert has no such label), then
    /// `alert_relabel_configs`; when the queue is full the oldest alerts are dropped.
    pub fn send(&self, alerts: Vec<Notification>) {
        // Without `alerting.alertmanagers` nothing is sent, and nothing counts as dropped
        // (the mesh's own alert on dropped notifications would fire in every collector
        // that sends alerts nowhere).
        if alerts.is_empty() || lock(&self.sets).is_empty() {
            return;
        }
        let ext = lock(&self.external_labels).clone();
        let rc = lock(&self.relabel).clone();
        let mut ready = Vec::with_capacity(alerts.len());
        for mut a in alerts {
            if !ext.is_empty() || !rc.is_empty() {
                let mut lb: LabelMap = a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                for (k, v) in &ext {
                    lb.entry(k.clone()).or_insert_with(|| v.clone());
                }
                if !relabel::process(&mut lb, &rc) {
                    continue;
                }
                a.labels = Labels::from_pairs(lb);
            }
            ready.push(a);
        }
        {
            let mut q = lock(&self.queue);
            q.extend(ready);
            let over = q.len().saturating_sub(self.capacity);
            if over > 0 {
                q.drain(..over);
                self.dropped.fetch_add(over as u64, Ordering::Relaxed);
                tracing::warn!(
                    dropped = over,
                    "The alert notification queue is full; dropped the oldest alerts"
                );
            }
        }
        self.wake.notify_one();
    }

    pub fn queue_length(&self) -> usize {
        lock(&self.queue).len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The Alertmanagers of every entry, for `/api/v1/alertmanagers` and `/metrics`.
    pub fn discovered(&self) -> Discovered {
        let sets = lock(&self.sets);
        Discovered {
            active: sets.iter().flat_map(|s| s.active.iter().cloned()).collect(),
            dropped: sets
                .iter()
                .flat_map(|s| s.dropped.iter().cloned())
                .collect(),
        }
    }

    fn stats_of(&self, url: &str) -> Arc<AmStats> {
        lock(&self.stats)
            .entry(url.to_string())
            .or_default()
            .clone()
    }

    async fn send_loop(self: Arc<Self>) {
        loop {
            let batch: Vec<Notification> = {
                let mut q = lock(&self.queue);
                let n = q.len().min(MAX_BATCH);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = self.wake.notified() => continue,
                }
            }
            if !self.send_all(&batch).await {
                self.dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Post one batch to every Alertmanager at once; whether at least one took it.
    async fn send_all(&self, batch: &[Notification]) -> bool {
        let body = match serde_json::to_vec(&postable(batch)) {
            Ok(b) => bytes::Bytes::from(b),
            Err(e) => {
                tracing::error!(error = %e, "Encoding alerts failed");
                return false;
            }
        };
        let targets: Vec<(String, http::Client, Duration)> = lock(&self.sets)
            .iter()
            .flat_map(|s| {
                s.active
                    .iter()
                    .map(|u| (u.clone(), s.client.clone(), s.cfg.timeout().as_std()))
            })
            .collect();
        if targets.is_empty() {
            return false;
        }
        let sends = targets.into_iter().map(|(url, client, timeout)| {
            let body = body.clone();
            let stats = self.stats_of(&url);
            async move {
                let t0 = Instant::now();
                let res = post(&client, &url, body, timeout).await;
                stats.requests.fetch_add(1, Ordering::Relaxed);
                stats
                    .latency_us
                    .fetch_add(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
                match res {
                    Ok(()) => {
                        stats.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        true
                    }
                    Err(e) => {
                        stats.errors.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        tracing::warn!(alertmanager = %url, error = %e, count = batch.len(), "Sending alerts failed");
                        false
                    }
                }
            }
        });
        let results = futures_util::future::join_all(sends).await;
        results.into_iter().any(|ok| ok)
    }
}

async fn post(
    client: &http::Client,
    url: &str,
    body: bytes::Bytes,
    timeout: Duration,
) -> Result<(), String> {
    let req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(timeout)
        .body(body);
    let resp = client
        .authorize(req)?
        .send()
        .await
        .map_err(|e| http::describe(&e))?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("bad response status {status}"))
    }
}

fn postable(batch: &[Notification]) -> Vec<PostableAlert<'_>> {
    batch
        .iter()
        .map(|a| PostableAlert {
            labels: a.labels.iter().collect(),
            annotations: &a.annotations,
            starts_at: crate::server::rfc3339(a.starts_at_ms),
            ends_at: crate::server::rfc3339(a.ends_at_ms),
            generator_url: &a.generator_url,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(i: usize) -> Notification {
        Notification {
            labels: Labels::from_pairs([("alertname", "A"), ("i", &i.to_string())]),
            annotations: BTreeMap::new(),
            starts_at_ms: 0,
            ends_at_ms: 1,
            generator_url: String::new(),
        }
    }

    /// A notifier with one Alertmanager configured (nothing runs: its queue stays).
    /// `global` (a whole `global:` section) and `alerting` (more keys of `alerting:`).
    fn with_one_alertmanager(capacity: usize, global: &str, alerting: &str) -> Arc<Notifier> {
        let n = Notifier::new(capacity, CancellationToken::new());
        let cfg = crate::config::load_str(
            &format!("{global}alerting:\n{alerting}  alertmanagers:\n    - static_configs: [{{targets: ['a:9093']}}]\n"),
            Path::new("m.yml"),
            Path::new("."),
        )
        .expect("the configuration");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        rt.block_on(async { n.apply(&cfg) }).expect("applied");
        n
    }

    #[test]
    fn without_alertmanagers_nothing_is_queued_nor_dropped() {
        let n = Notifier::new(3, CancellationToken::new());
        n.send((0..5).map(alert).collect());
        assert_eq!(n.queue_length(), 0);
        assert_eq!(n.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_full_queue_keeps_the_newest_alerts_and_counts_the_dropped() {
        let n = with_one_alertmanager(3, "", "");
        n.send((0..5).map(alert).collect());
        n.send(vec![alert(5)]);
        let q: Vec<String> = lock(&n.queue)
            .iter()
            .map(|a| a.labels.get("i").unwrap_or("").to_string())
            .collect();
        assert_eq!(q, ["3", "4", "5"]);
        assert_eq!(n.dropped.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn alerts_get_the_external_labels_then_the_alert_relabelling() {
        let n = with_one_alertmanager(
            10,
            "global:\n  external_labels: {cluster: c1, i: ext}\n",
            "  alert_relabel_configs:\n    - source_labels: [i]\n      regex: '1'\n      action: drop\n    - target_label: via\n      replacement: meshscope\n",
        );
        n.send((0..3).map(alert).collect());
        let q: Vec<Labels> = lock(&n.queue).iter().map(|a| a.labels.clone()).collect();
        // The alert's own `i` wins over the external label's; alert 1 is dropped.
        assert_eq!(
            q,
            [0, 2].map(|i| Labels::from_pairs([
                ("alertname", "A"),
                ("cluster", "c1"),
                ("i", &i.to_string()),
                ("via", "meshscope")
            ]))
        );
        assert_eq!(n.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn alertmanagers_are_found_by_relabelling_their_targets() {
        let cfg = crate::config::load_str(
            "alerting:\n  alertmanagers:\n    - scheme: https\n      path_prefix: /am/\n      static_configs:\n        - targets: ['a:9093', 'b:9093', 'c:9093']\n      relabel_configs:\n        - source_labels: [__address__]\n          regex: 'c:.*'\n          action: drop\n        - source_labels: [__address__]\n          regex: 'b:.*'\n          target_label: __alerts_path__\n          replacement: /other/api/v2/alerts\n",
            Path::new("m.yml"),
            Path::new("."),
        )
        .expect("the configuration");
        let n = Notifier::new(10, CancellationToken::new());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        rt.block_on(async { n.apply(&cfg) }).expect("applied");
        let d = n.discovered();
        assert_eq!(
            d.active,
            [
                "https://a:9093/am/api/v2/alerts",
                "https://b:9093/other/api/v2/alerts"
            ]
        );
        assert_eq!(d.dropped.len(), 1);
        assert_eq!(d.dropped[0]["__address__"], "c:9093");
    }

    #[tokio::test]
    async fn alertmanagers_from_a_file_follow_it_and_a_reload_replaces_them() {
        let d = tempfile::tempdir().expect("a directory");
        let sd = d.path().join("am.json");
        std::fs::write(&sd, r#"[{"targets": ["a:9093"]}]"#).expect("written");
        let stop = CancellationToken::new();
        let n = Notifier::start(10, stop.clone());
        let cfg = |text: &str| {
            crate::config::load_str(text, &d.path().join("m.yml"), d.path()).expect("config")
        };
        n.apply(&cfg(
            "alerting:\n  alertmanagers:\n    - file_sd_configs: [{files: [am.json]}]\n",
        ))
        .expect("applied");
        let wait_for = |want: Vec<&'static str>| {
            let n = n.clone();
            async move {
                for _ in 0..200 {
                    if n.discovered().active == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                panic!("{:?} != {want:?}", n.discovered().active);
            }
        };
        wait_for(vec!["http://a:9093/api/v2/alerts"]).await;
        std::fs::write(&sd, r#"[{"targets": ["a:9093", "b:9093"]}]"#).expect("written");
        wait_for(vec![
            "http://a:9093/api/v2/alerts",
            "http://b:9093/api/v2/alerts",
        ])
        .await;
        // A reload to static Alertmanagers: the file no longer counts.
        n.apply(&cfg(
            "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['c:9093']}]\n",
        ))
        .expect("applied");
        std::fs::write(&sd, r#"[{"targets": ["d:9093"]}]"#).expect("written");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(n.discovered().active, ["http://c:9093/api/v2/alerts"]);
        stop.cancel();
    }

    #[test]
    fn the_body_is_alertmanagers_postable_alerts() {
        let mut a = alert(7);
        a.annotations.insert("summary".into(), "s".into());
        a.starts_at_ms = 1_700_000_000_000;
        a.ends_at_ms = 1_700_000_060_500;
        a.generator_url = "http://x/graph?g0.expr=up".into();
        let v = serde_json::to_value(postable(&[a])).expect("JSON");
        assert_eq!(
            v,
            serde_json::json!([{
                "labels": {"alertname": "A", "i": "7"},
                "annotations": {"summary": "s"},
                "startsAt": "2023-11-14T22:13:20.000Z",
                "endsAt": "2023-11-14T22:14:20.500Z",
                "generatorURL": "http://x/graph?g0.expr=up",
            }])
        );
    }
}
