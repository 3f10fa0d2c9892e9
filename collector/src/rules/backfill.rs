//! Evaluate recording rules over data already stored, like `promtool tsdb
//! create-blocks-from rules`: one block range at a time, every rule as a range query at
//! its group's interval, the results written as one block per range. A rule sees what
//! the rules before it recorded, in this range (through an overlay) and in earlier ones
//! (already written), so rules built on other rules backfill too. Alerting rules are
//! skipped, as promtool skips them.

use std::collections::BTreeMap;

use super::{Group, RuleKind};
use crate::promql::test_script::MemStore;
use crate::promql::{self, EvalOptions, Value};
use crate::tsdb::{Db, Labels, Matcher, Queryable, SeriesChunks};

/// The store with the ranges' new series on top.
struct Overlay<'a> {
    base: &'a Db,
    top: &'a MemStore,
}

impl Queryable for Overlay<'_> {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        let mut by: BTreeMap<Labels, SeriesChunks> = BTreeMap::new();
        for s in self
            .base
            .select(matchers, mint, maxt)
            .into_iter()
            .chain(self.top.select(matchers, mint, maxt))
        {
            match by.get_mut(&s.labels) {
                Some(e) => e.chunks.extend(s.chunks),
                None => {
                    by.insert(s.labels.clone(), s);
                }
            }
        }
        by.into_values().collect()
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut v = self.base.series(matchers, mint, maxt);
        v.extend(self.top.series(matchers, mint, maxt));
        v.sort();
        v.dedup();
        v
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut v = self.base.label_names(matchers, mint, maxt);
        v.extend(self.top.label_names(matchers, mint, maxt));
        v.sort();
        v.dedup();
        v
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut v = self.base.label_values(name, matchers, mint, maxt);
        v.extend(self.top.label_values(name, matchers, mint, maxt));
        v.sort();
        v.dedup();
        v
    }
}

/// What a backfill wrote.
#[derive(Debug, Default)]
pub struct BackfillStats {
    pub rules: usize,
    pub skipped_alerting: usize,
    pub series: usize,
    pub samples: u64,
    pub blocks: usize,
}

/// Evaluate `groups`' recording rules over `[start, end]` (ms) into `db`.
/// `default_interval_ms` is the step of groups without an interval; `progress` gets
/// (ranges done, ranges in all).
pub fn backfill(
    db: &Db,
    groups: &[Group],
    start: i64,
    end: i64,
    default_interval_ms: i64,
    opts: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<BackfillStats, String> {
    if end < start {
        return Err("--end must not be before --start".into());
    }
    let range = db.options().block_range_ms;
    let first = start.div_euclid(range);
    let last = end.div_euclid(range);
    let total = (last - first + 1) as usize;
    let mut st = BackfillStats::default();
    for g in groups {
        for r in &g.rules {
            match r.kind {
                RuleKind::Recording => st.rules += 1,
                RuleKind::Alerting { .. } => st.skipped_alerting += 1,
            }
        }
    }
    let mut series_seen = std::collections::HashSet::new();
    for (done, b) in (first..=last).enumerate() {
        let (bmin, bmax) = ((b * range).max(start), ((b + 1) * range - 1).min(end));
        let mut top = MemStore::default();
        let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
        for g in groups {
            let step = g.interval_ms.unwrap_or(default_interval_ms).max(1);
            // Evaluation times aligned to the step, as a running group would have them.
            let mut s = bmin.div_euclid(step) * step;
            if s < bmin {
                s += step;
            }
            if s > bmax {
                continue;
            }
            for r in &g.rules {
                if r.kind != RuleKind::Recording {
                    continue;
                }
                let overlay = Overlay {
                    base: db,
                    top: &top,
                };
                let v = promql::range_query_expr(&overlay, &r.parsed, s, bmax, step, opts)
                    .map_err(|e| format!("rule {:?} of group {:?}: {e}", r.name, g.name))?;
                let Value::Matrix(series) = v else { continue };
                for sr in series {
                    let mut pairs: BTreeMap<String, String> = sr
                        .labels
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect();
                    pairs.insert("__name__".into(), r.name.clone());
                    for (k, v) in &r.labels {
                        if v.is_empty() {
                            pairs.remove(k);
                        } else {
                            pairs.insert(k.clone(), v.clone());
                        }
                    }
                    let labels = Labels::from_pairs(pairs);
                    out.entry(labels).or_default().extend(sr.points);
                }
                // Later rules of this range see this one's output.
                for (l, pts) in &out {
                    if l.name() == Some(r.name.as_str()) {
                        top.add(l.clone(), pts);
                    }
                }
            }
        }
        let mut w = db
            .block_writer(b * range, (b + 1) * range)
            .map_err(|e| e.to_string())?;
        let mut n = 0u64;
        for (labels, mut pts) in out {
            pts.sort_by_key(|p| p.0);
            pts.dedup_by_key(|p| p.0);
            n += pts.len() as u64;
            series_seen.insert(labels.hash64());
            if let Err(e) = w.add_series(&labels, pts.into_iter()) {
                w.abort();
                return Err(e.to_string());
            }
        }
        if n > 0 {
            st.blocks += 1;
        }
        st.samples += n;
        db.import_block(w).map_err(|e| e.to_string())?;
        progress(done + 1, total);
    }
    st.series = series_seen.len();
    Ok(st)
}
