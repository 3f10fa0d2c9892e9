//! PromQL: queries parsed by the `promql-parser` crate and evaluated here, over the
//! store's [`Queryable`] view, with Prometheus 2.42's semantics for float samples.
//!
//! Evaluation works on whole ranges at once, as Prometheus's engine does: every node
//! yields, for each output series, its points at the query's steps (an instant query is
//! a range of one step). Range functions walk each series' samples once per query, and
//! aggregations and binary operators compute their groups and matches once per series
//! rather than once per step.

mod aggr;
mod binop;
mod eval;
mod functions;
pub mod test_script;

use std::fmt;
use std::sync::Once;
use std::time::Duration;

use promql_parser::parser::{self, Expr};

use crate::tsdb::{Labels, Queryable};

pub use eval::EvalOptions;

/// What a query returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        v: String,
    },
    /// An instant vector: one sample per series, at the evaluation time.
    Vector(Vec<Sample>),
    /// A range vector (range queries, and instant queries of `x[5m]`).
    Matrix(Vec<Series>),
}

/// One sample of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// A series with its points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// Why a query failed, with the error type of Prometheus's HTTP API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// The query does not parse or is not valid (`bad_data`, HTTP 400).
    BadData(String),
    /// Evaluation failed (`execution`, HTTP 422).
    Execution(String),
    /// The query ran past its timeout (`timeout`, HTTP 503).
    Timeout(String),
    /// The query was cancelled (`canceled`, HTTP 503).
    Canceled(String),
}

impl QueryError {
    /// The `errorType` of Prometheus's API envelope.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled(_) => "canceled",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            QueryError::BadData(m)
            | QueryError::Execution(m)
            | QueryError::Timeout(m)
            | QueryError::Canceled(m) => m,
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for QueryError {}

/// Functions Prometheus 2.42 has. The parser follows Prometheus 3 and knows more; those
/// are refused as 2.42 refuses them.
const FUNCTIONS_2_42: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
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
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_count",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_sum",
    "holt_winters",
    "double_exponential_smoothing",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_replace",
    "label_join",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
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
    "time",
    "timestamp",
    "vector",
    "year",
];

/// Limits on a query's text, checked before the parser sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// `--query.max-length`: the longest query text, in bytes.
    pub max_length: usize,
    /// `--query.max-depth`: the deepest syntax tree (nested calls, aggregations,
    /// parentheses, subqueries, chains of operators).
    pub max_depth: usize,
}

/// The default of `--query.max-length` (256 KiB): a Grafana query with a regex of
/// 10,000 instance names fits.
pub const DEFAULT_MAX_LENGTH: usize = 256 * 1024;
/// The default of `--query.max-depth`. Every query of the dashboards, the mesh model and
/// Prometheus's own PromQL tests is at most 15 deep by this measure (tests check it).
pub const DEFAULT_MAX_DEPTH: usize = 256;
/// The most `--query.max-depth` may be set to: every walk over a tree this deep fits in
/// the stack of the threads that parse and evaluate queries ([`QUERY_THREAD_STACK`]),
/// which the hostile-request test proves at this depth in a debug build.
pub const MAX_DEPTH_CEILING: usize = 1024;
/// The stack of every thread that parses or evaluates a query (the collector's runtime
/// workers and blocking threads).
pub const QUERY_THREAD_STACK: usize = 32 * 1024 * 1024;

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_length: DEFAULT_MAX_LENGTH,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Parse a query within the default [`QueryLimits`] (rule files, tests).
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    parse_with(query, &QueryLimits::default())
}

/// Parse a query. Accepts 2.x's `holt_winters` (Prometheus 3 renamed it
/// `double_exponential_smoothing`, which the parser knows) and refuses what 2.42 does
/// not have (functions added later, `limitk`, `or` inside selectors), and anything
/// longer or deeper than `limits`.
pub fn parse_with(query: &str, limits: &QueryLimits) -> Result<Expr, QueryError> {
    if query.len() > limits.max_length {
        return Err(QueryError::BadData(format!(
            "the query is {} bytes long, more than --query.max-length ({} bytes)",
            query.len(),
            limits.max_length
        )));
    }
    if let Err(at) = depth_scan(query, limits.max_depth) {
        return Err(parse_error(
            query,
            Some(at),
            format!(
                "the query is nested too deeply: more than {} levels of calls, \
                 aggregations, parentheses, subqueries or operators (--query.max-depth)",
                limits.max_depth
            ),
        ));
    }
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        use parser::value::ValueType;
        // An error means it is registered already (or built in); either way it parses.
        let _ = parser::register_extra_functions(vec![parser::Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        )]);
    });
    check_durations(query)?;
    // The parser panics on some inputs it should refuse (durations past what
    // `std::time::Duration` holds); `check_durations` refuses the known ones first, and
    // anything else becomes a bad request rather than a dead connection.
    let parsed = std::panic::catch_unwind(|| parser::parse_located(query))
        .map_err(|_| QueryError::BadData("invalid query (the parser gave up on it)".into()))?;
    let expr = parsed.map_err(|e| QueryError::BadData(e.display(query)))?;
    check_2_42(query, &expr)?;
    Ok(expr)
}

/// The offset just past the string literal that opens at `b[i]` (a quote, `'` or a
/// backtick; backslash escapes except in backtick strings), or the end of the text.
fn skip_string(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut i = i + 1;
    while i < b.len() && b[i] != q {
        i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
    }
    i + 1
}

/// How deep a query is by the measure `--query.max-depth` limits (see [`depth_scan`]).
pub fn query_depth(q: &str) -> usize {
    depth_scan(q, usize::MAX).unwrap_or(usize::MAX)
}

/// Measure how deep the syntax tree of `q` can be, on the text alone, before the parser
/// builds the tree: every walk over it (the parser's own checks, 2.42's, evaluation,
/// printing, dropping) recurses once per level, so a deep enough tree would exhaust a
/// thread's stack. `Ok` holds the measure; `Err` the byte offset where it passed `limit`.
///
/// The measure is an upper bound of the tree's depth. Within one bracket level, a path
/// from the root passes through at most one node per operator token of that level
/// (binary and unary operators, each `[` of a range or subquery) and then into one
/// bracketed group or a leaf; a group adds one node (the parentheses, or the call or
/// aggregation whose arguments it holds); a comma starts another argument. Label
/// matchers, strings and comments add nothing.
fn depth_scan(q: &str, limit: usize) -> Result<usize, usize> {
    #[derive(Default)]
    struct Level {
        /// Operator tokens of the current argument.
        ops: usize,
        /// The deepest group of the current argument.
        child: usize,
        /// The deepest argument before the last comma.
        best: usize,
    }
    impl Level {
        fn depth(&self) -> usize {
            self.best.max(self.ops + self.child.max(1))
        }
    }
    let b = q.as_bytes();
    let mut stack = vec![Level::default()];
    // Σ (ops + 1) over the levels enclosing the current one.
    let mut outer = 0usize;
    let mut deepest = 1;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'{' => {
                // Label matchers: names, operators and strings, no nesting.
                i += 1;
                while i < b.len() && b[i] != b'}' {
                    if matches!(b[i], b'"' | b'\'' | b'`') {
                        i = skip_string(b, i);
                    } else {
                        i += 1;
                    }
                }
                i += 1;
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b':' || c == b'.' => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || matches!(b[i], b'_' | b':' | b'.')
                        || (matches!(b[i], b'+' | b'-')
                            && matches!(b[i - 1], b'e' | b'E')
                            && b[start].is_ascii_digit()))
                {
                    i += 1;
                }
                let word = &q[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    if let Some(cur) = stack.last_mut() {
                        cur.ops += 1;
                    }
                } else {
                    continue;
                }
            }
            b'(' | b'[' => {
                if b[i] == b'[' {
                    // A range or subquery wraps what stands before it.
                    if let Some(cur) = stack.last_mut() {
                        cur.ops += 1;
                    }
                }
                if let Some(cur) = stack.last() {
                    outer += cur.ops + 1;
                }
                stack.push(Level::default());
                i += 1;
            }
            b')' | b']' => {
                if stack.len() > 1 {
                    let done = stack.pop().map(|l| l.depth()).unwrap_or(1);
                    if let Some(cur) = stack.last_mut() {
                        outer = outer.saturating_sub(cur.ops + 1);
                        cur.child = cur.child.max(done + 1);
                    }
                }
                i += 1;
            }
            b',' => {
                if let Some(cur) = stack.last_mut() {
                    cur.best = cur.depth();
                    cur.ops = 0;
                    cur.child = 0;
                }
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' if matches!(b.get(i + 1), Some(b'=' | b'~')) => {
                // `==`, `!=`, `<=`, `>=`, `=~`, `!~`: one token.
                if let Some(cur) = stack.last_mut() {
                    cur.ops += 1;
                }
                i += 2;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b'~' | b'@' => {
                if let Some(cur) = stack.last_mut() {
                    cur.ops += 1;
                }
                i += 1;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        let here = outer + stack.last().map_or(1, Level::depth);
        if here > limit {
            return Err(start);
        }
        deepest = deepest.max(here);
    }
    Ok(deepest)
}

/// Refuse numbers used as durations or `@` times that are not finite or beyond ±1e12
/// seconds (about 31,700 years): the parser turns them into `std::time::Duration` or
/// `SystemTime`, which panics on them. Numbers inside string literals are skipped.
fn check_durations(q: &str) -> Result<(), QueryError> {
    let b = q.as_bytes();
    let mut i = 0;
    let mut prev: Option<u8> = None; // the last significant character before a token
    let mut prev_word = String::new();
    while i < b.len() {
        let c = b[i];
        if c == b'"' || c == b'\'' || c == b'`' {
            i = skip_string(b, i);
            prev = Some(b'"');
            prev_word.clear();
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'_'
                    || b[i] == b'.'
                    || ((b[i] == b'+' || b[i] == b'-')
                        && i > start
                        && matches!(b[i - 1], b'e' | b'E')))
            {
                i += 1;
            }
            let tok = &q[start..i];
            let duration_place = matches!(prev, Some(b'[' | b':' | b'@'))
                || prev_word.eq_ignore_ascii_case("offset");
            if duration_place {
                if let Ok(v) = tok.parse::<f64>() {
                    if !v.is_finite() || v.abs() > 1e12 {
                        return Err(parse_error(
                            q,
                            Some(start),
                            format!("duration or time {tok:?} is out of range"),
                        ));
                    }
                }
            }
            prev = Some(b'a');
            prev_word = tok.to_string();
            continue;
        }
        // A sign directly before a number keeps the context (`offset -5`, `@ -1`).
        let sign = c == b'-' || c == b'+';
        if sign
            && (matches!(prev, Some(b'[' | b':' | b'@'))
                || prev_word.eq_ignore_ascii_case("offset"))
        {
            i += 1;
            continue;
        }
        prev = Some(c);
        prev_word.clear();
        i += 1;
    }
    Ok(())
}

/// A parse error in Prometheus's form, `line:col: parse error: msg`.
fn parse_error(query: &str, pos: Option<usize>, msg: String) -> QueryError {
    QueryError::BadData(parser::ParseError { msg, pos }.display(query))
}

/// The byte offset of the first identifier `word` outside string literals (for placing
/// an error found on the syntax tree, which keeps no positions).
fn find_word(q: &str, word: &str) -> Option<usize> {
    let b = q.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                if &q[start..i] == word {
                    return Some(start);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Refuse what promql-parser (which follows Prometheus 3) accepts but 2.42 does not.
fn check_2_42(q: &str, e: &Expr) -> Result<(), QueryError> {
    let bad = |word: &str, m: String| Err(parse_error(q, find_word(q, word), m));
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if op == "limitk" || op == "limit_ratio" {
                return bad(&op, format!("unknown aggregation operator {op:?}"));
            }
            if let Some(p) = &a.param {
                check_2_42(q, p)?;
            }
            check_2_42(q, &a.expr)
        }
        Expr::Unary(u) => check_2_42(q, &u.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    let word = ["fill", "fill_left", "fill_right"]
                        .into_iter()
                        .find(|w| find_word(q, w).is_some())
                        .unwrap_or("fill");
                    return bad(word, "fill modifiers are not supported".into());
                }
            }
            check_2_42(q, &b.lhs)?;
            check_2_42(q, &b.rhs)
        }
        Expr::Paren(p) => check_2_42(q, &p.expr),
        Expr::Subquery(s) => check_2_42(q, &s.expr),
        Expr::VectorSelector(vs) => check_selector(q, vs),
        Expr::MatrixSelector(ms) => check_selector(q, &ms.vs),
        Expr::Call(c) => {
            if !FUNCTIONS_2_42.contains(&c.func.name) {
                return bad(
                    c.func.name,
                    format!("unknown function with name {:?}", c.func.name),
                );
            }
            for a in &c.args.args {
                check_2_42(q, a)?;
            }
            Ok(())
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Extension(_) => Err(parse_error(q, None, "unsupported expression".into())),
    }
}

// Negative offsets are stable since Prometheus 2.33 (the differential test against 2.42
// checks it), so every offset is accepted.
fn check_selector(q: &str, vs: &parser::VectorSelector) -> Result<(), QueryError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(parse_error(
            q,
            find_word(q, "or"),
            "'or' in label matchers is not supported".into(),
        ));
    }
    Ok(())
}

/// Evaluate `query` at time `t` (ms).
pub fn instant_query(
    store: &dyn Queryable,
    query: &str,
    t: i64,
    opts: &EvalOptions,
) -> Result<Value, QueryError> {
    let expr = parse(query)?;
    eval::instant(store, &expr, t, opts)
}

/// Evaluate `query` from `start` to `end` every `step` (ms); the result is a matrix.
pub fn range_query(
    store: &dyn Queryable,
    query: &str,
    start: i64,
    end: i64,
    step: i64,
    opts: &EvalOptions,
) -> Result<Value, QueryError> {
    let expr = parse(query)?;
    eval::range(store, &expr, start, end, step, opts)
}

/// Evaluate a parsed query at time `t` (ms), as rules do.
pub fn instant_query_expr(
    store: &dyn Queryable,
    expr: &Expr,
    t: i64,
    opts: &EvalOptions,
) -> Result<Value, QueryError> {
    eval::instant(store, expr, t, opts)
}

/// Evaluate a parsed query over a range (rule backfills).
pub fn range_query_expr(
    store: &dyn Queryable,
    expr: &Expr,
    start: i64,
    end: i64,
    step: i64,
    opts: &EvalOptions,
) -> Result<Value, QueryError> {
    eval::range(store, expr, start, end, step, opts)
}

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Format a float as Prometheus does in label values and the API (Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, with `+Inf`, `-Inf`, `NaN`).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positions and messages as Prometheus 2.42 gives them for the same queries (read
    /// off its /api/v1/query; where the wording differs only in quoting or type names,
    /// the position is what is compared).
    #[test]
    fn parse_errors_carry_line_and_column() {
        let cases = [
            (
                "foo{a>\"1\"}",
                "1:6:",
                "unexpected character inside braces: '>'",
            ),
            ("sum by (a) (foo", "1:16:", "unclosed left parenthesis"),
            ("foo +", "1:6:", "unexpected end of input"),
            ("foo + * bar", "1:7:", "unexpected \"*\""),
            (
                "1 + sum_by(x)",
                "1:5:",
                "unknown function with name 'sum_by'",
            ),
            ("foo{a=\"b\"} bool + 1", "1:12:", "unexpected \"bool\""),
            ("sum(rate(x[5m])) by", "1:20:", "unexpected end of input"),
            (
                "foo and 1",
                "1:1:",
                "not allowed in binary scalar expression",
            ),
            ("abs(foo, bar)", "1:1:", "expected 1 argument(s)"),
            ("x\n + abs(y[5m])", "2:4:", "expected type vector"),
            ("foo[1d:5m:3]", "1:10:", "colon"),
            ("$", "1:1:", "unexpected character: '$'"),
            (
                "sort_by_label(foo)",
                "1:1:",
                "unknown function with name \"sort_by_label\"",
            ),
            (
                "\"a\" + 1",
                "1:1:",
                "binary expression must contain only scalar",
            ),
            (
                "sum(foo) by (a) without (b)",
                "1:17:",
                "unexpected \"without\"",
            ),
            ("x + foo offset 1e99", "1:16:", "out of range"),
            ("x + limitk(1, y)", "1:5:", "unknown aggregation operator"),
        ];
        for (q, pos, msg) in cases {
            let e = match parse(q) {
                Err(QueryError::BadData(e)) => e,
                other => panic!("{q}: {other:?}"),
            };
            assert!(e.starts_with(&format!("{pos} parse error: ")), "{q}: {e}");
            assert!(e.contains(msg), "{q}: {e}");
        }
    }

    #[test]
    fn durations_the_parser_would_panic_on_are_bad_data() {
        for q in [
            "max_over_time/(up[00m:0m] offset 111111111111111111111111111111111111111111111)",
            "x[Inf]",
            "x[1e300]",
            "x offset 1e300",
            "x offset -1e300",
            "x @ 1e300",
            "rate(x[5m:NaN])",
        ] {
            let e = parse(q).unwrap_err();
            assert!(matches!(e, QueryError::BadData(_)), "{q}: {e:?}");
        }
        for q in [
            "x[5m]",
            "x offset 5",
            "x @ 1609746000",
            "node:mesh_up:max",
            "x{a=\"1e300\"}",
            "label_replace(x, \"a\", \"$1\", \"b\", \"[Inf]\")",
            "rate(x[5m:30s] offset 1m)",
        ] {
            assert!(parse(q).is_ok(), "{q}: {:?}", parse(q));
        }
        // Negative offsets are stable in 2.42.
        assert!(parse("x offset -5m").is_ok());
    }
}

#[cfg(test)]
mod limits_tests;
