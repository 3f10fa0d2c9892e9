//! `meshscope simulate`: N simulated nodes on loopback, each speaking the real exporters'
//! metric names for its role, with daily load curves, bursts, a node that fails and
//! recovers, backlog spikes and lossy links. Seeded and deterministic. Also writes a
//! history of the same series as OpenMetrics text, streaming in constant memory.

pub mod metrics;
pub mod model;
pub mod serve;

use std::fmt::Write as _;
use std::io::{self, Write};

pub use metrics::{node_samples, SimSample};
pub use model::{Integrator, Mesh};

/// The job name the simulated targets get.
pub const JOB: &str = "mesh";

pub use meshscope_collector::exposition::write::fmt_value;
use meshscope_collector::exposition::write::{
    escape_label_value as escape, fmt_timestamp as fmt_ts,
};

fn write_labels(out: &mut String, labels: &[(&str, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (k, (n, v)) in labels.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        let _ = write!(out, "{n}=\"{}\"", escape(v));
    }
    out.push('}');
}

/// Group samples by family, keeping the order of first appearance.
fn grouped(samples: Vec<SimSample>) -> Vec<SimSample> {
    let mut order: Vec<&'static str> = Vec::new();
    for s in &samples {
        if !order.contains(&s.family) {
            order.push(s.family);
        }
    }
    let mut out = samples;
    out.sort_by_key(|s| order.iter().position(|f| *f == s.family));
    out
}

/// A node's scrape body in the text format 0.0.4.
pub fn render_text(samples: Vec<SimSample>) -> String {
    let mut out = String::with_capacity(samples.len() * 96);
    let mut family = String::new();
    for s in grouped(samples) {
        // Text 0.0.4 names a counter's TYPE with its `_total`, as Go clients do.
        let tfam = if s.kind == "counter" {
            s.name.as_str()
        } else {
            s.family
        };
        if tfam != family {
            family = tfam.to_string();
            let _ = writeln!(out, "# HELP {tfam} Simulated {tfam}.");
            let _ = writeln!(out, "# TYPE {tfam} {}", s.kind);
        }
        out.push_str(&s.name);
        write_labels(&mut out, &s.labels);
        out.push(' ');
        out.push_str(&fmt_value(s.value));
        out.push('\n');
    }
    out
}

/// Write `[start, end]` at `step` of every node as OpenMetrics text with timestamps, the
/// input of `meshscope tsdb import openmetrics` and `promtool tsdb create-blocks-from
/// openmetrics`. Series carry the labels a scrape of the simulator adds (`job`,
/// `instance`, `node`, `role`), and `up` is written as the scraper would record it.
///
/// Families must be contiguous in OpenMetrics, so the loops run family → series → time;
/// values are recomputed from the model, so memory stays constant.
pub fn write_history(
    mesh: &Mesh,
    start: i64,
    end: i64,
    step: i64,
    w: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let integrators: Vec<Integrator> = (0..mesh.nodes.len())
        .map(|i| Integrator::new(mesh, i, end))
        .collect();
    // The sample names, in order, with the index of the sample within a node's list.
    let mut names: Vec<String> = Vec::new();
    for i in 0..mesh.nodes.len() {
        for s in node_samples(mesh, i, start, 0.0) {
            if !names.contains(&s.name) {
                names.push(s.name.clone());
            }
        }
    }
    names.sort();
    names.insert(0, "up".into());
    let mut written = 0u64;
    let mut line = String::with_capacity(512);
    for name in &names {
        writeln!(w, "# TYPE {name} unknown")?;
        for (i, node) in mesh.nodes.iter().enumerate() {
            let target = |labels: &[(&'static str, String)]| {
                let mut l = target_labels(node, labels.to_vec());
                l.sort();
                l
            };
            if name == "up" {
                let l = target(&[]);
                let mut t = start;
                while t <= end {
                    line.clear();
                    line.push_str("up");
                    write_labels(&mut line, &l);
                    let _ = writeln!(
                        line,
                        " {} {}",
                        if mesh.is_down(i, t) { 0 } else { 1 },
                        fmt_ts(t)
                    );
                    w.write_all(line.as_bytes())?;
                    written += 1;
                    t += step;
                }
                continue;
            }
            // Which samples of this node carry this name (several label sets may).
            let keys: Vec<Vec<(&'static str, String)>> = node_samples(mesh, i, start, 0.0)
                .into_iter()
                .filter(|s| &s.name == name)
                .map(|s| s.labels)
                .collect();
            for key in keys {
                let l = target(&key);
                let mut t = start;
                while t <= end {
                    if !mesh.is_down(i, t) {
                        let cum = integrators[i].at(mesh, i, t);
                        if let Some(s) = node_samples(mesh, i, t, cum)
                            .into_iter()
                            .find(|s| &s.name == name && s.labels == key)
                        {
                            line.clear();
                            line.push_str(name);
                            write_labels(&mut line, &l);
                            let _ = writeln!(line, " {} {}", fmt_value(s.value), fmt_ts(t));
                            w.write_all(line.as_bytes())?;
                            written += 1;
                        }
                    }
                    t += step;
                }
            }
            progress(written);
        }
    }
    w.write_all(b"# EOF\n")?;
    Ok(written)
}

/// The labels a scrape of the simulator adds to a node's series (from its file_sd entry).
fn target_labels(
    node: &model::Node,
    mut l: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    l.push(("instance", node.name.clone()));
    l.push(("job", JOB.into()));
    l.push(("node", node.name.clone()));
    l.push(("role", node.role.into()));
    if let Some(svc) = &node.service {
        l.push(("service", svc.clone()));
    }
    l
}

/// Every sample of every node at time `t` with the scrape's target labels, in time
/// order of the caller's loop (for writing history straight into a store).
pub fn snapshot(
    mesh: &Mesh,
    integrators: &[Integrator],
    t: i64,
    mut f: impl FnMut(&str, Vec<(&'static str, String)>, f64),
) {
    for (i, node) in mesh.nodes.iter().enumerate() {
        let tl = |l| target_labels(node, l);
        let down = mesh.is_down(i, t);
        f("up", tl(vec![]), if down { 0.0 } else { 1.0 });
        if down {
            continue;
        }
        let cum = integrators[i].at(mesh, i, t);
        for s in node_samples(mesh, i, t, cum) {
            f(&s.name, tl(s.labels), s.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_its_exporters_names() {
        let m = Mesh::new(24, 3, 0);
        let want = [
            ("pulsar-0", "pulsar_in_messages_total"),
            ("pulsar-0", "pulsar_subscription_back_log"),
            (
                "kafka-0",
                "kafka_server_brokertopicmetrics_messagesin_total",
            ),
            ("kafka-0", "kafka_consumergroup_lag"),
            ("rabbitmq-0", "rabbitmq_global_messages_received_total"),
            ("nats-0", "gnatsd_varz_in_msgs"),
            ("nats-0", "jetstream_consumer_num_pending"),
            ("grpc-0", "grpc_server_msg_received_total"),
            ("grpc-0", "grpc_client_attempt_started_total"),
            ("grpc-1", "grpc_server_started_total"),
            ("grpc-2", "grpc_server_call_started_total"),
            ("grpc-0", "envoy_cluster_upstream_cx_tx_bytes_total"),
            ("envoy-0", "envoy_http_downstream_rq_total"),
            ("envoy-0", "envoy_cluster_upstream_rq_xx"),
            ("router-0", "frr_bgp_peer_state"),
            ("host-0", "node_network_receive_bytes_total"),
            ("host-1", "mesh_nic_speed_bytes"),
        ];
        let names = |node: &str| -> Vec<String> {
            let i = m.node(node).unwrap().index;
            node_samples(&m, i, 3_600_000, 1000.0)
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        for (node, metric) in want {
            assert!(
                names(node).iter().any(|n| n == metric),
                "{node} lacks {metric}"
            );
        }
        // Names the real exporters do not have (the audit's findings) are gone.
        for node in ["kafka-1", "grpc-1", "envoy-0", "nats-0"] {
            for bad in [
                "envoy_cluster_upstream_rq_xx_total",
                "gnatsd_consumer_num_pending",
                "grpc_client_msg_sent_total",
            ] {
                assert!(!names(node).iter().any(|n| n == bad), "{node} has {bad}");
            }
        }
        // py-grpc-prometheus has no message counters for unary calls.
        assert!(!names("grpc-1")
            .iter()
            .any(|n| n == "grpc_server_msg_received_total"));
        // Pods run no node_exporter; machines do.
        assert!(!names("envoy-0")
            .iter()
            .any(|n| n.starts_with("node_network")));
    }

    #[test]
    fn links_carry_only_labels_real_exporters_have() {
        let m = Mesh::new(8, 3, 0);
        let s = node_samples(&m, 5, 0, 10.0);
        let clusters: Vec<&str> = s
            .iter()
            .filter(|s| s.name == "envoy_cluster_upstream_rq_total")
            .map(|s| {
                s.labels
                    .iter()
                    .find(|l| l.0 == "envoy_cluster_name")
                    .unwrap()
                    .1
                    .as_str()
            })
            .collect();
        // Eight nodes have one gRPC service (orders).
        assert_eq!(clusters, ["local_app", "xds-grpc", "orders"]);
        for smp in &s {
            for (k, _) in &smp.labels {
                assert!(
                    !["consul_destination_service", "grpc_server", "peer_node"].contains(k),
                    "{}: {k}",
                    smp.name
                );
            }
        }
        let m = Mesh::new(24, 3, 0);
        let s = node_samples(&m, 4, 0, 10.0);
        let target = s
            .iter()
            .find(|s| s.name == "grpc_client_attempt_started_total")
            .and_then(|s| s.labels.iter().find(|l| l.0 == "grpc_target"))
            .unwrap();
        assert_eq!(target.1, "dns:///payments:50051");
    }

    #[test]
    fn bodies_and_history_parse_with_our_parsers() {
        use meshscope_collector::exposition::{validate, Format};
        let m = Mesh::new(16, 5, 0);
        for i in 0..16 {
            let body = render_text(node_samples(&m, i, 7_200_000, m.cumulative(i, 7_200_000)));
            validate(body.as_bytes(), Format::Text)
                .unwrap_or_else(|e| panic!("{}: {e}\n{body}", m.nodes[i].name));
        }
        let mut h = Vec::new();
        write_history(&m, 0, 60_000, 15_000, &mut h, &mut |_| {}).unwrap();
        validate(&h, Format::OpenMetrics).unwrap();
    }

    #[test]
    fn history_is_deterministic_and_ends_with_eof() {
        let m = Mesh::new(3, 9, 0);
        let mut a = Vec::new();
        let mut b = Vec::new();
        let n = write_history(&m, 0, 120_000, 15_000, &mut a, &mut |_| {}).unwrap();
        write_history(&m, 0, 120_000, 15_000, &mut b, &mut |_| {}).unwrap();
        assert_eq!(a, b);
        assert!(n > 100);
        assert!(a.ends_with(b"# EOF\n"));
    }
}
