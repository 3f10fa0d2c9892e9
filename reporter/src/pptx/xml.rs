//! A small element writer over `quick-xml`: it escapes text and attribute values (quick-xml
//! does that) and first strips what XML 1.0 forbids (quick-xml does not), because label
//! values come from outside and a control byte in a node name must not break the deck.

use std::borrow::Cow;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// The XML declaration every OOXML part starts with.
const DECL: (&str, Option<&str>, Option<&str>) = ("1.0", Some("UTF-8"), Some("yes"));

/// True for the characters XML 1.0 allows: #x9 | #xA | #xD | [#x20-#xD7FF] |
/// [#xE000-#xFFFD] | [#x10000-#x10FFFF]. Rust `char`s are never surrogates.
pub fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` without the characters XML 1.0 forbids (borrowed when there are none).
pub fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().all(allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|c| allowed(*c)).collect())
    }
}

pub struct Xml {
    w: quick_xml::Writer<Vec<u8>>,
    open: Vec<&'static str>,
}

impl Default for Xml {
    fn default() -> Self {
        Self::new()
    }
}

// Writing into a Vec<u8> cannot fail: the io::Results quick-xml returns are dropped.
impl Xml {
    pub fn new() -> Xml {
        let mut w = quick_xml::Writer::new(Vec::with_capacity(4096));
        let _ = w.write_event(Event::Decl(BytesDecl::new(DECL.0, DECL.1, DECL.2)));
        w.get_mut().extend_from_slice(b"\r\n");
        Xml {
            w,
            open: Vec::new(),
        }
    }

    fn start(name: &'static str, attrs: &[(&str, &str)]) -> BytesStart<'static> {
        let mut e = BytesStart::new(name);
        for (k, v) in attrs {
            e.push_attribute((*k, clean(v).as_ref()));
        }
        e
    }

    /// `<name attrs>`; closed by the matching [`Xml::close`].
    pub fn open(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        let _ = self.w.write_event(Event::Start(Self::start(name, attrs)));
        self.open.push(name);
        self
    }

    /// `<name attrs/>`.
    pub fn empty(&mut self, name: &'static str, attrs: &[(&str, &str)]) -> &mut Self {
        let _ = self.w.write_event(Event::Empty(Self::start(name, attrs)));
        self
    }

    /// Close the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            let _ = self.w.write_event(Event::End(BytesEnd::new(name)));
        }
        self
    }

    /// Escaped text, without forbidden characters.
    pub fn text(&mut self, s: &str) -> &mut Self {
        let _ = self.w.write_event(Event::Text(BytesText::new(&clean(s))));
        self
    }

    /// `<name attrs>text</name>`.
    pub fn leaf(&mut self, name: &'static str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.open(name, attrs).text(text).close()
    }

    /// `<name val="v"/>`, the most common shape in DrawingML charts.
    pub fn val(&mut self, name: &'static str, v: &str) -> &mut Self {
        self.empty(name, &[("val", v)])
    }

    /// Markup that is constant and already well-formed (namespaces, fixed blocks).
    pub fn raw(&mut self, s: &str) -> &mut Self {
        self.w.get_mut().extend_from_slice(s.as_bytes());
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.close();
        }
        self.w.into_inner()
    }
}

/// A number as a chart cache or workbook shows it: the shortest text that reads back as
/// the same f64 (Rust's `Display`), in exponent form outside a readable range.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-6..1e15).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:E}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_are_dropped_and_markup_escaped() {
        let mut x = Xml::new();
        x.leaf(
            "a",
            &[("v", "x\"<&\u{1}y")],
            "a&b<c>\u{0}\u{8}d \u{1F600} שלום\u{FFFE}",
        );
        let s = String::from_utf8(x.finish()).unwrap_or_default();
        assert!(
            s.ends_with("<a v=\"x&quot;&lt;&amp;y\">a&amp;b&lt;c&gt;d \u{1F600} שלום</a>"),
            "{s}"
        );
    }

    #[test]
    fn numbers_read_back_exactly() {
        for v in [
            0.0,
            1.5,
            -2.25,
            1e-9,
            123456789.125,
            1e300,
            -4.9e-324,
            0.1 + 0.2,
        ] {
            let s = num(v);
            assert_eq!(s.parse::<f64>().ok(), Some(v), "{s}");
        }
        assert_eq!(num(1e300), "1E300");
        assert_eq!(num(0.25), "0.25");
    }
}
