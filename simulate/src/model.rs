//! The simulated mesh: nodes, links and the deterministic load that drives their metrics.
//!
//! Every value is a pure function of (seed, node, time), so a live scrape and the history
//! writer agree exactly, and two runs with one seed give the same bytes.

use std::f64::consts::PI;

pub const ROLES: [&str; 8] = [
    "pulsar", "kafka", "rabbitmq", "nats", "grpc", "envoy", "host", "router",
];

/// Load is constant within a window of this many milliseconds.
pub const WINDOW_MS: i64 = 60_000;

/// How a link's traffic is seen, which decides the exporter that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// HTTP through the source's Envoy sidecar: an upstream cluster named after the
    /// far end's service.
    Http,
    /// A broker's wire protocol (Kafka, AMQP, NATS, Pulsar) through the sidecar's
    /// tcp_proxy: bytes only, no requests.
    Tcp,
    /// A gRPC channel reported by gRPC's OpenTelemetry plugin (`grpc_target`).
    Grpc,
    /// A BGP session (frr_exporter, the peer's description names it).
    Bgp,
}

/// One outgoing link.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The far end: a node of the mesh, or `None` for one outside it (a spine router).
    pub peer: Option<usize>,
    /// The name the source's telemetry gives the far end: a service, or for BGP the
    /// peer's description.
    pub to: String,
    /// Share of the source's traffic.
    pub share: f64,
    /// Loss (failed requests, dropped packets) ratio.
    pub loss: f64,
    pub kind: LinkKind,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub role: &'static str,
    pub index: usize,
    /// The service the node is an instance of (its target's `service` label): gRPC
    /// services by name, `web` for the sidecar-only front ends, a broker's cluster.
    /// Hosts and routers have none.
    pub service: Option<String>,
    /// Relative size of the node's traffic.
    pub scale: f64,
    pub links: Vec<Link>,
}

/// The gRPC services, in the order grpc nodes are given to them.
pub const GRPC_SERVICES: [&str; 3] = ["orders", "payments", "billing"];

#[derive(Clone, Debug)]
pub struct Mesh {
    pub seed: u64,
    pub nodes: Vec<Node>,
    /// Simulated time origin: counters are 0 here.
    pub origin_ms: i64,
    /// The node that fails and recovers.
    pub flaky: usize,
}

/// SplitMix64: a small, well-mixed hash for deterministic randomness.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A deterministic uniform number in [0, 1).
pub fn unit(seed: u64, a: u64, b: u64) -> f64 {
    (mix(seed ^ mix(a ^ mix(b))) >> 11) as f64 / (1u64 << 53) as f64
}

impl Mesh {
    /// A mesh shaped like a real system: front ends (`envoy`, sidecar only) call the
    /// gRPC services through their sidecars; `orders` produces to Kafka and Pulsar and
    /// calls `payments` over gRPC; `payments` publishes to RabbitMQ and NATS; `billing`
    /// consumes from Kafka and RabbitMQ; routers peer over BGP with their neighbours in
    /// a ring and with a spine outside the mesh. Roles take turns in [`ROLES`] order.
    pub fn new(n: usize, seed: u64, origin_ms: i64) -> Mesh {
        let mut counts = [0usize; ROLES.len()];
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let r = i % ROLES.len();
                let k = counts[r];
                counts[r] += 1;
                let service = match ROLES[r] {
                    "grpc" => Some(GRPC_SERVICES[k % GRPC_SERVICES.len()].to_string()),
                    "envoy" => Some("web".to_string()),
                    "host" | "router" => None,
                    broker => Some(broker.to_string()),
                };
                Node {
                    name: format!("{}-{k}", ROLES[r]),
                    role: ROLES[r],
                    index: i,
                    service,
                    scale: 0.5 + unit(seed, i as u64, 1),
                    links: Vec::new(),
                }
            })
            .collect();
        // The first node of each service stands for it (loss and failures follow it).
        let first = |svc: &str| nodes.iter().position(|n| n.service.as_deref() == Some(svc));
        let routers: Vec<usize> = (0..n).filter(|&i| nodes[i].role == "router").collect();
        let mut all = Vec::with_capacity(n);
        for (i, node) in nodes.iter().enumerate() {
            let wants: &[(&str, LinkKind)] = match (node.role, node.service.as_deref()) {
                ("envoy", _) => &[("orders", LinkKind::Http), ("payments", LinkKind::Http)],
                (_, Some("orders")) => &[
                    ("kafka", LinkKind::Tcp),
                    ("pulsar", LinkKind::Tcp),
                    ("payments", LinkKind::Grpc),
                ],
                (_, Some("payments")) => &[("rabbitmq", LinkKind::Tcp), ("nats", LinkKind::Tcp)],
                (_, Some("billing")) => &[("kafka", LinkKind::Tcp), ("rabbitmq", LinkKind::Tcp)],
                _ => &[],
            };
            let mut links: Vec<(Option<usize>, String, LinkKind)> = wants
                .iter()
                .filter_map(|(svc, kind)| Some((first(svc)?, *svc, *kind)))
                .map(|(p, svc, kind)| (Some(p), svc.to_string(), kind))
                .collect();
            if node.role == "router" {
                let k = routers.iter().position(|&r| r == i).unwrap_or(0);
                let m = routers.len();
                let mut peers: Vec<usize> = [k + m - 1, k + 1]
                    .iter()
                    .map(|x| routers[x % m])
                    .filter(|&p| p != i)
                    .collect();
                peers.dedup();
                links.extend(
                    peers
                        .into_iter()
                        .map(|p| (Some(p), nodes[p].name.clone(), LinkKind::Bgp)),
                );
                links.push((None, format!("spine-{}", k % 2), LinkKind::Bgp));
            }
            let share = 1.0 / links.len().max(1) as f64;
            all.push(
                links
                    .into_iter()
                    .map(|(peer, to, kind)| {
                        let p = peer.unwrap_or(n) as u64;
                        // One link in five is lossy.
                        let loss = if unit(seed, i as u64 * 31 + p, 7) < 0.2 {
                            0.002 + 0.01 * unit(seed, p, 8)
                        } else {
                            0.0
                        };
                        Link {
                            peer,
                            to,
                            share,
                            loss,
                            kind,
                        }
                    })
                    .collect::<Vec<_>>(),
            );
        }
        for (node, links) in nodes.iter_mut().zip(all) {
            node.links = links;
        }
        Mesh {
            seed,
            nodes,
            origin_ms,
            flaky: 1 % n.max(1),
        }
    }

    /// The same mesh with no failing node (for runs that need every node up).
    pub fn without_failures(mut self) -> Mesh {
        self.flaky = usize::MAX;
        self
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Whether a node is down at `t`: the flaky node is down for 4 minutes of every
    /// 30 (so a 10-minute demo sees it fail and recover).
    pub fn is_down(&self, node: usize, t: i64) -> bool {
        node == self.flaky
            && (t - self.origin_ms).rem_euclid(30 * 60_000) >= 20 * 60_000
            && (t - self.origin_ms).rem_euclid(30 * 60_000) < 24 * 60_000
    }

    /// Relative load of a node in window `w`: a daily curve (quiet at night, peak in the
    /// afternoon, UTC), bursts, zero while down.
    pub fn load(&self, node: usize, w: i64) -> f64 {
        let t = w * WINDOW_MS;
        if self.is_down(node, t) {
            return 0.0;
        }
        let hour = (t.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
        let daily = 0.55 + 0.45 * ((hour - 8.0) / 24.0 * 2.0 * PI).sin();
        let burst = if unit(self.seed, node as u64, (w / 5) as u64) < 0.04 {
            2.5
        } else {
            1.0
        };
        let noise = 0.9 + 0.2 * unit(self.seed, node as u64 + 1000, w as u64);
        self.nodes[node].scale * daily * burst * noise
    }

    /// ∫ load dt from the origin to `t`, in load-seconds.
    pub fn cumulative(&self, node: usize, t: i64) -> f64 {
        let t = t.max(self.origin_ms);
        let w0 = self.origin_ms.div_euclid(WINDOW_MS);
        let w1 = t.div_euclid(WINDOW_MS);
        let mut acc = 0.0;
        // Closed windows: the load of the window where the origin falls counts from it.
        for w in w0..w1 {
            let start = (w * WINDOW_MS).max(self.origin_ms);
            acc += self.load(node, w) * ((w + 1) * WINDOW_MS - start) as f64 / 1000.0;
        }
        let start = (w1 * WINDOW_MS).max(self.origin_ms);
        acc + self.load(node, w1) * (t - start) as f64 / 1000.0
    }

    /// Backlog multiplier: spikes that build for 10 minutes and drain over 10, a few times
    /// a day per broker.
    pub fn backlog(&self, node: usize, t: i64) -> f64 {
        let period = 3 * 3_600_000;
        let slot = t.div_euclid(period);
        let base = 20.0 + 30.0 * unit(self.seed, node as u64, 99);
        if unit(self.seed, node as u64 + 77, slot as u64) < 0.5 {
            return base;
        }
        let offset =
            (unit(self.seed, node as u64 + 78, slot as u64) * (period - 20 * 60_000) as f64) as i64;
        let into = t - slot * period - offset;
        let peak = 5_000.0 * self.nodes[node].scale;
        match into {
            x if (0..600_000).contains(&x) => base + peak * x as f64 / 600_000.0,
            x if (600_000..1_200_000).contains(&x) => {
                base + peak * (1_200_000 - x) as f64 / 600_000.0
            }
            _ => base,
        }
    }
}

/// [`Mesh::cumulative`] for a live server: the integral up to the start of the newest
/// window asked for is kept, so each call adds the windows closed since the last one
/// (none or one for a node scraped every few seconds) instead of integrating from the
/// origin, 16 days of minute windows (about 0.7 ms a call: a third of a core for 10,000
/// nodes at 15 s).
#[derive(Debug, Default)]
pub struct RunningIntegral {
    /// (window, cumulative load up to its start), per node; `None` before the first call.
    at: Vec<Option<(i64, f64)>>,
}

impl RunningIntegral {
    pub fn new(mesh: &Mesh) -> RunningIntegral {
        RunningIntegral {
            at: vec![None; mesh.nodes.len()],
        }
    }

    /// Equal to `mesh.cumulative(node, t)`.
    pub fn cumulative(&mut self, mesh: &Mesh, node: usize, t: i64) -> f64 {
        let t = t.max(mesh.origin_ms);
        let w = t.div_euclid(WINDOW_MS);
        let (mut wc, mut acc) = match self.at.get(node).copied().flatten() {
            Some(c) if c.0 <= w => c,
            // First call, or a time before the cached one: from the origin.
            _ => {
                let start = (w * WINDOW_MS).max(mesh.origin_ms);
                (w, mesh.cumulative(node, start))
            }
        };
        while wc < w {
            let start = (wc * WINDOW_MS).max(mesh.origin_ms);
            acc += mesh.load(node, wc) * ((wc + 1) * WINDOW_MS - start) as f64 / 1000.0;
            wc += 1;
        }
        if let Some(slot) = self.at.get_mut(node) {
            *slot = Some((wc, acc));
        }
        let start = (w * WINDOW_MS).max(mesh.origin_ms);
        acc + mesh.load(node, w) * (t - start) as f64 / 1000.0
    }
}

/// A cumulative prefix table of `cumulative` for fast history generation.
pub struct Integrator {
    origin: i64,
    prefix: Vec<f64>,
}

impl Integrator {
    /// Precompute for `node` over `[origin, end]`.
    pub fn new(mesh: &Mesh, node: usize, end: i64) -> Integrator {
        let w0 = mesh.origin_ms.div_euclid(WINDOW_MS);
        let w1 = end.div_euclid(WINDOW_MS) + 1;
        let mut prefix = Vec::with_capacity((w1 - w0 + 1) as usize);
        let mut acc = 0.0;
        prefix.push(0.0);
        for w in w0..w1 {
            let start = (w * WINDOW_MS).max(mesh.origin_ms);
            acc += mesh.load(node, w) * ((w + 1) * WINDOW_MS - start) as f64 / 1000.0;
            prefix.push(acc);
        }
        Integrator {
            origin: mesh.origin_ms,
            prefix,
        }
    }

    /// Same as [`Mesh::cumulative`], in O(1) within the precomputed range.
    pub fn at(&self, mesh: &Mesh, node: usize, t: i64) -> f64 {
        let t = t.max(self.origin);
        let w0 = self.origin.div_euclid(WINDOW_MS);
        let w = t.div_euclid(WINDOW_MS);
        let i = (w - w0) as usize;
        match self.prefix.get(i) {
            Some(p) => {
                let start = (w * WINDOW_MS).max(self.origin);
                p + mesh.load(node, w) * (t - start) as f64 / 1000.0
            }
            None => mesh.cumulative(node, t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roles_and_links_are_deterministic() {
        let a = Mesh::new(12, 7, 0);
        let b = Mesh::new(12, 7, 0);
        let names: Vec<_> = a.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            &names[..9],
            &[
                "pulsar-0",
                "kafka-0",
                "rabbitmq-0",
                "nats-0",
                "grpc-0",
                "envoy-0",
                "host-0",
                "router-0",
                "pulsar-1"
            ]
        );
        for (x, y) in a.nodes.iter().zip(&b.nodes) {
            assert_eq!(x.links, y.links);
            assert!(x.links.iter().all(|l| l.peer != Some(x.index)));
        }
        // 24 nodes: three gRPC services.
        let c = Mesh::new(24, 7, 0);
        let links = |name: &str| -> Vec<(String, LinkKind)> {
            c.node(name)
                .unwrap()
                .links
                .iter()
                .map(|l| (l.to.clone(), l.kind))
                .collect()
        };
        use LinkKind::*;
        assert_eq!(
            links("envoy-0"),
            [("orders".into(), Http), ("payments".into(), Http)]
        );
        assert_eq!(
            links("grpc-0"),
            [
                ("kafka".into(), Tcp),
                ("pulsar".into(), Tcp),
                ("payments".into(), Grpc)
            ]
        );
        assert_eq!(
            links("router-0"),
            [
                ("router-2".into(), Bgp),
                ("router-1".into(), Bgp),
                ("spine-0".into(), Bgp)
            ]
        );
        assert_eq!(a.node("router-0").unwrap().links[0].to, "spine-0");
        assert_eq!(a.node("router-0").unwrap().links.len(), 1);
        // With one gRPC service, the front end calls only it.
        assert_eq!(a.node("envoy-0").unwrap().links.len(), 1);
        assert!(links("kafka-0").is_empty() && links("host-0").is_empty());
        assert_eq!(
            c.node("grpc-1").unwrap().service.as_deref(),
            Some("payments")
        );
        assert_eq!(c.node("host-0").unwrap().service, None);
        // Routers peer in a ring.
        assert_eq!(
            links("router-1"),
            [
                ("router-0".into(), Bgp),
                ("router-2".into(), Bgp),
                ("spine-1".into(), Bgp)
            ]
        );
        let m = Mesh::new(400, 7, 0);
        assert!(
            m.nodes.iter().flat_map(|n| &n.links).any(|l| l.loss > 0.0),
            "some link is lossy"
        );
    }

    #[test]
    fn the_running_integral_matches_cumulative() {
        let m = Mesh::new(5, 3, 1_000_000);
        let mut r = RunningIntegral::new(&m);
        // Forward in scrape-sized steps, across window ends, then back in time.
        let mut times: Vec<i64> = (0..40)
            .map(|k| 1_000_000 + 86_400_000 + k * 7_000)
            .collect();
        times.extend([1_500_000, 1_000_000, 500_000, 90_000_000]);
        for t in times {
            for node in 0..5 {
                let (a, b) = (r.cumulative(&m, node, t), m.cumulative(node, t));
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{node} at {t}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn integrator_matches_cumulative_and_counters_rise() {
        let origin = 1_700_000_000_000;
        let m = Mesh::new(4, 1, origin);
        let end = origin + 86_400_000;
        let ig = Integrator::new(&m, 0, end);
        let mut prev = 0.0;
        for t in (origin..end).step_by(3_333_333) {
            let a = ig.at(&m, 0, t);
            let b = m.cumulative(0, t);
            assert!((a - b).abs() < 1e-6 * b.max(1.0), "{a} vs {b}");
            assert!(a >= prev);
            prev = a;
        }
    }

    #[test]
    fn without_failures_no_node_is_ever_down() {
        let m = Mesh::new(4, 1, 0).without_failures();
        assert!((0..60 * 60_000)
            .step_by(15_000)
            .all(|t| (0..4).all(|n| !m.is_down(n, t))));
    }

    #[test]
    fn the_flaky_node_fails_and_recovers() {
        let m = Mesh::new(4, 1, 0);
        let downs: Vec<bool> = (0..60)
            .map(|min| m.is_down(m.flaky, min * 60_000))
            .collect();
        assert!(downs.iter().any(|d| *d));
        assert!(downs.iter().any(|d| !*d));
        assert!(!(0..60).any(|min| m.is_down(0, min * 60_000)));
    }
}
