//! The collector process: the store, the scrape manager, background maintenance, reload
//! and the HTTP server (`/metrics`, `/-/healthy`, `/-/ready`, `/-/reload`,
//! `/api/v1/targets`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::exposition::write::{escape_label_value, fmt_value};
use crate::rules::RuleManager;
use crate::scrape::scrape_loop::now_ms;
use crate::scrape::{ScrapeManager, DURATION_BUCKETS};
use crate::tsdb::{Db, Options};

/// How the collector is started (the `meshscope collect` flags).
#[derive(Clone, Debug)]
pub struct CollectorOptions {
    pub config_file: PathBuf,
    pub storage_path: PathBuf,
    pub storage: Options,
    pub listen: SocketAddr,
    /// How often the store persists, compacts and applies retention.
    pub maintain_every: Duration,
    /// PromQL: lookback delta, timeout, sample limit.
    pub query: crate::promql::EvalOptions,
    /// `--query.max-concurrency`.
    pub query_concurrency: usize,
    /// Load the embedded mesh model rules (besides the configuration's `rule_files`).
    pub mesh_model_rules: bool,
    /// The command line's flags and values, for `/api/v1/status/flags`.
    pub flags: std::collections::BTreeMap<String, String>,
    /// `--web.config.file`: TLS, basic auth and headers for the HTTP server.
    pub web_config: Option<PathBuf>,
    /// `--shard I/N`: scrape only this shard of the targets.
    pub shard: Option<(u64, u64)>,
    /// `--web.max-connections`, `--web.read-timeout`.
    pub serve: crate::serve::ServeOptions,
    /// `--alertmanager.notification-queue-capacity`.
    pub notification_queue_capacity: usize,
    /// `--rules.alert.resend-delay` (ms).
    pub alert_resend_delay_ms: i64,
}

/// Read the configuration file and apply `--shard`.
fn load_config(file: &std::path::Path, shard: Option<(u64, u64)>) -> anyhow::Result<Config> {
    let mut cfg = config::load_file(file)?;
    if let Some((i, n)) = shard {
        cfg.shard(i, n).map_err(anyhow::Error::msg)?;
    }
    Ok(cfg)
}

/// The running collector, shared by the HTTP handlers.
pub struct Collector {
    pub db: Arc<Db>,
    pub scrape: Arc<ScrapeManager>,
    pub config: RwLock<Arc<Config>>,
    config_file: PathBuf,
    reload_ok: AtomicBool,
    reload_ok_at: AtomicI64,
    started_ms: i64,
    reload_lock: tokio::sync::Mutex<()>,
    pub query: crate::promql::EvalOptions,
    pub query_concurrency: usize,
    pub rules: Arc<RuleManager>,
    pub remote: Arc<crate::remote::RemoteWrite>,
    pub notifier: Arc<crate::notifier::Notifier>,
    mesh_model_rules: bool,
    flags: std::collections::BTreeMap<String, String>,
    retention: String,
    shard: Option<(u64, u64)>,
    /// The HTTP server's connection counters.
    pub serve_stats: Arc<crate::serve::ServeStats>,
}

/// The rule groups to run: the mesh model (unless turned off) and the configuration's
/// `rule_files`.
fn rule_groups(cfg: &Config, mesh_model: bool) -> Result<Vec<crate::rules::Group>, String> {
    let mut groups = if mesh_model {
        crate::rules::mesh_model()?
    } else {
        Vec::new()
    };
    groups.extend(crate::rules::load_rule_files(
        &cfg.rule_files,
        &cfg.base_dir,
    )?);
    Ok(groups)
}

/// The shortest scrape interval of any job (ms), the global one when there is no job.
fn shortest_scrape_interval(cfg: &Config) -> i64 {
    cfg.scrape_configs
        .iter()
        .map(|s| s.interval().0)
        .min()
        .unwrap_or(cfg.global.scrape_interval().0)
}

impl Collector {
    /// Re-read the configuration file and apply it. A bad file keeps the running
    /// configuration and returns why.
    pub async fn reload(&self) -> Result<(), String> {
        let _g = self.reload_lock.lock().await;
        let res = load_config(&self.config_file, self.shard)
            .map_err(|e| e.to_string())
            .and_then(|cfg| {
                let groups = rule_groups(&cfg, self.mesh_model_rules)?;
                self.scrape.apply(&cfg)?;
                self.rules
                    .set_scrape_interval(shortest_scrape_interval(&cfg));
                self.rules.apply(groups, cfg.global.evaluation_interval().0);
                self.remote.apply(&cfg)?;
                self.notifier.apply(&cfg)?;
                *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(cfg);
                Ok(())
            });
        match &res {
            Ok(()) => {
                self.reload_ok.store(true, Ordering::Relaxed);
                self.reload_ok_at.store(now_ms(), Ordering::Relaxed);
                tracing::info!(file = %self.config_file.display(), "Reloaded the configuration");
            }
            Err(e) => {
                self.reload_ok.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "Reloading the configuration failed; keeping the running one");
            }
        }
        res
    }
}

/// The runtime the collector runs on: threads with stacks that every walk over a query
/// as deep as `--query.max-depth` allows fits in (see [`crate::promql::MAX_DEPTH_CEILING`]).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(crate::promql::QUERY_THREAD_STACK)
        .build()
}

/// Start everything and serve until `shutdown` is cancelled (or SIGINT/SIGTERM).
/// `bound` receives the listening address once the server accepts connections.
pub async fn run(
    opts: CollectorOptions,
    shutdown: CancellationToken,
    bound: Option<tokio::sync::oneshot::Sender<SocketAddr>>,
) -> anyhow::Result<()> {
    let cfg = load_config(&opts.config_file, opts.shard)?;
    let web = match &opts.web_config {
        Some(p) => crate::webconfig::load(p)?,
        None => crate::webconfig::WebConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("listening on {}: {e}", opts.listen))?;
    let (path, sopts) = (opts.storage_path.clone(), opts.storage.clone());
    let db = tokio::task::spawn_blocking(move || Db::open(&path, sopts)).await??;
    let db = Arc::new(db);
    let groups = rule_groups(&cfg, opts.mesh_model_rules).map_err(anyhow::Error::msg)?;
    // Remote write first: it finds the end of the WAL, and everything committed after
    // that (the first scrape on) is sent.
    let remote = Arc::new(crate::remote::RemoteWrite::new(
        opts.storage_path.join("wal"),
        shutdown.clone(),
    ));
    remote.apply(&cfg).map_err(anyhow::Error::msg)?;
    let scrape = ScrapeManager::start(db.clone(), shutdown.clone());
    scrape.apply(&cfg).map_err(anyhow::Error::msg)?;
    let rules = RuleManager::new(db.clone(), opts.query.clone(), shutdown.clone());
    rules.follow_scrapes(scrape.stats.committed.clone());
    rules.set_scrape_interval(shortest_scrape_interval(&cfg));
    rules.apply(groups, cfg.global.evaluation_interval().0);
    let notifier =
        crate::notifier::Notifier::start(opts.notification_queue_capacity, shutdown.clone());
    notifier.apply(&cfg).map_err(anyhow::Error::msg)?;
    let local = listener.local_addr()?;
    rules.set_notifier(
        notifier.clone(),
        format!("http://{local}"),
        opts.alert_resend_delay_ms,
    );
    let c = Arc::new(Collector {
        db: db.clone(),
        scrape: scrape.clone(),
        config: RwLock::new(Arc::new(cfg)),
        config_file: opts.config_file.clone(),
        reload_ok: AtomicBool::new(true),
        reload_ok_at: AtomicI64::new(now_ms()),
        started_ms: now_ms(),
        reload_lock: tokio::sync::Mutex::new(()),
        query: opts.query.clone(),
        query_concurrency: opts.query_concurrency,
        rules,
        remote: remote.clone(),
        notifier,
        shard: opts.shard,
        serve_stats: Arc::default(),
        mesh_model_rules: opts.mesh_model_rules,
        flags: opts.flags.clone(),
        retention: if opts.storage.retention_time_ms > 0 {
            crate::config::duration::format_duration(opts.storage.retention_time_ms)
        } else {
            String::new()
        },
    });
    let mut tasks = tokio::task::JoinSet::new();
    // WAL sync: at most `wal_sync_interval` of accepted samples are at risk on a crash.
    {
        let (db, stop) = (db.clone(), shutdown.clone());
        let every = opts.storage.wal_sync_interval;
        tasks.spawn(async move {
            let mut t = tokio::time::interval(every);
            loop {
                tokio::select! { _ = stop.cancelled() => break, _ = t.tick() => {} }
                let db = db.clone();
                let r = tokio::task::spawn_blocking(move || db.sync_wal()).await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "Syncing the WAL failed");
                }
            }
        });
    }
    {
        let (db, stop) = (db.clone(), shutdown.clone());
        let every = opts.maintain_every;
        tasks.spawn(async move {
            let mut t = tokio::time::interval(every);
            t.tick().await;
            loop {
                tokio::select! { _ = stop.cancelled() => break, _ = t.tick() => {} }
                let db = db.clone();
                match tokio::task::spawn_blocking(move || db.maintain()).await {
                    Ok(Err(e)) => tracing::error!(error = %e, "Store maintenance failed"),
                    Err(e) => tracing::error!(error = %e, "Store maintenance panicked"),
                    Ok(Ok(())) => {}
                }
            }
        });
    }
    #[cfg(unix)]
    {
        let (c, stop) = (c.clone(), shutdown.clone());
        tasks.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            loop {
                tokio::select! { _ = stop.cancelled() => break, _ = hup.recv() => {} }
                tracing::info!("SIGHUP: reloading the configuration");
                let _ = c.reload().await;
            }
        });
        let stop = shutdown.clone();
        tasks.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); stop.cancel() }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); stop.cancel() }
            }
        });
    }
    let addr = listener.local_addr()?;
    tracing::info!(address = %addr, storage = %opts.storage_path.display(), "The collector is listening");
    if let Some(b) = bound {
        let _ = b.send(addr);
    }
    let guard = crate::webconfig::Guard::new(&web);
    let app = router(c.clone()).layer(axum::middleware::from_fn_with_state(
        guard,
        crate::webconfig::guard,
    ));
    let stop = shutdown.clone();
    let stats = c.serve_stats.clone();
    match web.tls.clone() {
        Some(tls) => {
            tracing::info!("TLS is on (--web.config.file)");
            let tls =
                crate::webconfig::TlsListener::new(listener, tls, opts.serve.max_connections)?;
            crate::serve::serve(tls, app, opts.serve, stats, stop).await
        }
        None => crate::serve::serve(listener, app, opts.serve, stats, stop).await,
    }
    shutdown.cancel();
    scrape.stop_all();
    while tasks.join_next().await.is_some() {}
    // Remote write sends what it still holds (for a few seconds) before the store closes.
    let r = remote.clone();
    tokio::task::spawn_blocking(move || r.stop()).await?;
    let db2 = db.clone();
    tokio::task::spawn_blocking(move || db2.close()).await??;
    tracing::info!("The collector stopped; the WAL is synced");
    Ok(())
}

/// The collector's HTTP routes. The query API of the next issue is merged in here.
pub fn router(c: Arc<Collector>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(|| async { "meshscope is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/metadata", get(metadata))
        .route(
            "/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/flags", get(status_flags))
        .route("/api/v1/status/runtimeinfo", get(status_runtimeinfo))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route("/api/v1/alertmanagers", get(alertmanagers))
        .with_state(c.clone())
        .merge(crate::api::router(Arc::new(
            crate::api::ApiState::new(c.db.clone(), c.query.clone(), c.query_concurrency)
                .with_rules(c.rules.clone()),
        )))
}

/// `/api/v1/alertmanagers`: the Alertmanagers alerts are sent to, and the ones
/// relabelling dropped, as Prometheus shows them.
async fn alertmanagers(State(c): State<Arc<Collector>>) -> Response {
    let d = c.notifier.discovered();
    let active: Vec<serde_json::Value> = d
        .active
        .iter()
        .map(|u| serde_json::json!({ "url": u }))
        .collect();
    let dropped: Vec<serde_json::Value> = d
        .dropped
        .iter()
        .map(|l| serde_json::json!({ "discoveredLabels": l }))
        .collect();
    crate::api::success(serde_json::json!({
        "activeAlertmanagers": active,
        "droppedAlertmanagers": dropped,
    }))
}

async fn ready(State(c): State<Arc<Collector>>) -> Response {
    if c.db.is_ready() {
        "meshscope is Ready.\n".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable: the store cannot write its WAL (disk full?); ingestion resumes by itself when it can.\n",
        )
            .into_response()
    }
}

async fn reload(State(c): State<Arc<Collector>>) -> Response {
    match c.reload().await {
        Ok(()) => "Configuration reloaded.\n".into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct TargetsQuery {
    state: Option<String>,
}

/// Milliseconds since the epoch as RFC 3339 in UTC (`2026-11-22T10:15:30.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// `/api/v1/metadata[?metric=NAME][&limit=N]`: `# TYPE`/`# HELP`/`# UNIT` of the metric
/// families the active targets expose, each distinct one once.
async fn metadata(
    State(c): State<Arc<Collector>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        q.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit").map(str::parse::<i64>) {
        None => -1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return crate::api::bad_data("invalid parameter \"limit\": not a number"),
    };
    let metric = get("metric").filter(|m| !m.is_empty());
    let mut out: std::collections::BTreeMap<String, Vec<Value>> = std::collections::BTreeMap::new();
    for pool in c.scrape.targets() {
        for t in &pool.active {
            let meta = t
                .status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .metadata
                .clone();
            for (name, m) in meta.iter() {
                if metric.is_some_and(|x| x != name) {
                    continue;
                }
                let v = json!({
                    "type": if m.ty.is_empty() { "unknown" } else { m.ty },
                    "help": m.help,
                    "unit": m.unit,
                });
                let list = out.entry(name.clone()).or_default();
                if !list.contains(&v) {
                    list.push(v);
                }
            }
        }
    }
    if limit >= 0 {
        while out.len() > limit as usize {
            out.pop_last();
        }
    }
    crate::api::success(json!(out))
}

/// `/api/v1/query_exemplars`: exemplars are parsed but not kept (the issue makes keeping
/// them optional), so the answer is always empty; the query is still checked.
async fn query_exemplars(
    State(c): State<Arc<Collector>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if let Some((_, query)) = q.iter().rev().find(|(n, _)| n == "query") {
        if let Err(e) = crate::api::parse_query(query, &c.query.limits) {
            return crate::api::bad_data(e);
        }
    }
    crate::api::success(json!([]))
}

/// `/api/v1/status/config`: the configuration file as loaded.
async fn status_config(State(c): State<Arc<Collector>>) -> Response {
    let yaml = std::fs::read_to_string(&c.config_file).unwrap_or_default();
    crate::api::success(json!({ "yaml": yaml }))
}

async fn status_flags(State(c): State<Arc<Collector>>) -> Response {
    crate::api::success(json!(c.flags))
}

async fn status_runtimeinfo(State(c): State<Arc<Collector>>) -> Response {
    crate::api::success(json!({
        "startTime": rfc3339(c.started_ms),
        "CWD": std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "reloadConfigSuccess": c.reload_ok.load(Ordering::Relaxed),
        "lastConfigTime": rfc3339(c.reload_ok_at.load(Ordering::Relaxed)),
        "corruptionCount": 0,
        "goroutineCount": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": c.retention,
    }))
}

/// `/api/v1/status/tsdb`: head statistics and the top 10 of each cardinality list.
async fn status_tsdb(State(c): State<Arc<Collector>>) -> Response {
    let head = c.db.head();
    let (by_name, values_by_label, bytes_by_label, pairs, n_pairs) = head.cardinality(10);
    let list = |v: Vec<(String, u64)>| -> Vec<Value> {
        v.into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect()
    };
    let (min_t, max_t) = head.time_range().unwrap_or((i64::MAX, i64::MIN));
    crate::api::success(json!({
        "headStats": {
            "numSeries": head.num_series(),
            "numLabelPairs": n_pairs,
            "chunkCount": 0,
            "minTime": min_t,
            "maxTime": max_t,
        },
        "seriesCountByMetricName": list(by_name),
        "labelValueCountByLabelName": list(values_by_label),
        "memoryInBytesByLabelName": list(bytes_by_label),
        "seriesCountByLabelValuePair": list(pairs),
    }))
}

async fn targets(State(c): State<Arc<Collector>>, Query(q): Query<TargetsQuery>) -> Response {
    let state = q.state.unwrap_or_else(|| "any".into()).to_ascii_lowercase();
    let (want_active, want_dropped) = match state.as_str() {
        "active" => (true, false),
        "dropped" => (false, true),
        "any" | "" => (true, true),
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"status": "error", "errorType": "bad_data",
                    "error": format!("invalid state {other:?}: must be active, dropped or any")})),
            )
                .into_response()
        }
    };
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    for pool in c.scrape.targets() {
        if want_active {
            for t in &pool.active {
                let st = t.status.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let labels: serde_json::Map<String, Value> = t
                    .labels
                    .iter()
                    .map(|(n, v)| (n.clone(), Value::String(v.clone())))
                    .collect();
                active.push(json!({
                    "discoveredLabels": t.discovered,
                    "labels": labels,
                    "scrapePool": pool.job,
                    "scrapeUrl": t.url,
                    "globalUrl": t.url,
                    "lastError": st.last_error,
                    "lastScrape": if st.last_scrape_ms > 0 { rfc3339(st.last_scrape_ms) } else { "0001-01-01T00:00:00Z".into() },
                    "lastScrapeDuration": st.last_duration_s,
                    "health": st.health.as_str(),
                    "scrapeInterval": t.interval.to_string(),
                    "scrapeTimeout": t.timeout.to_string(),
                }));
            }
        }
        if want_dropped {
            for d in &pool.dropped {
                dropped.push(json!({ "discoveredLabels": d }));
            }
        }
    }
    // Both lists are always there (empty when filtered out), as Prometheus answers.
    let data = json!({"activeTargets": active, "droppedTargets": dropped});
    Json(json!({"status": "success", "data": data})).into_response()
}

/// This process's CPU seconds and resident bytes, from /proc (Linux).
fn process_stats() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here; ticks are
    // USER_HZ, 100 on every Linux platform meshscope runs on.
    let cpu = (f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / 100.0;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((cpu, rss_kb * 1024))
}

async fn metrics(State(c): State<Arc<Collector>>) -> Response {
    let db = c.db.clone();
    let head_series = db.head().num_series();
    let wal_size = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.wal_size_bytes())
            .await
            .unwrap_or(0)
    };
    let blocks = db.blocks().len();
    let mut o = String::with_capacity(4096);
    let mut family = |name: &str, ty: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {ty}");
        for (labels, v) in samples {
            let _ = writeln!(o, "{name}{labels} {}", fmt_value(*v));
        }
    };
    let s = &db.stats;
    let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    family(
        "meshscope_build_info",
        "gauge",
        "The meshscope version.",
        &[(
            &format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")),
            1.0,
        )],
    );
    family(
        "meshscope_start_time_seconds",
        "gauge",
        "When the collector started.",
        &[("", c.started_ms as f64 / 1000.0)],
    );
    let w = &c.serve_stats;
    family(
        "meshscope_http_connections_open",
        "gauge",
        "HTTP connections open now (at most --web.max-connections).",
        &[("", r(&w.open))],
    );
    family(
        "meshscope_http_connections_accepted_total",
        "counter",
        "HTTP connections accepted.",
        &[("", r(&w.accepted))],
    );
    family(
        "meshscope_http_request_body_failures_total",
        "counter",
        "Requests refused while reading their body, by reason (timeout: 408, too_large: 413).",
        &[
            ("{reason=\"timeout\"}", r(&w.body_timeouts)),
            ("{reason=\"too_large\"}", r(&w.body_too_large)),
        ],
    );
    family(
        "meshscope_tsdb_head_series",
        "gauge",
        "Series in the in-memory head.",
        &[("", head_series as f64)],
    );
    family(
        "meshscope_tsdb_head_samples_appended_total",
        "counter",
        "Samples appended to the head.",
        &[("", r(&s.samples_appended))],
    );
    family(
        "meshscope_tsdb_head_series_created_total",
        "counter",
        "Series created in the head.",
        &[("", r(&s.series_created))],
    );
    let rej: Vec<(String, f64)> = [
        ("out_of_order", &s.rejected_out_of_order),
        ("duplicate", &s.rejected_duplicate),
        ("out_of_bounds", &s.rejected_out_of_bounds),
    ]
    .iter()
    .map(|(n, a)| (format!("{{reason=\"{n}\"}}"), r(a)))
    .collect();
    let rej_ref: Vec<(&str, f64)> = rej.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    family(
        "meshscope_tsdb_rejected_samples_total",
        "counter",
        "Samples the store refused, by reason.",
        &rej_ref,
    );
    family(
        "meshscope_tsdb_wal_syncs_total",
        "counter",
        "fsyncs of the WAL.",
        &[("", r(&s.wal_syncs))],
    );
    family(
        "meshscope_tsdb_wal_write_failures_total",
        "counter",
        "WAL writes that failed (disk full, I/O error).",
        &[("", r(&s.wal_write_failures))],
    );
    family(
        "meshscope_tsdb_wal_size_bytes",
        "gauge",
        "Size of the WAL on disk.",
        &[("", wal_size as f64)],
    );
    family(
        "meshscope_tsdb_wal_truncated_bytes",
        "gauge",
        "Bytes of a torn WAL tail cut off at the last start.",
        &[("", r(&s.wal_truncated_bytes))],
    );
    family(
        "meshscope_tsdb_head_chunks_file_bytes",
        "gauge",
        "Closed head chunks written to the head-chunks files.",
        &[("", db.head().chunk_files_bytes() as f64)],
    );
    family(
        "meshscope_tsdb_compactions_total",
        "counter",
        "Compactions and head persists completed.",
        &[("", r(&s.compactions))],
    );
    family(
        "meshscope_tsdb_blocks_loaded",
        "gauge",
        "Blocks on disk.",
        &[("", blocks as f64)],
    );
    family(
        "meshscope_rule_evaluations_total",
        "counter",
        "Rule evaluations.",
        &[("", c.rules.evaluations.load(Ordering::Relaxed) as f64)],
    );
    family(
        "meshscope_rule_evaluation_failures_total",
        "counter",
        "Rule evaluations that failed.",
        &[("", c.rules.failures.load(Ordering::Relaxed) as f64)],
    );
    family(
        "meshscope_rule_node_evaluations_total",
        "counter",
        "Nodes whose mesh model was brought up to date after their scrapes.",
        &[("", c.rules.node_evaluations.load(Ordering::Relaxed) as f64)],
    );
    let groups = c.rules.status();
    let durations: Vec<(String, f64)> = groups
        .iter()
        .map(|g| {
            (
                format!("{{rule_group=\"{}\"}}", escape_label_value(&g.name)),
                g.evaluation_seconds,
            )
        })
        .collect();
    let d_ref: Vec<(&str, f64)> = durations.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    family(
        "meshscope_rule_group_last_duration_seconds",
        "gauge",
        "How long the last evaluation of each rule group took.",
        &d_ref,
    );
    for (name, ty, help, v) in c.remote.metrics() {
        let v: Vec<(&str, f64)> = v.iter().map(|(l, x)| (l.as_str(), *x)).collect();
        family(name, ty, help, &v);
    }
    family(
        "meshscope_tsdb_ready",
        "gauge",
        "1 while the store accepts writes.",
        &[("", if db.is_ready() { 1.0 } else { 0.0 })],
    );
    let ss = &c.scrape.stats;
    family(
        "meshscope_scrapes_total",
        "counter",
        "Scrapes run.",
        &[("", r(&ss.scrapes))],
    );
    family(
        "meshscope_scrape_failures_total",
        "counter",
        "Scrapes that failed (nothing of their body stored).",
        &[("", r(&ss.failed))],
    );
    family(
        "meshscope_scrape_samples_scraped_total",
        "counter",
        "Samples read from scrape bodies.",
        &[("", r(&ss.samples_scraped))],
    );
    family(
        "meshscope_sd_file_read_errors_total",
        "counter",
        "file_sd files that could not be read or parsed.",
        &[("", r(&ss.sd_file_read_errors))],
    );
    family(
        "meshscope_sd_http_failures_total",
        "counter",
        "http_sd_configs fetches that failed (the last good targets are kept).",
        &[("", r(&ss.sd_http_failures))],
    );
    family(
        "meshscope_sd_consul_failures_total",
        "counter",
        "consul_sd_configs queries that failed (the last good targets are kept).",
        &[("", r(&ss.sd_consul_failures))],
    );
    let mut health = std::collections::BTreeMap::<(String, &str), u64>::new();
    for p in c.scrape.targets() {
        for t in &p.active {
            let h = t.status.lock().unwrap_or_else(|e| e.into_inner()).health;
            *health.entry((p.job.clone(), h.as_str())).or_default() += 1;
        }
    }
    let hl: Vec<(String, f64)> = health
        .iter()
        .map(|((j, h), n)| {
            (
                format!("{{job=\"{}\",health=\"{h}\"}}", escape_label_value(j)),
                *n as f64,
            )
        })
        .collect();
    let hl_ref: Vec<(&str, f64)> = hl.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    family(
        "meshscope_targets",
        "gauge",
        "Active targets by job and health.",
        &hl_ref,
    );
    family(
        "meshscope_config_last_reload_successful",
        "gauge",
        "Whether the last configuration reload succeeded.",
        &[(
            "",
            if c.reload_ok.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        )],
    );
    family(
        "meshscope_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the configuration was last loaded successfully.",
        &[("", c.reload_ok_at.load(Ordering::Relaxed) as f64 / 1000.0)],
    );
    // The notifier's, by Alertmanager.
    let n = &c.notifier;
    let by_am: Vec<(String, Arc<crate::notifier::AmStats>)> = {
        let mut v: Vec<_> = crate::notifier::lock(&n.stats)
            .iter()
            .map(|(u, s)| {
                (
                    format!("{{alertmanager=\"{}\"}}", escape_label_value(u)),
                    s.clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    type Field = fn(&crate::notifier::AmStats) -> &std::sync::atomic::AtomicU64;
    let fields: [(&str, &str, &str, Field, f64); 2] = [
        (
            "meshscope_notifications_sent_total",
            "counter",
            "Alerts sent, by Alertmanager.",
            |s| &s.sent,
            1.0,
        ),
        (
            "meshscope_notifications_errors_total",
            "counter",
            "Alerts whose sending failed, by Alertmanager.",
            |s| &s.errors,
            1.0,
        ),
    ];
    for (name, ty, help, f, scale) in fields {
        let samples: Vec<(&str, f64)> = by_am
            .iter()
            .map(|(l, s)| (l.as_str(), r(f(s)) * scale))
            .collect();
        family(name, ty, help, &samples);
    }
    family(
        "meshscope_notifications_dropped_total",
        "counter",
        "Alerts dropped: the queue was full, or no Alertmanager took them.",
        &[("", r(&n.dropped))],
    );
    family(
        "meshscope_notifications_queue_length",
        "gauge",
        "Alerts waiting to be sent.",
        &[("", n.queue_length() as f64)],
    );
    family(
        "meshscope_notifications_queue_capacity",
        "gauge",
        "The most alerts that can wait to be sent.",
        &[("", n.capacity() as f64)],
    );
    family(
        "meshscope_notifications_alertmanagers_discovered",
        "gauge",
        "Alertmanagers alerts are sent to.",
        &[("", n.discovered().active.len() as f64)],
    );
    family(
        "meshscope_notifications_latency_seconds",
        "summary",
        "Time spent sending batches of alerts, by Alertmanager.",
        &[],
    );
    for (l, st) in &by_am {
        let _ = writeln!(
            o,
            "meshscope_notifications_latency_seconds_sum{l} {}\nmeshscope_notifications_latency_seconds_count{l} {}",
            fmt_value(r(&st.latency_us) / 1e6),
            r(&st.requests)
        );
    }
    // The scrape duration histogram.
    let _ = writeln!(o, "# HELP meshscope_scrape_duration_seconds Duration of scrapes (fetch, parse and store).\n# TYPE meshscope_scrape_duration_seconds histogram");
    let mut cum = 0u64;
    for (i, b) in DURATION_BUCKETS.iter().enumerate() {
        cum += ss.duration_buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(
            o,
            "meshscope_scrape_duration_seconds_bucket{{le=\"{}\"}} {cum}",
            fmt_value(*b)
        );
    }
    cum += ss.duration_buckets[DURATION_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(
        o,
        "meshscope_scrape_duration_seconds_bucket{{le=\"+Inf\"}} {cum}\nmeshscope_scrape_duration_seconds_sum {}\nmeshscope_scrape_duration_seconds_count {cum}",
        fmt_value(ss.duration_sum_us.load(Ordering::Relaxed) as f64 / 1e6)
    );
    if let Some((cpu, rss)) = process_stats() {
        let _ = writeln!(o, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}", fmt_value(cpu));
        let _ = writeln!(o, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}");
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_343_730_123), "2026-11-22T10:35:30.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
