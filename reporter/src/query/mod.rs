//! What the deck reads: the mesh model's series per node, as range queries through the
//! Prometheus HTTP API (the collector or any Prometheus-compatible engine with the
//! mesh-model rules), fetched for the week and the week before.

pub mod fetch;

use meshscope_model::Record;
use std::collections::BTreeMap;

use crate::week::Period;

/// A per-node series the deck uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Up,
    MessagesIn,
    MessagesOut,
    BytesIn,
    BytesOut,
    Backlog,
    Errors,
    Drops,
    LatencyP50,
    LatencyP99,
    FabricUtilisation,
    FabricDrops,
    BgpPeersDown,
}

/// Health at one-minute resolution: availability and incidents to the minute.
pub const UP_STEP: i64 = 60;
/// Everything else per hour.
pub const HOUR: i64 = 3600;

impl Metric {
    pub const ALL: [Metric; 13] = [
        Metric::Up,
        Metric::MessagesIn,
        Metric::MessagesOut,
        Metric::BytesIn,
        Metric::BytesOut,
        Metric::Backlog,
        Metric::Errors,
        Metric::Drops,
        Metric::LatencyP50,
        Metric::LatencyP99,
        Metric::FabricUtilisation,
        Metric::FabricDrops,
        Metric::BgpPeersDown,
    ];

    /// The mesh model's record it reads.
    pub fn model(self) -> Record {
        match self {
            Metric::Up => Record::Up,
            Metric::MessagesIn => Record::MessagesIn,
            Metric::MessagesOut => Record::MessagesOut,
            Metric::BytesIn => Record::BytesIn,
            Metric::BytesOut => Record::BytesOut,
            Metric::Backlog => Record::Backlog,
            Metric::Errors => Record::Errors,
            Metric::Drops => Record::Drops,
            Metric::LatencyP50 => Record::LatencyP50,
            Metric::LatencyP99 => Record::LatencyP99,
            Metric::FabricUtilisation => Record::FabricUtilisation,
            Metric::FabricDrops => Record::FabricDrops,
            Metric::BgpPeersDown => Record::BgpPeersDown,
        }
    }

    pub fn record(self) -> &'static str {
        self.model().name()
    }

    /// The PromQL: `up` as it is each minute; the rest as hourly means, or hourly peaks
    /// for backlog, utilisation and peers down (a spike must not average away).
    pub fn expr(self) -> String {
        match self {
            Metric::Up => self.record().to_string(),
            Metric::Backlog | Metric::FabricUtilisation | Metric::BgpPeersDown => {
                format!("max_over_time({}[1h])", self.record())
            }
            _ => format!("avg_over_time({}[1h])", self.record()),
        }
    }

    pub fn step(self) -> i64 {
        if self == Metric::Up {
            UP_STEP
        } else {
            HOUR
        }
    }

    /// The first and last evaluation times for a period whose data ends at `as_of` (the
    /// week may be in progress). Hourly values are evaluated at the end of their hour (the
    /// window `[1h]` looks back), so point `i` is the hour that starts `i` hours after the
    /// period's start. The last time is before the first when nothing is due yet.
    pub fn range(self, p: &Period, as_of: i64) -> (i64, i64) {
        let (s, e) = (p.start.timestamp(), p.end.timestamp());
        let (first, last) = if self == Metric::Up {
            (s, e - UP_STEP)
        } else {
            (s + HOUR, e)
        };
        let step = self.step();
        let upto = first + (as_of - first).div_euclid(step) * step;
        (first, last.min(upto))
    }

    /// Points on the whole week's grid (the length of a node's series).
    pub fn points(self, p: &Period) -> usize {
        let (s, e) = self.range(p, i64::MAX);
        ((e - s) / self.step() + 1).max(0) as usize
    }

    /// Points due by `as_of`.
    pub fn points_due(self, p: &Period, as_of: i64) -> usize {
        let (s, e) = self.range(p, as_of);
        if e < s {
            0
        } else {
            ((e - s) / self.step() + 1) as usize
        }
    }
}

/// Where a query's points came from, for the notes and the method slide.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryInfo {
    pub metric: Metric,
    pub expr: String,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub requests: usize,
    pub series: usize,
    pub samples: usize,
}

/// One node's series for one week: one value per step from the period's start; NaN where
/// the source had no point (a gap).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeData {
    pub role: String,
    pub series: BTreeMap<Metric, Vec<f64>>,
}

impl NodeData {
    /// The series, or `None` when the node has none of it (not every role has every series).
    pub fn get(&self, m: Metric) -> Option<&[f64]> {
        self.series.get(&m).map(Vec::as_slice)
    }
}

#[derive(Clone, Debug)]
pub struct WeekData {
    pub period: Period,
    /// Data was asked for up to this time (Unix seconds): the period's end, or now for a
    /// week in progress.
    pub as_of: i64,
    pub source: String,
    pub nodes: BTreeMap<String, NodeData>,
    pub queries: Vec<QueryInfo>,
}

impl WeekData {
    pub fn empty(period: Period, as_of: i64, source: &str) -> WeekData {
        WeekData {
            period,
            as_of: as_of.min(period.end.timestamp()),
            source: source.to_string(),
            nodes: BTreeMap::new(),
            queries: Vec::new(),
        }
    }

    pub fn info(&self, m: Metric) -> Option<&QueryInfo> {
        self.queries.iter().find(|q| q.metric == m)
    }
}

impl WeekData {
    /// A week made up rather than fetched, for tests, fuzzing and benchmarks: every node
    /// gets every series, `value(node, metric, index)` gives each point (NaN is a gap),
    /// and the query records say what a fetch of it would have said.
    pub fn synthetic(
        period: Period,
        nodes: &[(String, String)],
        value: &dyn Fn(usize, Metric, usize) -> f64,
    ) -> WeekData {
        let end = period.end.timestamp();
        let mut w = WeekData::empty(period, end, "synthetic");
        for (i, (node, role)) in nodes.iter().enumerate() {
            let mut d = NodeData {
                role: role.clone(),
                series: BTreeMap::new(),
            };
            for m in Metric::ALL {
                let v: Vec<f64> = (0..m.points(&period)).map(|j| value(i, m, j)).collect();
                d.series.insert(m, v);
            }
            w.nodes.insert(node.clone(), d);
        }
        for m in Metric::ALL {
            let (start, last) = m.range(&period, end);
            let samples = w
                .nodes
                .values()
                .filter_map(|n| n.get(m))
                .map(|s| s.iter().filter(|v| !v.is_nan()).count())
                .sum();
            w.queries.push(QueryInfo {
                metric: m,
                expr: m.expr(),
                start,
                end: last,
                step: m.step(),
                requests: 1,
                series: nodes.len(),
                samples,
            });
        }
        w
    }
}
