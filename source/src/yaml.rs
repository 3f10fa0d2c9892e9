//! The YAML files users write (the collector's configuration, rule and SD files, the
//! reporter's SLO file), read the same guarded way: at most [`MAX_FILE_BYTES`], UTF-8,
//! nested at most [`MAX_DEPTH`] deep. And where each key path of a document stands
//! (line and column), so that errors found after decoding (`scrape_timeout` greater than
//! `scrape_interval`, a duplicate job name) can still point at the file position, as
//! decoding errors do.

use std::collections::HashMap;
use std::path::Path;

/// The largest configuration, rule, SD or SLO file read (Prometheus has no limit; a
/// larger file is almost surely a mistake, and reading it whole would be the risk).
pub const MAX_FILE_BYTES: u64 = 32 << 20;

/// Read a file of at most [`MAX_FILE_BYTES`] as UTF-8; the error is one line for a
/// person, without the path (the caller names the file).
pub fn read_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "the file is larger than {} MiB, the most a configuration or rule file may be",
            MAX_FILE_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("the file is not UTF-8: {e}"))
}

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Key paths (`scrape_configs[1].scrape_timeout`) to 1-based (line, column) of their value.
#[derive(Debug, Default)]
pub struct Locations {
    map: HashMap<String, (usize, usize)>,
}

/// The deepest nesting of mappings and sequences a configuration, rule or SD file may
/// have (Prometheus's own files are at most 8 deep). Deeper input is refused before a
/// YAML decoder sees it: serde_yaml takes time quadratic in the depth of flow
/// collections, and yaml-rust2's loader recurses once per level.
pub const MAX_DEPTH: usize = 64;

/// Why a document was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// 1-based line and column.
    pub position: (usize, usize),
    pub message: String,
}

impl Locations {
    /// Index a document; a document the YAML parser rejects gives an empty index (the
    /// decoder reports that error with its own position).
    pub fn index(text: &str) -> Locations {
        Locations::check(text).unwrap_or_default()
    }

    /// Index a document, refusing one nested deeper than [`MAX_DEPTH`]. The events are
    /// read one at a time (yaml-rust2's `load` would recurse).
    pub fn check(text: &str) -> Result<Locations, ShapeError> {
        let mut rx = Receiver::default();
        let mut p = Parser::new_from_str(text);
        let mut depth = 0usize;
        let too_deep = |line: usize, col: usize| ShapeError {
            position: (line, col),
            message: format!("mappings and sequences are nested more than {MAX_DEPTH} deep"),
        };
        loop {
            let (ev, mark) = match p.next_token() {
                Ok(e) => e,
                // The scanner's own limit (255 flow levels): the same refusal, so the
                // decoder never sees such a document.
                Err(e) if e.info().contains("recursion limit") => {
                    return Err(too_deep(e.marker().line(), e.marker().col() + 1))
                }
                Err(_) => return Ok(Locations::default()),
            };
            match ev {
                Event::StreamEnd => break,
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(too_deep(mark.line(), mark.col() + 1));
                    }
                }
                Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
                _ => {}
            }
            rx.on_event(ev, mark);
        }
        Ok(Locations { map: rx.map })
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

enum Frame {
    /// A mapping: the key being read, or `None` while waiting for one.
    Map(Option<String>),
    /// A sequence and the index of its next item.
    Seq(usize),
}

#[derive(Default)]
struct Receiver {
    map: HashMap<String, (usize, usize)>,
    stack: Vec<(String, Frame)>,
}

impl Receiver {
    /// The path of the value about to start, and whether it is a mapping key.
    fn next_path(&mut self) -> Option<(String, bool)> {
        let (base, frame) = self.stack.last_mut()?;
        Some(match frame {
            Frame::Map(None) => (String::new(), true),
            Frame::Map(Some(k)) => {
                let p = if base.is_empty() {
                    k.clone()
                } else {
                    format!("{base}.{k}")
                };
                (p, false)
            }
            Frame::Seq(i) => {
                let p = format!("{base}[{i}]");
                *i += 1;
                (p, false)
            }
        })
    }

    /// A value finished: the enclosing mapping waits for its next key.
    fn value_done(&mut self) {
        if let Some((_, Frame::Map(k))) = self.stack.last_mut() {
            *k = None;
        }
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(s, ..) => match self.next_path() {
                Some((_, true)) => {
                    if let Some((base, Frame::Map(k))) = self.stack.last_mut() {
                        // A mapping is located at its first key (the parser marks
                        // block mappings at the first `:`).
                        if !base.is_empty() && !self.map.contains_key(base.as_str()) {
                            self.map.insert(base.clone(), pos);
                        }
                        *k = Some(s);
                    }
                }
                Some((p, false)) => {
                    self.map.insert(p, pos);
                    self.value_done();
                }
                None => {}
            },
            Event::Alias(_) => {
                if let Some((p, false)) = self.next_path() {
                    self.map.insert(p, pos);
                    self.value_done();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                let path = match self.next_path() {
                    Some((p, false)) => {
                        if !is_map {
                            self.map.insert(p.clone(), pos);
                        }
                        p
                    }
                    // A complex mapping key: index nothing under it.
                    Some((_, true)) => "\u{0}".into(),
                    None => String::new(),
                };
                let frame = if is_map {
                    Frame::Map(None)
                } else {
                    Frame::Seq(0)
                };
                self.stack.push((path, frame));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_point_at_values() {
        let doc = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [x, y]\n  - job_name: b\n";
        let l = Locations::index(doc);
        assert_eq!(l.find("global.scrape_interval"), Some((2, 20)));
        assert_eq!(l.find("scrape_configs[0].job_name"), Some((4, 15)));
        assert_eq!(l.find("scrape_configs[1].job_name"), Some((7, 15)));
        assert_eq!(
            l.find("scrape_configs[0].static_configs[0].targets[1]"),
            Some((6, 22))
        );
        // Missing keys fall back to their nearest ancestor.
        assert_eq!(l.find("scrape_configs[1].scrape_timeout"), Some((7, 5)));
    }
}
