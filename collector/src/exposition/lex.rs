//! Line scanners for both formats. Each returns a [`Line`] or `(column, message)`.

use std::borrow::Cow;

use super::{Event, Exemplar, Format, MetricType, Sample};

pub(super) enum Line<'a> {
    Event(Event<'a>),
    Skip,
    Eof,
}

type LexResult<T> = Result<T, (usize, String)>;

fn err<T>(pos: usize, msg: impl Into<String>) -> LexResult<T> {
    Err((pos + 1, msg.into()))
}

/// Byte classes, looked up in one table: the name scans are the hottest loops of the
/// parser (metric names are long), and a table beats the chain of comparisons.
const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;
const WS: u8 = 16;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alpha = b.is_ascii_alphabetic();
        let digit = b.is_ascii_digit();
        let mut c = 0;
        if alpha || b == b'_' || b == b':' {
            c |= NAME_START | NAME_CHAR;
        }
        if digit {
            c |= NAME_CHAR | LABEL_CHAR;
        }
        if alpha || b == b'_' {
            c |= LABEL_START | LABEL_CHAR;
        }
        if b == b' ' || b == b'\t' {
            c |= WS;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

#[inline]
fn is_name_start(b: u8) -> bool {
    CLASS[b as usize] & NAME_START != 0
}
#[inline]
fn is_name_char(b: u8) -> bool {
    CLASS[b as usize] & NAME_CHAR != 0
}
#[inline]
fn is_label_start(b: u8) -> bool {
    CLASS[b as usize] & LABEL_START != 0
}
#[inline]
fn is_ws(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

/// The end of the run of bytes of class `c` starting at `i`.
#[inline]
fn run_end(l: &[u8], i: usize, c: u8) -> usize {
    match l.get(i..) {
        Some(rest) => {
            i + rest
                .iter()
                .position(|b| CLASS[*b as usize] & c == 0)
                .unwrap_or(rest.len())
        }
        None => i,
    }
}

fn skip_ws(l: &[u8], i: usize) -> usize {
    run_end(l, i, WS)
}

/// A metric name starting at `i`; returns its end.
fn metric_name(l: &[u8], i: usize) -> LexResult<usize> {
    if i >= l.len() || !is_name_start(l[i]) {
        return err(i, "expected a metric name");
    }
    Ok(run_end(l, i + 1, NAME_CHAR))
}

/// Scan a `{...}` label block whose `{` is at `i`. Returns the index after `}` and the
/// raw bytes inside. `strict` is OpenMetrics: no whitespace, no trailing comma.
fn labels(ls: &str, i: usize, strict: bool) -> LexResult<(usize, &str)> {
    let l = ls.as_bytes();
    debug_assert_eq!(l[i], b'{');
    let start = i + 1;
    let mut j = start;
    let mut first = true;
    loop {
        if !strict {
            j = skip_ws(l, j);
        }
        if j >= l.len() {
            return err(j, "unterminated label set: expected '}'");
        }
        if l[j] == b'}' {
            if strict && !first && l[j - 1] == b',' {
                return err(j, "trailing comma in label set");
            }
            return Ok((j + 1, &ls[start..j]));
        }
        if !first {
            if l[j] != b',' {
                return err(j, "expected ',' or '}' after a label value");
            }
            j += 1;
            if !strict {
                j = skip_ws(l, j);
                if j < l.len() && l[j] == b'}' {
                    return Ok((j + 1, &ls[start..j]));
                }
            }
        }
        first = false;
        if j >= l.len() || !is_label_start(l[j]) {
            return err(j, "invalid label name: must match [a-zA-Z_][a-zA-Z0-9_]*");
        }
        j = run_end(l, j, LABEL_CHAR);
        if !strict {
            j = skip_ws(l, j);
        }
        if j >= l.len() || l[j] != b'=' {
            return err(j, "expected '=' after a label name");
        }
        j += 1;
        if !strict {
            j = skip_ws(l, j);
        }
        if j >= l.len() || l[j] != b'"' {
            return err(j, "expected '\"' to open a label value");
        }
        let vstart = j + 1;
        j = value_end(l, vstart).map_err(|at| {
            (
                at + 1,
                "unterminated label value: expected '\"'".to_string(),
            )
        })?;
        j += 1;
    }
}

/// The index of the `"` closing a label value that starts at `i`, skipping escapes;
/// `Err(position)` when the line ends first. A plain loop: label values are short, and
/// for them it beats `memchr2`'s setup.
#[inline]
fn value_end(l: &[u8], mut i: usize) -> Result<usize, usize> {
    while i < l.len() {
        match l[i] {
            b'"' => return Ok(i),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Err(l.len())
}

/// Digits with at most one `.`, no exponent, at most 15 significant digits: parsed
/// directly (an exact integer divided by an exact power of ten rounds correctly, the
/// classic fast path); anything else goes to the standard parser.
#[inline]
fn simple_float(tok: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, digits) = match tok.first()? {
        b'-' => (true, &tok[1..]),
        _ => (false, tok),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut m: u64 = 0;
    let mut frac: Option<usize> = None;
    let mut n = 0;
    for (k, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                n += 1;
            }
            b'.' if frac.is_none() && k > 0 && k + 1 < digits.len() => frac = Some(k),
            _ => return None,
        }
    }
    if n > 15 {
        return None;
    }
    let scale = frac.map_or(0, |k| digits.len() - k - 1);
    let v = m as f64 / POW10[scale];
    Some(if neg { -v } else { v })
}

/// Parse a sample value.
fn value(tok: &str, pos: usize) -> LexResult<f64> {
    if let Some(v) = simple_float(tok.as_bytes()) {
        return Ok(v);
    }
    match checked(tok).and_then(|s| s.parse::<f64>().ok()) {
        Some(v) => Ok(v),
        None => err(pos, format!("invalid value {tok:?}: expected a float")),
    }
}

fn checked(tok: &str) -> Option<&str> {
    if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    Some(tok)
}

fn token(l: &[u8], i: usize, strict: bool) -> usize {
    let mut j = i;
    while j < l.len() && !(l[j] == b' ' || (!strict && l[j] == b'\t')) {
        j += 1;
    }
    j
}

/// Unescape `\\`, `\n` and (when `quote`) `\"`; other escapes stay as written.
pub(super) fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// One line of the text format 0.0.4, as leniently as Prometheus reads it.
pub(super) fn text_line<'a>(ls: &'a str, known: &dyn Fn(u128) -> bool) -> LexResult<Line<'a>> {
    let l = ls.as_bytes();
    let i = skip_ws(l, 0);
    if i == l.len() || (l.len() == i + 1 && l[i] == b'\r') {
        return Ok(Line::Skip);
    }
    if l[i] == b'#' {
        return text_comment(ls, i + 1);
    }
    let name_end = metric_name(l, i)?;
    let mut j = skip_ws(l, name_end);
    let mut key = None;
    let (series_end, labels_raw) = if j < l.len() && l[j] == b'{' {
        // A series the caller has seen before: if the bytes up to the first `}` are
        // exactly a series it accepted, they are a valid label block (and that `}` is
        // its end), so the label scan is skipped.
        let open = j;
        let fast = memchr::memchr(b'}', &l[open..]).and_then(|k| {
            let close = open + k;
            let h = super::series_key(&l[i..=close]);
            known(h).then_some((close, h))
        });
        match fast {
            Some((close, h)) => {
                key = Some(h);
                j = close + 1;
                (j, &ls[open + 1..close])
            }
            None => {
                let (e, raw) = labels(ls, j, false)?;
                j = e;
                (e, raw)
            }
        }
    } else {
        if j == name_end {
            return err(j, "expected whitespace or '{' after the metric name");
        }
        (name_end, "")
    };
    j = skip_ws(l, j);
    let vend = token(l, j, false);
    if vend == j {
        return err(j, "expected a value");
    }
    let v = value(&ls[j..vend], j)?;
    let mut k = skip_ws(l, vend);
    let mut ts = None;
    if k < l.len() && l[k] != b'\r' {
        let tend = token(l, k, false);
        let t = checked(&ls[k..tend]).and_then(|s| s.parse::<i64>().ok());
        match t {
            Some(t) => ts = Some(t),
            None => {
                return err(
                    k,
                    format!(
                        "invalid timestamp {:?}: expected integer milliseconds",
                        &ls[k..tend]
                    ),
                )
            }
        }
        k = skip_ws(l, tend);
        if k < l.len() && l[k] != b'\r' {
            return err(k, "unexpected text after the timestamp");
        }
    }
    Ok(Line::Event(Event::Sample(Sample {
        series: &l[i..series_end],
        name: &ls[i..name_end],
        labels_raw,
        value: v,
        timestamp_ms: ts,
        exemplar: None,
        key,
    })))
}

fn text_comment(ls: &str, i: usize) -> LexResult<Line<'_>> {
    let l = ls.as_bytes();
    let j = skip_ws(l, i);
    let rest = &l[j..];
    let kind = if rest.starts_with(b"HELP") {
        0
    } else if rest.starts_with(b"TYPE") {
        1
    } else {
        return Ok(Line::Skip);
    };
    let k = j + 4;
    if k < l.len() && !is_ws(l[k]) {
        return Ok(Line::Skip);
    }
    let ns = skip_ws(l, k);
    if ns == k {
        // "# HELP" alone is just a comment for Prometheus's text lexer.
        return Ok(Line::Skip);
    }
    let ne = metric_name(l, ns)?;
    let name = &ls[ns..ne];
    if ne < l.len() && !is_ws(l[ne]) {
        return err(ne, "expected whitespace after the metric name");
    }
    let ts = skip_ws(l, ne);
    let mut text = &ls[ts..];
    if text.ends_with('\r') {
        text = &text[..text.len() - 1];
    }
    if kind == 0 {
        Ok(Line::Event(Event::Help {
            name,
            text: unescape(text, false),
        }))
    } else {
        let end = text.bytes().rposition(|b| !is_ws(b)).map_or(0, |p| p + 1);
        match MetricType::parse(&text.as_bytes()[..end], Format::Text) {
            Some(ty) => Ok(Line::Event(Event::Type { name, ty })),
            None => err(
                ts,
                format!(
                    "invalid metric type {:?}: expected counter, gauge, histogram, summary or untyped",
                    &text[..end]
                ),
            ),
        }
    }
}

fn om_float(tok: &str, pos: usize, what: &str) -> LexResult<f64> {
    value(tok, pos).or_else(|_| err(pos, format!("invalid {what} {tok:?}: expected a float")))
}

fn om_timestamp(tok: &str, pos: usize) -> LexResult<i64> {
    let t = om_float(tok, pos, "timestamp")?;
    if !t.is_finite() {
        return err(pos, "timestamp must be a finite number");
    }
    Ok((t * 1000.0).round() as i64)
}

/// One line of OpenMetrics 1.0, strictly.
pub(super) fn om_line(ls: &str) -> LexResult<Line<'_>> {
    let l = ls.as_bytes();
    if l.is_empty() {
        return err(0, "blank lines are not allowed in OpenMetrics");
    }
    if l[0] == b'#' {
        return om_comment(ls);
    }
    let name_end = metric_name(l, 0)?;
    let mut j = name_end;
    let (series_end, labels_raw) = if j < l.len() && l[j] == b'{' {
        let (e, raw) = labels(ls, j, true)?;
        j = e;
        (e, raw)
    } else {
        (name_end, "")
    };
    if j >= l.len() || l[j] != b' ' {
        return err(j, "expected a single space and a value");
    }
    j += 1;
    let vend = token(l, j, true);
    let v = om_float(&ls[j..vend], j, "value")?;
    let mut k = vend;
    let mut ts = None;
    let mut exemplar = None;
    if k < l.len() {
        k += 1; // the space
        if k < l.len() && l[k] != b'#' {
            let tend = token(l, k, true);
            ts = Some(om_timestamp(&ls[k..tend], k)?);
            k = tend;
            if k < l.len() {
                k += 1;
            }
        }
        if k < l.len() || l[k - 1] == b' ' {
            if k >= l.len() || l[k] != b'#' {
                return err(k, "unexpected text after the sample");
            }
            if k + 1 >= l.len() || l[k + 1] != b' ' || k + 2 >= l.len() || l[k + 2] != b'{' {
                return err(k, "an exemplar must be written \" # {labels} value\"");
            }
            let (e, raw) = labels(ls, k + 2, true)?;
            let mut m = e;
            if m >= l.len() || l[m] != b' ' {
                return err(m, "expected a space and the exemplar value");
            }
            m += 1;
            let vend = token(l, m, true);
            let ev = om_float(&ls[m..vend], m, "exemplar value")?;
            let mut ets = None;
            if vend < l.len() {
                let ts_start = vend + 1;
                let tend = token(l, ts_start, true);
                ets = Some(om_timestamp(&ls[ts_start..tend], ts_start)?);
                if tend < l.len() {
                    return err(tend, "unexpected text after the exemplar");
                }
            }
            let len: usize = LabelIter::new(raw)
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum();
            if len > 128 {
                return err(
                    k + 2,
                    format!("exemplar labels are {len} characters long; at most 128 are allowed"),
                );
            }
            exemplar = Some(Exemplar {
                labels_raw: raw,
                value: ev,
                timestamp_ms: ets,
            });
        }
    }
    Ok(Line::Event(Event::Sample(Sample {
        series: &l[..series_end],
        name: &ls[..name_end],
        labels_raw,
        value: v,
        timestamp_ms: ts,
        exemplar,
        key: None,
    })))
}

fn om_comment(ls: &str) -> LexResult<Line<'_>> {
    let l = ls.as_bytes();
    if l == b"# EOF" {
        return Ok(Line::Eof);
    }
    let kind = if l.starts_with(b"# HELP ") {
        0
    } else if l.starts_with(b"# TYPE ") {
        1
    } else if l.starts_with(b"# UNIT ") {
        2
    } else if l.starts_with(b"# EOF") {
        return err(5, "text after \"# EOF\"");
    } else {
        return err(
            0,
            "comment lines must be \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"",
        );
    };
    let ne = metric_name(l, 7)?;
    let name = &ls[7..ne];
    if ne >= l.len() || l[ne] != b' ' {
        return err(ne, "expected a single space after the metric name");
    }
    let rest = &ls[ne + 1..];
    let pos = ne + 1;
    match kind {
        0 => Ok(Line::Event(Event::Help {
            name,
            text: unescape(rest, true),
        })),
        1 => match MetricType::parse(rest.as_bytes(), Format::OpenMetrics) {
            Some(ty) => Ok(Line::Event(Event::Type { name, ty })),
            None => err(
                pos,
                format!(
                    "invalid metric type {:?}: expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown",
                    rest
                ),
            ),
        },
        _ => {
            if let Some(p) = rest.bytes().position(|b| !is_name_char(b)) {
                return err(pos + p, "invalid character in unit");
            }
            Ok(Line::Event(Event::Unit { name, unit: rest }))
        }
    }
}

/// Iterates `(name, value)` over a label block already checked by the scanner.
#[derive(Clone, Debug)]
pub struct LabelIter<'a> {
    raw: &'a str,
    pos: usize,
}

impl<'a> LabelIter<'a> {
    pub(super) fn new(raw: &'a str) -> LabelIter<'a> {
        LabelIter { raw, pos: 0 }
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let ls = self.raw;
        let l = ls.as_bytes();
        let mut j = skip_ws(l, self.pos);
        if j < l.len() && l[j] == b',' {
            j = skip_ws(l, j + 1);
        }
        if j >= l.len() {
            return None;
        }
        let ns = j;
        j = run_end(l, j, LABEL_CHAR);
        let name = &ls[ns..j];
        j = skip_ws(l, j);
        j = skip_ws(l, j + 1); // '='
        let vs = j + 1; // after '"'
        j = vs;
        j = value_end(l, j).unwrap_or(l.len());
        let ve = j.min(l.len());
        self.pos = (j + 1).min(l.len());
        Some((name, unescape(ls.get(vs.min(ve)..ve).unwrap_or(""), true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_float_fast_path_agrees_with_the_standard_parser() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "1",
            "0.5",
            "-12.25",
            "123456789012345",
            "1234567890123456",
            "0.1",
            "0.30000000000000004",
            "9007199254740993",
            "00012",
            "1.",
            ".5",
            "-",
            "1.2.3",
            "5090.0",
            "999999999999999.9",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 16 + 1) as usize;
            let m = x % 10u64.pow(digits.min(19) as u32);
            let mut s = format!("{m:0digits$}");
            let dot = (x >> 40) as usize % (digits + 1);
            if dot > 0 && dot < s.len() {
                s.insert(dot, '.');
            }
            if x & (1 << 60) != 0 {
                s.insert(0, '-');
            }
            cases.push(s);
        }
        for s in cases {
            if let Some(v) = simple_float(s.as_bytes()) {
                let std: f64 = s.parse().unwrap();
                assert_eq!(v.to_bits(), std.to_bits(), "{s}");
            }
        }
        assert!(simple_float(b"1e5").is_none());
        assert!(simple_float(b"NaN").is_none());
        assert!(simple_float(b"+1").is_none());
    }
}
