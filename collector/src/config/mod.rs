//! The collector's configuration: the subset of Prometheus's `prometheus.yml` that
//! meshscope implements, with Prometheus's defaults, so an existing file that uses only
//! these fields loads unchanged.
//!
//! Decoding is serde (`serde_yaml`) with unknown keys denied; checks that span several
//! fields run afterwards and find their file position through [`locate::Locations`], so
//! every error names the file, line, column, key path and the rule it broke.

pub mod duration;
pub(crate) use meshscope_source::yaml as locate;
pub mod relabel;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

pub use relabel::{is_valid_label_name, RelabelConfig};

/// A configuration error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The key path, e.g. `scrape_configs[0].scrape_timeout`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((l, c)) = self.position {
            write!(f, ":{l}:{c}")?;
        }
        let (key, message) = (shorten(&self.key), shorten(&self.message));
        if key.is_empty() {
            write!(f, ": {message}")
        } else {
            write!(f, ": {key}: {message}")
        }
    }
}

/// A key or message as shown: one that quotes a huge value from the file is cut, so
/// that an error stays one readable line.
fn shorten(s: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 400;
    if s.len() <= MAX {
        return s.into();
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..cut], s.len()).into()
}

impl std::error::Error for ConfigError {}

/// A duration in milliseconds, written as a Prometheus duration string (`15s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub i64);

impl Duration {
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&duration::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        duration::parse_duration(&s)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

/// A size in bytes, written as Prometheus writes them (`10MB`, `512KiB`; units are
/// powers of 1024 either way, as in Prometheus).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// Parse a byte size such as `10MB`, `1GiB` or `0`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size {s:?}: expected a number and a unit (B, KB, MB, GB, TB, PB, EB or KiB, MiB, ...), e.g. 10MB")
    };
    if s == "0" {
        return Ok(0);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit {
        "B" => 0,
        "KB" | "KiB" => 10,
        "MB" | "MiB" => 20,
        "GB" | "GiB" => 30,
        "TB" | "TiB" => 40,
        "PB" | "PiB" => 50,
        "EB" | "EiB" => 60,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_bytes(&s)
            .map(ByteSize)
            .map_err(serde::de::Error::custom)
    }
}

/// A secret: never printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// A YAML list or map that may be written as `null` (an empty key), as Go's YAML accepts.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn yes() -> bool {
    true
}

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, deserialize_with = "nullable")]
    pub global: GlobalConfig,
    #[serde(default, deserialize_with = "nullable")]
    pub rule_files: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub remote_write: Vec<RemoteWriteConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub alerting: AlertingConfig,
    // Prometheus sections meshscope does not implement: named in a clear error.
    #[serde(default)]
    remote_read: Option<serde_yaml::Value>,
    #[serde(default)]
    storage: Option<serde_yaml::Value>,
    #[serde(default)]
    tracing: Option<serde_yaml::Value>,
    #[serde(default)]
    scrape_config_files: Option<serde_yaml::Value>,
    /// The directory relative paths in the file are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default)]
    pub scrape_interval: Option<Duration>,
    #[serde(default)]
    pub scrape_timeout: Option<Duration>,
    #[serde(default)]
    pub evaluation_interval: Option<Duration>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_labels: BTreeMap<String, String>,
}

pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration(60_000);
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration(10_000);
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration(60_000);
pub const DEFAULT_FILE_SD_REFRESH: Duration = Duration(300_000);

impl GlobalConfig {
    pub fn scrape_interval(&self) -> Duration {
        self.scrape_interval.unwrap_or(DEFAULT_SCRAPE_INTERVAL)
    }
    pub fn scrape_timeout(&self) -> Duration {
        self.scrape_timeout.unwrap_or(DEFAULT_SCRAPE_TIMEOUT)
    }
    pub fn evaluation_interval(&self) -> Duration {
        self.evaluation_interval
            .unwrap_or(DEFAULT_EVALUATION_INTERVAL)
    }
}

/// Declares a struct with the HTTP client keys (`basic_auth`, `authorization`,
/// `bearer_token[_file]`, `tls_config`, `follow_redirects`, `enable_http2`) appended to
/// its fields: they stand directly in `scrape_configs` and `remote_write` entries, and
/// serde cannot deny unknown keys through `#[serde(flatten)]`.
macro_rules! with_http_client_fields {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        pub struct $name {
            $($body)*
            #[serde(default)]
            pub basic_auth: Option<BasicAuth>,
            #[serde(default)]
            pub authorization: Option<Authorization>,
            /// Deprecated in Prometheus in favour of `authorization`, still accepted.
            #[serde(default)]
            pub bearer_token: Option<Secret>,
            #[serde(default)]
            pub bearer_token_file: Option<String>,
            #[serde(default)]
            pub tls_config: TlsConfig,
            #[serde(default = "yes")]
            pub follow_redirects: bool,
            #[serde(default = "yes")]
            pub enable_http2: bool,
        }
    };
}

with_http_client_fields! {
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub scrape_interval: Option<Duration>,
    #[serde(default)]
    pub scrape_timeout: Option<Duration>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub body_size_limit: ByteSize,
    #[serde(default)]
    pub sample_limit: u64,
    #[serde(default)]
    pub target_limit: u64,
    #[serde(default)]
    pub label_limit: u64,
    #[serde(default)]
    pub label_name_length_limit: u64,
    #[serde(default)]
    pub label_value_length_limit: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub consul_sd_configs: Vec<ConsulSdConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub metric_relabel_configs: Vec<RelabelConfig>,
}
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_scheme() -> String {
    "http".into()
}

impl ScrapeConfig {
    /// The interval, after defaults from `global` were applied by [`load_str`].
    pub fn interval(&self) -> Duration {
        self.scrape_interval.unwrap_or(DEFAULT_SCRAPE_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        self.scrape_timeout.unwrap_or(DEFAULT_SCRAPE_TIMEOUT)
    }
}

/// How a scrape (or remote write) authenticates and speaks TLS, gathered from the keys
/// `with_http_client_fields!` declares on `ScrapeConfig` and `RemoteWriteConfig`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<Secret>,
    pub bearer_token_file: Option<String>,
    pub tls_config: TlsConfig,
    pub follow_redirects: bool,
    pub enable_http2: bool,
}

macro_rules! http_config {
    ($t:ty) => {
        impl $t {
            pub fn http(&self) -> HttpClientConfig {
                HttpClientConfig {
                    basic_auth: self.basic_auth.clone(),
                    authorization: self.authorization.clone(),
                    bearer_token: self.bearer_token.clone(),
                    bearer_token_file: self.bearer_token_file.clone(),
                    tls_config: self.tls_config.clone(),
                    follow_redirects: self.follow_redirects,
                    enable_http2: self.enable_http2,
                }
            }
        }
    };
}
http_config!(ScrapeConfig);
http_config!(RemoteWriteConfig);

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub credentials: Option<Secret>,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub targets: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default)]
    pub refresh_interval: Option<Duration>,
}

with_http_client_fields! {
/// `http_sd_configs`: target groups as JSON from a URL, re-fetched every
/// `refresh_interval` (default 1m); a failed fetch keeps the last good groups.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpSdConfig {
    pub url: String,
    #[serde(default)]
    pub refresh_interval: Option<Duration>,
}
}
http_config!(HttpSdConfig);

with_http_client_fields! {
/// `consul_sd_configs`: services from the Consul catalog (blocking queries on
/// `/v1/catalog/services` and `/v1/health/service/<name>`), with Prometheus's
/// `__meta_consul_*` labels.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsulSdConfig {
    #[serde(default = "default_consul_server")]
    pub server: String,
    #[serde(default)]
    pub path_prefix: Option<String>,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub datacenter: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default, deserialize_with = "nullable")]
    pub services: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub node_meta: BTreeMap<String, String>,
    #[serde(default = "default_tag_separator")]
    pub tag_separator: String,
    #[serde(default = "yes")]
    pub allow_stale: bool,
    #[serde(default)]
    pub refresh_interval: Option<Duration>,
}
}
http_config!(ConsulSdConfig);

fn default_consul_server() -> String {
    "localhost:8500".into()
}

fn default_tag_separator() -> String {
    ",".into()
}

impl ConsulSdConfig {
    pub fn refresh(&self) -> Duration {
        self.refresh_interval.unwrap_or(Duration(30_000))
    }
}

impl HttpSdConfig {
    pub fn refresh(&self) -> Duration {
        self.refresh_interval.unwrap_or(Duration(60_000))
    }
}

impl FileSdConfig {
    pub fn refresh(&self) -> Duration {
        self.refresh_interval.unwrap_or(DEFAULT_FILE_SD_REFRESH)
    }
}

with_http_client_fields! {
/// A remote-write destination (see `crate::remote`). `send_exemplars` and
/// `metadata_config` are accepted for compatibility; no exemplars or metadata are sent.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub remote_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "nullable")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub send_exemplars: bool,
    #[serde(default)]
    pub queue_config: Option<QueueConfig>,
    #[serde(default)]
    pub metadata_config: Option<MetadataConfig>,
}
}

/// `alerting`: where firing and resolved alerts are sent (`src/notifier.rs`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Applied to every alert (after the external labels are added) before it is sent.
    #[serde(default, deserialize_with = "nullable")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

with_http_client_fields! {
/// One `alerting.alertmanagers` entry: a set of Alertmanagers found by discovery, every
/// one of which receives every alert.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub path_prefix: String,
    /// Per request (default 10s).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// `v2` only: Alertmanager's v1 API is gone since 0.27.
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default, deserialize_with = "nullable")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    /// On the discovered Alertmanagers' labels (`__address__`, `__scheme__`,
    /// `__alerts_path__`), as a scrape job's on its targets.
    #[serde(default, deserialize_with = "nullable")]
    pub relabel_configs: Vec<RelabelConfig>,
}
}
http_config!(AlertmanagerConfig);

impl AlertmanagerConfig {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(Duration(10_000))
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub capacity: Option<u64>,
    pub max_shards: Option<u64>,
    pub min_shards: Option<u64>,
    pub max_samples_per_send: Option<u64>,
    pub batch_send_deadline: Option<Duration>,
    pub min_backoff: Option<Duration>,
    pub max_backoff: Option<Duration>,
    pub retry_on_http_429: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    pub send: Option<bool>,
    pub send_interval: Option<Duration>,
    pub max_samples_per_send: Option<u64>,
}

/// Read and check a configuration file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = read_file(path)?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    load_str(&text, path, &base)
}

pub use meshscope_source::yaml::MAX_FILE_BYTES;

/// Read a configuration, rule or web configuration file of at most [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    meshscope_source::yaml::read_file(path).map_err(|message| ConfigError {
        file: path.to_path_buf(),
        position: None,
        key: String::new(),
        message,
    })
}

/// Refuse a YAML document nested too deeply for the decoders (see
/// [`locate::MAX_DEPTH`]), with its position; otherwise the index of its key positions.
pub fn check_yaml(text: &str, file: &Path) -> Result<locate::Locations, ConfigError> {
    locate::Locations::check(text).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        position: Some(e.position),
        key: String::new(),
        message: e.message,
    })
}

/// Decode and check `text`; `file` names it in errors, `base_dir` resolves relative paths.
pub fn load_str(text: &str, file: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    let locs = check_yaml(text, file)?;
    let mut cfg: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(|e| decode_error(file, &e, text))?
    };
    cfg.base_dir = base_dir.to_path_buf();
    let err = |key: String, message: String| ConfigError {
        file: file.to_path_buf(),
        position: locs.find(&key),
        key,
        message,
    };
    cfg.check(&err)?;
    Ok(cfg)
}

/// serde_yaml's message is `path: message at line L column C`, where its path stops at
/// the enclosing mapping and its position is the mapping's; `serde_path_to_error` gives
/// the full key path, and the index gives that key's position.
pub(crate) fn decode_error(
    file: &Path,
    e: &serde_path_to_error::Error<serde_yaml::Error>,
    text: &str,
) -> ConfigError {
    let inner = e.inner();
    let mut msg = inner.to_string();
    if let Some(i) = msg.rfind(" at line ") {
        msg.truncate(i);
    }
    let (yaml_key, message) = match msg.split_once(": ") {
        Some((k, m)) if !k.contains(' ') && !k.is_empty() => (k.to_string(), m.to_string()),
        _ => (String::new(), msg),
    };
    let yaml_pos = inner.location().map(|l| (l.line(), l.column()));
    let path = e.path().to_string();
    let unknown = message.starts_with("unknown field") || path == "." || path.is_empty();
    let (key, position) = if unknown {
        // The parser's own position is the unknown key (or the syntax error).
        (yaml_key, yaml_pos)
    } else {
        let pos = locate::Locations::index(text).find(&path).or(yaml_pos);
        (path, pos)
    };
    ConfigError {
        file: file.to_path_buf(),
        position,
        key,
        message,
    }
}

impl Config {
    fn check(&mut self, err: &dyn Fn(String, String) -> ConfigError) -> Result<(), ConfigError> {
        for (key, v) in [
            ("remote_read", &self.remote_read),
            ("storage", &self.storage),
            ("tracing", &self.tracing),
            ("scrape_config_files", &self.scrape_config_files),
        ] {
            if v.is_some() {
                return Err(err(
                    key.into(),
                    "this Prometheus setting is not supported by meshscope; remove the section"
                        .into(),
                ));
            }
        }
        // Global defaults, as Prometheus derives them.
        let g = &mut self.global;
        if g.scrape_interval.is_none_or(|d| d.0 == 0) {
            g.scrape_interval = Some(DEFAULT_SCRAPE_INTERVAL);
        }
        if g.scrape_timeout.is_none_or(|d| d.0 == 0) {
            g.scrape_timeout = Some(DEFAULT_SCRAPE_TIMEOUT.min(g.scrape_interval()));
        }
        if g.evaluation_interval.is_none_or(|d| d.0 == 0) {
            g.evaluation_interval = Some(DEFAULT_EVALUATION_INTERVAL);
        }
        if g.scrape_timeout() > g.scrape_interval() {
            return Err(err(
                "global.scrape_timeout".into(),
                format!(
                    "global scrape timeout {} is greater than the scrape interval {}",
                    g.scrape_timeout(),
                    g.scrape_interval()
                ),
            ));
        }
        for (n, v) in &g.external_labels {
            if !is_valid_label_name(n) {
                return Err(err(
                    format!("global.external_labels.{n}"),
                    format!("{n:?} is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"),
                ));
            }
            if v.is_empty() {
                return Err(err(
                    format!("global.external_labels.{n}"),
                    format!("external label {n:?} has an empty value"),
                ));
            }
        }
        let (gi, gt) = (g.scrape_interval(), g.scrape_timeout());
        let mut jobs = std::collections::HashSet::new();
        for (i, sc) in self.scrape_configs.iter_mut().enumerate() {
            let at = |k: &str| format!("scrape_configs[{i}].{k}");
            if sc.job_name.is_empty() {
                return Err(err(at("job_name"), "job_name is empty".into()));
            }
            if !jobs.insert(sc.job_name.clone()) {
                return Err(err(
                    at("job_name"),
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        sc.job_name
                    ),
                ));
            }
            if sc.scrape_interval.is_none_or(|d| d.0 == 0) {
                sc.scrape_interval = Some(gi);
            }
            if sc.scrape_timeout.is_none_or(|d| d.0 == 0) {
                sc.scrape_timeout = Some(gt.min(sc.interval()));
            }
            if sc.timeout() > sc.interval() {
                return Err(err(
                    at("scrape_timeout"),
                    format!(
                        "scrape timeout {} is greater than the scrape interval {} for job {:?}",
                        sc.timeout(),
                        sc.interval(),
                        sc.job_name
                    ),
                ));
            }
            if sc.scheme != "http" && sc.scheme != "https" {
                return Err(err(
                    at("scheme"),
                    format!("invalid scheme {:?}: must be http or https", sc.scheme),
                ));
            }
            if !sc.metrics_path.starts_with('/') {
                return Err(err(
                    at("metrics_path"),
                    format!("{:?} must start with '/'", sc.metrics_path),
                ));
            }
            check_http(&sc.http(), &at(""), err)?;
            for (j, st) in sc.static_configs.iter().enumerate() {
                for (k, t) in st.targets.iter().enumerate() {
                    if let Err(m) = check_address(t) {
                        return Err(err(at(&format!("static_configs[{j}].targets[{k}]")), m));
                    }
                }
                for n in st.labels.keys() {
                    if !is_valid_label_name(n) {
                        return Err(err(
                            at(&format!("static_configs[{j}].labels.{n}")),
                            format!("{n:?} is not a valid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"),
                        ));
                    }
                }
            }
            for (j, fsd) in sc.file_sd_configs.iter().enumerate() {
                if fsd.files.is_empty() {
                    return Err(err(
                        at(&format!("file_sd_configs[{j}].files")),
                        "file service discovery config must contain at least one path name".into(),
                    ));
                }
                for (k, f) in fsd.files.iter().enumerate() {
                    let ext_ok = [".json", ".yml", ".yaml"].iter().any(|e| f.ends_with(e));
                    if !ext_ok {
                        return Err(err(
                            at(&format!("file_sd_configs[{j}].files[{k}]")),
                            format!("path {f:?} is not valid for file discovery: only .json, .yml and .yaml files are allowed"),
                        ));
                    }
                    if let Err(e) = glob::Pattern::new(f) {
                        return Err(err(
                            at(&format!("file_sd_configs[{j}].files[{k}]")),
                            format!("invalid pattern {f:?}: {e}"),
                        ));
                    }
                }
            }
            for (j, h) in sc.http_sd_configs.iter().enumerate() {
                let at = |k: &str| at(&format!("http_sd_configs[{j}].{k}"));
                if !(h.url.starts_with("http://") || h.url.starts_with("https://"))
                    || reqwest::Url::parse(&h.url).is_err()
                {
                    return Err(err(at("url"), format!("{:?} is not an http(s) URL", h.url)));
                }
                check_http(&h.http(), &at(""), err)?;
            }
            for (j, c) in sc.consul_sd_configs.iter().enumerate() {
                let at = |k: &str| at(&format!("consul_sd_configs[{j}].{k}"));
                if c.scheme != "http" && c.scheme != "https" {
                    return Err(err(
                        at("scheme"),
                        format!("{:?}: must be http or https", c.scheme),
                    ));
                }
                if reqwest::Url::parse(&format!("{}://{}/", c.scheme, c.server)).is_err()
                    || c.server.contains('/')
                {
                    return Err(err(
                        at("server"),
                        format!("{:?} is not host:port", c.server),
                    ));
                }
                check_http(&c.http(), &at(""), err)?;
            }
            for (list, cfgs) in [
                ("relabel_configs", &sc.relabel_configs),
                ("metric_relabel_configs", &sc.metric_relabel_configs),
            ] {
                for (j, rc) in cfgs.iter().enumerate() {
                    rc.validate()
                        .map_err(|m| err(at(&format!("{list}[{j}].action")), m))?;
                }
            }
        }
        for (i, rw) in self.remote_write.iter().enumerate() {
            let at = |k: &str| format!("remote_write[{i}].{k}");
            if !(rw.url.starts_with("http://") || rw.url.starts_with("https://")) {
                return Err(err(
                    at("url"),
                    format!("{:?} is not an http(s) URL", rw.url),
                ));
            }
            check_http(&rw.http(), &at(""), err)?;
            for (j, rc) in rw.write_relabel_configs.iter().enumerate() {
                rc.validate()
                    .map_err(|m| err(at(&format!("write_relabel_configs[{j}].action")), m))?;
            }
        }
        for (j, rc) in self.alerting.alert_relabel_configs.iter().enumerate() {
            rc.validate()
                .map_err(|m| err(format!("alerting.alert_relabel_configs[{j}].action"), m))?;
        }
        for (i, am) in self.alerting.alertmanagers.iter().enumerate() {
            let at = |k: &str| format!("alerting.alertmanagers[{i}].{k}");
            if am.scheme != "http" && am.scheme != "https" {
                return Err(err(
                    at("scheme"),
                    format!("{:?}: must be http or https", am.scheme),
                ));
            }
            if am.api_version.as_deref().is_some_and(|v| v != "v2") {
                return Err(err(
                    at("api_version"),
                    format!(
                        "{:?}: only v2 is supported (Alertmanager removed v1 in 0.27)",
                        am.api_version.as_deref().unwrap_or("")
                    ),
                ));
            }
            if am.timeout().0 <= 0 {
                return Err(err(at("timeout"), "must be more than 0".into()));
            }
            check_http(&am.http(), &at(""), err)?;
            for (j, rc) in am.relabel_configs.iter().enumerate() {
                rc.validate()
                    .map_err(|m| err(at(&format!("relabel_configs[{j}].action")), m))?;
            }
        }
        Ok(())
    }

    /// `--shard I/N`: this collector scrapes only the targets whose `__address__` and
    /// `__metrics_path__` hash (md5, as `hashmod` does) to `index` modulo `count`, by
    /// two relabelling steps appended to every scrape config. N collectors with 0/N ..
    /// N-1/N share one target set, each target scraped by exactly one. The path counts
    /// too, because targets can share an address (exporters behind one proxy, the
    /// simulated mesh on one port).
    pub fn shard(&mut self, index: u64, count: u64) -> Result<(), String> {
        if count == 0 || index >= count {
            return Err(format!(
                "--shard {index}/{count}: expected I/N with 0 <= I < N (e.g. 0/2)"
            ));
        }
        let steps: Vec<RelabelConfig> = serde_yaml::from_str(&format!(
            "- source_labels: [__address__, __metrics_path__]\n  modulus: {count}\n  target_label: __tmp_meshscope_shard\n  action: hashmod\n- source_labels: [__tmp_meshscope_shard]\n  regex: '{index}'\n  action: keep\n"
        ))
        .map_err(|e| e.to_string())?;
        for sc in &mut self.scrape_configs {
            sc.relabel_configs.extend(steps.iter().cloned());
        }
        Ok(())
    }

    /// Resolve a path from the file against the file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Every file the configuration names (credentials, TLS files), for `check config`.
    pub fn referenced_files(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let mut add_http = |at: String, h: &HttpClientConfig| {
            let mut push = |k: &str, f: &Option<String>| {
                if let Some(f) = f {
                    out.push((format!("{at}{k}"), self.resolve(f)));
                }
            };
            if let Some(b) = &h.basic_auth {
                push("basic_auth.password_file", &b.password_file);
            }
            if let Some(a) = &h.authorization {
                push("authorization.credentials_file", &a.credentials_file);
            }
            push("bearer_token_file", &h.bearer_token_file);
            push("tls_config.ca_file", &h.tls_config.ca_file);
            push("tls_config.cert_file", &h.tls_config.cert_file);
            push("tls_config.key_file", &h.tls_config.key_file);
        };
        for (i, sc) in self.scrape_configs.iter().enumerate() {
            add_http(format!("scrape_configs[{i}]."), &sc.http());
            for (j, h) in sc.http_sd_configs.iter().enumerate() {
                add_http(
                    format!("scrape_configs[{i}].http_sd_configs[{j}]."),
                    &h.http(),
                );
            }
        }
        for (i, rw) in self.remote_write.iter().enumerate() {
            add_http(format!("remote_write[{i}]."), &rw.http());
        }
        out
    }
}

fn check_http(
    h: &HttpClientConfig,
    at: &str,
    err: &dyn Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let k = |s: &str| format!("{at}{s}");
    if let Some(b) = &h.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            return Err(err(
                k("basic_auth"),
                "at most one of basic_auth password & password_file must be configured".into(),
            ));
        }
    }
    if h.bearer_token.is_some() && h.bearer_token_file.is_some() {
        return Err(err(
            k("bearer_token"),
            "at most one of bearer_token & bearer_token_file must be configured".into(),
        ));
    }
    let bearer = h.bearer_token.is_some() || h.bearer_token_file.is_some();
    if (h.basic_auth.is_some() as u8 + bearer as u8 + h.authorization.is_some() as u8) > 1 {
        return Err(err(
            k("authorization"),
            "at most one of basic_auth, authorization and bearer_token/bearer_token_file must be configured".into(),
        ));
    }
    if let Some(a) = &h.authorization {
        if a.kind
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("basic"))
        {
            return Err(err(
                k("authorization.type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into(),
            ));
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return Err(err(
                k("authorization"),
                "at most one of authorization credentials & credentials_file must be configured"
                    .into(),
            ));
        }
    }
    let t = &h.tls_config;
    if t.cert_file.is_some() != t.key_file.is_some() {
        return Err(err(
            k("tls_config"),
            "tls_config needs both cert_file and key_file, or neither".into(),
        ));
    }
    Ok(())
}

/// A target address must be `host:port` or `host`, without scheme or path.
pub fn check_address(a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err("target address is empty".into());
    }
    if a.contains('/') {
        return Err(format!(
            "{a:?} is not a valid target address: write host:port, without scheme or path (use scheme and metrics_path)"
        ));
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{a:?} is not a valid target address: it contains whitespace"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
