//! What the viewer shows, independent of how it is drawn: per-node ring buffers of the
//! mesh model's series, the links, and the state of the source. The fetch task writes it;
//! renderers read it (briefly, under a lock) when told a new version is there.

use std::collections::{BTreeMap, VecDeque};

use meshscope_model::{End, Ends, Record};

/// A series of the mesh model the node windows chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Series {
    MessagesIn,
    MessagesOut,
    BytesIn,
    BytesOut,
    Backlog,
    Errors,
    Drops,
    LatencyP50,
    LatencyP99,
}

impl Series {
    pub const ALL: [Series; 9] = [
        Series::MessagesIn,
        Series::MessagesOut,
        Series::BytesIn,
        Series::BytesOut,
        Series::Backlog,
        Series::Errors,
        Series::Drops,
        Series::LatencyP50,
        Series::LatencyP99,
    ];

    /// The model's record: the rates are its `irate1m` series (the last two samples), so
    /// a change in traffic shows after one scrape.
    pub fn model(self) -> Record {
        match self {
            Series::MessagesIn => Record::MessagesInNow,
            Series::MessagesOut => Record::MessagesOutNow,
            Series::BytesIn => Record::BytesInNow,
            Series::BytesOut => Record::BytesOutNow,
            Series::Backlog => Record::Backlog,
            Series::Errors => Record::ErrorsNow,
            Series::Drops => Record::DropsNow,
            Series::LatencyP50 => Record::LatencyP50,
            Series::LatencyP99 => Record::LatencyP99,
        }
    }

    /// The recorded metric name.
    pub fn record(self) -> &'static str {
        self.model().name()
    }

    pub fn from_record(name: &str) -> Option<Series> {
        Series::ALL.into_iter().find(|s| s.record() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name beside the others in the same chart.
    pub fn label(self) -> &'static str {
        match self {
            Series::MessagesIn | Series::BytesIn => "in",
            Series::MessagesOut | Series::BytesOut => "out",
            Series::Backlog => "now",
            Series::Errors => "errors",
            Series::Drops => "drops",
            Series::LatencyP50 => "p50",
            Series::LatencyP99 => "p99",
        }
    }
}

pub const UP: &str = Record::Up.name();
pub const LINK_MESSAGES: &str = Record::LinkMessages.name();
pub const LINK_BYTES: &str = Record::LinkBytes.name();
pub const LINK_PEER_UP: &str = Record::LinkPeerUp.name();
pub const SERVICE: &str = Record::Service.name();

/// One instant query for every node series the viewer shows (and one for links): a
/// name regex keeps the `__name__` of each result.
pub fn node_selector() -> String {
    let names: Vec<&str> = std::iter::once(UP)
        .chain(Series::ALL.iter().map(|s| s.record()))
        .map(|n| n.strip_prefix("node:mesh_").unwrap_or(n))
        .collect();
    format!("{{__name__=~\"node:mesh_({})\"}}", names.join("|"))
}

/// Each node's health straight from `up` (what `node:mesh_up:max` records).
pub fn live_up() -> String {
    "max by (node, role) (up{node!=\"\", role!=\"\"})".to_string()
}

/// The link series and which service each node serves (to resolve service ends).
pub fn link_selector() -> String {
    format!("{{__name__=~\"{LINK_MESSAGES}|{LINK_BYTES}|{LINK_PEER_UP}|{SERVICE}\"}}")
}

/// Points at a fixed step (one per chart pixel column), newest last. A point per step:
/// a later value in the same step replaces the earlier one; a step without a value is a
/// gap (NaN), never interpolated.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    step_ms: i64,
    cap: usize,
    pts: VecDeque<(i64, f64)>,
}

impl Ring {
    pub fn new(step_ms: i64, cap: usize) -> Ring {
        Ring {
            step_ms: step_ms.max(1),
            cap: cap.max(1),
            pts: VecDeque::with_capacity(cap.max(1)),
        }
    }

    pub fn step_ms(&self) -> i64 {
        self.step_ms
    }

    pub fn push(&mut self, t_ms: i64, v: f64) {
        let b = t_ms - t_ms.rem_euclid(self.step_ms);
        match self.pts.back_mut() {
            Some(last) if last.0 == b => last.1 = v,
            Some(last) if last.0 > b => return, // older than what we have
            _ => {
                // Fill skipped steps with gaps so columns stay aligned with time.
                if let Some(&(lt, _)) = self.pts.back() {
                    let missing = ((b - lt) / self.step_ms - 1).min(self.cap as i64);
                    for k in 1..=missing {
                        self.pts
                            .push_back((b - (missing - k + 1) * self.step_ms, f64::NAN));
                    }
                }
                self.pts.push_back((b, v));
            }
        }
        while self.pts.len() > self.cap {
            self.pts.pop_front();
        }
    }

    pub fn last(&self) -> Option<(i64, f64)> {
        self.pts.back().copied()
    }

    /// The newest value, if it is a number: a series that stopped (its node went down)
    /// has a gap as its newest point and no current value.
    pub fn current(&self) -> Option<f64> {
        self.pts.back().map(|p| p.1).filter(|v| v.is_finite())
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(i64, f64)> + ExactSizeIterator {
        self.pts.iter()
    }

    pub fn len(&self) -> usize {
        self.pts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }

    /// The largest finite value in the last `n` points.
    pub fn max_last(&self, n: usize) -> f64 {
        self.pts
            .iter()
            .rev()
            .take(n)
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub role: String,
    /// 1 up, 0 down, `None` not seen yet.
    pub up: Option<f64>,
    pub series: Vec<Ring>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    pub src: String,
    /// A node; or, where the far end is a service with no known node, the service.
    pub dst: String,
    /// The service the traffic was addressed to, where the telemetry named a service:
    /// its traffic is shared evenly among the service's nodes.
    pub service: Option<String>,
    pub messages: f64,
    pub bytes: f64,
    /// A BGP session between the two (routers): whether it is established.
    pub bgp_up: Option<bool>,
}

impl Link {
    /// What the link carries, for a peers list: its messages, or the state of its BGP
    /// session where it has no messages.
    pub fn carries(&self) -> String {
        match self.bgp_up {
            Some(up) if self.messages == 0.0 => if up { "BGP up" } else { "BGP down" }.to_string(),
            _ => human(self.messages, "msg/s"),
        }
    }
}

/// A firing alert, from the source's `ALERTS{alertstate="firing"}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FiringAlert {
    pub severity: String,
    pub name: String,
    /// The node it is about (`node`, else `instance`); empty for a mesh-wide alert.
    pub node: String,
}

/// The query for the firing alerts: the `ALERTS` series that Prometheus and the collector
/// write for their alerting rules (and that remote write carries to VictoriaMetrics, which
/// has no alerts API of its own).
pub const FIRING_ALERTS: &str = "ALERTS{alertstate=\"firing\"}";

/// Firing alerts from the answer to [`FIRING_ALERTS`], the most severe first.
pub fn alerts_from(results: &[BTreeMap<String, String>]) -> Vec<FiringAlert> {
    let rank = |s: &str| match s {
        "critical" | "page" => 0,
        "warning" => 1,
        _ => 2,
    };
    let mut v: Vec<FiringAlert> = results
        .iter()
        .map(|l| {
            let get = |k: &str| l.get(k).cloned().unwrap_or_default();
            FiringAlert {
                severity: get("severity"),
                name: get("alertname"),
                node: l
                    .get("node")
                    .or_else(|| l.get("instance"))
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect();
    v.sort_by(|a, b| {
        (rank(&a.severity), &a.name, &a.node).cmp(&(rank(&b.severity), &b.name, &b.node))
    });
    v.dedup();
    v
}

/// The whole picture.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub source: String,
    pub window_ms: i64,
    pub step_ms: i64,
    pub nodes: BTreeMap<String, Node>,
    pub links: Vec<Link>,
    /// When the source last answered (Unix ms).
    pub last_ok_ms: Option<i64>,
    /// The last error talking to the source, until it answers again.
    pub error: Option<String>,
    /// Alerts firing now, the most severe first.
    pub alerts: Vec<FiringAlert>,
    /// Bumped on every change.
    pub version: u64,
}

impl Model {
    pub fn new(source: &str, window_ms: i64, step_ms: i64) -> Model {
        Model {
            source: source.to_string(),
            window_ms,
            step_ms,
            ..Model::default()
        }
    }

    fn cap(&self) -> usize {
        (self.window_ms / self.step_ms.max(1)).max(1) as usize + 1
    }

    fn node(&mut self, name: &str, role: &str) -> &mut Node {
        let (step, cap) = (self.step_ms, self.cap());
        let n = self.nodes.entry(name.to_string()).or_insert_with(|| Node {
            name: name.to_string(),
            role: role.to_string(),
            up: None,
            series: (0..Series::ALL.len())
                .map(|_| Ring::new(step, cap))
                .collect(),
        });
        if n.role.is_empty() && !role.is_empty() {
            n.role = role.to_string();
        }
        n
    }

    /// Start over with a new window and step (history is refetched).
    pub fn reset(&mut self, window_ms: i64, step_ms: i64) {
        self.window_ms = window_ms;
        self.step_ms = step_ms.max(1);
        let (step, cap) = (self.step_ms, self.cap());
        for n in self.nodes.values_mut() {
            n.series = (0..Series::ALL.len())
                .map(|_| Ring::new(step, cap))
                .collect();
        }
        self.version += 1;
    }

    /// Add one sample of a node series (`name` is the metric name).
    pub fn add(&mut self, name: &str, node: &str, role: &str, t_ms: i64, v: f64) {
        if name == UP {
            let n = self.node(node, role);
            n.up = Some(v);
        } else if let Some(s) = Series::from_record(name) {
            self.node(node, role).series[s.index()].push(t_ms, v);
        }
    }

    /// After a round of instant queries at `t_ms`: each known node's series that the
    /// round did not return gets a gap there, so a node that went away stops showing its
    /// last rate as current.
    pub fn end_round(&mut self, t_ms: i64, seen: &std::collections::HashSet<(String, Series)>) {
        for n in self.nodes.values_mut() {
            for s in Series::ALL {
                if !seen.contains(&(n.name.clone(), s)) {
                    n.series[s.index()].push(t_ms, f64::NAN);
                }
            }
        }
    }

    pub fn set_links(&mut self, mut links: Vec<Link>) {
        links.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
        self.links = links;
    }

    /// How many alerts fire about `node`.
    pub fn alerts_on(&self, node: &str) -> usize {
        self.alerts.iter().filter(|a| a.node == node).count()
    }

    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }
}

/// Links from instant query results (`(metric labels, value)` of both link series and
/// of `node:mesh_service:info`), given the nodes the viewer knows: a link to a service
/// becomes one to each of its nodes, with an even share of the traffic.
pub fn links_from(results: &[(BTreeMap<String, String>, f64)], known: &[String]) -> Vec<Link> {
    let name = |m: &BTreeMap<String, String>| m.get("__name__").cloned().unwrap_or_default();
    let services: Vec<(&str, &str)> = results
        .iter()
        .filter(|(m, _)| name(m) == SERVICE)
        .filter_map(|(m, _)| Some((m.get("node")?.as_str(), m.get("service")?.as_str())))
        .collect();
    let ends = Ends::new(known.iter().map(String::as_str), services);
    let mut by: BTreeMap<(String, String), Link> = BTreeMap::new();
    for (m, v) in results {
        let (Some(src), Some(end)) = (m.get("src_node"), End::of(|k| m.get(k).map(String::as_str)))
        else {
            continue;
        };
        let service = match &end {
            End::Service(s) => Some(s.clone()),
            End::Node(_) => None,
        };
        let nodes = ends.nodes(&end);
        let dsts: Vec<&str> = if nodes.is_empty() {
            vec![end.name()]
        } else {
            nodes
        };
        let share = 1.0 / dsts.len() as f64;
        for dst in dsts {
            let l = by
                .entry((src.clone(), dst.to_string()))
                .or_insert_with(|| Link {
                    src: src.clone(),
                    dst: dst.to_string(),
                    service: service.clone(),
                    messages: 0.0,
                    bytes: 0.0,
                    bgp_up: None,
                });
            match name(m).as_str() {
                LINK_MESSAGES => l.messages += v * share,
                LINK_BYTES => l.bytes += v * share,
                LINK_PEER_UP => l.bgp_up = Some(*v >= 1.0),
                _ => {}
            }
        }
    }
    by.into_values().collect()
}

/// A rate or size for a person: `1.23 k`, `45.6 M`, with the unit.
pub fn human(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return format!("- {unit}");
    }
    if unit == "s" {
        return if v < 1.0 {
            format!("{:.1} ms", v * 1000.0)
        } else {
            format!("{v:.2} s")
        };
    }
    let (x, p) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(d, _)| v.abs() >= *d)
        .map_or((v, ""), |(d, p)| (v / d, p));
    let num = if x.abs() >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    format!("{num} {p}{unit}")
}

#[cfg(test)]
mod alert_tests {
    use super::*;

    #[test]
    fn firing_alerts_come_most_severe_first_with_their_node() {
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let a = alerts_from(&[
            l(&[
                ("alertname", "MeshLatencyHigh"),
                ("node", "b"),
                ("severity", "warning"),
            ]),
            l(&[
                ("alertname", "MeshNodeDown"),
                ("node", "a"),
                ("severity", "critical"),
            ]),
            l(&[
                ("alertname", "MeshTargetDown"),
                ("instance", "h:9100"),
                ("severity", "warning"),
            ]),
            l(&[("alertname", "Custom")]),
        ]);
        let got: Vec<(&str, &str)> = a
            .iter()
            .map(|x| (x.name.as_str(), x.node.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("MeshNodeDown", "a"),
                ("MeshLatencyHigh", "b"),
                ("MeshTargetDown", "h:9100"),
                ("Custom", "")
            ]
        );
        let m = Model {
            alerts: a,
            ..Model::default()
        };
        assert_eq!(m.alerts_on("a"), 1);
        assert_eq!(m.alerts_on("c"), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_keeps_one_point_per_step_marks_gaps_and_drops_the_oldest() {
        let mut r = Ring::new(1000, 5);
        r.push(10_200, 1.0);
        r.push(10_900, 2.0); // same step: replaces
        assert_eq!(r.len(), 1);
        assert_eq!(r.last(), Some((10_000, 2.0)));
        r.push(13_100, 4.0); // steps 11 and 12 are gaps
        let v: Vec<_> = r.iter().map(|p| p.0).collect();
        assert_eq!(v, vec![10_000, 11_000, 12_000, 13_000]);
        assert!(r.iter().nth(1).unwrap().1.is_nan());
        r.push(9_000, 9.0); // older: ignored
        assert_eq!(r.len(), 4);
        for t in 14..20 {
            r.push(t * 1000, t as f64);
        }
        assert_eq!(r.len(), 5);
        assert_eq!(r.iter().next().unwrap().0, 15_000);
        assert_eq!(r.current(), Some(19.0));
        assert_eq!(r.max_last(3), 19.0);
        // A jump far ahead does not fill more than the ring holds.
        r.push(1_000_000_000, 1.0);
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn the_model_sorts_samples_into_nodes_and_links() {
        let mut m = Model::new("http://x", 60_000, 1000);
        m.add(
            "node:mesh_messages_in:irate1m",
            "kafka-0",
            "kafka",
            5000,
            3.0,
        );
        m.add(UP, "kafka-0", "kafka", 5000, 1.0);
        m.add("something_else", "kafka-0", "kafka", 5000, 1.0);
        assert_eq!(m.names(), vec!["kafka-0"]);
        let n = &m.nodes["kafka-0"];
        assert_eq!(n.up, Some(1.0));
        assert_eq!(n.series[Series::MessagesIn.index()].current(), Some(3.0));
        assert!(n.series[Series::Backlog.index()].is_empty());
        // A round that no longer returns kafka-0's messages leaves a gap: no current
        // value, the history kept.
        let mut seen = std::collections::HashSet::new();
        seen.insert(("kafka-0".to_string(), Series::MessagesIn));
        m.end_round(6000, &seen);
        let n = &m.nodes["kafka-0"];
        assert_eq!(n.series[Series::MessagesIn.index()].current(), Some(3.0));
        assert_eq!(n.series[Series::Backlog.index()].current(), None);
        m.end_round(7000, &std::collections::HashSet::new());
        let r = &m.nodes["kafka-0"].series[Series::MessagesIn.index()];
        assert_eq!(r.current(), None);
        assert_eq!(r.iter().next(), Some(&(5000, 3.0)));
        let lm = |name: &str, s: &str, k: &str, d: &str| {
            BTreeMap::from([
                ("__name__".to_string(), name.to_string()),
                ("src_node".to_string(), s.to_string()),
                (k.to_string(), d.to_string()),
            ])
        };
        let info = |node: &str, svc: &str| {
            BTreeMap::from([
                ("__name__".to_string(), SERVICE.to_string()),
                ("node".to_string(), node.to_string()),
                ("service".to_string(), svc.to_string()),
            ])
        };
        let known: Vec<String> = ["a", "b", "o1", "o2"].map(String::from).to_vec();
        let links = links_from(
            &[
                (lm(LINK_MESSAGES, "a", "dst_node", "b"), 5.0),
                (lm(LINK_BYTES, "a", "dst_node", "b"), 500.0),
                (lm(LINK_MESSAGES, "b", "dst_service", "a"), 1.0),
                (lm(LINK_MESSAGES, "a", "dst_service", "orders"), 10.0),
                (lm(LINK_BYTES, "a", "dst_service", "billing"), 7.0),
                (lm(LINK_PEER_UP, "o1", "dst_node", "o2"), 0.0),
                (info("o2", "orders"), 1.0),
                (info("o1", "orders"), 1.0),
            ],
            &known,
        );
        let got: Vec<(&str, &str, Option<&str>, f64, f64)> = links
            .iter()
            .map(|l| {
                (
                    l.src.as_str(),
                    l.dst.as_str(),
                    l.service.as_deref(),
                    l.messages,
                    l.bytes,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a", "b", None, 5.0, 500.0),
                // A service outside the mesh keeps its name.
                ("a", "billing", Some("billing"), 0.0, 7.0),
                // A service's traffic is shared among its nodes.
                ("a", "o1", Some("orders"), 5.0, 0.0),
                ("a", "o2", Some("orders"), 5.0, 0.0),
                // A service named like a node is that node.
                ("b", "a", Some("a"), 1.0, 0.0),
                // A BGP session: no messages, its state.
                ("o1", "o2", None, 0.0, 0.0),
            ]
        );
        let bgp = links.iter().find(|l| l.src == "o1").unwrap();
        assert_eq!(
            (bgp.bgp_up, bgp.carries().as_str()),
            (Some(false), "BGP down")
        );
        assert_eq!(links[0].carries(), "5 msg/s");
        assert!(node_selector().contains("messages_in:irate1m|"));
        assert!(node_selector().starts_with("{__name__=~\"node:mesh_(up:max|"));
    }

    #[test]
    fn the_queries_match_the_mesh_model() {
        let up = format!("record: {UP}\n        expr: {}\n", live_up());
        assert!(meshscope_model::RULES.contains(&up), "{up}");
        for s in Series::ALL {
            assert_eq!(Record::from_name(s.record()), Some(s.model()));
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(human(1234.0, "msg/s"), "1.23 kmsg/s");
        assert_eq!(human(12.5, "B/s"), "12.5 B/s");
        assert_eq!(human(3.0e9, "B/s"), "3 GB/s");
        assert_eq!(human(0.0123, "s"), "12.3 ms");
        assert_eq!(human(f64::NAN, "s"), "- s");
        assert_eq!(human(250.0, ""), "250 ");
    }
}
