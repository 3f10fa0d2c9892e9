//! `meshscope demo`: the one-command start. A simulated mesh, the collector on its
//! embedded store with the mesh-model rules, and the viewer, in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use meshscope_collector::promql::EvalOptions;
use meshscope_collector::server::{self, CollectorOptions};
use meshscope_collector::tsdb::{Db, Options};
use meshscope_simulate::{serve, Mesh};
use meshscope_source::{Source, SourceOptions};
use meshscope_viewer::fetch::{self, FetchConfig};
use meshscope_viewer::x11;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 12)]
    pub nodes: usize,
    /// Seed of the simulated mesh.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the store here (default: a temporary directory, removed on exit).
    #[arg(long = "storage.tsdb.path")]
    pub storage_path: Option<PathBuf>,
    /// Where the Prometheus-compatible API listens.
    #[arg(long = "web.listen-address", default_value = "127.0.0.1:9477")]
    pub listen: SocketAddr,
    /// Backfill this much history first (e.g. 7d), with the mesh model evaluated over it.
    /// A week or more reaches back to the start of the last complete ISO week (UTC), so
    /// that `meshscope report` has the whole of the week it reports by default.
    #[arg(long, value_parser = super::duration_ms)]
    pub history: Option<i64>,
    /// Open no viewer: run the mesh and the collector until Ctrl-C.
    #[arg(long = "no-viewer")]
    pub no_viewer: bool,
    /// Use the terminal dashboard instead of X11.
    #[arg(long)]
    pub tui: bool,
}

const SCRAPE: &str = "5s";

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.nodes > 0, "--nodes must be at least 1");
    let tmp;
    let dir = match &a.storage_path {
        Some(p) => p.clone(),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("meshscope-demo-")
                .tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let now = serve::now_ms();
    let mesh = Mesh::new(a.nodes, a.seed, super::simulate::origin(now));
    if let Some(h) = a.history {
        anyhow::ensure!(h <= 15 * 86_400_000, "--history may be at most 15d");
        backfill(&mesh, &dir.join("data"), now, h)?;
    }

    // The collector's runtime: its threads have the stacks its queries need.
    let rt = meshscope_collector::server::runtime()?;
    let cancel = CancellationToken::new();
    // The simulated mesh.
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let sim_addr = listener.local_addr()?.to_string();
    let targets = dir.join("targets.json");
    std::fs::write(
        &targets,
        serde_json::to_vec_pretty(&serve::targets_json(&mesh, &sim_addr))?,
    )?;
    let c = cancel.clone();
    let sim = rt.spawn(async move {
        axum::serve(listener, serve::router(mesh, sim_addr))
            .with_graceful_shutdown(c.cancelled_owned())
            .await
    });
    // The collector: the mesh and itself, the mesh model by default.
    let cfg = dir.join("meshscope.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: {SCRAPE}\n  evaluation_interval: 15s\nscrape_configs:\n  - job_name: mesh\n    file_sd_configs:\n      - files: ['{}']\n  - job_name: meshscope\n    static_configs:\n      - targets: ['{}']\n",
            targets.display(),
            a.listen
        ),
    )?;
    let opts = CollectorOptions {
        config_file: cfg,
        storage_path: dir.join("data"),
        storage: Options::default(),
        listen: a.listen,
        maintain_every: Duration::from_secs(60),
        query: EvalOptions::default(),
        query_concurrency: 20,
        mesh_model_rules: true,
        flags: Default::default(),
        web_config: None,
        shard: None,
        notification_queue_capacity: meshscope_collector::notifier::DEFAULT_QUEUE_CAPACITY,
        alert_resend_delay_ms: 60_000,
        serve: Default::default(),
    };
    let (btx, brx) = tokio::sync::oneshot::channel();
    let collector = rt.spawn(server::run(opts, cancel.clone(), Some(btx)));
    let addr = match rt.block_on(brx) {
        Ok(a) => a,
        Err(_) => {
            cancel.cancel();
            let r = rt.block_on(collector)?;
            return Err(r
                .err()
                .unwrap_or_else(|| anyhow::anyhow!("the collector did not start")));
        }
    };
    let url = format!("http://{addr}");
    println!(
        "meshscope demo: {} simulated nodes; the Prometheus-compatible API is at {url} \
         (point Grafana's Prometheus data source there). Ctrl-C stops.",
        a.nodes
    );
    // Ctrl-C stops everything, viewer included.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (stop, cancel) = (stop.clone(), cancel.clone());
        rt.spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.store(true, Ordering::Relaxed);
            cancel.cancel();
        });
    }
    let mut code = ExitCode::SUCCESS;
    if a.no_viewer {
        rt.block_on(cancel.cancelled());
    } else {
        let conn = if a.tui {
            None
        } else {
            Some(x11::conn::connect(None))
        };
        match conn {
            Some(Ok((conn, screen, counters))) => {
                let shared = viewer_data(&rt, &url)?;
                let opts = x11::app::Options {
                    nodes: Vec::new(),
                    overview: true,
                    roles: Default::default(),
                    stop: Some(stop.clone()),
                };
                if let Err(e) = x11::app::run(conn, screen, counters, shared, opts) {
                    eprintln!("meshscope demo: {e}");
                    code = ExitCode::FAILURE;
                }
                cancel.cancel();
            }
            other => {
                let why = match other {
                    Some(Err(e)) => e.to_string(),
                    _ => "--tui".to_string(),
                };
                if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                    let shared = viewer_data(&rt, &url)?;
                    let note = (!a.tui).then(|| format!("terminal dashboard: {why}; API at {url}"));
                    if let Err(e) = super::view::tui(shared, Duration::from_secs(1), note) {
                        eprintln!("meshscope demo: {e:#}");
                        code = ExitCode::FAILURE;
                    }
                    cancel.cancel();
                } else {
                    println!(
                        "No viewer: {why}, and standard output is not a terminal; the mesh and \
                         the collector keep running at {url} until Ctrl-C."
                    );
                    rt.block_on(cancel.cancelled());
                }
            }
        }
    }
    // Stop the servers; the collector flushes its store.
    let r = rt.block_on(collector)?;
    let _ = rt.block_on(sim);
    r?;
    Ok(code)
}

/// Write `h` of history ending now into the store at `data`, then the mesh model over it.
fn backfill(mesh: &Mesh, data: &std::path::Path, now: i64, h: i64) -> anyhow::Result<()> {
    let step = 15_000;
    let end = now.div_euclid(step) * step;
    let mut start = end - h;
    // A week or more: reach back to the start of the last complete ISO week (UTC), so
    // that `meshscope report`, which reports that week by default, has all of it.
    if h >= 7 * 86_400_000 {
        let week = meshscope_reporter::week::Week::last_complete(
            chrono::DateTime::from_timestamp_millis(now).unwrap_or_default(),
            chrono_tz::UTC,
        );
        let monday = week.period(chrono_tz::UTC).start.timestamp_millis();
        start = start.min(monday);
        println!(
            "Backfilling {} of history, from the start of {week} (the last complete week) ...",
            meshscope_collector::config::duration::format_duration(end - start)
        );
    } else {
        println!(
            "Backfilling {} of history ...",
            meshscope_collector::config::duration::format_duration(h)
        );
    }
    let n = super::simulate::history_into_store(mesh, start, end, step, data)?;
    let groups = meshscope_collector::rules::mesh_model().map_err(anyhow::Error::msg)?;
    let db = Db::open(data, Options::default())?;
    let mut last = std::time::Instant::now();
    let st = meshscope_collector::rules::backfill::backfill(
        &db,
        &groups,
        start,
        end,
        60_000,
        &EvalOptions::default(),
        &mut |done, total| {
            if last.elapsed().as_secs() >= 2 || done == total {
                tracing::info!(done, total, "Backfilling the mesh model: block ranges");
                last = std::time::Instant::now();
            }
        },
    )
    .map_err(anyhow::Error::msg)?;
    db.maintain()?;
    println!("Backfilled {n} samples and {} model samples", st.samples);
    Ok(())
}

/// The viewer's fetch task on the demo's own API: 1 s, a 10-minute window.
fn viewer_data(rt: &tokio::runtime::Runtime, url: &str) -> anyhow::Result<fetch::Shared> {
    let source = Source::new(&SourceOptions {
        url: url.to_string(),
        ..SourceOptions::default()
    })?;
    Ok(fetch::spawn(
        rt.handle(),
        source,
        FetchConfig {
            interval: Duration::from_secs(1),
            window_ms: 600_000,
            width_px: 628,
        },
    ))
}
