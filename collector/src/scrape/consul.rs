//! `consul_sd_configs`: Consul's catalog as Prometheus reads it. One blocking query loop
//! on `/v1/catalog/services` picks the services (by `services` and `tags`); each has its
//! own loop on `/v1/health/service/<name>`, which gives its instances with their node and
//! checks. Between queries a loop waits `refresh_interval`; a failed query keeps the last
//! good targets and is counted. Labels are Prometheus's `__meta_consul_*`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::discovery::{Sink, Update};
use super::http::{describe, Client};
use super::target::TargetGroup;
use crate::config::relabel::LabelMap;
use crate::config::ConsulSdConfig;

/// How long a blocking query may wait on the server (Prometheus uses 2 minutes).
const WATCH_TIMEOUT: &str = "2m";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    #[serde(default)]
    pub node: Node,
    #[serde(default)]
    pub service: Service,
    #[serde(default)]
    pub checks: Vec<Check>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub datacenter: String,
    #[serde(default)]
    pub tagged_addresses: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub meta: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    #[serde(default, rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub meta: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Check {
    #[serde(default, rename = "CheckID")]
    pub check_id: String,
    #[serde(default)]
    pub status: String,
}

/// The checks' aggregated status as Consul's API computes it: maintenance, then
/// critical, then warning, else passing.
pub fn aggregated_status(checks: &[Check]) -> &'static str {
    let (mut maint, mut crit, mut warn) = (false, false, false);
    for c in checks {
        if c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:") {
            maint = true;
            continue;
        }
        match c.status.as_str() {
            "critical" => crit = true,
            "warning" => warn = true,
            _ => {}
        }
    }
    if maint {
        "maintenance"
    } else if crit {
        "critical"
    } else if warn {
        "warning"
    } else {
        "passing"
    }
}

/// A label name from a metadata key: anything outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitize(k: &str) -> String {
    k.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A service's instances as one target group.
pub fn group(name: &str, entries: &[Entry], dc: &str, sep: &str) -> TargetGroup {
    let mut targets = Vec::with_capacity(entries.len());
    for e in entries {
        let (n, s) = (&e.node, &e.service);
        let host = if s.address.is_empty() {
            &n.address
        } else {
            &s.address
        };
        let addr = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", s.port)
        } else {
            format!("{host}:{}", s.port)
        };
        let tags = s.tags.clone().unwrap_or_default();
        let mut t = LabelMap::from([
            ("__address__".to_string(), addr),
            ("__meta_consul_node".to_string(), n.node.clone()),
            ("__meta_consul_address".to_string(), n.address.clone()),
            (
                "__meta_consul_tags".to_string(),
                format!("{sep}{}{sep}", tags.join(sep)),
            ),
            ("__meta_consul_service_id".to_string(), s.id.clone()),
            (
                "__meta_consul_service_address".to_string(),
                s.address.clone(),
            ),
            ("__meta_consul_service_port".to_string(), s.port.to_string()),
            (
                "__meta_consul_health".to_string(),
                aggregated_status(&e.checks).to_string(),
            ),
            (
                "__meta_consul_dc".to_string(),
                if n.datacenter.is_empty() {
                    dc.to_string()
                } else {
                    n.datacenter.clone()
                },
            ),
        ]);
        if let Some(ns) = s.namespace.as_ref().filter(|x| !x.is_empty()) {
            t.insert("__meta_consul_namespace".into(), ns.clone());
        }
        if let Some(p) = s.partition.as_ref().filter(|x| !x.is_empty()) {
            t.insert("__meta_consul_partition".into(), p.clone());
        }
        for (k, v) in n.meta.iter().flatten() {
            t.insert(format!("__meta_consul_metadata_{}", sanitize(k)), v.clone());
        }
        for (k, v) in s.meta.iter().flatten() {
            t.insert(
                format!("__meta_consul_service_metadata_{}", sanitize(k)),
                v.clone(),
            );
        }
        for (k, v) in n.tagged_addresses.iter().flatten() {
            t.insert(
                format!("__meta_consul_tagged_address_{}", sanitize(k)),
                v.clone(),
            );
        }
        targets.push(t);
    }
    TargetGroup {
        source: name.to_string(),
        targets,
        labels: LabelMap::from([("__meta_consul_service".to_string(), name.to_string())]),
    }
}

/// Whether a service with `tags` is watched: every configured tag is among them.
fn has_tags(want: &[String], tags: &[String]) -> bool {
    want.iter().all(|w| tags.contains(w))
}

struct Api {
    base: String,
    client: Client,
    cfg: ConsulSdConfig,
}

impl Api {
    /// A blocking query: the body and the new `X-Consul-Index`.
    async fn get(
        &self,
        path: &str,
        index: u64,
        extra: &[(&str, String)],
    ) -> Result<(bytes::Bytes, u64), String> {
        let mut q: Vec<(&str, String)> = vec![("wait", WATCH_TIMEOUT.into())];
        if index > 0 {
            q.push(("index", index.to_string()));
        }
        if let Some(dc) = &self.cfg.datacenter {
            q.push(("dc", dc.clone()));
        }
        if let Some(ns) = &self.cfg.namespace {
            q.push(("ns", ns.clone()));
        }
        if let Some(p) = &self.cfg.partition {
            q.push(("partition", p.clone()));
        }
        if self.cfg.allow_stale {
            q.push(("stale", String::new()));
        }
        for (k, v) in &self.cfg.node_meta {
            q.push(("node-meta", format!("{k}:{v}")));
        }
        q.extend(extra.iter().cloned());
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .get(&url)
            .query(&q)
            .timeout(Duration::from_secs(150));
        if let Some(t) = &self.cfg.token {
            req = req.header("X-Consul-Token", t.0.as_str());
        }
        let resp = self
            .client
            .authorize(req)?
            .send()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "{url}: server returned HTTP status {}",
                resp.status()
            ));
        }
        let new_index = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let body = bytes::Bytes::from(super::http::read_bounded(resp, &url).await?);
        // Consul: an index that went backwards (a restored snapshot) starts over.
        Ok((body, if new_index < index { 0 } else { new_index }))
    }
}

/// Run one `consul_sd_configs` entry until cancelled. Each service is a provider of its
/// own, `{sink.provider}/{service}`; failed queries count in `sink.failures`.
pub async fn run(cfg: ConsulSdConfig, client: Client, sink: Sink, stop: CancellationToken) {
    let api = Arc::new(Api {
        base: format!(
            "{}://{}{}",
            cfg.scheme,
            cfg.server,
            cfg.path_prefix
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/')
        ),
        client,
        cfg,
    });
    let sink = Arc::new(sink);
    let refresh = api.cfg.refresh().as_std().max(Duration::from_millis(100));
    let mut index = 0;
    let mut watched: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        match api
            .get("/v1/catalog/services", index, &[])
            .await
            .and_then(|(b, i)| {
                serde_json::from_slice::<BTreeMap<String, Option<Vec<String>>>>(&b)
                    .map(|m| (m, i))
                    .map_err(|e| format!("{}/v1/catalog/services: {e}", api.base))
            }) {
            Ok((services, i)) => {
                index = i;
                let wanted: Vec<String> = services
                    .into_iter()
                    .filter(|(name, tags)| {
                        (api.cfg.services.is_empty() || api.cfg.services.contains(name))
                            && has_tags(&api.cfg.tags, tags.as_deref().unwrap_or(&[]))
                    })
                    .map(|(n, _)| n)
                    .collect();
                let gone: Vec<String> = watched
                    .keys()
                    .filter(|n| !wanted.contains(n))
                    .cloned()
                    .collect();
                for n in gone {
                    if let Some(t) = watched.remove(&n) {
                        t.cancel();
                    }
                    let _ = sink.tx.send(Update {
                        job: sink.job.clone(),
                        provider: format!("{}/{n}", sink.provider),
                        groups: Vec::new(),
                    });
                }
                for n in wanted {
                    if watched.contains_key(&n) {
                        continue;
                    }
                    let t = stop.child_token();
                    watched.insert(n.clone(), t.clone());
                    tokio::spawn(watch_service(api.clone(), n, sink.clone(), refresh, t));
                }
            }
            Err(e) => {
                sink.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(job = %sink.job, error = %e, "Consul service discovery failed; keeping the last good targets");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(refresh) => {}
        }
    }
}

async fn watch_service(
    api: Arc<Api>,
    name: String,
    sink: Arc<Sink>,
    refresh: Duration,
    stop: CancellationToken,
) {
    let mut index = 0;
    let mut last: Option<TargetGroup> = None;
    let tags: Vec<(&str, String)> = api.cfg.tags.iter().map(|t| ("tag", t.clone())).collect();
    let path = format!("/v1/health/service/{}", urlencode(&name));
    let dc = api.cfg.datacenter.clone().unwrap_or_default();
    loop {
        let got = tokio::select! {
            _ = stop.cancelled() => return,
            r = api.get(&path, index, &tags) => r,
        };
        match got.and_then(|(b, i)| {
            serde_json::from_slice::<Vec<Entry>>(&b)
                .map(|e| (e, i))
                .map_err(|e| format!("{}{path}: {e}", api.base))
        }) {
            Ok((entries, i)) => {
                index = i;
                let g = group(&name, &entries, &dc, &api.cfg.tag_separator);
                if last.as_ref() != Some(&g) {
                    last = Some(g.clone());
                    let _ = sink.tx.send(Update {
                        job: sink.job.clone(),
                        provider: format!("{}/{name}", sink.provider),
                        groups: vec![g],
                    });
                }
            }
            Err(e) => {
                sink.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(job = %sink.job, service = %name, error = %e, "Consul service discovery failed; keeping the last good targets");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(refresh) => {}
        }
    }
}

/// A path segment: everything but unreserved characters percent-encoded.
fn urlencode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Mutex;
    use tokio::sync::mpsc;

    /// A fake of Consul's catalog API, answering as Consul's documentation shows
    /// (`/v1/catalog/services`, `/v1/health/service/:service`, `X-Consul-Index`).
    #[derive(Default)]
    struct Fake {
        index: AtomicU64,
        instances: Mutex<Vec<serde_json::Value>>,
        seen: Mutex<Vec<(String, String, Option<String>)>>,
    }

    fn instance(
        node: &str,
        addr: &str,
        svc_addr: &str,
        port: u16,
        status: &str,
    ) -> serde_json::Value {
        serde_json::json!({
            "Node": {"ID": "40e4a748-2192-161a-0510-9bf59fe950b5", "Node": node, "Address": addr,
                     "Datacenter": "dc1", "TaggedAddresses": {"lan": addr, "wan": "198.51.100.1"},
                     "Meta": {"instance_type": "t2.medium", "rack-id": "r1"}},
            "Service": {"ID": format!("mesh-{node}"), "Service": "mesh", "Tags": ["kafka", "prod"],
                        "Address": svc_addr, "Meta": {"version": "3.6"}, "Port": port,
                        "Weights": {"Passing": 10, "Warning": 1}, "Namespace": "default"},
            "Checks": [
                {"Node": node, "CheckID": "serfHealth", "Name": "Serf Health Status", "Status": "passing"},
                {"Node": node, "CheckID": "service:mesh", "Name": "Service check", "Status": status}
            ]
        })
    }

    async fn api(
        axum::extract::State(f): axum::extract::State<Arc<Fake>>,
        uri: axum::http::Uri,
        headers: axum::http::HeaderMap,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        let token = headers
            .get("X-Consul-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        f.seen.lock().unwrap().push((
            uri.path().to_string(),
            uri.query().unwrap_or("").to_string(),
            token,
        ));
        let index = f.index.load(Ordering::SeqCst).to_string();
        let body = match uri.path() {
            "/v1/catalog/services" => serde_json::json!({
                "consul": [], "mesh": ["kafka", "prod"], "web": ["dev"]
            }),
            "/v1/health/service/mesh" => {
                serde_json::Value::Array(f.instances.lock().unwrap().clone())
            }
            _ => return (axum::http::StatusCode::NOT_FOUND, "no such path").into_response(),
        };
        (
            [
                ("X-Consul-Index", index.as_str()),
                ("Content-Type", "application/json"),
            ],
            body.to_string(),
        )
            .into_response()
    }

    #[tokio::test]
    async fn services_by_tag_become_targets_with_prometheus_meta_labels_and_follow_changes() {
        let f = Arc::new(Fake {
            index: AtomicU64::new(7),
            instances: Mutex::new(vec![
                instance("n1", "10.1.10.12", "", 9092, "passing"),
                instance("n2", "10.1.10.13", "10.2.0.5", 9093, "critical"),
            ]),
            ..Fake::default()
        });
        let app = axum::Router::new().fallback(api).with_state(f.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = l.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        let cfg: ConsulSdConfig = serde_yaml::from_str(&format!(
            "server: '{server}'\ntoken: secret\ndatacenter: dc1\ntags: [kafka]\nnode_meta: {{rack-id: r1}}\nrefresh_interval: 100ms\n"
        ))
        .unwrap();
        let client = Client::new(&cfg.http(), &crate::config::Config::default()).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        tokio::spawn(run(
            cfg,
            client,
            Sink {
                job: "mesh".into(),
                provider: "consul_sd/0".into(),
                tx,
                failures: failures.clone(),
            },
            stop.clone(),
        ));
        let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        // Only "mesh" has the tag.
        assert_eq!(u.provider, "consul_sd/0/mesh");
        let g = &u.groups[0];
        assert_eq!(g.labels["__meta_consul_service"], "mesh");
        assert_eq!(g.targets.len(), 2);
        let t1 = &g.targets[0];
        for (k, v) in [
            ("__address__", "10.1.10.12:9092"),
            ("__meta_consul_node", "n1"),
            ("__meta_consul_address", "10.1.10.12"),
            ("__meta_consul_dc", "dc1"),
            ("__meta_consul_health", "passing"),
            ("__meta_consul_tags", ",kafka,prod,"),
            ("__meta_consul_service_id", "mesh-n1"),
            ("__meta_consul_service_address", ""),
            ("__meta_consul_service_port", "9092"),
            ("__meta_consul_metadata_instance_type", "t2.medium"),
            ("__meta_consul_metadata_rack_id", "r1"),
            ("__meta_consul_service_metadata_version", "3.6"),
            ("__meta_consul_tagged_address_wan", "198.51.100.1"),
            ("__meta_consul_namespace", "default"),
        ] {
            assert_eq!(t1.get(k).map(String::as_str), Some(v), "{k}: {t1:?}");
        }
        // The service's own address wins over the node's.
        assert_eq!(g.targets[1]["__address__"], "10.2.0.5:9093");
        assert_eq!(g.targets[1]["__meta_consul_health"], "critical");
        // The queries carried the token, the datacenter, the tag and the node meta.
        {
            let seen = f.seen.lock().unwrap();
            let h = seen
                .iter()
                .find(|s| s.0 == "/v1/health/service/mesh")
                .unwrap();
            assert!(h.1.contains("dc=dc1") && h.1.contains("tag=kafka"), "{h:?}");
            assert!(
                h.1.contains("node-meta=rack-id%3Ar1") && h.1.contains("wait=2m"),
                "{h:?}"
            );
            assert_eq!(h.2.as_deref(), Some("secret"));
            assert!(!seen.iter().any(|s| s.0.contains("/web")));
        }
        // An instance leaves: the group follows, and the next query sent the index.
        f.instances.lock().unwrap().pop();
        f.index.store(8, Ordering::SeqCst);
        let u = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(u.groups[0].targets.len(), 1);
        assert!(f
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.0 == "/v1/health/service/mesh" && s.1.contains("index=7")));
        assert_eq!(failures.load(Ordering::SeqCst), 0);
        stop.cancel();
    }

    #[test]
    fn maintenance_outranks_critical_outranks_warning() {
        let c = |id: &str, s: &str| Check {
            check_id: id.into(),
            status: s.into(),
        };
        assert_eq!(aggregated_status(&[]), "passing");
        assert_eq!(
            aggregated_status(&[c("a", "warning"), c("b", "passing")]),
            "warning"
        );
        assert_eq!(
            aggregated_status(&[c("a", "warning"), c("b", "critical")]),
            "critical"
        );
        assert_eq!(
            aggregated_status(&[c("a", "critical"), c("_node_maintenance", "critical")]),
            "maintenance"
        );
        assert_eq!(urlencode("a b/c"), "a%20b%2Fc");
    }
}
