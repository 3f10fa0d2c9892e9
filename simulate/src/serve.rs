//! The HTTP side: every node under one listener at `/node/<name>/metrics`, plus a
//! file_sd-style target list at `/targets`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::model::Mesh;
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
                serde_json::json!({
                    "targets": [addr],
                    "labels": {
                        "__metrics_path__": format!("/node/{}/metrics", n.name),
                        "instance": n.name,
                        "node": n.name,
                        "role": n.role,
                    }
                })
            })
            .collect(),
    )
}

struct AppState {
    mesh: Mesh,
    addr: String,
}

async fn metrics(State(st): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    let Some(node) = st.mesh.node(&name) else {
        return (
            StatusCode::NOT_FOUND,
            format!("no simulated node {name:?}\n"),
        )
            .into_response();
    };
    let t = now_ms();
    if st.mesh.is_down(node.index, t) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} is down (simulated failure)\n"),
        )
            .into_response();
    }
    let cum = st.mesh.cumulative(node.index, t);
    let body = render_text(node_samples(&st.mesh, node.index, t, cum));
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
        .with_state(Arc::new(AppState { mesh, addr }))
}
