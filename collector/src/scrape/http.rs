//! The HTTP side of a scrape: one client per job (auth, TLS), content negotiation,
//! gzip, the timeout and the body size limit.

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};

use crate::config::{Config, HttpClientConfig};

/// What Prometheus 2.42 asks for: OpenMetrics first, then the text format.
pub const ACCEPT_HEADER: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A job's HTTP client and how it authenticates.
#[derive(Clone)]
pub struct Client {
    inner: reqwest::Client,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    None,
    /// Files are read at each scrape, so a rotated secret is picked up.
    Basic {
        user: String,
        password: Option<String>,
        password_file: Option<std::path::PathBuf>,
    },
    Header {
        kind: String,
        credentials: Option<String>,
        credentials_file: Option<std::path::PathBuf>,
    },
}

fn read_secret(p: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("reading {}: {e}", p.display()))
}

impl Client {
    pub fn new(h: &HttpClientConfig, cfg: &Config) -> Result<Client, String> {
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("meshscope/", env!("CARGO_PKG_VERSION")))
            .redirect(if h.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true);
        if !h.enable_http2 {
            b = b.http1_only();
        }
        // TLS is configured on rustls directly (see `tls.rs`): `server_name` needs a
        // verifier of our own.
        let tls = super::tls::client_config(&h.tls_config, cfg, h.enable_http2)?;
        b = b.use_preconfigured_tls(tls);
        let auth = if let Some(ba) = &h.basic_auth {
            Auth::Basic {
                user: ba.username.clone(),
                password: ba.password.as_ref().map(|s| s.0.clone()),
                password_file: ba.password_file.as_ref().map(|f| cfg.resolve(f)),
            }
        } else if let Some(a) = &h.authorization {
            Auth::Header {
                kind: a.kind.clone().unwrap_or_else(|| "Bearer".into()),
                credentials: a.credentials.as_ref().map(|s| s.0.clone()),
                credentials_file: a.credentials_file.as_ref().map(|f| cfg.resolve(f)),
            }
        } else if h.bearer_token.is_some() || h.bearer_token_file.is_some() {
            Auth::Header {
                kind: "Bearer".into(),
                credentials: h.bearer_token.as_ref().map(|s| s.0.clone()),
                credentials_file: h.bearer_token_file.as_ref().map(|f| cfg.resolve(f)),
            }
        } else {
            Auth::None
        };
        let inner = b
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Client { inner, auth })
    }

    /// A GET request on this client (HTTP service discovery).
    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.inner.get(url)
    }

    /// A POST request on this client (remote write).
    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.inner.post(url)
    }

    /// `req` with this client's credentials; secret files are read now, so a rotated
    /// secret is picked up.
    pub fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, String> {
        Ok(match &self.auth {
            Auth::None => req,
            Auth::Basic {
                user,
                password,
                password_file,
            } => {
                let pw = match password_file {
                    Some(f) => Some(read_secret(f)?),
                    None => password.clone(),
                };
                req.basic_auth(user, pw)
            }
            Auth::Header {
                kind,
                credentials,
                credentials_file,
            } => {
                let c = match credentials_file {
                    Some(f) => read_secret(f)?,
                    None => credentials.clone().unwrap_or_default(),
                };
                req.header(reqwest::header::AUTHORIZATION, format!("{kind} {c}"))
            }
        })
    }

    /// GET `url` into `buf` (cleared first). Returns the response's content type.
    /// Fails on any status but 200, when the (decompressed) body passes `limit` bytes
    /// (0 = no limit), and when the whole exchange takes longer than `timeout`.
    pub async fn fetch(
        &self,
        url: &str,
        timeout: Duration,
        limit: u64,
        buf: &mut Vec<u8>,
    ) -> Result<String, String> {
        buf.clear();
        let mut req = self
            .inner
            .get(url)
            .header(ACCEPT, HeaderValue::from_static(ACCEPT_HEADER))
            .header(USER_AGENT, concat!("meshscope/", env!("CARGO_PKG_VERSION")))
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", timeout.as_secs_f64()),
            );
        req = self.authorize(req)?;
        let work = async {
            let mut resp = req.send().await.map_err(|e| describe(&e))?;
            let status = resp.status();
            if status != reqwest::StatusCode::OK {
                return Err(format!("server returned HTTP status {status}"));
            }
            let ct = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
                if limit > 0 && (buf.len() + chunk.len()) as u64 > limit {
                    return Err(format!("body size limit exceeded ({limit} bytes)"));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(ct)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "scrape timed out after {}",
                crate::config::Duration(timeout.as_millis() as i64)
            )),
        }
    }
}

/// reqwest's error with its causes, which carry the useful part ("connection refused").
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Read a discovery answer (HTTP SD, Consul) of at most
/// [`crate::config::MAX_FILE_BYTES`], as a file would be: a larger one fails that
/// refresh instead of taking the process's memory.
pub async fn read_bounded(mut resp: reqwest::Response, url: &str) -> Result<Vec<u8>, String> {
    let limit = crate::config::MAX_FILE_BYTES as usize;
    let too_large = || format!("{url}: the answer is larger than {} MiB", limit >> 20);
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(c) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: {}", describe(&e)))?
    {
        if body.len() + c.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&c);
    }
    Ok(body)
}
