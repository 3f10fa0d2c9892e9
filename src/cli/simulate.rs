//! `meshscope simulate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use meshscope_collector::tsdb::{Db, Labels, Options};
use meshscope_simulate::{serve, Integrator, Mesh};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of simulated nodes (roles cycle: pulsar, kafka, rabbitmq, nats, grpc, envoy, host, router).
    #[arg(long, default_value_t = 12)]
    pub nodes: usize,
    /// Seed: the same seed gives the same mesh and the same values.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Address to serve every node on, at /node/<name>/metrics.
    #[arg(long, default_value = "127.0.0.1:9478")]
    pub listen: String,
    /// Write a file_sd target file for the nodes (then keep serving).
    #[arg(long = "targets-file")]
    pub targets_file: Option<PathBuf>,
    /// Instead of serving, write this much history ending now (e.g. 7d).
    #[arg(long, value_parser = super::duration_ms)]
    pub history: Option<i64>,
    /// Where the history ends (Unix seconds or RFC 3339; default now), e.g. the end of an
    /// ISO week for a benchmark deck. The history must still start at most 16 days ago.
    #[arg(long = "history-end", value_parser = super::tsdb::time_arg)]
    pub history_end: Option<i64>,
    /// Step between history samples.
    #[arg(long = "history-step", default_value = "15s", value_parser = super::duration_ms)]
    pub history_step: i64,
    /// Write the history as OpenMetrics text to this file.
    #[arg(long = "history-out")]
    pub history_out: Option<PathBuf>,
    /// Write the history straight into a store in this directory.
    #[arg(long = "storage.tsdb.path")]
    pub storage_path: Option<PathBuf>,
    /// Keep every node up (by default the second node fails 4 minutes in every 30).
    #[arg(long = "no-failures")]
    pub no_failures: bool,
}

/// The simulated time origin: sixteen days before the start of today (UTC), so that two
/// weeks of history (the demo reaches back to the start of the last complete week) and a
/// live run share one set of counters. Whole days: the failing node's 30-minute cycle
/// keeps its phase.
pub(crate) fn origin(now: i64) -> i64 {
    now.div_euclid(86_400_000) * 86_400_000 - 16 * 86_400_000
}

pub fn run(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(a.nodes > 0, "--nodes must be at least 1");
    anyhow::ensure!(a.history_step > 0, "--history-step must be positive");
    let now = serve::now_ms();
    let mut mesh = Mesh::new(a.nodes, a.seed, origin(now));
    if a.no_failures {
        mesh = mesh.without_failures();
    }
    if let Some(h) = a.history {
        anyhow::ensure!(
            h <= 15 * 86_400_000,
            "--history may be at most 15d (the simulated counters start 16 days before today)"
        );
        let end = a.history_end.unwrap_or(now).min(now);
        let end = end.div_euclid(a.history_step) * a.history_step;
        let start = end - h;
        anyhow::ensure!(
            start >= mesh.origin_ms,
            "--history and --history-end reach back before the simulated origin (16 days before today)"
        );
        anyhow::ensure!(
            a.history_out.is_some() || a.storage_path.is_some(),
            "--history needs --history-out FILE or --storage.tsdb.path DIR"
        );
        if let Some(p) = &a.history_out {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
            let mut last = std::time::Instant::now();
            let n = meshscope_simulate::write_history(
                &mesh,
                start,
                end,
                a.history_step,
                &mut w,
                &mut |n| {
                    if last.elapsed().as_secs() >= 2 {
                        tracing::info!(samples = n, "Writing history");
                        last = std::time::Instant::now();
                    }
                },
            )?;
            std::io::Write::flush(&mut w)?;
            println!("Wrote {n} samples of {} nodes to {}", a.nodes, p.display());
        }
        if let Some(dir) = &a.storage_path {
            let n = history_into_store(&mesh, start, end, a.history_step, dir)?;
            println!(
                "Wrote {n} samples of {} nodes into {}",
                a.nodes,
                dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .with_context(|| format!("listening on {}", a.listen))?;
        let addr = listener.local_addr()?.to_string();
        if let Some(p) = &a.targets_file {
            let json = serde_json::to_vec_pretty(&serve::targets_json(&mesh, &addr))?;
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, json).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, p).with_context(|| format!("writing {}", p.display()))?;
        }
        tracing::info!(address = %addr, nodes = mesh.nodes.len(), "Serving the simulated mesh");
        println!(
            "Serving {} simulated nodes on http://{addr}/node/<name>/metrics",
            mesh.nodes.len()
        );
        axum::serve(listener, serve::router(mesh, addr))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Append the history in time order through the store's normal write path, persisting
/// blocks as it goes, so memory stays bounded by the head (about 3 hours).
pub(crate) fn history_into_store(
    mesh: &Mesh,
    start: i64,
    end: i64,
    step: i64,
    dir: &std::path::Path,
) -> anyhow::Result<u64> {
    let db = Db::open(dir, Options::default())
        .with_context(|| format!("opening the store at {}", dir.display()))?;
    let integrators: Vec<Integrator> = (0..mesh.nodes.len())
        .map(|i| Integrator::new(mesh, i, end))
        .collect();
    let mut handles: std::collections::HashMap<
        String,
        meshscope_collector::tsdb::head::SeriesHandle,
    > = std::collections::HashMap::new();
    let mut n = 0u64;
    let mut t = start;
    let mut last_log = std::time::Instant::now();
    while t <= end {
        let mut app = db.appender();
        meshscope_simulate::snapshot(mesh, &integrators, t, |name, labels, v| {
            let mut key = String::with_capacity(96);
            key.push_str(name);
            for (k, val) in &labels {
                key.push_str(k);
                key.push('\u{1}');
                key.push_str(val);
            }
            let h = handles.entry(key).or_insert_with(|| {
                let l = Labels::from_pairs(
                    std::iter::once(("__name__", name))
                        .chain(labels.iter().map(|(k, v)| (*k, v.as_str()))),
                );
                app.series(&l)
            });
            app.add(h, t, v);
        });
        n += app.commit()?.appended;
        if (t - start) % (2 * 3_600_000) < step {
            db.maintain()?;
        }
        if last_log.elapsed().as_secs() >= 2 {
            tracing::info!(
                samples = n,
                done_percent = (t - start) * 100 / (end - start).max(1),
                "Writing history into the store"
            );
            last_log = std::time::Instant::now();
        }
        t += step;
    }
    db.persist_head(true)?;
    db.maintain()?;
    db.close()?;
    Ok(n)
}
