//! The `meshscope` command line: parses arguments and dispatches to the libraries.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

mod check;
mod collect;
mod demo;
mod exporter;
pub mod query;
mod report;
mod simulate;
mod tsdb;
pub(crate) mod view;

/// Observability for messaging infrastructure: collector, viewer, reporter, dashboards.
#[derive(Debug, Parser)]
#[command(name = "meshscope", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `meshscope_collector=debug`.
    #[arg(
        long = "log.level",
        global = true,
        env = "MESHSCOPE_LOG",
        default_value = "info"
    )]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scrape the configured targets into the embedded store and serve them.
    Collect(collect::CollectArgs),
    /// Check configuration files and exposition bodies without running anything.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Run unit tests (like `promtool test`).
    #[command(subcommand)]
    Test(TestCommand),
    /// Run PromQL against a Prometheus-compatible source and print a table.
    Query(Box<query::QueryArgs>),
    /// Serve a simulated messaging mesh on loopback, or write its history.
    Simulate(simulate::SimulateArgs),
    /// Inspect, export and backfill the embedded store.
    #[command(subcommand)]
    Tsdb(tsdb::TsdbCommand),
    /// Live traffic windows on X11 (an overview of the mesh and one window per node).
    View(Box<view::ViewArgs>),
    /// The one-command start: a simulated mesh, the collector and the viewer.
    Demo(demo::DemoArgs),
    /// The weekly executive deck (PPTX), once or on a schedule.
    Report(Box<report::ReportArgs>),
    /// Serve a Prometheus exporter for a component whose own exporter is not at hand.
    #[command(subcommand)]
    Exporter(exporter::ExporterCommand),
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check an exposition body (like `promtool check metrics`): exit 0 if valid, 1 if not.
    Metrics(CheckMetrics),
    /// Check configuration files (like `promtool check config`): exit 0 if all are valid.
    Config(CheckConfig),
    /// Check rule files (like `promtool check rules`): exit 0 if all are valid.
    Rules(CheckRules),
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run rule unit tests in promtool's format (`rule_files`, `input_series`,
    /// `alert_rule_test`, `promql_expr_test`) on meshscope's engine: exit 0 if all pass.
    Rules(TestRules),
}

#[derive(Debug, Args)]
pub struct TestRules {
    /// The test files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckRules {
    /// The rule files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckConfig {
    /// The configuration files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExpositionFormat {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0.
    Openmetrics,
}

#[derive(Debug, Args)]
pub struct CheckMetrics {
    /// The format of the body.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ExpositionFormat,
    /// The file to read; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("meshscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where log lines go: standard error, or a file while the terminal dashboard owns the
/// terminal (see [`log_to_file`]).
static LOG_FILE: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

enum LogWriter {
    Stderr(std::io::Stderr),
    File(std::fs::File),
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            LogWriter::Stderr(e) => e.write(buf),
            LogWriter::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            LogWriter::Stderr(e) => e.flush(),
            LogWriter::File(f) => f.flush(),
        }
    }
}

fn log_writer() -> LogWriter {
    let f = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner());
    match f.as_ref().and_then(|f| f.try_clone().ok()) {
        Some(f) => LogWriter::File(f),
        None => LogWriter::Stderr(std::io::stderr()),
    }
}

/// Send log lines to `path` (appending) until [`log_to_stderr`].
pub(crate) fn log_to_file(path: &std::path::Path) -> anyhow::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the log file {}", path.display()))?;
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    Ok(())
}

pub(crate) fn log_to_stderr() {
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_writer)
        .with_ansi(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Collect(args) => collect::run(args),
        Command::Check(CheckCommand::Metrics(args)) => check::metrics(&args),
        Command::Check(CheckCommand::Config(args)) => check::config(&args),
        Command::Check(CheckCommand::Rules(args)) => check::rules(&args),
        Command::Test(TestCommand::Rules(args)) => check::test_rules(&args),
        Command::Query(args) => query::run(*args),
        Command::Simulate(args) => simulate::run(args),
        Command::Tsdb(cmd) => tsdb::run(cmd),
        Command::View(args) => view::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Report(args) => report::run(*args),
        Command::Exporter(cmd) => exporter::run(cmd),
    }
}

/// Ctrl-C or SIGTERM (how a service manager stops a daemon).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A Prometheus duration flag value (`15s`, `1h30m`, `7d`) in milliseconds.
pub(crate) fn duration_ms(s: &str) -> Result<i64, String> {
    meshscope_collector::config::duration::parse_duration(s)
}

fn read_input(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    match file {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading standard input")?;
            Ok(buf)
        }
    }
}
