//! Targets: discovered label sets turned into scrape targets by the job's defaults and
//! `relabel_configs`, exactly as Prometheus's `PopulateLabels` does.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::config::relabel::{self, LabelMap};
use crate::config::{self, ScrapeConfig};

/// A group of targets from one source (a static config, one entry of an SD file).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TargetGroup {
    /// Where the group came from (`static/0`, `/etc/sd/mesh.json:3`).
    pub source: String,
    /// One label set per target; each has `__address__`.
    pub targets: Vec<LabelMap>,
    /// Labels common to the group.
    pub labels: LabelMap,
}

/// A target after relabelling.
#[derive(Debug)]
pub struct Target {
    /// The labels before relabelling (shown by the targets API).
    pub discovered: LabelMap,
    /// All labels after relabelling, `__`-prefixed ones included.
    pub all: LabelMap,
    /// The labels every sample of this target gets (no `__` labels).
    pub labels: Vec<(String, String)>,
    pub url: String,
    pub interval: config::Duration,
    pub timeout: config::Duration,
    /// A hash of `all`: identifies the target across discovery updates.
    pub hash: u64,
    pub status: Mutex<TargetStatus>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the last scrape of a target did.
#[derive(Clone, Debug, Default)]
pub struct TargetStatus {
    pub health: Health,
    pub last_error: String,
    /// Wall-clock milliseconds of the last scrape's start (0 = never).
    pub last_scrape_ms: i64,
    pub last_duration_s: f64,
    pub last_samples: u64,
    /// `# TYPE`, `# HELP` and `# UNIT` of the last successful scrape, by family name
    /// (for `/api/v1/metadata`).
    pub metadata: std::sync::Arc<std::collections::BTreeMap<String, MetricMeta>>,
}

/// A metric family's metadata as its target exposes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricMeta {
    pub ty: &'static str,
    pub help: String,
    pub unit: String,
}

/// The outcome of relabelling one discovered target.
pub enum Populated {
    Target(Target),
    /// Dropped by `relabel_configs`; keeps the discovered labels for the targets API.
    Dropped(LabelMap),
}

/// Build the target for one discovered label set (Prometheus's `PopulateLabels`).
pub fn populate(
    target: &LabelMap,
    group_labels: &LabelMap,
    sc: &ScrapeConfig,
) -> Result<Populated, String> {
    let mut lb: LabelMap = group_labels.clone();
    for (n, v) in target {
        lb.insert(n.clone(), v.clone());
    }
    let defaults = [
        ("job", sc.job_name.clone()),
        ("__scrape_interval__", sc.interval().to_string()),
        ("__scrape_timeout__", sc.timeout().to_string()),
        ("__metrics_path__", sc.metrics_path.clone()),
        ("__scheme__", sc.scheme.clone()),
    ];
    for (n, v) in defaults {
        if lb.get(n).is_none_or(|s| s.is_empty()) {
            lb.insert(n.into(), v);
        }
    }
    for (k, v) in &sc.params {
        if let Some(first) = v.first() {
            lb.insert(format!("__param_{k}"), first.clone());
        }
    }
    lb.retain(|_, v| !v.is_empty());
    let discovered = lb.clone();
    if !relabel::process(&mut lb, &sc.relabel_configs) {
        return Ok(Populated::Dropped(discovered));
    }
    let Some(mut addr) = lb.get("__address__").cloned() else {
        return Err("no address".into());
    };
    let scheme = lb.get("__scheme__").cloned().unwrap_or_default();
    if !has_port(&addr) {
        match scheme.as_str() {
            "http" | "" => addr.push_str(":80"),
            "https" => addr.push_str(":443"),
            s => return Err(format!("invalid scheme {s:?}")),
        }
        lb.insert("__address__".into(), addr.clone());
    }
    config::check_address(&addr)?;
    let dur = |name: &str| -> Result<config::Duration, String> {
        let s = lb.get(name).map(String::as_str).unwrap_or("");
        let d = config::duration::parse_duration(s)
            .map_err(|e| format!("error parsing {name} label: {e}"))?;
        if d == 0 {
            return Err(format!("{name} label cannot be 0"));
        }
        Ok(config::Duration(d))
    };
    let interval = dur("__scrape_interval__")?;
    let timeout = dur("__scrape_timeout__")?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout {timeout} is greater than the scrape interval {interval}"
        ));
    }
    lb.retain(|n, _| !n.starts_with("__meta_"));
    if lb.get("instance").is_none_or(|s| s.is_empty()) {
        lb.insert("instance".into(), addr.clone());
    }
    let url = target_url(&lb, &addr, sc);
    let labels: Vec<(String, String)> = lb
        .iter()
        .filter(|(n, _)| !n.starts_with("__"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (n, v) in &lb {
        h.update(n.as_bytes());
        h.update(&[0xff]);
        h.update(v.as_bytes());
        h.update(&[0xff]);
    }
    Ok(Populated::Target(Target {
        discovered,
        all: lb,
        labels,
        url,
        interval,
        timeout,
        hash: h.digest(),
        status: Mutex::new(TargetStatus::default()),
    }))
}

fn has_port(addr: &str) -> bool {
    if let Some(rest) = addr.strip_prefix('[') {
        // [ipv6]:port
        return rest
            .split_once(']')
            .is_some_and(|(_, p)| p.starts_with(':'));
    }
    addr.rsplit_once(':')
        .is_some_and(|(h, p)| !h.contains(':') && !p.is_empty())
}

/// `scheme://address/path?params`, with `__param_*` labels overriding the configured
/// parameters (as in Prometheus).
fn target_url(lb: &LabelMap, addr: &str, sc: &ScrapeConfig) -> String {
    let scheme = lb.get("__scheme__").map(String::as_str).unwrap_or("http");
    let path = lb
        .get("__metrics_path__")
        .map(String::as_str)
        .unwrap_or("/metrics");
    let mut params: BTreeMap<String, Vec<String>> = sc.params.clone();
    for (n, v) in lb {
        if let Some(k) = n.strip_prefix("__param_") {
            match params.get_mut(k) {
                Some(vals) if !vals.is_empty() => vals[0] = v.clone(),
                _ => {
                    params.insert(k.to_string(), vec![v.clone()]);
                }
            }
        }
    }
    let mut url = format!("{scheme}://{addr}{path}");
    let mut first = true;
    for (k, vals) in &params {
        for v in vals {
            url.push(if first { '?' } else { '&' });
            first = false;
            url.push_str(&form_encode(k));
            url.push('=');
            url.push_str(&form_encode(v));
        }
    }
    url
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sc(yaml: &str) -> ScrapeConfig {
        let c = config::load_str(yaml, Path::new("t.yml"), Path::new(".")).unwrap();
        c.scrape_configs.into_iter().next().unwrap()
    }

    fn lm(p: &[(&str, &str)]) -> LabelMap {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_port_instance_and_url() {
        let c = sc("scrape_configs:\n  - job_name: mesh\n    scrape_interval: 5s\n    params: {module: [a b]}\n");
        let Populated::Target(t) =
            populate(&lm(&[("__address__", "host")]), &lm(&[("env", "lab")]), &c).unwrap()
        else {
            panic!("dropped")
        };
        assert_eq!(t.url, "http://host:80/metrics?module=a+b");
        assert_eq!(
            t.labels,
            vec![
                ("env".to_string(), "lab".to_string()),
                ("instance".into(), "host:80".into()),
                ("job".into(), "mesh".into())
            ]
        );
        assert_eq!(t.interval, config::Duration(5000));
        assert_eq!(t.discovered["__scrape_interval__"], "5s");
    }

    #[test]
    fn relabelling_sets_path_and_drops() {
        let c = sc(r#"
scrape_configs:
  - job_name: mesh
    relabel_configs:
      - source_labels: [node]
        regex: 'skip-.*'
        action: drop
      - source_labels: [node]
        target_label: __metrics_path__
        replacement: /node/$1/metrics
      - source_labels: [__meta_role]
        target_label: role
"#);
        let Populated::Target(t) = populate(
            &lm(&[
                ("__address__", "127.0.0.1:9000"),
                ("node", "kafka-1"),
                ("__meta_role", "kafka"),
            ]),
            &LabelMap::new(),
            &c,
        )
        .unwrap() else {
            panic!("dropped")
        };
        assert_eq!(t.url, "http://127.0.0.1:9000/node/kafka-1/metrics");
        assert!(t.labels.contains(&("role".into(), "kafka".into())));
        assert!(!t.all.contains_key("__meta_role"));
        assert!(matches!(
            populate(
                &lm(&[("__address__", "x:1"), ("node", "skip-1")]),
                &LabelMap::new(),
                &c
            ),
            Ok(Populated::Dropped(_))
        ));
        assert!(populate(&lm(&[("node", "a")]), &LabelMap::new(), &c).is_err());
    }

    #[test]
    fn ports() {
        assert!(has_port("a:1"));
        assert!(has_port("[::1]:9100"));
        assert!(!has_port("a"));
        assert!(!has_port("[::1]"));
    }
}
