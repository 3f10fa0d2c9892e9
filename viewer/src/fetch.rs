//! The fetch task: everything the viewer knows comes from the Prometheus HTTP API
//! (through the shared source client, `prometheus-http-query`). At start, and after a
//! window change or a re-sync, a range query backfills the visible window at one point
//! per chart column; then an instant query each interval extends the rings. It runs on
//! its own task and only takes the model's lock to write what it fetched, so drawing
//! never waits on the network.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use meshscope_source::{Source, SourceError};
use tokio::sync::{mpsc, watch};

use crate::model::{
    alerts_from, link_selector, links_from, live_up, node_selector, Model, FIRING_ALERTS, UP,
};

/// What the renderers ask of the fetch task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Show this much time (ms): refetch the history at the new step.
    Window(i64),
    /// Refetch the history.
    Resync,
}

#[derive(Clone, Copy, Debug)]
pub struct FetchConfig {
    pub interval: Duration,
    pub window_ms: i64,
    /// Chart width in pixels: one point per column.
    pub width_px: usize,
}

impl FetchConfig {
    /// One point per chart column, but never finer than the refresh interval.
    pub fn step_ms(&self, window_ms: i64) -> i64 {
        (window_ms / self.width_px.max(1) as i64)
            .max(self.interval.as_millis() as i64)
            .max(1)
    }
}

/// The model shared with the renderers, and a channel that carries its version.
#[derive(Clone)]
pub struct Shared {
    model: Arc<Mutex<Model>>,
    pub changed: watch::Receiver<u64>,
    pub commands: mpsc::UnboundedSender<Command>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Start the fetch task on `rt`.
pub fn spawn(rt: &tokio::runtime::Handle, source: Source, cfg: FetchConfig) -> Shared {
    let model = Arc::new(Mutex::new(Model::new(
        source.url(),
        cfg.window_ms,
        cfg.step_ms(cfg.window_ms),
    )));
    let (vtx, vrx) = watch::channel(0);
    let (ctx, crx) = mpsc::unbounded_channel();
    rt.spawn(run(source, cfg, model.clone(), vtx, crx));
    Shared {
        model,
        changed: vrx,
        commands: ctx,
    }
}

fn publish(model: &Mutex<Model>, tx: &watch::Sender<u64>, f: impl FnOnce(&mut Model)) {
    let mut m = model.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut m);
    m.version += 1;
    let _ = tx.send(m.version);
}

/// `f`, or an error once `limit` has passed without its answer.
async fn within<T>(
    limit: Duration,
    source: &Source,
    f: impl std::future::Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
        Err(SourceError::Unreachable {
            url: source.url().to_string(),
            reason: format!("no answer within {} s", limit.as_secs()),
        })
    })
}

async fn run(
    source: Source,
    cfg: FetchConfig,
    model: Arc<Mutex<Model>>,
    tx: watch::Sender<u64>,
    mut cmds: mpsc::UnboundedReceiver<Command>,
) {
    let nodes = node_selector();
    let links = link_selector();
    // Health from `up` itself (as cheap as the recorded series, and a scrape fresher:
    // the model's rules run every 15 s), applied after the model's.
    let up = live_up();
    let mut window = cfg.window_ms;
    let mut need_backfill = true;
    let mut backoff = Duration::from_secs(1);
    // A source that does not answer is an error shown on screen after this long, rather
    // than after the client's own two minutes.
    let limit = (cfg.interval * 5).max(Duration::from_secs(10));
    loop {
        let mut wait = cfg.interval;
        if need_backfill {
            let step = cfg.step_ms(window);
            let end = now_ms() / 1000;
            let start = end - window / 1000;
            let r = within(
                limit,
                &source,
                source.range(&nodes, start, end, step as f64 / 1000.0),
            );
            match r.await {
                Ok(series) => {
                    publish(&model, &tx, |m| {
                        m.reset(window, step);
                        for (metric, points) in &series {
                            let (Some(name), Some(node)) =
                                (metric.get("__name__"), metric.get("node"))
                            else {
                                continue;
                            };
                            let role = metric.get("role").map_or("", String::as_str);
                            for (t, v) in points {
                                m.add(name, node, role, (t * 1000.0) as i64, *v);
                            }
                        }
                        m.last_ok_ms = Some(now_ms());
                        m.error = None;
                    });
                    need_backfill = false;
                    backoff = Duration::from_secs(1);
                }
                Err(e) => {
                    tracing::warn!(source = source.url(), error = %e, "Backfill failed");
                    publish(&model, &tx, |m| m.error = Some(e.to_string()));
                    wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        if !need_backfill {
            let (n, l, u, a) = tokio::join!(
                within(limit, &source, source.instant(&nodes, None)),
                within(limit, &source, source.instant(&links, None)),
                within(limit, &source, source.instant(&up, None)),
                within(limit, &source, source.instant(FIRING_ALERTS, None))
            );
            // A source without alerts is not an error: the picture just has none.
            let alerts: Vec<_> = a
                .map(|a| a.into_iter().map(|(m, _, _)| m).collect())
                .unwrap_or_default();
            match (n, l, u) {
                (Ok(n), Ok(l), Ok(u)) => publish(&model, &tx, |m| {
                    m.alerts = alerts_from(&alerts);
                    let mut seen = std::collections::HashSet::new();
                    let mut round_ms = None;
                    for (metric, t, v) in &n {
                        let (Some(name), Some(node)) = (metric.get("__name__"), metric.get("node"))
                        else {
                            continue;
                        };
                        let role = metric.get("role").map_or("", String::as_str);
                        m.add(name, node, role, (t * 1000.0) as i64, *v);
                        round_ms = Some((t * 1000.0) as i64);
                        if let Some(s) = crate::model::Series::from_record(name) {
                            seen.insert((node.clone(), s));
                        }
                    }
                    m.end_round(round_ms.unwrap_or_else(now_ms), &seen);
                    for (metric, t, v) in &u {
                        if let Some(node) = metric.get("node") {
                            let role = metric.get("role").map_or("", String::as_str);
                            m.add(UP, node, role, (t * 1000.0) as i64, *v);
                        }
                    }
                    let lv: Vec<_> = l.into_iter().map(|(m, _, v)| (m, v)).collect();
                    let known = m.names();
                    m.set_links(links_from(&lv, &known));
                    m.last_ok_ms = Some(now_ms());
                    m.error = None;
                }),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                    tracing::warn!(source = source.url(), error = %e, "Query failed");
                    publish(&model, &tx, |m| m.error = Some(e.to_string()));
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            c = cmds.recv() => match c {
                Some(Command::Window(ms)) => {
                    window = ms;
                    need_backfill = true;
                }
                Some(Command::Resync) => need_backfill = true,
                None => return,
            },
        }
    }
}
