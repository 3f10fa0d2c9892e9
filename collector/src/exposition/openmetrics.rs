//! The OpenMetrics 1.0 rules that go beyond one line: metric families, their metadata,
//! grouping and ordering, and what each type allows in its samples.

use std::collections::{HashMap, HashSet};

use super::{Event, MetricType, Sample};

type Check = Result<(), String>;

/// Sample-name suffixes each type allows.
fn suffixes(ty: MetricType) -> &'static [&'static str] {
    match ty {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary => &["", "_count", "_sum", "_created"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::StateSet | MetricType::Unknown => &[""],
    }
}

#[derive(Default)]
struct Group {
    key: Vec<(String, String)>,
    last_le: Option<f64>,
    last_bucket: Option<f64>,
    inf_bucket: Option<f64>,
    negative_le: bool,
    count: Option<f64>,
    sum: bool,
    gcount: bool,
    gsum: bool,
    /// A `_gsum` below zero: allowed only with negative buckets.
    gsum_negative: bool,
    seen: bool,
    after_buckets: bool,
    /// Each series of the group and its last timestamp (a map: a histogram may have
    /// hundreds of thousands of buckets).
    series_ts: std::collections::HashMap<Vec<u8>, Option<i64>>,
}

struct Family {
    name: String,
    ty: MetricType,
    has_type: bool,
    has_help: bool,
    has_unit: bool,
    has_samples: bool,
    group: Group,
    seen_groups: HashSet<Vec<(String, String)>>,
}

/// Validates the stream of events of one OpenMetrics body.
#[derive(Default)]
pub struct Validator {
    eof: bool,
    family: Option<Family>,
    seen_families: HashSet<String>,
    /// Sample names each family can produce, so that two families never share one.
    claimed: HashMap<String, String>,
}

impl Validator {
    pub(super) fn eof_seen(&self) -> bool {
        self.eof
    }

    pub(super) fn set_eof(&mut self) {
        self.eof = true;
    }

    /// Checks that end the body: the last family must be complete.
    pub(super) fn finish(&mut self) -> Check {
        self.close_family()
    }

    pub(super) fn check(&mut self, ev: &Event<'_>) -> Check {
        match ev {
            Event::Help { name, .. } => self.metadata(name, |f| {
                if std::mem::replace(&mut f.has_help, true) {
                    return Err(format!("repeated # HELP for metric family {name}"));
                }
                Ok(())
            }),
            Event::Type { name, ty } => {
                self.metadata(name, |f| {
                    if std::mem::replace(&mut f.has_type, true) {
                        return Err(format!("repeated # TYPE for metric family {name}"));
                    }
                    if f.has_unit && matches!(ty, MetricType::Info | MetricType::StateSet) {
                        return Err(format!(
                            "metric family {name} of type {} must not have a unit",
                            ty.as_str()
                        ));
                    }
                    f.ty = *ty;
                    Ok(())
                })?;
                self.claim(name, *ty)
            }
            Event::Unit { name, unit } => self.metadata(name, |f| {
                if std::mem::replace(&mut f.has_unit, true) {
                    return Err(format!("repeated # UNIT for metric family {name}"));
                }
                if matches!(f.ty, MetricType::Info | MetricType::StateSet) {
                    return Err(format!(
                        "metric family {name} of type {} must not have a unit",
                        f.ty.as_str()
                    ));
                }
                if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
                    return Err(format!(
                        "metric family name {name} must end with its unit \"_{unit}\""
                    ));
                }
                Ok(())
            }),
            Event::Sample(s) => self.sample(s),
        }
    }

    fn metadata(&mut self, name: &str, apply: impl FnOnce(&mut Family) -> Check) -> Check {
        let same = self.family.as_ref().is_some_and(|f| f.name == name);
        if same {
            let f = self.family.as_mut().ok_or("no family")?;
            if f.has_samples {
                return Err(format!(
                    "metadata for metric family {name} after its samples"
                ));
            }
            return apply(f);
        }
        self.open_family(name, MetricType::Unknown)?;
        let f = self.family.as_mut().ok_or("no family")?;
        apply(f)
    }

    fn claim(&mut self, family: &str, ty: MetricType) -> Check {
        for suffix in suffixes(ty) {
            let n = format!("{family}{suffix}");
            match self.claimed.get(&n) {
                Some(other) if other != family => {
                    return Err(format!("sample name {n} of metric family {family} clashes with metric family {other}"));
                }
                _ => {
                    self.claimed.insert(n, family.to_string());
                }
            }
        }
        Ok(())
    }

    fn open_family(&mut self, name: &str, ty: MetricType) -> Check {
        self.close_family()?;
        if !self.seen_families.insert(name.to_string()) {
            return Err(format!(
                "metric family {name} appears twice: a family's lines must be contiguous"
            ));
        }
        if let Some(other) = self.claimed.get(name) {
            if other != name {
                return Err(format!(
                    "metric family {name} clashes with a sample name of metric family {other}"
                ));
            }
        }
        self.claim(name, ty)?;
        self.family = Some(Family {
            name: name.to_string(),
            ty,
            has_type: false,
            has_help: false,
            has_unit: false,
            has_samples: false,
            group: Group::default(),
            seen_groups: HashSet::new(),
        });
        Ok(())
    }

    fn close_family(&mut self) -> Check {
        if let Some(f) = self.family.as_mut() {
            let g = std::mem::take(&mut f.group);
            finish_group(&f.name, f.ty, &g)?;
        }
        Ok(())
    }

    fn sample(&mut self, s: &Sample<'_>) -> Check {
        let fits = self.family.as_ref().and_then(|f| {
            s.name
                .strip_prefix(f.name.as_str())
                .filter(|rest| suffixes(f.ty).contains(rest))
                .map(|rest| rest.to_string())
        });
        let suffix = match fits {
            Some(sfx) => sfx,
            None => {
                self.open_family(s.name, MetricType::Unknown)?;
                String::new()
            }
        };
        let f = self.family.as_mut().ok_or("no family")?;
        f.has_samples = true;
        let ty = f.ty;

        let labels: Vec<(String, String)> = s
            .labels()
            .map(|(n, v)| (n.to_string(), v.into_owned()))
            .collect();
        // Duplicates: a scan for the usual handful of labels, a set past that (a line with
        // a million labels must not take a million squared comparisons).
        let dup = if labels.len() <= 16 {
            labels
                .iter()
                .enumerate()
                .find(|(i, (n, _))| labels[..*i].iter().any(|(m, _)| m == n))
                .map(|(_, (n, _))| n)
        } else {
            let mut seen = std::collections::HashSet::with_capacity(labels.len());
            labels
                .iter()
                .map(|(n, _)| n)
                .find(|n| !seen.insert(n.as_str()))
        };
        if let Some(n) = dup {
            return Err(format!("duplicate label name {n:?} in {}", s.name));
        }
        let special = match (ty, suffix.as_str()) {
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => Some("le"),
            (MetricType::Summary, "") => Some("quantile"),
            (MetricType::StateSet, _) => Some(f.name.as_str()),
            _ => None,
        };
        let special_value =
            special.and_then(|sp| labels.iter().find(|(n, _)| n == sp).map(|(_, v)| v.clone()));
        if let Some(sp) = special {
            if special_value.is_none() {
                return Err(format!(
                    "{} of type {} must have the label {sp:?}",
                    s.name,
                    ty.as_str()
                ));
            }
        }
        let mut key: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(n, _)| Some(n.as_str()) != special)
            .collect();
        key.sort();

        if !f.group.seen || f.group.key != key {
            let old = std::mem::take(&mut f.group);
            if old.seen {
                finish_group(&f.name, ty, &old)?;
            }
            if !f.seen_groups.insert(key.clone()) {
                return Err(format!(
                    "samples of metric {} with labels {key:?} are not contiguous",
                    f.name
                ));
            }
            f.group.key = key;
            f.group.seen = true;
        }
        let g = &mut f.group;

        match g.series_ts.get_mut(s.series) {
            Some(last) => match (*last, s.timestamp_ms) {
                (Some(prev), Some(cur)) if cur >= prev => *last = Some(cur),
                (Some(_), Some(_)) => return Err(format!("timestamps of {} go backwards", s.name)),
                _ => {
                    return Err(format!(
                        "{} repeats without timestamps on every point",
                        s.name
                    ))
                }
            },
            None => {
                g.series_ts.insert(s.series.to_vec(), s.timestamp_ms);
            }
        }

        let exemplar_ok = matches!(
            (ty, suffix.as_str()),
            (MetricType::Counter, "_total")
                | (
                    MetricType::Histogram | MetricType::GaugeHistogram,
                    "_bucket"
                )
        );
        if s.exemplar.is_some() && !exemplar_ok {
            return Err(format!(
                "{} of type {} must not carry an exemplar",
                s.name,
                ty.as_str()
            ));
        }
        let v = s.value;
        let non_negative = |what: &str| -> Check {
            if v.is_nan() || v < 0.0 {
                return Err(format!(
                    "{what} {} is {v}; it must be a number >= 0",
                    s.name
                ));
            }
            Ok(())
        };
        // Bucket and count values are integers (OpenMetrics 1.0: "Count and bucket
        // values MUST be integers"; a Summary's Count too).
        let integer = |what: &str| -> Check {
            if v.fract() != 0.0 {
                return Err(format!("{what} {} is {v}; it must be an integer", s.name));
            }
            Ok(())
        };
        match (ty, suffix.as_str()) {
            (MetricType::Counter, "_total") => non_negative("counter")?,
            (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => {
                if g.after_buckets {
                    return Err(format!(
                        "{} bucket after the _count/_sum of its histogram",
                        s.name
                    ));
                }
                non_negative("bucket")?;
                integer("bucket")?;
                let le_text = special_value.unwrap_or_default();
                let le = canonical_float(&le_text).ok_or_else(|| {
                    format!("le label {le_text:?} of {} is not a valid float", s.name)
                })?;
                if g.last_le.is_some_and(|p| le <= p) {
                    return Err(format!(
                        "buckets of {} are not in increasing le order",
                        s.name
                    ));
                }
                if g.last_bucket.is_some_and(|p| v < p) {
                    return Err(format!("bucket counts of {} decrease", s.name));
                }
                g.negative_le |= le < 0.0;
                g.last_le = Some(le);
                g.last_bucket = Some(v);
                if le == f64::INFINITY {
                    g.inf_bucket = Some(v);
                }
            }
            (MetricType::Histogram, "_count") | (MetricType::Summary, "_count") => {
                non_negative("count")?;
                integer("count")?;
                g.after_buckets = true;
                g.count = Some(v);
            }
            (MetricType::Histogram, "_sum") => {
                non_negative("sum")?;
                g.after_buckets = true;
                g.sum = true;
            }
            (MetricType::Summary, "_sum") => non_negative("sum")?,
            (MetricType::GaugeHistogram, "_gcount") => {
                non_negative("gcount")?;
                integer("gcount")?;
                g.after_buckets = true;
                g.gcount = true;
                g.count = Some(v);
            }
            (MetricType::GaugeHistogram, "_gsum") => {
                if v.is_nan() {
                    return Err(format!("{} must not be NaN", s.name));
                }
                g.after_buckets = true;
                g.gsum = true;
                g.gsum_negative = v < 0.0;
            }
            (MetricType::Summary, "") => {
                let q_text = special_value.unwrap_or_default();
                match canonical_float(&q_text) {
                    Some(q) if (0.0..=1.0).contains(&q) => {}
                    _ => {
                        return Err(format!(
                            "quantile {q_text:?} of {} must be a float from 0 to 1",
                            s.name
                        ))
                    }
                }
                if v < 0.0 {
                    return Err(format!(
                        "quantile value of {} is {v}; it must not be negative",
                        s.name
                    ));
                }
            }
            (MetricType::Info, _) if v != 1.0 => {
                return Err(format!(
                    "info metric {} has value {v}; it must be 1",
                    s.name
                ));
            }
            (MetricType::StateSet, _) if v != 0.0 && v != 1.0 => {
                return Err(format!(
                    "stateset {} has value {v}; it must be 0 or 1",
                    s.name
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A float label value (`le`, `quantile`) in the spelling OpenMetrics allows.
fn canonical_float(s: &str) -> Option<f64> {
    if s == "+Inf" {
        return Some(f64::INFINITY);
    }
    if s == "-Inf" {
        return Some(f64::NEG_INFINITY);
    }
    if s.bytes()
        .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E')
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| !v.is_nan())
}

fn finish_group(name: &str, ty: MetricType, g: &Group) -> Check {
    if !g.seen {
        return Ok(());
    }
    match ty {
        MetricType::Histogram => {
            let inf = g
                .inf_bucket
                .ok_or_else(|| format!("histogram {name} has no +Inf bucket"))?;
            if g.sum != g.count.is_some() {
                return Err(format!(
                    "histogram {name} must have both _count and _sum or neither"
                ));
            }
            if let Some(c) = g.count {
                if c != inf {
                    return Err(format!(
                        "histogram {name}: _count ({c}) differs from the +Inf bucket ({inf})"
                    ));
                }
            }
            if g.negative_le && g.sum {
                return Err(format!(
                    "histogram {name} has negative buckets and must not have _sum"
                ));
            }
        }
        MetricType::GaugeHistogram => {
            g.inf_bucket
                .ok_or_else(|| format!("gaugehistogram {name} has no +Inf bucket"))?;
            let inf = g.inf_bucket.unwrap_or_default();
            if g.gsum != g.gcount {
                return Err(format!(
                    "gaugehistogram {name} must have both _gcount and _gsum or neither"
                ));
            }
            if let Some(c) = g.count {
                if c != inf {
                    return Err(format!(
                        "gaugehistogram {name}: _gcount ({c}) differs from the +Inf bucket ({inf})"
                    ));
                }
            }
            // "If negative threshold buckets are present, then sum MAY be negative":
            // without them it must not be.
            if g.gsum_negative && !g.negative_le {
                return Err(format!(
                    "gaugehistogram {name} has a negative _gsum but no negative buckets"
                ));
            }
        }
        _ => {}
    }
    Ok(())
}
