//! The one client for a Prometheus-compatible source (the collector, a Prometheus, Mimir,
//! Thanos, VictoriaMetrics), shared by `meshscope query`, the viewer and the reporter:
//! the `prometheus-http-query` crate over a reqwest client that carries the source's
//! basic auth or bearer token and trusts its CA file. Errors say what went wrong in one
//! line (unreachable, refused credentials, a bad query), not a chain of causes.
//!
//! Its own crate so that the viewer and the reporter, which only read a source, do not
//! depend on the collector. [`yaml`] is the guarded reading of the YAML files users
//! write, shared by the collector and the reporter.

pub mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use prometheus_http_query::response::Data;
use prometheus_http_query::Client;

/// How to reach and authenticate to a source.
#[derive(Clone, Debug, Default)]
pub struct SourceOptions {
    /// `http(s)://host:port[/prefix]`; `user:password@` in the URL is basic auth.
    pub url: String,
    pub basic_auth_user: Option<String>,
    /// A file holding the basic-auth password (trailing newline ignored).
    pub basic_auth_password_file: Option<PathBuf>,
    /// A file holding a bearer token (trailing newline ignored).
    pub bearer_token_file: Option<PathBuf>,
    /// A PEM file with the CA that signed the source's certificate.
    pub ca_file: Option<PathBuf>,
    /// The longest a request may take, its whole answer read (120 s).
    pub timeout: Option<Duration>,
    /// The largest answer read ([`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one is an
    /// error, not a process that runs out of memory.
    pub max_response_bytes: Option<usize>,
}

/// The default of [`SourceOptions::max_response_bytes`]: 256 MiB of JSON.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// A failure talking to a source, as one line for a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("invalid source {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "{url} refused the credentials (HTTP {status}): check the user and password or the token"
    )]
    Unauthorized { url: String, status: u16 },
    #[error("{url}: {kind}: {message}")]
    Query {
        url: String,
        kind: String,
        message: String,
    },
    #[error("{url}: {message}")]
    Other { url: String, message: String },
}

/// A connected source.
#[derive(Clone)]
pub struct Source {
    client: Client,
    url: String,
    max_response_bytes: usize,
}

/// The envelope of every Prometheus API answer (a plain struct rather than an enum
/// tagged by `status`, which serde would buffer whole before decoding `data`).
#[derive(serde::Deserialize)]
struct Envelope<D> {
    status: String,
    data: Option<D>,
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(default)]
    error: String,
}

fn read_secret(p: &PathBuf, what: &str) -> Result<String, SourceError> {
    std::fs::read_to_string(p)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
        .map_err(|e| SourceError::Config(format!("{what} {}: {e}", p.display())))
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("url", &self.url).finish()
    }
}

/// A series' labels as a sorted map.
pub type Metric = BTreeMap<String, String>;

impl Source {
    pub fn new(o: &SourceOptions) -> Result<Source, SourceError> {
        let mut url = reqwest::Url::parse(&o.url).map_err(|e| SourceError::InvalidUrl {
            url: o.url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(SourceError::InvalidUrl {
                url: o.url.clone(),
                reason: "must be http:// or https:// with a host".into(),
            });
        }
        // Credentials in the URL become basic auth (and leave the URL we show).
        let mut user = o.basic_auth_user.clone();
        let mut password = None;
        if !url.username().is_empty() {
            user = Some(url.username().to_string());
            password = url.password().map(str::to_string);
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        if let Some(f) = &o.basic_auth_password_file {
            password = Some(read_secret(f, "password file")?);
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(u) = user {
            use base64::Engine as _;
            let v = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{u}:{}", password.unwrap_or_default()))
            );
            headers.insert(
                reqwest::header::AUTHORIZATION,
                v.parse().map_err(|_| {
                    SourceError::Config(
                        "the basic-auth user or password has characters a header cannot carry"
                            .into(),
                    )
                })?,
            );
        } else if let Some(f) = &o.bearer_token_file {
            let t = read_secret(f, "bearer token file")?;
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {t}").parse().map_err(|_| {
                    SourceError::Config(
                        "the bearer token has characters a header cannot carry".into(),
                    )
                })?,
            );
        }
        let mut b = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(o.timeout.unwrap_or(Duration::from_secs(120)))
            .connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &o.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| SourceError::Config(format!("CA file {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                SourceError::Config(format!(
                    "CA file {}: not PEM certificates: {e}",
                    ca.display()
                ))
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b
            .build()
            .map_err(|e| SourceError::Config(format!("HTTP client: {e}")))?;
        let shown = url.as_str().trim_end_matches('/').to_string();
        let client = Client::from(http, &shown).map_err(|e| SourceError::InvalidUrl {
            url: o.url.clone(),
            reason: e.to_string(),
        })?;
        Ok(Source {
            client,
            url: shown,
            max_response_bytes: o.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
        })
    }

    /// The source's URL without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The underlying `prometheus-http-query` client, for calls not wrapped here.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Map the crate's error to one line.
    pub fn error(&self, e: prometheus_http_query::Error) -> SourceError {
        use prometheus_http_query::Error as E;
        match e {
            E::Prometheus(p) => SourceError::Query {
                url: self.url.clone(),
                kind: p.error_type().to_string(),
                message: p.message().to_string(),
            },
            E::Client(c) => {
                let inner = c.inner();
                if let Some(s) = inner.and_then(|i| i.status()) {
                    if s.as_u16() == 401 || s.as_u16() == 403 {
                        return SourceError::Unauthorized {
                            url: self.url.clone(),
                            status: s.as_u16(),
                        };
                    }
                    return SourceError::Other {
                        url: self.url.clone(),
                        message: format!("HTTP {s}"),
                    };
                }
                if inner.is_some_and(|i| i.is_connect() || i.is_timeout()) {
                    let mut reason = String::new();
                    let mut src: Option<&dyn std::error::Error> = inner.map(|i| i as _);
                    while let Some(s) = src {
                        reason = s.to_string();
                        src = s.source();
                    }
                    return SourceError::Unreachable {
                        url: self.url.clone(),
                        reason,
                    };
                }
                SourceError::Other {
                    url: self.url.clone(),
                    message: c.to_string(),
                }
            }
            other => SourceError::Other {
                url: self.url.clone(),
                message: other.to_string(),
            },
        }
    }

    /// Check that the source answers (and accepts our credentials): its build info.
    pub async fn check(&self) -> Result<String, SourceError> {
        self.client
            .build_information()
            .await
            .map(|b| b.version().to_string())
            .map_err(|e| self.error(e))
    }

    fn other(&self, message: impl Into<String>) -> SourceError {
        SourceError::Other {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    /// Read a query's answer: at most `max_response_bytes`, JSON of the Prometheus
    /// envelope (serde_json refuses nesting deeper than 128), the error envelope as a
    /// query error. A broken, truncated, oversized or mistyped answer is one line.
    async fn answer(
        &self,
        r: Result<reqwest::Response, prometheus_http_query::Error>,
    ) -> Result<Data, SourceError> {
        let mut r = r.map_err(|e| self.error(e))?;
        let status = r.status();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            return Err(SourceError::Unauthorized {
                url: self.url.clone(),
                status: status.as_u16(),
            });
        }
        let json = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return Err(self.other(format!(
                "HTTP {status}: the answer is not JSON (Content-Type {:?})",
                r.headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
            )));
        }
        let limit = self.max_response_bytes;
        if r.content_length().is_some_and(|n| n > limit as u64) {
            return Err(self.other(format!(
                "the answer is {} bytes, more than the {limit} bytes read from a source",
                r.content_length().unwrap_or_default()
            )));
        }
        let mut body = Vec::new();
        loop {
            match r.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > limit {
                        return Err(self.other(format!(
                            "the answer is more than the {limit} bytes read from a source"
                        )));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return Err(SourceError::Unreachable {
                        url: self.url.clone(),
                        reason: "no complete answer within the timeout".into(),
                    })
                }
                Err(e) => {
                    return Err(self.other(format!(
                        "the answer broke off before its end ({e}): {} bytes read",
                        body.len()
                    )))
                }
            }
        }
        let env: Envelope<prometheus_http_query::response::PromqlResult> =
            match serde_json::from_slice(&body) {
                Ok(e) => e,
                Err(e) if !status.is_success() => {
                    return Err(self.other(format!("HTTP {status}: {e}")))
                }
                Err(e) => {
                    return Err(
                        self.other(format!("the answer is not a Prometheus API answer: {e}"))
                    )
                }
            };
        match (env.status.as_str(), env.data) {
            ("success", Some(d)) => Ok(d.into_inner().0),
            ("error", _) => Err(SourceError::Query {
                url: self.url.clone(),
                kind: env.error_type,
                message: env.error,
            }),
            (s, _) => Err(self.other(format!(
                "the answer is not a Prometheus API answer: status {s:?} without data"
            ))),
        }
    }

    /// An instant query at `time` (Unix seconds; now when `None`).
    pub async fn instant(
        &self,
        expr: &str,
        time: Option<i64>,
    ) -> Result<Vec<(Metric, f64, f64)>, SourceError> {
        let mut q = self.client.query(expr);
        if let Some(t) = time {
            q = q.at(t);
        }
        let data = self.answer(q.post_raw().await).await?;
        Ok(match &data {
            Data::Vector(v) => v
                .iter()
                .map(|s| {
                    (
                        s.metric().clone().into_iter().collect(),
                        s.sample().timestamp(),
                        s.sample().value(),
                    )
                })
                .collect(),
            Data::Scalar(s) => vec![(Metric::new(), s.timestamp(), s.value())],
            Data::Matrix(m) => m
                .iter()
                .flat_map(|r| {
                    let metric: Metric = r.metric().clone().into_iter().collect();
                    r.samples()
                        .iter()
                        .map(move |s| (metric.clone(), s.timestamp(), s.value()))
                        .collect::<Vec<_>>()
                })
                .collect(),
        })
    }

    /// A range query (Unix seconds; step in seconds).
    pub async fn range(
        &self,
        expr: &str,
        start: i64,
        end: i64,
        step: f64,
    ) -> Result<Vec<(Metric, Vec<(f64, f64)>)>, SourceError> {
        let r = self
            .client
            .query_range(expr, start, end, step)
            .post_raw()
            .await;
        let data = self.answer(r).await?;
        Ok(match &data {
            Data::Matrix(m) => m
                .iter()
                .map(|r| {
                    (
                        r.metric().clone().into_iter().collect(),
                        r.samples()
                            .iter()
                            .map(|s| (s.timestamp(), s.value()))
                            .collect(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        })
    }
}
