//! Parsers for the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! Our own implementation rather than a crate: the scrape path needs a pull parser over
//! borrowed bytes that hands out the raw series bytes (`name{labels}`) so the per-target
//! cache can skip label parsing and hashing for series it saw in the last scrape, and the
//! crates available (`prometheus-parse`) allocate per line and are an order of magnitude
//! slower (see BENCHMARKS.md).
//!
//! The text format is as lenient as Prometheus's own lexer; OpenMetrics is strict per the
//! specification (checked by [`openmetrics::Validator`]).

mod lex;
pub mod openmetrics;
pub mod write;

use std::borrow::Cow;
use std::fmt;

pub use lex::LabelIter;

/// The exposition format of a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl Format {
    /// Pick the format from a `Content-Type` header value, as Prometheus does
    /// (anything that is not OpenMetrics is read as text 0.0.4).
    pub fn from_content_type(ct: &str) -> Format {
        if ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/openmetrics-text")
        {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The name used in `# TYPE` lines and in the metadata API.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    fn parse(s: &[u8], format: Format) -> Option<MetricType> {
        Some(match (s, format) {
            (b"counter", _) => MetricType::Counter,
            (b"gauge", _) => MetricType::Gauge,
            (b"histogram", _) => MetricType::Histogram,
            (b"summary", _) => MetricType::Summary,
            (b"untyped", Format::Text) => MetricType::Unknown,
            (b"unknown", Format::OpenMetrics) => MetricType::Unknown,
            (b"gaugehistogram", Format::OpenMetrics) => MetricType::GaugeHistogram,
            (b"info", Format::OpenMetrics) => MetricType::Info,
            (b"stateset", Format::OpenMetrics) => MetricType::StateSet,
            _ => return None,
        })
    }
}

/// An exemplar attached to a sample (OpenMetrics only).
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar<'a> {
    labels_raw: &'a str,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl<'a> Exemplar<'a> {
    /// The exemplar's labels, unescaped.
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter::new(self.labels_raw)
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    /// The raw bytes of `name{labels}` as they stand in the body: a cache key for the
    /// series (identical bytes mean an identical label set).
    pub series: &'a [u8],
    /// The metric name.
    pub name: &'a str,
    labels_raw: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch, when the exposition gave a timestamp.
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar<'a>>,
    /// [`series_key`] of `series`, when the parser computed it (see [`Parser::next_with`]).
    pub key: Option<u128>,
}

/// The key of a series' raw bytes for caches: the 128-bit xxh3 (two distinct series of
/// one target colliding is a 2^-100 event at a million series).
pub fn series_key(series: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(series)
}

impl<'a> Sample<'a> {
    /// The sample's labels (without `__name__`), unescaped, in exposition order.
    pub fn labels(&self) -> LabelIter<'a> {
        LabelIter::new(self.labels_raw)
    }
}

/// One item of an exposition.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    Help { name: &'a str, text: Cow<'a, str> },
    Type { name: &'a str, ty: MetricType },
    Unit { name: &'a str, unit: &'a str },
    Sample(Sample<'a>),
}

/// A parse error with its position (1-based line and column, in bytes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A pull parser over one exposition body.
pub struct Parser<'a> {
    buf: &'a [u8],
    /// The body as text when all of it is UTF-8 (checked once, so lines need no
    /// further checks); `None` sends each line through its own check.
    text: Option<&'a str>,
    pos: usize,
    line: usize,
    format: Format,
    validator: Option<openmetrics::Validator>,
    done: bool,
    /// More input follows this buffer (streaming): its end is not the body's end.
    partial: bool,
}

/// What a parser carries from one buffer to the next when a body is read in pieces.
pub struct ParserState {
    line: usize,
    validator: Option<openmetrics::Validator>,
}

impl<'a> Parser<'a> {
    pub fn new(buf: &'a [u8], format: Format) -> Parser<'a> {
        Parser {
            buf,
            text: std::str::from_utf8(buf).ok(),
            pos: 0,
            line: 0,
            format,
            validator: (format == Format::OpenMetrics).then(openmetrics::Validator::default),
            done: false,
            partial: false,
        }
    }

    /// Continue a body in a new buffer of whole lines; `last` when it is the final one.
    pub fn resume(
        buf: &'a [u8],
        format: Format,
        state: Option<ParserState>,
        last: bool,
    ) -> Parser<'a> {
        let mut p = Parser::new(buf, format);
        if let Some(st) = state {
            p.line = st.line;
            p.validator = st.validator;
        }
        p.partial = !last;
        p
    }

    pub fn into_state(self) -> ParserState {
        ParserState {
            line: self.line,
            validator: self.validator,
        }
    }

    /// The next event, `Ok(None)` at the end of a valid body.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Event<'a>>, ParseError> {
        self.next_with(&|_| false)
    }

    /// Like [`Parser::next`], for a caller that caches series: `known(key)` says whether
    /// the series with that [`series_key`] was accepted before. In the text format a
    /// known series skips the label scan (its bytes were checked when first seen), and
    /// the sample carries the key. OpenMetrics always scans (its checks span lines).
    pub fn next_with(
        &mut self,
        known: &dyn Fn(u128) -> bool,
    ) -> Result<Option<Event<'a>>, ParseError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.pos >= self.buf.len() {
                self.done = true;
                if self.partial {
                    return Ok(None);
                }
                if let Some(v) = &mut self.validator {
                    if !v.eof_seen() {
                        return Err(ParseError {
                            line: self.line + 1,
                            column: 1,
                            message: "OpenMetrics body does not end with \"# EOF\"".into(),
                        });
                    }
                }
                return Ok(None);
            }
            let start = self.pos;
            let (line, next) = match memchr::memchr(b'\n', &self.buf[start..]) {
                Some(i) => (&self.buf[start..start + i], start + i + 1),
                None => (&self.buf[start..], self.buf.len()),
            };
            let terminated = next > start + line.len();
            self.pos = next;
            self.line += 1;
            let text = match self.text {
                Some(t) => t.get(start..start + line.len()),
                None => std::str::from_utf8(line).ok(),
            };
            let Some(text) = text else {
                // The text format allows any bytes in a plain comment.
                if self.format == Format::Text && is_plain_comment(line) {
                    continue;
                }
                let bad = std::str::from_utf8(line)
                    .err()
                    .map_or(0, |e| e.valid_up_to());
                return Err(self.error(bad + 1, "invalid UTF-8".into()));
            };
            let res = match self.format {
                Format::Text => lex::text_line(text, known),
                Format::OpenMetrics => lex::om_line(text),
            };
            let item = res.map_err(|(col, msg)| self.error(col, msg))?;
            if let Some(v) = &mut self.validator {
                let line_no = self.line;
                match item {
                    lex::Line::Eof => {
                        if next < self.buf.len()
                            || self.partial
                            || (!terminated && line.len() != b"# EOF".len())
                        {
                            return Err(self.error(line.len() + 1, "text after \"# EOF\"".into()));
                        }
                        let line = self.line;
                        v.finish().map_err(|message| ParseError {
                            line,
                            column: 1,
                            message,
                        })?;
                        v.set_eof();
                        continue;
                    }
                    lex::Line::Skip => continue,
                    lex::Line::Event(ref ev) => {
                        if !terminated {
                            return Err(self
                                .error(line.len() + 1, "line does not end with a newline".into()));
                        }
                        v.check(ev).map_err(|m| ParseError {
                            line: line_no,
                            column: 1,
                            message: m,
                        })?;
                    }
                }
            }
            match item {
                lex::Line::Event(ev) => return Ok(Some(ev)),
                lex::Line::Skip | lex::Line::Eof => continue,
            }
        }
    }

    fn error(&self, column: usize, message: String) -> ParseError {
        ParseError {
            line: self.line,
            column,
            message,
        }
    }
}

/// A text-format comment that is not `# HELP` or `# TYPE`.
fn is_plain_comment(line: &[u8]) -> bool {
    let t = line.trim_ascii_start();
    match t.strip_prefix(b"#") {
        Some(r) => {
            let r = r.trim_ascii_start();
            !(r.starts_with(b"HELP") || r.starts_with(b"TYPE"))
        }
        None => false,
    }
}

/// Why a streamed parse stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E: std::error::Error + 'static> {
    #[error("reading: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Parse(ParseError),
    #[error(transparent)]
    Handler(E),
}

/// Parse a body from a reader in pieces of whole lines, in constant memory (one line
/// may be as long as it likes), calling `f` for every event.
pub fn parse_stream<E: std::error::Error + 'static>(
    mut r: impl std::io::Read,
    format: Format,
    mut f: impl FnMut(Event<'_>) -> Result<(), E>,
) -> Result<(), StreamError<E>> {
    const PIECE: usize = 4 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(PIECE);
    let mut state: Option<ParserState> = None;
    let mut eof = false;
    while !eof {
        let start = buf.len();
        buf.resize(start + PIECE, 0);
        let mut filled = start;
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StreamError::Io(e)),
            }
        }
        buf.truncate(filled);
        let cut = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let mut p = Parser::resume(&buf[..cut], format, state.take(), eof);
        while let Some(ev) = p.next().map_err(StreamError::Parse)? {
            f(ev).map_err(StreamError::Handler)?;
        }
        state = Some(p.into_state());
        buf.drain(..cut);
    }
    Ok(())
}

/// Parse a whole body, returning the number of samples or the first error. Used by
/// `meshscope check metrics` and the conformance runner.
pub fn validate(buf: &[u8], format: Format) -> Result<usize, ParseError> {
    let mut p = Parser::new(buf, format);
    let mut n = 0;
    while let Some(ev) = p.next()? {
        if matches!(ev, Event::Sample(_)) {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
