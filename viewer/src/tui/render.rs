//! Drawing the terminal dashboard with ratatui (pure functions of the model and state, so
//! that they are tested on a `TestBackend`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table,
};
use ratatui::Frame;

use super::state::{rows, Screen, State, COLUMNS};
use crate::fetch::now_ms;
use crate::model::{human, Model, Series};

/// A chart's line: its legend, colour and points (seconds before now, value).
type ChartLine = (String, Color, Vec<(f64, f64)>);

const SPARK: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `n` points of a node's series as a one-line sparkline.
fn sparkline(m: &Model, node: &str, s: Series, n: usize) -> String {
    let Some(r) = m.nodes.get(node).map(|x| &x.series[s.index()]) else {
        return String::new();
    };
    let pts: Vec<f64> = r
        .iter()
        .skip(r.len().saturating_sub(n))
        .map(|p| p.1)
        .collect();
    let max = pts
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    pts.iter()
        .map(|v| {
            if !v.is_finite() {
                ' '
            } else if max <= 0.0 {
                SPARK[0]
            } else {
                SPARK[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

fn health(up: Option<f64>) -> (&'static str, Color) {
    match up {
        Some(v) if v >= 1.0 => ("up", Color::Green),
        Some(_) => ("DOWN", Color::Red),
        None => ("?", Color::DarkGray),
    }
}

fn status(m: &Model, st: &State, window_ms: i64) -> Line<'static> {
    let age = m.last_ok_ms.map(|t| (now_ms() - t).max(0) / 1000);
    let mut spans = vec![];
    match (&m.error, age) {
        (Some(e), None) => spans.push(Span::styled(
            format!("waiting for {}: {e}", m.source),
            Style::new().fg(Color::Red),
        )),
        (Some(e), Some(a)) => spans.push(Span::styled(
            format!("{} unreachable, data {a}s old: {e}", m.source),
            Style::new().fg(Color::Red),
        )),
        (None, None) => spans.push(Span::raw(format!("waiting for {}", m.source))),
        (None, Some(a)) => spans.push(Span::raw(format!(
            "{} | data {a}s old | window {}m",
            m.source,
            window_ms / 60_000
        ))),
    }
    if st.paused {
        spans.push(Span::styled(" | paused", Style::new().fg(Color::Yellow)));
    }
    spans.push(Span::styled(
        " | ? help  q quit",
        Style::new().fg(Color::DarkGray),
    ));
    Line::from(spans)
}

/// Draw one frame.
pub fn draw(f: &mut Frame, m: &Model, st: &State, window_ms: i64) {
    let area = f.area();
    if area.width < 30 || area.height < 8 {
        f.render_widget(Paragraph::new("meshscope: the terminal is too small"), area);
        return;
    }
    // Why the viewer is in the terminal, on the first line until the first key.
    let note_h = u16::from(st.note.is_some());
    let [note, main, foot] = Layout::vertical([
        Constraint::Length(note_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(n) = &st.note {
        let line = Line::from(Span::styled(n.clone(), Style::new().fg(Color::Yellow)));
        f.render_widget(Paragraph::new(line), note);
    }
    match &st.screen {
        Screen::Overview => overview(f, main, m, st),
        Screen::Node(n) => node(f, main, m, n),
        Screen::Links => links(f, main, m),
    }
    let foot_line = if st.editing || !st.filter.is_empty() && st.screen == Screen::Overview {
        Line::from(vec![
            Span::styled("filter: ", Style::new().fg(Color::Yellow)),
            Span::raw(st.filter.clone()),
            Span::raw(if st.editing { "_" } else { "" }),
        ])
    } else {
        status(m, st, window_ms)
    };
    f.render_widget(Paragraph::new(foot_line), foot);
    if st.help {
        help(f, area);
    }
}

fn overview(f: &mut Frame, area: Rect, m: &Model, st: &State) {
    let rs = rows(m, st);
    let up = m
        .nodes
        .values()
        .filter(|n| n.up.is_some_and(|v| v >= 1.0))
        .count();
    let down = m
        .nodes
        .values()
        .filter(|n| n.up.is_some_and(|v| v < 1.0))
        .count();
    let total = |s: Series| -> f64 {
        m.nodes
            .values()
            .filter_map(|n| n.series[s.index()].current())
            .sum()
    };
    let summary = Line::from(vec![
        Span::styled(
            format!("{} nodes ", m.nodes.len()),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{up} up "), Style::new().fg(Color::Green)),
        Span::styled(
            format!("{down} down "),
            Style::new().fg(if down > 0 {
                Color::Red
            } else {
                Color::DarkGray
            }),
        ),
        Span::raw(format!(
            "| in {} | out {} | backlog {} | errors {}",
            human(total(Series::MessagesIn), "msg/s"),
            human(total(Series::MessagesOut), "msg/s"),
            human(total(Series::Backlog), ""),
            human(total(Series::Errors), "/s"),
        )),
        if m.alerts.is_empty() {
            Span::raw("")
        } else {
            Span::styled(
                format!(" | {} alerts firing", m.alerts.len()),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            )
        },
    ]);
    // The firing alerts, most severe first, under the table (a few lines at most).
    let alerts_h = if m.alerts.is_empty() || area.height < 12 {
        0
    } else {
        m.alerts.len().min(5) as u16 + 1
    };
    let [top, table_area, alerts_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(alerts_h),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(summary), top);
    if alerts_h > 0 {
        alerts(f, alerts_area, m);
    }
    let wide = area.width >= 120;
    let mut header: Vec<Cell> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let t = if i == st.sort {
                format!("{c}▼")
            } else {
                c.to_string()
            };
            Cell::from(t).style(Style::new().add_modifier(Modifier::BOLD))
        })
        .collect();
    if wide {
        header.push(Cell::from("msgs in (trend)").style(Style::new().add_modifier(Modifier::BOLD)));
    }
    // Only the rows that fit are built (scrolled so that the selection shows): a frame
    // of a large mesh costs what the screen shows, not the mesh.
    let visible = usize::from(table_area.height.saturating_sub(2)).max(1);
    let first = st.selected.saturating_sub(visible - 1);
    let body: Vec<Row> = rs
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(i, r)| {
            let (mut h, mut color) = health(r.up);
            // Up, but with alerts firing about it.
            if h == "up" && m.alerts_on(&r.node) > 0 {
                (h, color) = ("up!", Color::Yellow);
            }
            let mut cells = vec![
                Cell::from(r.node.clone()),
                Cell::from(r.role.clone()),
                Cell::from(h).style(Style::new().fg(color)),
                Cell::from(human(r.values[0], "")),
                Cell::from(human(r.values[1], "")),
                Cell::from(human(r.values[2], "B")),
                Cell::from(human(r.values[3], "B")),
                Cell::from(human(r.values[4], "")),
                Cell::from(human(r.values[5], "")),
                Cell::from(human(r.values[6], "s")),
            ];
            if wide {
                cells.push(
                    Cell::from(sparkline(m, &r.node, Series::MessagesIn, 24))
                        .style(Style::new().fg(Color::Cyan)),
                );
            }
            let style = if i == st.selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Row::new(cells).style(style)
        })
        .collect();
    // Fits 80 columns; wider terminals get the trend column.
    let mut widths = vec![
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(8),
    ];
    if wide {
        widths.push(Constraint::Min(10));
    }
    let t = Table::new(body, widths).header(Row::new(header)).block(
        Block::new()
            .borders(Borders::TOP)
            .title(" mesh overview: Enter opens a node, s sorts, / filters, l links "),
    );
    f.render_widget(t, table_area);
}

/// The firing alerts, most severe first.
fn alerts(f: &mut Frame, area: Rect, m: &Model) {
    let shown = usize::from(area.height.saturating_sub(1));
    let mut lines: Vec<Line> = m
        .alerts
        .iter()
        .take(shown)
        .map(|a| {
            let color = match a.severity.as_str() {
                "critical" | "page" => Color::Red,
                "warning" => Color::Yellow,
                _ => Color::Reset,
            };
            Line::from(vec![
                Span::styled(format!("{:<9}", a.severity), Style::new().fg(color)),
                Span::raw(format!("{:<34} {}", a.name, a.node)),
            ])
        })
        .collect();
    if m.alerts.len() > shown && shown > 0 {
        lines.pop();
        lines.push(Line::from(Span::styled(
            format!("… and {} more", m.alerts.len() - shown + 1),
            Style::new().fg(Color::DarkGray),
        )));
    }
    f.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::TOP).title(" alerts firing ")),
        area,
    );
}

fn chart<'a>(title: &'a str, unit: &'a str, data: &'a [ChartLine], window_s: f64) -> Chart<'a> {
    let mut head = vec![Span::raw(format!(" {title} "))];
    for (name, color, _) in data {
        head.push(Span::styled(format!(" {name} "), Style::new().fg(*color)));
    }
    let max = data
        .iter()
        .flat_map(|d| d.2.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = if max > 0.0 { max * 1.15 } else { 1.0 };
    let sets = data
        .iter()
        .map(|(name, color, pts)| {
            Dataset::default()
                .name(name.as_str())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(*color))
                .data(pts)
        })
        .collect();
    Chart::new(sets)
        .block(Block::new().borders(Borders::ALL).title(Line::from(head)))
        .hidden_legend_constraints((Constraint::Length(0), Constraint::Length(0)))
        .x_axis(Axis::default().bounds([-window_s, 0.0]))
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels([Span::raw("0"), Span::raw(human(top, unit))]),
        )
}

fn node(f: &mut Frame, area: Rect, m: &Model, name: &str) {
    let Some(n) = m.nodes.get(name) else {
        f.render_widget(
            Paragraph::new(format!("{name}: no data yet (Esc goes back)")),
            area,
        );
        return;
    };
    let (h, color) = health(n.up);
    let head = Line::from(vec![
        Span::styled(
            format!("{} ({}) ", n.name, n.role),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(h, Style::new().fg(color)),
        Span::styled("   Esc back", Style::new().fg(Color::DarkGray)),
    ]);
    let [top, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(4)]).areas(area);
    f.render_widget(Paragraph::new(head), top);
    let newest = n
        .series
        .iter()
        .filter_map(|r| r.last().map(|p| p.0))
        .max()
        .unwrap_or(0);
    let window_s = m.window_ms as f64 / 1000.0;
    let pts = |s: Series| -> Vec<(f64, f64)> {
        n.series[s.index()]
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|p| ((p.0 - newest) as f64 / 1000.0, p.1))
            .collect()
    };
    let line = |s: Series, unit: &str, color: Color| -> ChartLine {
        let v = n.series[s.index()].current().unwrap_or(f64::NAN);
        (format!("{} {}", s.label(), human(v, unit)), color, pts(s))
    };
    let (a, b) = (Color::Cyan, Color::Yellow);
    let charts: [(&str, &str, Vec<ChartLine>); 5] = [
        (
            "messages",
            "msg/s",
            vec![
                line(Series::MessagesIn, "msg/s", a),
                line(Series::MessagesOut, "msg/s", b),
            ],
        ),
        (
            "bytes",
            "B/s",
            vec![
                line(Series::BytesIn, "B/s", a),
                line(Series::BytesOut, "B/s", b),
            ],
        ),
        ("backlog", "", vec![line(Series::Backlog, "msgs", a)]),
        (
            "errors / drops",
            "/s",
            vec![line(Series::Errors, "/s", a), line(Series::Drops, "/s", b)],
        ),
        (
            "latency",
            "s",
            vec![
                line(Series::LatencyP50, "s", a),
                line(Series::LatencyP99, "s", b),
            ],
        ),
    ];
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(70), Constraint::Percentage(30)]).areas(rest);
    let cells = Layout::vertical([Constraint::Ratio(1, 5); 5]).split(left);
    for (i, (title, unit, data)) in charts.iter().enumerate() {
        f.render_widget(chart(title, unit, data, window_s), cells[i]);
    }
    let mut peers: Vec<(String, &crate::model::Link)> = m
        .links
        .iter()
        .filter_map(|l| {
            if l.src == name {
                Some((format!("-> {}", l.dst), l))
            } else if l.dst == name {
                Some((format!("<- {}", l.src), l))
            } else {
                None
            }
        })
        .collect();
    peers.sort_by(|a, b| b.1.messages.total_cmp(&a.1.messages));
    let prow: Vec<Row> = peers
        .iter()
        .map(|(p, l)| {
            Row::new(vec![
                Cell::from(p.clone()),
                Cell::from(l.carries()),
                Cell::from(human(l.bytes, "B/s")),
            ])
        })
        .collect();
    let t = Table::new(
        prow,
        [
            Constraint::Min(10),
            Constraint::Length(12),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(["peer", "messages", "bytes"]).style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::new().borders(Borders::ALL).title(" peers "));
    f.render_widget(t, right);
}

fn links(f: &mut Frame, area: Rect, m: &Model) {
    let mut ls: Vec<_> = m.links.iter().collect();
    ls.sort_by(|a, b| b.messages.total_cmp(&a.messages));
    let body: Vec<Row> = ls
        .iter()
        .map(|l| {
            Row::new(vec![
                Cell::from(l.src.clone()),
                Cell::from(l.dst.clone()),
                Cell::from(l.carries()),
                Cell::from(human(l.bytes, "B/s")),
            ])
        })
        .collect();
    let t = Table::new(
        body,
        [
            Constraint::Length(16),
            Constraint::Length(16),
            Constraint::Length(14),
            Constraint::Length(12),
        ],
    )
    .header(
        Row::new(["from", "to", "messages", "bytes"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(
        Block::new()
            .borders(Borders::TOP)
            .title(" links by traffic (Esc back) "),
    );
    f.render_widget(t, area);
}

fn help(f: &mut Frame, area: Rect) {
    let text = [
        "arrows / j k   move",
        "Enter          open the node",
        "Esc            back (clears a filter)",
        "s              sort by the next column",
        "/              filter by name or role",
        "l              links by traffic",
        "p              pause",
        "+ / -          time window (1m ... 1h)",
        "r              re-sync",
        "q / Ctrl-C     quit",
        "",
        "any key closes this help",
    ];
    let w = 44.min(area.width);
    let h = (text.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let p = Paragraph::new(text.iter().map(|l| Line::raw(*l)).collect::<Vec<_>>())
        .block(Block::new().borders(Borders::ALL).title(" keys "));
    f.render_widget(p, r);
}
