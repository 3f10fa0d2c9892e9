//! SLO targets: availability, p99 latency, backlog and error rate, with defaults, per-role
//! values and per-node overrides, from a small YAML file (`slo.example.yml` documents it).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Targets; in a file every key is optional and falls back to the level above.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Fraction of the week a node is up (0.999 = 99.9%).
    pub availability: Option<f64>,
    /// The hourly mean of a node's p99 latency stays at or under this.
    pub latency_p99_seconds: Option<f64>,
    /// A node's hourly peak backlog stays at or under this many messages.
    pub backlog_messages: Option<f64>,
    /// A node's hourly mean error rate stays at or under this (errors per second).
    pub errors_per_second: Option<f64>,
}

/// Resolved targets for one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slo {
    pub availability: f64,
    pub latency_p99_seconds: f64,
    pub backlog_messages: f64,
    pub errors_per_second: f64,
}

/// The defaults: the same as the dashboards' thresholds.
pub const DEFAULT: Slo = Slo {
    availability: 0.999,
    latency_p99_seconds: 0.25,
    backlog_messages: 10_000.0,
    errors_per_second: 1.0,
};

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloConfig {
    #[serde(flatten)]
    pub defaults: Targets,
    #[serde(default)]
    pub roles: BTreeMap<String, Targets>,
    #[serde(default)]
    pub nodes: BTreeMap<String, Targets>,
}

#[derive(Debug, thiserror::Error)]
pub enum SloError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: {at}: {message}")]
    Invalid {
        path: String,
        at: String,
        message: String,
    },
}

impl Targets {
    fn over(self, base: Slo) -> Slo {
        Slo {
            availability: self.availability.unwrap_or(base.availability),
            latency_p99_seconds: self.latency_p99_seconds.unwrap_or(base.latency_p99_seconds),
            backlog_messages: self.backlog_messages.unwrap_or(base.backlog_messages),
            errors_per_second: self.errors_per_second.unwrap_or(base.errors_per_second),
        }
    }

    fn check(&self) -> Result<(), String> {
        if let Some(a) = self.availability {
            if !(a > 0.0 && a < 1.0) {
                return Err(format!(
                    "availability ({a}) must be a fraction between 0 and 1, such as 0.999"
                ));
            }
        }
        for (name, v) in [
            ("latency_p99_seconds", self.latency_p99_seconds),
            ("backlog_messages", self.backlog_messages),
            ("errors_per_second", self.errors_per_second),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(format!("{name} ({v}) must be a positive number"));
                }
            }
        }
        Ok(())
    }
}

impl SloConfig {
    pub fn parse(text: &str, path: &str) -> Result<SloConfig, SloError> {
        // Nesting too deep for the YAML decoder is refused first, as in the collector's
        // files.
        meshscope_source::yaml::Locations::check(text).map_err(|e| SloError::File {
            path: path.to_string(),
            message: format!("{}:{}: {}", e.position.0, e.position.1, e.message),
        })?;
        let c: SloConfig = if text.trim().is_empty() {
            SloConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| SloError::File {
                path: path.to_string(),
                message: match e.location() {
                    Some(l) => {
                        // serde_yaml ends its message with the location; we lead with it.
                        let m = e.to_string();
                        let suffix = format!(" at line {} column {}", l.line(), l.column());
                        format!(
                            "{}:{}: {}",
                            l.line(),
                            l.column(),
                            m.strip_suffix(&suffix).unwrap_or(&m)
                        )
                    }
                    None => e.to_string(),
                },
            })?
        };
        let invalid = |at: String, message: String| SloError::Invalid {
            path: path.to_string(),
            at,
            message,
        };
        c.defaults
            .check()
            .map_err(|m| invalid("top level".into(), m))?;
        for (r, t) in &c.roles {
            t.check().map_err(|m| invalid(format!("roles.{r}"), m))?;
        }
        for (n, t) in &c.nodes {
            t.check().map_err(|m| invalid(format!("nodes.{n}"), m))?;
        }
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<SloConfig, SloError> {
        let p = path.display().to_string();
        let text = meshscope_source::yaml::read_file(path).map_err(|message| SloError::File {
            path: p.clone(),
            message,
        })?;
        SloConfig::parse(&text, &p)
    }

    /// The targets of a role (no node overrides).
    pub fn role(&self, role: &str) -> Slo {
        let base = self.defaults.over(DEFAULT);
        self.roles.get(role).map_or(base, |t| t.over(base))
    }

    /// The targets of one node: node overrides, then its role's, then the defaults.
    pub fn node(&self, role: &str, node: &str) -> Slo {
        let r = self.role(role);
        self.nodes.get(node).map_or(r, |t| t.over(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_slo_files_are_refused_with_a_position() {
        let deep = format!("roles: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
        let e = SloConfig::parse(&deep, "slo.yml").unwrap_err().to_string();
        assert!(
            e.contains("slo.yml") && e.contains("1:") && e.contains("nested more than 64"),
            "{e}"
        );
    }

    #[test]
    fn example_file_states_the_defaults() {
        let c = SloConfig::parse(include_str!("../slo.example.yml"), "slo.example.yml")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.defaults.over(DEFAULT),
            DEFAULT,
            "the example's top level is the defaults"
        );
        assert_eq!(SloConfig::default().node("kafka", "k1"), DEFAULT);
        // The example shows one role and one node override, and they apply.
        assert!(c.role("kafka").latency_p99_seconds < DEFAULT.latency_p99_seconds);
        let (role, node) = c
            .nodes
            .iter()
            .next()
            .map(|(n, _)| ("pulsar", n.as_str()))
            .unwrap_or(("", ""));
        assert_ne!(c.node(role, node), c.role(role));
    }

    #[test]
    fn layers_and_errors() {
        let c = SloConfig::parse(
            "availability: 0.99\nroles:\n  kafka:\n    latency_p99_seconds: 0.1\nnodes:\n  k1:\n    availability: 0.9\n",
            "f",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let k1 = c.node("kafka", "k1");
        assert_eq!(
            (k1.availability, k1.latency_p99_seconds, k1.backlog_messages),
            (0.9, 0.1, 10_000.0)
        );
        assert_eq!(c.node("kafka", "k2").availability, 0.99);
        let e = SloConfig::parse("availabilty: 0.99\n", "slo.yml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("slo.yml: 1:1: unknown field `availabilty`"),
            "{e}"
        );
        let e = SloConfig::parse("roles:\n  nats:\n    availability: 99.9\n", "slo.yml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(e, "slo.yml: roles.nats: availability (99.9) must be a fraction between 0 and 1, such as 0.999");
        let e = SloConfig::parse("backlog_messages: -1\n", "s")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("backlog_messages (-1) must be a positive number"),
            "{e}"
        );
    }
}
