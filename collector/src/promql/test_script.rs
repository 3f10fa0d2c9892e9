//! A runner for Prometheus's promqltest scripts (`load`, `clear`, `eval instant at`,
//! `eval_fail`, `eval_ordered`), with the same comparisons as Prometheus 2.42's own
//! runner: values equal within a relative 1e-6 (NaN equals NaN), every expected series
//! present and nothing else, and each instant evaluation repeated as a range query from
//! one minute before to one minute after, whose middle step must give the same result.

use std::collections::HashMap;

use super::{instant_query, range_query, EvalOptions, Value};
use crate::config::duration::parse_duration;
use crate::tsdb::chunk::stale_nan;
use crate::tsdb::query::ChunkData;
use crate::tsdb::{Labels, Matcher, Queryable, SeriesChunks};

/// An in-memory store of whole series (for scripts and tests).
#[derive(Default)]
pub struct MemStore {
    series: Vec<(Labels, Vec<ChunkData>)>,
}

impl MemStore {
    /// Add a series (points in time order); a series with the same labels is replaced,
    /// as a later definition in a promqltest `load` replaces an earlier one.
    pub fn add(&mut self, labels: Labels, points: &[(i64, f64)]) {
        let chunks = ChunkData::encode(points);
        match self.series.iter_mut().find(|s| s.0 == labels) {
            Some(s) => s.1 = chunks,
            None => self.series.push((labels, chunks)),
        }
    }

    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = &'a (Labels, Vec<ChunkData>)> + 'a {
        self.series.iter().filter(move |(l, c)| {
            matchers.iter().all(|m| m.matches_labels(l))
                && c.iter().any(|c| c.max_t >= mint && c.min_t <= maxt)
        })
    }
}

impl Queryable for MemStore {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        let mut v: Vec<SeriesChunks> = self
            .matching(matchers, mint, maxt)
            .map(|(l, c)| SeriesChunks {
                labels: l.clone(),
                chunks: c.clone(),
            })
            .collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut v: Vec<Labels> = self
            .matching(matchers, mint, maxt)
            .map(|(l, _)| l.clone())
            .collect();
        v.sort();
        v
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut v: Vec<String> = self
            .matching(matchers, mint, maxt)
            .flat_map(|(l, _)| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        let mut v: Vec<String> = self
            .matching(matchers, mint, maxt)
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// One failed case.
#[derive(Debug)]
pub struct Failure {
    pub file: String,
    pub line: usize,
    pub query: String,
    pub message: String,
}

/// The outcome of one or more scripts.
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    pub failures: Vec<Failure>,
}

/// Every construct of PromQL that nests, `n` levels deep, by name: the queries that the
/// depth-limit tests (unit and end-to-end) attack with.
pub fn deep_queries(n: usize) -> Vec<(&'static str, String)> {
    let wrap = |open: &str, inner: &str, close: &str| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    vec![
        ("aggregations", wrap("sum(", "up", ")")),
        ("aggregations with by", wrap("sum by (job) (", "up", ")")),
        ("aggregation parameters", wrap("topk(1, ", "up", ")")),
        ("function calls", wrap("abs(", "up", ")")),
        (
            "label_replace chains",
            wrap(
                "label_replace(",
                "up",
                ", \"a\", \"$1\", \"job\", \"(.*)\")",
            ),
        ),
        ("parentheses", wrap("(", "up", ")")),
        ("unary minus", format!("{}up", "-".repeat(n))),
        ("unary signs mixed", format!("{}up", "- +".repeat(n))),
        ("addition chain", format!("up{}", "+up".repeat(n))),
        ("addition chain of numbers", format!("1{}", "+1".repeat(n))),
        ("or chain", format!("up{}", " or up".repeat(n))),
        ("and chain", format!("up{}", " and up".repeat(n))),
        ("comparison chain", format!("up{}", " == bool up".repeat(n))),
        (
            "power chain (right-assoc)",
            format!("up{}", "^up".repeat(n)),
        ),
        ("nested right operands", wrap("up + (", "up", ")")),
        (
            "subqueries in subqueries",
            wrap("max_over_time(", "up", "[5m:1m])"),
        ),
        (
            "subqueries of parentheses",
            wrap("(max_over_time((", "up", ")[5m:1m]))"),
        ),
        (
            "mixed",
            wrap("sum by (job) (rate((", "up", ")[5m:1m])) + 1"),
        ),
    ]
}

/// Prometheus's `almostEqual` with its epsilon.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < EPSILON * min_normal;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

fn parse_number(s: &str) -> Option<f64> {
    match s {
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => {
            if s.bytes()
                .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
            {
                return None;
            }
            s.parse().ok()
        }
    }
}

/// Expand a series' value notation: `1 2 _ stale 0+10x5 5-1x3 _x2 3x2`.
pub fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if tok == "_" {
            out.push(None);
            continue;
        }
        if tok == "stale" {
            out.push(Some(stale_nan()));
            continue;
        }
        if let Some(n) = tok.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| format!("bad repetition {tok:?}"))?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        // number [(+|-)number] [x count]
        let (head, times) = match tok.rfind('x') {
            Some(i) if tok[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < tok.len() => (
                &tok[..i],
                Some(tok[i + 1..].parse::<usize>().map_err(|e| e.to_string())?),
            ),
            _ => (tok, None),
        };
        // Split "a+b" / "a-b" at a sign that is not the first character nor after 'e'.
        let b = head.as_bytes();
        let split = (1..b.len())
            .find(|&i| (b[i] == b'+' || b[i] == b'-') && !matches!(b[i - 1], b'e' | b'E'));
        let (start, step) = match split {
            Some(i) => (
                parse_number(&head[..i]),
                Some(parse_number(&head[i..]).ok_or_else(|| format!("bad value {tok:?}"))?),
            ),
            None => (parse_number(head), None),
        };
        let start = start.ok_or_else(|| format!("bad value {tok:?}"))?;
        match times {
            None if step.is_none() => out.push(Some(start)),
            None => return Err(format!("bad value {tok:?}")),
            Some(n) => {
                let step = step.unwrap_or(0.0);
                let mut v = start;
                for _ in 0..=n {
                    out.push(Some(v));
                    v += step;
                }
            }
        }
    }
    Ok(out)
}

/// Parse `name{a="b", ...}` or `{...}` into labels.
pub fn parse_series_labels(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    let (name, rest) = match s.find('{') {
        Some(i) => (s[..i].trim(), &s[i..]),
        None => (s, ""),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    if !rest.is_empty() {
        let inner = rest
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| format!("bad series {s:?}"))?;
        let mut chars = inner.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let mut lname = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' {
                    lname.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.next() != Some('=') {
                return Err(format!("bad series {s:?}"));
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let quote = chars.next().ok_or_else(|| format!("bad series {s:?}"))?;
            if quote != '"' && quote != '\'' {
                return Err(format!("bad series {s:?}"));
            }
            let mut val = String::new();
            loop {
                match chars.next() {
                    None => return Err(format!("bad series {s:?}")),
                    Some('\\') => match chars.next() {
                        Some('n') => val.push('\n'),
                        Some('t') => val.push('\t'),
                        Some(c) => val.push(c),
                        None => return Err(format!("bad series {s:?}")),
                    },
                    Some(c) if c == quote => break,
                    Some(c) => val.push(c),
                }
            }
            pairs.push((lname, val));
        }
    }
    Ok(Labels::from_pairs(pairs))
}

/// Split a result or load line into its series part and its values part.
fn split_series_line(line: &str) -> (&str, &str) {
    let line = line.trim();
    let end = match line.find('{') {
        Some(i) if !line[..i].contains(char::is_whitespace) => {
            // Find the closing brace outside quotes.
            let mut in_q: Option<char> = None;
            let mut esc = false;
            let mut close = line.len();
            for (j, c) in line[i..].char_indices() {
                if esc {
                    esc = false;
                    continue;
                }
                match (in_q, c) {
                    (Some(_), '\\') => esc = true,
                    (Some(q), c) if c == q => in_q = None,
                    (None, '"') | (None, '\'') => in_q = Some(c),
                    (None, '}') => {
                        close = i + j + 1;
                        break;
                    }
                    _ => {}
                }
            }
            close
        }
        _ => line.find(char::is_whitespace).unwrap_or(line.len()),
    };
    (&line[..end], line[end..].trim())
}

struct Eval {
    line: usize,
    t: i64,
    query: String,
    fail: bool,
    ordered: bool,
    /// Expected series (labels, value) in order, or a scalar.
    expected: Vec<(Option<Labels>, f64)>,
}

/// Run one script's text; `file` names it in failures.
pub fn run_script(file: &str, text: &str, opts: &EvalOptions) -> Outcome {
    let mut out = Outcome::default();
    let mut store = MemStore::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let fail = |out: &mut Outcome, line: usize, query: &str, message: String| {
        out.failures.push(Failure {
            file: file.to_string(),
            line,
            query: query.to_string(),
            message,
        });
    };
    while i < lines.len() {
        let raw = lines[i];
        let l = raw.trim();
        i += 1;
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l == "clear" {
            store = MemStore::default();
            continue;
        }
        if let Some(rest) = l.strip_prefix("load ") {
            let step = match parse_duration(rest.trim()) {
                Ok(s) => s,
                Err(e) => {
                    fail(&mut out, i, l, format!("bad load interval: {e}"));
                    continue;
                }
            };
            while i < lines.len()
                && lines[i].starts_with(char::is_whitespace)
                && !lines[i].trim().is_empty()
            {
                let (series, values) = split_series_line(lines[i]);
                let line_no = i + 1;
                i += 1;
                let labels = match parse_series_labels(series) {
                    Ok(l) => l,
                    Err(e) => {
                        fail(&mut out, line_no, series, e);
                        continue;
                    }
                };
                match expand_values(values) {
                    Ok(vals) => {
                        let pts: Vec<(i64, f64)> = vals
                            .into_iter()
                            .enumerate()
                            .filter_map(|(k, v)| v.map(|v| (k as i64 * step, v)))
                            .collect();
                        store.add(labels, &pts);
                    }
                    Err(e) => fail(&mut out, line_no, series, e),
                }
            }
            continue;
        }
        let (kind, rest) = l.split_once(' ').unwrap_or((l, ""));
        if !matches!(kind, "eval" | "eval_fail" | "eval_ordered") {
            fail(&mut out, i, l, format!("unknown command {kind:?}"));
            continue;
        }
        let Some(rest) = rest.trim().strip_prefix("instant at ") else {
            fail(&mut out, i, l, "expected 'instant at <time> <expr>'".into());
            continue;
        };
        let (at, query) = rest.trim().split_once(' ').unwrap_or((rest, ""));
        let t = match parse_duration(at) {
            Ok(t) => t,
            Err(e) => {
                fail(&mut out, i, l, format!("bad time {at:?}: {e}"));
                continue;
            }
        };
        let mut ev = Eval {
            line: i,
            t,
            query: query.trim().to_string(),
            fail: kind == "eval_fail",
            ordered: kind == "eval_ordered",
            expected: Vec::new(),
        };
        let mut bad = None;
        while i < lines.len()
            && lines[i].starts_with(char::is_whitespace)
            && !lines[i].trim().is_empty()
        {
            let line = lines[i].trim();
            i += 1;
            if let Some(v) = parse_number(line) {
                ev.expected.push((None, v));
                continue;
            }
            let (series, value) = split_series_line(line);
            match (parse_series_labels(series), parse_number(value.trim())) {
                (Ok(l), Some(v)) => ev.expected.push((Some(l), v)),
                _ => bad = Some(format!("bad expected result {line:?}")),
            }
        }
        if let Some(b) = bad {
            fail(&mut out, ev.line, &ev.query, b);
            continue;
        }
        match run_eval(&store, &ev, opts) {
            Ok(()) => out.passed += 1,
            Err(m) => fail(&mut out, ev.line, &ev.query, m),
        }
    }
    out
}

fn fmt_expected(e: &[(Option<Labels>, f64)]) -> String {
    e.iter()
        .map(|(l, v)| match l {
            Some(l) => format!("{l} {v}"),
            None => format!("{v}"),
        })
        .collect::<Vec<_>>()
        .join("\n    ")
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::Scalar { v, .. } => format!("scalar {v}"),
        Value::String { v, .. } => format!("string {v:?}"),
        Value::Vector(s) => {
            if s.is_empty() {
                return "(empty vector)".into();
            }
            s.iter()
                .map(|s| format!("{} {}", s.labels, s.v))
                .collect::<Vec<_>>()
                .join("\n    ")
        }
        Value::Matrix(m) => format!("matrix of {} series", m.len()),
    }
}

fn compare(ev: &Eval, got: &Value, ordered: bool) -> Result<(), String> {
    let mismatch = |why: String| {
        Err(format!(
            "{why}\n  expected:\n    {}\n  got:\n    {}",
            fmt_expected(&ev.expected),
            fmt_value(got)
        ))
    };
    match got {
        Value::Scalar { v, .. } => {
            let Some((None, want)) = ev.expected.first() else {
                return mismatch("got a scalar, expected series".into());
            };
            if !almost_equal(*want, *v) {
                return mismatch(format!("expected scalar {want} but got {v}"));
            }
            Ok(())
        }
        Value::Vector(samples) => {
            let mut want: HashMap<&Labels, (usize, f64)> = HashMap::new();
            for (pos, (l, v)) in ev.expected.iter().enumerate() {
                match l {
                    Some(l) => {
                        want.insert(l, (pos, *v));
                    }
                    None => return mismatch("got a vector, expected a scalar".into()),
                }
            }
            let mut seen = 0;
            for (pos, s) in samples.iter().enumerate() {
                let Some(&(wpos, wv)) = want.get(&s.labels) else {
                    return mismatch(format!("unexpected metric {} in result", s.labels));
                };
                if ordered && wpos != pos {
                    return mismatch(format!(
                        "expected metric {} at position {} but was at {}",
                        s.labels,
                        wpos + 1,
                        pos + 1
                    ));
                }
                if !almost_equal(wv, s.v) {
                    return mismatch(format!("expected {wv} for {} but got {}", s.labels, s.v));
                }
                seen += 1;
            }
            if seen != want.len() {
                return mismatch(format!("expected {} series, got {}", want.len(), seen));
            }
            Ok(())
        }
        Value::Matrix(_) => mismatch("received range result on instant evaluation".into()),
        Value::String { .. } => mismatch("got a string".into()),
    }
}

fn run_eval(store: &MemStore, ev: &Eval, opts: &EvalOptions) -> Result<(), String> {
    let res = instant_query(store, &ev.query, ev.t, opts);
    if ev.fail {
        return match res {
            Err(_) => Ok(()),
            Ok(v) => Err(format!(
                "expected an error, got a result:\n    {}",
                fmt_value(&v)
            )),
        };
    }
    let got = res.map_err(|e| format!("error: {e}"))?;
    compare(ev, &got, ev.ordered)?;
    // The same in range mode, at the middle step.
    let rr = range_query(store, &ev.query, ev.t - 60_000, ev.t + 60_000, 60_000, opts)
        .map_err(|e| format!("error in range mode: {e}"))?;
    if ev.ordered {
        return Ok(());
    }
    let Value::Matrix(m) = rr else {
        return Err("range mode did not return a matrix".into());
    };
    let mid: Vec<super::Sample> = m
        .iter()
        .filter_map(|s| {
            s.points
                .iter()
                .find(|p| p.0 == ev.t)
                .map(|p| super::Sample {
                    labels: s.labels.clone(),
                    t: p.0,
                    v: p.1,
                })
        })
        .collect();
    let as_value = match got {
        Value::Scalar { .. } => Value::Scalar {
            t: ev.t,
            v: mid.first().map_or(f64::NAN, |s| s.v),
        },
        _ => Value::Vector(mid),
    };
    compare(ev, &as_value, false).map_err(|e| format!("range mode: {e}"))
}

/// Run script files and collect the outcome.
pub fn run_files(paths: &[std::path::PathBuf], opts: &EvalOptions) -> std::io::Result<Outcome> {
    let mut all = Outcome::default();
    for p in paths {
        let text = std::fs::read_to_string(p)?;
        let o = run_script(&p.display().to_string(), &text, opts);
        all.passed += o.passed;
        all.failures.extend(o.failures);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Huge step counts, offsets and `@` times fail or evaluate; they never overflow or
    /// allocate without bound.
    #[test]
    fn extreme_ranges_are_refused_or_bounded() {
        let mut store = MemStore::default();
        store.add(
            Labels::from_pairs([("__name__", "x")]),
            &[(0, 1.0), (60_000, 2.0)],
        );
        let opts = EvalOptions::default();
        for q in [
            "count_over_time(vector(1)[100y:1ms])",
            "sum_over_time(x[1000y:1ms])",
            "x offset 292y",
            "rate(x[292y] offset 292y)",
            "x @ 9223372036854775",
            "max_over_time((x @ -9223372036854775)[1h:1s])",
            "rate(x[5m:1ms] offset 100y)",
            "x offset -292y",
            "rate(x[5m:1ms] offset -100y)",
        ] {
            let r = instant_query(&store, q, 60_000, &opts);
            if let Err(e) = &r {
                assert!(
                    e.message().contains("too many samples")
                        || matches!(e, super::super::QueryError::BadData(_)),
                    "{q}: {e}"
                );
            }
        }
        let e = range_query(&store, "x", 0, i64::MAX, 1, &opts).unwrap_err();
        assert!(e.message().contains("too many samples"), "{e}");
    }

    #[test]
    fn values_expand_like_promqltest() {
        let v = expand_values("1 _ 0+10x3 5-1x2 _x2 3x1 stale -Inf").unwrap();
        let f: Vec<String> = v
            .iter()
            .map(|x| {
                x.map_or("_".into(), |x| {
                    if x.is_nan() {
                        "stale".into()
                    } else {
                        x.to_string()
                    }
                })
            })
            .collect();
        assert_eq!(
            f,
            ["1", "_", "0", "10", "20", "30", "5", "4", "3", "_", "_", "3", "3", "stale", "-inf"]
        );
    }

    #[test]
    fn a_small_script_passes_and_a_wrong_expectation_fails() {
        let script = "load 5m\n\thttp_requests{job=\"a\"} 0+10x10\n\thttp_requests{job=\"b\"} 0+20x10\n\neval instant at 50m sum(http_requests)\n\t{} 300\n\neval instant at 50m http_requests{job=\"a\"}\n\thttp_requests{job=\"a\"} 99\n\neval_fail instant at 0m label_replace(http_requests, \"x\", \"\", \"\", \"(\")\n";
        let o = run_script("t", script, &EvalOptions::default());
        assert_eq!(o.passed, 2, "{:?}", o.failures);
        assert_eq!(o.failures.len(), 1);
        assert!(
            o.failures[0].message.contains("expected 99"),
            "{}",
            o.failures[0].message
        );
    }
}

/// Prometheus 2.42's own PromQL test scripts, from `../shared/conformance/promql`.
#[cfg(test)]
mod conformance {
    use super::*;

    #[test]
    fn promql_conformance_suite() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/conformance/promql");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            eprintln!("no PromQL conformance suite at {}", dir.display());
            return;
        };
        let mut files: Vec<std::path::PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "test"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .test files in {}", dir.display());
        let o = run_files(&files, &EvalOptions::default()).unwrap();
        for f in &o.failures {
            eprintln!("FAIL {}:{}: {}\n  {}", f.file, f.line, f.query, f.message);
        }
        eprintln!(
            "promql conformance: {} passed, {} failed",
            o.passed,
            o.failures.len()
        );
        assert!(o.failures.is_empty());
        assert!(o.passed > 400, "only {} cases ran", o.passed);
    }
}
