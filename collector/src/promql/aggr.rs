//! Aggregation operators. Groups are computed once per input series; values are then
//! aggregated step by step.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::{exec_err, unwrap_parens, Ev, EvalResult, Val};
use super::functions::quantile;
use super::{format_float, Series};
use crate::tsdb::Labels;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
}

#[derive(Clone, Copy, Default)]
struct Acc {
    n: f64,
    value: f64,
    mean: f64,
}

/// The labels a series is grouped by.
fn group_labels(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        None => Labels::default(),
        Some(LabelModifier::Include(names)) => {
            l.retain_names(|n| names.labels.iter().any(|x| x.as_bytes() == n))
        }
        Some(LabelModifier::Exclude(names)) => {
            l.retain_names(|n| n != b"__name__" && !names.labels.iter().any(|x| x.as_bytes() == n))
        }
    }
}

fn nan_first_less(a: f64, b: f64) -> bool {
    a.is_nan() || a < b
}

impl Ev<'_> {
    pub(super) fn aggregate(&mut self, a: &AggregateExpr) -> EvalResult<Val> {
        let op = match a.op.to_string().as_str() {
            "sum" => Op::Sum,
            "avg" => Op::Avg,
            "count" => Op::Count,
            "min" => Op::Min,
            "max" => Op::Max,
            "group" => Op::Group,
            "stddev" => Op::Stddev,
            "stdvar" => Op::Stdvar,
            "topk" => Op::Topk,
            "bottomk" => Op::Bottomk,
            "count_values" => Op::CountValues,
            "quantile" => Op::Quantile,
            other => return exec_err(format!("unknown aggregation operator {other:?}")),
        };
        let n = self.nsteps();
        let mut param = vec![0.0; n];
        let mut value_label = String::new();
        match op {
            Op::Topk | Op::Bottomk | Op::Quantile => {
                if let Some(p) = &a.param {
                    param = self.eval_scalar(p)?;
                }
            }
            Op::CountValues => {
                if let Some(p) = &a.param {
                    value_label = match unwrap_parens(p) {
                        promql_parser::parser::Expr::StringLiteral(s) => s.val.clone(),
                        _ => return exec_err("count_values needs a string parameter"),
                    };
                }
                let valid = {
                    let mut b = value_label.bytes();
                    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
                        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
                };
                if !valid {
                    return exec_err(format!("invalid label name {value_label:?}"));
                }
            }
            _ => {}
        }
        let input = self.eval_vector(&a.expr)?;
        // Group of each input series, groups in order of first appearance.
        let mut group_of = Vec::with_capacity(input.len());
        let mut groups: Vec<Labels> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in &input {
            let mut key = group_labels(&s.labels, &a.modifier);
            if op == Op::CountValues {
                // The value label replaces a label of that name.
                key = Labels::from_pairs(key.iter().filter(|(n, _)| *n != value_label));
            }
            let g = match index.get(&key) {
                Some(&g) => g,
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push(key);
                    groups.len() - 1
                }
            };
            group_of.push(g);
        }
        let steps: Vec<i64> = self.steps().collect();
        let mut cursors = vec![0usize; input.len()];
        let mut accs = vec![Acc::default(); groups.len()];
        let mut touched: Vec<usize> = Vec::new();
        let mut out_points: Vec<Vec<(i64, f64)>> = vec![Vec::new(); groups.len()];
        // topk/bottomk: selected input series per output; quantile: values per group;
        // count_values: (group, value) outputs.
        let mut sel_points: Vec<Vec<(i64, f64)>> = Vec::new();
        let mut sel_order: Vec<usize> = Vec::new();
        let mut heaps: Vec<Vec<(usize, f64)>> = Vec::new();
        let mut values: Vec<Vec<f64>> = Vec::new();
        let mut cv_index: HashMap<(usize, String), usize> = HashMap::new();
        let mut cv_series: Vec<Series> = Vec::new();
        let mut cv_counts: Vec<f64> = Vec::new();
        match op {
            Op::Topk | Op::Bottomk => {
                sel_points = vec![Vec::new(); input.len()];
                heaps = vec![Vec::new(); groups.len()];
            }
            Op::Quantile => values = vec![Vec::new(); groups.len()],
            _ => {}
        }
        let mut first_seen = vec![usize::MAX; input.len()];
        for (si, &t) in steps.iter().enumerate() {
            if si % 256 == 0 {
                self.check_deadline()?;
            }
            touched.clear();
            let k = param[si];
            let k = if k.is_nan() || k < 1.0 {
                0
            } else if k > input.len() as f64 {
                input.len()
            } else {
                k as usize
            };
            let mut cv_touched: Vec<usize> = Vec::new();
            for (i, s) in input.iter().enumerate() {
                let c = &mut cursors[i];
                while *c < s.points.len() && s.points[*c].0 < t {
                    *c += 1;
                }
                let Some(&(pt, v)) = s.points.get(*c) else {
                    continue;
                };
                if pt != t {
                    continue;
                }
                let g = group_of[i];
                let acc = &mut accs[g];
                let new = acc.n == 0.0;
                if new {
                    touched.push(g);
                }
                match op {
                    Op::Sum => {
                        acc.value = if new { v } else { acc.value + v };
                    }
                    Op::Avg => {
                        if new {
                            acc.mean = v;
                        } else {
                            let cnt = acc.n + 1.0;
                            let skip = acc.mean.is_infinite()
                                && ((v.is_infinite() && (acc.mean > 0.0) == (v > 0.0))
                                    || (!v.is_infinite() && !v.is_nan()));
                            if !skip {
                                acc.mean += v / cnt - acc.mean / cnt;
                            }
                        }
                    }
                    Op::Count | Op::Group => {}
                    Op::Min => {
                        if new || acc.value > v || acc.value.is_nan() {
                            acc.value = v;
                        }
                    }
                    Op::Max => {
                        if new || acc.value < v || acc.value.is_nan() {
                            acc.value = v;
                        }
                    }
                    Op::Stddev | Op::Stdvar => {
                        if new {
                            acc.mean = v;
                            acc.value = 0.0;
                        } else {
                            let cnt = acc.n + 1.0;
                            let delta = v - acc.mean;
                            acc.mean += delta / cnt;
                            acc.value += delta * (v - acc.mean);
                        }
                    }
                    Op::Topk | Op::Bottomk => {
                        if new {
                            heaps[g].clear();
                        }
                        if k > 0 {
                            push_heap(&mut heaps[g], (i, v), k, op == Op::Topk);
                        }
                    }
                    Op::Quantile => {
                        if new {
                            values[g].clear();
                        }
                        values[g].push(v);
                    }
                    Op::CountValues => {
                        let key = (g, format_float(v));
                        let o = match cv_index.get(&key) {
                            Some(&o) => o,
                            None => {
                                let labels = Labels::from_pairs(groups[g].iter().chain(
                                    std::iter::once((value_label.as_str(), key.1.as_str())),
                                ));
                                cv_index.insert(key, cv_series.len());
                                cv_series.push(Series {
                                    labels,
                                    points: Vec::new(),
                                });
                                cv_counts.push(0.0);
                                cv_series.len() - 1
                            }
                        };
                        if cv_counts[o] == 0.0 {
                            cv_touched.push(o);
                        }
                        cv_counts[o] += 1.0;
                    }
                }
                acc.n += 1.0;
            }
            // Emit this step.
            match op {
                Op::Topk | Op::Bottomk => {
                    for &g in &touched {
                        let mut h = std::mem::take(&mut heaps[g]);
                        // Output order: topk descending, bottomk ascending (NaN last).
                        if op == Op::Topk {
                            h.sort_by(|a, b| cmp_desc(a.1, b.1));
                        } else {
                            h.sort_by(|a, b| cmp_asc(a.1, b.1));
                        }
                        for (i, v) in h.iter().copied() {
                            if first_seen[i] == usize::MAX {
                                first_seen[i] = sel_order.len();
                                sel_order.push(i);
                            }
                            sel_points[i].push((t, v));
                        }
                        heaps[g] = h;
                    }
                }
                Op::CountValues => {
                    for o in cv_touched {
                        cv_series[o].points.push((t, cv_counts[o]));
                        cv_counts[o] = 0.0;
                    }
                }
                _ => {
                    for &g in &touched {
                        let acc = accs[g];
                        let v = match op {
                            Op::Sum | Op::Min | Op::Max => acc.value,
                            Op::Avg => acc.mean,
                            Op::Count => acc.n,
                            Op::Group => 1.0,
                            Op::Stdvar => acc.value / acc.n,
                            Op::Stddev => (acc.value / acc.n).sqrt(),
                            Op::Quantile => quantile(param[si], &mut values[g]),
                            _ => f64::NAN,
                        };
                        out_points[g].push((t, v));
                    }
                }
            }
            for &g in &touched {
                accs[g] = Acc::default();
            }
        }
        let out: Vec<Series> = match op {
            Op::Topk | Op::Bottomk => {
                if self.nsteps() == 1 {
                    // Instant: groups in order, each group's selection in heap order.
                    let mut v = Vec::new();
                    for i in sel_order {
                        v.push(Series {
                            labels: input[i].labels.clone(),
                            points: std::mem::take(&mut sel_points[i]),
                        });
                    }
                    v
                } else {
                    sel_order
                        .into_iter()
                        .map(|i| Series {
                            labels: input[i].labels.clone(),
                            points: std::mem::take(&mut sel_points[i]),
                        })
                        .collect()
                }
            }
            Op::CountValues => cv_series,
            _ => groups
                .into_iter()
                .zip(out_points)
                .filter(|(_, p)| !p.is_empty())
                .map(|(labels, points)| Series { labels, points })
                .collect(),
        };
        let total: usize = out.iter().map(|s| s.points.len()).sum();
        self.add_samples(total)?;
        Ok(Val::Vector(out))
    }
}

fn cmp_desc(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => b.partial_cmp(&a).unwrap_or(Equal),
    }
}

fn cmp_asc(a: f64, b: f64) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        _ => a.partial_cmp(&b).unwrap_or(Equal),
    }
}

/// Keep the `k` largest (topk) or smallest (bottomk) values, as Prometheus's heap does:
/// a new value replaces the current worst only when strictly better (NaN is worst).
fn push_heap(h: &mut Vec<(usize, f64)>, item: (usize, f64), k: usize, top: bool) {
    if h.len() < k {
        h.push(item);
        return;
    }
    // The worst kept element.
    let worse = |a: f64, b: f64| -> bool {
        // Whether a is worse than b.
        if top {
            nan_first_less(a, b)
        } else {
            // For bottomk, NaN is worst, then larger values.
            a.is_nan() || (!b.is_nan() && a > b)
        }
    };
    let mut wi = 0;
    for i in 1..h.len() {
        if worse(h[i].1, h[wi].1) {
            wi = i;
        }
    }
    let w = h[wi].1;
    let better = if top {
        w < item.1 || (w.is_nan() && !item.1.is_nan())
    } else {
        w > item.1 || (w.is_nan() && !item.1.is_nan())
    };
    if better {
        h[wi] = item;
    }
}
