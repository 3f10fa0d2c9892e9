//! `meshscope report`: the weekly executive deck, once (`--out`) or on a schedule
//! (`--schedule` with `--out-dir`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use meshscope_reporter::query::fetch::FetchOptions;
use meshscope_reporter::render::{write_atomic, Job};
use meshscope_reporter::schedule::Daemon;
use meshscope_reporter::slo::SloConfig;
use meshscope_reporter::week::{parse_zone, Week};
use tokio_util::sync::CancellationToken;

use super::query::SourceArgs;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The ISO week to report (e.g. 2026-W47); default: the last complete week in --timezone.
    #[arg(long)]
    pub week: Option<String>,
    /// The time zone the week, the days and the times on the slides are in (IANA name).
    #[arg(long, default_value = "UTC", env = "MESHSCOPE_TIMEZONE")]
    pub timezone: String,
    /// SLO targets (YAML; see reporter/slo.example.yml). Default: the built-in targets.
    #[arg(long)]
    pub slo: Option<PathBuf>,
    /// Write the deck here (replaced atomically).
    #[arg(
        long,
        required_unless_present = "schedule",
        conflicts_with = "schedule"
    )]
    pub out: Option<PathBuf>,
    /// Run as a daemon and write a deck on this cron schedule (six fields with seconds,
    /// e.g. "0 0 7 * * Mon" for Mondays at 07:00 in --timezone).
    #[arg(long, requires = "out_dir", conflicts_with_all = ["week", "generated_at"])]
    pub schedule: Option<String>,
    /// With --schedule: the folder for meshscope-weekly-YYYY-Www.pptx and the state file.
    #[arg(long = "out-dir")]
    pub out_dir: Option<PathBuf>,
    /// With --schedule: keep the newest N decks.
    #[arg(long, default_value_t = 12)]
    pub keep: usize,
    /// The generation time printed on the title slide (RFC 3339); default: now. Fix it to
    /// reproduce a deck byte for byte from the same data.
    #[arg(long = "generated-at")]
    pub generated_at: Option<String>,
    /// Range requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let tz = parse_zone(&a.timezone)?;
    let week: Option<Week> = a.week.as_deref().map(str::parse).transpose()?;
    let slo = match &a.slo {
        Some(p) => SloConfig::load(p)?,
        None => SloConfig::default(),
    };
    let generated = match &a.generated_at {
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .with_context(|| {
                format!("--generated-at {s:?}: expected RFC 3339, e.g. 2026-11-23T07:00:00Z")
            })?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    anyhow::ensure!(a.keep >= 1, "--keep must be at least 1");
    let job = Job {
        source: a.source.connect()?,
        tz,
        slo,
        fetch: FetchOptions {
            concurrency: a.concurrency.max(1),
            ..FetchOptions::default()
        },
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let rt = tokio::runtime::Runtime::new()?;
    if let Some(cron) = a.schedule {
        let dir = a.out_dir.context("--schedule needs --out-dir")?;
        let daemon = Daemon {
            job,
            cron,
            dir,
            keep: a.keep,
            retry: Duration::from_secs(60),
        };
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        rt.spawn(async move {
            super::shutdown_signal().await;
            on_signal.cancel();
        });
        rt.block_on(daemon.run(stop))?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = a.out.context("--out is required without --schedule")?;
    let week = week.unwrap_or_else(|| Week::last_complete(chrono::Utc::now(), tz));
    let r = rt.block_on(job.render(week, generated))?;
    write_atomic(&out, &r.bytes)?;
    println!(
        "Wrote {} ({} slides, {} bytes) for {week}: fetched in {:.2} s, built in {:.2} s ({:.2} s CPU)",
        out.display(),
        r.slides,
        r.bytes.len(),
        r.fetch_time.as_secs_f64(),
        r.build_time.as_secs_f64(),
        r.build_cpu.as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
