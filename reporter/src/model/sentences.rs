//! The three sentences of the summary: the changes that matter most, ranked. Nodes under
//! their availability target come first (the more budget overspent, the higher), then
//! latency that crossed its target, then the largest relative changes week over week.

use super::Report;
use crate::format::{duration, latency, pct, si};

fn title(role: &str) -> String {
    let mut c = role.chars();
    c.next()
        .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
}

fn rel(now: f64, before: f64) -> Option<f64> {
    (before.is_finite() && now.is_finite() && before != 0.0).then(|| (now - before) / before.abs())
}

pub fn sentences(r: &Report) -> Vec<String> {
    let mut c: Vec<(f64, String)> = Vec::new();
    let hours = r.this.period.hours().max(1) as f64;
    for role in &r.roles {
        if let Some(x) = role.messages_prev.and_then(|b| rel(role.messages, b)) {
            if role.messages > 0.0 {
                let verb = if x >= 0.0 { "rose" } else { "fell" };
                c.push((
                    x.abs(),
                    format!(
                        "{} traffic {verb} {:.0}% week over week, to {} messages an hour on average.",
                        title(&role.role),
                        x.abs() * 100.0,
                        si(role.messages / hours)
                    ),
                ));
            }
        }
        if let (Some(now), Some(x)) = (
            role.p99,
            role.p99.zip(role.p99_prev).and_then(|(n, b)| rel(n, b)),
        ) {
            let target = role.slo.latency_p99_seconds;
            let before = role.p99_prev.unwrap_or(f64::NAN);
            let crossed = (now > target) != (before > target);
            let verb = if x >= 0.0 { "rose" } else { "fell" };
            let state = if now > target { "over" } else { "within" };
            c.push((
                x.abs() + if crossed { 5.0 } else { 0.0 },
                format!(
                    "{} p99 latency {verb} from {} to {}, {state} its {} target.",
                    title(&role.role),
                    latency(before),
                    latency(now),
                    latency(target)
                ),
            ));
        }
        if let (Some(now), None) = (role.p99, role.p99_prev) {
            if now > role.slo.latency_p99_seconds {
                c.push((
                    0.5 + now / role.slo.latency_p99_seconds - 1.0,
                    format!(
                        "{} p99 latency reached {}, over its {} target.",
                        title(&role.role),
                        latency(now),
                        latency(role.slo.latency_p99_seconds)
                    ),
                ));
            }
        }
    }
    for n in &r.nodes {
        if let Some(a) = n.availability {
            if a < n.slo.availability {
                let downs = r
                    .incidents
                    .iter()
                    .filter(|i| i.node == n.node && i.what == "down")
                    .count();
                let budget = n.budget_remaining.unwrap_or(0.0);
                c.push((
                    // A node under its availability target outranks any change in traffic.
                    10.0 + (1.0 - budget).min(10.0),
                    format!(
                        "{} was down {} time{} for {} in all: {} available against {}, {}.",
                        n.node,
                        downs,
                        if downs == 1 { "" } else { "s" },
                        duration(n.down_seconds),
                        pct(a),
                        pct(n.slo.availability),
                        if budget < 0.0 {
                            "its error budget overspent".to_string()
                        } else {
                            format!("{} of its error budget left", pct(budget))
                        }
                    ),
                ));
            }
        }
    }
    c.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut out: Vec<String> = c.into_iter().map(|(_, s)| s).take(3).collect();
    // A quiet week still gets its three lines.
    let fillers = [
        format!(
            "{} nodes in {} roles reported this week; {} incident{} recorded.",
            r.nodes.len(),
            r.roles.len(),
            r.incidents.len(),
            if r.incidents.len() == 1 { "" } else { "s" }
        ),
        {
            let all = r
                .hourly
                .messages_in
                .iter()
                .filter(|v| v.is_finite())
                .sum::<f64>();
            format!("The mesh carried {} messages in.", si(all))
        },
        match r
            .nodes
            .iter()
            .filter_map(|n| n.availability.map(|a| (a, n)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
        {
            Some((a, n)) => format!("The least available node was {} at {}.", n.node, pct(a)),
            None => "No node reported its health.".to_string(),
        },
    ];
    for f in fillers {
        if out.len() >= 3 {
            break;
        }
        out.push(f);
    }
    out
}
