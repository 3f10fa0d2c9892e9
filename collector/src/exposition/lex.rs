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

#[inline]
fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}
#[inline]
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}
#[inline]
fn is_label_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}
#[inline]
fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_ws(l: &[u8], mut i: usize) -> usize {
    while i < l.len() && is_ws(l[i]) {
        i += 1;
    }
    i
}

/// A metric name starting at `i`; returns its end.
fn metric_name(l: &[u8], i: usize) -> LexResult<usize> {
    if i >= l.len() || !is_name_start(l[i]) {
        return err(i, "expected a metric name");
    }
    let mut j = i + 1;
    while j < l.len() && is_name_char(l[j]) {
        j += 1;
    }
    Ok(j)
}

fn as_str(b: &[u8]) -> &str {
    // Names are checked to be ASCII before this is called.
    std::str::from_utf8(b).unwrap_or("")
}

fn utf8<'a>(b: &'a [u8], pos: usize, what: &str) -> LexResult<&'a str> {
    std::str::from_utf8(b)
        .or_else(|e| err(pos + e.valid_up_to(), format!("{what} is not valid UTF-8")))
}

/// Scan a `{...}` label block whose `{` is at `i`. Returns the index after `}` and the
/// raw bytes inside. `strict` is OpenMetrics: no whitespace, no trailing comma.
fn labels(l: &[u8], i: usize, strict: bool) -> LexResult<(usize, &[u8])> {
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
            return Ok((j + 1, &l[start..j]));
        }
        if !first {
            if l[j] != b',' {
                return err(j, "expected ',' or '}' after a label value");
            }
            j += 1;
            if !strict {
                j = skip_ws(l, j);
                if j < l.len() && l[j] == b'}' {
                    return Ok((j + 1, &l[start..j]));
                }
            }
        }
        first = false;
        if j >= l.len() || !is_label_start(l[j]) {
            return err(j, "invalid label name: must match [a-zA-Z_][a-zA-Z0-9_]*");
        }
        while j < l.len() && is_label_char(l[j]) {
            j += 1;
        }
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
        j = vstart;
        loop {
            match memchr::memchr2(b'"', b'\\', &l[j..]) {
                None => return err(l.len(), "unterminated label value: expected '\"'"),
                Some(k) => {
                    j += k;
                    if l[j] == b'\\' {
                        if j + 1 >= l.len() {
                            return err(j, "unterminated escape in label value");
                        }
                        j += 2;
                    } else {
                        break;
                    }
                }
            }
        }
        utf8(&l[vstart..j], vstart, "label value")?;
        j += 1;
    }
}

/// Parse a sample value.
fn value(tok: &[u8], pos: usize) -> LexResult<f64> {
    let s = as_str_checked(tok);
    match s.and_then(|s| s.parse::<f64>().ok()) {
        Some(v) => Ok(v),
        None => err(
            pos,
            format!(
                "invalid value {:?}: expected a float",
                String::from_utf8_lossy(tok)
            ),
        ),
    }
}

fn as_str_checked(tok: &[u8]) -> Option<&str> {
    if tok.is_empty() || !tok.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    std::str::from_utf8(tok).ok()
}

fn token(l: &[u8], i: usize, strict: bool) -> usize {
    let mut j = i;
    while j < l.len() && !(l[j] == b' ' || (!strict && l[j] == b'\t')) {
        j += 1;
    }
    j
}

/// Unescape `\\`, `\n` and (when `quote`) `\"`; other escapes stay as written.
pub(super) fn unescape(b: &[u8], quote: bool) -> Cow<'_, str> {
    let s = String::from_utf8_lossy(b);
    if !b.contains(&b'\\') {
        return s;
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
pub(super) fn text_line(l: &[u8]) -> LexResult<Line<'_>> {
    let i = skip_ws(l, 0);
    if i == l.len() || (l.len() == i + 1 && l[i] == b'\r') {
        return Ok(Line::Skip);
    }
    if l[i] == b'#' {
        return text_comment(l, i + 1);
    }
    let name_end = metric_name(l, i)?;
    let mut j = skip_ws(l, name_end);
    let (series_end, labels_raw) = if j < l.len() && l[j] == b'{' {
        let (e, raw) = labels(l, j, false)?;
        j = e;
        (e, raw)
    } else {
        if j == name_end {
            return err(j, "expected whitespace or '{' after the metric name");
        }
        (name_end, &l[name_end..name_end])
    };
    j = skip_ws(l, j);
    let vend = token(l, j, false);
    if vend == j {
        return err(j, "expected a value");
    }
    let v = value(&l[j..vend], j)?;
    let mut k = skip_ws(l, vend);
    let mut ts = None;
    if k < l.len() && l[k] != b'\r' {
        let tend = token(l, k, false);
        let t = as_str_checked(&l[k..tend]).and_then(|s| s.parse::<i64>().ok());
        match t {
            Some(t) => ts = Some(t),
            None => {
                return err(
                    k,
                    format!(
                        "invalid timestamp {:?}: expected integer milliseconds",
                        String::from_utf8_lossy(&l[k..tend])
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
        name: as_str(&l[i..name_end]),
        labels_raw,
        value: v,
        timestamp_ms: ts,
        exemplar: None,
    })))
}

fn text_comment(l: &[u8], i: usize) -> LexResult<Line<'_>> {
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
    let name = as_str(&l[ns..ne]);
    if ne < l.len() && !is_ws(l[ne]) {
        return err(ne, "expected whitespace after the metric name");
    }
    let ts = skip_ws(l, ne);
    let mut text = &l[ts..];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    if kind == 0 {
        utf8(text, ts, "HELP text")?;
        Ok(Line::Event(Event::Help {
            name,
            text: unescape(text, false),
        }))
    } else {
        let end = text.iter().rposition(|b| !is_ws(*b)).map_or(0, |p| p + 1);
        match MetricType::parse(&text[..end], Format::Text) {
            Some(ty) => Ok(Line::Event(Event::Type { name, ty })),
            None => err(
                ts,
                format!(
                    "invalid metric type {:?}: expected counter, gauge, histogram, summary or untyped",
                    String::from_utf8_lossy(&text[..end])
                ),
            ),
        }
    }
}

fn om_float(tok: &[u8], pos: usize, what: &str) -> LexResult<f64> {
    value(tok, pos).or_else(|_| {
        err(
            pos,
            format!(
                "invalid {what} {:?}: expected a float",
                String::from_utf8_lossy(tok)
            ),
        )
    })
}

fn om_timestamp(tok: &[u8], pos: usize) -> LexResult<i64> {
    let t = om_float(tok, pos, "timestamp")?;
    if !t.is_finite() {
        return err(pos, "timestamp must be a finite number");
    }
    Ok((t * 1000.0).round() as i64)
}

/// One line of OpenMetrics 1.0, strictly.
pub(super) fn om_line(l: &[u8]) -> LexResult<Line<'_>> {
    if l.is_empty() {
        return err(0, "blank lines are not allowed in OpenMetrics");
    }
    if l[0] == b'#' {
        return om_comment(l);
    }
    let name_end = metric_name(l, 0)?;
    let mut j = name_end;
    let (series_end, labels_raw) = if j < l.len() && l[j] == b'{' {
        let (e, raw) = labels(l, j, true)?;
        j = e;
        (e, raw)
    } else {
        (name_end, &l[name_end..name_end])
    };
    if j >= l.len() || l[j] != b' ' {
        return err(j, "expected a single space and a value");
    }
    j += 1;
    let vend = token(l, j, true);
    let v = om_float(&l[j..vend], j, "value")?;
    let mut k = vend;
    let mut ts = None;
    let mut exemplar = None;
    if k < l.len() {
        k += 1; // the space
        if k < l.len() && l[k] != b'#' {
            let tend = token(l, k, true);
            ts = Some(om_timestamp(&l[k..tend], k)?);
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
            let (e, raw) = labels(l, k + 2, true)?;
            let mut m = e;
            if m >= l.len() || l[m] != b' ' {
                return err(m, "expected a space and the exemplar value");
            }
            m += 1;
            let vend = token(l, m, true);
            let ev = om_float(&l[m..vend], m, "exemplar value")?;
            let mut ets = None;
            if vend < l.len() {
                let ts_start = vend + 1;
                let tend = token(l, ts_start, true);
                ets = Some(om_timestamp(&l[ts_start..tend], ts_start)?);
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
        name: as_str(&l[..name_end]),
        labels_raw,
        value: v,
        timestamp_ms: ts,
        exemplar,
    })))
}

fn om_comment(l: &[u8]) -> LexResult<Line<'_>> {
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
    let name = as_str(&l[7..ne]);
    if ne >= l.len() || l[ne] != b' ' {
        return err(ne, "expected a single space after the metric name");
    }
    let rest = &l[ne + 1..];
    let pos = ne + 1;
    match kind {
        0 => {
            utf8(rest, pos, "HELP text")?;
            Ok(Line::Event(Event::Help { name, text: unescape(rest, true) }))
        }
        1 => match MetricType::parse(rest, Format::OpenMetrics) {
            Some(ty) => Ok(Line::Event(Event::Type { name, ty })),
            None => err(
                pos,
                format!(
                    "invalid metric type {:?}: expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown",
                    String::from_utf8_lossy(rest)
                ),
            ),
        },
        _ => {
            if let Some(p) = rest.iter().position(|b| !is_name_char(*b)) {
                return err(pos + p, "invalid character in unit");
            }
            Ok(Line::Event(Event::Unit { name, unit: as_str(rest) }))
        }
    }
}

/// Iterates `(name, value)` over a label block already checked by the scanner.
#[derive(Clone, Debug)]
pub struct LabelIter<'a> {
    raw: &'a [u8],
    pos: usize,
}

impl<'a> LabelIter<'a> {
    pub(super) fn new(raw: &'a [u8]) -> LabelIter<'a> {
        LabelIter { raw, pos: 0 }
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let l = self.raw;
        let mut j = skip_ws(l, self.pos);
        if j < l.len() && l[j] == b',' {
            j = skip_ws(l, j + 1);
        }
        if j >= l.len() {
            return None;
        }
        let ns = j;
        while j < l.len() && is_label_char(l[j]) {
            j += 1;
        }
        let name = as_str(&l[ns..j]);
        j = skip_ws(l, j);
        j = skip_ws(l, j + 1); // '='
        let vs = j + 1; // after '"'
        j = vs;
        while j < l.len() && l[j] != b'"' {
            j += if l[j] == b'\\' { 2 } else { 1 };
        }
        let ve = j.min(l.len());
        self.pos = (j + 1).min(l.len());
        Some((name, unescape(&l[vs.min(ve)..ve], true)))
    }
}
