//! `--web.config.file` in Prometheus's format (the exporter-toolkit web configuration):
//! TLS for the HTTP server (`tls_server_config`), basic authentication with bcrypt
//! hashes (`basic_auth_users`) and extra response headers
//! (`http_server_config.headers`). They protect every endpoint: the API, `/metrics`
//! and the admin endpoints.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::config::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    #[serde(default)]
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<String>,
    #[serde(default)]
    min_version: Option<String>,
    #[serde(default)]
    max_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default)]
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// A checked web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// user → bcrypt hash.
    pub users: BTreeMap<String, String>,
}

/// Read and check a web configuration file.
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let text = crate::config::read_file(path)?;
    crate::config::check_yaml(&text, path)?;
    let raw: RawWebConfig = if text.trim().is_empty() {
        RawWebConfig::default()
    } else {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(&text))
            .map_err(|e| crate::config::decode_error(path, &e, &text))?
    };
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let locs = crate::config::locate::Locations::index(&text);
    let at = |key: &str, message: String| ConfigError {
        file: path.to_path_buf(),
        position: locs.find(key),
        key: key.to_string(),
        message,
    };
    let mut cfg = WebConfig::default();
    for (user, hash) in &raw.basic_auth_users {
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(at(
                &format!("basic_auth_users.{user}"),
                "not a bcrypt hash (generate one with `htpasswd -nBC 10 \"\" | tr -d ':'`)".into(),
            ));
        }
    }
    cfg.users = raw.basic_auth_users;
    if let Some(h) = raw.http_server_config {
        for (k, v) in h.headers {
            let lk = k.to_ascii_lowercase();
            // As Prometheus: headers that would break the server are refused.
            if matches!(
                lk.as_str(),
                "authorization"
                    | "www-authenticate"
                    | "content-type"
                    | "content-encoding"
                    | "server"
            ) {
                return Err(at(
                    &format!("http_server_config.headers.{k}"),
                    format!("setting header {k:?} is not allowed"),
                ));
            }
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                at(
                    &format!("http_server_config.headers.{k}"),
                    "invalid header name".into(),
                )
            })?;
            let value = HeaderValue::from_str(&v).map_err(|_| {
                at(
                    &format!("http_server_config.headers.{k}"),
                    "invalid header value".into(),
                )
            })?;
            cfg.headers.push((name, value));
        }
        let _ = h.http2;
    }
    if let Some(t) = raw.tls_server_config {
        cfg.tls = Some(Arc::new(tls_config(&t, &resolve, &at)?));
    }
    Ok(cfg)
}

fn tls_config(
    t: &RawTls,
    resolve: &dyn Fn(&str) -> PathBuf,
    at: &dyn Fn(&str, String) -> ConfigError,
) -> Result<rustls::ServerConfig, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&t.cert_file, &t.key_file) else {
        return Err(at(
            "tls_server_config",
            "cert_file and key_file are required".into(),
        ));
    };
    let read = |k: &str, f: &str| -> Result<Vec<u8>, ConfigError> {
        std::fs::read(resolve(f))
            .map_err(|e| at(&format!("tls_server_config.{k}"), format!("{f}: {e}")))
    };
    let cpem = read("cert_file", cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cpem)
        .collect::<Result<_, _>>()
        .map_err(|e| at("tls_server_config.cert_file", format!("{cert}: {e}")))?;
    if certs.is_empty() {
        return Err(at(
            "tls_server_config.cert_file",
            format!("{cert}: no certificate"),
        ));
    }
    let kpem = read("key_file", key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&kpem)
        .map_err(|e| at("tls_server_config.key_file", format!("{key}: {e}")))?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match (t.min_version.as_deref(), t.max_version.as_deref()) {
            (Some("TLS13"), _) => vec![&rustls::version::TLS13],
            (_, Some("TLS12")) => vec![&rustls::version::TLS12],
            (None | Some("TLS10" | "TLS11" | "TLS12"), _) => {
                vec![&rustls::version::TLS13, &rustls::version::TLS12]
            }
            (Some(v), _) => {
                return Err(at(
                    "tls_server_config.min_version",
                    format!("unknown TLS version {v:?} (TLS10, TLS11, TLS12, TLS13)"),
                ))
            }
        };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| at("tls_server_config", e.to_string()))?;
    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let Some(ca) = &t.client_ca_file else {
                return Err(at(
                    "tls_server_config.client_ca_file",
                    format!("client_ca_file is required with client_auth_type {auth}"),
                ));
            };
            let pem = read("client_ca_file", ca)?;
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| at("tls_server_config.client_ca_file", format!("{ca}: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| at("tls_server_config.client_ca_file", format!("{ca}: {e}")))?;
            }
            let mut v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            if auth == "VerifyClientCertIfGiven" {
                v = v.allow_unauthenticated();
            }
            let v = v
                .build()
                .map_err(|e| at("tls_server_config.client_ca_file", e.to_string()))?;
            builder.with_client_cert_verifier(v)
        }
        other => {
            return Err(at(
                "tls_server_config.client_auth_type",
                format!("unsupported client_auth_type {other:?} (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"),
            ))
        }
    };
    let mut cfg = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| at("tls_server_config", format!("certificate and key: {e}")))?;
    // HTTP/1.1 only (`http_server_config.http2` is accepted and ignored): the server's
    // header and body read timeouts (`--web.read-timeout`) are HTTP/1's.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Checks basic auth and adds the configured headers. bcrypt is slow by design, so a
/// verified (user, password) pair is remembered (by a hash of both), as Prometheus does.
#[derive(Clone)]
pub struct Guard {
    users: Arc<BTreeMap<String, String>>,
    headers: Arc<Vec<(HeaderName, HeaderValue)>>,
    verified: Arc<Mutex<HashSet<u64>>>,
}

impl Guard {
    pub fn new(cfg: &WebConfig) -> Guard {
        Guard {
            users: Arc::new(cfg.users.clone()),
            headers: Arc::new(cfg.headers.clone()),
            verified: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn authorized(&self, authorization: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, pass)) = authorization
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
        else {
            return false;
        };
        let Some(hash) = self.users.get(&user) else {
            return false;
        };
        let key = xxhash_rust::xxh3::xxh3_64(format!("{user}\u{0}{pass}\u{0}{hash}").as_bytes());
        if self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return true;
        }
        let ok = bcrypt::verify(&pass, hash).unwrap_or(false);
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key);
        }
        ok
    }
}

/// The middleware: 401 without valid credentials, the headers on every response.
pub async fn guard(
    axum::extract::State(g): axum::extract::State<Guard>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let ok = if g.users.is_empty() {
        true
    } else {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let g2 = g.clone();
        // bcrypt takes tens of milliseconds: off the async threads.
        tokio::task::spawn_blocking(move || g2.authorized(auth.as_deref()))
            .await
            .unwrap_or(false)
    };
    let mut resp = if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic")],
            "Unauthorized\n",
        )
            .into_response()
    };
    for (k, v) in g.headers.iter() {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

/// A TCP listener whose connections are TLS: handshakes run in their own tasks (a slow
/// client delays no one else) and finished ones are handed to the server.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    /// At most `max_pending` connections are in their handshake or waiting to be
    /// served at once (the server's `--web.max-connections`); past it, new ones wait in
    /// the kernel's backlog.
    pub fn new(
        tcp: tokio::net::TcpListener,
        cfg: Arc<rustls::ServerConfig>,
        max_pending: usize,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let slots = Arc::new(tokio::sync::Semaphore::new(max_pending.max(1)));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (s, addr) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx2) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(s)).await {
                        Ok(Ok(t)) => {
                            let _ = tx2.send((t, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The accept task ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
