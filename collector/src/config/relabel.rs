//! Relabelling as Prometheus 2.42 does it: every action, the same defaults, the same
//! validation and the same results (anchored regexes, `$1` templates, md5 `hashmod`).

use std::collections::BTreeMap;
use std::fmt;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer};

/// A relabel action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

const ACTIONS: [(&str, Action); 11] = [
    ("replace", Action::Replace),
    ("keep", Action::Keep),
    ("drop", Action::Drop),
    ("keepequal", Action::KeepEqual),
    ("dropequal", Action::DropEqual),
    ("hashmod", Action::HashMod),
    ("labelmap", Action::LabelMap),
    ("labeldrop", Action::LabelDrop),
    ("labelkeep", Action::LabelKeep),
    ("lowercase", Action::Lowercase),
    ("uppercase", Action::Uppercase),
];

impl Action {
    pub fn as_str(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(_, a)| *a == self)
            .map(|(s, _)| *s)
            .unwrap_or("replace")
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Err(serde::de::Error::custom("relabel action cannot be empty"));
        }
        // Prometheus accepts actions in any case.
        let lower = s.to_ascii_lowercase();
        ACTIONS
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let names: Vec<&str> = ACTIONS.iter().map(|(n, _)| *n).collect();
                serde::de::Error::custom(format!(
                    "unknown relabel action {s:?}: must be one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A regular expression anchored at both ends, as Prometheus anchors relabel regexes.
#[derive(Clone)]
pub struct Regex {
    src: String,
    re: regex::Regex,
}

impl Regex {
    pub fn new(src: &str) -> Result<Regex, String> {
        let re = regex::Regex::new(&format!("^(?:{src})$"))
            .map_err(|e| format!("invalid regular expression {src:?}: {e}"))?;
        Ok(Regex {
            src: src.to_string(),
            re,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.src
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.re.is_match(s)
    }

    /// Expand `template` (`$1`, `${name}`) against the match of `s`, or `None` when the
    /// regex does not match.
    fn expand(&self, s: &str, template: &str) -> Option<String> {
        let caps = self.re.captures(s)?;
        let mut out = String::new();
        caps.expand(template, &mut out);
        Some(out)
    }
}

impl Default for Regex {
    fn default() -> Self {
        // The default relabel regex `(.*)` always compiles.
        Regex {
            src: DEFAULT_REGEX.into(),
            re: regex::Regex::new("^(?:(.*))$").unwrap_or_else(|_| unreachable!()),
        }
    }
}

impl PartialEq for Regex {
    fn eq(&self, o: &Self) -> bool {
        self.src == o.src
    }
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.src)
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s).map_err(serde::de::Error::custom)
    }
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REPLACEMENT: &str = "$1";

fn default_separator() -> String {
    DEFAULT_SEPARATOR.into()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.into()
}

/// One `relabel_configs` / `metric_relabel_configs` entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default)]
    pub regex: Regex,
    #[serde(default)]
    pub modulus: u64,
    #[serde(default)]
    pub target_label: String,
    #[serde(default = "default_replacement")]
    pub replacement: String,
    #[serde(default)]
    pub action: Action,
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$`
pub fn is_valid_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// A label name that may contain `$1` / `${name}` templates (Prometheus's
/// `relabelTarget`): `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`.
fn is_valid_target_template(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    let mut first = true;
    while i < b.len() {
        if b[i] == b'$' {
            i += 1;
            if b.get(i) == Some(&b'{') {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && word(b[j]) {
                    j += 1;
                }
                if j == start || b.get(j) != Some(&b'}') {
                    return false;
                }
                i = j + 1;
            } else {
                let start = i;
                while i < b.len() && word(b[i]) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
        } else if b[i].is_ascii_alphabetic() || b[i] == b'_' || (!first && b[i].is_ascii_digit()) {
            i += 1;
        } else {
            return false;
        }
        first = false;
    }
    true
}

impl RelabelConfig {
    /// Prometheus's checks, with its messages.
    pub fn validate(&self) -> Result<(), String> {
        use Action::*;
        let a = self.action;
        if let Some(src) = &self.source_labels {
            if let Some(bad) = src.iter().find(|n| !is_valid_label_name(n)) {
                return Err(format!(
                    "{bad:?} is not a valid label name in source_labels"
                ));
            }
        }
        if self.modulus == 0 && a == HashMod {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(
            a,
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual
        ) && self.target_label.is_empty()
        {
            return Err(format!(
                "relabel configuration for {a} action requires 'target_label' value"
            ));
        }
        if matches!(a, Replace) && !is_valid_target_template(&self.target_label) {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual | HashMod)
            && !is_valid_label_name(&self.target_label)
        {
            return Err(format!(
                "{:?} is invalid 'target_label' for {a} action",
                self.target_label
            ));
        }
        if matches!(a, Lowercase | Uppercase) && self.replacement != DEFAULT_REPLACEMENT {
            return Err(format!("'replacement' can not be set for {a} action"));
        }
        if a == LabelMap && !is_valid_target_template(&self.replacement) {
            return Err(format!(
                "{:?} is invalid 'replacement' for {a} action",
                self.replacement
            ));
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'source_labels' and `target_label`, and no other fields"
            ));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (self.source_labels.is_some()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(format!(
                "{a} action requires only 'regex', and no other fields"
            ));
        }
        Ok(())
    }
}

/// A label set being relabelled. Setting an empty value deletes the label, as in
/// Prometheus's `labels.Builder`.
pub type LabelMap = BTreeMap<String, String>;

fn set(lb: &mut LabelMap, name: &str, value: String) {
    if value.is_empty() {
        lb.remove(name);
    } else {
        lb.insert(name.to_string(), value);
    }
}

/// Apply `cfgs` in order; `false` when the label set is dropped.
pub fn process(lb: &mut LabelMap, cfgs: &[RelabelConfig]) -> bool {
    cfgs.iter().all(|c| relabel(lb, c))
}

fn relabel(lb: &mut LabelMap, cfg: &RelabelConfig) -> bool {
    let val = match &cfg.source_labels {
        Some(src) => {
            let vals: Vec<&str> = src
                .iter()
                .map(|n| lb.get(n).map(String::as_str).unwrap_or(""))
                .collect();
            vals.join(&cfg.separator)
        }
        None => String::new(),
    };
    let get = |lb: &LabelMap, n: &str| lb.get(n).cloned().unwrap_or_default();
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return get(lb, &cfg.target_label) != val,
        Action::KeepEqual => return get(lb, &cfg.target_label) == val,
        Action::Replace => {
            let Some(target) = cfg.regex.expand(&val, &cfg.target_label) else {
                return true;
            };
            if !is_valid_label_name(&target) {
                return true;
            }
            let res = cfg.regex.expand(&val, &cfg.replacement).unwrap_or_default();
            set(lb, &target, res);
        }
        Action::Lowercase => set(lb, &cfg.target_label, val.to_lowercase()),
        Action::Uppercase => set(lb, &cfg.target_label, val.to_uppercase()),
        Action::HashMod => {
            let sum = Md5::digest(val.as_bytes());
            // Prometheus uses the last 8 bytes of the md5 sum, big-endian.
            let mut last = [0u8; 8];
            last.copy_from_slice(&sum[8..16]);
            let m = u64::from_be_bytes(last) % cfg.modulus.max(1);
            set(lb, &cfg.target_label, m.to_string());
        }
        Action::LabelMap => {
            let snapshot: Vec<(String, String)> =
                lb.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
            for (n, v) in snapshot {
                if let Some(new) = cfg.regex.expand(&n, &cfg.replacement) {
                    set(lb, &new, v);
                }
            }
        }
        Action::LabelDrop => lb.retain(|n, _| !cfg.regex.is_match(n)),
        Action::LabelKeep => lb.retain(|n, _| cfg.regex.is_match(n)),
    }
    true
}

#[cfg(test)]
mod tests;
