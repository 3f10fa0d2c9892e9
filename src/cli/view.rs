//! `meshscope view`: live windows on X11 over the Prometheus HTTP API.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use meshscope_source::SourceError;
use meshscope_viewer::fetch::{self, FetchConfig};
use meshscope_viewer::x11;

use super::query::SourceArgs;

#[derive(Debug, Args)]
pub struct ViewArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Open a window for this node at start (repeatable; click nodes in the overview for more).
    #[arg(long = "node")]
    pub nodes: Vec<String>,
    /// Open a window for every node.
    #[arg(long = "all-nodes")]
    pub all_nodes: bool,
    /// Do not open the overview window (only the node windows asked for).
    #[arg(long = "no-overview")]
    pub no_overview: bool,
    /// How often to fetch new values.
    #[arg(long, default_value = "1s", value_parser = super::duration_ms)]
    pub interval: i64,
    /// How much time the charts show (1m to 1h; `+`/`-` change it).
    #[arg(long, default_value = "10m", value_parser = super::duration_ms)]
    pub window: i64,
    /// Use X11 windows (the default when $DISPLAY is usable).
    #[arg(long, conflicts_with = "tui")]
    pub x11: bool,
    /// Use the terminal dashboard.
    #[arg(long)]
    pub tui: bool,
    /// The X display (default: $DISPLAY).
    #[arg(long)]
    pub display: Option<String>,
}

/// The default node window's chart width in pixels: one point per column.
const CHART_WIDTH_PX: usize = 628;

pub fn run(a: ViewArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.interval > 0, "--interval must be positive");
    anyhow::ensure!(
        (60_000..=3_600_000).contains(&a.window),
        "--window must be between 1m and 1h"
    );
    let source = a.source.connect()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Node names are checked before any window opens, when the source answers; an
    // unreachable source is waited for in the windows instead.
    let mut nodes = a.nodes.clone();
    let mut roles = std::collections::HashMap::new();
    match rt.block_on(source.instant(meshscope_viewer::model::UP, None)) {
        Ok(up) => {
            for (m, _, _) in &up {
                if let (Some(n), Some(r)) = (m.get("node"), m.get("role")) {
                    roles.insert(n.clone(), r.clone());
                }
            }
            let mut known: Vec<String> = up
                .iter()
                .filter_map(|(m, _, _)| m.get("node").cloned())
                .collect();
            known.sort();
            known.dedup();
            if let Some(bad) = nodes.iter().find(|n| !known.contains(n)) {
                anyhow::bail!(
                    "unknown node {bad:?} at {}: the known nodes are {}",
                    source.url(),
                    if known.is_empty() {
                        "(none: is the mesh model loaded?)".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
            if a.all_nodes {
                nodes = known;
            }
        }
        Err(e @ (SourceError::Unreachable { .. } | SourceError::Other { .. })) => {
            tracing::warn!(error = %e, "The source does not answer yet; the windows will wait for it");
        }
        Err(e) => return Err(e.into()),
    }
    let cfg = FetchConfig {
        interval: Duration::from_millis(a.interval as u64),
        window_ms: a.window,
        width_px: CHART_WIDTH_PX,
    };
    // X11 unless --tui, or no usable display (then the terminal, saying why).
    let x = if a.tui {
        Err("--tui".to_string())
    } else {
        x11::conn::connect(a.display.as_deref()).map_err(|e| e.to_string())
    };
    let (conn, screen, counters) = match x {
        Ok(c) => c,
        Err(why) => {
            anyhow::ensure!(!a.x11, "{why}");
            let note = (!a.tui).then(|| format!("terminal dashboard: {why}"));
            let shared = fetch::spawn(rt.handle(), source, cfg);
            return tui(shared, cfg.interval, note);
        }
    };
    let shared = fetch::spawn(rt.handle(), source, cfg);
    let overview = !a.no_overview || nodes.is_empty();
    let opts = x11::app::Options {
        nodes,
        overview,
        roles,
        stop: None,
    };
    match x11::app::run(conn, screen, counters, shared, opts) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("meshscope view: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Run the terminal dashboard with log lines in a file meanwhile.
pub(crate) fn tui(
    shared: fetch::Shared,
    interval: Duration,
    note: Option<String>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        "no X display and standard output is not a terminal: {}",
        note.as_deref().unwrap_or("--tui needs a terminal")
    );
    let log = std::env::temp_dir().join(format!("meshscope-view-{}.log", std::process::id()));
    super::log_to_file(&log)?;
    let r = meshscope_viewer::tui::run(shared, interval, note);
    super::log_to_stderr();
    r?;
    eprintln!(
        "meshscope view: log lines were written to {}",
        log.display()
    );
    Ok(ExitCode::SUCCESS)
}
