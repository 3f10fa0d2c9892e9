//! prometheus-nats-exporter's metrics from a NATS server's JSON monitoring endpoints.
//!
//! Debian packages `nats-server`, whose monitoring port serves JSON (`/varz`, `/connz`,
//! `/routez`, `/subsz`, `/jsz`), but not the Go exporter that turns it into Prometheus
//! metrics. This module is that exporter, name for name, read from its source
//! (github.com/nats-io/prometheus-nats-exporter, `collector/collector.go`, `connz.go`,
//! `jsz.go`), so that the mesh model and the dashboards read the same series whichever
//! of the two a user runs:
//!
//! - varz, routez, subsz: every number of the JSON object, nested objects flattened with
//!   `_`, becomes a gauge `<prefix>_<endpoint>_<path>{server_id}` (the Go exporter's
//!   generic collector). The string fields `server_id`, `server_name`, `version`,
//!   `domain`, `leader`, `name` become `{server_id, value="…"} 1`, and the RFC 3339
//!   times `start` and `config_load_time` their Unix time in milliseconds. Booleans and
//!   arrays are skipped, as there.
//! - connz: the connection count and limits as gauges, and the in/out messages and bytes
//!   summed over the listed connections as counters (named without `_total`, as the Go
//!   exporter's const metrics are).
//! - jsz: `<jetstream prefix>_server_*`, `_account_*`, `_stream_*`, `_consumer_*` gauges
//!   with the Go exporter's label sets (`server_name`, `cluster`, `stream_name`,
//!   `consumer_name`, `is_consumer_leader`, …), from `/jsz` with the query string of the
//!   chosen filter.
//!
//! The prefix is `gnatsd` for the core endpoints and `jetstream` for jsz, or the one
//! `--prefix` given for both (the official Helm chart's `-prefix=nats`).
//!
//! One difference, on purpose: when the NATS server does not answer, the Go exporter
//! serves an empty page with status 200 (Prometheus's `up` stays 1); this one answers
//! 503 naming the endpoint that failed, so the scrape fails and the node shows down.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Which JetStream details `/jsz` is asked for (the Go exporter's `-jsz` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JszFilter {
    /// Server totals and accounts.
    Accounts,
    /// ... and each stream.
    Streams,
    /// ... and each stream's consumers, with their configuration.
    Consumers,
}

impl JszFilter {
    /// Parses a `-jsz` value as the Go exporter does (case-insensitive).
    pub fn parse(s: &str) -> Result<JszFilter, String> {
        match s.to_ascii_lowercase().as_str() {
            "account" | "accounts" => Ok(JszFilter::Accounts),
            "stream" | "streams" => Ok(JszFilter::Streams),
            "consumer" | "consumers" | "all" => Ok(JszFilter::Consumers),
            _ => Err(format!(
                "invalid jsz filter {s:?}: expected account(s), stream(s), consumer(s) or all"
            )),
        }
    }

    /// The path and query string the Go exporter requests.
    pub fn path(self) -> &'static str {
        match self {
            JszFilter::Accounts => "/jsz?accounts=true",
            JszFilter::Streams => "/jsz?streams=true",
            JszFilter::Consumers => "/jsz?consumers=true&config=true&raft=true",
        }
    }
}

/// What to export, and under which names.
#[derive(Debug, Clone)]
pub struct Options {
    /// Replaces both `gnatsd` and `jetstream` (e.g. `nats`).
    pub prefix: Option<String>,
    /// The `server_id` label of every series (the Go exporter's default is the
    /// monitoring URL's `scheme://host`).
    pub server_id: String,
    pub varz: bool,
    pub connz: bool,
    pub routez: bool,
    pub subsz: bool,
    pub jsz: Option<JszFilter>,
}

impl Options {
    fn core(&self) -> &str {
        self.prefix.as_deref().unwrap_or("gnatsd")
    }
    fn jetstream(&self) -> &str {
        self.prefix.as_deref().unwrap_or("jetstream")
    }

    /// The endpoints to fetch (path with query string), `/varz` included whenever jsz is
    /// on (its `server_name` labels the JetStream series).
    pub fn paths(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        if self.varz || self.jsz.is_some() {
            p.push("/varz");
        }
        if self.connz {
            p.push("/connz");
        }
        if self.routez {
            p.push("/routez");
        }
        if self.subsz {
            p.push("/subsz");
        }
        if let Some(f) = self.jsz {
            p.push(f.path());
        }
        p
    }
}

/// The Go exporter's default `server_id`: the URL's scheme and host, credentials dropped.
pub fn default_server_id(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// The JSON bodies of one scrape, by endpoint path (as `Options::paths` names them).
pub type Bodies = BTreeMap<&'static str, Value>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
}

/// Metric families by name: kind, help, and samples (label pairs, value).
#[derive(Default)]
struct Families(BTreeMap<String, Family>);

struct Family {
    kind: Kind,
    help: String,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Families {
    fn add(
        &mut self,
        name: String,
        kind: Kind,
        help: &str,
        labels: Vec<(&'static str, String)>,
        v: f64,
    ) {
        if !valid_metric_name(&name) {
            tracing::debug!(
                name,
                "skipping a NATS field whose name is not a metric name"
            );
            return;
        }
        self.0
            .entry(name)
            .or_insert_with(|| Family {
                kind,
                help: help.to_string(),
                samples: Vec::new(),
            })
            .samples
            .push((labels, v));
    }

    /// The text exposition format (0.0.4), families sorted by name and samples by label
    /// values, as client_golang writes them.
    fn render(mut self) -> String {
        let mut out = String::new();
        for (name, f) in &mut self.0 {
            f.samples.sort_by(|a, b| a.0.cmp(&b.0));
            f.samples.dedup_by(|a, b| a.0 == b.0);
            let kind = match f.kind {
                Kind::Gauge => "gauge",
                Kind::Counter => "counter",
            };
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in &f.samples {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, val)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(val));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_value(*v));
            }
        }
        out
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// Renders one scrape's bodies. Missing bodies and fields are skipped; fields of the
/// wrong JSON type count as absent (strings) or 0 (numbers), never an error.
pub fn render(o: &Options, bodies: &Bodies) -> String {
    let mut fam = Families::default();
    let sid = o.server_id.clone();
    for (path, endpoint, on) in [
        ("/varz", "varz", o.varz),
        ("/routez", "routez", o.routez),
        ("/subsz", "subsz", o.subsz),
    ] {
        if let (true, Some(Value::Object(m))) = (on, bodies.get(path)) {
            let prefix = format!("{}_{endpoint}", o.core());
            generic(&mut fam, &prefix, &sid, m, &mut Vec::new());
        }
    }
    if o.connz {
        if let Some(b) = bodies.get("/connz") {
            connz(&mut fam, o.core(), &sid, b);
        }
    }
    if let Some(f) = o.jsz {
        if let Some(b) = bodies.get(f.path()) {
            let name = bodies
                .get("/varz")
                .and_then(|v| v.get("server_name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            jsz(&mut fam, o.jetstream(), &sid, name, b);
        }
    }
    fam.render()
}

/// The Go exporter's `fqName`: the path joined with `_`, `/` as `_`, `_` trimmed at both
/// ends and runs of `_` collapsed.
fn fq_name(path: &[&str]) -> String {
    let joined = path.join("_").replace('/', "_");
    let mut out = String::with_capacity(joined.len());
    for c in joined.trim_matches('_').chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// Fields the Go exporter never exports (configuration, not state).
const SKIP: [&str; 9] = [
    "leaf",
    "trusted_operators_claim",
    "cluster_tls_timeout",
    "cluster_cluster_port",
    "cluster_auth_timeout",
    "gateway_port",
    "gateway_auth_timeout",
    "gateway_tls_timeout",
    "gateway_connect_retries",
];

/// String fields exported as a `value` label (or, for times, as Unix milliseconds).
const LABEL_KEYS: [&str; 8] = [
    "server_id",
    "server_name",
    "version",
    "domain",
    "leader",
    "name",
    "start",
    "config_load_time",
];

fn generic<'a>(
    fam: &mut Families,
    prefix: &str,
    sid: &str,
    obj: &'a serde_json::Map<String, Value>,
    path: &mut Vec<&'a str>,
) {
    // Deep JSON is not NATS's: stop where no real monitoring body reaches.
    if path.len() > 8 {
        return;
    }
    for (k, v) in obj {
        path.push(k);
        let fqn = fq_name(path);
        if !SKIP.contains(&fqn.as_str()) {
            let name = format!("{prefix}_{fqn}");
            match v {
                Value::Number(n) => {
                    let v = n.as_f64().unwrap_or(0.0);
                    fam.add(name, Kind::Gauge, &fqn, vec![("server_id", sid.into())], v);
                }
                Value::String(s) if LABEL_KEYS.contains(&k.as_str()) => {
                    match chrono::DateTime::parse_from_rfc3339(s) {
                        Ok(t) => {
                            let ms = t.timestamp_millis() as f64;
                            fam.add(name, Kind::Gauge, &fqn, vec![("server_id", sid.into())], ms);
                        }
                        Err(_) => fam.add(
                            name,
                            Kind::Gauge,
                            &fqn,
                            vec![("server_id", sid.into()), ("value", s.clone())],
                            1.0,
                        ),
                    }
                }
                Value::Object(m) => generic(fam, prefix, sid, m, path),
                _ => {}
            }
        }
        path.pop();
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn connz(fam: &mut Families, core: &str, sid: &str, b: &Value) {
    let conns = b
        .get("connections")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let total = |k: &str| conns.iter().fold(0.0, |s, c| s + num(c, k));
    let l = || vec![("server_id", sid.to_string())];
    let p = |n: &str| format!("{core}_connz_{n}");
    for (n, v) in [
        ("num_connections", num(b, "num_connections")),
        ("total", num(b, "total")),
        ("offset", num(b, "offset")),
        ("limit", num(b, "limit")),
        ("pending_bytes", total("pending_bytes")),
        ("subscriptions", total("subscriptions")),
    ] {
        fam.add(p(n), Kind::Gauge, n, l(), v);
    }
    for n in ["in_bytes", "out_bytes", "in_msgs", "out_msgs"] {
        fam.add(p(n), Kind::Counter, n, l(), total(n));
    }
}

/// Seconds from `from` to `to`, two RFC 3339 times (the Go exporter's
/// `TimeStamp.Sub(Last).Seconds()`).
fn seconds_between(from: &str, to: &str) -> Option<f64> {
    let a = chrono::DateTime::parse_from_rfc3339(from).ok()?;
    let b = chrono::DateTime::parse_from_rfc3339(to).ok()?;
    Some((b - a).num_nanoseconds()? as f64 / 1e9)
}

fn jsz(fam: &mut Families, js: &str, sid: &str, server_name: &str, b: &Value) {
    let meta = b.get("meta_cluster").filter(|m| m.is_object());
    let cluster = meta.map(|m| text(m, "name")).unwrap_or("");
    let leader = meta.map(|m| text(m, "leader")).unwrap_or("");
    let is_meta_leader = match meta {
        Some(_) => leader == server_name,
        None => true,
    };
    let config = b.get("config").cloned().unwrap_or(Value::Null);
    let server: Vec<(&'static str, String)> = vec![
        ("server_id", sid.into()),
        ("server_name", server_name.into()),
        ("cluster", cluster.into()),
        ("domain", text(&config, "domain").into()),
        ("meta_leader", leader.into()),
        ("is_meta_leader", is_meta_leader.to_string()),
    ];
    let disabled = b.get("disabled").and_then(Value::as_bool).unwrap_or(false);
    for (n, help, v) in [
        (
            "jetstream_disabled",
            "JetStream disabled or not",
            f64::from(u8::from(disabled)),
        ),
        (
            "max_memory",
            "JetStream Max Memory",
            num(&config, "max_memory"),
        ),
        (
            "max_storage",
            "JetStream Max Storage",
            num(&config, "max_storage"),
        ),
        (
            "total_streams",
            "Total number of streams in JetStream",
            num(b, "streams"),
        ),
        (
            "total_consumers",
            "Total number of consumers in JetStream",
            num(b, "consumers"),
        ),
        (
            "total_messages",
            "Total number of stored messages in JetStream",
            num(b, "messages"),
        ),
        (
            "total_message_bytes",
            "Total number of bytes stored in JetStream",
            num(b, "bytes"),
        ),
    ] {
        fam.add(
            format!("{js}_server_{n}"),
            Kind::Gauge,
            help,
            server.clone(),
            v,
        );
    }
    let accounts = b
        .get("account_details")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for a in accounts {
        let mut account = server.clone();
        account.push(("account", text(a, "name").into()));
        account.push(("account_name", text(a, "name").into()));
        account.push(("account_id", text(a, "id").into()));
        for (n, help, k) in [
            (
                "max_storage",
                "JetStream Account Max Storage in bytes",
                "reserved_storage",
            ),
            (
                "max_memory",
                "JetStream Account Max Memory in bytes",
                "reserved_memory",
            ),
            (
                "storage_used",
                "Total number of bytes used by JetStream storage",
                "storage",
            ),
            (
                "memory_used",
                "Total number of bytes used by JetStream memory",
                "memory",
            ),
        ] {
            fam.add(
                format!("{js}_account_{n}"),
                Kind::Gauge,
                help,
                account.clone(),
                num(a, k),
            );
        }
        let streams = a
            .get("stream_detail")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for s in streams {
            stream(fam, js, &account, server_name, s);
        }
    }
}

fn stream(
    fam: &mut Families,
    js: &str,
    account: &[(&'static str, String)],
    server_name: &str,
    s: &Value,
) {
    let cluster = s.get("cluster").filter(|c| c.is_object());
    let leader = cluster.map(|c| text(c, "leader")).unwrap_or("");
    let mut labels = account.to_vec();
    labels.push(("stream_name", text(s, "name").into()));
    labels.push(("stream_leader", leader.into()));
    labels.push((
        "is_stream_leader",
        cluster.is_none_or(|_| leader == server_name).to_string(),
    ));
    labels.push(("stream_raft_group", text(s, "stream_raft_group").into()));
    let state = s.get("state").cloned().unwrap_or(Value::Null);
    let mut metrics = vec![
        (
            "total_messages",
            "Total number of messages from a stream",
            num(&state, "messages"),
        ),
        (
            "total_bytes",
            "Total stored bytes from a stream",
            num(&state, "bytes"),
        ),
        (
            "first_seq",
            "First sequence from a stream",
            num(&state, "first_seq"),
        ),
        (
            "last_seq",
            "Last sequence from a stream",
            num(&state, "last_seq"),
        ),
        (
            "consumer_count",
            "Total number of consumers from a stream",
            num(&state, "consumer_count"),
        ),
        (
            "subject_count",
            "Total number of subjects in a stream",
            num(&state, "num_subjects"),
        ),
    ];
    if let Some(c) = s.get("config").filter(|c| c.is_object()) {
        metrics.push((
            "limit_bytes",
            "The maximum configured storage limit (in bytes) for a JetStream stream. A value of -1 indicates no limit.",
            num(c, "max_bytes"),
        ));
        metrics.push((
            "limit_messages",
            "The maximum number of messages allowed in a JetStream stream as per its configuration. A value of -1 indicates no limit.",
            num(c, "max_msgs"),
        ));
    }
    for (n, help, v) in metrics {
        fam.add(
            format!("{js}_stream_{n}"),
            Kind::Gauge,
            help,
            labels.clone(),
            v,
        );
    }
    let consumers = s
        .get("consumer_detail")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for c in consumers {
        let cluster = c.get("cluster").filter(|c| c.is_object());
        let leader = cluster.map(|c| text(c, "leader")).unwrap_or("");
        let mut l = labels.clone();
        l.push(("consumer_name", text(c, "name").into()));
        l.push(("consumer_leader", leader.into()));
        l.push((
            "is_consumer_leader",
            cluster.is_none_or(|_| leader == server_name).to_string(),
        ));
        l.push((
            "consumer_desc",
            c.get("config")
                .map(|c| text(c, "description"))
                .unwrap_or("")
                .into(),
        ));
        let delivered = c.get("delivered").cloned().unwrap_or(Value::Null);
        let ack = c.get("ack_floor").cloned().unwrap_or(Value::Null);
        let ts = text(c, "ts");
        let mut metrics = Vec::new();
        if let Some(v) = delivered
            .get("last_active")
            .and_then(Value::as_str)
            .and_then(|last| seconds_between(last, ts))
        {
            metrics.push((
                "last_delivery_seconds",
                "Seconds since last message delivery to consumer",
                v,
            ));
        }
        if let Some(v) = ack
            .get("last_active")
            .and_then(Value::as_str)
            .and_then(|last| seconds_between(last, ts))
        {
            metrics.push((
                "last_ack_seconds",
                "Seconds since last ack from consumer",
                v,
            ));
        }
        metrics.extend([
            (
                "delivered_consumer_seq",
                "Latest sequence number of a stream consumer",
                num(&delivered, "consumer_seq"),
            ),
            (
                "delivered_stream_seq",
                "Latest sequence number of a stream",
                num(&delivered, "stream_seq"),
            ),
            (
                "num_ack_pending",
                "Number of pending acks from a consumer",
                num(c, "num_ack_pending"),
            ),
            (
                "num_redelivered",
                "Number of redelivered messages from a consumer",
                num(c, "num_redelivered"),
            ),
            (
                "num_waiting",
                "Number of inflight fetch requests from a pull consumer",
                num(c, "num_waiting"),
            ),
            (
                "num_pending",
                "Number of pending messages from a consumer",
                num(c, "num_pending"),
            ),
            (
                "ack_floor_stream_seq",
                "Number of ack floor stream seq from a consumer",
                num(&ack, "stream_seq"),
            ),
            (
                "ack_floor_consumer_seq",
                "Number of ack floor consumer seq from a consumer",
                num(&ack, "consumer_seq"),
            ),
        ]);
        for (n, help, v) in metrics {
            fam.add(
                format!("{js}_consumer_{n}"),
                Kind::Gauge,
                help,
                l.clone(),
                v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(prefix: Option<&str>) -> Options {
        Options {
            prefix: prefix.map(str::to_string),
            server_id: "http://127.0.0.1:8222".into(),
            varz: true,
            connz: true,
            routez: true,
            subsz: false,
            jsz: Some(JszFilter::Consumers),
        }
    }

    fn bodies() -> Bodies {
        let mut b = Bodies::new();
        b.insert(
            "/varz",
            json!({
                "server_id": "NABC", "server_name": "nats-0", "version": "2.9.10",
                "start": "2026-12-02T10:00:00.5Z", "now": "2026-12-02T11:00:00Z",
                "in_msgs": 120, "out_msgs": 80, "in_bytes": 4096, "slow_consumers": 0,
                "cluster": {"name": "c1", "cluster_port": 0, "tls_timeout": 2},
                "http_req_stats": {"/": 1, "/varz": 3},
                "jetstream": {"stats": {"memory": 0, "api": {"total": 5, "errors": 1}}},
                "tags": ["a"], "auth_required": false
            }),
        );
        b.insert(
            "/connz",
            json!({"num_connections": 2, "total": 2, "offset": 0, "limit": 1024,
                   "connections": [
                       {"cid": 1, "in_msgs": 10, "out_msgs": 1, "in_bytes": 100, "out_bytes": 5, "subscriptions": 1, "pending_bytes": 0},
                       {"cid": 2, "in_msgs": 5, "out_msgs": 2, "in_bytes": 50, "out_bytes": 9, "subscriptions": 2, "pending_bytes": 7}
                   ]}),
        );
        b.insert("/routez", json!({"num_routes": 0, "routes": []}));
        b.insert(
            JszFilter::Consumers.path(),
            json!({
                "server_id": "NABC", "disabled": false,
                "config": {"max_memory": 1000, "max_storage": 2000, "store_dir": "/tmp"},
                "streams": 1, "consumers": 1, "messages": 40, "bytes": 999,
                "account_details": [{
                    "name": "$G", "id": "$G", "memory": 0, "storage": 999,
                    "reserved_memory": 0, "reserved_storage": 0,
                    "stream_detail": [{
                        "name": "ORDERS", "state": {"messages": 40, "bytes": 999, "first_seq": 1, "last_seq": 40, "consumer_count": 1, "num_subjects": 1},
                        "config": {"max_bytes": -1, "max_msgs": -1},
                        "consumer_detail": [{
                            "stream_name": "ORDERS", "name": "billing",
                            "config": {"description": "bills"},
                            "delivered": {"consumer_seq": 10, "stream_seq": 10, "last_active": "2026-12-02T10:59:58Z"},
                            "ack_floor": {"consumer_seq": 10, "stream_seq": 10},
                            "num_ack_pending": 0, "num_redelivered": 0, "num_waiting": 1, "num_pending": 30,
                            "ts": "2026-12-02T11:00:00.25Z"
                        }]
                    }]
                }]
            }),
        );
        b
    }

    #[test]
    fn names_types_and_labels_are_the_go_exporters() {
        let out = render(&opts(None), &bodies());
        let sid = "server_id=\"http://127.0.0.1:8222\"";
        for line in [
            "# TYPE gnatsd_varz_in_msgs gauge".to_string(),
            format!("gnatsd_varz_in_msgs{{{sid}}} 120"),
            format!("gnatsd_varz_server_name{{{sid},value=\"nats-0\"}} 1"),
            format!("gnatsd_varz_start{{{sid}}} 1796205600500"),
            format!("gnatsd_varz_cluster_name{{{sid},value=\"c1\"}} 1"),
            format!("gnatsd_varz_http_req_stats{{{sid}}} 1"),
            format!("gnatsd_varz_http_req_stats_varz{{{sid}}} 3"),
            format!("gnatsd_varz_jetstream_stats_api_errors{{{sid}}} 1"),
            "# TYPE gnatsd_connz_in_msgs counter".to_string(),
            format!("gnatsd_connz_in_msgs{{{sid}}} 15"),
            format!("gnatsd_connz_pending_bytes{{{sid}}} 7"),
            format!("gnatsd_routez_num_routes{{{sid}}} 0"),
            format!("jetstream_server_total_messages{{{sid},server_name=\"nats-0\",cluster=\"\",domain=\"\",meta_leader=\"\",is_meta_leader=\"true\"}} 40"),
            format!("jetstream_stream_limit_messages{{{sid},server_name=\"nats-0\",cluster=\"\",domain=\"\",meta_leader=\"\",is_meta_leader=\"true\",account=\"$G\",account_name=\"$G\",account_id=\"$G\",stream_name=\"ORDERS\",stream_leader=\"\",is_stream_leader=\"true\",stream_raft_group=\"\"}} -1"),
            format!("jetstream_consumer_num_pending{{{sid},server_name=\"nats-0\",cluster=\"\",domain=\"\",meta_leader=\"\",is_meta_leader=\"true\",account=\"$G\",account_name=\"$G\",account_id=\"$G\",stream_name=\"ORDERS\",stream_leader=\"\",is_stream_leader=\"true\",stream_raft_group=\"\",consumer_name=\"billing\",consumer_leader=\"\",is_consumer_leader=\"true\",consumer_desc=\"bills\"}} 30"),
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        // The delivery was 2.25 s before the consumer's timestamp; no ack time, no series.
        assert!(
            out.contains("jetstream_consumer_last_delivery_seconds{") && out.contains("} 2.25\n")
        );
        assert!(!out.contains("last_ack_seconds"));
        // Skipped as the Go exporter skips them: configuration, booleans, arrays, `now`.
        for absent in [
            "cluster_cluster_port",
            "cluster_tls_timeout",
            "auth_required",
            "tags",
            "gnatsd_varz_now",
        ] {
            assert!(!out.contains(absent), "{absent} in\n{out}");
        }
    }

    #[test]
    fn a_prefix_replaces_both_systems() {
        let out = render(&opts(Some("nats")), &bodies());
        assert!(out.contains("\nnats_varz_in_msgs{"));
        assert!(out.contains("\nnats_consumer_num_pending{"));
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(samples.iter().all(|l| l.starts_with("nats_")), "{out}");
    }

    #[test]
    fn the_output_is_a_valid_exposition() {
        let out = render(&opts(None), &bodies());
        let mut p = meshscope_collector::exposition::Parser::new(
            out.as_bytes(),
            meshscope_collector::exposition::Format::Text,
        );
        let mut n = 0;
        loop {
            match p.next() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(e) => panic!("{e:?}\n{out}"),
            }
        }
        assert!(n > 30);
    }

    #[test]
    fn bodies_of_the_wrong_shape_are_skipped_not_fatal() {
        let mut b = Bodies::new();
        b.insert("/varz", json!([1, 2]));
        b.insert(
            "/connz",
            json!({"connections": [1, "x", {"in_msgs": "many"}]}),
        );
        b.insert(
            JszFilter::Consumers.path(),
            json!({"account_details": [{"stream_detail": [{"consumer_detail": [{"delivered": {"last_active": "soon"}, "ts": 3}]}]}]}),
        );
        let out = render(&opts(None), &b);
        assert!(out.contains("gnatsd_connz_in_msgs{server_id=\"http://127.0.0.1:8222\"} 0"));
        assert!(out.contains("jetstream_consumer_num_pending{"));
        // Names that are not metric names are dropped rather than served.
        let mut b = Bodies::new();
        b.insert("/varz", json!({"bad-key": 1, "ok": 2, "nested": {"\"": 3}}));
        let out = render(&opts(None), &b);
        assert!(out.contains("gnatsd_varz_ok{"));
        assert!(!out.contains("bad-key") && !out.contains("nested"));
    }

    #[test]
    fn fq_name_follows_the_go_exporter() {
        assert_eq!(fq_name(&["http_req_stats", "/"]), "http_req_stats");
        assert_eq!(fq_name(&["http_req_stats", "/varz"]), "http_req_stats_varz");
        assert_eq!(fq_name(&["a_", "_b"]), "a_b");
    }

    #[test]
    fn jsz_filters_parse_as_the_go_flag_does() {
        assert_eq!(JszFilter::parse("ALL"), Ok(JszFilter::Consumers));
        assert_eq!(JszFilter::parse("streams"), Ok(JszFilter::Streams));
        assert!(JszFilter::parse("everything")
            .unwrap_err()
            .contains("invalid jsz filter"));
    }
}
