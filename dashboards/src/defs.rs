//! The bundled dashboards.
//!
//! Mesh dashboards read only the mesh model (`model/mesh.rules.yml`); the
//! per-system ones read their exporter's own metrics; the collector's reads its
//! `/metrics`. Every selector carries the dashboard's variables.

use crate::build::*;

/// The thresholds that mean something: the SLO defaults the reporter also uses.
pub const SLO_P99_SECONDS: f64 = 0.25;
pub const SLO_BACKLOG: f64 = 10_000.0;
pub const SLO_ERRORS_PER_SECOND: f64 = 1.0;

const MESH: &str = r#"node=~"$node", role=~"$role""#;
const SYS: &str = r#"job=~"$job", instance=~"$instance", node=~"$node""#;
const COL: &str = r#"job=~"$job", instance=~"$instance""#;

/// `name{filter, extra}`.
fn sel(name: &str, filter: &str, extra: &str) -> String {
    if extra.is_empty() {
        format!("{name}{{{filter}}}")
    } else {
        format!("{name}{{{filter}, {extra}}}")
    }
}

fn m(name: &str) -> String {
    sel(name, MESH, "")
}

fn s(name: &str) -> String {
    sel(name, SYS, "")
}

fn sx(name: &str, extra: &str) -> String {
    sel(name, SYS, extra)
}

/// `rate(name{...}[$__rate_interval])` over the system filter.
fn rate(name: &str, extra: &str) -> String {
    format!("rate({}[$__rate_interval])", sel(name, SYS, extra))
}

/// The standard `job`, `instance`, `node` variables, listed from one characteristic
/// metric of the system.
fn sys_vars(metric: &str) -> Vec<Var> {
    vec![
        var("job", "Job", format!("label_values({metric}, job)")),
        var(
            "instance",
            "Instance",
            format!(r#"label_values({metric}{{job=~"$job"}}, instance)"#),
        ),
        var(
            "node",
            "Node",
            format!(r#"label_values({metric}{{job=~"$job", instance=~"$instance"}}, node)"#),
        ),
    ]
}

fn mesh_vars() -> Vec<Var> {
    vec![
        var("role", "Role", "label_values(node:mesh_up:max, role)"),
        var(
            "node",
            "Node",
            r#"label_values(node:mesh_up:max{role=~"$role"}, node)"#,
        ),
    ]
}

const NODE_LINK: &str =
    "/d/meshscope-node-detail?var-node=${__data.fields.node}&${__url_time_range}";

fn header_links(except: &str) -> Vec<serde_json::Value> {
    [
        ("Mesh overview", "meshscope-mesh-overview"),
        ("Node detail", "meshscope-node-detail"),
        ("Network interfaces", "meshscope-network"),
        ("BGP / EVPN", "meshscope-bgp-evpn"),
        ("Collector", "meshscope-collector"),
    ]
    .into_iter()
    .filter(|(_, uid)| *uid != except)
    .map(|(t, uid)| dash_link(t, uid))
    .collect()
}

fn up_down() -> [(&'static str, &'static str, &'static str); 2] {
    [("0", "down", "red"), ("1", "up", "green")]
}

pub fn mesh_overview() -> Dashboard {
    let slo_lat = steps("green", &[(SLO_P99_SECONDS, "red")]);
    Dashboard {
        uid: "meshscope-mesh-overview",
        title: "meshscope / Mesh overview",
        description: "Health, traffic, worst nodes and links of the whole messaging mesh, from the mesh model.",
        tags: vec!["meshscope", "mesh"],
        sources: vec![],
        vars: mesh_vars(),
        links: header_links("meshscope-mesh-overview"),
        sections: vec![
            section("Health", vec![
                stat("Nodes up", "Nodes whose target was scraped successfully (node:mesh_up:max == 1). Red when none is up.", "short")
                    .q(q(format!("count({} == 1)", m("node:mesh_up:max")), "up"))
                    .thresholds(steps("red", &[(1.0, "green")])),
                stat("Nodes down", "Nodes whose last scrape failed. Red from one.", "short")
                    .q(q(format!("count({} == 0) or vector(0)", m("node:mesh_up:max")), "down"))
                    .thresholds(steps("green", &[(1.0, "red")])),
                stat("Messages in", "Messages received per second by all selected nodes.", "cps")
                    .q(q(format!("sum({})", m("node:mesh_messages_in:rate1m")), "in")),
                stat("Messages out", "Messages delivered or sent per second by all selected nodes.", "cps")
                    .q(q(format!("sum({})", m("node:mesh_messages_out:rate1m")), "out")),
                stat("Backlog", "Messages waiting on all selected nodes. Red above the backlog SLO.", "short")
                    .q(q(format!("sum({})", m("node:mesh_backlog:sum")), "backlog"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                stat("Worst p99 latency", "The highest 99th percentile latency of any selected node. Red above the latency SLO.", "s")
                    .q(q(format!("max({})", m("node:mesh_latency_seconds:p99")), "p99"))
                    .thresholds(slo_lat.clone()),
                state_timeline("Node health", "Each node's health over time: up (scraped) or down.")
                    .q(q(m("node:mesh_up:max"), "{{node}}"))
                    .map_values(&up_down())
                    .thresholds(steps("red", &[(1.0, "green")])),
            ]),
            section("Traffic", vec![
                timeseries("Messages in per node", "Messages received per second, per node.", "cps")
                    .q(q(m("node:mesh_messages_in:rate1m"), "{{node}}")),
                timeseries("Messages out per node", "Messages delivered or sent per second, per node.", "cps")
                    .q(q(m("node:mesh_messages_out:rate1m"), "{{node}}")),
                timeseries("Bytes in per node", "Payload bytes received per second, per node.", "Bps")
                    .q(q(m("node:mesh_bytes_in:rate1m"), "{{node}}")),
                timeseries("Bytes out per node", "Payload bytes sent per second, per node.", "Bps")
                    .q(q(m("node:mesh_bytes_out:rate1m"), "{{node}}")),
            ]),
            section("Where it hurts", vec![
                table("Nodes", "Every selected node with its current rates; click a node for its detail.", "short")
                    .q(q(m("node:mesh_up:max"), "up").table())
                    .q(q(m("node:mesh_messages_in:rate1m"), "msgs in/s").table())
                    .q(q(m("node:mesh_messages_out:rate1m"), "msgs out/s").table())
                    .q(q(m("node:mesh_backlog:sum"), "backlog").table())
                    .q(q(m("node:mesh_errors:rate1m"), "errors/s").table())
                    .q(q(m("node:mesh_latency_seconds:p99"), "p99 s").table())
                    .link("Node detail", NODE_LINK)
                    .size(24, 10),
                bargauge("Top 10 nodes by traffic", "The ten nodes receiving the most messages per second.", "cps")
                    .q(q(format!("topk(10, {})", m("node:mesh_messages_in:rate1m")), "{{node}}").instant())
                    .link("Node detail", "/d/meshscope-node-detail?var-node=${__field.labels.node}&${__url_time_range}"),
                bargauge("Top 10 nodes by errors", "The ten nodes with the most errors per second. Red above the error SLO.", "cps")
                    .q(q(format!("topk(10, {})", m("node:mesh_errors:rate1m")), "{{node}}").instant())
                    .thresholds(steps("green", &[(SLO_ERRORS_PER_SECOND, "red")]))
                    .link("Node detail", "/d/meshscope-node-detail?var-node=${__field.labels.node}&${__url_time_range}"),
                timeseries("Backlog per node", "Messages waiting, per node.", "short")
                    .q(q(m("node:mesh_backlog:sum"), "{{node}}"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                timeseries("Errors per node", "Failed deliveries, RPC errors and dead-lettered messages per second.", "cps")
                    .q(q(m("node:mesh_errors:rate1m"), "{{node}}")),
                timeseries("Drops per node", "Messages or packets dropped per second.", "cps")
                    .q(q(m("node:mesh_drops:rate1m"), "{{node}}")),
                timeseries("p99 latency per node", "99th percentile latency per node. The SLO is the red line.", "s")
                    .q(q(m("node:mesh_latency_seconds:p99"), "{{node}}"))
                    .thresholds(slo_lat),
            ]),
            section("Links", vec![
                table("Top links", "The twenty busiest links by messages per second: the source node, and the destination service (or node, for BGP peers).", "cps")
                    .q(q(format!("topk(20, {})", m("link:mesh_messages:rate1m")), "").table()),
                timeseries("Link messages", "Messages per second on each link.", "cps")
                    .q(q(m("link:mesh_messages:rate1m"), "{{src_node}} → {{dst_service}}{{dst_node}}")),
                timeseries("Link bytes", "Bytes per second on each link.", "Bps")
                    .q(q(m("link:mesh_bytes:rate1m"), "{{src_node}} → {{dst_service}}{{dst_node}}")),
            ]),
            section("Fabric", vec![
                timeseries("Fabric utilisation", "The busiest NIC's busier direction over its link speed, per node. Red from 90%.", "percentunit")
                    .q(q(m("node:mesh_fabric_utilisation:ratio"), "{{node}}"))
                    .range(0.0, 1.0)
                    .thresholds(steps("green", &[(0.7, "orange"), (0.9, "red")])),
                stat("BGP peers down", "BGP sessions not established on the selected nodes. Red from one.", "short")
                    .q(q(format!("sum({}) or vector(0)", m("node:mesh_bgp_peers_down:count")), "down"))
                    .thresholds(steps("green", &[(1.0, "red")]))
                    .size(6, 8),
                stat("NIC errors", "NIC receive and transmit errors per second on the selected nodes.", "cps")
                    .q(q(format!("sum({})", m("node:mesh_fabric_errors:rate1m")), "errors"))
                    .thresholds(steps("green", &[(SLO_ERRORS_PER_SECOND, "red")]))
                    .size(6, 8),
            ]),
        ],
    }
}

pub fn node_detail() -> Dashboard {
    let n = r#"node=~"$node""#;
    let mn = |name: &str| sel(name, n, "");
    Dashboard {
        uid: "meshscope-node-detail",
        title: "meshscope / Node detail",
        description: "Everything about one node (or a few): traffic, backlog, errors, latency, peers and fabric, from the mesh model.",
        tags: vec!["meshscope", "mesh"],
        sources: vec![],
        vars: vec![var("node", "Node", "label_values(node:mesh_up:max, node)")],
        links: header_links("meshscope-node-detail"),
        sections: vec![
            section("Now", vec![
                stat("Up", "Whether the node's target is being scraped.", "none")
                    .q(q(mn("node:mesh_up:max"), "{{node}}"))
                    .map_values(&up_down())
                    .thresholds(steps("red", &[(1.0, "green")])),
                stat("Messages in", "Messages received per second.", "cps").q(q(mn("node:mesh_messages_in:rate1m"), "{{node}}")),
                stat("Messages out", "Messages delivered or sent per second.", "cps").q(q(mn("node:mesh_messages_out:rate1m"), "{{node}}")),
                stat("Backlog", "Messages waiting. Red above the backlog SLO.", "short")
                    .q(q(mn("node:mesh_backlog:sum"), "{{node}}"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                stat("Errors", "Errors per second. Red above the error SLO.", "cps")
                    .q(q(mn("node:mesh_errors:rate1m"), "{{node}}"))
                    .thresholds(steps("green", &[(SLO_ERRORS_PER_SECOND, "red")])),
                stat("p99 latency", "99th percentile latency. Red above the latency SLO.", "s")
                    .q(q(mn("node:mesh_latency_seconds:p99"), "{{node}}"))
                    .thresholds(steps("green", &[(SLO_P99_SECONDS, "red")])),
            ]),
            section("Traffic", vec![
                timeseries("Messages in and out", "Messages received and delivered per second.", "cps")
                    .q(q(mn("node:mesh_messages_in:rate1m"), "{{node}} in"))
                    .q(q(mn("node:mesh_messages_out:rate1m"), "{{node}} out")),
                timeseries("Bytes in and out", "Payload bytes received and sent per second.", "Bps")
                    .q(q(mn("node:mesh_bytes_in:rate1m"), "{{node}} in"))
                    .q(q(mn("node:mesh_bytes_out:rate1m"), "{{node}} out")),
                timeseries("Backlog", "Messages waiting.", "short")
                    .q(q(mn("node:mesh_backlog:sum"), "{{node}}"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                timeseries("Errors and drops", "Errors and drops per second.", "cps")
                    .q(q(mn("node:mesh_errors:rate1m"), "{{node}} errors"))
                    .q(q(mn("node:mesh_drops:rate1m"), "{{node}} drops")),
                timeseries("Latency", "Median and 99th percentile latency.", "s")
                    .q(q(mn("node:mesh_latency_seconds:p50"), "{{node}} p50"))
                    .q(q(mn("node:mesh_latency_seconds:p99"), "{{node}} p99"))
                    .thresholds(steps("green", &[(SLO_P99_SECONDS, "red")])),
            ]),
            section("Peers", vec![
                table("Links from this node", "Messages per second to each peer.", "cps")
                    .q(q(mn("link:mesh_messages:rate1m"), "").table()),
                table("Links to this node", "Messages per second from each peer: links that name this node, or the service it is an instance of (shared with the service's other nodes).", "cps")
                    .q(q(format!(
                        r#"{} or ({} and on (dst_service) label_join({}, "dst_service", "", "service"))"#,
                        sel("link:mesh_messages:rate1m", r#"dst_node=~"$node""#, ""),
                        sel("link:mesh_messages:rate1m", r#"src_node!~"$node""#, ""),
                        mn("node:mesh_service:info")
                    ), "").table()),
            ]),
            section("Fabric", vec![
                timeseries("NIC receive and transmit", "Bytes per second over all NICs but lo.", "Bps")
                    .q(q(mn("node:mesh_fabric_receive_bytes:rate1m"), "{{node}} rx"))
                    .q(q(mn("node:mesh_fabric_transmit_bytes:rate1m"), "{{node}} tx")),
                gauge("Fabric utilisation", "The busiest NIC's busier direction over its link speed. Red from 90%.", "percentunit")
                    .q(q(mn("node:mesh_fabric_utilisation:ratio"), "{{node}}"))
                    .range(0.0, 1.0)
                    .thresholds(steps("green", &[(0.7, "orange"), (0.9, "red")])),
                timeseries("NIC errors and drops", "NIC errors and drops per second.", "pps")
                    .q(q(mn("node:mesh_fabric_errors:rate1m"), "{{node}} errors"))
                    .q(q(mn("node:mesh_fabric_drops:rate1m"), "{{node}} drops"))
                    .size(6, 6),
                stat("BGP peers down", "BGP sessions of this node not established. Red from one.", "short")
                    .q(q(mn("node:mesh_bgp_peers_down:count"), "{{node}}"))
                    .thresholds(steps("green", &[(1.0, "red")])),
                stat("EVPN remote VTEPs", "Remote VTEPs this node learnt over EVPN.", "short")
                    .q(q(mn("node:mesh_evpn_remote_vteps:sum"), "{{node}}")),
                stat("EVPN MACs", "MAC addresses this node learnt over EVPN.", "short")
                    .q(q(mn("node:mesh_evpn_macs:sum"), "{{node}}")),
            ]),
        ],
    }
}

pub fn pulsar() -> Dashboard {
    let bucket = |b: &str| format!("sum({})", s(&format!("pulsar_storage_write_latency_{b}")));
    Dashboard {
        uid: "meshscope-pulsar",
        title: "meshscope / Pulsar",
        description: "Apache Pulsar brokers from their own metrics: rates, backlog, subscriptions, producers and consumers, storage write latency.",
        tags: vec!["meshscope", "pulsar"],
        sources: vec!["pulsar"],
        vars: sys_vars("pulsar_in_messages_total"),
        links: header_links(""),
        sections: vec![
            section("Traffic", vec![
                timeseries("Messages in and out", "Messages published to and dispatched from the brokers per second.", "cps")
                    .q(q(format!("sum by (node) ({})", rate("pulsar_in_messages_total", "")), "{{node}} in"))
                    .q(q(format!("sum by (node) ({})", rate("pulsar_out_messages_total", "")), "{{node}} out")),
                timeseries("Bytes in and out", "Payload bytes in and out per second.", "Bps")
                    .q(q(format!("sum by (node) ({})", rate("pulsar_in_bytes_total", "")), "{{node}} in"))
                    .q(q(format!("sum by (node) ({})", rate("pulsar_out_bytes_total", "")), "{{node}} out")),
                timeseries("Broker-reported rates", "The brokers' own message rates (pulsar_rate_in/out).", "cps")
                    .q(q(format!("sum by (node) ({})", s("pulsar_rate_in")), "{{node}} in"))
                    .q(q(format!("sum by (node) ({})", s("pulsar_rate_out")), "{{node}} out")),
                stat("Producers", "Producers connected to the selected topics.", "short")
                    .q(q(format!("sum({})", s("pulsar_producers_count")), "producers"))
                    .thresholds(steps("red", &[(1.0, "green")]))
                    .size(6, 8),
                stat("Consumers", "Consumers connected to the selected topics. Red at zero: nothing is being consumed.", "short")
                    .q(q(format!("sum({})", s("pulsar_consumers_count")), "consumers"))
                    .thresholds(steps("red", &[(1.0, "green")]))
                    .size(6, 8),
            ]),
            section("Backlog", vec![
                timeseries("Backlog by topic", "Messages not yet acknowledged, per topic. Red above the backlog SLO.", "short")
                    .q(q(format!("sum by (topic) ({})", s("pulsar_msg_backlog")), "{{topic}}"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                timeseries("Backlog by subscription", "Messages waiting per subscription.", "short")
                    .q(q(format!("sum by (topic, subscription) ({})", s("pulsar_subscription_back_log")), "{{subscription}} on {{topic}}")),
                timeseries("Unacknowledged messages", "Messages delivered but not yet acknowledged, per subscription.", "short")
                    .q(q(format!("sum by (topic, subscription) ({})", s("pulsar_subscription_unacked_messages")), "{{subscription}} on {{topic}}")),
                bargauge("Storage write latency", "Entries written in the last interval by latency bucket (the broker's per-bucket gauges).", "short")
                    .q(q(bucket("le_0_5"), "≤ 0.5 ms").instant())
                    .q(q(bucket("le_1"), "≤ 1 ms").instant())
                    .q(q(bucket("le_5"), "≤ 5 ms").instant())
                    .q(q(bucket("le_10"), "≤ 10 ms").instant())
                    .q(q(bucket("le_20"), "≤ 20 ms").instant())
                    .q(q(bucket("le_50"), "≤ 50 ms").instant())
                    .q(q(bucket("le_100"), "≤ 100 ms").instant())
                    .q(q(bucket("le_200"), "≤ 200 ms").instant())
                    .q(q(bucket("le_1000"), "≤ 1 s").instant())
                    .q(q(bucket("overflow"), "> 1 s").instant()),
            ]),
        ],
    }
}

pub fn kafka() -> Dashboard {
    Dashboard {
        uid: "meshscope-kafka",
        title: "meshscope / Kafka",
        description: "Kafka brokers (JMX exporter) and consumer groups (kafka_exporter): throughput, lag, failed requests, replication, request latency.",
        tags: vec!["meshscope", "kafka"],
        sources: vec!["kafka_jmx", "kafka_exporter"],
        vars: sys_vars("kafka_server_brokertopicmetrics_messagesin_total"),
        links: header_links(""),
        sections: vec![
            section("Throughput", vec![
                timeseries("Messages in by topic", "Messages produced per second, per topic (broker meter).", "cps")
                    .q(q(format!("sum by (topic) ({})", rate("kafka_server_brokertopicmetrics_messagesin_total", r#"topic!="""#)), "{{topic}}")),
                timeseries("Bytes in and out", "Bytes produced to and fetched from the brokers per second, from the broker-wide meter (the JMX exporter also writes one per topic: summing both would count twice).", "Bps")
                    .q(q(format!("sum by (node) ({})", rate("kafka_server_brokertopicmetrics_bytesin_total", r#"topic="""#)), "{{node}} in"))
                    .q(q(format!("sum by (node) ({})", rate("kafka_server_brokertopicmetrics_bytesout_total", r#"topic="""#)), "{{node}} out")),
                timeseries("Log end offsets advance", "Messages appended per second, from kafka_exporter's partition offsets.", "cps")
                    .q(q(format!("sum by (topic) ({})", rate("kafka_topic_partition_current_offset", "")), "{{topic}}")),
                stat("Produce requests", "Produce requests per second.", "reqps")
                    .q(q(format!("sum({})", rate("kafka_network_requestmetrics_totaltimems_count", r#"request="Produce""#)), "produce"))
                    .size(6, 8),
                stat("Under-replicated partitions", "Partitions with fewer in-sync replicas than replicas. Red from one.", "short")
                    .q(q(format!("sum({})", s("kafka_server_replicamanager_underreplicatedpartitions")), "under-replicated"))
                    .thresholds(steps("green", &[(1.0, "red")]))
                    .size(6, 8),
            ]),
            section("Consumers and errors", vec![
                timeseries("Consumer group lag", "Messages behind the log end, per consumer group and topic. Red above the backlog SLO.", "short")
                    .q(q(format!("sum by (consumergroup, topic) ({})", s("kafka_consumergroup_lag")), "{{consumergroup}} on {{topic}}"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                timeseries("Failed requests", "Failed produce and fetch requests per second.", "reqps")
                    .q(q(format!("sum by (node) ({})", rate("kafka_server_brokertopicmetrics_failedproducerequests_total", r#"topic="""#)), "{{node}} produce"))
                    .q(q(format!("sum by (node) ({})", rate("kafka_server_brokertopicmetrics_failedfetchrequests_total", r#"topic="""#)), "{{node}} fetch")),
                timeseries("Produce latency (median)", "Median total time of produce requests, from the broker's summary.", "s")
                    .q(q(format!("max by (node) ({}) / 1000", sx("kafka_network_requestmetrics_totaltimems", r#"request="Produce", quantile=~"0.50?""#)), "{{node}}"))
                    .thresholds(steps("green", &[(SLO_P99_SECONDS, "red")])),
            ]),
        ],
    }
}

pub fn rabbitmq() -> Dashboard {
    let g = |name: &str, legend: &str| q(format!("sum by (node) ({})", rate(name, "")), legend);
    Dashboard {
        uid: "meshscope-rabbitmq",
        title: "meshscope / RabbitMQ",
        description: "RabbitMQ from its built-in Prometheus plugin: message flow, unroutable and dead-lettered messages, queues, consumers, connections.",
        tags: vec!["meshscope", "rabbitmq"],
        sources: vec!["rabbitmq"],
        vars: sys_vars("rabbitmq_global_messages_received_total"),
        links: header_links(""),
        sections: vec![
            section("Message flow", vec![
                timeseries("Received, routed, delivered, acknowledged", "Messages per second through the brokers (global counters, which do not fall when channels close).", "cps")
                    .q(g("rabbitmq_global_messages_received_total", "{{node}} received"))
                    .q(g("rabbitmq_global_messages_routed_total", "{{node}} routed"))
                    .q(g("rabbitmq_global_messages_delivered_total", "{{node}} delivered"))
                    .q(g("rabbitmq_global_messages_acknowledged_total", "{{node}} acknowledged")),
                timeseries("Confirms and redeliveries", "Publisher confirms and redeliveries per second.", "cps")
                    .q(g("rabbitmq_global_messages_confirmed_total", "{{node}} confirmed"))
                    .q(g("rabbitmq_global_messages_redelivered_total", "{{node}} redelivered")),
                timeseries("Unroutable and dead-lettered", "Messages dropped as unroutable and dead-lettered after rejection, per second. Red above the error SLO.", "cps")
                    .q(g("rabbitmq_global_messages_unroutable_dropped_total", "{{node}} unroutable dropped"))
                    .q(g("rabbitmq_global_messages_dead_lettered_rejected_total", "{{node}} dead-lettered (rejected)"))
                    .thresholds(steps("green", &[(SLO_ERRORS_PER_SECOND, "red")])),
            ]),
            section("Queues and clients", vec![
                timeseries("Queue depth", "Messages ready for delivery and delivered but unacknowledged.", "short")
                    .q(q(format!("sum by (node) ({})", s("rabbitmq_queue_messages_ready")), "{{node}} ready"))
                    .q(q(format!("sum by (node) ({})", s("rabbitmq_queue_messages_unacked")), "{{node}} unacked"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
                stat("Messages in queues", "All messages in the selected brokers' queues. Red above the backlog SLO.", "short")
                    .q(q(format!("sum({})", s("rabbitmq_queue_messages")), "messages"))
                    .thresholds(steps("green", &[(SLO_BACKLOG, "red")]))
                    .size(4, 8),
                stat("Queue consumers", "Consumers on the selected brokers' queues. Red at zero: nothing is being consumed.", "short")
                    .q(q(format!("sum({})", s("rabbitmq_queue_consumers")), "consumers"))
                    .thresholds(steps("red", &[(1.0, "green")]))
                    .size(4, 8),
                stat("Connections", "Client connections open.", "short")
                    .q(q(format!("sum({})", s("rabbitmq_connections")), "connections"))
                    .size(4, 8),
                timeseries("Connection bytes", "Bytes received from and sent to clients per second.", "Bps")
                    .q(g("rabbitmq_connection_incoming_bytes_total", "{{node}} in"))
                    .q(g("rabbitmq_connection_outgoing_bytes_total", "{{node}} out"))
                    .size(24, 8),
            ]),
        ],
    }
}

pub fn nats() -> Dashboard {
    Dashboard {
        uid: "meshscope-nats",
        title: "meshscope / NATS",
        description: "NATS servers from prometheus-nats-exporter: messages, bytes, slow consumers, connections, JetStream pending.",
        tags: vec!["meshscope", "nats"],
        sources: vec!["nats"],
        vars: sys_vars("gnatsd_varz_in_msgs"),
        links: header_links(""),
        sections: vec![section("Server", vec![
            timeseries("Messages in and out", "Messages per second (the exporter's cumulative varz counters).", "cps")
                .q(q(format!("sum by (node) ({})", rate("gnatsd_varz_in_msgs", "")), "{{node}} in"))
                .q(q(format!("sum by (node) ({})", rate("gnatsd_varz_out_msgs", "")), "{{node}} out")),
            timeseries("Bytes in and out", "Bytes per second.", "Bps")
                .q(q(format!("sum by (node) ({})", rate("gnatsd_varz_in_bytes", "")), "{{node}} in"))
                .q(q(format!("sum by (node) ({})", rate("gnatsd_varz_out_bytes", "")), "{{node}} out")),
            timeseries("Slow consumers", "Clients dropped as slow consumers per second. Red above the error SLO.", "cps")
                .q(q(format!("sum by (node) ({})", rate("gnatsd_varz_slow_consumers", "")), "{{node}}"))
                .thresholds(steps("green", &[(SLO_ERRORS_PER_SECOND, "red")])),
            timeseries("JetStream pending", "Messages pending for JetStream consumers, counted on each consumer's leader. Red above the backlog SLO.", "short")
                .q(q(format!("sum by (node) ({})", sel("jetstream_consumer_num_pending", SYS, r#"is_consumer_leader="true""#)), "{{node}}"))
                .thresholds(steps("green", &[(SLO_BACKLOG, "red")])),
            stat("Connections", "Client connections.", "short")
                .q(q(format!("sum({})", s("gnatsd_varz_connections")), "connections"))
                .size(6, 6),
        ])],
    }
}

pub fn grpc() -> Dashboard {
    let handled = |extra: &str| {
        format!(
            "sum by (node) ({})",
            rate("grpc_server_handled_total", extra)
        )
    };
    let quantile = |p: &str| {
        format!(
            "histogram_quantile({p}, sum by (node, le) ({}))",
            rate("grpc_server_handling_seconds_bucket", "")
        )
    };
    Dashboard {
        uid: "meshscope-grpc",
        title: "meshscope / gRPC",
        description: "gRPC servers and clients (go-grpc-middleware metrics): request rates, codes, error ratio, latency, in flight.",
        tags: vec!["meshscope", "grpc"],
        sources: vec!["grpc"],
        vars: sys_vars("grpc_server_started_total"),
        links: header_links(""),
        sections: vec![
            section("Requests", vec![
                timeseries("Requests started", "RPCs started per second, per method.", "reqps")
                    .q(q(format!("sum by (node, grpc_service, grpc_method) ({})", rate("grpc_server_started_total", "")), "{{node}} {{grpc_service}}/{{grpc_method}}")),
                timeseries("Handled by code", "RPCs completed per second, by status code.", "reqps")
                    .q(q(format!("sum by (grpc_code) ({})", rate("grpc_server_handled_total", "")), "{{grpc_code}}")),
                timeseries("Error ratio", "Share of RPCs that did not end OK. Red from 1%.", "percentunit")
                    .q(q(format!("({} or {} * 0) / {}", handled(r#"grpc_code!="OK""#), handled(""), handled("")), "{{node}}"))
                    .thresholds(steps("green", &[(0.01, "red")])),
                timeseries("In flight", "RPCs started but not yet handled.", "short")
                    .q(q(format!("sum by (node) ({}) - sum by (node) ({})", s("grpc_server_started_total"), s("grpc_server_handled_total")), "{{node}}")),
            ]),
            section("Latency", vec![
                timeseries("Latency p50 and p99", "Server handling time percentiles from the histogram. Red above the latency SLO.", "s")
                    .q(q(quantile("0.5"), "{{node}} p50"))
                    .q(q(quantile("0.99"), "{{node}} p99"))
                    .thresholds(steps("green", &[(SLO_P99_SECONDS, "red")])),
                heatmap("Latency distribution", "Completed RPCs per second by handling-time bucket.", "s")
                    .q(q(format!("sum by (le) ({})", rate("grpc_server_handling_seconds_bucket", "")), "{{le}}").heatmap()),
            ]),
            section("Messages", vec![
                // py-grpc-prometheus counts no messages of unary calls: there a call is
                // one message each way, so its started and OK-handled calls stand in.
                timeseries("Server messages", "Messages received and sent by servers per second (where the library counts no messages of unary calls, as py-grpc-prometheus, its calls started and handled OK).", "cps")
                    .q(q(format!(
                        "sum by (node) ({}) or sum by (node) ({})",
                        rate("grpc_server_msg_received_total", ""),
                        rate("grpc_server_started_total", "")
                    ), "{{node}} received"))
                    .q(q(format!(
                        "sum by (node) ({}) or sum by (node) ({})",
                        rate("grpc_server_msg_sent_total", ""),
                        rate("grpc_server_handled_total", r#"grpc_code="OK""#)
                    ), "{{node}} sent")),
                timeseries("Client calls by target", "Call attempts per second by the channel's target, from gRPC's OpenTelemetry plugin (the interceptor libraries do not name the server).", "cps")
                    .q(q(format!("sum by (node, grpc_target) ({})", rate("grpc_client_attempt_started_total", "")), "{{node}} → {{grpc_target}}")),
            ]),
        ],
    }
}

pub fn network() -> Dashboard {
    let dev = r#"device!="lo""#;
    let per_dev = |name: &str| format!("sum by (node, instance, device) ({})", rate(name, dev));
    Dashboard {
        uid: "meshscope-network",
        title: "meshscope / Network interfaces",
        description: "NICs from node_exporter: utilisation against link speed, bytes, packets, errors, drops, link state.",
        tags: vec!["meshscope", "network", "fabric"],
        sources: vec!["node_exporter"],
        vars: sys_vars("node_network_receive_bytes_total"),
        links: header_links("meshscope-network"),
        sections: vec![
            section("Utilisation", vec![
                timeseries("Utilisation against link speed", "Receive and transmit bytes per second over the device's speed (devices that report one). Red from 90%.", "percentunit")
                    .q(q(format!("{} / on (node, instance, device) max by (node, instance, device) ({} > 0)", per_dev("node_network_receive_bytes_total"), sx("node_network_speed_bytes", dev)), "{{node}} {{device}} rx"))
                    .q(q(format!("{} / on (node, instance, device) max by (node, instance, device) ({} > 0)", per_dev("node_network_transmit_bytes_total"), sx("node_network_speed_bytes", dev)), "{{node}} {{device}} tx"))
                    .min(0.0)
                    .thresholds(steps("green", &[(0.7, "orange"), (0.9, "red")]))
                    .size(24, 8),
                timeseries("Receive", "Bytes received per second.", "Bps")
                    .q(q(per_dev("node_network_receive_bytes_total"), "{{node}} {{device}}")),
                timeseries("Transmit", "Bytes sent per second.", "Bps")
                    .q(q(per_dev("node_network_transmit_bytes_total"), "{{node}} {{device}}")),
                timeseries("Packets", "Packets received and sent per second.", "pps")
                    .q(q(per_dev("node_network_receive_packets_total"), "{{node}} {{device}} rx"))
                    .q(q(per_dev("node_network_transmit_packets_total"), "{{node}} {{device}} tx")),
            ]),
            section("Errors and state", vec![
                timeseries("Errors", "Receive and transmit errors per second.", "pps")
                    .q(q(per_dev("node_network_receive_errs_total"), "{{node}} {{device}} rx"))
                    .q(q(per_dev("node_network_transmit_errs_total"), "{{node}} {{device}} tx")),
                timeseries("Drops", "Packets dropped per second.", "pps")
                    .q(q(per_dev("node_network_receive_drop_total"), "{{node}} {{device}} rx"))
                    .q(q(per_dev("node_network_transmit_drop_total"), "{{node}} {{device}} tx")),
                state_timeline("Link state", "Whether each device is up (operational state).")
                    .q(q(sx("node_network_up", dev), "{{node}} {{device}}"))
                    .map_values(&up_down())
                    .thresholds(steps("red", &[(1.0, "green")])),
                table("Speed and MTU", "Each device's link speed (bytes per second) and MTU (bytes).", "none")
                    .q(q(sx("node_network_speed_bytes", dev), "").table())
                    .q(q(sx("node_network_mtu_bytes", dev), "").table())
                    .size(24, 8),
            ]),
        ],
    }
}

pub fn bgp_evpn() -> Dashboard {
    Dashboard {
        uid: "meshscope-bgp-evpn",
        title: "meshscope / BGP and EVPN",
        description: "The fabric's control plane from frr_exporter: BGP peer state, uptime, messages, prefixes; EVPN MACs, ARP/ND entries and remote VTEPs.",
        tags: vec!["meshscope", "fabric", "bgp"],
        sources: vec!["frr"],
        vars: sys_vars("frr_bgp_peer_state"),
        links: header_links("meshscope-bgp-evpn"),
        sections: vec![
            section("BGP", vec![
                state_timeline("Peer state", "Each BGP session over time: established, down or administratively down.")
                    .q(q(s("frr_bgp_peer_state"), "{{node}} → {{peer}} (AS {{peer_as}})"))
                    .map_values(&[("0", "down", "red"), ("1", "established", "green"), ("2", "admin down", "orange")])
                    .size(24, 10),
                stat("Peers established", "Sessions established. Red at zero.", "short")
                    .q(q(format!("count({} == 1) or vector(0)", s("frr_bgp_peer_state")), "established"))
                    .thresholds(steps("red", &[(1.0, "green")])),
                stat("Peers not established", "Sessions down or administratively down. Red from one.", "short")
                    .q(q(format!("count({} != 1) or vector(0)", s("frr_bgp_peer_state")), "down"))
                    .thresholds(steps("green", &[(1.0, "red")])),
                timeseries("Session uptime", "Time since each session was established.", "s")
                    .q(q(s("frr_bgp_peer_uptime_seconds"), "{{node}} → {{peer}}"))
                    .size(16, 8),
                timeseries("BGP messages", "Messages received and sent per second, per node.", "cps")
                    .q(q(format!("sum by (node) ({})", rate("frr_bgp_peer_message_received_total", "")), "{{node}} received"))
                    .q(q(format!("sum by (node) ({})", rate("frr_bgp_peer_message_sent_total", "")), "{{node}} sent")),
                timeseries("Prefixes received", "Prefixes received from each peer.", "short")
                    .q(q(s("frr_bgp_peer_prefixes_received_count_total"), "{{node}} ← {{peer}}")),
            ]),
            section("EVPN", vec![
                timeseries("MACs by VNI", "MAC addresses learnt over EVPN, per VNI.", "short")
                    .q(q(format!("sum by (node, vni) ({})", s("frr_bgp_l2vpn_evpn_mac_count_total")), "{{node}} VNI {{vni}}"))
                    .size(8, 8),
                timeseries("ARP/ND entries by VNI", "ARP and ND entries learnt over EVPN, per VNI.", "short")
                    .q(q(format!("sum by (node, vni) ({})", s("frr_bgp_l2vpn_evpn_arp_nd_count_total")), "{{node}} VNI {{vni}}"))
                    .size(8, 8),
                timeseries("Remote VTEPs by VNI", "Remote VTEPs seen over EVPN, per VNI.", "short")
                    .q(q(format!("sum by (node, vni) ({})", s("frr_bgp_l2vpn_evpn_remote_vtep_count_total")), "{{node}} VNI {{vni}}"))
                    .size(8, 8),
            ]),
        ],
    }
}

pub fn collector() -> Dashboard {
    let c = |name: &str| sel(name, COL, "");
    let cr = |name: &str, extra: &str| format!("rate({}[$__rate_interval])", sel(name, COL, extra));
    Dashboard {
        uid: "meshscope-collector",
        title: "meshscope / Collector",
        description: "The meshscope collector itself, from its /metrics: scrape health, samples per second, head series, WAL, rule evaluation, resources.",
        tags: vec!["meshscope", "collector"],
        sources: vec!["collector"],
        vars: vec![
            var("job", "Job", "label_values(meshscope_build_info, job)"),
            var("instance", "Instance", r#"label_values(meshscope_build_info{job=~"$job"}, instance)"#),
        ],
        links: header_links("meshscope-collector"),
        sections: vec![
            section("Health", vec![
                stat("Ready", "Whether the store accepts writes (false on a full disk or a failing WAL).", "none")
                    .q(q(c("meshscope_tsdb_ready"), "{{instance}}"))
                    .map_values(&[("0", "not ready", "red"), ("1", "ready", "green")])
                    .thresholds(steps("red", &[(1.0, "green")])),
                stat("Targets down", "Scrape targets whose last scrape failed. Red from one.", "short")
                    .q(q(format!(r#"sum({}) or vector(0)"#, sel("meshscope_targets", COL, r#"health!="up""#)), "down"))
                    .thresholds(steps("green", &[(1.0, "red")])),
                stat("Config reload", "Whether the last configuration reload succeeded.", "none")
                    .q(q(c("meshscope_config_last_reload_successful"), "{{instance}}"))
                    .map_values(&[("0", "failed", "red"), ("1", "ok", "green")])
                    .thresholds(steps("red", &[(1.0, "green")])),
                stat("Blocks", "Persisted blocks open.", "short")
                    .q(q(c("meshscope_tsdb_blocks_loaded"), "{{instance}}")),
                timeseries("Targets by health", "Scrape targets per job and health.", "short")
                    .q(q(format!("sum by (exported_job, health) ({})", c("meshscope_targets")), "{{exported_job}} {{health}}"))
                    .size(8, 4),
            ]),
            section("Ingestion", vec![
                timeseries("Samples", "Samples scraped and appended to the head per second.", "cps")
                    .q(q(cr("meshscope_scrape_samples_scraped_total", ""), "{{instance}} scraped"))
                    .q(q(cr("meshscope_tsdb_head_samples_appended_total", ""), "{{instance}} appended")),
                timeseries("Scrapes and failures", "Scrapes and failed scrapes per second.", "cps")
                    .q(q(cr("meshscope_scrapes_total", ""), "{{instance}} scrapes"))
                    .q(q(cr("meshscope_scrape_failures_total", ""), "{{instance}} failures")),
                timeseries("Scrape duration p99", "99th percentile scrape duration.", "s")
                    .q(q(format!("histogram_quantile(0.99, sum by (instance, le) ({}))", cr("meshscope_scrape_duration_seconds_bucket", "")), "{{instance}}")),
                timeseries("Rejected samples", "Samples refused per second, by reason (out of order, duplicate, out of bounds).", "cps")
                    .q(q(format!("sum by (reason) ({})", cr("meshscope_tsdb_rejected_samples_total", "")), "{{reason}}")),
            ]),
            section("Storage", vec![
                timeseries("Head series", "Series in the in-memory head.", "short")
                    .q(q(c("meshscope_tsdb_head_series"), "{{instance}} series")),
                timeseries("WAL size", "Bytes in the write-ahead log and the head chunks file.", "bytes")
                    .q(q(c("meshscope_tsdb_wal_size_bytes"), "{{instance}} WAL"))
                    .q(q(c("meshscope_tsdb_head_chunks_file_bytes"), "{{instance}} head chunks")),
                timeseries("WAL syncs and write failures", "fsyncs and failed WAL writes per second.", "cps")
                    .q(q(cr("meshscope_tsdb_wal_syncs_total", ""), "{{instance}} syncs"))
                    .q(q(cr("meshscope_tsdb_wal_write_failures_total", ""), "{{instance}} failures")),
                timeseries("Compactions", "Block compactions in each interval.", "short")
                    .q(q(format!("increase({}[$__rate_interval])", c("meshscope_tsdb_compactions_total")), "{{instance}}")),
            ]),
            section("Rules and resources", vec![
                timeseries("Rule evaluations", "Rule evaluations and failures per second.", "cps")
                    .q(q(cr("meshscope_rule_evaluations_total", ""), "{{instance}} evaluations"))
                    .q(q(cr("meshscope_rule_evaluation_failures_total", ""), "{{instance}} failures")),
                timeseries("Rule group duration", "How long each group's last evaluation took. Red at 15 s, the mesh model's interval.", "s")
                    .q(q(c("meshscope_rule_group_last_duration_seconds"), "{{rule_group}}"))
                    .thresholds(steps("green", &[(15.0, "red")])),
                timeseries("CPU", "CPU used, in cores.", "percentunit")
                    .q(q(cr("process_cpu_seconds_total", ""), "{{instance}}")),
                timeseries("Memory", "Resident memory.", "bytes")
                    .q(q(c("process_resident_memory_bytes"), "{{instance}}")),
            ]),
        ],
    }
}

/// Every bundled dashboard.
pub fn all() -> Vec<Dashboard> {
    vec![
        mesh_overview(),
        node_detail(),
        pulsar(),
        kafka(),
        rabbitmq(),
        nats(),
        grpc(),
        network(),
        bgp_evpn(),
        collector(),
    ]
}
