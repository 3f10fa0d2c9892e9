//! The mesh model: the contract between meshscope's parts.
//!
//! [`RULES`] is the recording-rule file (`model/mesh.rules.yml`) that maps the real
//! exporters' metrics onto the model; the collector evaluates it, and a real Prometheus
//! loads it unchanged. [`Record`] names every series it records, with its unit and
//! meaning, so that the viewer, the reporter and the dashboards read the same names
//! instead of keeping lists of their own. [`Ends`] turns a link's far end (a node, or a
//! service that several nodes serve) into the nodes it stands for.
//!
//! `docs/mesh-model.md` describes the model for users: every source, exporter version
//! and flag that changes a name.

use std::collections::{BTreeMap, BTreeSet};

/// The mesh model's rule file, as shipped.
pub const RULES: &str = include_str!("../mesh.rules.yml");

/// The roles a node can have (the `role` label of every model series).
pub const ROLES: [&str; 9] = [
    "pulsar", "kafka", "rabbitmq", "nats", "grpc", "envoy", "demux", "host", "router",
];

/// What a model series describes, and so which labels it has besides `node` and `role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One node.
    Node,
    /// A link: `src_node`, and `dst_service` or `dst_node`.
    Link,
    /// A consumer group: `group`, `topic`.
    Group,
}

macro_rules! records {
    ($( $(#[$doc:meta])* $v:ident => $name:literal, $scope:ident, $unit:literal, $meaning:literal; )*) => {
        /// Every series the mesh model records.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Record { $( $(#[$doc])* $v, )* }

        impl Record {
            /// Every record, in the order of the rule file.
            pub const ALL: &'static [Record] = &[ $( Record::$v, )* ];

            /// The recorded metric name.
            pub const fn name(self) -> &'static str {
                match self { $( Record::$v => $name, )* }
            }

            pub const fn scope(self) -> Scope {
                match self { $( Record::$v => Scope::$scope, )* }
            }

            /// The unit of its values.
            pub const fn unit(self) -> &'static str {
                match self { $( Record::$v => $unit, )* }
            }

            /// What it means, in a sentence.
            pub const fn meaning(self) -> &'static str {
                match self { $( Record::$v => $meaning, )* }
            }
        }
    };
}

records! {
    Up => "node:mesh_up:max", Node, "0/1", "health: whether the node's target answered its last scrape";
    Service => "node:mesh_service:info", Node, "1", "the service the node is an instance of (its target's `service` label)";
    MessagesIn => "node:mesh_messages_in:rate1m", Node, "messages/s", "messages received";
    MessagesOut => "node:mesh_messages_out:rate1m", Node, "messages/s", "messages delivered or sent";
    BytesIn => "node:mesh_bytes_in:rate1m", Node, "bytes/s", "payload bytes received";
    BytesOut => "node:mesh_bytes_out:rate1m", Node, "bytes/s", "payload bytes sent";
    Backlog => "node:mesh_backlog:sum", Node, "messages", "messages waiting on the node";
    Errors => "node:mesh_errors:rate1m", Node, "errors/s", "failed deliveries, RPC errors, dead-lettered messages";
    Drops => "node:mesh_drops:rate1m", Node, "messages/s", "messages or packets dropped";
    LatencyP50 => "node:mesh_latency_seconds:p50", Node, "s", "median latency";
    LatencyP99 => "node:mesh_latency_seconds:p99", Node, "s", "99th percentile latency";
    MessagesInNow => "node:mesh_messages_in:irate1m", Node, "messages/s", "messages received, from the last two samples";
    MessagesOutNow => "node:mesh_messages_out:irate1m", Node, "messages/s", "messages delivered or sent, from the last two samples";
    BytesInNow => "node:mesh_bytes_in:irate1m", Node, "bytes/s", "payload bytes received, from the last two samples";
    BytesOutNow => "node:mesh_bytes_out:irate1m", Node, "bytes/s", "payload bytes sent, from the last two samples";
    ErrorsNow => "node:mesh_errors:irate1m", Node, "errors/s", "errors, from the last two samples";
    DropsNow => "node:mesh_drops:irate1m", Node, "messages/s", "drops, from the last two samples";
    LinkMessages => "link:mesh_messages:rate1m", Link, "messages/s", "requests or messages the source sent over the link";
    LinkBytes => "link:mesh_bytes:rate1m", Link, "bytes/s", "bytes both ways over the connections the source opened";
    LinkErrors => "link:mesh_errors:rate1m", Link, "errors/s", "failed requests on the link as the source saw them";
    LinkPeerUp => "link:mesh_peer_up:min", Link, "0/1", "a BGP session: 1 while established in every address family";
    GroupBacklog => "group:mesh_backlog:sum", Group, "messages", "a consumer group's lag or a subscription's backlog";
    GroupConsumed => "group:mesh_consumed:rate1m", Group, "messages/s", "messages a consumer group consumed";
    FabricReceiveBytes => "node:mesh_fabric_receive_bytes:rate1m", Node, "bytes/s", "NIC receive, physical devices";
    FabricTransmitBytes => "node:mesh_fabric_transmit_bytes:rate1m", Node, "bytes/s", "NIC transmit, physical devices";
    FabricUtilisation => "node:mesh_fabric_utilisation:ratio", Node, "0-1", "the busiest NIC's busier direction over its speed";
    FabricErrors => "node:mesh_fabric_errors:rate1m", Node, "errors/s", "NIC receive and transmit errors";
    FabricDrops => "node:mesh_fabric_drops:rate1m", Node, "packets/s", "NIC receive and transmit drops";
    BgpPeersDown => "node:mesh_bgp_peers_down:count", Node, "peers", "BGP peers not established";
    EvpnRemoteVteps => "node:mesh_evpn_remote_vteps:sum", Node, "VTEPs", "remote VTEPs seen over EVPN";
    EvpnMacs => "node:mesh_evpn_macs:sum", Node, "MACs", "MAC addresses learnt over EVPN";
}

impl Record {
    pub fn from_name(name: &str) -> Option<Record> {
        Record::ALL.iter().copied().find(|r| r.name() == name)
    }
}

/// The alerting rules the file defines.
pub const ALERTS: [&str; 14] = [
    "MeshNodeDown",
    "MeshBgpPeerDown",
    "MeshAvailabilityBudgetBurn",
    "MeshErrorBudgetBurn",
    "MeshLatencyHigh",
    "MeshBacklogGrowing",
    "MeshBacklogWithoutConsumers",
    "MeshConsumerLagGrowing",
    "MeshEvpnVtepsLost",
    "MeshTargetDown",
    "MeshCollectorWalWriteFailures",
    "MeshCollectorRuleFailures",
    "MeshCollectorRemoteWriteBehind",
    "MeshCollectorNotificationsDropped",
];

/// The far end of a link series, from its labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum End {
    /// One node (`dst_node`).
    Node(String),
    /// A service (`dst_service`): every node of that service, or one node of that name.
    Service(String),
}

impl End {
    /// `dst_node` if the series has it, else `dst_service`.
    pub fn of<'a>(label: impl Fn(&str) -> Option<&'a str>) -> Option<End> {
        match (label("dst_node"), label("dst_service")) {
            (Some(n), _) if !n.is_empty() => Some(End::Node(n.to_string())),
            (_, Some(s)) if !s.is_empty() => Some(End::Service(s.to_string())),
            _ => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            End::Node(n) | End::Service(n) => n,
        }
    }
}

/// Which nodes a link's far end stands for: the nodes of a service (from
/// `node:mesh_service:info`), or the node the end names.
#[derive(Clone, Debug, Default)]
pub struct Ends {
    services: BTreeMap<String, BTreeSet<String>>,
    nodes: BTreeSet<String>,
}

impl Ends {
    /// From the known nodes and `(node, service)` pairs.
    pub fn new<'a>(
        nodes: impl IntoIterator<Item = &'a str>,
        services: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Ends {
        let mut e = Ends {
            nodes: nodes.into_iter().map(str::to_string).collect(),
            ..Ends::default()
        };
        for (node, service) in services {
            e.services
                .entry(service.to_string())
                .or_default()
                .insert(node.to_string());
        }
        e
    }

    /// The nodes `end` stands for, in name order: a service's instances; else the node
    /// of that name; else none (a service outside the mesh, or not yet seen).
    pub fn nodes(&self, end: &End) -> Vec<&str> {
        match end {
            End::Service(s) => match self.services.get(s) {
                Some(n) if !n.is_empty() => n.iter().map(String::as_str).collect(),
                _ => self.node(s),
            },
            End::Node(n) => self.node(n),
        }
    }

    fn node(&self, name: &str) -> Vec<&str> {
        self.nodes
            .get(name)
            .map(|n| vec![n.as_str()])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records_in_file() -> Vec<(String, String)> {
        let v: serde_yaml::Value = serde_yaml::from_str(RULES).unwrap();
        let mut out = Vec::new();
        for g in v["groups"].as_sequence().unwrap() {
            for r in g["rules"].as_sequence().unwrap() {
                if let Some(name) = r["record"].as_str() {
                    out.push((name.to_string(), r["expr"].as_str().unwrap().to_string()));
                }
            }
        }
        out
    }

    #[test]
    fn every_record_of_the_file_is_named_once_and_in_order() {
        let file: Vec<String> = records_in_file().into_iter().map(|r| r.0).collect();
        let ours: Vec<String> = Record::ALL.iter().map(|r| r.name().to_string()).collect();
        assert_eq!(file, ours);
        for r in Record::ALL {
            assert_eq!(Record::from_name(r.name()), Some(*r));
            let prefix = match r.scope() {
                Scope::Node => "node:",
                Scope::Link => "link:",
                Scope::Group => "group:",
            };
            assert!(r.name().starts_with(prefix), "{}", r.name());
        }
        assert_eq!(Record::from_name("up"), None);
    }

    #[test]
    fn each_irate_rule_is_its_rate_rule_with_irate() {
        let all = records_in_file();
        let by: BTreeMap<&str, &str> = all.iter().map(|(n, e)| (n.as_str(), e.as_str())).collect();
        let mut n = 0;
        for (name, expr) in &all {
            let Some(base) = name.strip_suffix(":irate1m") else {
                continue;
            };
            let rate = by[format!("{base}:rate1m").as_str()];
            // Every `rate(` that is not already `irate(` becomes `irate(`.
            let mut want = String::new();
            let mut rest = rate;
            while let Some(i) = rest.find("rate(") {
                let irate = i > 0 && rest.as_bytes()[i - 1] == b'i';
                want.push_str(&rest[..i]);
                want.push_str(if irate { "rate(" } else { "irate(" });
                rest = &rest[i + 5..];
            }
            want.push_str(rest);
            assert_eq!(expr, &want, "{name} differs from {base}:rate1m");
            n += 1;
        }
        assert_eq!(n, 6);
    }

    #[test]
    fn a_service_end_stands_for_its_instances_or_the_node_of_its_name() {
        let e = Ends::new(
            ["orders-0", "orders-1", "kafka-0", "web-0"],
            [("orders-1", "orders"), ("orders-0", "orders")],
        );
        let svc = |s: &str| End::Service(s.into());
        assert_eq!(e.nodes(&svc("orders")), vec!["orders-0", "orders-1"]);
        assert_eq!(e.nodes(&svc("kafka-0")), vec!["kafka-0"]);
        assert!(e.nodes(&svc("billing")).is_empty());
        assert_eq!(e.nodes(&End::Node("web-0".into())), vec!["web-0"]);
        assert!(e.nodes(&End::Node("orders".into())).is_empty());
        let labels = BTreeMap::from([("dst_service", "orders"), ("src_node", "web-0")]);
        assert_eq!(End::of(|k| labels.get(k).copied()), Some(svc("orders")));
        let labels = BTreeMap::from([("dst_node", "r1"), ("dst_service", "x")]);
        assert_eq!(
            End::of(|k| labels.get(k).copied()),
            Some(End::Node("r1".into()))
        );
        assert_eq!(End::of(|_| None), None);
    }
}
