//! `meshscope collect`: scrape the configured targets into the embedded store and serve
//! them over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use meshscope_collector::config::parse_bytes;
use meshscope_collector::promql::{EvalOptions, QueryLimits};
use meshscope_collector::server::{self, CollectorOptions};
use meshscope_collector::tsdb::Options;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The configuration file (Prometheus's prometheus.yml format, a subset).
    #[arg(long = "config.file", default_value = "meshscope.yml")]
    pub config_file: PathBuf,
    /// Where the store keeps its WAL and blocks.
    #[arg(long = "storage.tsdb.path", default_value = "./meshscope-data")]
    pub storage_path: PathBuf,
    /// How long to keep samples (0 = forever).
    #[arg(long = "storage.tsdb.retention.time", default_value = "15d", value_parser = super::duration_ms)]
    pub retention_time: i64,
    /// The most bytes the blocks and WAL may take (e.g. 10GB; 0 = no limit).
    #[arg(long = "storage.tsdb.retention.size", default_value = "0", value_parser = parse_bytes)]
    pub retention_size: u64,
    /// How long accepted samples may stay in the WAL before an fsync: the most data a
    /// power cut or `kill -9` of the machine can lose.
    #[arg(long = "storage.tsdb.wal-sync-interval", default_value = "1s", value_parser = super::duration_ms)]
    pub wal_sync_interval: i64,
    /// Address of the HTTP server (/metrics, /-/ready, /-/reload, /api/v1/...).
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9477")]
    pub listen: SocketAddr,
    /// How far back a query looks for the newest sample of a series.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = super::duration_ms)]
    pub lookback_delta: i64,
    /// The longest a query may run.
    #[arg(long = "query.timeout", default_value = "2m", value_parser = super::duration_ms)]
    pub query_timeout: i64,
    /// The most samples a query may hold in memory at once.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub query_max_samples: usize,
    /// The most queries evaluated at once; more wait.
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub query_max_concurrency: usize,
    /// The longest query text accepted, in bytes (longer: 400 bad_data).
    #[arg(long = "query.max-length", default_value_t = meshscope_collector::promql::DEFAULT_MAX_LENGTH)]
    pub query_max_length: usize,
    /// The deepest query accepted: nested calls, aggregations, parentheses and
    /// subqueries, and chains of operators, at most 1024 (deeper: 400 bad_data).
    #[arg(long = "query.max-depth", default_value_t = meshscope_collector::promql::DEFAULT_MAX_DEPTH,
          value_parser = parse_depth)]
    pub query_max_depth: usize,
    /// Evaluate the embedded mesh model rules (model/mesh.rules.yml), besides
    /// the configuration's `rule_files`.
    #[arg(long = "rules.mesh-model", default_value_t = true, action = clap::ArgAction::Set)]
    pub mesh_model_rules: bool,
    /// The most HTTP connections open at once; more wait until one closes.
    #[arg(long = "web.max-connections", default_value_t = 512)]
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (from the connection's
    /// start, or the end of the previous response: an idle connection is closed after
    /// it), and then its body.
    #[arg(long = "web.read-timeout", default_value = "30s", value_parser = super::duration_ms)]
    pub read_timeout: i64,
    /// Prometheus's web configuration file: TLS (`tls_server_config`), basic auth with
    /// bcrypt hashes (`basic_auth_users`) and response headers (`http_server_config`).
    #[arg(long = "web.config.file")]
    pub web_config: Option<PathBuf>,
    /// Scrape only shard I of N of the configured targets (by a hash of the target's
    /// address and metrics path, as a `hashmod` relabelling would): N collectors with
    /// 0/N .. N-1/N split one target set between them.
    #[arg(long = "shard", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// The most alerts waiting to be sent to the Alertmanagers; when more come, the
    /// oldest are dropped (and counted).
    #[arg(long = "alertmanager.notification-queue-capacity", default_value_t = meshscope_collector::notifier::DEFAULT_QUEUE_CAPACITY)]
    pub notification_queue_capacity: usize,
    /// How long after it was sent a firing alert is sent to the Alertmanagers again.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m", value_parser = super::duration_ms)]
    pub alert_resend_delay: i64,
}

fn parse_depth(s: &str) -> Result<usize, String> {
    let max = meshscope_collector::promql::MAX_DEPTH_CEILING;
    match s.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("{s:?}: expected a whole number from 1 to {max}")),
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?}: expected I/N with 0 <= I < N, e.g. 0/2");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<u64>().map_err(|_| bad())?,
        n.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

pub fn run(a: CollectArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.wal_sync_interval > 0,
        "--storage.tsdb.wal-sync-interval must be positive"
    );
    anyhow::ensure!(
        a.lookback_delta > 0,
        "--query.lookback-delta must be positive"
    );
    anyhow::ensure!(a.query_timeout > 0, "--query.timeout must be positive");
    anyhow::ensure!(a.read_timeout > 0, "--web.read-timeout must be positive");
    anyhow::ensure!(
        a.max_connections > 0,
        "--web.max-connections must be at least 1"
    );
    anyhow::ensure!(
        a.alert_resend_delay > 0,
        "--rules.alert.resend-delay must be positive"
    );
    anyhow::ensure!(
        a.notification_queue_capacity > 0,
        "--alertmanager.notification-queue-capacity must be at least 1"
    );
    anyhow::ensure!(
        a.query_max_concurrency > 0,
        "--query.max-concurrency must be at least 1"
    );
    let flags: std::collections::BTreeMap<String, String> = [
        ("config.file", a.config_file.display().to_string()),
        ("storage.tsdb.path", a.storage_path.display().to_string()),
        (
            "storage.tsdb.retention.time",
            meshscope_collector::config::duration::format_duration(a.retention_time),
        ),
        ("storage.tsdb.retention.size", a.retention_size.to_string()),
        (
            "storage.tsdb.wal-sync-interval",
            meshscope_collector::config::duration::format_duration(a.wal_sync_interval),
        ),
        ("web.listen-address", a.listen.to_string()),
        ("web.max-connections", a.max_connections.to_string()),
        (
            "alertmanager.notification-queue-capacity",
            a.notification_queue_capacity.to_string(),
        ),
        (
            "rules.alert.resend-delay",
            meshscope_collector::config::duration::format_duration(a.alert_resend_delay),
        ),
        (
            "web.read-timeout",
            meshscope_collector::config::duration::format_duration(a.read_timeout),
        ),
        (
            "query.lookback-delta",
            meshscope_collector::config::duration::format_duration(a.lookback_delta),
        ),
        (
            "query.timeout",
            meshscope_collector::config::duration::format_duration(a.query_timeout),
        ),
        ("query.max-samples", a.query_max_samples.to_string()),
        ("query.max-concurrency", a.query_max_concurrency.to_string()),
        ("query.max-length", a.query_max_length.to_string()),
        ("query.max-depth", a.query_max_depth.to_string()),
        ("rules.mesh-model", a.mesh_model_rules.to_string()),
        (
            "shard",
            a.shard.map(|(i, n)| format!("{i}/{n}")).unwrap_or_default(),
        ),
        (
            "web.config.file",
            a.web_config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let opts = CollectorOptions {
        config_file: a.config_file,
        storage_path: a.storage_path,
        storage: Options {
            retention_time_ms: a.retention_time,
            retention_size_bytes: a.retention_size,
            wal_sync_interval: Duration::from_millis(a.wal_sync_interval as u64),
            ..Options::default()
        },
        listen: a.listen,
        maintain_every: Duration::from_secs(60),
        query: EvalOptions {
            lookback_delta_ms: a.lookback_delta,
            max_samples: a.query_max_samples,
            timeout: Duration::from_millis(a.query_timeout as u64),
            limits: QueryLimits {
                max_length: a.query_max_length,
                max_depth: a.query_max_depth,
            },
            ..EvalOptions::default()
        },
        query_concurrency: a.query_max_concurrency,
        mesh_model_rules: a.mesh_model_rules,
        flags,
        web_config: a.web_config,
        shard: a.shard,
        notification_queue_capacity: a.notification_queue_capacity,
        alert_resend_delay_ms: a.alert_resend_delay,
        serve: meshscope_collector::serve::ServeOptions {
            max_connections: a.max_connections,
            read_timeout: Duration::from_millis(a.read_timeout as u64),
            ..Default::default()
        },
    };
    let rt = server::runtime()?;
    rt.block_on(server::run(opts, CancellationToken::new(), None))?;
    Ok(ExitCode::SUCCESS)
}
