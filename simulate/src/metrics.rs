//! The metrics each simulated node exposes: for every role, the names, types, units and
//! label names of the real exporter (read from each exporter's source; the lab tests
//! compare them with the real components where those run here). docs/mesh-model.md lists
//! the exporters and versions.
//!
//! - pulsar: the broker's own `/metrics`, topic-level (its default), every family typed
//!   gauge as Pulsar writes them, out counters per subscription.
//! - kafka: the JMX exporter's stock Kafka config (broker-wide `BrokerTopicMetrics`
//!   beside the per-topic ones, quantiles `"0.50"`…); kafka-0 also serves kafka_exporter,
//!   which reports the whole cluster's consumer groups.
//! - rabbitmq: `rabbitmq_prometheus`'s aggregated `/metrics` (3.10+ labels); the
//!   connection byte counters are sums over live connections and fall when one closes.
//! - nats: prometheus-nats-exporter with its default prefixes (`gnatsd_varz_*`,
//!   `jetstream_*` with `-jsz`).
//! - grpc: the app's interceptors (orders: go-grpc-prometheus, payments:
//!   py-grpc-prometheus, billing: gRPC's OpenTelemetry plugin) plus the Envoy sidecar the
//!   pod runs; orders' channel to payments is reported by the OpenTelemetry plugin.
//! - envoy: a sidecar-only front end (ingress listener, `local_app`, upstream clusters
//!   named after services).
//! - host: node_exporter with the virtual devices a container host has; odd hosts are
//!   VMs whose NIC speed is unknown (given by the textfile collector instead).
//! - router: frr_exporter with peer descriptions and the bgpl2vpn collector, and
//!   node_exporter.

use crate::model::{unit, LinkKind, Mesh};

/// One simulated sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSample {
    /// The `# TYPE` family name.
    pub family: &'static str,
    pub kind: &'static str,
    /// The sample name (family + suffix).
    pub name: String,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

struct Out<'a> {
    v: &'a mut Vec<SimSample>,
}

impl Out<'_> {
    fn push(
        &mut self,
        family: &'static str,
        kind: &'static str,
        suffix: &str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        self.v.push(SimSample {
            family,
            kind,
            name: format!("{family}{suffix}"),
            labels,
            value,
        });
    }
    fn counter(&mut self, family: &'static str, labels: Vec<(&'static str, String)>, value: f64) {
        self.push(family, "counter", "_total", labels, value.floor());
    }
    fn gauge(&mut self, family: &'static str, labels: Vec<(&'static str, String)>, value: f64) {
        self.push(family, "gauge", "", labels, value);
    }
    /// A cumulative histogram from a latency scale: bucket counts follow an exponential
    /// distribution with mean `mean` seconds over `count` observations.
    fn histogram(
        &mut self,
        family: &'static str,
        labels: Vec<(&'static str, String)>,
        les: &[f64],
        mean: f64,
        count: f64,
    ) {
        let count = count.floor();
        for le in les {
            let mut l = labels.clone();
            l.push(("le", fmt_le(*le)));
            let frac = 1.0 - (-le / mean).exp();
            self.push(family, "histogram", "_bucket", l, (count * frac).floor());
        }
        let mut l = labels.clone();
        l.push(("le", "+Inf".into()));
        self.push(family, "histogram", "_bucket", l, count);
        self.push(
            family,
            "histogram",
            "_sum",
            labels.clone(),
            (count * mean * 1000.0).floor() / 1000.0,
        );
        self.push(family, "histogram", "_count", labels, count);
    }
}

fn fmt_le(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

/// Histogram buckets: Envoy's times in ms, gRPC's in seconds.
const ENVOY_BUCKETS_MS: [f64; 8] = [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0];
const GRPC_BUCKETS_S: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// All samples of node `i` at time `t`, given its cumulative load `cum` (load-seconds
/// since the origin).
pub fn node_samples(mesh: &Mesh, i: usize, t: i64, cum: f64) -> Vec<SimSample> {
    let mut v = Vec::with_capacity(160);
    let mut o = Out { v: &mut v };
    let n = &mesh.nodes[i];
    let seed = mesh.seed;
    let rate_now = mesh.load(i, t.div_euclid(crate::model::WINDOW_MS));
    let msgs = 400.0 * cum; // messages in since the origin
    let bytes = msgs * (600.0 + 400.0 * unit(seed, i as u64, 3));
    let err_ratio = 0.001 + 0.004 * unit(seed, i as u64, 4);
    let backlog = mesh.backlog(i, t);
    let lat = 0.004 + 0.02 * unit(seed, i as u64, 5) + 0.00002 * backlog;
    let secs = ((t - mesh.origin_ms).max(0) / 1000) as f64;
    match n.role {
        "pulsar" => pulsar(
            &mut o,
            n,
            msgs,
            bytes,
            backlog,
            lat,
            rate_now,
            err_ratio,
            mesh.is_down(i, t),
        ),
        "kafka" => {
            kafka_jmx(&mut o, n, msgs, bytes, err_ratio, lat, mesh.is_down(i, t));
            if n.name == "kafka-0" {
                kafka_exporter(&mut o, mesh, msgs, backlog);
            }
        }
        "rabbitmq" => rabbitmq(&mut o, msgs, bytes, backlog, err_ratio, secs),
        "nats" => nats(&mut o, n, msgs, bytes, backlog, err_ratio),
        "grpc" => grpc_server(&mut o, n, msgs, err_ratio, lat),
        _ => {}
    }
    // The pod's Envoy sidecar: front ends and gRPC services.
    if matches!(n.role, "grpc" | "envoy") {
        envoy_sidecar(&mut o, mesh, i, msgs, bytes, err_ratio, lat, rate_now, cum);
    }
    if n.role == "grpc" {
        for l in n.links.iter().filter(|l| l.kind == LinkKind::Grpc) {
            grpc_otel_client(&mut o, &l.to, 200.0 * l.share * cum, l.loss, lat);
        }
    }
    if n.role == "router" {
        frr(&mut o, mesh, i, t, cum, rate_now);
    }
    // node_exporter where a machine is: brokers, hosts and routers (not pods).
    if !matches!(n.role, "grpc" | "envoy") {
        node_exporter(&mut o, mesh, i, bytes, cum);
    }
    v
}

fn base_pulsar(n: &crate::model::Node) -> Vec<(&'static str, String)> {
    vec![
        ("cluster", s("mesh")),
        ("namespace", s("public/default")),
        (
            "topic",
            format!("persistent://public/default/{}-events", n.name),
        ),
    ]
}

/// The Pulsar broker's `/metrics` (`TopicStats`, `PrometheusMetricStreams`): topic-level
/// families, every one typed gauge (counters included), out counters per subscription.
#[allow(clippy::too_many_arguments)]
fn pulsar(
    o: &mut Out,
    n: &crate::model::Node,
    msgs: f64,
    bytes: f64,
    backlog: f64,
    lat: f64,
    rate_now: f64,
    err_ratio: f64,
    down: bool,
) {
    let base = || base_pulsar(n);
    let g = |o: &mut Out, name: &'static str, l, v: f64| o.push(name, "gauge", "", l, v);
    g(o, "pulsar_in_messages_total", base(), msgs.floor());
    g(o, "pulsar_in_bytes_total", base(), bytes.floor());
    // Two subscriptions: billing takes every message, audit every second one.
    for (sub, share) in [("billing", 1.0), ("audit", 0.5)] {
        let mut l = base();
        l.push(("subscription", s(sub)));
        g(
            o,
            "pulsar_out_messages_total",
            l.clone(),
            (msgs * share * 0.999).floor(),
        );
        g(
            o,
            "pulsar_out_bytes_total",
            l,
            (bytes * share * 0.999).floor(),
        );
    }
    g(o, "pulsar_rate_in", base(), 400.0 * rate_now);
    g(o, "pulsar_rate_out", base(), 400.0 * rate_now * 1.5);
    g(o, "pulsar_producers_count", base(), 4.0);
    g(
        o,
        "pulsar_consumers_count",
        base(),
        if down { 0.0 } else { 3.0 },
    );
    g(o, "pulsar_msg_backlog", base(), backlog.floor());
    // printDefaultBrokerStats writes a zero beside the topics, with the cluster only.
    g(o, "pulsar_msg_backlog", vec![("cluster", s("mesh"))], 0.0);
    for (sub, share) in [("billing", 0.7), ("audit", 0.3)] {
        let mut l = base();
        l.push(("subscription", s(sub)));
        g(
            o,
            "pulsar_subscription_back_log",
            l.clone(),
            (backlog * share).floor(),
        );
        g(
            o,
            "pulsar_subscription_unacked_messages",
            l.clone(),
            (backlog * share * 0.1).floor(),
        );
        g(
            o,
            "pulsar_subscription_msg_rate_redeliver",
            l,
            400.0 * rate_now * share * err_ratio,
        );
    }
    // Write latency: one gauge per bucket of the last interval, plus _sum and _count.
    let total = 400.0 * rate_now * 60.0;
    let mut prev = 0.0;
    for (name, le) in [
        ("pulsar_storage_write_latency_le_0_5", 0.5),
        ("pulsar_storage_write_latency_le_1", 1.0),
        ("pulsar_storage_write_latency_le_5", 5.0),
        ("pulsar_storage_write_latency_le_10", 10.0),
        ("pulsar_storage_write_latency_le_20", 20.0),
        ("pulsar_storage_write_latency_le_50", 50.0),
        ("pulsar_storage_write_latency_le_100", 100.0),
        ("pulsar_storage_write_latency_le_200", 200.0),
        ("pulsar_storage_write_latency_le_1000", 1000.0),
    ] {
        let cumf = total * (1.0 - (-le / (lat * 1000.0)).exp());
        g(o, name, base(), (cumf - prev).max(0.0).floor());
        prev = cumf;
    }
    g(
        o,
        "pulsar_storage_write_latency_overflow",
        base(),
        (total - prev).max(0.0).floor(),
    );
    g(
        o,
        "pulsar_storage_write_latency_count",
        base(),
        total.floor(),
    );
    g(
        o,
        "pulsar_storage_write_latency_sum",
        base(),
        (total * lat * 1000.0).floor(),
    );
}

/// The JMX exporter's stock Kafka rules (`examples/kafka-2_0_0.yml`): `BrokerTopicMetrics`
/// broker-wide (no `topic`) and per topic, both marked on every event.
fn kafka_jmx(
    o: &mut Out,
    n: &crate::model::Node,
    msgs: f64,
    bytes: f64,
    err_ratio: f64,
    lat: f64,
    down: bool,
) {
    let topics = [
        (format!("{}-orders", n.name), 0.7),
        (format!("{}-audit", n.name), 0.3),
    ];
    for (family, total) in [
        ("kafka_server_brokertopicmetrics_messagesin", msgs),
        ("kafka_server_brokertopicmetrics_bytesin", bytes),
        ("kafka_server_brokertopicmetrics_bytesout", bytes * 1.9),
        (
            "kafka_server_brokertopicmetrics_failedproducerequests",
            msgs * err_ratio * 0.2,
        ),
        (
            "kafka_server_brokertopicmetrics_failedfetchrequests",
            msgs * err_ratio * 0.1,
        ),
    ] {
        o.counter(family, vec![], total);
        for (topic, share) in &topics {
            o.counter(family, vec![("topic", topic.clone())], total * share);
        }
    }
    o.gauge(
        "kafka_server_replicamanager_underreplicatedpartitions",
        vec![],
        if down { 3.0 } else { 0.0 },
    );
    // `(\d+)thPercentile` becomes quantile "0.$1": 50th is "0.50".
    for (q, f) in [
        ("0.50", 0.69),
        ("0.75", 1.39),
        ("0.95", 3.0),
        ("0.98", 3.9),
        ("0.99", 4.6),
        ("0.999", 6.9),
    ] {
        o.gauge(
            "kafka_network_requestmetrics_totaltimems",
            vec![("request", s("Produce")), ("quantile", s(q))],
            (lat * f * 1000.0 * 100.0).round() / 100.0,
        );
    }
    // A COUNTER rule on `Count`: jmx_exporter 0.x writes it as it is named.
    o.push(
        "kafka_network_requestmetrics_totaltimems_count",
        "counter",
        "",
        vec![("request", s("Produce"))],
        msgs.floor(),
    );
}

/// kafka_exporter: one process for the whole cluster (served here by kafka-0): topics,
/// partitions and consumer groups, all gauges. A group without a committed offset on a
/// partition reports lag -1.
fn kafka_exporter(o: &mut Out, mesh: &Mesh, msgs: f64, backlog: f64) {
    let brokers = mesh.nodes.iter().filter(|n| n.role == "kafka").count();
    o.gauge("kafka_brokers", vec![], brokers as f64);
    o.gauge("kafka_topic_partitions", vec![("topic", s("orders"))], 3.0);
    for p in 0..3 {
        let l = || vec![("topic", s("orders")), ("partition", p.to_string())];
        let end = (msgs / 3.0).floor();
        o.gauge("kafka_topic_partition_current_offset", l(), end);
        for (group, share) in [("billing", 1.0), ("audit", 0.2)] {
            let mut g = l();
            g.insert(0, ("consumergroup", s(group)));
            let lag = (backlog * share / 3.0).floor();
            o.gauge(
                "kafka_consumergroup_current_offset",
                g.clone(),
                (end - lag).max(0.0),
            );
            // audit never committed on partition 2.
            let lag = if group == "audit" && p == 2 {
                -1.0
            } else {
                lag
            };
            o.gauge("kafka_consumergroup_lag", g, lag);
        }
    }
    for (group, share) in [("billing", 1.0), ("audit", 0.2)] {
        o.gauge(
            "kafka_consumergroup_lag_sum",
            vec![("consumergroup", s(group)), ("topic", s("orders"))],
            (backlog * share).floor(),
        );
        o.gauge(
            "kafka_consumergroup_members",
            vec![("consumergroup", s(group))],
            2.0,
        );
    }
}

/// rabbitmq_prometheus's aggregated `/metrics` (3.10+): global counters by protocol (and
/// queue type where the plugin has one), queue and connection totals without labels.
fn rabbitmq(o: &mut Out, msgs: f64, bytes: f64, backlog: f64, err_ratio: f64, secs: f64) {
    let p = || vec![("protocol", s("amqp091"))];
    let pq = || {
        vec![
            ("protocol", s("amqp091")),
            ("queue_type", s("rabbit_classic_queue")),
        ]
    };
    o.counter("rabbitmq_global_messages_received", p(), msgs);
    o.counter(
        "rabbitmq_global_messages_routed",
        p(),
        msgs * (1.0 - err_ratio),
    );
    o.counter("rabbitmq_global_messages_confirmed", p(), msgs);
    o.counter(
        "rabbitmq_global_messages_unroutable_dropped",
        p(),
        msgs * err_ratio * 0.5,
    );
    o.counter("rabbitmq_global_messages_unroutable_returned", p(), 0.0);
    o.counter("rabbitmq_global_messages_delivered", pq(), msgs * 0.998);
    o.counter("rabbitmq_global_messages_acknowledged", pq(), msgs * 0.997);
    o.counter("rabbitmq_global_messages_redelivered", pq(), msgs * 0.001);
    let dl = || {
        vec![
            ("queue_type", s("rabbit_classic_queue")),
            ("dead_letter_strategy", s("at_most_once")),
        ]
    };
    o.counter(
        "rabbitmq_global_messages_dead_lettered_rejected",
        dl(),
        msgs * err_ratio * 0.4,
    );
    o.counter(
        "rabbitmq_global_messages_dead_lettered_expired",
        dl(),
        msgs * err_ratio * 0.1,
    );
    o.counter("rabbitmq_global_messages_dead_lettered_maxlen", dl(), 0.0);
    o.counter(
        "rabbitmq_global_messages_dead_lettered_delivery_limit",
        dl(),
        0.0,
    );
    o.gauge("rabbitmq_queue_messages", vec![], backlog.floor());
    o.gauge(
        "rabbitmq_queue_messages_ready",
        vec![],
        (backlog * 0.9).floor(),
    );
    o.gauge(
        "rabbitmq_queue_messages_unacked",
        vec![],
        (backlog * 0.1).floor(),
    );
    o.gauge("rabbitmq_queue_consumers", vec![], 5.0);
    o.gauge("rabbitmq_connections", vec![], 12.0);
    // Summed over live connections: every 5 minutes one closes and takes its bytes with it.
    let closed = (secs / 300.0).floor() * 4e6;
    let live = |b: f64| (b - closed.min(b * 0.5)).max(0.0);
    o.counter("rabbitmq_connection_incoming_bytes", vec![], live(bytes));
    o.counter(
        "rabbitmq_connection_outgoing_bytes",
        vec![],
        live(bytes * 0.998),
    );
}

/// prometheus-nats-exporter, default prefixes: varz as gauges although cumulative,
/// `server_id` the monitoring URL; JetStream (`-jsz=all`) per consumer.
fn nats(o: &mut Out, n: &crate::model::Node, msgs: f64, bytes: f64, backlog: f64, err_ratio: f64) {
    let url = format!("http://{}:8222", n.name);
    let sid = || vec![("server_id", url.clone())];
    o.gauge("gnatsd_varz_in_msgs", sid(), msgs.floor());
    o.gauge("gnatsd_varz_out_msgs", sid(), (msgs * 2.0).floor());
    o.gauge("gnatsd_varz_in_bytes", sid(), bytes.floor());
    o.gauge("gnatsd_varz_out_bytes", sid(), (bytes * 2.0).floor());
    o.gauge(
        "gnatsd_varz_slow_consumers",
        sid(),
        (msgs * err_ratio * 0.01).floor(),
    );
    o.gauge("gnatsd_varz_connections", sid(), 40.0);
    o.gauge("gnatsd_varz_subscriptions", sid(), 120.0);
    for (consumer, share) in [("billing", 0.8), ("audit", 0.2)] {
        let l = vec![
            ("server_id", url.clone()),
            ("server_name", n.name.clone()),
            ("cluster", s("")),
            ("domain", s("")),
            ("meta_leader", n.name.clone()),
            ("is_meta_leader", s("true")),
            ("account", s("$G")),
            ("account_name", s("$G")),
            ("account_id", s("$G")),
            ("stream_name", s("ORDERS")),
            ("stream_leader", n.name.clone()),
            ("is_stream_leader", s("true")),
            ("stream_raft_group", s("")),
            ("consumer_name", s(consumer)),
            ("consumer_leader", n.name.clone()),
            ("is_consumer_leader", s("true")),
            ("consumer_desc", s("")),
        ];
        o.gauge(
            "jetstream_consumer_num_pending",
            l.clone(),
            (backlog * share).floor(),
        );
        o.gauge(
            "jetstream_consumer_num_ack_pending",
            l,
            (backlog * share * 0.1).floor(),
        );
    }
}

/// The gRPC service's own interceptors: orders uses go-grpc-prometheus (lower-case type,
/// Go code names), payments py-grpc-prometheus (upper case, no message counters for unary
/// calls), billing gRPC's OpenTelemetry plugin.
fn grpc_server(o: &mut Out, n: &crate::model::Node, msgs: f64, err_ratio: f64, lat: f64) {
    let svc = n.service.as_deref().unwrap_or("orders");
    let (ty, ok, failed) = match svc {
        "payments" => ("UNARY", "OK", "UNAVAILABLE"),
        _ => ("unary", "OK", "Unavailable"),
    };
    if svc == "billing" {
        let m = || {
            vec![
                ("grpc_method", s("mesh.Billing/Charge")),
                ("otel_scope_name", s("grpc-python")),
                ("otel_scope_schema_url", s("")),
                ("otel_scope_version", s(GRPC_PYTHON_VERSION)),
            ]
        };
        o.counter("grpc_server_call_started", m(), msgs);
        for (status, share) in [("OK", 1.0 - err_ratio), ("UNAVAILABLE", err_ratio)] {
            let mut l = m();
            l.push(("grpc_status", s(status)));
            o.histogram(
                "grpc_server_call_duration_seconds",
                l,
                &GRPC_BUCKETS_S,
                lat,
                msgs * share,
            );
        }
        return;
    }
    let method = if svc == "payments" { "Charge" } else { "Place" };
    let m = |code: Option<&str>| {
        let mut l = vec![
            ("grpc_type", s(ty)),
            ("grpc_service", format!("mesh.{}", capital(svc))),
            ("grpc_method", s(method)),
        ];
        if let Some(c) = code {
            l.push(("grpc_code", s(c)));
        }
        l
    };
    o.counter("grpc_server_started", m(None), msgs);
    if svc != "payments" {
        o.counter("grpc_server_msg_received", m(None), msgs);
        o.counter("grpc_server_msg_sent", m(None), msgs * (1.0 - err_ratio));
    }
    o.counter("grpc_server_handled", m(Some(ok)), msgs * (1.0 - err_ratio));
    o.counter("grpc_server_handled", m(Some(failed)), msgs * err_ratio);
    o.histogram(
        "grpc_server_handling_seconds",
        m(None),
        &GRPC_BUCKETS_S,
        lat,
        msgs,
    );
}

/// The grpcio release whose OpenTelemetry plugin the simulated services use (its
/// instrumentation scope's version label).
const GRPC_PYTHON_VERSION: &str = "1.85.0";

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A gRPC channel's attempts as the OpenTelemetry plugin reports them (gRFC A66):
/// `grpc_target` is the channel's target URI.
fn grpc_otel_client(o: &mut Out, to: &str, sent: f64, loss: f64, lat: f64) {
    let m = || {
        vec![
            ("grpc_method", format!("mesh.{}/Charge", capital(to))),
            ("grpc_target", format!("dns:///{to}:50051")),
            ("otel_scope_name", s("grpc-python")),
            ("otel_scope_schema_url", s("")),
            ("otel_scope_version", s(GRPC_PYTHON_VERSION)),
        ]
    };
    o.counter("grpc_client_attempt_started", m(), sent);
    for (status, share) in [("OK", 1.0 - loss), ("UNAVAILABLE", loss)] {
        if share == 0.0 {
            continue;
        }
        let mut l = m();
        l.push(("grpc_status", s(status)));
        o.histogram(
            "grpc_client_attempt_duration_seconds",
            l.clone(),
            &GRPC_BUCKETS_S,
            lat * 1.2,
            sent * share,
        );
        o.push(
            "grpc_client_attempt_sent_total_compressed_message_size_bytes",
            "histogram",
            "_sum",
            l.clone(),
            (sent * share * 300.0).floor(),
        );
        o.push(
            "grpc_client_attempt_sent_total_compressed_message_size_bytes",
            "histogram",
            "_count",
            l.clone(),
            (sent * share).floor(),
        );
        o.push(
            "grpc_client_attempt_rcvd_total_compressed_message_size_bytes",
            "histogram",
            "_sum",
            l.clone(),
            (sent * share * 120.0).floor(),
        );
        o.push(
            "grpc_client_attempt_rcvd_total_compressed_message_size_bytes",
            "histogram",
            "_count",
            l,
            (sent * share).floor(),
        );
    }
}

/// An Envoy sidecar's `/stats/prometheus` (as Envoy 1.40 writes it): the ingress
/// listener's HTTP connection manager, `local_app` (the pod's own service), one upstream
/// cluster per service the pod calls (HTTP clusters count requests and response classes,
/// the 5xx class only once one happened; tcp_proxy clusters only bytes), the xDS cluster.
#[allow(clippy::too_many_arguments)]
fn envoy_sidecar(
    o: &mut Out,
    mesh: &Mesh,
    i: usize,
    msgs: f64,
    bytes: f64,
    err_ratio: f64,
    lat: f64,
    rate_now: f64,
    cum: f64,
) {
    let n = &mesh.nodes[i];
    let hcm = || vec![("envoy_http_conn_manager_prefix", s("ingress_http"))];
    let front = n.role == "envoy";
    // What reaches the pod: a front end's user requests; a gRPC pod's calls.
    let inbound = msgs;
    let inbound_err = if front { err_ratio } else { 0.0 };
    o.counter("envoy_http_downstream_rq", hcm(), inbound);
    for class in ["1", "2", "3", "4", "5"] {
        let mut l = hcm();
        l.push(("envoy_response_code_class", s(class)));
        let v = match class {
            "2" => inbound * (1.0 - inbound_err),
            "5" => inbound * inbound_err,
            _ => 0.0,
        };
        o.push("envoy_http_downstream_rq_xx", "counter", "", l, v.floor());
    }
    o.counter("envoy_http_downstream_cx_rx_bytes", hcm(), bytes * 0.4);
    o.counter("envoy_http_downstream_cx_tx_bytes", hcm(), bytes);
    o.histogram(
        "envoy_http_downstream_rq_time",
        hcm(),
        &ENVOY_BUCKETS_MS,
        lat * 1000.0,
        inbound,
    );
    let cluster = |name: &str| vec![("envoy_cluster_name", s(name))];
    let forwarded = (inbound * (1.0 - inbound_err)).floor();
    o.counter("envoy_cluster_upstream_rq", cluster("local_app"), forwarded);
    o.push(
        "envoy_cluster_upstream_rq_xx",
        "counter",
        "",
        {
            let mut l = cluster("local_app");
            l.push(("envoy_response_code_class", s("2")));
            l
        },
        forwarded,
    );
    o.counter(
        "envoy_cluster_upstream_cx_tx_bytes",
        cluster("local_app"),
        bytes * 0.4,
    );
    o.counter(
        "envoy_cluster_upstream_cx_rx_bytes",
        cluster("local_app"),
        bytes,
    );
    o.counter(
        "envoy_cluster_upstream_rq",
        cluster("xds-grpc"),
        (cum / 30.0).floor(),
    );
    for l in n
        .links
        .iter()
        .filter(|l| matches!(l.kind, LinkKind::Http | LinkKind::Tcp))
    {
        let c = || cluster(&l.to);
        let sent = 200.0 * l.share * cum;
        match l.kind {
            LinkKind::Http => {
                o.counter("envoy_cluster_upstream_rq", c(), sent);
                o.counter("envoy_cluster_upstream_cx_tx_bytes", c(), sent * 800.0);
                o.counter("envoy_cluster_upstream_cx_rx_bytes", c(), sent * 320.0);
                let mut x2 = c();
                x2.push(("envoy_response_code_class", s("2")));
                o.push(
                    "envoy_cluster_upstream_rq_xx",
                    "counter",
                    "",
                    x2,
                    (sent * (1.0 - l.loss)).floor(),
                );
                if l.loss > 0.0 {
                    let mut x5 = c();
                    x5.push(("envoy_response_code_class", s("5")));
                    o.push(
                        "envoy_cluster_upstream_rq_xx",
                        "counter",
                        "",
                        x5,
                        (sent * l.loss).floor(),
                    );
                }
                o.histogram(
                    "envoy_cluster_upstream_rq_time",
                    c(),
                    &ENVOY_BUCKETS_MS,
                    lat * 1000.0,
                    sent,
                );
            }
            _ => {
                // tcp_proxy: no requests; a consumer (billing) mostly receives.
                let (tx, rx) = if n.service.as_deref() == Some("billing") {
                    (0.05, 1.0)
                } else {
                    (1.0, 0.02)
                };
                o.counter("envoy_cluster_upstream_rq", c(), 0.0);
                o.counter("envoy_cluster_upstream_cx_tx_bytes", c(), sent * 800.0 * tx);
                o.counter("envoy_cluster_upstream_cx_rx_bytes", c(), sent * 800.0 * rx);
            }
        }
        o.gauge(
            "envoy_cluster_upstream_cx_active",
            c(),
            (20.0 * l.share * rate_now).round(),
        );
    }
}

/// frr_exporter (Debian's 1.1.4) with `--collector.bgp.peer-descriptions` (plain text)
/// and `--collector.bgpl2vpn`: each session once per address family, ipv4 unicast and
/// l2vpn evpn; an L2 VNI and an L3 VNI (whose remote VTEPs FRR prints as n/a: -1).
fn frr(o: &mut Out, mesh: &Mesh, i: usize, t: i64, cum: f64, rate_now: f64) {
    let n = &mesh.nodes[i];
    for (k, l) in n
        .links
        .iter()
        .enumerate()
        .filter(|(_, l)| l.kind == LinkKind::Bgp)
    {
        let p = l.peer.unwrap_or(mesh.nodes.len() + k);
        let down =
            l.peer.is_some_and(|p| mesh.is_down(p, t)) || (l.loss > 0.0 && (t / 600_000) % 12 == 5);
        for (afi, safi) in [("ipv4", "unicast"), ("l2vpn", "evpn")] {
            let lb = || {
                vec![
                    ("vrf", s("default")),
                    ("afi", s(afi)),
                    ("safi", s(safi)),
                    ("local_as", format!("{}", 65000 + i)),
                    ("peer", format!("10.0.{}.{}", p / 250, p % 250 + 1)),
                    ("peer_as", format!("{}", 65000 + p)),
                    ("peer_desc", l.to.clone()),
                ]
            };
            o.gauge("frr_bgp_peer_state", lb(), if down { 0.0 } else { 1.0 });
            o.gauge(
                "frr_bgp_peer_uptime_seconds",
                lb(),
                if down {
                    0.0
                } else {
                    ((t - mesh.origin_ms) / 1000) as f64
                },
            );
            o.counter("frr_bgp_peer_message_received", lb(), 10.0 * l.share * cum);
            o.counter("frr_bgp_peer_message_sent", lb(), 10.0 * l.share * cum);
            o.gauge(
                "frr_bgp_peer_prefixes_received_count_total",
                lb(),
                if down { 0.0 } else { 120.0 + p as f64 },
            );
        }
    }
    let vteps = n.links.iter().filter(|l| l.kind == LinkKind::Bgp).count() as f64;
    for (vni, ty, vxlan, vrf, macs, vtep) in [
        (
            "10100",
            "L2",
            "vxlan100",
            "tenant1",
            (300.0 + 50.0 * rate_now).round(),
            vteps,
        ),
        ("4001", "L3", "vxlan4001", "tenant1", 0.0, -1.0),
    ] {
        let e = || {
            vec![
                ("vni", s(vni)),
                ("type", s(ty)),
                ("vxlanIf", s(vxlan)),
                ("tenantVrf", s(vrf)),
            ]
        };
        o.gauge("frr_bgp_l2vpn_evpn_mac_count_total", e(), macs);
        o.gauge(
            "frr_bgp_l2vpn_evpn_arp_nd_count_total",
            e(),
            (macs * 0.7).round(),
        );
        o.gauge("frr_bgp_l2vpn_evpn_remote_vtep_count_total", e(), vtep);
    }
}

/// node_exporter's network collectors on a machine: the physical NIC(s) carry the
/// traffic; lo, docker0 and a veth carry some of it again (hosts), a vxlan device
/// carries the overlay (routers). Lossy links show as drops and errors on eth0.
fn node_exporter(o: &mut Out, mesh: &Mesh, i: usize, bytes: f64, cum: f64) {
    let n = &mesh.nodes[i];
    let loss: f64 = n.links.iter().map(|l| l.loss * l.share).sum();
    let rx = bytes * 1.05 + 1e6 * cum;
    let tx = bytes * 1.02 + 8e5 * cum;
    let vm = n.role == "host"
        && n.name
            .trim_start_matches("host-")
            .parse::<usize>()
            .is_ok_and(|k| k % 2 == 1);
    let mut devices: Vec<(&str, f64, f64, f64)> = vec![
        ("lo", 2e4 * cum, 2e4 * cum, 0.0),
        ("eth0", rx, tx, if vm { -125000.0 } else { 1.25e9 }),
    ];
    match n.role {
        "host" => {
            devices.push(("docker0", rx * 0.3, tx * 0.3, -125000.0));
            devices.push(("veth3f2a1b9", tx * 0.3, rx * 0.3, 1.25e9));
        }
        "router" => {
            devices.push(("eth1", rx * 0.8, tx * 0.8, 1.25e9));
            devices.push(("vxlan100", rx * 0.5, tx * 0.5, -125000.0));
        }
        _ => {}
    }
    for (dev, rx, tx, speed) in devices {
        let d = || vec![("device", s(dev))];
        let lossy = if dev == "eth0" { loss } else { 0.0 };
        o.counter("node_network_receive_bytes", d(), rx);
        o.counter("node_network_transmit_bytes", d(), tx);
        o.counter("node_network_receive_packets", d(), rx / 900.0);
        o.counter("node_network_transmit_packets", d(), tx / 900.0);
        o.counter("node_network_receive_drop", d(), rx / 900.0 * lossy);
        o.counter("node_network_transmit_drop", d(), 0.0);
        o.counter("node_network_receive_errs", d(), rx / 900.0 * lossy * 0.1);
        o.counter("node_network_transmit_errs", d(), 0.0);
        if dev != "lo" {
            o.gauge("node_network_speed_bytes", d(), speed);
        }
        o.gauge("node_network_up", d(), 1.0);
        o.gauge(
            "node_network_mtu_bytes",
            d(),
            if dev == "lo" { 65536.0 } else { 1500.0 },
        );
    }
    if vm {
        // The textfile collector gives the speed the driver does not know.
        o.gauge("mesh_nic_speed_bytes", vec![("device", s("eth0"))], 1.25e9);
    }
}
