//! Binary operators: arithmetic, comparisons (with and without `bool`) and set
//! operators, with `on`/`ignoring` and `group_left`/`group_right` matching.

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{drop_name, exec_err, Ev, EvalResult, Val};
use super::Series;
use crate::tsdb::Labels;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn of(s: &str) -> Option<Op> {
        Some(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic drops the metric name (`atan2` does not, in Prometheus 2.42).
    fn drops_name(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow
        )
    }

    /// Prometheus's `vectorElemBinop`: the value and whether to keep it.
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (l % r, true),
            Op::Pow => (l.powf(r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (f64::NAN, false),
        }
    }
}

/// How two series are matched.
struct Matching<'a> {
    on: bool,
    names: &'a [String],
}

impl Matching<'_> {
    fn signature(&self, l: &Labels) -> Labels {
        if self.on {
            l.retain_names(|n| self.names.iter().any(|x| x.as_bytes() == n))
        } else {
            l.retain_names(|n| n != b"__name__" && !self.names.iter().any(|x| x.as_bytes() == n))
        }
    }
}

/// Per-step cursor over a vector's series: the series with a point at each step.
struct StepIter<'a> {
    series: &'a [Series],
    cursors: Vec<usize>,
}

impl<'a> StepIter<'a> {
    fn new(series: &'a [Series]) -> Self {
        StepIter {
            series,
            cursors: vec![0; series.len()],
        }
    }

    fn at(&mut self, t: i64, out: &mut Vec<(usize, f64)>) {
        out.clear();
        for (i, s) in self.series.iter().enumerate() {
            let c = &mut self.cursors[i];
            while *c < s.points.len() && s.points[*c].0 < t {
                *c += 1;
            }
            if let Some(&(pt, v)) = s.points.get(*c) {
                if pt == t {
                    out.push((i, v));
                }
            }
        }
    }
}

impl Ev<'_> {
    pub(super) fn binary(&mut self, b: &BinaryExpr) -> EvalResult<Val> {
        let op_s = b.op.to_string();
        let Some(op) = Op::of(&op_s) else {
            return exec_err(format!("unknown binary operator {op_s:?}"));
        };
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.into_iter()
                    .zip(r)
                    .map(|(a, c)| {
                        let (v, keep) = op.apply(a, c);
                        if op.is_comparison() {
                            if keep {
                                1.0
                            } else {
                                0.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => self.vector_scalar(op, v, &s, false, return_bool),
            (Val::Scalar(s), Val::Vector(v)) => self.vector_scalar(op, v, &s, true, return_bool),
            (Val::Vector(l), Val::Vector(r)) => {
                let (on, names): (bool, &[String]) =
                    match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                        Some(LabelModifier::Include(ls)) => (true, &ls.labels),
                        Some(LabelModifier::Exclude(ls)) => (false, &ls.labels),
                        None => (false, &[]),
                    };
                let m = Matching { on, names };
                match op {
                    Op::And | Op::Or | Op::Unless => self.set_op(op, l, r, &m),
                    _ => {
                        let card = b
                            .modifier
                            .as_ref()
                            .map(|m| m.card.clone())
                            .unwrap_or(VectorMatchCardinality::OneToOne);
                        self.vector_vector(op, l, r, &m, &card, return_bool)
                    }
                }
            }
            _ => exec_err(format!("invalid operands for binary operator {op_s:?}")),
        }
    }

    fn vector_scalar(
        &mut self,
        op: Op,
        series: Vec<Series>,
        scalar: &[f64],
        swap: bool,
        return_bool: bool,
    ) -> EvalResult<Val> {
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let mut points = Vec::with_capacity(s.points.len());
            for &(t, v) in &s.points {
                let sv = scalar[self.step_index(t)];
                let (l, r) = if swap { (sv, v) } else { (v, sv) };
                let (mut value, mut keep) = op.apply(l, r);
                if op.is_comparison() && swap {
                    value = r;
                }
                if return_bool {
                    value = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if keep {
                    points.push((t, value));
                }
            }
            if !points.is_empty() {
                let labels = if op.drops_name() || return_bool {
                    drop_name(&s.labels)
                } else {
                    s.labels
                };
                out.push(Series { labels, points });
            }
        }
        self.finish(out)
    }

    fn set_op(
        &mut self,
        op: Op,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        m: &Matching<'_>,
    ) -> EvalResult<Val> {
        let mut sig_ids: HashMap<Labels, usize> = HashMap::new();
        let mut sig_of = |l: &Labels| {
            let s = m.signature(l);
            let n = sig_ids.len();
            *sig_ids.entry(s).or_insert(n)
        };
        let lsig: Vec<usize> = lhs.iter().map(|s| sig_of(&s.labels)).collect();
        let rsig: Vec<usize> = rhs.iter().map(|s| sig_of(&s.labels)).collect();
        let nsig = sig_ids.len();
        let steps: Vec<i64> = self.steps().collect();
        let mut li = StepIter::new(&lhs);
        let mut ri = StepIter::new(&rhs);
        let (mut lnow, mut rnow) = (Vec::new(), Vec::new());
        let mut lout: Vec<Vec<(i64, f64)>> = vec![Vec::new(); lhs.len()];
        let mut rout: Vec<Vec<(i64, f64)>> = vec![Vec::new(); rhs.len()];
        let mut mark = vec![usize::MAX; nsig];
        for (si, &t) in steps.iter().enumerate() {
            li.at(t, &mut lnow);
            ri.at(t, &mut rnow);
            match op {
                Op::And | Op::Unless => {
                    for &(i, _) in &rnow {
                        mark[rsig[i]] = si;
                    }
                    for &(i, v) in &lnow {
                        let present = mark[lsig[i]] == si;
                        if present == (op == Op::And) {
                            lout[i].push((t, v));
                        }
                    }
                }
                _ => {
                    for &(i, v) in &lnow {
                        mark[lsig[i]] = si;
                        lout[i].push((t, v));
                    }
                    for &(i, v) in &rnow {
                        if mark[rsig[i]] != si {
                            rout[i].push((t, v));
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        for (s, points) in lhs.into_iter().zip(lout) {
            if !points.is_empty() {
                out.push(Series {
                    labels: s.labels,
                    points,
                });
            }
        }
        for (s, points) in rhs.into_iter().zip(rout) {
            if !points.is_empty() {
                out.push(Series {
                    labels: s.labels,
                    points,
                });
            }
        }
        self.finish(out)
    }

    fn vector_vector(
        &mut self,
        op: Op,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        m: &Matching<'_>,
        card: &VectorMatchCardinality,
        return_bool: bool,
    ) -> EvalResult<Val> {
        // The "one" side is the right, unless group_right: then swap.
        let (one_to_many, include): (bool, &[String]) = match card {
            VectorMatchCardinality::ManyToOne(ls) => (false, &ls.labels),
            VectorMatchCardinality::OneToMany(ls) => (true, &ls.labels),
            _ => (false, &[]),
        };
        let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
        let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
        let mut sig_ids: HashMap<Labels, usize> = HashMap::new();
        let mut sig_labels: Vec<Labels> = Vec::new();
        let mut sig_of = |l: &Labels| {
            let s = m.signature(l);
            match sig_ids.get(&s) {
                Some(&i) => i,
                None => {
                    sig_ids.insert(s.clone(), sig_labels.len());
                    sig_labels.push(s);
                    sig_labels.len() - 1
                }
            }
        };
        let msig: Vec<usize> = many.iter().map(|s| sig_of(&s.labels)).collect();
        let osig: Vec<usize> = one.iter().map(|s| sig_of(&s.labels)).collect();
        let nsig = sig_labels.len();
        let steps: Vec<i64> = self.steps().collect();
        let mut mi = StepIter::new(&many);
        let mut oi = StepIter::new(&one);
        let (mut mnow, mut onow) = (Vec::new(), Vec::new());
        // For each signature at this step: the "one" side's series and value.
        let mut one_at: Vec<(usize, usize, f64)> = vec![(usize::MAX, 0, 0.0); nsig];
        let mut matched: Vec<usize> = vec![usize::MAX; nsig];
        let mut inserted: HashMap<usize, Vec<Labels>> = HashMap::new();
        let mut result_of: HashMap<(usize, usize), usize> = HashMap::new();
        let mut out: Vec<Series> = Vec::new();
        for (si, &t) in steps.iter().enumerate() {
            if si % 256 == 0 {
                self.check_deadline()?;
            }
            mi.at(t, &mut mnow);
            oi.at(t, &mut onow);
            if mnow.is_empty() || onow.is_empty() {
                continue;
            }
            for &(i, v) in &onow {
                let sg = osig[i];
                if one_at[sg].0 == si {
                    let side = if one_to_many { "left" } else { "right" };
                    let other = &one[one_at[sg].1].labels;
                    return exec_err(format!(
                        "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        sig_labels[sg], one[i].labels, other
                    ));
                }
                one_at[sg] = (si, i, v);
            }
            inserted.clear();
            for &(i, v) in &mnow {
                let sg = msig[i];
                let (ss, oidx, ov) = one_at[sg];
                if ss != si {
                    continue;
                }
                let (vl, vr) = if one_to_many { (ov, v) } else { (v, ov) };
                let (mut value, keep) = op.apply(vl, vr);
                if return_bool {
                    value = if keep { 1.0 } else { 0.0 };
                } else if !keep {
                    continue;
                }
                let o = match result_of.get(&(i, oidx)) {
                    Some(&o) => o,
                    None => {
                        let mut labels = result_labels(
                            &many[i].labels,
                            &one[oidx].labels,
                            op,
                            m,
                            one_to_one,
                            include,
                        );
                        if return_bool {
                            labels = drop_name(&labels);
                        }
                        out.push(Series {
                            labels,
                            points: Vec::new(),
                        });
                        result_of.insert((i, oidx), out.len() - 1);
                        out.len() - 1
                    }
                };
                if one_to_one {
                    if matched[sg] == si {
                        return exec_err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
                    }
                    matched[sg] = si;
                } else {
                    let seen = inserted.entry(sg).or_default();
                    if seen.contains(&out[o].labels) {
                        return exec_err("multiple matches for matching labels in grouping labels: many-to-one matching must be explicit (group_left/group_right)");
                    }
                    seen.push(out[o].labels.clone());
                }
                out[o].points.push((t, value));
            }
        }
        out.retain(|s| !s.points.is_empty());
        let total: usize = out.iter().map(|s| s.points.len()).sum();
        self.add_samples(total)?;
        self.finish(out)
    }
}

/// Prometheus's `resultMetric`.
fn result_labels(
    lhs: &Labels,
    rhs: &Labels,
    op: Op,
    m: &Matching<'_>,
    one_to_one: bool,
    include: &[String],
) -> Labels {
    let mut pairs: Vec<(String, String)> = lhs
        .iter()
        .filter(|(n, _)| !(op.drops_name() && *n == "__name__"))
        .filter(|(n, _)| {
            if !one_to_one {
                return true;
            }
            let listed = m.names.iter().any(|x| x == n);
            if m.on {
                listed
            } else {
                !listed
            }
        })
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    for ln in include {
        pairs.retain(|(n, _)| n != ln);
        if let Some(v) = rhs.get(ln) {
            if !v.is_empty() {
                pairs.push((ln.clone(), v.to_string()));
            }
        }
    }
    Labels::from_pairs(pairs)
}
