//! Label sets and label matchers.

use std::cmp::Ordering;
use std::fmt;

/// A sorted set of labels, packed into one allocation: for each label a varint name
/// length, the name, a varint value length and the value. Packing keeps a head series
/// small (one heap block instead of two per label).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Labels(Box<[u8]>);

/// One xxh3 of the packed bytes: hash maps keyed by labels (the evaluator's per-step
/// checks and merges) then feed their hasher one word instead of every byte.
impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash64());
    }
}

pub(crate) fn write_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn read_uvarint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

impl Labels {
    /// Build from pairs in any order; later duplicates of a name are kept, so check
    /// [`Labels::duplicate_name`] where that matters. Empty values are dropped, as in
    /// Prometheus (a label with an empty value is the same as no label).
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Labels {
        let mut v: Vec<(N, V)> = pairs
            .into_iter()
            .filter(|(_, v)| !v.as_ref().is_empty())
            .collect();
        v.sort_by(|a, b| {
            a.0.as_ref()
                .cmp(b.0.as_ref())
                .then_with(|| a.1.as_ref().cmp(b.1.as_ref()))
        });
        let mut out = Vec::with_capacity(
            v.iter()
                .map(|(n, v)| n.as_ref().len() + v.as_ref().len() + 2)
                .sum(),
        );
        for (n, val) in &v {
            write_uvarint(&mut out, n.as_ref().len() as u64);
            out.extend_from_slice(n.as_ref().as_bytes());
            write_uvarint(&mut out, val.as_ref().len() as u64);
            out.extend_from_slice(val.as_ref().as_bytes());
        }
        Labels(out.into_boxed_slice())
    }

    /// Decode from the packed encoding (as written by [`Labels::as_bytes`]); `None` if
    /// the bytes are not a valid encoding.
    pub fn from_bytes(b: &[u8]) -> Option<Labels> {
        let l = Labels(b.into());
        let mut pos = 0;
        while pos < b.len() {
            for _ in 0..2 {
                let n = read_uvarint(b, &mut pos)? as usize;
                let end = pos.checked_add(n)?;
                std::str::from_utf8(b.get(pos..end)?).ok()?;
                pos = end;
            }
        }
        Some(l)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter { b: &self.0, pos: 0 }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        // Names are compared as bytes; only the value found is checked as UTF-8 (it was
        // checked when the labels were made: this is the cheap safe way back to `str`).
        let v = self.raw_pairs().find(|(n, _)| *n == name.as_bytes())?.1;
        std::str::from_utf8(v).ok()
    }

    /// Name and value bytes, in order, without UTF-8 checks.
    fn raw_pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        let b = &self.0[..];
        let mut pos = 0;
        std::iter::from_fn(move || {
            let mut take = || {
                let n = read_uvarint(b, &mut pos)? as usize;
                let s = b.get(pos..pos.checked_add(n)?)?;
                pos += n;
                Some(s)
            };
            Some((take()?, take()?))
        })
    }

    /// The labels whose names `keep` accepts: the same as [`Labels::from_pairs`] of the
    /// kept pairs, copied in their encoding (already sorted, no empty values) instead of
    /// sorted and encoded again. The evaluator drops names and groups by labels for every
    /// series of every step. `keep` sees the name's bytes (checked as UTF-8 when the
    /// labels were made; checking them again was a tenth of this function's time).
    pub fn retain_names(&self, mut keep: impl FnMut(&[u8]) -> bool) -> Labels {
        let b = &self.0[..];
        let mut out = Vec::with_capacity(b.len());
        let mut pos = 0;
        while pos < b.len() {
            let start = pos;
            let Some(n) = read_uvarint(b, &mut pos) else {
                break;
            };
            let name = &b[pos..(pos + n as usize).min(b.len())];
            pos += n as usize;
            let Some(vn) = read_uvarint(b, &mut pos) else {
                break;
            };
            pos = (pos + vn as usize).min(b.len());
            if keep(name) {
                out.extend_from_slice(&b[start..pos]);
            }
        }
        Labels(out.into_boxed_slice())
    }

    /// The metric name (`__name__`).
    pub fn name(&self) -> Option<&str> {
        self.get("__name__")
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first label name that occurs twice.
    pub fn duplicate_name(&self) -> Option<&str> {
        let mut prev: Option<&str> = None;
        for (n, _) in self.iter() {
            if prev == Some(n) {
                return Some(n);
            }
            prev = Some(n);
        }
        None
    }

    /// A stable 64-bit hash (xxh3 of the packed bytes).
    pub fn hash64(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.0)
    }

    pub fn to_pairs(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        // Byte order of UTF-8 is the order of the strings: no need to decode them.
        self.raw_pairs().cmp(other.raw_pairs())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prometheus's notation: `name{a="b", c="d"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.name() {
            f.write_str(n)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (n, v) in self.iter().filter(|(n, _)| *n != "__name__") {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n}={v:?}")?;
        }
        f.write_str("}")
    }
}

pub struct LabelsIter<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let mut take = || {
            let n = read_uvarint(self.b, &mut self.pos)? as usize;
            let s = std::str::from_utf8(self.b.get(self.pos..self.pos + n)?).ok()?;
            self.pos += n;
            Some(s)
        };
        let name = take()?;
        let value = take()?;
        Some((name, value))
    }
}

/// How a matcher compares a label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// A label matcher: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`. Regexes are
/// anchored at both ends, as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<regex::Regex>,
    /// For `=~` with a regex that is an alternation of literals (`a|b\\.c`), the
    /// literals, sorted: the index looks each one up instead of matching every value
    /// of the label (Prometheus's `FindSetMatches`). The mesh model's per-node
    /// evaluation selects `node=~"n1|n2|…"`.
    set: Option<std::sync::Arc<[String]>>,
}

/// The literals of a regex that is only an alternation of literals (`a|b|c\\.d`), sorted
/// and unique; `None` for any other regex.
pub fn literal_alternatives(re: &str) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push(String::new()),
            // An escaped punctuation character is itself; `\d`, `\w`, `\n`… are classes.
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() && e != '<' && e != '>' => {
                    out.last_mut()?.push(e)
                }
                _ => return None,
            },
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' => return None,
            c => out.last_mut()?.push(c),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

impl Matcher {
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, regex::Error> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(regex::Regex::new(&format!("^(?s:{value})$"))?)
            }
            _ => None,
        };
        let set = Self::set_of(op, &value);
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            re,
            set,
        })
    }

    /// A matcher with a regex compiled elsewhere (the PromQL parser's, which is already
    /// anchored and accepts Go's syntax quirks).
    pub fn with_regex(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
        re: Option<regex::Regex>,
    ) -> Matcher {
        let value = value.into();
        let set = Self::set_of(op, &value);
        Matcher {
            name: name.into(),
            op,
            value,
            re,
            set,
        }
    }

    fn set_of(op: MatchOp, value: &str) -> Option<std::sync::Arc<[String]>> {
        use std::cell::RefCell;
        use std::sync::Arc;
        type Recent = RefCell<Vec<(Box<str>, Option<Arc<[String]>>)>>;
        // The mesh model's per-node evaluation puts the same long `node=~"a|b|…"` (a
        // hundred nodes and more) into every selector of every rule: its literals are
        // parsed and sorted once per thread, not once per selector.
        thread_local! {
            static RECENT: Recent = const { RefCell::new(Vec::new()) };
        }
        if op != MatchOp::Regex {
            return None;
        }
        let parse = || literal_alternatives(value).map(Arc::from);
        if value.len() < 256 {
            return parse();
        }
        RECENT.with(|r| {
            let mut r = r.borrow_mut();
            if let Some((_, set)) = r.iter().find(|(v, _)| &**v == value) {
                return set.clone();
            }
            let set = parse();
            if r.len() >= 4 {
                r.remove(0);
            }
            r.push((value.into(), set.clone()));
            set
        })
    }

    /// The values this matcher accepts, when it accepts a known few: `=`'s value, or
    /// the literals of an `=~` alternation. `None`: the matcher has to be tried on every
    /// value.
    pub fn values(&self) -> Option<&[String]> {
        match self.op {
            MatchOp::Equal => Some(std::slice::from_ref(&self.value)),
            MatchOp::Regex => self.set.as_deref(),
            _ => None,
        }
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            re: None,
            set: None,
        }
    }

    /// Whether a label value matches; an absent label has the value "".
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => v == self.value,
            MatchOp::NotEqual => v != self.value,
            MatchOp::Regex => match &self.set {
                Some(set) => set.binary_search_by(|x| x.as_str().cmp(v)).is_ok(),
                None => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            },
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    pub fn matches_labels(&self, l: &Labels) -> bool {
        self.matches(l.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

/// Parse a series selector such as `up{job="x"}` or `{__name__=~"a.*"}` (used by
/// `tsdb dump --match` and `/api/v1/series` until the PromQL parser takes over).
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    let s = s.trim();
    let (name, rest) = match s.find('{') {
        Some(i) => (s[..i].trim(), &s[i..]),
        None => (s, ""),
    };
    let mut out = Vec::new();
    if !name.is_empty() {
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
        {
            return Err(format!("invalid metric name {name:?} in selector"));
        }
        out.push(Matcher::equal("__name__", name));
    }
    if !rest.is_empty() {
        let inner = rest
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| format!("selector {s:?} must end with '}}'"))?;
        let mut i = 0;
        let b = inner.as_bytes();
        while i < b.len() {
            while i < b.len() && (b[i] == b' ' || b[i] == b',') {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let ns = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let lname = &inner[ns..i];
            if lname.is_empty() {
                return Err(format!("expected a label name at offset {ns} of {inner:?}"));
            }
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let op = if inner[i..].starts_with("=~") {
                MatchOp::Regex
            } else if inner[i..].starts_with("!~") {
                MatchOp::NotRegex
            } else if inner[i..].starts_with("!=") {
                MatchOp::NotEqual
            } else if inner[i..].starts_with('=') {
                MatchOp::Equal
            } else {
                return Err(format!("expected =, !=, =~ or !~ after label {lname:?}"));
            };
            i += if op == MatchOp::Equal { 1 } else { 2 };
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'"' {
                return Err(format!("expected a quoted value for label {lname:?}"));
            }
            i += 1;
            let mut val = String::new();
            let mut closed = false;
            let mut chars = inner[i..].char_indices();
            while let Some((off, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            val.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                    }
                    '"' => {
                        i += off + 1;
                        closed = true;
                        break;
                    }
                    c => val.push(c),
                }
            }
            if !closed {
                return Err(format!("unterminated value for label {lname:?}"));
            }
            out.push(
                Matcher::new(op, lname, val)
                    .map_err(|e| format!("invalid regex for label {lname:?}: {e}"))?,
            );
        }
    }
    if out.is_empty() {
        return Err(format!("selector {s:?} has no matchers"));
    }
    if out.iter().all(|m| m.matches("")) {
        return Err(format!(
            "selector {s:?} must contain at least one matcher that does not match the empty string"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_names_equals_from_pairs_of_the_kept_pairs() {
        let l = Labels::from_pairs([
            ("__name__", "rq"),
            ("node", "n1"),
            ("role", "envoy"),
            ("a", "1"),
            ("zz", "é\u{0}"),
        ]);
        type Keep = fn(&str) -> bool;
        let keeps: [Keep; 5] = [
            |_| true,
            |_| false,
            |n| n != "__name__",
            |n| n == "node" || n == "role",
            |n| n == "zz",
        ];
        for keep in keeps {
            let want = Labels::from_pairs(l.iter().filter(|(n, _)| keep(n)));
            assert_eq!(
                l.retain_names(|n| keep(std::str::from_utf8(n).unwrap())),
                want
            );
        }
    }

    #[test]
    fn literal_alternations_are_sets_and_match_as_the_regex_does() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("a|b|a", Some(&["a", "b"])),
            ("kafka-0", Some(&["kafka-0"])),
            ("a\\.b|c\\|d", Some(&["a.b", "c|d"])),
            ("|x", Some(&["", "x"])),
            ("a.*", None),
            ("a|b+", None),
            ("(a|b)", None),
            ("\\d", None),
            ("\\<a", None),
            ("[ab]", None),
        ];
        for (re, want) in cases {
            let got = literal_alternatives(re);
            assert_eq!(
                got.as_deref(),
                want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .as_deref(),
                "{re}"
            );
            // The set answers exactly as the anchored regex.
            let m = Matcher::new(MatchOp::Regex, "node", *re).unwrap();
            let plain = regex::Regex::new(&format!("^(?s:{re})$")).unwrap();
            for v in [
                "", "a", "b", "x", "a.b", "aXb", "c|d", "kafka-0", "kafka-01", "ab",
            ] {
                assert_eq!(m.matches(v), plain.is_match(v), "{re} on {v:?}");
            }
        }
        let m = Matcher::new(MatchOp::Regex, "node", "b|a").unwrap();
        assert_eq!(m.values(), Some(&["a".to_string(), "b".to_string()][..]));
        assert_eq!(
            Matcher::equal("node", "a").values(),
            Some(&["a".to_string()][..])
        );
        assert_eq!(
            Matcher::new(MatchOp::NotRegex, "n", "a|b")
                .unwrap()
                .values(),
            None
        );
    }

    #[test]
    fn labels_are_sorted_and_packed() {
        let l = Labels::from_pairs([("b", "2"), ("__name__", "up"), ("a", "1"), ("empty", "")]);
        assert_eq!(
            l.to_pairs(),
            vec![
                ("__name__".into(), "up".into()),
                ("a".into(), "1".into()),
                ("b".into(), "2".into())
            ]
        );
        assert_eq!(l.get("a"), Some("1"));
        assert_eq!(l.name(), Some("up"));
        assert_eq!(l.to_string(), "up{a=\"1\", b=\"2\"}");
        assert_eq!(Labels::from_bytes(l.as_bytes()), Some(l.clone()));
        assert_eq!(Labels::from_bytes(&[5, b'a']), None);
    }

    #[test]
    fn label_order_is_lexicographic_by_pairs() {
        let a = Labels::from_pairs([("a", "x"), ("b", "1")]);
        let b = Labels::from_pairs([("a", "xy")]);
        let c = Labels::from_pairs([("aa", "1")]);
        assert!(a < b);
        assert!(b < c);
    }

    #[test]
    fn regex_matchers_are_anchored() {
        let m = Matcher::new(MatchOp::Regex, "job", "node.*").unwrap();
        assert!(m.matches("node_exporter"));
        assert!(!m.matches("my_node"));
        let m = Matcher::new(MatchOp::NotRegex, "job", "a|b").unwrap();
        assert!(m.matches("ab"));
        assert!(!m.matches("a"));
    }

    #[test]
    fn selectors_parse() {
        let m = parse_selector("up{job=~\"n.*\", instance!=\"x\"}").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].op, MatchOp::Regex);
        assert_eq!(m[2].to_string(), "instance!=\"x\"");
        assert!(parse_selector("{job=\"\"}").is_err());
        assert!(parse_selector("up{job=\"x\"").is_err());
        assert!(parse_selector("{__name__=~\"up|scrape_.*\"}").is_ok());
    }
}
