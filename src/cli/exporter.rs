//! `meshscope exporter nats`: serve prometheus-nats-exporter's metrics from a NATS
//! server's JSON monitoring port (`crate::exporter::nats`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::{Args, Subcommand};

use crate::exporter::nats::{self, Bodies, JszFilter};

#[derive(Debug, Subcommand)]
pub enum ExporterCommand {
    /// prometheus-nats-exporter's metrics (names, types, labels) from a NATS server's
    /// monitoring endpoints.
    Nats(NatsArgs),
}

#[derive(Debug, Args)]
pub struct NatsArgs {
    /// The NATS server's monitoring URL (`nats-server -m PORT`).
    #[arg(long, default_value = "http://127.0.0.1:8222")]
    pub url: reqwest::Url,
    /// Replace the `gnatsd` and `jetstream` prefixes (the official Helm chart uses `nats`).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Where to serve /metrics.
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub listen: SocketAddr,
    /// The `server_id` label (default: the URL's scheme://host, as the Go exporter's).
    #[arg(long = "server-id", conflicts_with_all = ["use_internal_server_id", "use_internal_server_name"])]
    pub server_id: Option<String>,
    /// Label with the server's own ID from /varz (the Go exporter's -use_internal_server_id).
    #[arg(long = "use-internal-server-id")]
    pub use_internal_server_id: bool,
    /// Label with the server's name from /varz (-use_internal_server_name).
    #[arg(
        long = "use-internal-server-name",
        conflicts_with = "use_internal_server_id"
    )]
    pub use_internal_server_name: bool,
    /// Export /varz. With none of --varz, --connz, --routez, --subz, --jsz: all of varz,
    /// connz, routez and jsz=all.
    #[arg(long)]
    pub varz: bool,
    /// Export /connz (connection totals).
    #[arg(long)]
    pub connz: bool,
    /// Export /routez.
    #[arg(long)]
    pub routez: bool,
    /// Export /subsz.
    #[arg(long)]
    pub subz: bool,
    /// Export /jsz: accounts, streams, consumers or all.
    #[arg(long, value_parser = JszFilter::parse)]
    pub jsz: Option<JszFilter>,
}

struct Exporter {
    http: reqwest::Client,
    url: reqwest::Url,
    opts: nats::Options,
}

impl Exporter {
    async fn fetch(&self, path: &str) -> Result<serde_json::Value, String> {
        let url = format!("{}{path}", self.url.as_str().trim_end_matches('/'));
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("NATS monitoring {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("NATS monitoring {url}: HTTP {}", resp.status()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("NATS monitoring {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("NATS monitoring {url}: not JSON: {e}"))
    }

    async fn scrape(&self) -> Result<String, String> {
        let mut bodies = Bodies::new();
        for path in self.opts.paths() {
            bodies.insert(path, self.fetch(path).await?);
        }
        Ok(nats::render(&self.opts, &bodies))
    }
}

async fn metrics(State(e): State<Arc<Exporter>>) -> Response {
    match e.scrape().await {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(msg) => {
            tracing::warn!("{msg}");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{msg}\n")).into_response()
        }
    }
}

pub fn run(cmd: ExporterCommand) -> anyhow::Result<ExitCode> {
    let ExporterCommand::Nats(a) = cmd;
    anyhow::ensure!(
        matches!(a.url.scheme(), "http" | "https"),
        "--url {}: the monitoring URL must be http or https",
        a.url
    );
    let rt = meshscope_collector::server::runtime()?;
    rt.block_on(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let none = !(a.varz || a.connz || a.routez || a.subz || a.jsz.is_some());
        let mut opts = nats::Options {
            prefix: a.prefix.clone(),
            server_id: a
                .server_id
                .clone()
                .unwrap_or_else(|| nats::default_server_id(&a.url)),
            varz: a.varz || none,
            connz: a.connz || none,
            routez: a.routez || none,
            subsz: a.subz,
            jsz: a.jsz.or(none.then_some(JszFilter::Consumers)),
        };
        if let Some(p) = &opts.prefix {
            anyhow::ensure!(
                !p.is_empty()
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !p.starts_with(|c: char| c.is_ascii_digit()),
                "--prefix {p:?}: a prefix starts a metric name: letters, digits and _, not a digit first"
            );
        }
        let mut e = Exporter {
            http,
            url: a.url.clone(),
            opts: opts.clone(),
        };
        if a.use_internal_server_id || a.use_internal_server_name {
            // As the Go exporter: read the label from /varz once, at start, retrying until
            // the server answers.
            let key = if a.use_internal_server_id {
                "server_id"
            } else {
                "server_name"
            };
            loop {
                match e.fetch("/varz").await {
                    Ok(v) => {
                        let id = v.get(key).and_then(|v| v.as_str()).with_context(|| {
                            format!("{}/varz has no string {key}", a.url)
                        })?;
                        opts.server_id = id.to_string();
                        break;
                    }
                    Err(msg) => {
                        tracing::warn!("{msg}; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            e.opts = opts;
        }
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        tracing::info!(
            "Serving {}'s metrics as prometheus-nats-exporter on http://{}/metrics",
            a.url,
            listener.local_addr()?
        );
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(metrics))
            .route(
                "/",
                axum::routing::get(|| async { "meshscope exporter nats: see /metrics\n" }),
            )
            .with_state(Arc::new(e));
        axum::serve(listener, app)
            .with_graceful_shutdown(super::shutdown_signal())
            .await
            .context("serving")?;
        Ok(ExitCode::SUCCESS)
    })
}
