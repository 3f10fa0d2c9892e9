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

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub role: &'static str,
    pub index: usize,
    /// Relative size of the node's traffic.
    pub scale: f64,
    /// Outgoing links: (peer index, share of traffic, loss ratio).
    pub links: Vec<(usize, f64, f64)>,
}

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
    pub fn new(n: usize, seed: u64, origin_ms: i64) -> Mesh {
        let mut counts = [0usize; ROLES.len()];
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| {
                let r = i % ROLES.len();
                let name = format!("{}-{}", ROLES[r], counts[r]);
                counts[r] += 1;
                Node {
                    name,
                    role: ROLES[r],
                    index: i,
                    scale: 0.5 + unit(seed, i as u64, 1),
                    links: Vec::new(),
                }
            })
            .collect();
        if n > 1 {
            for (i, node) in nodes.iter_mut().enumerate() {
                let k = 1 + (mix(seed ^ i as u64) % 2) as usize;
                let mut used = Vec::new();
                for j in 0..k.min(n - 1) {
                    let mut p =
                        (i + 1 + (mix(seed ^ ((i as u64) << 8) ^ j as u64) as usize % (n - 1))) % n;
                    while p == i || used.contains(&p) {
                        p = (p + 1) % n;
                    }
                    used.push(p);
                    // One link in five is lossy.
                    let loss = if unit(seed, (i * 31 + p) as u64, 7) < 0.2 {
                        0.002 + 0.01 * unit(seed, p as u64, 8)
                    } else {
                        0.0
                    };
                    node.links.push((p, 1.0 / k as f64, loss));
                }
            }
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
            assert!(!x.links.is_empty());
            assert!(x.links.iter().all(|(p, _, _)| *p != x.index));
        }
        assert!(
            a.nodes.iter().flat_map(|n| &n.links).any(|l| l.2 > 0.0),
            "some link is lossy"
        );
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
