//! Prometheus's HTTP API over the store: `/api/v1/query` and `/api/v1/query_range`
//! (PromQL), `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values` (what
//! Grafana's variable queries use) and `/api/v1/status/buildinfo`, with Prometheus's
//! JSON envelope, error types and status codes.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, Query, RawForm, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::ser::{SerializeMap, SerializeTuple};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::promql::{self, EvalOptions, QueryError};
use crate::tsdb::labels::{parse_selector, Matcher};
use crate::tsdb::{Db, Labels, Queryable};

/// Prometheus's cap on the points of one series in a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// What the API handlers share.
pub struct ApiState {
    pub db: Arc<Db>,
    pub query: EvalOptions,
    /// `--query.max-concurrency`: queries beyond it wait for a slot.
    pub slots: tokio::sync::Semaphore,
    pub rules: Option<Arc<crate::rules::RuleManager>>,
}

impl ApiState {
    pub fn new(db: Arc<Db>, query: EvalOptions, max_concurrency: usize) -> ApiState {
        ApiState {
            db,
            query,
            slots: tokio::sync::Semaphore::new(max_concurrency.max(1)),
            rules: None,
        }
    }

    pub fn with_rules(mut self, rules: Arc<crate::rules::RuleManager>) -> ApiState {
        self.rules = Some(rules);
        self
    }
}

/// The routes, with the store as their state.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/alerts", get(alerts))
        .with_state(state)
}

pub(crate) fn bad_data(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"status": "error", "errorType": "bad_data", "error": msg.into()})),
    )
        .into_response()
}

pub(crate) fn success(data: Value) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// A time parameter as Prometheus accepts it: Unix seconds (with a fraction) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// `2026-11-22T10:15:30.123Z` or with a `+hh:mm` offset, to Unix milliseconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        ms = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *c == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms)
}

/// `match[]`, `start` and `end` from the query string or form body.
struct Params {
    matchers: Vec<Vec<Matcher>>,
    start: i64,
    end: i64,
}

/// The error is the message of a `bad_data` response.
fn params(pairs: &[(String, String)]) -> Result<Params, String> {
    let mut p = Params {
        matchers: Vec::new(),
        start: i64::MIN,
        end: i64::MAX,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "match[]" => p.matchers.push(
                parse_selector(v).map_err(|e| format!("invalid parameter \"match[]\": {e}"))?,
            ),
            "start" => {
                p.start = parse_time(v).map_err(|e| format!("invalid parameter \"start\": {e}"))?
            }
            "end" => {
                p.end = parse_time(v).map_err(|e| format!("invalid parameter \"end\": {e}"))?
            }
            _ => {}
        }
    }
    if p.end < p.start {
        return Err("end timestamp must not be before start time".into());
    }
    Ok(p)
}

/// The parameters of a request: the query string, and for a POST also the form body
/// (Prometheus takes both).
fn request_pairs(
    method: &Method,
    query: Vec<(String, String)>,
    body: &[u8],
) -> Vec<(String, String)> {
    let mut all = query;
    if *method == Method::POST {
        all.extend(serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default());
    }
    all
}

async fn series(
    State(st): State<Arc<ApiState>>,
    method: Method,
    Query(q): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Response {
    series_for(&st.db, &request_pairs(&method, q, &body))
}

fn series_for(db: &Db, pairs: &[(String, String)]) -> Response {
    let p = match params(pairs) {
        Ok(p) => p,
        Err(e) => return bad_data(e),
    };
    if p.matchers.is_empty() {
        return bad_data("no match[] parameter provided");
    }
    let mut out = BTreeSet::new();
    for m in &p.matchers {
        out.extend(db.series(m, p.start, p.end));
    }
    success(Value::Array(out.iter().map(json_labels).collect()))
}

async fn labels(
    State(st): State<Arc<ApiState>>,
    method: Method,
    Query(q): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Response {
    labels_for(&st.db, &request_pairs(&method, q, &body))
}

fn labels_for(db: &Db, pairs: &[(String, String)]) -> Response {
    let p = match params(pairs) {
        Ok(p) => p,
        Err(e) => return bad_data(e),
    };
    let mut names = BTreeSet::new();
    if p.matchers.is_empty() {
        names.extend(db.label_names(&[], p.start, p.end));
    }
    for m in &p.matchers {
        names.extend(db.label_names(m, p.start, p.end));
    }
    success(json!(names))
}

async fn label_values(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    if !crate::config::is_valid_label_name(&name) {
        return bad_data(format!("invalid label name: {name:?}"));
    }
    let p = match params(&q) {
        Ok(p) => p,
        Err(e) => return bad_data(e),
    };
    let mut vals = BTreeSet::new();
    if p.matchers.is_empty() {
        vals.extend(st.db.label_values(&name, &[], p.start, p.end));
    }
    for m in &p.matchers {
        vals.extend(st.db.label_values(&name, m, p.start, p.end));
    }
    success(json!(vals))
}

fn query_error(e: &QueryError) -> Response {
    let code = match e {
        QueryError::BadData(_) => StatusCode::BAD_REQUEST,
        QueryError::Execution(_) => StatusCode::UNPROCESSABLE_ENTITY,
        QueryError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        // Prometheus answers 499 (client closed the connection).
        QueryError::Canceled(_) => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
    };
    (
        code,
        Json(json!({"status": "error", "errorType": e.kind(), "error": e.message()})),
    )
        .into_response()
}

/// A duration parameter: float seconds or a Prometheus duration (`5m`, `1h30m`).
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if ms.is_finite() && ms.abs() < 9.2e18 {
            return Ok(ms.round() as i64);
        }
        return Err(format!(
            "cannot parse {s:?} to a valid duration. It overflows int64"
        ));
    }
    crate::config::duration::parse_duration(s)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A timestamp in the API's JSON: seconds with up to 3 decimals (whole seconds as
/// integers, as Prometheus writes them).
fn json_labels(l: &Labels) -> Value {
    Value::Object(
        l.iter()
            .map(|(n, v)| (n.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// The `data` of a query response, as Prometheus writes it, serialized straight from
/// the result (a range query's matrix is hundreds of thousands of points: building a
/// `serde_json::Value` of it first cost more than writing it).
pub struct QueryData<'a>(pub &'a promql::Value);

struct JsonTime(i64);

impl Serialize for JsonTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

struct JsonPoint(i64, f64);

impl Serialize for JsonPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&JsonTime(self.0))?;
        t.serialize_element(&promql::format_float(self.1))?;
        t.end()
    }
}

struct JsonLabels<'a>(&'a Labels);

impl Serialize for JsonLabels<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter())
    }
}

struct JsonSample<'a>(&'a promql::Sample);

impl Serialize for JsonSample<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &JsonLabels(&self.0.labels))?;
        m.serialize_entry("value", &JsonPoint(self.0.t, self.0.v))?;
        m.end()
    }
}

struct JsonSeries<'a>(&'a promql::Series);

impl Serialize for JsonSeries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("metric", &JsonLabels(&self.0.labels))?;
        m.serialize_entry("values", &JsonPoints(&self.0.points))?;
        m.end()
    }
}

struct JsonPoints<'a>(&'a [(i64, f64)]);

impl Serialize for JsonPoints<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| JsonPoint(p.0, p.1)))
    }
}

struct JsonSamples<'a>(&'a [promql::Sample]);

impl Serialize for JsonSamples<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonSample))
    }
}

struct JsonMatrix<'a>(&'a [promql::Series]);

impl Serialize for JsonMatrix<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(JsonSeries))
    }
}

impl Serialize for QueryData<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        match self.0 {
            promql::Value::Scalar { t, v } => {
                m.serialize_entry("resultType", "scalar")?;
                m.serialize_entry("result", &JsonPoint(*t, *v))?;
            }
            promql::Value::String { t, v } => {
                m.serialize_entry("resultType", "string")?;
                m.serialize_entry("result", &(JsonTime(*t), v))?;
            }
            promql::Value::Vector(samples) => {
                m.serialize_entry("resultType", "vector")?;
                m.serialize_entry("result", &JsonSamples(samples))?;
            }
            promql::Value::Matrix(series) => {
                m.serialize_entry("resultType", "matrix")?;
                m.serialize_entry("result", &JsonMatrix(series))?;
            }
        }
        m.end()
    }
}

/// `{"status":"success","data":...}` of a query result, as bytes.
pub fn query_success_body(v: &promql::Value) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        data: QueryData<'a>,
    }
    let body = Body {
        status: "success",
        data: QueryData(v),
    };
    // Serializing plain data into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The evaluation options for one request: its `timeout` shortens the server's.
fn request_options(st: &ApiState, pairs: &[(String, String)]) -> Result<EvalOptions, String> {
    let mut opts = st.query.clone();
    if let Some(t) = param(pairs, "timeout") {
        let ms =
            parse_duration_param(t).map_err(|e| format!("invalid parameter \"timeout\": {e}"))?;
        if ms > 0 {
            opts.timeout = opts
                .timeout
                .min(std::time::Duration::from_millis(ms as u64));
        }
    }
    Ok(opts)
}

async fn run_query<F>(st: Arc<ApiState>, f: F) -> Response
where
    F: FnOnce(&ApiState) -> Result<promql::Value, QueryError> + Send + 'static,
{
    let Ok(_slot) = st.slots.acquire().await else {
        return query_error(&QueryError::Canceled("the server is shutting down".into()));
    };
    let st2 = st.clone();
    // The result is serialized on the blocking thread too: a large matrix takes a while.
    let work = move || f(&st2).map(|v| query_success_body(&v));
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(body)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Err(e)) => query_error(&e),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"status": "error", "errorType": "internal", "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Parse the `query` parameter once, on the request task; the error is the message of a
/// 400 `bad_data`.
pub(crate) fn parse_query(
    expr: &str,
    limits: &promql::QueryLimits,
) -> Result<promql_parser::parser::Expr, String> {
    promql::parse_with(expr, limits)
        .map_err(|e| format!("invalid parameter \"query\": {}", e.message()))
}

async fn query(
    State(st): State<Arc<ApiState>>,
    method: Method,
    Query(q): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Response {
    let pairs = request_pairs(&method, q, &body);
    let Some(expr) = param(&pairs, "query").map(str::to_string) else {
        return bad_data("invalid parameter \"query\": no query given");
    };
    let t = match param(&pairs, "time") {
        None => now_ms(),
        Some(v) => match parse_time(v) {
            Ok(t) => t,
            Err(e) => return bad_data(format!("invalid parameter \"time\": {e}")),
        },
    };
    let opts = match request_options(&st, &pairs) {
        Ok(o) => o,
        Err(e) => return bad_data(e),
    };
    let parsed = match parse_query(&expr, &opts.limits) {
        Ok(p) => p,
        Err(e) => return bad_data(e),
    };
    run_query(st, move |st| {
        promql::instant_query_expr(st.db.as_ref(), &parsed, t, &opts)
    })
    .await
}

async fn query_range(
    State(st): State<Arc<ApiState>>,
    method: Method,
    Query(q): Query<Vec<(String, String)>>,
    RawForm(body): RawForm,
) -> Response {
    let pairs = request_pairs(&method, q, &body);
    let Some(expr) = param(&pairs, "query").map(str::to_string) else {
        return bad_data("invalid parameter \"query\": no query given");
    };
    let time = |name: &str| -> Result<i64, String> {
        let v =
            param(&pairs, name).ok_or_else(|| format!("invalid parameter \"{name}\": missing"))?;
        parse_time(v).map_err(|e| format!("invalid parameter \"{name}\": {e}"))
    };
    let (start, end) = match (time("start"), time("end")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return bad_data(e),
    };
    if end < start {
        return bad_data("end timestamp must not be before start time");
    }
    let step = match param(&pairs, "step").map(parse_duration_param) {
        None => return bad_data("invalid parameter \"step\": missing"),
        Some(Err(e)) => return bad_data(format!("invalid parameter \"step\": {e}")),
        Some(Ok(s)) => s,
    };
    if step <= 0 {
        return bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        );
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        );
    }
    let opts = match request_options(&st, &pairs) {
        Ok(o) => o,
        Err(e) => return bad_data(e),
    };
    let parsed = match parse_query(&expr, &opts.limits) {
        Ok(p) => p,
        Err(e) => return bad_data(e),
    };
    run_query(st, move |st| {
        promql::range_query_expr(st.db.as_ref(), &parsed, start, end, step, &opts)
    })
    .await
}

fn alert_json(a: &crate::rules::Alert) -> Value {
    json!({
        "labels": json_labels(&a.labels),
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": crate::server::rfc3339(a.active_at_ms),
        "value": format_float_e(a.value),
    })
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as Prometheus writes alert values.
fn format_float_e(v: f64) -> String {
    if !v.is_finite() {
        return promql::format_float(v);
    }
    let s = format!("{v:e}");
    // Rust writes 1.5e3 and 1e-7; Go writes 1.5e+03 and 1e-07.
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("+", e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// `/api/v1/rules`: the rule groups with each rule's health and, for alerting rules,
/// their alerts (`?type=alert|record` filters, as in Prometheus).
async fn rules(
    State(st): State<Arc<ApiState>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let want = param(&q, "type");
    if want.is_some_and(|t| t != "alert" && t != "record") {
        return bad_data("invalid parameter \"type\": must be \"alert\" or \"record\"");
    }
    let groups = st.rules.as_ref().map(|r| r.status()).unwrap_or_default();
    let data: Vec<Value> = groups
        .iter()
        .map(|g| {
            let rules: Vec<Value> = g
                .rules
                .iter()
                .filter_map(|r| {
                    let common = |t: &str| -> serde_json::Map<String, Value> {
                        let mut m = serde_json::Map::new();
                        m.insert("name".into(), json!(r.rule.name));
                        m.insert("query".into(), json!(r.rule.expr.trim()));
                        m.insert("labels".into(), json!(r.rule.labels));
                        m.insert("health".into(), json!(r.health));
                        if !r.last_error.is_empty() {
                            m.insert("lastError".into(), json!(r.last_error));
                        }
                        m.insert("evaluationTime".into(), json!(r.evaluation_seconds));
                        m.insert(
                            "lastEvaluation".into(),
                            json!(crate::server::rfc3339(r.last_evaluation_ms)),
                        );
                        m.insert("type".into(), json!(t));
                        m
                    };
                    match &r.rule.kind {
                        crate::rules::RuleKind::Recording => {
                            (want != Some("alert")).then(|| Value::Object(common("recording")))
                        }
                        crate::rules::RuleKind::Alerting {
                            for_ms,
                            keep_firing_for_ms,
                            annotations,
                        } => {
                            if want == Some("record") {
                                return None;
                            }
                            let mut m = common("alerting");
                            let state = if r
                                .alerts
                                .iter()
                                .any(|a| a.state == crate::rules::AlertState::Firing)
                            {
                                "firing"
                            } else if r.alerts.is_empty() {
                                "inactive"
                            } else {
                                "pending"
                            };
                            m.insert("state".into(), json!(state));
                            m.insert("duration".into(), json!(*for_ms as f64 / 1000.0));
                            m.insert(
                                "keepFiringFor".into(),
                                json!(*keep_firing_for_ms as f64 / 1000.0),
                            );
                            m.insert("annotations".into(), json!(annotations));
                            m.insert(
                                "alerts".into(),
                                Value::Array(r.alerts.iter().map(alert_json).collect()),
                            );
                            Some(Value::Object(m))
                        }
                    }
                })
                .collect();
            json!({
                "name": g.name,
                "file": g.file,
                "rules": rules,
                "interval": g.interval_ms as f64 / 1000.0,
                "limit": g.limit,
                "evaluationTime": g.evaluation_seconds,
                "lastEvaluation": crate::server::rfc3339(g.last_evaluation_ms),
            })
        })
        .collect();
    success(json!({ "groups": data }))
}

/// `/api/v1/alerts`: every active alert.
async fn alerts(State(st): State<Arc<ApiState>>) -> Response {
    let groups = st.rules.as_ref().map(|r| r.status()).unwrap_or_default();
    let alerts: Vec<Value> = groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| r.alerts.iter().map(alert_json))
        .collect();
    success(json!({ "alerts": alerts }))
}

async fn buildinfo() -> Response {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": env!("MESHSCOPE_BUILD_DATE"),
        "goVersion": concat!("rust (meshscope ", env!("CARGO_PKG_VERSION"), ")"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_results_are_written_as_prometheus_writes_them() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        let body = |v: promql::Value| -> Value {
            serde_json::from_slice(&query_success_body(&v)).unwrap()
        };
        assert_eq!(
            body(promql::Value::Matrix(vec![promql::Series {
                labels: l.clone(),
                points: vec![(1_000, 1.5), (2_500, f64::NAN), (3_000, f64::NEG_INFINITY)],
            }])),
            json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"__name__": "up", "job": "a\"b"},
                 "values": [[1, "1.5"], [2.5, "NaN"], [3, "-Inf"]]}]}})
        );
        assert_eq!(
            body(promql::Value::Vector(vec![promql::Sample {
                labels: l,
                t: 1_795_343_730_123,
                v: 2.0
            }])),
            json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"__name__": "up", "job": "a\"b"},
                 "value": [1_795_343_730.123, "2"]}]}})
        );
        assert_eq!(
            body(promql::Value::Scalar { t: 0, v: 1e-7 }),
            json!({"status": "success", "data": {"resultType": "scalar", "result": [0, "0.0000001"]}})
        );
        assert_eq!(
            body(promql::Value::String {
                t: 5_000,
                v: "x".into()
            }),
            json!({"status": "success", "data": {"resultType": "string", "result": [5, "x"]}})
        );
        assert_eq!(
            body(promql::Value::Vector(vec![])),
            json!({"status": "success", "data": {"resultType": "vector", "result": []}})
        );
    }

    #[test]
    fn times_parse_like_prometheus() {
        assert_eq!(parse_time("1795343730.123"), Ok(1_795_343_730_123));
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(
            parse_time("2026-11-22T10:35:30.123Z"),
            Ok(1_795_343_730_123)
        );
        assert_eq!(
            parse_time("2026-11-22T11:35:30.123+01:00"),
            Ok(1_795_343_730_123)
        );
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
        for bad in [
            "",
            "soon",
            "2026-13-01T00:00:00Z",
            "2026-11-22T10:35:30",
            "2026-11-22T10:35:30.Z",
            "NaN",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
