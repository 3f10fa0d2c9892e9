//! PromQL functions (Prometheus 2.42, float samples).

use std::collections::HashMap;

use promql_parser::parser::{Call, Expr};

use super::eval::{
    check_same_labelsets, drop_name, exec_err, merge_same_labels, selector_matchers, unwrap_parens,
    Ev, EvalResult, Val,
};
use super::Series;
use crate::tsdb::{Labels, MatchOp};

/// Go's `math.Max`: NaN wins, +0 beats -0.
pub(super) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN wins, -0 beats +0.
pub(super) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b {
        a
    } else {
        b
    }
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Prometheus's `quantile` over values (sorted here).
pub(super) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go sorts NaN first (Less: a < b || a is NaN).
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = points[0].1;
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (t - intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// rate, increase and delta with Prometheus's extrapolation.
fn extrapolated_rate(
    pts: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (first, last) = (pts[0], pts[pts.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        let mut prev = first.1;
        for p in &pts[1..] {
            if p.1 < prev {
                result += prev;
            }
            prev = p.1;
        }
    }
    let mut to_start = (first.0 - range_start) as f64 / 1000.0;
    let to_end = (range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg = sampled / (pts.len() - 1) as f64;
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    result *= interval / sampled;
    if is_rate {
        result /= range_ms as f64 / 1000.0;
    }
    Some(result)
}

fn instant_value(pts: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (prev, last) = (pts[pts.len() - 2], pts[pts.len() - 1]);
    let mut r = if is_rate && last.1 < prev.1 {
        last.1
    } else {
        last.1 - prev.1
    };
    let dt = last.0 - prev.0;
    if dt == 0 {
        return None;
    }
    if is_rate {
        r /= dt as f64 / 1000.0;
    }
    Some(r)
}

fn holt_winters(pts: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if pts.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, pts[0].1);
    let mut b = pts[1].1 - pts[0].1;
    for (i, p) in pts.iter().enumerate().skip(1) {
        let x = sf * p.1;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}

fn go_round(v: f64) -> f64 {
    // Go's math.Floor(v + 0.5) as Prometheus uses it.
    (v + 0.5).floor()
}

#[derive(Clone, Copy)]
enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    HoltWinters,
    Changes,
    Resets,
    Avg,
    Sum,
    Count,
    Min,
    Max,
    Last,
    Present,
    Quantile,
    Stddev,
    Stdvar,
}

impl RangeFn {
    fn of(name: &str) -> Option<RangeFn> {
        Some(match name {
            "rate" => RangeFn::Rate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "irate" => RangeFn::Irate,
            "idelta" => RangeFn::Idelta,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            "holt_winters" | "double_exponential_smoothing" => RangeFn::HoltWinters,
            "changes" => RangeFn::Changes,
            "resets" => RangeFn::Resets,
            "avg_over_time" => RangeFn::Avg,
            "sum_over_time" => RangeFn::Sum,
            "count_over_time" => RangeFn::Count,
            "min_over_time" => RangeFn::Min,
            "max_over_time" => RangeFn::Max,
            "last_over_time" => RangeFn::Last,
            "present_over_time" => RangeFn::Present,
            "quantile_over_time" => RangeFn::Quantile,
            "stddev_over_time" => RangeFn::Stddev,
            "stdvar_over_time" => RangeFn::Stdvar,
            _ => return None,
        })
    }

    /// The argument index of the range vector.
    fn range_arg(self) -> usize {
        match self {
            RangeFn::Quantile => 1,
            _ => 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        self,
        w: &[(i64, f64)],
        t: i64,
        rf: i64,
        range: i64,
        p1: f64,
        p2: f64,
        scratch: &mut Vec<f64>,
    ) -> Option<f64> {
        if w.is_empty() {
            return None;
        }
        match self {
            RangeFn::Rate => extrapolated_rate(w, rf.saturating_sub(range), rf, range, true, true),
            RangeFn::Increase => {
                extrapolated_rate(w, rf.saturating_sub(range), rf, range, true, false)
            }
            RangeFn::Delta => {
                extrapolated_rate(w, rf.saturating_sub(range), rf, range, false, false)
            }
            RangeFn::Irate => instant_value(w, true),
            RangeFn::Idelta => instant_value(w, false),
            RangeFn::Deriv => {
                if w.len() < 2 {
                    return None;
                }
                Some(linear_regression(w, w[0].0).0)
            }
            RangeFn::PredictLinear => {
                if w.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(w, t);
                Some(slope * p1 + intercept)
            }
            RangeFn::HoltWinters => holt_winters(w, p1, p2),
            RangeFn::Changes => {
                let mut n = 0;
                let mut prev = w[0].1;
                for p in &w[1..] {
                    if !(p.1 == prev || (p.1.is_nan() && prev.is_nan())) {
                        n += 1;
                    }
                    prev = p.1;
                }
                Some(f64::from(n))
            }
            RangeFn::Resets => {
                let mut n = 0;
                let mut prev = w[0].1;
                for p in &w[1..] {
                    if p.1 < prev {
                        n += 1;
                    }
                    prev = p.1;
                }
                Some(f64::from(n))
            }
            RangeFn::Avg => {
                let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
                for p in w {
                    count += 1.0;
                    if mean.is_infinite() {
                        if p.1.is_infinite() && (mean > 0.0) == (p.1 > 0.0) {
                            continue;
                        }
                        if !p.1.is_infinite() && !p.1.is_nan() {
                            continue;
                        }
                    }
                    (mean, c) = kahan_inc(p.1 / count - mean / count, mean, c);
                }
                Some(if mean.is_infinite() { mean } else { mean + c })
            }
            RangeFn::Sum => {
                let (mut sum, mut c) = (0.0f64, 0.0);
                for p in w {
                    (sum, c) = kahan_inc(p.1, sum, c);
                }
                Some(if sum.is_infinite() { sum } else { sum + c })
            }
            RangeFn::Count => Some(w.len() as f64),
            RangeFn::Min => {
                let mut m = w[0].1;
                for p in w {
                    if p.1 < m || m.is_nan() {
                        m = p.1;
                    }
                }
                Some(m)
            }
            RangeFn::Max => {
                let mut m = w[0].1;
                for p in w {
                    if p.1 > m || m.is_nan() {
                        m = p.1;
                    }
                }
                Some(m)
            }
            RangeFn::Last => Some(w[w.len() - 1].1),
            RangeFn::Present => Some(1.0),
            RangeFn::Quantile => {
                scratch.clear();
                scratch.extend(w.iter().map(|p| p.1));
                Some(quantile(p1, scratch))
            }
            RangeFn::Stddev | RangeFn::Stdvar => {
                let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) =
                    (0.0, 0.0, 0.0, 0.0, 0.0);
                for p in w {
                    count += 1.0;
                    let delta = p.1 - (mean + c_mean);
                    (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
                    (aux, c_aux) = kahan_inc(delta * (p.1 - (mean + c_mean)), aux, c_aux);
                }
                let var = (aux + c_aux) / count;
                Some(if matches!(self, RangeFn::Stddev) {
                    var.sqrt()
                } else {
                    var
                })
            }
        }
    }
}

fn string_arg(e: &Expr) -> EvalResult<String> {
    match unwrap_parens(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        _ => exec_err("expected a string literal"),
    }
}

fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Go's `%f`.
fn go_f(v: f64) -> String {
    format!("{v:.6}")
}

impl Ev<'_> {
    pub(super) fn call(&mut self, c: &Call) -> EvalResult<Val> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
        if let Some(f) = RangeFn::of(name) {
            return self.range_function(f, &args);
        }
        let n = self.nsteps();
        match name {
            "time" => Ok(Val::Scalar(
                self.steps().map(|t| t as f64 / 1000.0).collect(),
            )),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
            "vector" => {
                let v = self.eval_scalar(args[0])?;
                Ok(Val::Vector(vec![Series {
                    labels: Labels::default(),
                    points: self.steps().zip(v).collect(),
                }]))
            }
            "scalar" => {
                let series = self.eval_vector(args[0])?;
                let mut count = vec![0u32; n];
                let mut val = vec![f64::NAN; n];
                for s in &series {
                    for p in &s.points {
                        let i = self.step_index(p.0);
                        count[i] += 1;
                        val[i] = p.1;
                    }
                }
                Ok(Val::Scalar(
                    count
                        .into_iter()
                        .zip(val)
                        .map(|(c, v)| if c == 1 { v } else { f64::NAN })
                        .collect(),
                ))
            }
            "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "deg"
            | "rad" | "acos" | "acosh" | "asin" | "asinh" | "atan" | "atanh" | "cos" | "cosh"
            | "sin" | "sinh" | "tan" | "tanh" => {
                let f: fn(f64) -> f64 = match name {
                    "abs" => f64::abs,
                    "ceil" => f64::ceil,
                    "floor" => f64::floor,
                    "exp" => f64::exp,
                    "sqrt" => f64::sqrt,
                    "ln" => f64::ln,
                    "log2" => f64::log2,
                    "log10" => f64::log10,
                    "sgn" => |v: f64| {
                        if v < 0.0 {
                            -1.0
                        } else if v > 0.0 {
                            1.0
                        } else {
                            v
                        }
                    },
                    "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
                    "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
                    "acos" => f64::acos,
                    "acosh" => f64::acosh,
                    "asin" => f64::asin,
                    "asinh" => f64::asinh,
                    "atan" => f64::atan,
                    "atanh" => f64::atanh,
                    "cos" => f64::cos,
                    "cosh" => f64::cosh,
                    "sin" => f64::sin,
                    "sinh" => f64::sinh,
                    "tan" => f64::tan,
                    _ => f64::tanh,
                };
                let series = self.eval_vector(args[0])?;
                self.map_vector(series, |_, v| Some(f(v)))
            }
            "clamp" | "clamp_min" | "clamp_max" | "round" => {
                let series = self.eval_vector(args[0])?;
                let p1 = match args.get(1) {
                    Some(a) => self.eval_scalar(a)?,
                    None => vec![1.0; n],
                };
                let p2 = match args.get(2) {
                    Some(a) => self.eval_scalar(a)?,
                    None => vec![0.0; n],
                };
                let start = self.start;
                let interval = self.interval;
                let idx = move |t: i64| ((t - start) / interval) as usize;
                match name {
                    "clamp" => self.map_vector(series, |t, v| {
                        let (lo, hi) = (p1[idx(t)], p2[idx(t)]);
                        // As Prometheus: nothing when max < min (NaN bounds give NaN).
                        (hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Less))
                            .then(|| go_max(lo, go_min(hi, v)))
                    }),
                    "clamp_min" => self.map_vector(series, |t, v| Some(go_max(p1[idx(t)], v))),
                    "clamp_max" => self.map_vector(series, |t, v| Some(go_min(p1[idx(t)], v))),
                    _ => self.map_vector(series, |t, v| {
                        let inv = 1.0 / p1[idx(t)];
                        Some(go_round(v * inv) / inv)
                    }),
                }
            }
            "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour"
            | "minute" | "month" | "year" => {
                let f = time_fn(name);
                match args.first() {
                    None => Ok(Val::Vector(vec![Series {
                        labels: Labels::default(),
                        points: self.steps().map(|t| (t, f(t as f64 / 1000.0))).collect(),
                    }])),
                    Some(a) => {
                        let series = self.eval_vector(a)?;
                        self.map_vector(series, |_, v| Some(f(v)))
                    }
                }
            }
            "timestamp" => {
                let series = match unwrap_parens(args[0]) {
                    Expr::VectorSelector(vs) => self.vector_selector(vs, true)?,
                    e => {
                        let mut s = self.eval_vector(e)?;
                        for x in &mut s {
                            for p in &mut x.points {
                                p.1 = p.0 as f64 / 1000.0;
                            }
                        }
                        s
                    }
                };
                self.map_vector(series, |_, v| Some(v))
            }
            "sort" | "sort_desc" => {
                let mut series = self.eval_vector(args[0])?;
                if self.nsteps() == 1 {
                    let key = |s: &Series| s.points.first().map_or(f64::NAN, |p| p.1);
                    let desc = name == "sort_desc";
                    series.sort_by(|a, b| {
                        let (x, y) = (key(a), key(b));
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                            _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                        }
                    });
                }
                Ok(Val::Vector(series))
            }
            "label_replace" => {
                let series = self.eval_vector(args[0])?;
                let dst = string_arg(args[1])?;
                let repl = string_arg(args[2])?;
                let src = string_arg(args[3])?;
                let re_s = string_arg(args[4])?;
                let re = regex::Regex::new(&format!("^(?:{re_s})$")).map_err(|_| {
                    super::QueryError::Execution(format!(
                        "invalid regular expression in label_replace(): {re_s}"
                    ))
                })?;
                if !valid_label_name(&dst) {
                    return exec_err(format!(
                        "invalid destination label name in label_replace(): {dst}"
                    ));
                }
                let mut out = Vec::with_capacity(series.len());
                for mut s in series {
                    let sv = s.labels.get(&src).unwrap_or("").to_string();
                    if let Some(caps) = re.captures(&sv) {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        s.labels = set_label(&s.labels, &dst, &res);
                    }
                    out.push(s);
                }
                self.finish(out)
            }
            "label_join" => {
                let series = self.eval_vector(args[0])?;
                let dst = string_arg(args[1])?;
                let sep = string_arg(args[2])?;
                let mut srcs = Vec::new();
                for a in &args[3..] {
                    let s = string_arg(a)?;
                    if !valid_label_name(&s) {
                        return exec_err(format!("invalid source label name in label_join(): {s}"));
                    }
                    srcs.push(s);
                }
                if !valid_label_name(&dst) {
                    return exec_err(format!(
                        "invalid destination label name in label_join(): {dst}"
                    ));
                }
                let mut out = Vec::with_capacity(series.len());
                for mut s in series {
                    let joined = srcs
                        .iter()
                        .map(|n| s.labels.get(n).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(&sep);
                    s.labels = set_label(&s.labels, &dst, &joined);
                    out.push(s);
                }
                self.finish(out)
            }
            "absent" => {
                let series = self.eval_vector(args[0])?;
                let mut present = vec![false; n];
                for s in &series {
                    for p in &s.points {
                        present[self.step_index(p.0)] = true;
                    }
                }
                self.absent_result(&present, args[0])
            }
            "absent_over_time" => {
                let arg = self.range_arg(args[0])?;
                let mut present = vec![false; n];
                for s in &arg.series {
                    let (mut lo, mut hi) = (0usize, 0usize);
                    for (i, &rf) in arg.refs.iter().enumerate() {
                        while hi < s.points.len() && s.points[hi].0 <= rf {
                            hi += 1;
                        }
                        while lo < hi && s.points[lo].0 < rf.saturating_sub(arg.range) {
                            lo += 1;
                        }
                        if hi > lo {
                            present[i] = true;
                        }
                    }
                }
                self.release_samples(arg.held);
                self.absent_result(&present, args[0])
            }
            "histogram_quantile" => {
                let q = self.eval_scalar(args[0])?;
                let series = self.eval_vector(args[1])?;
                self.histogram_quantile(&q, series)
            }
            // Native histograms only: float series give nothing.
            "histogram_count" | "histogram_sum" => {
                self.eval_vector(args[0])?;
                Ok(Val::Vector(Vec::new()))
            }
            "histogram_fraction" => {
                self.eval_vector(args[2])?;
                Ok(Val::Vector(Vec::new()))
            }
            other => exec_err(format!("function {other:?} is not supported")),
        }
    }

    /// `absent`/`absent_over_time`: 1 at the steps where nothing was present, labelled
    /// from the argument's equality matchers.
    fn absent_result(&self, present: &[bool], arg: &Expr) -> EvalResult<Val> {
        let points: Vec<(i64, f64)> = self
            .steps()
            .zip(present)
            .filter(|(_, p)| !**p)
            .map(|(t, _)| (t, 1.0))
            .collect();
        Ok(Val::Vector(if points.is_empty() {
            Vec::new()
        } else {
            vec![Series {
                labels: absent_labels(arg)?,
                points,
            }]
        }))
    }

    /// Apply `f(t, v)` to every point; drops `__name__`.
    fn map_vector(
        &mut self,
        series: Vec<Series>,
        mut f: impl FnMut(i64, f64) -> Option<f64>,
    ) -> EvalResult<Val> {
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let points: Vec<(i64, f64)> = s
                .points
                .iter()
                .filter_map(|&(t, v)| f(t, v).map(|r| (t, r)))
                .collect();
            if !points.is_empty() {
                out.push(Series {
                    labels: drop_name(&s.labels),
                    points,
                });
            }
        }
        self.finish(out)
    }

    /// Fail on two series with the same labels at one step; merge them otherwise.
    pub(super) fn finish(&mut self, series: Vec<Series>) -> EvalResult<Val> {
        check_same_labelsets(&series, self)?;
        Ok(Val::Vector(merge_same_labels(series)))
    }

    fn range_function(&mut self, f: RangeFn, args: &[&Expr]) -> EvalResult<Val> {
        let n = self.nsteps();
        let ri = f.range_arg();
        let (mut p1, mut p2) = (vec![0.0; n], vec![0.0; n]);
        match f {
            RangeFn::Quantile => p1 = self.eval_scalar(args[0])?,
            RangeFn::PredictLinear => p1 = self.eval_scalar(args[1])?,
            RangeFn::HoltWinters => {
                p1 = self.eval_scalar(args[1])?;
                p2 = self.eval_scalar(args[2])?;
            }
            _ => {}
        }
        let arg = self.range_arg(args[ri])?;
        let steps: Vec<i64> = self.steps().collect();
        let keep_name = matches!(f, RangeFn::Last);
        let mut out = Vec::with_capacity(arg.series.len());
        let mut scratch = Vec::new();
        let mut total = 0usize;
        for s in &arg.series {
            let (mut lo, mut hi) = (0usize, 0usize);
            let mut points = Vec::new();
            for (i, &rf) in arg.refs.iter().enumerate() {
                if rf < arg.refs.get(i.wrapping_sub(1)).copied().unwrap_or(i64::MIN) {
                    // Windows move backwards only with @ and offsets; restart the scan.
                    lo = 0;
                    hi = 0;
                }
                while hi < s.points.len() && s.points[hi].0 <= rf {
                    hi += 1;
                }
                while lo < hi && s.points[lo].0 < rf.saturating_sub(arg.range) {
                    lo += 1;
                }
                if let RangeFn::HoltWinters = f {
                    let (sf, tf) = (p1[i], p2[i]);
                    if sf <= 0.0 || sf >= 1.0 {
                        return exec_err(format!(
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                            go_f(sf)
                        ));
                    }
                    if tf <= 0.0 || tf >= 1.0 {
                        return exec_err(format!(
                            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                            go_f(tf)
                        ));
                    }
                }
                if let Some(v) = f.apply(
                    &s.points[lo..hi],
                    steps[i],
                    rf,
                    arg.range,
                    p1[i],
                    p2[i],
                    &mut scratch,
                ) {
                    points.push((steps[i], v));
                }
            }
            self.check_deadline()?;
            if !points.is_empty() {
                total += points.len();
                out.push(Series {
                    labels: if keep_name {
                        s.labels.clone()
                    } else {
                        drop_name(&s.labels)
                    },
                    points,
                });
            }
        }
        self.release_samples(arg.held);
        self.add_samples(total)?;
        self.finish(out)
    }

    fn histogram_quantile(&mut self, q: &[f64], series: Vec<Series>) -> EvalResult<Val> {
        // Group buckets by their labels without `le` (the name included, as Prometheus:
        // two histograms that differ only by name then fail as duplicates).
        let mut groups: HashMap<Labels, Vec<(f64, usize)>> = HashMap::new();
        for (i, s) in series.iter().enumerate() {
            let Some(le) = s.labels.get("le") else {
                continue;
            };
            let Ok(ub) = parse_go_float(le) else {
                continue;
            };
            let key = Labels::from_pairs(s.labels.iter().filter(|(n, _)| *n != "le"));
            groups.entry(key).or_default().push((ub, i));
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut cursors = vec![0usize; series.len()];
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        let steps: Vec<i64> = self.steps().collect();
        for (labels, members) in groups {
            let mut points = Vec::new();
            for (si, &t) in steps.iter().enumerate() {
                buckets.clear();
                for &(ub, i) in &members {
                    let pts = &series[i].points;
                    let c = &mut cursors[i];
                    while *c < pts.len() && pts[*c].0 < t {
                        *c += 1;
                    }
                    if *c < pts.len() && pts[*c].0 == t {
                        buckets.push((ub, pts[*c].1));
                    }
                }
                if buckets.is_empty() {
                    continue;
                }
                points.push((t, bucket_quantile(q[si], &mut buckets)));
            }
            if !points.is_empty() {
                out.push(Series {
                    labels: drop_name(&labels),
                    points,
                });
            }
        }
        self.finish(out)
    }
}

pub(super) fn parse_go_float(s: &str) -> Result<f64, ()> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "infinity" | "+infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    if t != s {
        return Err(());
    }
    s.parse::<f64>().map_err(|_| ())
}

fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same upper bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    // Ensure monotonic counts.
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 > max {
            max = b.1;
        } else {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|x| x.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let mut start = 0.0;
    let end = merged[b].0;
    let mut count = merged[b].1;
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn set_label(l: &Labels, name: &str, value: &str) -> Labels {
    let rest = l.iter().filter(|(n, _)| *n != name);
    if value.is_empty() {
        Labels::from_pairs(rest)
    } else {
        Labels::from_pairs(rest.chain(std::iter::once((name, value))))
    }
}

/// The labels `absent()` gives its result: the equality matchers of a selector argument
/// (a name matched twice is left out), none for other arguments.
fn absent_labels(arg: &Expr) -> EvalResult<Labels> {
    let vs = match unwrap_parens(arg) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Ok(Labels::default()),
    };
    // As Prometheus: the first equality matcher of a name sets it; a name with any
    // other matcher (or a second one) is left out.
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    for m in selector_matchers(vs)? {
        if m.name == "__name__" {
            continue;
        }
        if m.op == MatchOp::Equal && !seen.contains_key(&m.name) {
            seen.insert(m.name.clone(), Some(m.value.clone()));
        } else {
            seen.insert(m.name.clone(), None);
        }
    }
    Ok(Labels::from_pairs(
        seen.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))),
    ))
}

fn time_fn(name: &str) -> fn(f64) -> f64 {
    use chrono_lite::*;
    match name {
        "days_in_month" => |v| civil(v).map_or(f64::NAN, |d| f64::from(days_in_month(d.0, d.1))),
        "day_of_month" => |v| civil(v).map_or(f64::NAN, |d| f64::from(d.2)),
        "day_of_week" => |v| civil(v).map_or(f64::NAN, |d| f64::from(d.6)),
        "day_of_year" => |v| civil(v).map_or(f64::NAN, |d| f64::from(d.7)),
        "hour" => |v| civil(v).map_or(f64::NAN, |d| f64::from(d.3)),
        "minute" => |v| civil(v).map_or(f64::NAN, |d| f64::from(d.4)),
        "month" => |v| civil(v).map_or(f64::NAN, |d| f64::from(d.1)),
        _ => |v| civil(v).map_or(f64::NAN, |d| d.0 as f64),
    }
}

/// UTC calendar fields of a Unix time, as Go's `time.Unix(int64(v), 0).UTC()` gives.
mod chrono_lite {
    /// (year, month 1-12, day 1-31, hour, minute, second, weekday 0=Sunday, yday 1-366)
    pub type Civil = (i64, u32, u32, u32, u32, u32, u32, u32);

    pub fn civil(v: f64) -> Option<Civil> {
        if v.is_nan() {
            return None;
        }
        // Go converts with int64(v): truncation toward zero, saturating here.
        let secs = if v >= 9.2e18 {
            i64::MAX
        } else if v <= -9.2e18 {
            i64::MIN
        } else {
            v as i64
        };
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday.
        let yday = (days - days_from_civil(y, 1, 1) + 1) as u32;
        Some((
            y,
            m,
            d,
            (rem / 3600) as u32,
            ((rem % 3600) / 60) as u32,
            (rem % 60) as u32,
            weekday,
            yday,
        ))
    }

    pub fn days_in_month(y: i64, m: u32) -> u32 {
        match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            _ => 28,
        }
    }

    // Howard Hinnant's algorithms.
    fn civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}
