//! `meshscope collect`: scrape the configured targets into the embedded store and serve
//! them over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use meshscope_collector::config::parse_bytes;
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
}

pub fn run(a: CollectArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        a.wal_sync_interval > 0,
        "--storage.tsdb.wal-sync-interval must be positive"
    );
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
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(server::run(opts, CancellationToken::new(), None))?;
    Ok(ExitCode::SUCCESS)
}
