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
    /// Evaluate recording rules over stored data and write the results as blocks (like
    /// `promtool tsdb create-blocks-from rules`). Without rule files: the mesh model.
    BackfillRules(BackfillRulesArgs),
}

#[derive(Debug, Args)]
pub struct BackfillRulesArgs {
    /// Start of the range (Unix seconds or RFC 3339).
    #[arg(long, value_parser = time_arg)]
    pub start: i64,
    /// End of the range (Unix seconds or RFC 3339; default: now).
    #[arg(long, value_parser = time_arg)]
    pub end: Option<i64>,
    /// The step for groups without an `interval`.
    #[arg(long = "eval-interval", default_value = "1m", value_parser = super::duration_ms)]
    pub eval_interval: i64,
    /// Rule files (Prometheus format); none means the embedded mesh model.
    pub rule_files: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub(crate) fn time_arg(s: &str) -> Result<i64, String> {
    meshscope_collector::api::parse_time(s)
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
        TsdbCommand::BackfillRules(a) => {
            let groups = if a.rule_files.is_empty() {
                meshscope_collector::rules::mesh_model().map_err(anyhow::Error::msg)?
            } else {
                let mut g = Vec::new();
                for f in &a.rule_files {
                    let text = std::fs::read_to_string(f)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                    g.extend(
                        meshscope_collector::rules::parse_rules(&text, &f.display().to_string())
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                    );
                }
                g
            };
            anyhow::ensure!(a.eval_interval > 0, "--eval-interval must be positive");
            let end = a.end.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            });
            let db = open(&a.store)?;
            let mut last = std::time::Instant::now();
            let st = meshscope_collector::rules::backfill::backfill(
                &db,
                &groups,
                a.start,
                end,
                a.eval_interval,
                &meshscope_collector::promql::EvalOptions::default(),
                &mut |done, total| {
                    if last.elapsed().as_secs() >= 2 || done == total {
                        tracing::info!(done, total, "Backfilling rules: block ranges");
                        last = std::time::Instant::now();
                    }
                },
            )
            .map_err(anyhow::Error::msg)?;
            db.maintain()?;
            println!(
                "Backfilled {} recording rules ({} alerting rules skipped): {} samples of {} series in {} blocks",
                st.rules, st.skipped_alerting, st.samples, st.series, st.blocks
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
