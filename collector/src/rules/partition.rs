//! A rule evaluated for a few nodes only: the mesh model's rules group by `node`, so after
//! a scrape commits, the collector brings only the scraped nodes' model series up to
//! date instead of evaluating the whole mesh (issue: the model's cost must grow with what
//! was scraped, not with nodes × evaluations).
//!
//! [`restrict`] pushes a matcher `node=~"n1|n2|…"` down into every selector whose
//! results can reach an output series of those nodes, and leaves alone the parts of an
//! expression that could mix nodes. The rewrite is exact because it only passes through
//! operations that are *node-local*: each output series has the `node` of the input
//! series it was computed from, and only those. For such an operation `op`,
//! `filter(op(a, b)) = op(filter(a), filter(b))` where `filter` keeps the chosen nodes:
//!
//! - selectors (the matcher is the filter);
//! - functions that keep their argument's labels (`rate`, `clamp_min`,
//!   `histogram_quantile`, `label_replace` into another label, …);
//! - aggregations whose grouping keeps `node` (`by (node, …)`, `without (…)` without it);
//! - binary operations between vectors that match on `node` (no `on`/`ignoring`,
//!   `on (node, …)`, `ignoring (…)` without it), `and`, `or` and `unless` included: a
//!   series pairs only with series of its own node; with a scalar, the vector side.
//!
//! Anything else (a grouping without `node`, `label_replace` into `node`, `vector()`,
//! `absent`, …) is evaluated whole, and the result is filtered at the end, which keeps
//! it correct: [`Restricted::complete`] says whether every selector was reached, which
//! is what makes the per-node path cheap. The collector's tests hold the result to the
//! full evaluation, filtered.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, ParenExpr, SubqueryExpr, UnaryExpr,
};

/// An expression rewritten for some nodes.
pub struct Restricted {
    pub expr: Expr,
    /// Every selector of the expression has the nodes' matcher: the evaluation reads
    /// only those nodes' series.
    pub complete: bool,
}

/// Functions whose output series keep the labels of their (vector or range) argument,
/// one output per input series.
const LABEL_KEEPING: &[&str] = &[
    "abs",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_sum",
    "holt_winters",
    "idelta",
    "increase",
    "irate",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "mad_over_time",
    "max_over_time",
    "min_over_time",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "timestamp",
];

/// The matcher for some values of `label`: `label="v"` for one, else `label=~"v1|v2|…"`
/// (which the index looks up value by value). `None` if the regex is too large to build.
pub fn matcher(label: &str, values: &[String]) -> Option<Matcher> {
    if let [one] = values {
        return Some(Matcher::new(MatchOp::Equal, label, one));
    }
    let alt: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
    let alt = alt.join("|");
    let re = regex::Regex::new(&format!("^(?:{alt})$")).ok()?;
    Some(Matcher::new(MatchOp::Re(re), label, &alt))
}

/// `e` with a matcher `label=~"values…"` in every selector it can reach without mixing
/// values of `label`. Filtered to those values, its result equals `e`'s, filtered.
pub fn restrict(e: &Expr, label: &str, values: &[String]) -> Restricted {
    match matcher(label, values) {
        Some(m) => restrict_with(e, label, &m),
        // Too large a regex: no restriction at all is still exact.
        None => Restricted {
            expr: e.clone(),
            complete: !has_selector(e),
        },
    }
}

/// [`restrict`] with the matcher built once (by [`matcher`]) for many expressions.
pub fn restrict_with(e: &Expr, label: &str, m: &Matcher) -> Restricted {
    let (expr, complete) = push(e, label, m);
    Restricted { expr, complete }
}

/// Whether every selector of `e` can be restricted to some values of `label` (the rule
/// can be evaluated per node, reading only those nodes' series).
pub fn partitionable(e: &Expr, label: &str) -> bool {
    push(e, label, &Matcher::new(MatchOp::Equal, label, "x")).1
}

fn has_selector(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => true,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => false,
        Expr::Paren(p) => has_selector(&p.expr),
        Expr::Unary(u) => has_selector(&u.expr),
        Expr::Subquery(s) => has_selector(&s.expr),
        Expr::Aggregate(a) => has_selector(&a.expr) || a.param.as_deref().is_some_and(has_selector),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        Expr::Call(c) => c.args.args.iter().any(|a| has_selector(a)),
    }
}

/// Left as it is: exact, and complete if nothing in it reads series.
fn whole(e: &Expr) -> (Expr, bool) {
    (e.clone(), !has_selector(e))
}

fn keeps(modifier: &Option<LabelModifier>, label: &str, absent: bool) -> bool {
    match modifier {
        None => absent,
        Some(LabelModifier::Include(l)) => l.labels.iter().any(|n| n == label),
        Some(LabelModifier::Exclude(l)) => !l.labels.iter().any(|n| n == label),
    }
}

fn push(e: &Expr, label: &str, m: &Matcher) -> (Expr, bool) {
    match e {
        Expr::VectorSelector(vs) => {
            let mut vs = vs.clone();
            vs.matchers.matchers.push(m.clone());
            (Expr::VectorSelector(vs), true)
        }
        Expr::MatrixSelector(ms) => {
            let mut ms = ms.clone();
            ms.vs.matchers.matchers.push(m.clone());
            (Expr::MatrixSelector(ms), true)
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => (e.clone(), true),
        Expr::Extension(_) => (e.clone(), false),
        Expr::Paren(p) => {
            let (inner, c) = push(&p.expr, label, m);
            (
                Expr::Paren(ParenExpr {
                    expr: Box::new(inner),
                }),
                c,
            )
        }
        Expr::Unary(u) => {
            let (inner, c) = push(&u.expr, label, m);
            (
                Expr::Unary(UnaryExpr {
                    expr: Box::new(inner),
                }),
                c,
            )
        }
        Expr::Subquery(s) => {
            let (inner, c) = push(&s.expr, label, m);
            (
                Expr::Subquery(SubqueryExpr {
                    expr: Box::new(inner),
                    ..s.clone()
                }),
                c,
            )
        }
        Expr::Aggregate(a) => {
            // Without a grouping an aggregation folds every node into one series.
            let param_is_label =
                matches!(a.param.as_deref(), Some(Expr::StringLiteral(s)) if s.val == label);
            if !keeps(&a.modifier, label, false) || param_is_label {
                return whole(e);
            }
            let (inner, c) = push(&a.expr, label, m);
            let param_c = !a.param.as_deref().is_some_and(has_selector);
            (
                Expr::Aggregate(AggregateExpr {
                    expr: Box::new(inner),
                    ..a.clone()
                }),
                c && param_c,
            )
        }
        Expr::Call(c) => {
            let name = c.func.name;
            let into_label = matches!(name, "label_replace" | "label_join")
                && matches!(c.args.args.get(1).map(|a| a.as_ref()), Some(Expr::StringLiteral(s)) if s.val == label);
            if !LABEL_KEEPING.contains(&name) && !matches!(name, "label_replace" | "label_join")
                || into_label
            {
                return whole(e);
            }
            let mut complete = true;
            let mut call: Call = c.clone();
            for a in call.args.args.iter_mut() {
                let (x, ok) = match a.value_type() {
                    ValueType::Vector | ValueType::Matrix => push(a, label, m),
                    _ => whole(a),
                };
                complete &= ok;
                **a = x;
            }
            (Expr::Call(call), complete)
        }
        Expr::Binary(b) => {
            let (lt, rt) = (b.lhs.value_type(), b.rhs.value_type());
            let vector = |t: ValueType| t == ValueType::Vector;
            let ok = match (vector(lt), vector(rt)) {
                // Series pair with series of the same node only.
                (true, true) => keeps(
                    &b.modifier.as_ref().and_then(|md| md.matching.clone()),
                    label,
                    true,
                ),
                // A vector and a scalar: each series on its own.
                (true, false) | (false, true) => true,
                (false, false) => return whole(e),
            };
            if !ok {
                return whole(e);
            }
            let side = |x: &Expr, t: ValueType| {
                if vector(t) {
                    push(x, label, m)
                } else {
                    whole(x)
                }
            };
            let (l, lc) = side(&b.lhs, lt);
            let (r, rc) = side(&b.rhs, rt);
            (
                Expr::Binary(BinaryExpr {
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                    ..b.clone()
                }),
                lc && rc,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Expr {
        promql_parser::parser::parse(s).unwrap()
    }

    #[test]
    fn node_local_operations_take_the_matcher_and_others_are_left_whole() {
        let nodes = ["a".to_string(), "b.c".to_string()];
        let cases: &[(&str, &str, bool)] = &[
            (
                "sum by (node, role) (rate(x[1m]))",
                r#"sum by (node, role) (rate(x{node=~"a|b\\.c"}[1m]))"#,
                true,
            ),
            (
                "sum by (node) (a) - sum by (node) (b) or 0 * c",
                r#"sum by (node) (a{node=~"a|b\\.c"}) - sum by (node) (b{node=~"a|b\\.c"}) or 0 * c{node=~"a|b\\.c"}"#,
                true,
            ),
            // A grouping without node mixes nodes: left whole.
            ("sum by (role) (x)", "sum by (role) (x)", false),
            // The sum has no node, so it pairs with no series of the nodes: still exact.
            (
                "sum without (node) (x) + y",
                r#"sum without (node) (x) + y{node=~"a|b\\.c"}"#,
                false,
            ),
            // Into node: left whole; into another label: passed through.
            (
                r#"label_replace(x, "node", "$1", "server", "(.+)")"#,
                r#"label_replace(x, "node", "$1", "server", "(.+)")"#,
                false,
            ),
            (
                r#"label_replace(x, "src_node", "$1", "node", "(.+)")"#,
                r#"label_replace(x{node=~"a|b\\.c"}, "src_node", "$1", "node", "(.+)")"#,
                true,
            ),
            // Matching on node, or not.
            (
                "x / on (node) group_left y",
                r#"x{node=~"a|b\\.c"} / on (node) group_left () y{node=~"a|b\\.c"}"#,
                true,
            ),
            ("x / on (role) y", "x / on (role) y", false),
            (
                "x / ignoring (device) y",
                r#"x{node=~"a|b\\.c"} / ignoring (device) y{node=~"a|b\\.c"}"#,
                true,
            ),
            // A scalar side stays as it is.
            (
                "x > scalar(sum(y))",
                r#"x{node=~"a|b\\.c"} > scalar(sum(y))"#,
                false,
            ),
            (
                "histogram_quantile(0.5, sum by (node, le) (rate(h[1m])))",
                r#"histogram_quantile(0.5, sum by (node, le) (rate(h{node=~"a|b\\.c"}[1m])))"#,
                true,
            ),
            ("vector(1)", "vector(1)", true),
            ("absent(x)", "absent(x)", false),
        ];
        for (input, want, complete) in cases {
            let r = restrict(&parse(input), "node", &nodes);
            assert_eq!(r.expr.to_string(), parse(want).to_string(), "{input}");
            assert_eq!(r.complete, *complete, "{input}");
            assert_eq!(partitionable(&parse(input), "node"), *complete, "{input}");
        }
        // One node: an equality matcher.
        let r = restrict(&parse("rate(x[1m])"), "node", &["a".to_string()]);
        assert_eq!(r.expr.to_string(), r#"rate(x{node="a"}[1m])"#);
    }

    #[test]
    fn every_recording_rule_of_the_mesh_model_is_partitionable_by_node() {
        let groups = super::super::mesh_model().unwrap();
        for g in &groups {
            for r in &g.rules {
                if matches!(r.kind, super::super::RuleKind::Recording) {
                    assert!(
                        partitionable(&r.parsed, "node"),
                        "{}: {} mixes nodes",
                        g.name,
                        r.name
                    );
                }
            }
        }
    }
}
