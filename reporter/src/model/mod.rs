//! What the deck says, computed from the fetched weeks: per-node availability and error
//! budget, per-role health against the SLO, mesh-wide hourly totals, daily latency,
//! incidents, gaps and the sentences of the summary. No drawing here.

mod sentences;

use std::collections::BTreeMap;

use crate::query::{Metric, NodeData, WeekData, HOUR, UP_STEP};
use crate::slo::{Slo, SloConfig};

#[derive(Clone, Debug, PartialEq)]
pub struct NodeSummary {
    pub node: String,
    pub role: String,
    pub slo: Slo,
    /// Fraction of the minutes with data that the node was up; `None` without data.
    pub availability: Option<f64>,
    pub availability_prev: Option<f64>,
    /// 1 at the start of the week; negative when the budget is overspent.
    pub budget_remaining: Option<f64>,
    pub down_seconds: i64,
    /// Messages over the week (hourly mean rates × 3600).
    pub messages_in: f64,
    pub messages_out: f64,
    pub bytes: f64,
    pub messages_prev: Option<f64>,
}

/// Health of one role against its targets, this week and the week before.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleSummary {
    pub role: String,
    pub nodes: usize,
    pub slo: Slo,
    /// Mean of the nodes' availability.
    pub availability: Option<f64>,
    pub availability_prev: Option<f64>,
    /// The 99th percentile of the nodes' hourly p99 latency.
    pub p99: Option<f64>,
    pub p99_prev: Option<f64>,
    /// The highest hourly backlog peak of any node.
    pub backlog: Option<f64>,
    pub backlog_prev: Option<f64>,
    /// The highest weekly mean error rate of any node.
    pub errors: Option<f64>,
    pub errors_prev: Option<f64>,
    /// Node-hours with BGP/EVPN peers down.
    pub peer_down_hours: usize,
    pub peer_down_hours_prev: Option<usize>,
    pub messages: f64,
    pub messages_prev: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Incident {
    pub start: i64,
    pub duration: i64,
    pub node: String,
    pub role: String,
    pub what: String,
}

/// A run of missing points in one node's series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gap {
    pub node: String,
    pub metric: &'static str,
    pub start: i64,
    pub end: i64,
    pub points: usize,
}

/// Mesh-wide series per hour of the week (index = hours since the week's start).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hourly {
    pub messages_in: Vec<f64>,
    pub messages_out: Vec<f64>,
    pub messages_in_prev: Vec<f64>,
    pub messages_out_prev: Vec<f64>,
    pub errors: Vec<f64>,
    pub drops: Vec<f64>,
    pub errors_prev: Vec<f64>,
    pub drops_prev: Vec<f64>,
    /// Sum of the nodes' hourly backlog peaks, per role.
    pub backlog_by_role: BTreeMap<String, Vec<f64>>,
    pub peers_down: Vec<f64>,
    pub fabric_drops: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub label: String,
    /// Mean of the nodes' hourly mean p50.
    pub p50: f64,
    /// The worst node-hour's mean p99.
    pub p99: f64,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub this: WeekData,
    /// `None` when the source has nothing for the week before.
    pub prev: Option<WeekData>,
    pub nodes: Vec<NodeSummary>,
    pub roles: Vec<RoleSummary>,
    pub hourly: Hourly,
    pub days: Vec<Day>,
    pub incidents: Vec<Incident>,
    pub gaps: Vec<Gap>,
    pub sentences: Vec<String>,
}

/// Sum over nodes per index, skipping missing values; NaN where every node is missing.
fn sum_series<'a>(series: impl Iterator<Item = &'a [f64]>, n: usize, scale: f64) -> Vec<f64> {
    let mut out = vec![f64::NAN; n];
    for s in series {
        for (o, v) in out.iter_mut().zip(s) {
            if v.is_finite() {
                *o = if o.is_nan() {
                    v * scale
                } else {
                    *o + v * scale
                };
            }
        }
    }
    out
}

fn finite(s: &[f64]) -> impl Iterator<Item = f64> + '_ {
    s.iter().copied().filter(|v| v.is_finite())
}

/// Nearest-rank percentile of the finite values.
pub fn percentile(mut v: Vec<f64>, q: f64) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

fn max(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
}

fn availability(n: &NodeData) -> Option<f64> {
    let up = n.get(Metric::Up)?;
    let present = finite(up).count();
    (present > 0).then(|| finite(up).filter(|v| *v >= 1.0).count() as f64 / present as f64)
}

fn total(n: &NodeData, m: Metric) -> f64 {
    n.get(m)
        .map_or(0.0, |s| finite(s).sum::<f64>() * HOUR as f64)
}

/// How a limit and its peak are printed in an incident.
type Show = dyn Fn(f64) -> String;

/// Runs of indices where `pred` holds: (first, length).
fn runs(s: &[f64], pred: impl Fn(f64) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, v) in s.iter().enumerate() {
        match (pred(*v), start) {
            (true, None) => start = Some(i),
            (false, Some(b)) => {
                out.push((b, i - b));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(b) = start {
        out.push((b, s.len() - b));
    }
    out
}

struct RoleWeek {
    availability: Option<f64>,
    p99: Option<f64>,
    backlog: Option<f64>,
    errors: Option<f64>,
    peer_down_hours: usize,
    messages: f64,
}

fn role_week(w: &WeekData, role: &str) -> RoleWeek {
    let nodes: Vec<&NodeData> = w.nodes.values().filter(|n| n.role == role).collect();
    let all = |m: Metric| -> Vec<f64> {
        nodes
            .iter()
            .filter_map(|n| n.get(m))
            .flat_map(finite)
            .collect()
    };
    RoleWeek {
        availability: mean(nodes.iter().filter_map(|n| availability(n))),
        p99: percentile(all(Metric::LatencyP99), 0.99),
        backlog: max(all(Metric::Backlog).into_iter()),
        errors: max(nodes
            .iter()
            .filter_map(|n| n.get(Metric::Errors).and_then(|s| mean(finite(s))))),
        peer_down_hours: all(Metric::BgpPeersDown)
            .iter()
            .filter(|v| **v > 0.0)
            .count(),
        messages: nodes.iter().map(|n| total(n, Metric::MessagesIn)).sum(),
    }
}

impl Report {
    pub fn new(this: WeekData, prev: Option<WeekData>, slo: &SloConfig) -> Report {
        let prev = prev.filter(|p| !p.nodes.is_empty());
        let hours = this.period.hours();
        let tz = this.period.tz;
        let start = this.period.start.timestamp();

        let nodes: Vec<NodeSummary> = this
            .nodes
            .iter()
            .map(|(name, n)| {
                let s = slo.node(&n.role, name);
                let a = availability(n);
                let p = prev.as_ref().and_then(|p| p.nodes.get(name));
                NodeSummary {
                    node: name.clone(),
                    role: n.role.clone(),
                    slo: s,
                    availability: a,
                    availability_prev: p.and_then(availability),
                    budget_remaining: a.map(|a| 1.0 - (1.0 - a) / (1.0 - s.availability)),
                    down_seconds: n.get(Metric::Up).map_or(0, |u| {
                        u.iter().filter(|v| **v < 1.0).count() as i64 * UP_STEP
                    }),
                    messages_in: total(n, Metric::MessagesIn),
                    messages_out: total(n, Metric::MessagesOut),
                    bytes: total(n, Metric::BytesIn) + total(n, Metric::BytesOut),
                    messages_prev: p
                        .map(|p| total(p, Metric::MessagesIn) + total(p, Metric::MessagesOut)),
                }
            })
            .collect();

        let mut role_names: Vec<String> = this.nodes.values().map(|n| n.role.clone()).collect();
        role_names.sort();
        role_names.dedup();
        let roles = role_names
            .iter()
            .map(|r| {
                let now = role_week(&this, r);
                let before = prev
                    .as_ref()
                    .map(|p| role_week(p, r))
                    .filter(|b| b.availability.is_some());
                RoleSummary {
                    role: r.clone(),
                    nodes: this.nodes.values().filter(|n| &n.role == r).count(),
                    slo: slo.role(r),
                    availability: now.availability,
                    availability_prev: before.as_ref().and_then(|b| b.availability),
                    p99: now.p99,
                    p99_prev: before.as_ref().and_then(|b| b.p99),
                    backlog: now.backlog,
                    backlog_prev: before.as_ref().and_then(|b| b.backlog),
                    errors: now.errors,
                    errors_prev: before.as_ref().and_then(|b| b.errors),
                    peer_down_hours: now.peer_down_hours,
                    peer_down_hours_prev: before.as_ref().map(|b| b.peer_down_hours),
                    messages: now.messages,
                    messages_prev: before.as_ref().map(|b| b.messages),
                }
            })
            .collect();

        let sum = |w: &WeekData, m: Metric, scale: f64| {
            sum_series(w.nodes.values().filter_map(|n| n.get(m)), hours, scale)
        };
        let sum_prev = |m: Metric, scale: f64| match &prev {
            Some(p) => sum(p, m, scale),
            None => vec![f64::NAN; hours],
        };
        let mut backlog_by_role = BTreeMap::new();
        for r in &role_names {
            let s = sum_series(
                this.nodes
                    .values()
                    .filter(|n| &n.role == r)
                    .filter_map(|n| n.get(Metric::Backlog)),
                hours,
                1.0,
            );
            if s.iter().any(|v| v.is_finite()) {
                backlog_by_role.insert(r.clone(), s);
            }
        }
        let hourly = Hourly {
            messages_in: sum(&this, Metric::MessagesIn, HOUR as f64),
            messages_out: sum(&this, Metric::MessagesOut, HOUR as f64),
            messages_in_prev: sum_prev(Metric::MessagesIn, HOUR as f64),
            messages_out_prev: sum_prev(Metric::MessagesOut, HOUR as f64),
            errors: sum(&this, Metric::Errors, 1.0),
            drops: sum(&this, Metric::Drops, 1.0),
            errors_prev: sum_prev(Metric::Errors, 1.0),
            drops_prev: sum_prev(Metric::Drops, 1.0),
            backlog_by_role,
            peers_down: sum(&this, Metric::BgpPeersDown, 1.0),
            fabric_drops: sum(&this, Metric::FabricDrops, 1.0),
        };

        // Days in the deck's zone: hour i belongs to the local date of its start.
        let mut days: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
        for h in 0..hours {
            let label = crate::format::local(start + h as i64 * HOUR, tz);
            let day = label.split(' ').take(3).collect::<Vec<_>>().join(" ");
            if days.last().is_none_or(|d| d.0 != day) {
                days.push((day, Vec::new(), Vec::new()));
            }
            if let Some(d) = days.last_mut() {
                for n in this.nodes.values() {
                    if let Some(v) = n.get(Metric::LatencyP50).and_then(|s| s.get(h)) {
                        d.1.push(*v);
                    }
                    if let Some(v) = n.get(Metric::LatencyP99).and_then(|s| s.get(h)) {
                        d.2.push(*v);
                    }
                }
            }
        }
        let days = days
            .into_iter()
            .map(|(label, p50, p99)| Day {
                label,
                p50: mean(finite(&p50)).unwrap_or(f64::NAN),
                p99: max(finite(&p99)).unwrap_or(f64::NAN),
            })
            .collect();

        let mut incidents = Vec::new();
        let mut gaps = Vec::new();
        for (name, n) in &this.nodes {
            let s = slo.node(&n.role, name);
            let mut add = |i: usize, len: usize, step: i64, what: String| {
                incidents.push(Incident {
                    start: start + i as i64 * step,
                    duration: len as i64 * step,
                    node: name.clone(),
                    role: n.role.clone(),
                    what,
                })
            };
            if let Some(up) = n.get(Metric::Up) {
                for (i, len) in runs(up, |v| v < 1.0) {
                    add(i, len, UP_STEP, "down".into());
                }
            }
            let over = |m: Metric, target: f64| -> Vec<(usize, usize, f64)> {
                let Some(v) = n.get(m) else { return Vec::new() };
                runs(v, |x| x > target)
                    .into_iter()
                    .map(|(i, len)| (i, len, max(finite(&v[i..i + len])).unwrap_or(f64::NAN)))
                    .collect()
            };
            let fmt_rate = |v: f64| format!("{}/s", crate::format::si(v));
            let limits: [(Metric, &str, f64, &Show); 3] = [
                (
                    Metric::LatencyP99,
                    "p99 latency",
                    s.latency_p99_seconds,
                    &crate::format::latency,
                ),
                (
                    Metric::Backlog,
                    "backlog",
                    s.backlog_messages,
                    &crate::format::si,
                ),
                (Metric::Errors, "errors", s.errors_per_second, &fmt_rate),
            ];
            for (m, what, target, show) in limits {
                for (i, len, peak) in over(m, target) {
                    add(
                        i,
                        len,
                        HOUR,
                        format!("{what} over {} (peak {})", show(target), show(peak)),
                    );
                }
            }
            for (m, v) in &n.series {
                let (first, _) = m.range(&this.period, this.as_of);
                let due = m.points_due(&this.period, this.as_of).min(v.len());
                for (i, len) in runs(&v[..due], f64::is_nan) {
                    gaps.push(Gap {
                        node: name.clone(),
                        metric: m.record(),
                        start: first + (i as i64) * m.step(),
                        end: first + ((i + len) as i64) * m.step(),
                        points: len,
                    });
                }
            }
        }
        incidents.sort();
        gaps.sort_by(|a, b| (a.start, &a.node, a.metric).cmp(&(b.start, &b.node, b.metric)));

        let mut r = Report {
            this,
            prev,
            nodes,
            roles,
            hourly,
            days,
            incidents,
            gaps,
            sentences: Vec::new(),
        };
        r.sentences = sentences::sentences(&r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_percentiles() {
        let s = [1.0, 0.0, 0.0, 1.0, f64::NAN, 0.0];
        assert_eq!(runs(&s, |v| v < 1.0), vec![(1, 2), (5, 1)]);
        assert_eq!(runs(&s, f64::is_nan), vec![(4, 1)]);
        assert_eq!(
            percentile((1..=100).map(f64::from).collect(), 0.99),
            Some(99.0)
        );
        assert_eq!(percentile(vec![f64::NAN], 0.5), None);
        let sums = sum_series(
            [&[1.0, f64::NAN, f64::NAN][..], &[2.0, 3.0, f64::NAN][..]].into_iter(),
            3,
            1.0,
        );
        assert_eq!(sums[..2], [3.0, 3.0]);
        assert!(sums[2].is_nan(), "a gap in every node stays a gap");
    }
}
