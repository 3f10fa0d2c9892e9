//! The HTTP server's connection handling: a bounded number of connections, each of
//! which must send its request headers, and then its body, within a read timeout, so idle
//! or dripping clients (slowloris) cannot hold the server or its file descriptors.
//!
//! `axum::serve` sets none of these (hyper's header timeout needs a timer it does not
//! give), so the accept loop is ours; requests are still served by the axum `Router`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

/// Limits of the HTTP server (`--web.max-connections`, `--web.read-timeout`).
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Connections open at once; past it, new ones wait in the kernel's backlog until
    /// one closes (Prometheus's `--web.max-connections`, 512).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, counted from the
    /// connection's start or the end of the previous response (so also how long an idle
    /// keep-alive connection stays open), and then, separately, its whole body.
    pub read_timeout: Duration,
    /// The largest request body read (form-encoded queries).
    pub max_body_bytes: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 512,
            read_timeout: Duration::from_secs(30),
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Counters of the server, for `/metrics`.
#[derive(Debug, Default)]
pub struct ServeStats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted in all.
    pub accepted: AtomicU64,
    /// Requests whose body did not arrive within the read timeout (408).
    pub body_timeouts: AtomicU64,
    /// Requests whose body was over the limit (413).
    pub body_too_large: AtomicU64,
}

/// Serve `app` on `listener` until `shutdown` is cancelled, then let the open requests
/// finish (idle connections close at once).
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    opts: ServeOptions,
    stats: Arc<ServeStats>,
    shutdown: CancellationToken,
) where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    let app = app.layer(axum::middleware::from_fn_with_state(
        (opts, stats.clone()),
        read_body,
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.max_connections.max(1)));
    let tracker = TaskTracker::new();
    loop {
        // A free slot first: at the limit, connections wait in the backlog, unread.
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (io, addr) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            c = listener.accept() => c,
        };
        tracing::trace!(remote = ?addr, "Accepted a connection");
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|r: Request<hyper::body::Incoming>| r.map(Body::new)),
        );
        let (stop, stats) = (shutdown.clone(), stats.clone());
        tracker.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(opts.read_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "A connection ended with an error");
                    }
                }
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// Read a request's whole body within the read timeout and the size limit before the
/// handler runs, so a body that drips or never ends costs one connection for that long
/// and no more: 408 or 413 otherwise.
async fn read_body(
    axum::extract::State((opts, stats)): axum::extract::State<(ServeOptions, Arc<ServeStats>)>,
    req: Request,
    next: Next,
) -> Response {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, opts.max_body_bytes);
    match tokio::time::timeout(opts.read_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if is_too_large(&e) => {
            stats.body_too_large.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than {} bytes\n",
                    opts.max_body_bytes
                ),
            )
                .into_response()
        }
        Ok(Err(e)) => (
            StatusCode::BAD_REQUEST,
            format!("reading the request body failed: {e}\n"),
        )
            .into_response(),
        Err(_) => {
            stats.body_timeouts.fetch_add(1, Ordering::Relaxed);
            (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {:?} (--web.read-timeout)\n",
                    opts.read_timeout
                ),
            )
                .into_response()
        }
    }
}

fn is_too_large(e: &axum::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        src = s.source();
    }
    false
}
