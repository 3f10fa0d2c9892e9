//! `meshscope query`: PromQL against any Prometheus-compatible source, printed as a
//! table (like `promtool query instant|range`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use meshscope_source::{Metric, Source, SourceOptions};

/// Where the data comes from: shared by every command that reads a source.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The Prometheus HTTP API to read (the collector, a Prometheus, Mimir, Thanos,
    /// VictoriaMetrics); `user:password@` in the URL is basic auth.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9477",
        env = "MESHSCOPE_SOURCE"
    )]
    pub source: String,
    /// Basic-auth user for the source.
    #[arg(long = "source.basic-auth-user")]
    pub basic_auth_user: Option<String>,
    /// File holding the basic-auth password.
    #[arg(long = "source.basic-auth-password-file")]
    pub basic_auth_password_file: Option<PathBuf>,
    /// File holding a bearer token for the source.
    #[arg(long = "source.bearer-token-file")]
    pub bearer_token_file: Option<PathBuf>,
    /// PEM file with the CA of the source's TLS certificate.
    #[arg(long = "source.ca-file")]
    pub ca_file: Option<PathBuf>,
    /// The longest one request to the source may take, its whole answer read.
    #[arg(long = "source.timeout", default_value = "2m", value_parser = super::duration_ms)]
    pub timeout: i64,
}

impl SourceArgs {
    pub fn connect(&self) -> anyhow::Result<Source> {
        Ok(Source::new(&SourceOptions {
            url: self.source.clone(),
            basic_auth_user: self.basic_auth_user.clone(),
            basic_auth_password_file: self.basic_auth_password_file.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            ca_file: self.ca_file.clone(),
            timeout: Some(std::time::Duration::from_millis(self.timeout.max(1) as u64)),
            ..SourceOptions::default()
        })?)
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QueryArgs {
    #[command(subcommand)]
    pub command: Option<QueryCommand>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// The PromQL expression (an instant query).
    pub expr: Option<String>,
    /// Evaluation time (Unix seconds or RFC 3339; default: now).
    #[arg(long, value_parser = time_arg)]
    pub time: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// A range query: one row per series and step.
    Range(RangeArgs),
}

#[derive(Debug, Args)]
pub struct RangeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The PromQL expression.
    pub expr: String,
    /// Start (Unix seconds or RFC 3339; default: an hour before the end).
    #[arg(long, value_parser = time_arg)]
    pub start: Option<i64>,
    /// End (Unix seconds or RFC 3339; default: now).
    #[arg(long, value_parser = time_arg)]
    pub end: Option<i64>,
    /// Step (a duration such as 15s or 1m, or seconds).
    #[arg(long, default_value = "1m")]
    pub step: String,
}

fn time_arg(s: &str) -> Result<i64, String> {
    meshscope_collector::api::parse_time(s).map(|ms| ms.div_euclid(1000))
}

fn fmt_metric(m: &Metric) -> String {
    let name = m.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = m
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

fn fmt_time(t: f64) -> String {
    meshscope_collector::server::rfc3339((t * 1000.0).round() as i64)
}

/// Print rows as a table with aligned columns.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn run(a: QueryArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match a.command {
        Some(QueryCommand::Range(r)) => {
            let src = r.source.connect()?;
            let step = meshscope_collector::api::parse_duration_param(&r.step)
                .map_err(|e| anyhow::anyhow!("--step: {e}"))?;
            anyhow::ensure!(step > 0, "--step must be positive");
            let end = r.end.unwrap_or_else(now_s);
            let start = r.start.unwrap_or(end - 3600);
            let res = rt.block_on(src.range(&r.expr, start, end, step as f64 / 1000.0))?;
            let mut rows = Vec::new();
            for (m, pts) in &res {
                for (t, v) in pts {
                    rows.push(vec![
                        fmt_metric(m),
                        fmt_time(*t),
                        meshscope_collector::promql::format_float(*v),
                    ]);
                }
            }
            table(&["SERIES", "TIME", "VALUE"], &rows);
            eprintln!("{} series, {} points", res.len(), rows.len());
        }
        None => {
            let expr = a
                .expr
                .ok_or_else(|| anyhow::anyhow!("give an expression: meshscope query EXPR"))?;
            let src = a.source.connect()?;
            let res = rt.block_on(src.instant(&expr, a.time))?;
            let rows: Vec<Vec<String>> = res
                .iter()
                .map(|(m, t, v)| {
                    vec![
                        fmt_metric(m),
                        meshscope_collector::promql::format_float(*v),
                        fmt_time(*t),
                    ]
                })
                .collect();
            table(&["SERIES", "VALUE", "TIME"], &rows);
            eprintln!("{} series", rows.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
