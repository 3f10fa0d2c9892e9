//! The metrics each simulated node exposes, under the real exporters' names
//! (`../shared/EXPORTERS.md`), plus node_exporter's network counters on every node.

use crate::model::{unit, Mesh};

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

/// All samples of node `i` at time `t`, given its cumulative load `cum` (load-seconds
/// since the origin).
pub fn node_samples(mesh: &Mesh, i: usize, t: i64, cum: f64) -> Vec<SimSample> {
    let mut v = Vec::with_capacity(96);
    let mut o = Out { v: &mut v };
    let n = &mesh.nodes[i];
    let seed = mesh.seed;
    let rate_now = mesh.load(i, t.div_euclid(crate::model::WINDOW_MS));
    let msgs = 400.0 * cum; // messages in since the origin
    let bytes = msgs * (600.0 + 400.0 * unit(seed, i as u64, 3));
    let err_ratio = 0.001 + 0.004 * unit(seed, i as u64, 4);
    let backlog = mesh.backlog(i, t);
    let lat = 0.004 + 0.02 * unit(seed, i as u64, 5) + 0.00002 * backlog;
    match n.role {
        "pulsar" => {
            let base = || {
                vec![
                    ("cluster", s("mesh")),
                    ("namespace", s("public/default")),
                    (
                        "topic",
                        format!("persistent://public/default/{}-events", n.name),
                    ),
                ]
            };
            o.counter("pulsar_in_messages", base(), msgs);
            o.counter("pulsar_out_messages", base(), msgs * 0.999);
            o.counter("pulsar_in_bytes", base(), bytes);
            o.counter("pulsar_out_bytes", base(), bytes * 0.999);
            o.gauge("pulsar_rate_in", base(), 400.0 * rate_now);
            o.gauge("pulsar_rate_out", base(), 400.0 * rate_now * 0.999);
            o.gauge("pulsar_msg_backlog", base(), backlog.floor());
            let mut sub = base();
            sub.push(("subscription", s("billing")));
            o.gauge("pulsar_subscription_back_log", sub.clone(), backlog.floor());
            o.gauge(
                "pulsar_subscription_unacked_messages",
                sub,
                (backlog * 0.1).floor(),
            );
            o.gauge("pulsar_producers_count", base(), 4.0);
            o.gauge(
                "pulsar_consumers_count",
                base(),
                if mesh.is_down(i, t) { 0.0 } else { 3.0 },
            );
            // Pulsar's write latency buckets are separate gauges, one per bucket.
            let total = 400.0 * rate_now * 60.0;
            let mut prev = 0.0;
            for (name, le) in [
                ("pulsar_storage_write_latency_le_0_5", 0.0005),
                ("pulsar_storage_write_latency_le_1", 0.001),
                ("pulsar_storage_write_latency_le_5", 0.005),
                ("pulsar_storage_write_latency_le_10", 0.01),
                ("pulsar_storage_write_latency_le_20", 0.02),
                ("pulsar_storage_write_latency_le_50", 0.05),
                ("pulsar_storage_write_latency_le_100", 0.1),
                ("pulsar_storage_write_latency_le_200", 0.2),
                ("pulsar_storage_write_latency_le_1000", 1.0),
            ] {
                let cumf = total * (1.0 - (-le / lat).exp());
                o.gauge(name, base(), (cumf - prev).max(0.0).floor());
                prev = cumf;
            }
            o.gauge(
                "pulsar_storage_write_latency_overflow",
                base(),
                (total - prev).max(0.0).floor(),
            );
        }
        "kafka" => {
            let topic = || vec![("topic", format!("{}-orders", n.name))];
            o.counter("kafka_server_brokertopicmetrics_messagesin", topic(), msgs);
            o.counter("kafka_server_brokertopicmetrics_bytesin", topic(), bytes);
            o.counter(
                "kafka_server_brokertopicmetrics_bytesout",
                topic(),
                bytes * 1.9,
            );
            o.counter(
                "kafka_server_brokertopicmetrics_failedproducerequests",
                topic(),
                msgs * err_ratio * 0.2,
            );
            o.counter(
                "kafka_server_brokertopicmetrics_failedfetchrequests",
                topic(),
                msgs * err_ratio * 0.1,
            );
            o.gauge(
                "kafka_server_replicamanager_underreplicatedpartitions",
                vec![],
                if mesh.is_down(i, t) { 3.0 } else { 0.0 },
            );
            for p in 0..3 {
                let l = vec![
                    ("topic", format!("{}-orders", n.name)),
                    ("partition", p.to_string()),
                ];
                o.gauge(
                    "kafka_topic_partition_current_offset",
                    l.clone(),
                    (msgs / 3.0).floor(),
                );
                let mut cg = l;
                cg.insert(0, ("consumergroup", s("billing")));
                o.gauge("kafka_consumergroup_lag", cg, (backlog / 3.0).floor());
            }
            for q in ["0.5", "0.99"] {
                let f = if q == "0.5" { 0.69 } else { 4.6 };
                o.gauge(
                    "kafka_network_requestmetrics_totaltimems",
                    vec![("request", s("Produce")), ("quantile", s(q))],
                    (lat * f * 1000.0 * 100.0).round() / 100.0,
                );
            }
            o.gauge(
                "kafka_network_requestmetrics_totaltimems_count",
                vec![("request", s("Produce"))],
                msgs.floor(),
            );
        }
        "rabbitmq" => {
            let p = || vec![("protocol", s("amqp091"))];
            o.counter("rabbitmq_global_messages_received", p(), msgs);
            o.counter(
                "rabbitmq_global_messages_routed",
                p(),
                msgs * (1.0 - err_ratio),
            );
            o.counter("rabbitmq_global_messages_delivered", p(), msgs * 0.998);
            o.counter("rabbitmq_global_messages_acknowledged", p(), msgs * 0.997);
            o.counter("rabbitmq_global_messages_confirmed", p(), msgs);
            o.counter("rabbitmq_global_messages_redelivered", p(), msgs * 0.001);
            o.counter(
                "rabbitmq_global_messages_unroutable_dropped",
                p(),
                msgs * err_ratio * 0.5,
            );
            o.counter(
                "rabbitmq_global_messages_dead_lettered_rejected",
                p(),
                msgs * err_ratio * 0.5,
            );
            let q = || vec![("vhost", s("/")), ("queue", s("orders"))];
            o.gauge("rabbitmq_queue_messages", q(), backlog.floor());
            o.gauge(
                "rabbitmq_queue_messages_ready",
                q(),
                (backlog * 0.9).floor(),
            );
            o.gauge(
                "rabbitmq_queue_messages_unacked",
                q(),
                (backlog * 0.1).floor(),
            );
            o.gauge("rabbitmq_queue_consumers", q(), 5.0);
            o.gauge("rabbitmq_connections", vec![], 12.0);
            o.counter("rabbitmq_connection_incoming_bytes", vec![], bytes);
            o.counter("rabbitmq_connection_outgoing_bytes", vec![], bytes * 0.998);
        }
        "nats" => {
            let sid = || {
                vec![(
                    "server_id",
                    format!("N{:016X}", crate::model::mix(seed ^ i as u64)),
                )]
            };
            // prometheus-nats-exporter types these as gauges although they are cumulative.
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
            o.gauge("gnatsd_consumer_num_pending", sid(), backlog.floor());
        }
        _ => {}
    }
    if n.role == "grpc" {
        let m = |code: Option<&str>| {
            let mut l = vec![
                ("grpc_service", s("mesh.Orders")),
                ("grpc_method", s("Place")),
                ("grpc_type", s("unary")),
            ];
            if let Some(c) = code {
                l.push(("grpc_code", s(c)));
            }
            l
        };
        o.counter("grpc_server_started", m(None), msgs);
        o.counter("grpc_server_msg_received", m(None), msgs);
        o.counter("grpc_server_msg_sent", m(None), msgs * (1.0 - err_ratio));
        o.counter(
            "grpc_server_handled",
            m(Some("OK")),
            msgs * (1.0 - err_ratio),
        );
        o.counter(
            "grpc_server_handled",
            m(Some("Unavailable")),
            msgs * err_ratio,
        );
        o.histogram(
            "grpc_server_handling_seconds",
            m(None),
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
            lat,
            msgs,
        );
    }
    // Client side of each outgoing link: gRPC client metrics (grpc nodes) or Envoy
    // upstream stats with Consul Connect's source/destination labels (every other node).
    for &(p, share, loss) in &n.links {
        let peer = &mesh.nodes[p].name;
        let sent = 200.0 * share * cum;
        let lbytes = sent * 800.0;
        if n.role == "grpc" {
            let l = || {
                vec![
                    ("grpc_service", s("mesh.Orders")),
                    ("grpc_method", s("Place")),
                    ("grpc_type", s("unary")),
                    ("grpc_server", peer.clone()),
                ]
            };
            o.counter("grpc_client_msg_sent", l(), sent);
            o.counter("grpc_client_msg_received", l(), sent * (1.0 - loss));
            let mut h = l();
            h.push(("grpc_code", s("OK")));
            o.counter("grpc_client_handled", h, sent * (1.0 - loss));
        } else {
            let l = || {
                vec![
                    ("envoy_cluster_name", peer.clone()),
                    ("consul_source_service", n.name.clone()),
                    ("consul_destination_service", peer.clone()),
                ]
            };
            o.counter("envoy_cluster_upstream_rq", l(), sent);
            o.counter("envoy_cluster_upstream_cx_tx_bytes", l(), lbytes);
            o.counter("envoy_cluster_upstream_cx_rx_bytes", l(), lbytes * 0.4);
            let mut x5 = l();
            x5.push(("envoy_response_code_class", s("5")));
            o.counter("envoy_cluster_upstream_rq_xx", x5, sent * loss);
            let mut x2 = l();
            x2.push(("envoy_response_code_class", s("2")));
            o.counter("envoy_cluster_upstream_rq_xx", x2, sent * (1.0 - loss));
            if n.role == "envoy" {
                o.histogram(
                    "envoy_cluster_upstream_rq_time",
                    l(),
                    &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0],
                    lat * 1000.0,
                    sent,
                );
                o.gauge(
                    "envoy_cluster_upstream_cx_active",
                    l(),
                    (20.0 * share * rate_now).round(),
                );
            }
        }
    }
    if n.role == "router" {
        for (k, &(p, share, loss)) in n.links.iter().enumerate() {
            let peer = &mesh.nodes[p];
            let l = || {
                vec![
                    ("vrf", s("default")),
                    ("afi", s("ipv4")),
                    ("safi", s("unicast")),
                    ("local_as", format!("{}", 65000 + i)),
                    ("peer", format!("10.0.{}.{}", p / 250, p % 250 + 1)),
                    ("peer_as", format!("{}", 65000 + p)),
                    ("peer_node", peer.name.clone()),
                ]
            };
            let down = mesh.is_down(p, t) || (loss > 0.0 && k == 0 && (t / 600_000) % 12 == 5);
            o.gauge("frr_bgp_peer_state", l(), if down { 0.0 } else { 1.0 });
            o.gauge(
                "frr_bgp_peer_uptime_seconds",
                l(),
                ((t - mesh.origin_ms) / 1000) as f64,
            );
            o.counter("frr_bgp_peer_message_received", l(), 10.0 * share * cum);
            o.counter("frr_bgp_peer_message_sent", l(), 10.0 * share * cum);
            o.gauge(
                "frr_bgp_peer_prefixes_received_count_total",
                l(),
                120.0 + p as f64,
            );
        }
        let e = || {
            vec![
                ("vni", s("10100")),
                ("type", s("L2")),
                ("vxlanIf", s("vxlan100")),
                ("tenantVrf", s("tenant1")),
            ]
        };
        o.gauge(
            "frr_bgp_l2vpn_evpn_mac_count_total",
            e(),
            (300.0 + 50.0 * rate_now).round(),
        );
        o.gauge(
            "frr_bgp_l2vpn_evpn_arp_nd_count_total",
            e(),
            (200.0 + 40.0 * rate_now).round(),
        );
        o.gauge(
            "frr_bgp_l2vpn_evpn_remote_vtep_count_total",
            e(),
            n.links.len() as f64,
        );
    }
    // node_exporter: the NIC under every node; lossy links show as drops and errors.
    let loss: f64 = n.links.iter().map(|l| l.2 * l.1).sum();
    let dev = || vec![("device", s("eth0"))];
    let rx = bytes * 1.05 + 1e6 * cum;
    let tx = bytes * 1.02 + 8e5 * cum;
    o.counter("node_network_receive_bytes", dev(), rx);
    o.counter("node_network_transmit_bytes", dev(), tx);
    o.counter("node_network_receive_packets", dev(), rx / 900.0);
    o.counter("node_network_transmit_packets", dev(), tx / 900.0);
    o.counter("node_network_receive_drop", dev(), rx / 900.0 * loss);
    o.counter("node_network_transmit_drop", dev(), 0.0);
    o.counter("node_network_receive_errs", dev(), rx / 900.0 * loss * 0.1);
    o.counter("node_network_transmit_errs", dev(), 0.0);
    o.gauge("node_network_speed_bytes", dev(), 1.25e9);
    o.gauge("node_network_up", dev(), 1.0);
    o.gauge("node_network_mtu_bytes", dev(), 1500.0);
    v
}
