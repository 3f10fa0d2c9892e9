//! Speaker notes that make every number traceable: the PromQL behind the slide, the time
//! range and step, the source, how the figures were derived, and a SHA-256 of the data
//! drawn. The hash covers, in order, every chart (categories, then each series' name and
//! values as IEEE-754 bits in hex, `-` for a gap), every table (rows of tab-separated
//! cells, header first) and the values behind every picture, so a reader of the deck can
//! recompute it from what the slide holds.

use sha2::{Digest, Sha256};

use crate::format::rfc3339;
use crate::pptx::{Chart, Table};
use crate::query::{Metric, WeekData};

#[derive(Default)]
pub struct DataHash(Sha256);

impl DataHash {
    fn line(&mut self, s: &str) {
        self.0.update(s.as_bytes());
        self.0.update(b"\n");
    }

    fn value(&mut self, v: f64) {
        if v.is_finite() {
            self.line(&format!("{:016x}", v.to_bits()));
        } else {
            self.line("-");
        }
    }

    pub fn chart(&mut self, c: &Chart) {
        self.line("chart");
        for cat in &c.categories {
            self.line(&crate::pptx::xml::clean(cat));
        }
        for s in &c.series {
            self.line(&crate::pptx::xml::clean(&s.name));
            for v in &s.values {
                self.value(*v);
            }
        }
    }

    pub fn table(&mut self, t: &Table) {
        self.line("table");
        let clean = |s: &str| crate::pptx::xml::clean(s).into_owned();
        self.line(
            &t.header
                .iter()
                .map(|h| clean(h))
                .collect::<Vec<_>>()
                .join("\t"),
        );
        for r in &t.rows {
            self.line(
                &r.iter()
                    .map(|c| clean(&c.text))
                    .collect::<Vec<_>>()
                    .join("\t"),
            );
        }
    }

    pub fn values(&mut self, name: &str, v: &[f64]) {
        self.line("values");
        self.line(name);
        for x in v {
            self.value(*x);
        }
    }

    pub fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The notes of one slide.
pub struct Notes<'a> {
    week: &'a WeekData,
    prev: Option<&'a WeekData>,
    lines: Vec<String>,
}

impl<'a> Notes<'a> {
    pub fn new(week: &'a WeekData, prev: Option<&'a WeekData>, what: &str) -> Notes<'a> {
        Notes {
            week,
            prev,
            lines: vec![what.to_string()],
        }
    }

    /// The queries behind the slide, with their ranges and steps.
    pub fn queries(mut self, metrics: &[Metric], with_prev: bool) -> Self {
        let tz = self.week.period.tz;
        for m in metrics {
            let mut weeks = vec![("this week", self.week)];
            if with_prev {
                if let Some(p) = self.prev {
                    weeks.push(("previous week", p));
                }
            }
            for (label, w) in weeks {
                if let Some(q) = w.info(*m) {
                    self.lines.push(format!(
                        "PromQL ({label}): {} — range {} to {} ({}), step {} s, {} request{}",
                        q.expr,
                        rfc3339(q.start, tz),
                        rfc3339(q.end, tz),
                        tz.name(),
                        q.step,
                        q.requests,
                        if q.requests == 1 { "" } else { "s" }
                    ));
                }
            }
        }
        self
    }

    pub fn line(mut self, s: impl Into<String>) -> Self {
        self.lines.push(s.into());
        self
    }

    pub fn finish(mut self, hash: DataHash) -> String {
        self.lines.push(format!("Source: {}", self.week.source));
        self.lines
            .push(format!("SHA-256 of the data drawn: {}", hash.hex()));
        self.lines.join("\n")
    }
}
