//! `meshscope tsdb dump | import | analyze`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use meshscope_collector::tsdb::{labels, tools, Db, Options};

#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Print stored samples as OpenMetrics text with timestamps.
    Dump(DumpArgs),
    /// Print blocks, series, samples, chunks and bytes per sample.
    Analyze(StoreArgs),
    /// Backfill from a file.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store's directory.
    #[arg(long = "storage.tsdb.path", default_value = "./meshscope-data")]
    pub path: PathBuf,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Series selector, e.g. `up{job="mesh"}`; may be repeated (the union is printed).
    #[arg(long = "match")]
    pub matchers: Vec<String>,
    /// Earliest sample time, Unix milliseconds.
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_hyphen_values = true)]
    pub min_time: i64,
    /// Latest sample time, Unix milliseconds.
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_hyphen_values = true)]
    pub max_time: i64,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// OpenMetrics text with timestamps (the input of `promtool tsdb create-blocks-from openmetrics`).
    Openmetrics(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The OpenMetrics file.
    pub file: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    /// About how many samples to hold in memory at once.
    #[arg(long, default_value_t = 20_000_000)]
    pub max_samples_in_memory: u64,
}

fn open(store: &StoreArgs) -> anyhow::Result<Db> {
    let opts = Options {
        retention_time_ms: 0,
        ..Options::default()
    };
    Db::open(&store.path, opts)
        .with_context(|| format!("opening the store at {}", store.path.display()))
}

pub fn run(cmd: TsdbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TsdbCommand::Dump(a) => {
            let db = open(&a.store)?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let selectors = a
                .matchers
                .iter()
                .map(|m| {
                    labels::parse_selector(m).map_err(|e| anyhow::anyhow!("--match {m:?}: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            tools::dump(&db, &selectors, a.min_time, a.max_time, &mut out)?;
        }
        TsdbCommand::Analyze(a) => {
            let db = open(&a)?;
            tools::analyze(&db, &mut std::io::stdout().lock())?;
        }
        TsdbCommand::Import(ImportCommand::Openmetrics(a)) => {
            let db = open(&a.store)?;
            let mut last = std::time::Instant::now();
            let st =
                tools::import_openmetrics(&db, &a.file, a.max_samples_in_memory, &mut |_, n| {
                    if last.elapsed().as_secs() >= 2 {
                        tracing::info!(samples = n, "Importing");
                        last = std::time::Instant::now();
                    }
                })?;
            db.maintain()?;
            println!(
                "Imported {} samples of {} series into {} blocks ({} out of order skipped)",
                st.samples, st.series, st.blocks, st.skipped_out_of_order
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
