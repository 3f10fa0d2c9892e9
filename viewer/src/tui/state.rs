//! The terminal dashboard's state and its key handling, apart from drawing (so that it
//! is tested by feeding it keys).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::model::{Model, Series};

/// Overview columns, in order; `s` cycles the sort through them.
pub const COLUMNS: [&str; 10] = [
    "node",
    "role",
    "hlth",
    "msg in/s",
    "msg out/s",
    "B in/s",
    "B out/s",
    "backlog",
    "err/s",
    "p99",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Overview,
    Node(String),
    Links,
}

/// What a key asks of the outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Redraw,
    Quit,
    /// Change the time window by this many steps.
    Window(i32),
    Resync,
}

#[derive(Clone, Debug)]
pub struct State {
    pub screen: Screen,
    pub selected: usize,
    pub sort: usize,
    pub filter: String,
    /// Typing a filter after `/`.
    pub editing: bool,
    pub help: bool,
    pub paused: bool,
    /// Shown in the bottom line until the first key (why the viewer is in the terminal).
    pub note: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            screen: Screen::Overview,
            selected: 0,
            sort: 0,
            filter: String::new(),
            editing: false,
            help: false,
            paused: false,
            note: None,
        }
    }
}

/// A row of the overview table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub node: String,
    pub role: String,
    pub up: Option<f64>,
    pub values: [f64; 7],
}

fn cur(m: &Model, node: &str, s: Series) -> f64 {
    m.nodes
        .get(node)
        .and_then(|n| n.series[s.index()].current())
        .unwrap_or(f64::NAN)
}

/// The overview's rows: filtered by name or role, sorted by the chosen column (numbers
/// descending, names ascending).
pub fn rows(m: &Model, st: &State) -> Vec<Row> {
    let f = st.filter.to_lowercase();
    let mut rows: Vec<Row> = m
        .nodes
        .values()
        .filter(|n| {
            f.is_empty() || n.name.to_lowercase().contains(&f) || n.role.to_lowercase().contains(&f)
        })
        .map(|n| Row {
            node: n.name.clone(),
            role: n.role.clone(),
            up: n.up,
            values: [
                cur(m, &n.name, Series::MessagesIn),
                cur(m, &n.name, Series::MessagesOut),
                cur(m, &n.name, Series::BytesIn),
                cur(m, &n.name, Series::BytesOut),
                cur(m, &n.name, Series::Backlog),
                cur(m, &n.name, Series::Errors),
                cur(m, &n.name, Series::LatencyP99),
            ],
        })
        .collect();
    let key = |r: &Row| -> f64 {
        match st.sort {
            2 => r.up.unwrap_or(-1.0),
            c @ 3..=9 => {
                let v = r.values[c - 3];
                if v.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    v
                }
            }
            _ => 0.0,
        }
    };
    match st.sort {
        0 => rows.sort_by(|a, b| a.node.cmp(&b.node)),
        1 => rows.sort_by(|a, b| (&a.role, &a.node).cmp(&(&b.role, &b.node))),
        2 => rows.sort_by(|a, b| key(a).total_cmp(&key(b)).then_with(|| a.node.cmp(&b.node))),
        _ => rows.sort_by(|a, b| key(b).total_cmp(&key(a)).then_with(|| a.node.cmp(&b.node))),
    }
    rows
}

impl State {
    /// Apply a key; `m` is the current model (for drilling down).
    pub fn key(&mut self, k: KeyEvent, m: &Model) -> Action {
        self.note = None;
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.editing {
            match k.code {
                KeyCode::Enter | KeyCode::Esc => self.editing = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected = 0;
            return Action::Redraw;
        }
        if self.help {
            self.help = false;
            return Action::Redraw;
        }
        let n = rows(m, self).len();
        match k.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc => match self.screen {
                Screen::Overview if !self.filter.is_empty() => self.filter.clear(),
                Screen::Overview => {}
                _ => self.screen = Screen::Overview,
            },
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Enter if self.screen == Screen::Overview => {
                if let Some(r) = rows(m, self).get(self.selected) {
                    self.screen = Screen::Node(r.node.clone());
                }
            }
            KeyCode::Char('s') => self.sort = (self.sort + 1) % COLUMNS.len(),
            KeyCode::Char('/') => {
                self.screen = Screen::Overview;
                self.editing = true;
            }
            KeyCode::Char('l') => self.screen = Screen::Links,
            KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('+') | KeyCode::Char('=') => return Action::Window(1),
            KeyCode::Char('-') => return Action::Window(-1),
            KeyCode::Char('r') => return Action::Resync,
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// A click on the overview table's row `row` (0 = first data row).
    pub fn click_row(&mut self, row: usize, m: &Model) {
        if self.screen == Screen::Overview && row < rows(m, self).len() {
            self.selected = row;
        }
    }
}
