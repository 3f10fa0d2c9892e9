//! The HTTP side: every node under one listener at `/node/<name>/metrics`, plus a
//! file_sd-style target list at `/targets` (an HTTP SD endpoint too), and
//! `POST /node/<name>/load?factor=F`, which multiplies a node's traffic from now on (a
//! step for the latency benchmark; its counters stay monotonic).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::model::{Mesh, RunningIntegral};
use crate::{node_samples, render_text, JOB};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The file_sd JSON for the simulated targets at `addr` (`host:port`).
pub fn targets_json(mesh: &Mesh, addr: &str) -> serde_json::Value {
    serde_json::Value::Array(
        mesh.nodes
            .iter()
            .map(|n| {
                let mut labels = serde_json::json!({
                    "__metrics_path__": format!("/node/{}/metrics", n.name),
                    "instance": n.name,
                    "node": n.name,
                    "role": n.role,
                });
                if let Some(svc) = &n.service {
                    labels["service"] = svc.clone().into();
                }
                serde_json::json!({ "targets": [addr], "labels": labels })
            })
            .collect(),
    )
}

struct AppState {
    mesh: Mesh,
    addr: String,
    /// Node index by name.
    by_name: HashMap<String, usize>,
    /// Each node's traffic integral, kept up to date as it is scraped.
    integral: Mutex<RunningIntegral>,
    /// Per node: a traffic step since `t0` (see [`Step`]).
    steps: Mutex<HashMap<usize, Step>>,
}

impl AppState {
    fn node(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    fn cumulative(&self, node: usize, t: i64) -> f64 {
        let mut i = self.integral.lock().unwrap_or_else(|e| e.into_inner());
        i.cumulative(&self.mesh, node, t)
    }
}

/// From `t0` on, a node's cumulative traffic grows `factor` times as fast: `adjusted(t)
/// = base + factor * (raw(t) - raw0)`, where `base` is what it had reached at `t0`.
#[derive(Clone, Copy, Debug)]
struct Step {
    raw0: f64,
    base: f64,
    factor: f64,
}

impl Step {
    fn apply(&self, raw: f64) -> f64 {
        self.base + self.factor * (raw - self.raw0)
    }
}

fn adjusted(st: &AppState, node: usize, raw: f64) -> f64 {
    let steps = st.steps.lock().unwrap_or_else(|e| e.into_inner());
    steps.get(&node).map_or(raw, |s| s.apply(raw))
}

#[derive(serde::Deserialize)]
struct LoadParams {
    factor: f64,
}

async fn set_load(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<LoadParams>,
) -> Response {
    let Some(node) = st.node(&name) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no simulated node {name:?}\n"),
        )
            .into_response();
    };
    if !(q.factor.is_finite() && q.factor >= 0.0) {
        return (
            StatusCode::BAD_REQUEST,
            format!("factor {}: must be a number >= 0\n", q.factor),
        )
            .into_response();
    }
    let raw = st.cumulative(node, now_ms());
    let mut steps = st.steps.lock().unwrap_or_else(|e| e.into_inner());
    let base = steps.get(&node).map_or(raw, |s| s.apply(raw));
    steps.insert(
        node,
        Step {
            raw0: raw,
            base,
            factor: q.factor,
        },
    );
    format!("{name}: traffic x{} from now on\n", q.factor).into_response()
}

async fn metrics(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let Some(node) = st.node(&name) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no simulated node {name:?}\n"),
        )
            .into_response();
    };
    let t = now_ms();
    if st.mesh.is_down(node, t) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is down (simulated failure)\n"),
        )
            .into_response();
    }
    let cum = adjusted(&st, node, st.cumulative(node, t));
    let body = render_text(node_samples(&st.mesh, node, t, cum));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn targets(State(st): State<Arc<AppState>>) -> Response {
    axum::Json(targets_json(&st.mesh, &st.addr)).into_response()
}

async fn index(State(st): State<Arc<AppState>>) -> String {
    let mut s = format!(
        "meshscope simulated mesh ({} nodes, job {JOB})\n",
        st.mesh.nodes.len()
    );
    for n in &st.mesh.nodes {
        s.push_str(&format!("/node/{}/metrics\t{}\n", n.name, n.role));
    }
    s
}

/// The router serving `mesh` as reachable at `addr`.
pub fn router(mesh: Mesh, addr: String) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/targets", get(targets))
        .route("/node/{name}/metrics", get(metrics))
        .route("/node/{name}/load", post(set_load))
        .with_state(Arc::new(AppState {
            by_name: mesh
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.index))
                .collect(),
            integral: Mutex::new(RunningIntegral::new(&mesh)),
            mesh,
            addr,
            steps: Mutex::new(HashMap::new()),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_step_keeps_counters_monotonic_and_scales_the_rate() {
        let s1 = Step {
            raw0: 100.0,
            base: 100.0,
            factor: 5.0,
        };
        assert_eq!(s1.apply(100.0), 100.0);
        assert_eq!(s1.apply(110.0), 150.0);
        // A second step continues from where the first had got.
        let s2 = Step {
            raw0: 110.0,
            base: s1.apply(110.0),
            factor: 0.5,
        };
        assert_eq!(s2.apply(110.0), 150.0);
        assert_eq!(s2.apply(130.0), 160.0);
    }
}
