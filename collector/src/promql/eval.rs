//! The evaluator: each node over all steps of the query at once.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{self, AtModifier, Expr, Offset};

use super::{duration_ms, QueryError, Sample, Series, Value};
use crate::tsdb::chunk::is_stale_nan;
use crate::tsdb::{Labels, MatchOp, Matcher, Queryable};

/// Limits and defaults of evaluation (Prometheus's flags of the same names).
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// `--query.lookback-delta` (5m).
    pub lookback_delta_ms: i64,
    /// `--query.max-samples` (50M): samples a query may hold at once.
    pub max_samples: usize,
    /// `--query.timeout` (2m).
    pub timeout: std::time::Duration,
    /// The step of subqueries without one (the global evaluation interval, 1m).
    pub default_subquery_step_ms: i64,
    /// `--query.max-length` and `--query.max-depth`: checked on the text before parsing,
    /// and the depth again while evaluating.
    pub limits: super::QueryLimits,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            lookback_delta_ms: 5 * 60_000,
            max_samples: 50_000_000,
            timeout: std::time::Duration::from_secs(120),
            default_subquery_step_ms: 60_000,
            limits: super::QueryLimits::default(),
        }
    }
}

/// A node's value over the steps of its evaluation.
#[derive(Debug)]
pub(super) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// Series with points at step times.
    Vector(Vec<Series>),
    /// Raw samples (only as the result of an instant query of a range).
    Matrix(Vec<Series>),
    Str(String),
}

pub(super) type EvalResult<T> = Result<T, QueryError>;

/// A selected series with its raw samples.
pub(super) type Loaded = (Labels, Vec<(i64, f64)>);

pub(super) fn exec_err<T>(m: impl Into<String>) -> EvalResult<T> {
    Err(QueryError::Execution(m.into()))
}

pub(super) struct Ev<'a> {
    store: &'a dyn Queryable,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    lookback: i64,
    /// The query's own range, for `@ start()` and `@ end()`.
    q_start: i64,
    q_end: i64,
    opts: &'a EvalOptions,
    deadline: Instant,
    samples: usize,
    /// How deep [`Ev::eval`] is in the tree now.
    depth: usize,
}

pub(super) fn instant(
    store: &dyn Queryable,
    expr: &Expr,
    t: i64,
    opts: &EvalOptions,
) -> Result<Value, QueryError> {
    let mut ev = Ev::new(store, t, t, 1, opts);
    Ok(match ev.eval(expr)? {
        Val::Scalar(v) => Value::Scalar {
            t,
            v: v.first().copied().unwrap_or(f64::NAN),
        },
        Val::Str(s) => Value::String { t, v: s },
        Val::Vector(series) => Value::Vector(
            series
                .into_iter()
                .filter_map(|s| {
                    s.points.first().map(|p| Sample {
                        labels: s.labels,
                        t: p.0,
                        v: p.1,
                    })
                })
                .collect(),
        ),
        Val::Matrix(m) => Value::Matrix(m),
    })
}

pub(super) fn range(
    store: &dyn Queryable,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    opts: &EvalOptions,
) -> Result<Value, QueryError> {
    if step <= 0 {
        return Err(QueryError::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end < start {
        return Err(QueryError::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    match expr.value_type() {
        parser::value::ValueType::Vector | parser::value::ValueType::Scalar => {}
        t => {
            return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(t)
            )))
        }
    }
    check_steps(start, end, step, opts)?;
    let mut ev = Ev::new(store, start, end, step, opts);
    Ok(match ev.eval(expr)? {
        Val::Scalar(v) => Value::Matrix(vec![Series {
            labels: Labels::default(),
            points: ev.steps().zip(v).collect(),
        }]),
        Val::Vector(mut series) => {
            series.retain(|s| !s.points.is_empty());
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Matrix(series)
        }
        Val::Matrix(m) => Value::Matrix(m),
        Val::Str(_) => return exec_err("a string is not a valid range query result"),
    })
}

fn type_name(t: parser::value::ValueType) -> &'static str {
    match t {
        parser::value::ValueType::Vector => "instant vector",
        parser::value::ValueType::Scalar => "scalar",
        parser::value::ValueType::Matrix => "range vector",
        parser::value::ValueType::String => "string",
    }
}

/// The number of steps from `start` to `end` (inclusive) every `step`.
fn steps_between(start: i64, end: i64, step: i64) -> i128 {
    if end < start || step <= 0 {
        return 0;
    }
    (i128::from(end) - i128::from(start)) / i128::from(step) + 1
}

/// Every step holds at least one sample, so a range with more steps than the sample
/// limit fails before anything is allocated for it.
fn check_steps(start: i64, end: i64, step: i64, opts: &EvalOptions) -> EvalResult<()> {
    if steps_between(start, end, step) > opts.max_samples as i128 {
        return exec_err(
            "query processing would load too many samples into memory in query execution",
        );
    }
    Ok(())
}

pub(super) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(super) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// Our matchers for a selector: its own, plus the metric name when it was written
/// before the braces.
pub(super) fn selector_matchers(vs: &parser::VectorSelector) -> EvalResult<Vec<Matcher>> {
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    let mut has_name = false;
    for m in &vs.matchers.matchers {
        let op = match &m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        if m.name == "__name__" && op == MatchOp::Equal {
            has_name = true;
        }
        let re = match &m.op {
            PMatchOp::Re(r) | PMatchOp::NotRe(r) => Some(r.clone()),
            _ => None,
        };
        out.push(Matcher::with_regex(op, m.name.clone(), m.value.clone(), re));
    }
    if let (Some(name), false) = (&vs.name, has_name) {
        out.push(Matcher::equal("__name__", name.clone()));
    }
    Ok(out)
}

impl<'a> Ev<'a> {
    fn new(
        store: &'a dyn Queryable,
        start: i64,
        end: i64,
        interval: i64,
        opts: &'a EvalOptions,
    ) -> Ev<'a> {
        Ev {
            store,
            start,
            end,
            interval,
            lookback: opts.lookback_delta_ms,
            q_start: start,
            q_end: end,
            opts,
            deadline: Instant::now() + opts.timeout,
            samples: 0,
            depth: 0,
        }
    }

    pub fn steps(&self) -> impl Iterator<Item = i64> + 'static {
        let (start, end, interval) = (self.start, self.end, self.interval);
        (0..)
            .map(move |i: i64| start.saturating_add(i.saturating_mul(interval)))
            .take_while(move |t| *t <= end)
    }

    pub fn nsteps(&self) -> usize {
        steps_between(self.start, self.end, self.interval) as usize
    }

    pub fn step_index(&self, t: i64) -> usize {
        ((t - self.start) / self.interval) as usize
    }

    pub fn check_deadline(&self) -> EvalResult<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(
                "query timed out in query execution".into(),
            ));
        }
        Ok(())
    }

    /// Count samples a node holds; fail past `--query.max-samples`.
    pub fn add_samples(&mut self, n: usize) -> EvalResult<()> {
        self.samples += n;
        if self.samples > self.opts.max_samples {
            return exec_err(
                "query processing would load too many samples into memory in query execution",
            );
        }
        Ok(())
    }

    pub fn release_samples(&mut self, n: usize) {
        self.samples = self.samples.saturating_sub(n);
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.q_start),
            Some(AtModifier::End) => Some(self.q_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
        }
    }

    /// Evaluate one node. The second line behind the parser's depth check (a tree built
    /// some other way meets the same limit): the recursion stays within the threads'
    /// stacks.
    pub fn eval(&mut self, e: &Expr) -> EvalResult<Val> {
        let limit = self.opts.limits.max_depth.min(super::MAX_DEPTH_CEILING);
        if self.depth >= limit {
            return exec_err(format!(
                "the query is nested too deeply: more than {limit} levels (--query.max-depth)"
            ));
        }
        self.depth += 1;
        let r = self.eval_node(e);
        self.depth -= 1;
        r
    }

    fn eval_node(&mut self, e: &Expr) -> EvalResult<Val> {
        self.check_deadline()?;
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.nsteps()])),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(mut series) => {
                    for s in &mut series {
                        s.labels = drop_name(&s.labels);
                        for p in &mut s.points {
                            p.1 = -p.1;
                        }
                    }
                    check_same_labelsets(&series, self)?;
                    Ok(Val::Vector(series))
                }
                _ => exec_err("unary expression only allowed on scalars and vectors"),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, false)?)),
            Expr::MatrixSelector(ms) => {
                // Only an instant query returns a range vector.
                let t = self.start;
                let r = duration_ms(&ms.range);
                let rf = self
                    .at_ms(&ms.vs.at)
                    .unwrap_or(t)
                    .saturating_sub(offset_ms(&ms.vs.offset));
                let series = self.load(&ms.vs, rf.saturating_sub(r), rf)?;
                let out: Vec<Series> = series
                    .into_iter()
                    .map(|(labels, pts)| Series {
                        labels,
                        points: pts
                            .into_iter()
                            .filter(|(ts, v)| *ts >= rf.saturating_sub(r) && !is_stale_nan(*v))
                            .collect(),
                    })
                    .filter(|s| !s.points.is_empty())
                    .collect();
                Ok(Val::Matrix(out))
            }
            Expr::Subquery(sq) => {
                let (series, _) = self.subquery(sq)?;
                // As a query result: the points within the range at the evaluation time.
                let t = self.start;
                let rf = self
                    .at_ms(&sq.at)
                    .unwrap_or(t)
                    .saturating_sub(offset_ms(&sq.offset));
                let r = duration_ms(&sq.range);
                Ok(Val::Matrix(
                    series
                        .into_iter()
                        .map(|s| Series {
                            labels: s.labels,
                            points: s
                                .points
                                .into_iter()
                                .filter(|(ts, _)| *ts >= rf.saturating_sub(r) && *ts <= rf)
                                .collect(),
                        })
                        .filter(|s| !s.points.is_empty())
                        .collect(),
                ))
            }
            Expr::Call(c) => self.call(c),
            Expr::Aggregate(a) => self.aggregate(a),
            Expr::Binary(b) => self.binary(b),
            Expr::Extension(_) => exec_err("unsupported expression"),
        }
    }

    pub fn eval_scalar(&mut self, e: &Expr) -> EvalResult<Vec<f64>> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            _ => exec_err("expected a scalar"),
        }
    }

    pub fn eval_vector(&mut self, e: &Expr) -> EvalResult<Vec<Series>> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            _ => exec_err("expected an instant vector"),
        }
    }

    /// Series matching a selector with their samples in `[mint, maxt]` (stale markers
    /// included).
    pub fn load(
        &mut self,
        vs: &parser::VectorSelector,
        mint: i64,
        maxt: i64,
    ) -> EvalResult<Vec<Loaded>> {
        let matchers = selector_matchers(vs)?;
        let found = self.store.select(&matchers, mint, maxt);
        self.check_deadline()?;
        let mut out = Vec::with_capacity(found.len());
        for (k, s) in found.into_iter().enumerate() {
            if k % 64 == 0 {
                self.check_deadline()?;
            }
            let pts: Vec<(i64, f64)> = s.samples(mint, maxt).collect();
            if !pts.is_empty() {
                out.push((s.labels, pts));
            }
        }
        Ok(out)
    }

    /// An instant vector selector at every step: the newest sample within the lookback
    /// window, unless it is a stale marker. With `timestamps`, the value is the sample's
    /// time in seconds (for `timestamp()`).
    pub fn vector_selector(
        &mut self,
        vs: &parser::VectorSelector,
        timestamps: bool,
    ) -> EvalResult<Vec<Series>> {
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let refs: Vec<(i64, i64)> = self
            .steps()
            .map(|t| (t, at.unwrap_or(t).saturating_sub(off)))
            .collect();
        let (Some(lo), Some(hi)) = (
            refs.iter().map(|r| r.1).min(),
            refs.iter().map(|r| r.1).max(),
        ) else {
            return Ok(Vec::new());
        };
        let data = self.load(vs, lo.saturating_sub(self.lookback), hi)?;
        let mut out = Vec::with_capacity(data.len());
        let mut total = 0;
        for (k, (labels, pts)) in data.into_iter().enumerate() {
            if k % 64 == 0 {
                self.check_deadline()?;
            }
            let mut points = Vec::with_capacity(refs.len().min(pts.len() * 2 + 1));
            let mut i = 0usize;
            for &(t, rf) in &refs {
                // The newest sample at or before rf (refs only grow, or stay with @).
                if at.is_some() {
                    i = pts.partition_point(|p| p.0 <= rf);
                } else {
                    while i < pts.len() && pts[i].0 <= rf {
                        i += 1;
                    }
                }
                if i == 0 {
                    continue;
                }
                let (st, sv) = pts[i - 1];
                if st < rf.saturating_sub(self.lookback) || is_stale_nan(sv) {
                    continue;
                }
                points.push((t, if timestamps { st as f64 / 1000.0 } else { sv }));
            }
            if !points.is_empty() {
                total += points.len();
                out.push(Series { labels, points });
            }
        }
        self.add_samples(total)?;
        Ok(out)
    }

    /// Evaluate a subquery's inner expression over its own steps. Returns the series
    /// (points at the subquery's steps) and the subquery step.
    pub fn subquery(&mut self, sq: &parser::SubqueryExpr) -> EvalResult<(Vec<Series>, i64)> {
        let off = offset_ms(&sq.offset);
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|s| *s > 0)
            .unwrap_or(self.opts.default_subquery_step_ms);
        let (outer_start, outer_end) = match self.at_ms(&sq.at) {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        let lo = outer_start.saturating_sub(off).saturating_sub(range);
        let mut start = lo.div_euclid(step).saturating_mul(step);
        if start < lo {
            start = start.saturating_add(step);
        }
        let end = outer_end.saturating_sub(off);
        check_steps(start, end, step, self.opts)?;
        let saved = (self.start, self.end, self.interval);
        self.start = start;
        self.end = end;
        self.interval = step;
        let r = if end < start {
            Ok(Val::Vector(Vec::new()))
        } else {
            self.eval(&sq.expr)
        };
        let steps: Vec<i64> = if end < start {
            Vec::new()
        } else {
            self.steps().collect()
        };
        (self.start, self.end, self.interval) = saved;
        let series = match r? {
            Val::Vector(v) => v,
            Val::Scalar(v) => vec![Series {
                labels: Labels::default(),
                points: steps.into_iter().zip(v).collect(),
            }],
            _ => return exec_err("subquery over a non-vector expression"),
        };
        Ok((series, step))
    }

    /// The samples of a range argument (matrix selector or subquery) with the window
    /// reference for each step: `(series, range_ms, ref per step)`.
    pub fn range_arg(&mut self, e: &Expr) -> EvalResult<RangeArg> {
        match unwrap_parens(e) {
            Expr::MatrixSelector(ms) => {
                let range = duration_ms(&ms.range);
                let off = offset_ms(&ms.vs.offset);
                let at = self.at_ms(&ms.vs.at);
                let refs: Vec<i64> = self
                    .steps()
                    .map(|t| at.unwrap_or(t).saturating_sub(off))
                    .collect();
                let (Some(lo), Some(hi)) = (refs.iter().min(), refs.iter().max()) else {
                    return Ok(RangeArg::default());
                };
                let data = self.load(&ms.vs, lo.saturating_sub(range), *hi)?;
                let series: Vec<Series> = data
                    .into_iter()
                    .map(|(labels, pts)| Series {
                        labels,
                        points: pts.into_iter().filter(|p| !is_stale_nan(p.1)).collect(),
                    })
                    .collect();
                let n: usize = series.iter().map(|s| s.points.len()).sum();
                self.add_samples(n)?;
                Ok(RangeArg {
                    series,
                    range,
                    refs,
                    held: n,
                })
            }
            Expr::Subquery(sq) => {
                let range = duration_ms(&sq.range);
                let off = offset_ms(&sq.offset);
                let at = self.at_ms(&sq.at);
                let refs: Vec<i64> = self
                    .steps()
                    .map(|t| at.unwrap_or(t).saturating_sub(off))
                    .collect();
                let (series, _) = self.subquery(sq)?;
                let n: usize = series.iter().map(|s| s.points.len()).sum();
                Ok(RangeArg {
                    series,
                    range,
                    refs,
                    held: n,
                })
            }
            _ => exec_err("expected a range vector"),
        }
    }
}

/// A range vector argument of a function.
#[derive(Default)]
pub(super) struct RangeArg {
    pub series: Vec<Series>,
    pub range: i64,
    /// The window's end for each step; the window is `[ref - range, ref]`.
    pub refs: Vec<i64>,
    pub held: usize,
}

pub(super) fn drop_name(l: &Labels) -> Labels {
    if l.get("__name__").is_none() {
        return l.clone();
    }
    l.retain_names(|n| n != b"__name__")
}

/// Prometheus fails a step whose output has two series with the same labels.
pub(super) fn check_same_labelsets(series: &[Series], ev: &Ev<'_>) -> EvalResult<()> {
    if series.len() < 2 {
        return Ok(());
    }
    let mut seen: HashMap<&Labels, usize> = HashMap::with_capacity(series.len());
    let mut dup_steps: HashMap<usize, Vec<i64>> = HashMap::new();
    for (i, s) in series.iter().enumerate() {
        if let Some(&j) = seen.get(&s.labels) {
            // Same labels: an error only if both have a point at the same step.
            let a = dup_steps
                .entry(j)
                .or_insert_with(|| series[j].points.iter().map(|p| p.0).collect());
            if s.points.iter().any(|p| a.binary_search(&p.0).is_ok()) {
                return exec_err("vector cannot contain metrics with the same labelset");
            }
            a.extend(s.points.iter().map(|p| p.0));
            a.sort_unstable();
        } else {
            seen.insert(&s.labels, i);
        }
    }
    let _ = ev;
    Ok(())
}

/// Merge series with equal labels (their points never share a step once checked).
pub(super) fn merge_same_labels(series: Vec<Series>) -> Vec<Series> {
    let mut idx: HashMap<Labels, usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    let mut merged = false;
    for s in series {
        match idx.get(&s.labels) {
            Some(&i) => {
                out[i].points.extend(s.points);
                merged = true;
            }
            None => {
                idx.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    if merged {
        for s in &mut out {
            s.points.sort_by_key(|p| p.0);
        }
    }
    out
}
