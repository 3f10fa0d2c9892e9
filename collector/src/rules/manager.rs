//! Rule evaluation: each group on its own schedule (offset by a hash of its name, as
//! Prometheus spreads groups), its rules in order so a rule sees what the ones before it
//! recorded in the same evaluation. Recording rules write their series (and staleness
//! markers for series that went away); alerting rules keep pending/firing state with
//! `for`, and write `ALERTS` and `ALERTS_FOR_STATE` as Prometheus does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{Group, Rule, RuleKind};
use crate::promql::{self, EvalOptions, Value};
use crate::scrape::Committed;
use crate::tsdb::chunk::stale_nan;
use crate::tsdb::{Db, Labels};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// An active alert.
#[derive(Clone, Debug)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub active_at_ms: i64,
    /// The last evaluation whose result had this alert.
    pub last_seen_ms: i64,
    pub value: f64,
    /// When it started firing.
    pub fired_at_ms: Option<i64>,
    /// When it stopped firing: a resolved alert is kept [`RESOLVED_RETENTION_MS`] to be
    /// sent to Alertmanagers as resolved, and is in no API nor `ALERTS` series.
    pub resolved_at_ms: Option<i64>,
    /// When it was last handed to the notifier.
    pub last_sent_ms: Option<i64>,
}

/// How long a resolved alert is kept (and sent again as resolved), as in Prometheus.
const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

impl Alert {
    /// Whether the notifier should get this alert at `ts`: firing and not sent for
    /// `resend_delay_ms`, or resolved since it was last sent (Prometheus's
    /// `needsSending`).
    fn needs_sending(&self, ts: i64, resend_delay_ms: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        match (self.resolved_at_ms, self.last_sent_ms) {
            (_, None) => true,
            (Some(r), Some(s)) if r > s => true,
            (_, Some(s)) => s + resend_delay_ms < ts,
        }
    }
}

/// A rule's state for `/api/v1/rules`.
#[derive(Clone, Debug)]
pub struct RuleStatus {
    pub rule: Rule,
    pub health: &'static str,
    pub last_error: String,
    pub last_evaluation_ms: i64,
    pub evaluation_seconds: f64,
    pub alerts: Vec<Alert>,
}

/// A group's state for `/api/v1/rules`.
#[derive(Clone, Debug)]
pub struct GroupStatus {
    pub name: String,
    pub file: String,
    pub interval_ms: i64,
    pub limit: u64,
    pub last_evaluation_ms: i64,
    pub evaluation_seconds: f64,
    pub rules: Vec<RuleStatus>,
}

struct RuleRuntime {
    status: RuleStatus,
    /// Series written by the last evaluation, by their `node` (to mark the missing ones
    /// stale; a per-node evaluation replaces only its nodes' series).
    written: HashMap<Box<str>, HashSet<Labels>>,
    active: HashMap<Labels, Alert>,
}

struct GroupRuntime {
    group: Group,
    interval_ms: i64,
    /// Every rule is a recording rule grouped by `node` ([`super::partition`]).
    node_grouped: bool,
    /// Evaluated node by node after the scrapes that wrote those nodes' series, not on
    /// its interval (see [`RuleManager::follow_scrapes`]).
    per_node: bool,
    state: Mutex<(i64, f64, Vec<RuleRuntime>)>,
}

/// The nodes one per-node evaluation is for.
struct Nodes {
    list: Vec<String>,
    set: HashSet<String>,
    /// `node=~"…"` for them, built once for every rule (`None`: too many to match by one
    /// regex; the rules are then evaluated whole and filtered).
    matcher: Option<promql_parser::label::Matcher>,
}

impl Nodes {
    fn new(mut list: Vec<String>) -> Nodes {
        list.sort_unstable();
        list.dedup();
        Nodes {
            set: list.iter().cloned().collect(),
            matcher: super::partition::matcher(NODE, &list),
            list,
        }
    }
}

/// Runs the rule groups.
pub struct RuleManager {
    db: Arc<Db>,
    query: EvalOptions,
    groups: Mutex<Vec<Arc<GroupRuntime>>>,
    running: Mutex<Option<CancellationToken>>,
    shutdown: CancellationToken,
    /// Committed scrapes and their nodes, which the embedded mesh model's groups follow.
    scrapes: Mutex<Option<Arc<Committed>>>,
    pub evaluations: AtomicU64,
    pub failures: AtomicU64,
    /// Nodes brought up to date by per-node evaluations (one per node and evaluation).
    pub node_evaluations: AtomicU64,
    /// Least time between two per-node evaluations, ms ([`FOLLOW_SPACING_MS`]).
    follow_spacing_ms: std::sync::atomic::AtomicI64,
    /// Where due alerts go, the base of their generator URLs, and how long after it was
    /// sent a firing alert is sent again (`--rules.alert.resend-delay`, ms).
    notifier: Mutex<Option<(Arc<crate::notifier::Notifier>, String, i64)>>,
}

/// After a scrape commits, the mesh model waits this long for the rest of a round of
/// scrapes before it evaluates the nodes they wrote...
const FOLLOW_SETTLE_MS: i64 = 50;
/// ...and evaluates on ticks of a quarter of the shortest scrape interval, within these
/// bounds, rounded down to divide the interval (the nodes scraped between two ticks are
/// evaluated together). Every evaluation has a fixed cost (each rule's selectors,
/// whatever the nodes); fewer, larger batches bound it. The ticks sit on multiples of
/// the spacing and a target's scrapes on a fixed offset in its interval, so a node is
/// evaluated at the same point after each of its scrapes: its model sample is at most
/// an interval old (+ the settle time and the evaluation), whatever the spacing (the
/// freshness target is an interval + 1 s; the viewer's 2 s latency at 1 s intervals
/// needs the lower bound).
const FOLLOW_SPACING_MS: (i64, i64) = (250, 1000);
/// The label the mesh model's rules group by.
const NODE: &str = "node";

impl RuleManager {
    pub fn new(db: Arc<Db>, query: EvalOptions, shutdown: CancellationToken) -> Arc<RuleManager> {
        Arc::new(RuleManager {
            db,
            query,
            groups: Mutex::new(Vec::new()),
            running: Mutex::new(None),
            shutdown,
            scrapes: Mutex::new(None),
            evaluations: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            node_evaluations: AtomicU64::new(0),
            follow_spacing_ms: std::sync::atomic::AtomicI64::new(FOLLOW_SPACING_MS.0),
            notifier: Mutex::new(None),
        })
    }

    /// Send alerts that are due to `notifier` after each evaluation; `external_url` (e.g.
    /// `http://host:9477`) starts their generator URLs; a firing alert is sent again
    /// `resend_delay_ms` after it was last sent (Prometheus: 1 minute).
    pub fn set_notifier(
        &self,
        notifier: Arc<crate::notifier::Notifier>,
        external_url: String,
        resend_delay_ms: i64,
    ) {
        *lock(&self.notifier) = Some((notifier, external_url, resend_delay_ms.max(1)));
    }

    /// The shortest scrape interval of the configuration (ms): the per-node evaluations
    /// are spaced by a quarter of it (see [`FOLLOW_SPACING_MS`]).
    pub fn set_scrape_interval(&self, shortest_ms: i64) {
        self.follow_spacing_ms
            .store(follow_spacing(shortest_ms), Ordering::Relaxed);
    }

    /// Evaluate the embedded mesh model right after scrapes commit, for the nodes those
    /// scrapes wrote, instead of on its interval: a change a scrape brings reaches the
    /// model, and the viewer that reads it, within one scrape interval, and the model
    /// costs in proportion to what was scraped, not to the mesh. Every recording rule
    /// of such a group must group by `node` ([`super::partition`]); a group that does
    /// not, and alerting rules, keep the interval. Call before [`RuleManager::apply`].
    /// Rule files of the user's keep Prometheus's schedule.
    pub fn follow_scrapes(&self, committed: Arc<Committed>) {
        *lock(&self.scrapes) = Some(committed);
    }

    /// Replace the running groups (on start and reload). Alert state and the series a
    /// rule last wrote carry over to a rule of the same file, group and name.
    pub fn apply(self: &Arc<Self>, groups: Vec<Group>, default_interval_ms: i64) {
        // Stop the running groups first, then take their rules' state (an evaluation
        // in progress finishes before the lock is ours).
        if let Some(t) = lock(&self.running).take() {
            t.cancel();
        }
        let mut old: HashMap<(String, String, String, usize), RuleRuntime> = HashMap::new();
        for g in lock(&self.groups).drain(..) {
            let rules = std::mem::take(&mut lock(&g.state).2);
            for (i, r) in rules.into_iter().enumerate() {
                old.insert(
                    (
                        g.group.file.clone(),
                        g.group.name.clone(),
                        r.status.rule.name.clone(),
                        i,
                    ),
                    r,
                );
            }
        }
        let token = self.shutdown.child_token();
        let following = lock(&self.scrapes).clone();
        let mut runtimes = Vec::with_capacity(groups.len());
        for g in groups {
            let interval_ms = g.interval_ms.unwrap_or(default_interval_ms).max(1);
            let node_grouped = g.rules.iter().all(|r| {
                matches!(r.kind, RuleKind::Recording)
                    && !r.labels.contains_key(NODE)
                    && super::partition::partitionable(&r.parsed, NODE)
            });
            let per_node = following.is_some() && g.file == super::MESH_MODEL_FILE && node_grouped;
            if following.is_some() && g.file == super::MESH_MODEL_FILE && !per_node {
                tracing::debug!(group = %g.name, "Mesh-model group keeps its interval: not every rule groups by node");
            }
            let rules = g
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let key = (g.file.clone(), g.name.clone(), r.name.clone(), i);
                    match old.remove(&key) {
                        Some(mut rt) if rt.status.rule.expr == r.expr => {
                            rt.status.rule = r.clone();
                            rt
                        }
                        _ => RuleRuntime {
                            status: RuleStatus {
                                rule: r.clone(),
                                health: "unknown",
                                last_error: String::new(),
                                last_evaluation_ms: 0,
                                evaluation_seconds: 0.0,
                                alerts: Vec::new(),
                            },
                            written: HashMap::new(),
                            active: HashMap::new(),
                        },
                    }
                })
                .collect();
            runtimes.push(Arc::new(GroupRuntime {
                group: g,
                interval_ms,
                node_grouped,
                per_node,
                state: Mutex::new((0, 0.0, rules)),
            }));
        }
        for gr in runtimes.iter().filter(|g| !g.per_node) {
            let (me, gr, stop) = (self.clone(), gr.clone(), token.clone());
            tokio::spawn(async move { me.run_group(gr, stop).await });
        }
        let followers: Vec<Arc<GroupRuntime>> =
            runtimes.iter().filter(|g| g.per_node).cloned().collect();
        if let (Some(c), false) = (following, followers.is_empty()) {
            let (me, stop) = (self.clone(), token.clone());
            tokio::spawn(async move { me.follow(c, followers, stop).await });
        }
        *lock(&self.groups) = runtimes;
        *lock(&self.running) = Some(token);
    }

    async fn run_group(self: Arc<Self>, gr: Arc<GroupRuntime>, stop: CancellationToken) {
        let interval = gr.interval_ms;
        let offset = (xxhash_rust::xxh3::xxh3_64(
            format!("{}\u{0}{}", gr.group.file, gr.group.name).as_bytes(),
        ) % interval as u64) as i64;
        let mut last = i64::MIN / 2;
        loop {
            let now = now_ms();
            let next = ((now - offset).div_euclid(interval) + 1) * interval + offset;
            let wait = std::time::Duration::from_millis((next - now).max(0) as u64);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            };
            let ts = next.max(last + 1);
            last = ts;
            let (me, g) = (self.clone(), gr.clone());
            if tokio::task::spawn_blocking(move || me.evaluate(&g, ts, None))
                .await
                .is_err()
            {
                tracing::error!(group = %gr.group.name, "Rule evaluation panicked");
            }
        }
    }

    /// The per-node groups: after scrapes commit, wait for the round to land, then
    /// evaluate every group for the nodes those scrapes wrote, all at one timestamp.
    async fn follow(
        self: Arc<Self>,
        committed: Arc<Committed>,
        groups: Vec<Arc<GroupRuntime>>,
        stop: CancellationToken,
    ) {
        let mut rx = committed.subscribe();
        // The last evaluation's timestamp and tick.
        let (mut last, mut last_tick) = (i64::MIN / 2, i64::MIN / 2);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = rx.changed() => if r.is_err() { return },
            }
            let spacing = self.follow_spacing_ms.load(Ordering::Relaxed);
            let now = now_ms();
            let tick = next_tick(now, last_tick, spacing);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_millis((tick - now) as u64)) => {}
            }
            last_tick = tick;
            // What committed while we waited is in this evaluation.
            rx.borrow_and_update();
            let list: Vec<String> = committed
                .take_nodes()
                .into_iter()
                .map(|n| n.to_string())
                .collect();
            if list.is_empty() {
                continue;
            }
            let nodes = Nodes::new(list);
            // Timestamps only move forward.
            let ts = now_ms().max(last + 1);
            last = ts;
            let (me, gs) = (self.clone(), groups.clone());
            let res = tokio::task::spawn_blocking(move || {
                for g in &gs {
                    me.evaluate(g, ts, Some(&nodes));
                }
                me.node_evaluations
                    .fetch_add(nodes.list.len() as u64, Ordering::Relaxed);
            })
            .await;
            if res.is_err() {
                tracing::error!("Mesh-model evaluation panicked");
            }
        }
    }

    /// Evaluate a group once at `ts` (ms), for every node or for `nodes` only.
    fn evaluate(&self, gr: &GroupRuntime, ts: i64, nodes: Option<&Nodes>) {
        let start = Instant::now();
        let mut st = lock(&gr.state);
        for rt in st.2.iter_mut() {
            let t0 = Instant::now();
            let res = eval_rule(&self.db, &self.query, rt, ts, gr.group.limit, nodes);
            self.evaluations.fetch_add(1, Ordering::Relaxed);
            rt.status.last_evaluation_ms = ts;
            rt.status.evaluation_seconds = t0.elapsed().as_secs_f64();
            match res {
                Ok(()) => {
                    rt.status.health = "ok";
                    rt.status.last_error.clear();
                    if !rt.active.is_empty() {
                        if let Some((n, base, resend)) = &*lock(&self.notifier) {
                            n.send(due_notifications(rt, ts, gr.interval_ms, *resend, base));
                        }
                    }
                }
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    if rt.status.last_error != e {
                        tracing::warn!(group = %gr.group.name, rule = %rt.status.rule.name, error = %e, "Rule evaluation failed");
                    }
                    rt.status.health = "err";
                    rt.status.last_error = e;
                }
            }
        }
        st.0 = ts;
        st.1 = start.elapsed().as_secs_f64();
    }

    /// The groups with their rules' state.
    pub fn status(&self) -> Vec<GroupStatus> {
        lock(&self.groups)
            .iter()
            .map(|g| {
                let st = lock(&g.state);
                GroupStatus {
                    name: g.group.name.clone(),
                    file: g.group.file.clone(),
                    interval_ms: g.interval_ms,
                    limit: g.group.limit,
                    last_evaluation_ms: st.0,
                    evaluation_seconds: st.1,
                    rules: st.2.iter().map(|r| r.status.clone()).collect(),
                }
            })
            .collect()
    }

    /// Evaluate every group once at `ts` (for tests and one-off runs).
    pub fn evaluate_all_at(&self, ts: i64) {
        let groups: Vec<Arc<GroupRuntime>> = lock(&self.groups).clone();
        for g in groups {
            self.evaluate(&g, ts, None);
        }
    }

    /// Evaluate every group grouped by node once at `ts`, for `nodes` only, as the
    /// per-node path does after scrapes (for tests).
    pub fn evaluate_nodes_at(&self, ts: i64, nodes: &[&str]) {
        let nodes = Nodes::new(nodes.iter().map(|n| n.to_string()).collect());
        let groups: Vec<Arc<GroupRuntime>> = lock(&self.groups).clone();
        for g in groups.iter().filter(|g| g.node_grouped) {
            self.evaluate(g, ts, Some(&nodes));
        }
    }
}

/// The spacing of per-node evaluations for the shortest scrape interval `interval_ms`:
/// a quarter of it within [`FOLLOW_SPACING_MS`], rounded down to divide it (when the
/// bounds allow), so that the ticks fall at the same points of every interval.
fn follow_spacing(interval_ms: i64) -> i64 {
    let (lo, hi) = FOLLOW_SPACING_MS;
    let s = (interval_ms / 4).clamp(lo, hi);
    if interval_ms < lo {
        return s;
    }
    let per_interval = (interval_ms + s - 1) / s;
    (interval_ms / per_interval).max(lo)
}

/// When the next per-node evaluation runs: the first multiple of `spacing` at least the
/// settle time after `now` and after the `last_tick`.
fn next_tick(now: i64, last_tick: i64, spacing: i64) -> i64 {
    let spacing = spacing.max(1);
    let earliest = (now + FOLLOW_SETTLE_MS).max(last_tick.saturating_add(spacing));
    let rem = earliest.rem_euclid(spacing);
    if rem == 0 {
        earliest
    } else {
        earliest - rem + spacing
    }
}

/// The alerts of an alerting rule to hand to the notifier at `ts` (firing ones not sent
/// for `resend_ms`, resolved ones not sent since they resolved), marked as sent. A firing
/// alert is valid for four times the larger of the resend delay and the group's
/// interval, as in Prometheus: an Alertmanager resolves it itself when the collector
/// stops sending it.
fn due_notifications(
    rt: &mut RuleRuntime,
    ts: i64,
    interval_ms: i64,
    resend_ms: i64,
    base: &str,
) -> Vec<crate::notifier::Notification> {
    let mut out = Vec::new();
    let valid_for = 4 * resend_ms.max(interval_ms);
    let mut url = None;
    for a in rt.active.values_mut() {
        if !a.needs_sending(ts, resend_ms) {
            continue;
        }
        a.last_sent_ms = Some(ts);
        let generator_url = url
            .get_or_insert_with(|| {
                let q = serde_urlencoded::to_string([
                    ("g0.expr", rt.status.rule.expr.as_str()),
                    ("g0.tab", "1"),
                ])
                .unwrap_or_default();
                format!("{base}/graph?{q}")
            })
            .clone();
        out.push(crate::notifier::Notification {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
            ends_at_ms: a.resolved_at_ms.unwrap_or(ts + valid_for),
            generator_url,
        });
    }
    out
}

/// The labels of a rule's output sample: the sample's, with the rule's name and labels.
fn with_rule_labels(
    sample: &Labels,
    name_label: (&str, &str),
    extra: &BTreeMap<String, String>,
    drop_name: bool,
) -> Labels {
    let mut m: BTreeMap<String, String> = sample
        .iter()
        .filter(|(n, _)| !(drop_name && *n == "__name__"))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    m.insert(name_label.0.to_string(), name_label.1.to_string());
    for (k, v) in extra {
        if v.is_empty() {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    Labels::from_pairs(m)
}

/// Expand `{{ $labels.x }}`, `{{ $value }}` and `{{ $labels }}` in alert labels and
/// annotations (the common subset of Prometheus's Go templates).
pub fn expand_template(t: &str, labels: &Labels, value: f64) -> String {
    if !t.contains("{{") {
        return t.to_string();
    }
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let inner = rest[i + 2..i + j].trim();
        let (expr, pipe) = match inner.split_once('|') {
            Some((e, p)) => (e.trim(), Some(p.trim())),
            None => (inner, None),
        };
        let val = if expr == "$value" || expr == ".Value" {
            match pipe {
                Some("humanize") => humanize(value),
                Some("humanizePercentage") => format!("{}%", go_g4(value * 100.0)),
                Some("humanizeDuration") => humanize_duration(value),
                _ => promql::format_float(value),
            }
        } else if let Some(name) = expr
            .strip_prefix("$labels.")
            .or_else(|| expr.strip_prefix(".Labels."))
        {
            labels.get(name).unwrap_or("").to_string()
        } else if expr == "$labels" || expr == ".Labels" {
            labels.to_string()
        } else {
            rest[i..i + j + 2].to_string()
        };
        out.push_str(&val);
        rest = &rest[i + j + 2..];
    }
    out.push_str(rest);
    out
}

/// Prometheus's `humanize`: 4 significant digits with a metric prefix (`1.234k`).
/// Go's `%.4g`: four significant digits, exponent form below 1e-4 and from 1e4.
fn go_g4(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN"
        } else if x > 0.0 {
            "+Inf"
        } else {
            "-Inf"
        }
        .into();
    }
    let e = format!("{x:.3e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..4).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        let dec = (3 - exp).max(0) as usize;
        trim(&format!("{x:.dec$}"))
    }
}

/// Prometheus's `humanizeDuration` of seconds: `1d 2h 3m 4s`, `4.5s`, `250ms`.
fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g4(v);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let d = v.abs() as i64;
        let (days, hours, minutes, seconds) = (d / 86_400, (d / 3600) % 24, (d / 60) % 60, d % 60);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_g4(v.abs()))
        };
    }
    let mut x = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if x.abs() >= 1.0 {
            break;
        }
        prefix = p;
        x *= 1000.0;
    }
    format!("{}{prefix}s", go_g4(x))
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return promql::format_float(v);
    }
    let prefixes = ["", "k", "M", "G", "T", "P", "E"];
    let mut x = v;
    let mut i = 0;
    while x.abs() >= 1000.0 && i + 1 < prefixes.len() {
        x /= 1000.0;
        i += 1;
    }
    let int_digits = if x.abs() >= 1.0 {
        x.abs().log10().floor() as i32 + 1
    } else {
        1
    };
    let decimals = (4 - int_digits).max(0) as usize;
    let mut n = format!("{x:.decimals$}");
    if n.contains('.') {
        n = n.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{n}{}", prefixes[i])
}

fn eval_rule(
    db: &Db,
    opts: &EvalOptions,
    rt: &mut RuleRuntime,
    ts: i64,
    limit: u64,
    nodes: Option<&Nodes>,
) -> Result<(), String> {
    let rule = rt.status.rule.clone();
    // For some nodes: their matcher in every selector (exact for rules grouped by node),
    // and the result kept to those nodes.
    let restricted = nodes
        .and_then(|n| n.matcher.as_ref())
        .map(|m| super::partition::restrict_with(&rule.parsed, NODE, m).expr);
    let expr = restricted.as_ref().unwrap_or(&rule.parsed);
    let v = crate::promql::instant_query_expr(db, expr, ts, opts).map_err(|e| e.to_string())?;
    let mut samples: Vec<(Labels, f64)> = match v {
        Value::Vector(s) => s.into_iter().map(|s| (s.labels, s.v)).collect(),
        Value::Scalar { v, .. } => vec![(Labels::default(), v)],
        _ => return Err("rule result is not a vector or scalar".into()),
    };
    if let Some(n) = nodes {
        samples.retain(|(l, _)| n.set.contains(l.get(NODE).unwrap_or("")));
    }
    let mut out: Vec<(Labels, f64)> = Vec::with_capacity(samples.len());
    match &rule.kind {
        RuleKind::Recording => {
            for (l, v) in samples {
                out.push((
                    with_rule_labels(&l, ("__name__", &rule.name), &rule.labels, false),
                    v,
                ));
            }
            let mut seen = HashSet::with_capacity(out.len());
            if !out.iter().all(|(l, _)| seen.insert(l.clone())) {
                return Err(
                    "vector contains metrics with the same labelset after applying rule labels"
                        .into(),
                );
            }
        }
        RuleKind::Alerting {
            for_ms,
            keep_firing_for_ms,
            annotations,
        } => {
            let mut now_active: HashMap<Labels, (f64, BTreeMap<String, String>)> = HashMap::new();
            for (l, v) in samples {
                let plain = Labels::from_pairs(l.iter().filter(|(n, _)| *n != "__name__"));
                let labels_expanded: BTreeMap<String, String> = rule
                    .labels
                    .iter()
                    .map(|(k, t)| (k.clone(), expand_template(t, &plain, v)))
                    .collect();
                let lbl =
                    with_rule_labels(&plain, ("alertname", &rule.name), &labels_expanded, true);
                let ann = annotations
                    .iter()
                    .map(|(k, t)| (k.clone(), expand_template(t, &plain, v)))
                    .collect();
                if now_active.insert(lbl, (v, ann)).is_some() {
                    return Err(
                        "vector contains metrics with the same labelset after applying alert labels"
                            .into(),
                    );
                }
            }
            // Gone from the result: a firing alert resolves (unless within
            // keep_firing_for) and is kept a while to be sent as resolved; a pending
            // one is dropped.
            for (l, a) in rt.active.iter_mut() {
                let keep = *keep_firing_for_ms > 0 && ts - a.last_seen_ms < *keep_firing_for_ms;
                if !now_active.contains_key(l)
                    && a.resolved_at_ms.is_none()
                    && a.state == AlertState::Firing
                    && !keep
                {
                    a.resolved_at_ms = Some(ts);
                }
            }
            rt.active.retain(|l, a| {
                now_active.contains_key(l)
                    || match a.resolved_at_ms {
                        Some(r) => ts - r < RESOLVED_RETENTION_MS,
                        None => a.state == AlertState::Firing,
                    }
            });
            for (l, (v, ann)) in now_active {
                let new = Alert {
                    labels: l.clone(),
                    annotations: BTreeMap::new(),
                    state: AlertState::Pending,
                    active_at_ms: ts,
                    last_seen_ms: ts,
                    value: v,
                    fired_at_ms: None,
                    resolved_at_ms: None,
                    last_sent_ms: None,
                };
                let a = rt.active.entry(l).or_insert_with(|| new.clone());
                if a.resolved_at_ms.is_some() {
                    // Back after it resolved: a new alert.
                    *a = new;
                }
                a.value = v;
                a.last_seen_ms = ts;
                a.annotations = ann;
                if a.state == AlertState::Pending && ts - a.active_at_ms >= *for_ms {
                    a.state = AlertState::Firing;
                    a.fired_at_ms = Some(ts);
                }
            }
            for a in rt.active.values().filter(|a| a.resolved_at_ms.is_none()) {
                out.push((
                    with_rule_labels(
                        &a.labels,
                        ("alertstate", a.state.as_str()),
                        &BTreeMap::from([("__name__".to_string(), "ALERTS".to_string())]),
                        false,
                    ),
                    1.0,
                ));
                out.push((
                    with_rule_labels(
                        &a.labels,
                        ("__name__", "ALERTS_FOR_STATE"),
                        &BTreeMap::new(),
                        false,
                    ),
                    a.active_at_ms as f64 / 1000.0,
                ));
            }
            let mut alerts: Vec<Alert> = rt
                .active
                .values()
                .filter(|a| a.resolved_at_ms.is_none())
                .cloned()
                .collect();
            alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
            rt.status.alerts = alerts;
        }
    }
    if limit > 0 && out.len() as u64 > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    let mut app = db.appender();
    let mut written: HashMap<Box<str>, HashSet<Labels>> = HashMap::new();
    for (l, v) in out {
        let h = app.series(&l);
        app.add(&h, ts, v);
        written
            .entry(l.get(NODE).unwrap_or("").into())
            .or_default()
            .insert(l);
    }
    // What the last evaluation of the same nodes wrote and this one did not goes stale.
    let before: Vec<(Box<str>, HashSet<Labels>)> = match nodes {
        None => rt.written.drain().collect(),
        Some(n) => n
            .list
            .iter()
            .filter_map(|k| rt.written.remove_entry(k.as_str()))
            .collect(),
    };
    for (k, old) in &before {
        let now = written.get(k);
        for gone in old.iter().filter(|l| !now.is_some_and(|s| s.contains(*l))) {
            let h = app.series(gone);
            app.add(&h, ts, stale_nan());
        }
    }
    app.commit().map_err(|e| e.to_string())?;
    rt.written.extend(written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanizing_pipes_print_as_prometheus_templates_do() {
        let l = Labels::default();
        let t = |s: &str, v: f64| expand_template(s, &l, v);
        assert_eq!(t("{{ $value | humanizePercentage }}", 0.0123456), "1.235%");
        assert_eq!(t("{{ $value | humanizePercentage }}", 1.0), "100%");
        assert_eq!(t("{{ $value | humanizeDuration }}", 0.25), "250ms");
        assert_eq!(t("{{ $value | humanizeDuration }}", 1.5), "1.5s");
        assert_eq!(t("{{ $value | humanizeDuration }}", 90.0), "1m 30s");
        assert_eq!(t("{{ $value | humanizeDuration }}", 93784.0), "1d 2h 3m 4s");
        assert_eq!(t("{{ $value | humanizeDuration }}", 0.0), "0s");
        assert_eq!(go_g4(123456.0), "1.235e+05");
        assert_eq!(go_g4(0.00001234), "1.234e-05");
        assert_eq!(go_g4(12.5), "12.5");
    }

    #[test]
    fn alerts_are_sent_when_firing_again_after_the_resend_delay_and_once_resolved() {
        let mut a = Alert {
            labels: Labels::from_pairs([("alertname", "A")]),
            annotations: BTreeMap::new(),
            state: AlertState::Pending,
            active_at_ms: 0,
            last_seen_ms: 0,
            value: 1.0,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_sent_ms: None,
        };
        assert!(!a.needs_sending(0, 60_000), "pending alerts are not sent");
        a.state = AlertState::Firing;
        assert!(a.needs_sending(1000, 60_000), "never sent");
        a.last_sent_ms = Some(1000);
        assert!(!a.needs_sending(61_000, 60_000));
        assert!(a.needs_sending(61_001, 60_000));
        a.resolved_at_ms = Some(5000);
        assert!(a.needs_sending(5000, 60_000), "resolved since it was sent");
        a.last_sent_ms = Some(5000);
        assert!(!a.needs_sending(6000, 60_000), "resolved and sent");
    }

    #[test]
    fn per_node_evaluations_tick_on_divisors_of_the_scrape_interval() {
        let (lo, hi) = FOLLOW_SPACING_MS;
        for iv in [
            100, 250, 1000, 2000, 3000, 5000, 7000, 10_000, 15_000, 60_000,
        ] {
            let s = follow_spacing(iv);
            assert!((lo..=hi).contains(&s), "{iv}: {s}");
            if iv >= lo {
                assert_eq!(iv % s, 0, "{iv}: {s} does not divide it");
                assert!(s <= (iv / 4).max(lo), "{iv}: {s}");
            }
        }
        assert_eq!(follow_spacing(1000), 250);
        assert_eq!(follow_spacing(5000), 1000);
        assert_eq!(follow_spacing(3000), 750);
        assert_eq!(follow_spacing(7000), 1000);
        assert_eq!(follow_spacing(1500), 375);
    }

    #[test]
    fn the_next_tick_is_a_multiple_after_the_settle_time_and_the_last_tick() {
        for spacing in [250, 1000] {
            for now in (1_000_000..1_003_000).step_by(7) {
                for last_tick in [i64::MIN / 2, now - 5000, now - spacing, now, now + 100] {
                    let last_tick = last_tick - last_tick.rem_euclid(spacing);
                    let t = next_tick(now, last_tick, spacing);
                    assert_eq!(t % spacing, 0);
                    assert!(t >= now + FOLLOW_SETTLE_MS && t >= last_tick + spacing);
                    // The first such multiple.
                    let prev = t - spacing;
                    assert!(prev < now + FOLLOW_SETTLE_MS || prev < last_tick + spacing);
                }
            }
        }
        // A node scraped at the same offset in every interval is evaluated at the same
        // offset after it: its model sample is at most one interval old.
        let (iv, spacing) = (5000, follow_spacing(5000));
        let offsets: Vec<i64> = (0..10)
            .map(|k| next_tick(k * iv + 1234, k * iv - 2 * spacing, spacing) - k * iv)
            .collect();
        assert!(offsets.iter().all(|o| *o == offsets[0]), "{offsets:?}");
    }

    #[test]
    fn templates_expand_labels_and_value() {
        let l = Labels::from_pairs([("node", "kafka-0"), ("role", "kafka")]);
        assert_eq!(
            expand_template(
                "{{ $labels.node }} ({{$labels.role}}) at {{ $value }}",
                &l,
                0.5
            ),
            "kafka-0 (kafka) at 0.5"
        );
        assert_eq!(
            expand_template("{{ $value | humanize }}B", &l, 1234.0),
            "1.234kB"
        );
        assert_eq!(expand_template("no template", &l, 1.0), "no template");
        assert_eq!(expand_template("{{ unclosed", &l, 1.0), "{{ unclosed");
    }
}
