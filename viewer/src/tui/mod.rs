//! The terminal dashboard (ratatui + crossterm): the same model and fetch task as the
//! X11 windows, another renderer. It draws on data (at most once per interval) and on
//! input, each frame inside a synchronized update (no flicker over ssh or tmux), and
//! gives the terminal back on every exit: normal, Ctrl-C (a key in raw mode) and panic
//! (ratatui's hook).

pub mod render;
pub mod state;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyEventKind, MouseButton, MouseEventKind};
use ratatui::crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::crossterm::{event::DisableMouseCapture, event::EnableMouseCapture, execute};

use crate::fetch::{Command, Shared};
use crate::x11::app::WINDOWS_MS;
use state::{Action, Screen, State};

/// Gives the terminal back when dropped (after ratatui's own restore on panic too).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

/// Run until `q` or Ctrl-C. `note` is shown until the first key (e.g. why there is no
/// X11 window).
pub fn run(shared: Shared, interval: Duration, note: Option<String>) -> io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let _restore = Restore;
    execute!(io::stdout(), EnableMouseCapture)?;
    let mut changed = shared.changed.clone();
    let mut st = State {
        note,
        ..State::default()
    };
    let mut window_ms = shared.lock().window_ms;
    let mut shown = shared.lock().clone();
    let mut dirty = true;
    let mut last_draw = Instant::now() - interval;
    loop {
        let data = changed.has_changed().unwrap_or(false);
        if dirty || (data && last_draw.elapsed() >= interval) {
            if data {
                changed.borrow_and_update();
            }
            // Paused: the screen keeps what it showed.
            if !st.paused {
                shown = shared.lock().clone();
            }
            let mut out = io::stdout();
            execute!(out, BeginSynchronizedUpdate)?;
            terminal.draw(|f| render::draw(f, &shown, &st, window_ms))?;
            execute!(out, EndSynchronizedUpdate)?;
            out.flush()?;
            last_draw = Instant::now();
            dirty = false;
        }
        if !event::poll(Duration::from_millis(50))? {
            continue;
        }
        // Keys act on what is on the screen.
        let m = &shown;
        match event::read()? {
            Event::Key(k) if k.kind == KeyEventKind::Press => match st.key(k, m) {
                Action::Quit => return Ok(()),
                Action::Redraw => dirty = true,
                Action::Window(d) => {
                    let i = WINDOWS_MS.iter().position(|w| *w >= window_ms).unwrap_or(3) as i32;
                    let j = (i + d).clamp(0, WINDOWS_MS.len() as i32 - 1) as usize;
                    if WINDOWS_MS[j] != window_ms {
                        window_ms = WINDOWS_MS[j];
                        shared.send(Command::Window(window_ms));
                    }
                    dirty = true;
                }
                Action::Resync => shared.send(Command::Resync),
                Action::None => {}
            },
            // The overview table starts at row 3 (summary, border, header).
            Event::Mouse(me)
                if me.kind == MouseEventKind::Down(MouseButton::Left)
                    && st.screen == Screen::Overview
                    && me.row >= 3 =>
            {
                // Rows scroll with the selection (see render::overview); a note line
                // above the table shifts it down by one.
                let top = 3 + u16::from(st.note.is_some());
                let h = terminal.size().map_or(24, |s| s.height);
                let visible = usize::from(h.saturating_sub(top + 1)).max(1);
                let first = st.selected.saturating_sub(visible - 1);
                if me.row >= top {
                    st.click_row(first + usize::from(me.row - top), m);
                }
                dirty = true;
            }
            Event::Resize(..) => dirty = true,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render::draw;
    use super::state::{Screen, State};
    use crate::model::{Link, Model, Series};
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;

    /// A deterministic model: six nodes of several roles, ten minutes of data.
    fn model() -> Model {
        let mut m = Model::new("http://127.0.0.1:9477", 600_000, 1000);
        let nodes = [
            ("kafka-0", "kafka", 0.0),
            ("kafka-1", "kafka", 1.0),
            ("nats-0", "nats", 1.0),
            ("pulsar-0", "pulsar", 1.0),
            ("rabbitmq-0", "rabbitmq", 1.0),
            ("router-0", "router", 1.0),
        ];
        for (i, (n, r, up)) in nodes.iter().enumerate() {
            for t in 0..600 {
                let base = 100.0 * (i + 1) as f64;
                let wave = ((t as f64) / 30.0 + i as f64).sin() * base * 0.2;
                for s in Series::ALL {
                    let v = match s {
                        Series::BytesIn | Series::BytesOut => (base + wave) * 700.0,
                        Series::LatencyP50 => 0.004 * (i + 1) as f64,
                        Series::LatencyP99 => 0.04 * (i + 1) as f64,
                        Series::Backlog => (i * 10) as f64,
                        Series::Errors | Series::Drops => 0.1 * i as f64,
                        _ => base + wave,
                    };
                    m.add(s.record(), n, r, 1_000_000 + t * 1000, v);
                }
            }
            m.add(crate::model::UP, n, r, 1_600_000, *up);
        }
        m.set_links(vec![
            Link {
                src: "pulsar-0".into(),
                dst: "nats-0".into(),
                service: None,
                messages: 120.0,
                bytes: 96_000.0,
                bgp_up: None,
            },
            Link {
                src: "nats-0".into(),
                dst: "kafka-1".into(),
                service: Some("kafka".into()),
                messages: 80.0,
                bytes: 64_000.0,
                bgp_up: None,
            },
        ]);
        m
    }

    fn render(m: &Model, st: &State, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, m, st, 600_000)).unwrap();
        format!("{}", t.backend())
    }

    fn press(st: &mut State, m: &Model, c: KeyCode) {
        st.key(KeyEvent::new(c, KeyModifiers::NONE), m);
    }

    #[test]
    fn every_screen_at_80x24_and_200x60() {
        let m = model();
        for (w, h) in [(80u16, 24u16), (200, 60)] {
            let mut st = State::default();
            insta::assert_snapshot!(format!("overview_{w}x{h}"), render(&m, &st, w, h));
            st.screen = Screen::Node("pulsar-0".into());
            insta::assert_snapshot!(format!("node_{w}x{h}"), render(&m, &st, w, h));
            st.screen = Screen::Links;
            insta::assert_snapshot!(format!("links_{w}x{h}"), render(&m, &st, w, h));
            st.screen = Screen::Overview;
            st.help = true;
            insta::assert_snapshot!(format!("help_{w}x{h}"), render(&m, &st, w, h));
        }
    }

    #[test]
    fn firing_alerts_are_counted_listed_and_marked_on_their_node() {
        let mut m = model();
        let out = render(&m, &State::default(), 120, 30);
        assert!(!out.contains("alerts firing"), "{out}");
        m.alerts = crate::model::alerts_from(
            &[
                [
                    ("alertname", "MeshLatencyHigh"),
                    ("node", "pulsar-0"),
                    ("severity", "warning"),
                ],
                [
                    ("alertname", "MeshNodeDown"),
                    ("node", "kafka-0"),
                    ("severity", "critical"),
                ],
            ]
            .map(|l| {
                l.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
        );
        let out = render(&m, &State::default(), 120, 30);
        assert!(out.contains("| 2 alerts firing"), "{out}");
        let list = out.split("alerts firing ").nth(2).unwrap_or_default();
        let first = list.find("MeshNodeDown").expect("listed");
        let second = list.find("MeshLatencyHigh").expect("listed");
        assert!(first < second, "critical first: {out}");
        let row = out
            .lines()
            .find(|l| l.contains("pulsar-0"))
            .unwrap_or_default();
        assert!(row.contains("up!"), "{row}");
        let row = out
            .lines()
            .find(|l| l.contains("kafka-0 "))
            .unwrap_or_default();
        assert!(row.contains("DOWN"), "{row}");
    }

    #[test]
    fn sorting_filtering_and_drilling_down_follow_the_keys() {
        let m = model();
        let mut st = State::default();
        let names = |st: &State| -> Vec<String> {
            super::state::rows(&m, st)
                .into_iter()
                .map(|r| r.node)
                .collect()
        };
        assert_eq!(names(&st)[0], "kafka-0");
        // s three times: sort by messages in, busiest first.
        for _ in 0..3 {
            press(&mut st, &m, KeyCode::Char('s'));
        }
        assert_eq!(super::state::COLUMNS[st.sort], "msg in/s");
        assert_eq!(names(&st)[0], "router-0");
        // Filter by role.
        press(&mut st, &m, KeyCode::Char('/'));
        for c in "kafka".chars() {
            press(&mut st, &m, KeyCode::Char(c));
        }
        press(&mut st, &m, KeyCode::Enter);
        assert_eq!(names(&st), vec!["kafka-1", "kafka-0"]);
        // Down, Enter: the second row's node.
        press(&mut st, &m, KeyCode::Down);
        press(&mut st, &m, KeyCode::Enter);
        assert_eq!(st.screen, Screen::Node("kafka-0".into()));
        assert!(render(&m, &st, 80, 24).contains("kafka-0 (kafka) DOWN"));
        press(&mut st, &m, KeyCode::Esc);
        assert_eq!(st.screen, Screen::Overview);
        press(&mut st, &m, KeyCode::Esc);
        assert!(st.filter.is_empty());
        // Why the terminal was chosen: the first line, until a key.
        let mut st = State {
            note: Some("terminal dashboard: no X display".into()),
            ..State::default()
        };
        assert!(render(&m, &st, 80, 24).starts_with("\"terminal dashboard: no X display"));
        press(&mut st, &m, KeyCode::Char('j'));
        assert!(st.note.is_none());
        // Tiny terminals do not panic.
        for (w, h) in [(1, 1), (10, 3), (29, 7), (30, 8), (40, 9)] {
            for screen in [
                Screen::Overview,
                Screen::Node("pulsar-0".into()),
                Screen::Links,
            ] {
                let st = State {
                    screen,
                    help: true,
                    ..State::default()
                };
                render(&m, &st, w, h);
            }
        }
    }
}
