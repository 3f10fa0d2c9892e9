//! Fetching a week: every [`Metric`] as range queries split under Prometheus's cap of
//! 11,000 points per series, run with bounded concurrency, each retried with backoff when
//! the source is unreachable or answers 5xx. Points are placed by timestamp on the step
//! grid; a missing point stays a gap (NaN), never filled.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use meshscope_source::{Metric as Labels, Source, SourceError};

use super::{Metric, NodeData, QueryInfo, WeekData};
use crate::week::Period;

/// Prometheus refuses range queries of more than 11,000 points per series.
pub const MAX_POINTS: i64 = 11_000;

#[derive(Clone, Copy, Debug)]
pub struct FetchOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Attempts after the first.
    pub retries: u32,
    /// The first wait between attempts; doubled each time.
    pub backoff: Duration,
    pub max_points: i64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            concurrency: 4,
            retries: 3,
            backoff: Duration::from_millis(500),
            max_points: MAX_POINTS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{error} (gave up after {attempts} attempts)")]
    Source { error: SourceError, attempts: u32 },
    #[error("{0}")]
    Query(SourceError),
    #[error(
        "{url} has no mesh-model data for {week} ({dates}, {tz}): {record} returned no series. \
         Is the collector scraping, and does the source evaluate the mesh-model rules?"
    )]
    NoData {
        url: String,
        week: String,
        dates: String,
        tz: String,
        record: String,
    },
}

/// `[start, end]` at `step` as ranges of at most `max` points each.
pub fn chunks(start: i64, end: i64, step: i64, max: i64) -> Vec<(i64, i64)> {
    let step = step.max(1);
    let span = step * (max.max(1) - 1);
    let mut out = Vec::new();
    let mut s = start;
    while s <= end {
        let e = (s + span).min(end);
        out.push((s, e));
        s = e + step;
    }
    out
}

fn retryable(e: &SourceError) -> bool {
    matches!(
        e,
        SourceError::Unreachable { .. } | SourceError::Other { .. }
    )
}

async fn range_with_retries(
    source: &Source,
    expr: &str,
    (start, end, step): (i64, i64, i64),
    o: &FetchOptions,
) -> Result<Vec<(Labels, Vec<(f64, f64)>)>, FetchError> {
    let mut wait = o.backoff;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match source.range(expr, start, end, step as f64).await {
            Ok(r) => return Ok(r),
            Err(e) if retryable(&e) && attempt <= o.retries => {
                tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "Range query failed; retrying.");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) if retryable(&e) => {
                return Err(FetchError::Source {
                    error: e,
                    attempts: attempt,
                })
            }
            Err(e) => return Err(FetchError::Query(e)),
        }
    }
}

struct Request {
    week: usize,
    metric: Metric,
    range: (i64, i64, i64),
}

/// Fetch the given periods (this week first, then the one before) as far as `as_of`
/// (Unix seconds); `progress` is told of each finished request (done, total).
pub async fn fetch(
    source: &Source,
    periods: &[Period],
    as_of: i64,
    o: &FetchOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Vec<WeekData>, FetchError> {
    let mut requests = Vec::new();
    let mut weeks: Vec<WeekData> = periods
        .iter()
        .map(|p| WeekData::empty(*p, as_of, source.url()))
        .collect();
    for (w, p) in periods.iter().enumerate() {
        for m in Metric::ALL {
            let (s, e) = m.range(p, as_of);
            let parts = chunks(s, e, m.step(), o.max_points);
            weeks[w].queries.push(QueryInfo {
                metric: m,
                expr: m.expr(),
                start: s,
                end: e,
                step: m.step(),
                requests: parts.len(),
                series: 0,
                samples: 0,
            });
            for (cs, ce) in parts {
                requests.push(Request {
                    week: w,
                    metric: m,
                    range: (cs, ce, m.step()),
                });
            }
        }
    }
    let total = requests.len() as u64;
    let mut done = 0u64;
    progress(0, total);
    let mut results = stream::iter(requests)
        .map(|r| async move {
            let expr = r.metric.expr();
            let out = range_with_retries(source, &expr, r.range, o).await;
            (r, out)
        })
        .buffer_unordered(o.concurrency.max(1));
    while let Some((r, out)) = results.next().await {
        let series = out?;
        done += 1;
        progress(done, total);
        place(&mut weeks[r.week], r.metric, series);
    }
    let first = &weeks[0];
    if first.nodes.values().all(|n| n.get(Metric::Up).is_none()) {
        return Err(FetchError::NoData {
            url: source.url().to_string(),
            week: first.period.week.to_string(),
            dates: first.period.dates(),
            tz: first.period.tz.name().to_string(),
            record: Metric::Up.record().to_string(),
        });
    }
    Ok(weeks)
}

/// Put the points of one response on the week's grid, by node.
fn place(week: &mut WeekData, m: Metric, series: Vec<(Labels, Vec<(f64, f64)>)>) {
    let (start, _) = m.range(&week.period, week.as_of);
    let n = m.points(&week.period);
    let step = m.step() as f64;
    let info = week.queries.iter_mut().find(|q| q.metric == m);
    let mut new_series = 0;
    let mut samples = 0;
    for (labels, points) in series {
        let Some(node) = labels.get("node").filter(|n| !n.is_empty()) else {
            continue;
        };
        let role = labels.get("role").cloned().unwrap_or_default();
        let entry = week.nodes.entry(node.clone()).or_insert_with(|| NodeData {
            role: role.clone(),
            ..NodeData::default()
        });
        if entry.role.is_empty() {
            entry.role = role;
        }
        let values = entry.series.entry(m).or_insert_with(|| {
            new_series += 1;
            vec![f64::NAN; n]
        });
        for (t, v) in points {
            let i = ((t - start as f64) / step).round();
            if i >= 0.0 && (i as usize) < n {
                values[i as usize] = v;
                samples += 1;
            }
        }
    }
    if let Some(q) = info {
        q.series += new_series;
        q.samples += samples;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_stay_under_the_cap_and_cover_the_range() {
        // A week at 15 s is 40,320 points: four requests.
        let c = chunks(0, 604_800 - 15, 15, MAX_POINTS);
        assert_eq!(c.len(), 4);
        let mut next = 0;
        for (s, e) in &c {
            assert_eq!(*s, next);
            assert!((e - s) / 15 < MAX_POINTS, "at most MAX_POINTS points");
            next = e + 15;
        }
        assert_eq!(next, 604_800);
        assert_eq!(chunks(0, 100, 10, 11), vec![(0, 100)]);
        assert_eq!(chunks(0, 100, 10, 5), vec![(0, 40), (50, 90), (100, 100)]);
        assert!(chunks(10, 0, 10, 5).is_empty());
    }
}
