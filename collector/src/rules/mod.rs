//! Recording and alerting rules in Prometheus's rule file format, evaluated on schedule
//! into the store; the mesh model (`model/mesh.rules.yml`) is one such file,
//! embedded and loaded by default.

pub mod backfill;
mod manager;
#[cfg(test)]
mod model_tests;
pub mod partition;
pub mod unit_test;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{is_valid_label_name, ConfigError, Duration};

pub use manager::{expand_template, Alert, AlertState, GroupStatus, RuleManager, RuleStatus};

/// The mesh model's rules, as shipped (`model/mesh.rules.yml`).
pub const MESH_MODEL_RULES: &str = meshscope_model::RULES;
/// The name the embedded model rules go by in `/api/v1/rules` and errors.
pub const MESH_MODEL_FILE: &str = "<embedded>/mesh.rules.yml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(default)]
    interval: Option<Duration>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    alert: Option<String>,
    expr: String,
    #[serde(default, rename = "for")]
    for_: Option<Duration>,
    #[serde(default)]
    keep_firing_for: Option<Duration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// What a rule produces.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    Recording,
    Alerting {
        for_ms: i64,
        /// How long an alert keeps firing after its condition clears (2.42's
        /// `keep_firing_for`).
        keep_firing_for_ms: i64,
        annotations: BTreeMap<String, String>,
    },
}

/// A checked rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The `record` or `alert` name.
    pub name: String,
    pub expr: String,
    pub parsed: promql_parser::parser::Expr,
    pub labels: BTreeMap<String, String>,
    pub kind: RuleKind,
}

/// A checked group.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub file: String,
    /// Milliseconds; `None` takes the global evaluation interval.
    pub interval_ms: Option<i64>,
    /// Series a rule may produce per evaluation (0 = no limit).
    pub limit: u64,
    pub rules: Vec<Rule>,
}

pub fn is_valid_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Parse and check one rule file's text; `file` names it in errors.
pub fn parse_rules(text: &str, file: &str) -> Result<Vec<Group>, ConfigError> {
    let path = PathBuf::from(file);
    let locs = crate::config::check_yaml(text, &path)?;
    let raw: RuleFile = if text.trim().is_empty() {
        RuleFile { groups: Vec::new() }
    } else {
        serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(|e| crate::config::decode_error(&path, &e, text))?
    };
    let err = |key: String, message: String| ConfigError {
        file: path.clone(),
        position: locs.find(&key),
        key,
        message,
    };
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.groups.len());
    for (gi, g) in raw.groups.into_iter().enumerate() {
        let at = |k: &str| format!("groups[{gi}]{k}");
        if g.name.is_empty() {
            return Err(err(at(".name"), "groupname must not be empty".into()));
        }
        if !names.insert(g.name.clone()) {
            return Err(err(
                at(".name"),
                format!("{:?}: repeated in the same file", g.name),
            ));
        }
        let mut rules = Vec::with_capacity(g.rules.len());
        for (ri, r) in g.rules.into_iter().enumerate() {
            let rat = |k: &str| at(&format!(".rules[{ri}]{k}"));
            let (name, kind) = match (&r.record, &r.alert) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        rat(""),
                        "only one of 'record' and 'alert' must be set".into(),
                    ))
                }
                (None, None) => {
                    return Err(err(
                        rat(""),
                        "one of 'record' or 'alert' must be set".into(),
                    ))
                }
                (Some(rec), None) => {
                    if !is_valid_metric_name(rec) {
                        return Err(err(
                            rat(".record"),
                            format!("invalid recording rule name: {rec}"),
                        ));
                    }
                    if r.for_.is_some() {
                        return Err(err(
                            rat(".for"),
                            "invalid field 'for' in recording rule".into(),
                        ));
                    }
                    if r.keep_firing_for.is_some() {
                        return Err(err(
                            rat(".keep_firing_for"),
                            "invalid field 'keep_firing_for' in recording rule".into(),
                        ));
                    }
                    if !r.annotations.is_empty() {
                        return Err(err(
                            rat(".annotations"),
                            "invalid field 'annotations' in recording rule".into(),
                        ));
                    }
                    (rec.clone(), RuleKind::Recording)
                }
                (None, Some(alert)) => {
                    if alert.is_empty() {
                        return Err(err(rat(".alert"), "alert name must not be empty".into()));
                    }
                    for k in r.annotations.keys() {
                        if !is_valid_label_name(k) {
                            return Err(err(
                                rat(".annotations"),
                                format!("invalid annotation name: {k}"),
                            ));
                        }
                    }
                    (
                        alert.clone(),
                        RuleKind::Alerting {
                            for_ms: r.for_.map_or(0, |d| d.0),
                            keep_firing_for_ms: r.keep_firing_for.map_or(0, |d| d.0),
                            annotations: r.annotations.clone(),
                        },
                    )
                }
            };
            if r.expr.trim().is_empty() {
                return Err(err(rat(".expr"), "field 'expr' must be set in rule".into()));
            }
            let parsed = crate::promql::parse(&r.expr)
                .map_err(|e| err(rat(".expr"), format!("could not parse expression: {e}")))?;
            use promql_parser::parser::value::ValueType;
            if !matches!(parsed.value_type(), ValueType::Vector | ValueType::Scalar) {
                return Err(err(
                    rat(".expr"),
                    "expression must evaluate to an instant vector or a scalar".into(),
                ));
            }
            for k in r.labels.keys() {
                if !is_valid_label_name(k) {
                    return Err(err(rat(".labels"), format!("invalid label name: {k}")));
                }
                if k == "__name__" {
                    return Err(err(
                        rat(".labels"),
                        "invalid label name: __name__ cannot be set by a rule".into(),
                    ));
                }
            }
            rules.push(Rule {
                name,
                expr: r.expr,
                parsed,
                labels: r.labels,
                kind,
            });
        }
        out.push(Group {
            name: g.name,
            file: file.to_string(),
            interval_ms: g.interval.map(|d| d.0).filter(|d| *d > 0),
            limit: g.limit.unwrap_or(0),
            rules,
        });
    }
    Ok(out)
}

/// Read rule files, expanding globs (relative ones against `base_dir`, as Prometheus
/// resolves `rule_files`).
pub fn load_rule_files(patterns: &[String], base_dir: &Path) -> Result<Vec<Group>, String> {
    let mut groups = Vec::new();
    for p in patterns {
        let full = if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base_dir.join(p)
        };
        let pat = full.to_string_lossy().into_owned();
        let paths = glob::glob(&pat).map_err(|e| format!("rule_files: {p:?}: {e}"))?;
        for path in paths {
            let path = path.map_err(|e| format!("rule_files: {e}"))?;
            let text = crate::config::read_file(&path).map_err(|e| e.to_string())?;
            groups.extend(
                parse_rules(&text, &path.display().to_string()).map_err(|e| e.to_string())?,
            );
        }
    }
    Ok(groups)
}

/// The embedded mesh model rules.
pub fn mesh_model() -> Result<Vec<Group>, String> {
    parse_rules(MESH_MODEL_RULES, MESH_MODEL_FILE).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_files_are_checked_like_prometheus() {
        let ok = "groups:\n  - name: g\n    interval: 30s\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up)\n        labels: {team: a}\n      - alert: Down\n        expr: up == 0\n        for: 5m\n        annotations: {summary: '{{ $labels.node }} is down'}\n";
        let g = parse_rules(ok, "r.yml").unwrap();
        assert_eq!(g[0].rules.len(), 2);
        assert_eq!(g[0].interval_ms, Some(30_000));
        for (text, want) in [
            ("groups:\n  - name: g\n    rules:\n      - record: 'bad name'\n        expr: up\n", "invalid recording rule name"),
            ("groups:\n  - name: g\n    rules:\n      - record: a\n        expr: sum(up\n", "could not parse expression"),
            ("groups:\n  - name: g\n    rules:\n      - record: a\n        alert: b\n        expr: up\n", "only one of"),
            ("groups:\n  - name: g\n    rules:\n      - expr: up\n", "one of 'record' or 'alert'"),
            ("groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n", "repeated in the same file"),
            ("groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        for: 1m\n", "invalid field 'for'"),
            ("groups:\n  - name: g\n    rulez: []\n", "unknown field"),
            ("groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up[5m]\n", "instant vector"),
        ] {
            let e = parse_rules(text, "r.yml").unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.starts_with("r.yml"), "{e}");
        }
        let e = parse_rules(
            "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: sum(up\n",
            "r.yml",
        )
        .unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(5), "{e}");
    }

    #[test]
    fn the_mesh_model_parses() {
        let g = mesh_model().unwrap();
        assert!(g.iter().map(|g| g.rules.len()).sum::<usize>() >= 15);
    }
}
