//! The deck: the analysed week laid out as slides — title, summary, availability,
//! throughput, latency, backlog, errors, fabric, top nodes, incidents, one appendix per
//! role, data quality and method. Native charts for trends, bars and areas; PNG for the
//! heatmap and small multiples; real tables that continue on further slides.

mod notes;

use chrono::{DateTime, Utc};

use crate::charts::{self, Small};
use crate::format::{bytes, change, duration, latency, local, pct, si, utc};
use crate::model::{Report, RoleSummary};
use crate::pptx::{
    Cell, Chart, ChartKind, ChartSeries, Deck, Layout, Para, Picture, Rect, Shape, Slide, Table,
    ACCENTS, SLIDE_H, SLIDE_W,
};
use crate::query::{Metric, HOUR};
use notes::{DataHash, Notes};

const MARGIN: i64 = 457_200;
const TOP: i64 = 1_143_000;
const WIDTH: i64 = SLIDE_W - 2 * MARGIN;
const HEIGHT: i64 = SLIDE_H - TOP - 365_760;
/// Table rows per slide before the table continues on the next.
pub const ROWS_PER_SLIDE: usize = 14;
/// Small multiples per appendix slide.
pub const PANELS_PER_SLIDE: usize = 12;

const GREEN: &str = "C6EFCE";
const AMBER: &str = "FFEB9C";
const RED: &str = "FFC7CE";
const GREY: &str = "EDEDED";

#[derive(Clone, Debug)]
pub struct Meta {
    pub source: String,
    pub generated: DateTime<Utc>,
    pub version: String,
}

/// Pixels for a picture `emu` wide at twice a 96-dpi screen.
fn px(emu: i64) -> u32 {
    (emu as f64 / 914_400.0 * 96.0 * 2.0).round() as u32
}

fn slide(title: String, shapes: Vec<Shape>, notes: String) -> Slide {
    Slide {
        layout: Layout::TitleOnly,
        title,
        subtitle: Vec::new(),
        shapes,
        notes,
    }
}

fn paged_title(title: &str, page: usize, pages: usize) -> String {
    if pages > 1 {
        format!("{title} ({}/{pages})", page + 1)
    } else {
        title.to_string()
    }
}

/// Hour labels in the deck's zone: "Mon 00:00".
fn hour_labels(r: &Report) -> Vec<String> {
    let start = r.this.period.start.timestamp();
    (0..r.this.period.hours())
        .map(|h| local(start + h as i64 * HOUR, r.this.period.tz))
        .collect()
}

/// A chart with its series downsampled to at most [`charts::MAX_POINTS`] points.
fn chart(
    rect: Rect,
    kind: ChartKind,
    title: &str,
    cats: &[String],
    series: Vec<ChartSeries>,
    fmt: &str,
    y: &str,
) -> Chart {
    let refs: Vec<&[f64]> = series.iter().map(|s| s.values.as_slice()).collect();
    let keep = charts::keep(&refs, charts::MAX_POINTS);
    let all = keep.len() == cats.len();
    let pick = |v: &[f64]| -> Vec<f64> {
        keep.iter()
            .map(|i| v.get(*i).copied().unwrap_or(f64::NAN))
            .collect()
    };
    Chart {
        rect,
        kind,
        title: title.to_string(),
        categories: if all {
            cats.to_vec()
        } else {
            keep.iter()
                .map(|i| cats.get(*i).cloned().unwrap_or_default())
                .collect()
        },
        series: series
            .into_iter()
            .map(|s| ChartSeries {
                values: if all { s.values } else { pick(&s.values) },
                ..s
            })
            .collect(),
        number_format: fmt.to_string(),
        y_title: y.to_string(),
        label_every: 0,
        y_min: None,
        y_max: None,
    }
}

fn series(name: &str, color: usize, values: Vec<f64>, dashed: bool) -> ChartSeries {
    ChartSeries {
        name: name.to_string(),
        color: ACCENTS[color % ACCENTS.len()].to_string(),
        values,
        dashed,
    }
}

fn text(rect: Rect, paras: Vec<Para>) -> Shape {
    Shape::Text { rect, paras }
}

fn table(rect: Rect, widths: &[u32], header: &[&str], rows: Vec<Vec<Cell>>, size: f32) -> Table {
    Table {
        rect,
        widths: widths.to_vec(),
        header: header.iter().map(|s| s.to_string()).collect(),
        rows,
        size,
    }
}

/// A table over as many slides as it needs, [`ROWS_PER_SLIDE`] rows each; an empty table
/// gets one slide that says so.
fn paged_table<'a>(
    title: &str,
    widths: &[u32],
    header: &[&str],
    rows: Vec<Vec<Cell>>,
    empty: &str,
    notes: impl Fn() -> Notes<'a>,
) -> Vec<Slide> {
    if rows.is_empty() {
        let t = table(
            Rect::new(MARGIN, TOP, WIDTH, 0),
            widths,
            header,
            Vec::new(),
            12.0,
        );
        let mut h = DataHash::default();
        h.table(&t);
        return vec![slide(
            title.to_string(),
            vec![
                Shape::Table(t),
                text(
                    Rect::new(MARGIN, TOP + 600_000, WIDTH, 500_000),
                    vec![Para::new(empty, 16.0)],
                ),
            ],
            notes().finish(h),
        )];
    }
    let pages = rows.len().div_ceil(ROWS_PER_SLIDE);
    rows.chunks(ROWS_PER_SLIDE)
        .enumerate()
        .map(|(i, chunk)| {
            let t = table(
                Rect::new(MARGIN, TOP, WIDTH, 0),
                widths,
                header,
                chunk.to_vec(),
                12.0,
            );
            let mut h = DataHash::default();
            h.table(&t);
            let n = notes().line(format!(
                "Rows {} to {} of {}.",
                i * ROWS_PER_SLIDE + 1,
                i * ROWS_PER_SLIDE + chunk.len(),
                rows.len()
            ));
            slide(
                paged_title(title, i, pages),
                vec![Shape::Table(t)],
                n.finish(h),
            )
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Light {
    Green,
    Amber,
    Red,
    None,
}

fn fill(l: Light) -> &'static str {
    match l {
        Light::Green => GREEN,
        Light::Amber => AMBER,
        Light::Red => RED,
        Light::None => GREY,
    }
}

/// Lower is better: green at or under the target, amber up to 1.5 times it, red above.
fn light_upper(v: Option<f64>, target: f64) -> Light {
    match v {
        Some(v) if v <= target => Light::Green,
        Some(v) if v <= target * 1.5 => Light::Amber,
        Some(_) => Light::Red,
        None => Light::None,
    }
}

/// Availability: green at or over the target, amber while at most twice the budget is
/// spent, red below.
fn light_availability(v: Option<f64>, target: f64) -> Light {
    match v {
        Some(v) if v >= target => Light::Green,
        Some(v) if 1.0 - v <= 2.0 * (1.0 - target) => Light::Amber,
        Some(_) => Light::Red,
        None => Light::None,
    }
}

fn cell(text: String, l: Light) -> Cell {
    Cell::new(text).fill(fill(l))
}

fn pp_change(now: Option<f64>, before: Option<f64>) -> String {
    match (now, before) {
        (Some(n), Some(b)) => {
            let d = (n - b) * 100.0;
            let arrow = if d > 0.005 {
                "▲"
            } else if d < -0.005 {
                "▼"
            } else {
                "►"
            };
            format!("{arrow} {:.2} pp", d.abs())
        }
        _ => "–".into(),
    }
}

fn opt_change(now: Option<f64>, before: Option<f64>) -> String {
    match now {
        Some(n) => change(n, before),
        None => "–".into(),
    }
}

fn summary_row(r: &RoleSummary) -> Vec<Cell> {
    let s = r.slo;
    let or_dash = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("–".to_string(), f);
    vec![
        Cell::new(r.role.clone()),
        Cell::new(r.nodes.to_string()).right(),
        cell(
            format!(
                "{} / {}  {}",
                or_dash(r.availability, &pct),
                pct(s.availability),
                pp_change(r.availability, r.availability_prev)
            ),
            light_availability(r.availability, s.availability),
        ),
        cell(
            format!(
                "{} / {}  {}",
                or_dash(r.p99, &latency),
                latency(s.latency_p99_seconds),
                opt_change(r.p99, r.p99_prev)
            ),
            light_upper(r.p99, s.latency_p99_seconds),
        ),
        cell(
            format!(
                "{} / {}  {}",
                or_dash(r.backlog, &si),
                si(s.backlog_messages),
                opt_change(r.backlog, r.backlog_prev)
            ),
            light_upper(r.backlog, s.backlog_messages),
        ),
        cell(
            format!(
                "{} / {}/s  {}",
                or_dash(r.errors, &|v| format!("{}/s", si(v))),
                si(s.errors_per_second),
                opt_change(r.errors, r.errors_prev)
            ),
            light_upper(r.errors, s.errors_per_second),
        ),
        cell(
            format!(
                "{} node-h  {}",
                r.peer_down_hours,
                opt_change(
                    Some(r.peer_down_hours as f64),
                    r.peer_down_hours_prev.map(|h| h as f64)
                )
            ),
            match r.peer_down_hours {
                0 => Light::Green,
                1..=2 => Light::Amber,
                _ => Light::Red,
            },
        ),
    ]
}

pub fn build(r: &Report, meta: &Meta) -> Result<Deck, String> {
    let p = &r.this.period;
    let tz = p.tz;
    let prev = r.prev.as_ref();
    let hours = hour_labels(r);
    let mut slides = Vec::new();

    // 1. Title.
    let mut when = format!("{} ({})", p.dates(), tz.name());
    if r.this.as_of < p.end.timestamp() {
        when.push_str(&format!(
            " — in progress, data to {}",
            local(r.this.as_of, tz)
        ));
    }
    slides.push(Slide {
        layout: Layout::Title,
        title: format!("Messaging health, week {}", p.week),
        subtitle: vec![
            when,
            format!("Source: {}", meta.source),
            format!(
                "Generated {} by meshscope {}",
                utc(meta.generated),
                meta.version
            ),
        ],
        shapes: Vec::new(),
        notes: Notes::new(&r.this, prev, "Title slide.")
            .line(format!(
                "Week {}: {} to {} ({}).",
                p.week,
                crate::format::rfc3339(p.start.timestamp(), tz),
                crate::format::rfc3339(p.end.timestamp(), tz),
                tz.name()
            ))
            .finish(DataHash::default()),
    });

    // 2. Executive summary.
    {
        let rows: Vec<Vec<Cell>> = r.roles.iter().map(summary_row).collect();
        let n = rows.len();
        let t = table(
            Rect::new(MARGIN, TOP, WIDTH, 0),
            &[9, 6, 23, 21, 19, 17, 14],
            &[
                "Role",
                "Nodes",
                "Availability / SLO",
                "p99 latency / target",
                "Peak backlog / target",
                "Errors / target",
                "Fabric: peers down",
            ],
            rows,
            if n > 9 { 9.0 } else { 11.0 },
        );
        let mut h = DataHash::default();
        h.table(&t);
        let mut paras = vec![Para::new("What changed most", 16.0).bold()];
        paras.extend(
            r.sentences
                .iter()
                .map(|s| Para::new(format!("• {s}"), 14.0)),
        );
        // The sentences sit at the foot of the slide, below the table however it wraps
        // (nine roles at most: ten rows of 9 pt).
        let y = SLIDE_H - 1_750_000;
        let notes = Notes::new(&r.this, prev, "Executive summary: each role against its SLO; arrows compare with the week before (pp = percentage points).")
            .queries(&[Metric::Up, Metric::LatencyP99, Metric::Backlog, Metric::Errors, Metric::BgpPeersDown, Metric::MessagesIn], true)
            .line("Availability: mean over the role's nodes of the share of minutes with node:mesh_up:max = 1 (minutes without data are left out and listed under data quality). Green at or over the target, amber while at most twice the error budget is spent, red below.")
            .line("p99 latency: the 99th percentile of the nodes' hourly mean p99. Peak backlog: the highest hourly peak of any node. Errors: the highest weekly mean error rate of any node. Green at or under the target, amber up to 1.5 times it, red above.")
            .line("Fabric: node-hours with at least one BGP/EVPN peer down. Green none, amber up to 2, red more.")
            .line("Sentences: the largest week-over-week changes (traffic, p99 latency) and the nodes under their availability target, ranked by size.");
        slides.push(slide(
            format!("Executive summary — week {}", p.week),
            vec![
                Shape::Table(t),
                text(Rect::new(MARGIN, y, WIDTH, 1_500_000), paras),
            ],
            notes.finish(h),
        ));
    }

    // 3. Availability and error budget.
    {
        let mut nodes: Vec<&crate::model::NodeSummary> = r.nodes.iter().collect();
        nodes.sort_by(|a, b| {
            a.budget_remaining
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.budget_remaining.unwrap_or(f64::INFINITY))
                .then_with(|| a.node.cmp(&b.node))
        });
        let cats: Vec<String> = nodes.iter().map(|n| n.node.clone()).collect();
        let mut c = chart(
            Rect::new(MARGIN, TOP, WIDTH * 55 / 100, HEIGHT),
            ChartKind::BarHorizontal,
            "Availability per node against its SLO",
            &cats,
            vec![
                series(
                    "Availability",
                    0,
                    nodes
                        .iter()
                        .map(|n| n.availability.unwrap_or(f64::NAN))
                        .collect(),
                    false,
                ),
                series(
                    "SLO",
                    5,
                    nodes.iter().map(|n| n.slo.availability).collect(),
                    false,
                ),
            ],
            "0.00%",
            "",
        );
        // Start the axis a little under the lowest bar so that the differences near 100%
        // show; the axis starts at 0 when a node was down for long.
        let low = nodes
            .iter()
            .flat_map(|n| [n.availability.unwrap_or(1.0), n.slo.availability])
            .fold(1.0f64, f64::min);
        let floor = ((low - (1.0 - low) * 0.5) * 1000.0).floor() / 1000.0;
        c.y_min = Some(if floor < 0.5 { 0.0 } else { floor });
        c.y_max = Some(1.0);
        let rows: Vec<Vec<Cell>> = nodes
            .iter()
            .take(10)
            .map(|n| {
                let l = light_availability(n.availability, n.slo.availability);
                vec![
                    Cell::new(n.node.clone()),
                    cell(n.availability.map_or("–".into(), pct), l),
                    Cell::new(pct(n.slo.availability)).right(),
                    Cell::new(duration(n.down_seconds)).right(),
                    Cell::new(n.budget_remaining.map_or("–".into(), pct)).right(),
                ]
            })
            .collect();
        let t = table(
            Rect::new(MARGIN + WIDTH * 57 / 100, TOP, WIDTH * 43 / 100, 0),
            &[9, 7, 6, 7, 7],
            &[
                "Least budget left",
                "Availability",
                "SLO",
                "Down",
                "Budget left",
            ],
            rows,
            11.0,
        );
        let mut h = DataHash::default();
        h.chart(&c);
        h.table(&t);
        let notes = Notes::new(&r.this, prev, "Availability per node against its SLO, and the error budget left (1 - downtime / allowed downtime; negative when overspent).")
            .queries(&[Metric::Up], false)
            .line("Availability = minutes with node:mesh_up:max = 1 / minutes with data. Error budget left = 1 - (1 - availability) / (1 - SLO). The table lists the ten nodes with the least budget left; the chart has every node.");
        slides.push(slide(
            "Availability and error budget".into(),
            vec![Shape::Chart(c), Shape::Table(t)],
            notes.finish(h),
        ));
    }

    // 4. Throughput.
    {
        let mut s = vec![
            series("Messages in", 0, r.hourly.messages_in.clone(), false),
            series("Messages out", 1, r.hourly.messages_out.clone(), false),
        ];
        if prev.is_some() {
            s.push(series(
                "In, previous week",
                0,
                r.hourly.messages_in_prev.clone(),
                true,
            ));
            s.push(series(
                "Out, previous week",
                1,
                r.hourly.messages_out_prev.clone(),
                true,
            ));
        }
        let mut c = chart(
            Rect::new(MARGIN, TOP, WIDTH, HEIGHT),
            ChartKind::Line,
            "Messages per hour, whole mesh",
            &hours,
            s,
            "#,##0",
            "messages / hour",
        );
        c.label_every = 24;
        let mut h = DataHash::default();
        h.chart(&c);
        let notes = Notes::new(&r.this, prev, "Messages in and out per hour across the mesh; dashed: the same hour of the previous week.")
            .queries(&[Metric::MessagesIn, Metric::MessagesOut], true)
            .line("Per hour: the sum over nodes of the hourly mean rate × 3600. An hour where no node has data is a gap.");
        slides.push(slide(
            "Throughput".into(),
            vec![Shape::Chart(c)],
            notes.finish(h),
        ));
    }

    // 5. Latency per day.
    {
        let cats: Vec<String> = r.days.iter().map(|d| d.label.clone()).collect();
        let c = chart(
            Rect::new(MARGIN, TOP, WIDTH, HEIGHT),
            ChartKind::Bar,
            "Latency per day (ms)",
            &cats,
            vec![
                series(
                    "p50 (mean of nodes)",
                    0,
                    r.days.iter().map(|d| d.p50 * 1e3).collect(),
                    false,
                ),
                series(
                    "p99 (worst node-hour)",
                    3,
                    r.days.iter().map(|d| d.p99 * 1e3).collect(),
                    false,
                ),
            ],
            "0.0",
            "milliseconds",
        );
        let mut h = DataHash::default();
        h.chart(&c);
        let targets: Vec<String> = r
            .roles
            .iter()
            .map(|x| format!("{} {}", x.role, latency(x.slo.latency_p99_seconds)))
            .collect();
        let notes = Notes::new(&r.this, prev, "Latency per local day: p50 is the mean of the nodes' hourly mean p50; p99 is the highest hourly mean p99 of any node that day.")
            .queries(&[Metric::LatencyP50, Metric::LatencyP99], false)
            .line(format!("p99 targets: {}.", targets.join(", ")));
        slides.push(slide(
            "Latency".into(),
            vec![Shape::Chart(c)],
            notes.finish(h),
        ));
    }

    // 6. Backlog.
    {
        let s: Vec<ChartSeries> = r
            .hourly
            .backlog_by_role
            .iter()
            .enumerate()
            .map(|(i, (role, v))| series(role, i, v.clone(), false))
            .collect();
        let mut shapes = Vec::new();
        let mut h = DataHash::default();
        if s.is_empty() {
            shapes.push(text(
                Rect::new(MARGIN, TOP, WIDTH, 600_000),
                vec![Para::new("No node reported a backlog this week.", 16.0)],
            ));
        } else {
            let mut c = chart(
                Rect::new(MARGIN, TOP, WIDTH, HEIGHT),
                ChartKind::StackedArea,
                "Backlog: hourly peak per role (messages)",
                &hours,
                s,
                "#,##0",
                "messages",
            );
            c.label_every = 24;
            h.chart(&c);
            shapes.push(Shape::Chart(c));
        }
        let notes = Notes::new(
            &r.this,
            prev,
            "Backlog and consumer lag: per role, the sum of the nodes' hourly peak backlog.",
        )
        .queries(&[Metric::Backlog], false);
        slides.push(slide(
            "Backlog and consumer lag".into(),
            shapes,
            notes.finish(h),
        ));
    }

    // 7. Errors and drops.
    {
        let mut s = vec![
            series("Errors/s", 3, r.hourly.errors.clone(), false),
            series("Drops/s", 4, r.hourly.drops.clone(), false),
        ];
        if prev.is_some() {
            s.push(series(
                "Errors/s, previous week",
                3,
                r.hourly.errors_prev.clone(),
                true,
            ));
            s.push(series(
                "Drops/s, previous week",
                4,
                r.hourly.drops_prev.clone(),
                true,
            ));
        }
        let mut c = chart(
            Rect::new(MARGIN, TOP, WIDTH, HEIGHT),
            ChartKind::Line,
            "Errors and drops per second, whole mesh (hourly mean)",
            &hours,
            s,
            "0.00",
            "per second",
        );
        c.label_every = 24;
        let mut h = DataHash::default();
        h.chart(&c);
        let notes = Notes::new(&r.this, prev, "Errors (failed deliveries, RPC errors, dead letters) and drops (unroutable, NIC drops) per second: the sum over nodes of the hourly mean rate.")
            .queries(&[Metric::Errors, Metric::Drops], true);
        slides.push(slide(
            "Errors and drops".into(),
            vec![Shape::Chart(c)],
            notes.finish(h),
        ));
    }

    // 8. Fabric.
    {
        let rows: Vec<(String, Vec<f64>)> = r
            .this
            .nodes
            .iter()
            .filter_map(|(n, d)| {
                d.get(Metric::FabricUtilisation)
                    .map(|v| (n.clone(), v.to_vec()))
            })
            .collect();
        let mut h = DataHash::default();
        let mut shapes = Vec::new();
        let days: Vec<(usize, String)> = r
            .days
            .iter()
            .scan(0usize, |at, d| {
                let here = *at;
                *at += hours
                    .iter()
                    .skip(here)
                    .take_while(|l| l.starts_with(&d.label))
                    .count();
                Some((here, d.label.clone()))
            })
            .collect();
        let pic_rect = Rect::new(MARGIN, TOP, WIDTH * 62 / 100, HEIGHT);
        if rows.is_empty() {
            shapes.push(text(
                Rect::new(MARGIN, TOP, WIDTH * 60 / 100, 600_000),
                vec![Para::new(
                    "No node reported link utilisation this week.",
                    16.0,
                )],
            ));
        } else {
            for (n, v) in &rows {
                h.values(n, v);
            }
            let png = charts::heatmap(
                "Link utilisation, hourly peak per node",
                &rows,
                &days,
                (px(pic_rect.w), px(pic_rect.h)),
            )?;
            shapes.push(Shape::Picture(Picture {
                rect: pic_rect,
                png,
                description: "Heatmap of each node's hourly peak link utilisation across the week"
                    .into(),
            }));
        }
        let mut c = chart(
            Rect::new(MARGIN + WIDTH * 64 / 100, TOP, WIDTH * 36 / 100, HEIGHT),
            ChartKind::Line,
            "BGP/EVPN peers down and fabric drops",
            &hours,
            vec![
                series(
                    "Peers down (hourly peak, sum)",
                    3,
                    r.hourly.peers_down.clone(),
                    false,
                ),
                series("Fabric drops/s", 5, r.hourly.fabric_drops.clone(), false),
            ],
            "0.##",
            "",
        );
        c.label_every = 48;
        h.chart(&c);
        shapes.push(Shape::Chart(c));
        let notes = Notes::new(&r.this, prev, "Fabric: each node's hourly peak utilisation of link speed (grey: no data), BGP/EVPN peers down (sum of the nodes' hourly peaks) and fabric drops per second.")
            .queries(&[Metric::FabricUtilisation, Metric::BgpPeersDown, Metric::FabricDrops], false);
        slides.push(slide("Fabric".into(), shapes, notes.finish(h)));
    }

    // 9. Top 10 nodes by traffic.
    {
        let mut nodes: Vec<&crate::model::NodeSummary> = r.nodes.iter().collect();
        let traffic = |n: &crate::model::NodeSummary| n.messages_in + n.messages_out;
        nodes.sort_by(|a, b| {
            traffic(b)
                .total_cmp(&traffic(a))
                .then_with(|| a.node.cmp(&b.node))
        });
        let rows: Vec<Vec<Cell>> = nodes
            .iter()
            .take(10)
            .enumerate()
            .map(|(i, n)| {
                vec![
                    Cell::new((i + 1).to_string()).right(),
                    Cell::new(n.node.clone()),
                    Cell::new(n.role.clone()),
                    Cell::new(si(n.messages_in)).right(),
                    Cell::new(si(n.messages_out)).right(),
                    Cell::new(bytes(n.bytes)).right(),
                    Cell::new(change(traffic(n), n.messages_prev)).right(),
                ]
            })
            .collect();
        let t = table(
            Rect::new(MARGIN, TOP, WIDTH, 0),
            &[3, 14, 8, 8, 8, 8, 8],
            &[
                "#",
                "Node",
                "Role",
                "Messages in",
                "Messages out",
                "Bytes in + out",
                "vs last week",
            ],
            rows,
            14.0,
        );
        let mut h = DataHash::default();
        h.table(&t);
        let notes = Notes::new(
            &r.this,
            prev,
            "The ten nodes that carried the most messages (in + out) this week.",
        )
        .queries(
            &[
                Metric::MessagesIn,
                Metric::MessagesOut,
                Metric::BytesIn,
                Metric::BytesOut,
            ],
            true,
        )
        .line("Totals: the sum of the hourly mean rates × 3600 over the week.");
        slides.push(slide(
            "Top 10 nodes by traffic".into(),
            vec![Shape::Table(t)],
            notes.finish(h),
        ));
    }

    // 10. Incidents.
    {
        let rows: Vec<Vec<Cell>> = r
            .incidents
            .iter()
            .map(|i| {
                let l = if i.what == "down" {
                    Light::Red
                } else {
                    Light::Amber
                };
                vec![
                    Cell::new(local(i.start, tz)),
                    Cell::new(duration(i.duration)).right(),
                    Cell::new(i.node.clone()),
                    Cell::new(i.role.clone()),
                    cell(i.what.clone(), l),
                ]
            })
            .collect();
        slides.extend(paged_table(
            "Incidents",
            &[9, 6, 10, 6, 20],
            &["Start", "Duration", "Node", "Role", "What"],
            rows,
            "No node was down or out of its SLO this week.",
            || {
                Notes::new(&r.this, prev, "Every interval a node was down (to the minute) or over an SLO target (to the hour), in order of start.")
                    .queries(&[Metric::Up, Metric::LatencyP99, Metric::Backlog, Metric::Errors], false)
            },
        ));
    }

    // 11+. One appendix per role: small multiples of messages in/out per hour.
    for role in &r.roles {
        let panels: Vec<Small> = r
            .this
            .nodes
            .iter()
            .filter(|(_, d)| d.role == role.role)
            .map(|(n, d)| Small {
                name: n.clone(),
                a: d.get(Metric::MessagesIn)
                    .map_or_else(|| vec![f64::NAN; hours.len()], |v| v.to_vec()),
                b: d.get(Metric::MessagesOut)
                    .map_or_else(|| vec![f64::NAN; hours.len()], |v| v.to_vec()),
            })
            .collect();
        let pages = panels.len().div_ceil(PANELS_PER_SLIDE);
        for (i, chunk) in panels.chunks(PANELS_PER_SLIDE).enumerate() {
            let rect = Rect::new(MARGIN, TOP, WIDTH, HEIGHT);
            let png = charts::small_multiples(
                "Messages per second (hourly mean), per node",
                ("in", "out"),
                (ACCENTS[0], ACCENTS[1]),
                chunk,
                4,
                (px(rect.w), px(rect.h)),
            )?;
            let mut h = DataHash::default();
            for p in chunk {
                h.values(&format!("{} in", p.name), &p.a);
                h.values(&format!("{} out", p.name), &p.b);
            }
            let notes = Notes::new(&r.this, prev, &format!("Appendix for role {}: each node's messages in and out per second, hourly mean; breaks in a line are gaps.", role.role))
                .queries(&[Metric::MessagesIn, Metric::MessagesOut], false);
            slides.push(slide(
                paged_title(&format!("Appendix: {}", role.role), i, pages),
                vec![Shape::Picture(Picture {
                    rect,
                    png,
                    description: format!(
                        "Small multiples of messages in and out for the {} nodes",
                        role.role
                    ),
                })],
                notes.finish(h),
            ));
        }
    }

    // Last: data quality and method.
    {
        let rows: Vec<Vec<Cell>> = r
            .this
            .queries
            .iter()
            .map(|q| {
                let expected = r
                    .this
                    .nodes
                    .values()
                    .filter(|n| n.get(q.metric).is_some())
                    .count()
                    * q.metric.points_due(p, r.this.as_of);
                let missing = expected.saturating_sub(q.samples);
                vec![
                    Cell::new(q.expr.clone()),
                    Cell::new(format!("{} s", q.step)).right(),
                    Cell::new(q.requests.to_string()).right(),
                    Cell::new(q.series.to_string()).right(),
                    Cell::new(q.samples.to_string()).right(),
                    cell(
                        missing.to_string(),
                        if missing == 0 {
                            Light::Green
                        } else {
                            Light::Amber
                        },
                    ),
                ]
            })
            .collect();
        let t = table(
            Rect::new(MARGIN, TOP, WIDTH, 0),
            &[30, 5, 5, 5, 7, 7],
            &[
                "PromQL (this week)",
                "Step",
                "Requests",
                "Series",
                "Points",
                "Missing",
            ],
            rows,
            10.0,
        );
        let mut h = DataHash::default();
        h.table(&t);
        let notes = Notes::new(&r.this, prev, "Method: every query, its step, how many range requests it took (split under Prometheus's 11,000 points per series), the series and points it returned, and the points missing from series that exist (gaps; never filled in).")
            .line(format!("Range: {} to {} ({}). The previous week, for comparisons, is the same queries seven days earlier{}.",
                crate::format::rfc3339(p.start.timestamp(), tz), crate::format::rfc3339(p.end.timestamp(), tz), tz.name(),
                if prev.is_some() { "" } else { " (the source had no data for it)" }))
            .line("Hourly values are evaluated at the end of each hour over the hour before ([1h]); health each minute.");
        slides.push(slide(
            "Data quality and method".into(),
            vec![Shape::Table(t)],
            notes.finish(h),
        ));

        let gap_rows: Vec<Vec<Cell>> = r
            .gaps
            .iter()
            .map(|g| {
                vec![
                    Cell::new(g.node.clone()),
                    Cell::new(g.metric),
                    Cell::new(local(g.start, tz)),
                    Cell::new(local(g.end, tz)),
                    Cell::new(duration(g.end - g.start)).right(),
                ]
            })
            .collect();
        slides.extend(paged_table(
            "Data quality: gaps",
            &[10, 16, 9, 9, 6],
            &["Node", "Series", "From", "To", "Length"],
            gap_rows,
            "No gaps: every series that exists has a point at every step.",
            || {
                Notes::new(&r.this, prev, "Every run of missing points in a node's series (a gap is drawn as a gap, never filled).")
                    .queries(&Metric::ALL, false)
            },
        ));
    }

    Ok(Deck {
        title: format!("meshscope weekly report {}", p.week),
        subject: format!("Messaging health, {} ({})", p.dates(), tz.name()),
        created: meta.generated,
        generator: format!("meshscope {}", meta.version),
        slides,
    })
}

#[cfg(test)]
mod tests;
