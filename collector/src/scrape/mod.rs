//! Scraping: discovery, targets, one loop per target, and the manager that applies a
//! configuration (and a reload) to all of them.

pub mod consul;
pub mod discovery;
pub mod http;
pub mod scrape_loop;
pub mod target;
mod tls;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::relabel::LabelMap;
use crate::config::{Config, ScrapeConfig};
use crate::tsdb::Db;
use target::{Populated, Target, TargetGroup};

/// Upper bounds (seconds) of the scrape duration histogram.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters for the collector's own `/metrics`.
#[derive(Default, Debug)]
pub struct ScrapeStats {
    pub scrapes: AtomicU64,
    pub failed: AtomicU64,
    pub samples_scraped: AtomicU64,
    pub sd_file_read_errors: Arc<AtomicU64>,
    /// `http_sd_configs` fetches that failed.
    pub sd_http_failures: Arc<AtomicU64>,
    /// `consul_sd_configs` queries that failed.
    pub sd_consul_failures: Arc<AtomicU64>,
    /// Per bucket of [`DURATION_BUCKETS`] (not cumulative), then +Inf.
    pub duration_buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    /// Sum of scrape durations in microseconds.
    pub duration_sum_us: AtomicU64,
    /// Bumped after every scrape's commit: the mesh-model rules evaluate right after new
    /// data arrives rather than waiting for their next tick (see `RuleManager`).
    pub committed: Arc<Committed>,
}

/// A counter of committed scrapes that tasks can wait on (a `watch` channel: every
/// receiver sees that something changed, however many scrapes happened meanwhile), and
/// the `node`s whose series those scrapes wrote, for the mesh model to bring up to date.
#[derive(Debug)]
pub struct Committed {
    tx: tokio::sync::watch::Sender<u64>,
    nodes: std::sync::Mutex<std::collections::HashSet<Arc<str>>>,
}

impl Default for Committed {
    fn default() -> Self {
        Committed {
            tx: tokio::sync::watch::Sender::new(0),
            nodes: Default::default(),
        }
    }
}

impl Committed {
    /// A scrape committed series of these nodes.
    pub fn bump<'a>(&self, nodes: impl ExactSizeIterator<Item = &'a Arc<str>>) {
        if nodes.len() > 0 {
            let mut set = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
            set.extend(nodes.cloned());
        }
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// The nodes committed since the last call.
    pub fn take_nodes(&self) -> std::collections::HashSet<Arc<str>> {
        std::mem::take(&mut *self.nodes.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl ScrapeStats {
    pub fn observe(&self, secs: f64) {
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.duration_sum_us
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }
}

struct RunningLoop {
    target: Arc<Target>,
    /// False for the placeholders shown while `target_limit` is exceeded.
    running: bool,
    stop: CancellationToken,
    /// Set before `stop` when the target went away: the loop then marks its series stale.
    stale: Arc<AtomicBool>,
}

struct Pool {
    cfg: Arc<ScrapeConfig>,
    client: http::Client,
    groups: BTreeMap<String, Vec<TargetGroup>>,
    loops: HashMap<u64, RunningLoop>,
    dropped: Vec<LabelMap>,
    /// Set when `target_limit` is exceeded: no target of the job is scraped.
    limit_error: Option<String>,
    discovery_stop: CancellationToken,
}

/// Everything the targets API shows for one job.
pub struct PoolTargets {
    pub job: String,
    pub active: Vec<Arc<Target>>,
    pub dropped: Vec<LabelMap>,
    pub limit_error: Option<String>,
}

/// Runs the scrape loops of the current configuration.
pub struct ScrapeManager {
    db: Arc<Db>,
    pub stats: Arc<ScrapeStats>,
    pools: Mutex<BTreeMap<String, Pool>>,
    updates: mpsc::UnboundedSender<discovery::Update>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ScrapeManager {
    /// Create the manager and start its discovery-update task on the current runtime.
    pub fn start(db: Arc<Db>, shutdown: CancellationToken) -> Arc<ScrapeManager> {
        let (tx, mut rx) = mpsc::unbounded_channel::<discovery::Update>();
        let m = Arc::new(ScrapeManager {
            db,
            stats: Arc::new(ScrapeStats::default()),
            pools: Mutex::new(BTreeMap::new()),
            updates: tx,
        });
        let weak = Arc::downgrade(&m);
        tokio::spawn(async move {
            loop {
                let u = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    u = rx.recv() => u,
                };
                let Some(u) = u else { break };
                let Some(m) = weak.upgrade() else { break };
                m.update_groups(u);
            }
            if let Some(m) = weak.upgrade() {
                m.stop_all();
            }
        });
        m
    }

    /// Apply a configuration: unchanged jobs keep running untouched, changed jobs restart
    /// (without staleness markers, their series continue), removed jobs stop and mark
    /// their series stale. Fails, changing nothing, if a job's HTTP client cannot be
    /// built (unreadable CA file, ...).
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let mut clients = HashMap::new();
        for sc in &cfg.scrape_configs {
            let c = http::Client::new(&sc.http(), cfg)
                .map_err(|e| format!("job {:?}: {e}", sc.job_name))?;
            clients.insert(sc.job_name.clone(), c);
        }
        let mut pools = lock(&self.pools);
        let wanted: HashMap<&str, &ScrapeConfig> = cfg
            .scrape_configs
            .iter()
            .map(|s| (s.job_name.as_str(), s))
            .collect();
        let names: Vec<String> = pools.keys().cloned().collect();
        for name in names {
            let keep = wanted
                .get(name.as_str())
                .is_some_and(|sc| **sc == *pools[&name].cfg);
            if !keep {
                if let Some(p) = pools.remove(&name) {
                    let gone = !wanted.contains_key(name.as_str());
                    p.discovery_stop.cancel();
                    for l in p.loops.into_values() {
                        l.stale.store(gone, Ordering::Relaxed);
                        l.stop.cancel();
                    }
                }
            }
        }
        for sc in &cfg.scrape_configs {
            if pools.contains_key(&sc.job_name) {
                continue;
            }
            let stop = CancellationToken::new();
            let mut pool = Pool {
                cfg: Arc::new(sc.clone()),
                client: clients.remove(&sc.job_name).ok_or("missing client")?,
                groups: BTreeMap::new(),
                loops: HashMap::new(),
                dropped: Vec::new(),
                limit_error: None,
                discovery_stop: stop.clone(),
            };
            pool.groups.insert(
                "static".into(),
                discovery::static_groups(&sc.static_configs),
            );
            for (i, fsd) in sc.file_sd_configs.iter().enumerate() {
                let patterns = fsd.files.iter().map(|f| cfg.resolve(f)).collect();
                tokio::spawn(discovery::run_file_sd(
                    patterns,
                    fsd.refresh().as_std(),
                    discovery::Sink {
                        job: sc.job_name.clone(),
                        provider: format!("file_sd/{i}"),
                        tx: self.updates.clone(),
                        failures: self.stats.sd_file_read_errors.clone(),
                    },
                    stop.clone(),
                ));
            }
            for (i, h) in sc.http_sd_configs.iter().enumerate() {
                let client = http::Client::new(&h.http(), cfg)
                    .map_err(|e| format!("job {:?}: http_sd_configs[{i}]: {e}", sc.job_name))?;
                tokio::spawn(discovery::run_http_sd(
                    h.url.clone(),
                    h.refresh().as_std(),
                    client,
                    discovery::Sink {
                        job: sc.job_name.clone(),
                        provider: format!("http_sd/{i}"),
                        tx: self.updates.clone(),
                        failures: self.stats.sd_http_failures.clone(),
                    },
                    stop.clone(),
                ));
            }
            for (i, c) in sc.consul_sd_configs.iter().enumerate() {
                let client = http::Client::new(&c.http(), cfg)
                    .map_err(|e| format!("job {:?}: consul_sd_configs[{i}]: {e}", sc.job_name))?;
                tokio::spawn(consul::run(
                    c.clone(),
                    client,
                    discovery::Sink {
                        job: sc.job_name.clone(),
                        provider: format!("consul_sd/{i}"),
                        tx: self.updates.clone(),
                        failures: self.stats.sd_consul_failures.clone(),
                    },
                    stop.clone(),
                ));
            }
            self.sync_pool(&mut pool);
            pools.insert(sc.job_name.clone(), pool);
        }
        Ok(())
    }

    fn update_groups(&self, u: discovery::Update) {
        let mut pools = lock(&self.pools);
        if let Some(pool) = pools.get_mut(&u.job) {
            pool.groups.insert(u.provider, u.groups);
            self.sync_pool(pool);
        }
    }

    /// Recompute a job's targets from its groups; start new loops, stop vanished ones.
    fn sync_pool(&self, pool: &mut Pool) {
        let mut targets: Vec<Target> = Vec::new();
        let mut dropped = Vec::new();
        for groups in pool.groups.values() {
            for g in groups {
                for t in &g.targets {
                    match target::populate(t, &g.labels, &pool.cfg) {
                        Ok(Populated::Target(t)) => targets.push(t),
                        Ok(Populated::Dropped(d)) => dropped.push(d),
                        Err(e) => {
                            tracing::warn!(job = %pool.cfg.job_name, source = %g.source, error = %e, "Skipping a discovered target")
                        }
                    }
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(t.hash));
        pool.dropped = dropped;
        let limit = pool.cfg.target_limit;
        pool.limit_error = (limit > 0 && targets.len() as u64 > limit).then(|| {
            format!(
                "target_limit exceeded (number of targets: {}, limit: {limit})",
                targets.len()
            )
        });
        if let Some(e) = &pool.limit_error {
            tracing::error!(job = %pool.cfg.job_name, error = %e, "Not scraping the job");
        }
        let new_hashes: std::collections::HashSet<u64> = if pool.limit_error.is_some() {
            Default::default()
        } else {
            targets.iter().map(|t| t.hash).collect()
        };
        pool.loops.retain(|h, l| {
            if l.running && new_hashes.contains(h) {
                true
            } else {
                l.stale.store(true, Ordering::Relaxed);
                l.stop.cancel();
                false
            }
        });
        if let Some(e) = &pool.limit_error {
            // Keep the targets visible, down, with the reason.
            for t in targets {
                let t = Arc::new(t);
                {
                    let mut st = lock(&t.status);
                    st.health = target::Health::Down;
                    st.last_error = e.clone();
                }
                pool.loops.insert(
                    t.hash,
                    RunningLoop {
                        target: t,
                        running: false,
                        stop: CancellationToken::new(),
                        stale: Arc::new(AtomicBool::new(false)),
                    },
                );
            }
            return;
        }
        for t in targets {
            if pool.loops.contains_key(&t.hash) {
                continue;
            }
            let t = Arc::new(t);
            let stop = CancellationToken::new();
            let stale = Arc::new(AtomicBool::new(false));
            let sl = scrape_loop::ScrapeLoop::new(
                self.db.clone(),
                t.clone(),
                pool.cfg.clone(),
                pool.client.clone(),
                self.stats.clone(),
            );
            tokio::spawn(sl.run(stop.clone(), stale.clone()));
            tracing::debug!(job = %pool.cfg.job_name, url = %t.url, "Started a scrape loop");
            pool.loops.insert(
                t.hash,
                RunningLoop {
                    target: t,
                    running: true,
                    stop,
                    stale,
                },
            );
        }
    }

    /// Stop every loop (shutdown: no staleness markers, as in Prometheus).
    pub fn stop_all(&self) {
        let mut pools = lock(&self.pools);
        for (_, p) in std::mem::take(&mut *pools) {
            p.discovery_stop.cancel();
            for l in p.loops.into_values() {
                l.stop.cancel();
            }
        }
    }

    /// The targets of every job, for the targets API.
    pub fn targets(&self) -> Vec<PoolTargets> {
        let pools = lock(&self.pools);
        pools
            .iter()
            .map(|(job, p)| {
                let mut active: Vec<Arc<Target>> =
                    p.loops.values().map(|l| l.target.clone()).collect();
                active.sort_by(|a, b| a.url.cmp(&b.url).then(a.hash.cmp(&b.hash)));
                PoolTargets {
                    job: job.clone(),
                    active,
                    dropped: p.dropped.clone(),
                    limit_error: p.limit_error.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
