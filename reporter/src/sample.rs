//! Synthetic weeks for tests, fuzzing and benchmarks: hostile label values and degenerate
//! series (a node without a series, gaps, NaN, infinities, huge, tiny and negative
//! values), and a plain mesh-sized week for timing the build.

use chrono::TimeZone;

use crate::deck::{build, Meta};
use crate::model::Report;
use crate::pptx;
use crate::query::{Metric, WeekData};
use crate::slo::SloConfig;
use crate::week::{parse_zone, Week};

/// Label values from outside that must survive: markup, control bytes, XML non-characters,
/// emoji, right-to-left scripts, and nothing at all.
pub const HOSTILE: [&str; 8] = [
    "a&b<c>\"d'e",
    "\u{0}\u{1}\u{8}\u{B}\u{C}\u{1F}ctl",
    "\u{FFFE}\u{FFFF}nonchars",
    "😀 emoji 🚀",
    "مرحبا بالعالم",
    "שלום",
    "]]><!-- -->",
    "",
];

/// A small deterministic generator (xorshift), so the cases are the same every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A value, often a hostile one.
    pub fn value(&mut self) -> f64 {
        match self.next_u64() % 16 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => 1e300,
            4 => -1e-300,
            5 => 0.0,
            6 => -5.0,
            7 => f64::MIN_POSITIVE,
            _ => (self.next_u64() % 10_000) as f64 / 7.0,
        }
    }
}

pub fn meta() -> Meta {
    Meta {
        source: "http://x/&<>".into(),
        generated: chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 7, 0, 0)
            .single()
            .unwrap_or_default(),
        version: "test".into(),
    }
}

/// The deck of a hostile week: `nodes` nodes named and with roles from [`HOSTILE`],
/// series from `seed`. Panics if the deck cannot be written (that is the bug to find).
pub fn hostile_deck(seed: u64, nodes: usize) -> Vec<u8> {
    let tz = parse_zone("Asia/Kolkata").unwrap_or(chrono_tz::UTC);
    let p = Week {
        year: 2026,
        week: 47,
    }
    .period(tz);
    let names: Vec<(String, String)> = (0..nodes)
        .map(|i| {
            (
                format!("{}-{i}", HOSTILE[i % HOSTILE.len()]),
                HOSTILE[(i / 2) % HOSTILE.len()].to_string(),
            )
        })
        .collect();
    let rng = std::cell::RefCell::new(Rng(seed.max(1)));
    let value = |n: usize, m: Metric, j: usize| -> f64 {
        let mut r = rng.borrow_mut();
        match (n + seed as usize) % 4 {
            0 => f64::NAN, // a node without data for this series
            // Health goes down for a while and comes back; a gap now and then.
            _ if m == Metric::Up => match (j / 500) % 7 {
                0 => 0.0,
                3 if j % 500 < 3 => f64::NAN,
                _ => 1.0,
            },
            _ => r.value(),
        }
    };
    let this = WeekData::synthetic(p, &names, &value);
    let prev = WeekData::synthetic(
        Week {
            year: 2026,
            week: 46,
        }
        .period(tz),
        &names,
        &value,
    );
    let r = Report::new(this, Some(prev), &SloConfig::default());
    let deck = build(&r, &meta()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    pptx::write(&deck).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
}

/// A week of `nodes` nodes in the simulated mesh's roles with smooth daily curves, a
/// flapping node, and a few gaps: what a fetch from a 50-node mesh gives the build.
pub fn mesh_weeks(nodes: usize) -> (WeekData, WeekData) {
    const ROLES: [&str; 9] = [
        "pulsar", "kafka", "rabbitmq", "nats", "grpc", "envoy", "demux", "host", "router",
    ];
    let names: Vec<(String, String)> = (0..nodes)
        .map(|i| {
            let role = ROLES[i % ROLES.len()];
            (format!("{role}-{}", i / ROLES.len()), role.to_string())
        })
        .collect();
    let value = |n: usize, m: Metric, j: usize| -> f64 {
        let step_h = if m == Metric::Up { 1.0 / 60.0 } else { 1.0 };
        let h = j as f64 * step_h;
        let day = (h / 24.0 * std::f64::consts::TAU).sin() * 0.5 + 1.0;
        let scale = 1.0 + n as f64 * 0.1;
        if n == 3 && j % 97 == 5 {
            return f64::NAN;
        }
        match m {
            Metric::Up => (n != 1 || (j % 30) < 26) as u8 as f64,
            Metric::MessagesIn => 400.0 * day * scale,
            Metric::MessagesOut => 380.0 * day * scale,
            Metric::BytesIn => 4e5 * day * scale,
            Metric::BytesOut => 3.8e5 * day * scale,
            Metric::Backlog => 2000.0 * day * scale,
            Metric::Errors => 0.2 * day,
            Metric::Drops => 0.05 * day,
            Metric::LatencyP50 => 0.01 * day,
            Metric::LatencyP99 => 0.12 * day * scale,
            Metric::FabricUtilisation => 0.3 * day,
            Metric::FabricDrops => 0.01 * day,
            Metric::BgpPeersDown => j.is_multiple_of(50) as u8 as f64,
        }
    };
    let p = Week {
        year: 2026,
        week: 47,
    }
    .period(chrono_tz::UTC);
    let q = Week {
        year: 2026,
        week: 46,
    }
    .period(chrono_tz::UTC);
    (
        WeekData::synthetic(p, &names, &value),
        WeekData::synthetic(q, &names, &value),
    )
}
