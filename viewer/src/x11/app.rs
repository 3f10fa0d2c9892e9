//! The windows: an overview of the mesh and one window per node, drawn with core X11
//! requests only. Built for the wire:
//! - no request with a reply after start-up (atoms, the font's metrics and the keyboard
//!   map are fetched once, pipelined, in a constant number of round trips);
//! - charts live in server-side pixmaps and scroll with `CopyArea` (graphics exposures
//!   off); only the newest columns are drawn, then the chart is copied to the window in
//!   one request: nothing visible is cleared and redrawn, so nothing flickers;
//! - text uses the core font `fixed`, which every X server has (XQuartz and VcXsrv
//!   included), drawn with `ImageText8` (which paints its own background) and only when
//!   it changed;
//! - each window's frame is one flush.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::xproto::*;
use x11rb::protocol::Event;
use x11rb::wrapper::ConnectionExt as _;

use super::conn::{Conn, Counters};
use crate::fetch::{now_ms, Command, Shared};
use crate::model::{human, Model, Series};

/// Why the viewer stopped other than by closing its last window.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error("the X connection was lost: {0}")]
    ConnectionLost(String),
}

impl From<ConnectionError> for ViewerError {
    fn from(e: ConnectionError) -> Self {
        ViewerError::ConnectionLost(e.to_string())
    }
}

impl From<ReplyError> for ViewerError {
    fn from(e: ReplyError) -> Self {
        ViewerError::ConnectionLost(e.to_string())
    }
}

impl From<ReplyOrIdError> for ViewerError {
    fn from(e: ReplyOrIdError) -> Self {
        ViewerError::ConnectionLost(e.to_string())
    }
}

type Res<T> = Result<T, ViewerError>;

/// Time windows `+`/`-` step through.
pub const WINDOWS_MS: [i64; 7] = [
    60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
];

/// The node window's charts: title, series, unit.
const CHARTS: [(&str, &[Series], &str); 5] = [
    (
        "messages",
        &[Series::MessagesIn, Series::MessagesOut],
        "msg/s",
    ),
    ("bytes", &[Series::BytesIn, Series::BytesOut], "B/s"),
    ("backlog", &[Series::Backlog], "msgs"),
    ("errors / drops", &[Series::Errors, Series::Drops], "/s"),
    ("latency", &[Series::LatencyP50, Series::LatencyP99], "s"),
];

/// The colours (0xRRGGBB) each drawing context carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ink {
    Fg,
    Dim,
    Grid,
    A,
    B,
    Up,
    Down,
    Unknown,
    Link,
    Bg,
}

const INKS: [(Ink, u32); 10] = [
    (Ink::Fg, 0xd8dee9),
    (Ink::Dim, 0x7b8494),
    (Ink::Grid, 0x2e3440),
    (Ink::A, 0x4fc3f7),
    (Ink::B, 0xffb74d),
    (Ink::Up, 0x66bb6a),
    (Ink::Down, 0xef5350),
    (Ink::Unknown, 0x9e9e9e),
    (Ink::Link, 0x5c6bc0),
    (Ink::Bg, 0x14181f),
];

/// What the viewer opens.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Node windows to open at start.
    pub nodes: Vec<String>,
    /// Open the overview window.
    pub overview: bool,
    /// Roles known at start (window titles carry them before the first fetch).
    pub roles: HashMap<String, String>,
    /// Set from outside (Ctrl-C) to close every window and return.
    pub stop: Option<Arc<std::sync::atomic::AtomicBool>>,
}

struct Res0 {
    wm_protocols: Atom,
    wm_delete: Atom,
    net_wm_name: Atom,
    utf8: Atom,
    ascent: i16,
    descent: i16,
    char_w: i16,
    /// Every glyph of the font is `char_w` wide (`fixed` is), so a run of characters can
    /// be redrawn in place.
    mono: bool,
    keysyms: HashMap<u8, Vec<u32>>,
    gcs: HashMap<Ink, Gcontext>,
    bg: u32,
    root: Window,
    depth: u8,
    visual: Visualid,
}

impl Res0 {
    fn line_h(&self) -> i16 {
        self.ascent + self.descent + 2
    }

    fn gc(&self, i: Ink) -> Gcontext {
        self.gcs.get(&i).copied().unwrap_or(0)
    }
}

/// A pixel value for 0xRRGGBB on the screen's visual (TrueColor: from its masks, no
/// AllocColor round trips; anything else: black or white).
fn pixel(v: &Visualtype, rgb: u32, white: u32, black: u32) -> u32 {
    if v.class != VisualClass::TRUE_COLOR && v.class != VisualClass::DIRECT_COLOR {
        let lum = ((rgb >> 16) & 0xff) + ((rgb >> 8) & 0xff) + (rgb & 0xff);
        return if lum > 3 * 0x60 { white } else { black };
    }
    let chan = |val: u32, mask: u32| -> u32 {
        if mask == 0 {
            return 0;
        }
        let shift = mask.trailing_zeros();
        let bits = (mask >> shift).count_ones();
        ((val * ((1 << bits) - 1) / 255) << shift) & mask
    };
    chan((rgb >> 16) & 0xff, v.red_mask)
        | chan((rgb >> 8) & 0xff, v.green_mask)
        | chan(rgb & 0xff, v.blue_mask)
}

struct Chart {
    idx: usize,
    x: i16,
    y: i16,
    w: u16,
    h: u16,
    pix: Pixmap,
    scale: f64,
    last_t: Option<i64>,
    step: i64,
}

struct NodeWin {
    win: Window,
    node: String,
    w: u16,
    h: u16,
    charts: Vec<Chart>,
    texts: HashMap<u32, String>,
    paused: bool,
    wire: Wire,
}

struct OverviewWin {
    win: Window,
    w: u16,
    h: u16,
    pix: Pixmap,
    gw: u16,
    gh: u16,
    pos: Vec<(String, i16, i16)>,
    scene: Vec<u8>,
    texts: HashMap<u32, String>,
    list_x: i16,
    list_y: i16,
    wire: Wire,
}

/// The bytes a window's frames sent, and the rate shown in its status line (over about
/// five seconds).
struct Wire {
    sent: u64,
    mark: (Instant, u64),
    rate: f64,
}

impl Wire {
    fn new() -> Wire {
        Wire {
            sent: 0,
            mark: (Instant::now(), 0),
            rate: 0.0,
        }
    }

    fn add(&mut self, bytes: u64) {
        self.sent += bytes;
        let el = self.mark.0.elapsed();
        if el >= Duration::from_secs(5) {
            self.rate = (self.sent - self.mark.1) as f64 / el.as_secs_f64();
            self.mark = (Instant::now(), self.sent);
        }
    }
}

pub struct App {
    roles: HashMap<String, String>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    conn: Conn,
    counters: Arc<Counters>,
    r: Res0,
    shared: Shared,
    nodes: Vec<NodeWin>,
    overview: Option<OverviewWin>,
    window_ms: i64,
}

/// Open the windows and run until the last one closes.
pub fn run(
    conn: Conn,
    screen: usize,
    counters: Arc<Counters>,
    shared: Shared,
    opts: Options,
) -> Res<()> {
    let window_ms = shared.lock().window_ms;
    let r = setup(&conn, screen)?;
    let mut app = App {
        roles: opts.roles.clone(),
        stop: opts.stop.clone(),
        conn,
        counters,
        r,
        shared,
        nodes: Vec::new(),
        overview: None,
        window_ms,
    };
    if opts.overview {
        app.open_overview()?;
    }
    for n in &opts.nodes {
        app.open_node(n)?;
    }
    app.conn.flush()?;
    app.event_loop()
}

/// Everything that needs a reply, requested at once, then the replies collected: a
/// constant number of round trips whatever the number of windows.
fn setup(conn: &Conn, screen: usize) -> Res<Res0> {
    let setup = conn.setup();
    let scr = &setup.roots[screen.min(setup.roots.len().saturating_sub(1))];
    let visual = scr
        .allowed_depths
        .iter()
        .flat_map(|d| d.visuals.iter())
        .find(|v| v.visual_id == scr.root_visual)
        .cloned();
    let (min_kc, max_kc) = (setup.min_keycode, setup.max_keycode);
    let names: [&[u8]; 4] = [
        b"WM_PROTOCOLS",
        b"WM_DELETE_WINDOW",
        b"_NET_WM_NAME",
        b"UTF8_STRING",
    ];
    let cookies: Vec<_> = names
        .iter()
        .map(|n| conn.intern_atom(false, n))
        .collect::<Result<_, _>>()?;
    let font = conn.generate_id()?;
    conn.open_font(font, b"fixed")?;
    let fq = conn.query_font(font)?;
    let km = conn.get_keyboard_mapping(min_kc, max_kc - min_kc + 1)?;
    let mut atoms = Vec::new();
    for c in cookies {
        atoms.push(c.reply()?.atom);
    }
    let f = fq.reply()?;
    let km = km.reply()?;
    let per = usize::from(km.keysyms_per_keycode.max(1));
    let mut keysyms = HashMap::new();
    for (i, chunk) in km.keysyms.chunks(per).enumerate() {
        keysyms.insert(min_kc.wrapping_add(i as u8), chunk.to_vec());
    }
    let (white, black) = (scr.white_pixel, scr.black_pixel);
    let px = |rgb: u32| {
        visual
            .as_ref()
            .map_or(black, |v| pixel(v, rgb, white, black))
    };
    let bg = px(0x14181f);
    let mut gcs = HashMap::new();
    for (ink, rgb) in INKS {
        let gc = conn.generate_id()?;
        conn.create_gc(
            gc,
            scr.root,
            &CreateGCAux::new()
                .foreground(px(rgb))
                .background(bg)
                .font(font)
                .graphics_exposures(0),
        )?;
        gcs.insert(ink, gc);
    }
    Ok(Res0 {
        wm_protocols: atoms[0],
        wm_delete: atoms[1],
        net_wm_name: atoms[2],
        utf8: atoms[3],
        ascent: f.font_ascent,
        descent: f.font_descent,
        char_w: f.max_bounds.character_width.max(1),
        mono: f.min_bounds.character_width == f.max_bounds.character_width,
        keysyms,
        gcs,
        bg,
        root: scr.root,
        depth: scr.root_depth,
        visual: scr.root_visual,
    })
}

impl App {
    fn create_window(&self, title: &str, w: u16, h: u16) -> Res<Window> {
        let win = self.conn.generate_id()?;
        self.conn.create_window(
            self.r.depth,
            win,
            self.r.root,
            0,
            0,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            self.r.visual,
            &CreateWindowAux::new()
                .background_pixel(self.r.bg)
                .event_mask(
                    EventMask::EXPOSURE
                        | EventMask::KEY_PRESS
                        | EventMask::BUTTON_PRESS
                        | EventMask::STRUCTURE_NOTIFY,
                ),
        )?;
        self.conn.change_property8(
            PropMode::REPLACE,
            win,
            AtomEnum::WM_NAME,
            AtomEnum::STRING,
            title.as_bytes(),
        )?;
        self.conn.change_property8(
            PropMode::REPLACE,
            win,
            self.r.net_wm_name,
            self.r.utf8,
            title.as_bytes(),
        )?;
        self.conn.change_property8(
            PropMode::REPLACE,
            win,
            AtomEnum::WM_CLASS,
            AtomEnum::STRING,
            b"meshscope\0Meshscope\0",
        )?;
        self.conn.change_property32(
            PropMode::REPLACE,
            win,
            self.r.wm_protocols,
            AtomEnum::ATOM,
            &[self.r.wm_delete],
        )?;
        self.conn.map_window(win)?;
        Ok(win)
    }

    fn open_overview(&mut self) -> Res<()> {
        let (w, h) = (900, 600);
        let win = self.create_window("meshscope: mesh overview", w, h)?;
        let mut o = OverviewWin {
            win,
            w,
            h,
            pix: 0,
            gw: 0,
            gh: 0,
            pos: Vec::new(),
            scene: Vec::new(),
            texts: HashMap::new(),
            list_x: 0,
            list_y: 0,
            wire: Wire::new(),
        };
        self.layout_overview(&mut o)?;
        self.overview = Some(o);
        Ok(())
    }

    fn open_node(&mut self, node: &str) -> Res<()> {
        if let Some(n) = self.nodes.iter().find(|n| n.node == node) {
            self.conn.map_window(n.win)?;
            return Ok(());
        }
        let role = self
            .shared
            .lock()
            .nodes
            .get(node)
            .map(|n| n.role.clone())
            .filter(|r| !r.is_empty())
            .or_else(|| self.roles.get(node).cloned())
            .unwrap_or_default();
        let title = if role.is_empty() {
            format!("meshscope: {node}")
        } else {
            format!("meshscope: {node} ({role})")
        };
        let (w, h) = (640, 600);
        let win = self.create_window(&title, w, h)?;
        let mut n = NodeWin {
            win,
            node: node.to_string(),
            w,
            h,
            charts: Vec::new(),
            texts: HashMap::new(),
            paused: false,
            wire: Wire::new(),
        };
        self.layout_node(&mut n)?;
        self.nodes.push(n);
        Ok(())
    }

    /// Chart pixmaps sized for the window (after a resize too).
    fn layout_node(&self, n: &mut NodeWin) -> Res<()> {
        for c in n.charts.drain(..) {
            self.conn.free_pixmap(c.pix)?;
        }
        n.texts.clear();
        let lh = self.r.line_h();
        let m = 6i16;
        let fixed = lh * 2 + lh * 8 + lh; // title, peers header + 7 peers, status
        let avail = (n.h as i16 - fixed - 2 * m).max(5 * (lh + 16));
        let per = avail / CHARTS.len() as i16;
        let sh = (per - lh - 4).max(12) as u16;
        let cw = (n.w as i16 - 2 * m).max(40) as u16;
        let mut y = m + lh + 4;
        for idx in 0..CHARTS.len() {
            let pix = self.conn.generate_id()?;
            self.conn.create_pixmap(self.r.depth, pix, n.win, cw, sh)?;
            n.charts.push(Chart {
                idx,
                x: m,
                y: y + lh,
                w: cw,
                h: sh,
                pix,
                scale: 0.0,
                last_t: None,
                step: 0,
            });
            y += per;
        }
        Ok(())
    }

    fn layout_overview(&self, o: &mut OverviewWin) -> Res<()> {
        if o.pix != 0 {
            self.conn.free_pixmap(o.pix)?;
        }
        let lh = self.r.line_h();
        o.gw = (o.w as f32 * 0.55) as u16;
        o.gh = (o.h as i16 - 2 * lh - 12).max(40) as u16;
        o.pix = self.conn.generate_id()?;
        self.conn
            .create_pixmap(self.r.depth, o.pix, o.win, o.gw, o.gh)?;
        o.list_x = o.gw as i16 + 12;
        o.list_y = 6 + lh;
        o.scene.clear();
        o.texts.clear();
        o.pos.clear();
        Ok(())
    }

    fn event_loop(&mut self) -> Res<()> {
        let mut last_tick = Instant::now();
        let mut force = true;
        loop {
            while let Some(ev) = self.conn.poll_for_event()? {
                self.handle(ev)?;
            }
            if self.nodes.is_empty() && self.overview.is_none() {
                self.conn.flush()?;
                return Ok(());
            }
            if self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
            {
                let wins: Vec<Window> = self
                    .nodes
                    .iter()
                    .map(|n| n.win)
                    .chain(self.overview.as_ref().map(|o| o.win))
                    .collect();
                for w in wins {
                    self.close(w)?;
                }
                return Ok(());
            }
            let changed = self.shared.changed.has_changed().unwrap_or(false);
            if changed || force || last_tick.elapsed() >= Duration::from_secs(1) {
                if changed {
                    self.shared.changed.borrow_and_update();
                }
                self.frame()?;
                last_tick = Instant::now();
                force = false;
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    }

    fn key(&self, code: u8, shift: bool) -> u32 {
        let syms = self.r.keysyms.get(&code);
        let pick = if shift { 1 } else { 0 };
        syms.and_then(|s| {
            s.get(pick)
                .copied()
                .filter(|k| *k != 0)
                .or(s.first().copied())
        })
        .unwrap_or(0)
    }

    fn handle(&mut self, ev: Event) -> Res<()> {
        match ev {
            Event::Expose(e) if e.count == 0 => self.repaint(e.window)?,
            Event::ConfigureNotify(e) => {
                if let Some(i) = self.nodes.iter().position(|n| n.win == e.window) {
                    if (e.width, e.height) != (self.nodes[i].w, self.nodes[i].h) {
                        let mut n = self.nodes.remove(i);
                        n.w = e.width;
                        n.h = e.height;
                        self.layout_node(&mut n)?;
                        self.nodes.insert(i, n);
                    }
                } else if let Some(mut o) = self.overview.take() {
                    if o.win == e.window && (e.width, e.height) != (o.w, o.h) {
                        o.w = e.width;
                        o.h = e.height;
                        self.layout_overview(&mut o)?;
                    }
                    self.overview = Some(o);
                }
            }
            Event::ClientMessage(e)
                if e.type_ == self.r.wm_protocols && e.data.as_data32()[0] == self.r.wm_delete =>
            {
                self.close(e.window)?
            }
            Event::KeyPress(e) => {
                let shift = u16::from(e.state) & u16::from(KeyButMask::SHIFT) != 0;
                match self.key(e.detail, shift) {
                    0x71 | 0xff1b => self.close(e.event)?, // q, Escape
                    0x70 => {
                        // p
                        if let Some(n) = self.nodes.iter_mut().find(|n| n.win == e.event) {
                            n.paused = !n.paused;
                        }
                    }
                    0x2b | 0x3d | 0xffab => self.change_window(1), // +, =, keypad +
                    0x2d | 0xffad => self.change_window(-1),       // -, keypad -
                    0x72 => self.shared.send(Command::Resync),     // r
                    _ => {}
                }
            }
            Event::ButtonPress(e)
                if self.overview.as_ref().is_some_and(|o| o.win == e.event) && e.detail == 1 =>
            {
                if let Some(n) = self.hit(e.event_x, e.event_y) {
                    self.open_node(&n)?;
                    self.conn.flush()?;
                }
            }
            Event::Error(e) => tracing::warn!(error = ?e, "X error"),
            _ => {}
        }
        Ok(())
    }

    fn change_window(&mut self, dir: i32) {
        let i = WINDOWS_MS
            .iter()
            .position(|w| *w >= self.window_ms)
            .unwrap_or(3) as i32;
        let j = (i + dir).clamp(0, WINDOWS_MS.len() as i32 - 1) as usize;
        if WINDOWS_MS[j] != self.window_ms {
            self.window_ms = WINDOWS_MS[j];
            self.shared.send(Command::Window(self.window_ms));
        }
    }

    /// The node under a click in the overview (graph or list).
    fn hit(&self, x: i16, y: i16) -> Option<String> {
        let o = self.overview.as_ref()?;
        if x < o.gw as i16 {
            return o
                .pos
                .iter()
                .map(|(n, px, py)| {
                    (
                        n,
                        (i32::from(*px) - i32::from(x)).pow(2)
                            + (i32::from(*py) - i32::from(y)).pow(2),
                    )
                })
                .filter(|(_, d)| *d <= 14 * 14)
                .min_by_key(|(_, d)| *d)
                .map(|(n, _)| n.clone());
        }
        let lh = self.r.line_h();
        let row = (y - o.list_y - self.r.descent) / lh;
        let names = self.shared.lock().names();
        usize::try_from(row - 1)
            .ok()
            .and_then(|i| names.get(i).cloned())
    }

    fn close(&mut self, win: Window) -> Res<()> {
        if let Some(i) = self.nodes.iter().position(|n| n.win == win) {
            let n = self.nodes.remove(i);
            for c in n.charts {
                self.conn.free_pixmap(c.pix)?;
            }
            self.conn.destroy_window(win)?;
        } else if self.overview.as_ref().is_some_and(|o| o.win == win) {
            if let Some(o) = self.overview.take() {
                self.conn.free_pixmap(o.pix)?;
            }
            self.conn.destroy_window(win)?;
        }
        self.conn.flush()?;
        Ok(())
    }

    fn repaint(&mut self, win: Window) -> Res<()> {
        if let Some(i) = self.nodes.iter().position(|n| n.win == win) {
            let mut n = self.nodes.remove(i);
            n.texts.clear();
            for c in &mut n.charts {
                c.last_t = None;
            }
            let model = self.shared.lock().clone_for(&n.node);
            self.draw_node(&mut n, &model)?;
            self.nodes.insert(i, n);
        } else if let Some(mut o) = self.overview.take() {
            if o.win == win {
                o.texts.clear();
                o.scene.clear();
                let model = self.shared.lock().clone_overview();
                self.draw_overview(&mut o, &model)?;
            }
            self.overview = Some(o);
        }
        Ok(())
    }

    fn frame(&mut self) -> Res<()> {
        let mut nodes = std::mem::take(&mut self.nodes);
        for n in &mut nodes {
            let model = self.shared.lock().clone_for(&n.node);
            self.draw_node(n, &model)?;
        }
        self.nodes = nodes;
        if let Some(mut o) = self.overview.take() {
            let model = self.shared.lock().clone_overview();
            self.draw_overview(&mut o, &model)?;
            self.overview = Some(o);
        }
        Ok(())
    }

    /// Draw `text` at a slot if it changed, padded to `width` characters so that a
    /// shorter text covers the longer one before it.
    #[allow(clippy::too_many_arguments)]
    fn text(
        &self,
        texts: &mut HashMap<u32, String>,
        win: Window,
        slot: u32,
        ink: Ink,
        x: i16,
        y: i16,
        s: &str,
        width: usize,
    ) -> Res<()> {
        let mut t: String = s
            .chars()
            .filter(char::is_ascii)
            .take(width.min(250))
            .collect();
        while t.len() < width.min(250) {
            t.push(' ');
        }
        // Only the changed run of characters goes on the wire (the font is fixed-width,
        // and ImageText8 paints each character's cell): a rate going from "in 277 msg/s"
        // to "in 281 msg/s" costs two characters, not the whole padded field.
        let (from, to) = match texts.get(&slot) {
            Some(old) if *old == t => return Ok(()),
            Some(old) if old.len() == t.len() && self.r.mono => {
                let (a, b) = (old.as_bytes(), t.as_bytes());
                let first = (0..a.len()).find(|&i| a[i] != b[i]).unwrap_or(0);
                let last = (0..a.len()).rfind(|&i| a[i] != b[i]).unwrap_or(first);
                (first, last + 1)
            }
            _ => (0, t.len()),
        };
        self.conn.image_text8(
            win,
            self.r.gc(ink),
            x + from as i16 * self.r.char_w,
            y,
            &t.as_bytes()[from..to],
        )?;
        texts.insert(slot, t);
        Ok(())
    }

    fn status(&self, m: &Model, rate: f64, extra: &str) -> (Ink, String) {
        let age = m.last_ok_ms.map(|t| (now_ms() - t).max(0) / 1000);
        let x = format!("X {:.1} KB/s", rate / 1000.0);
        let win = format!("window {}m", self.window_ms / 60_000);
        match (&m.error, age) {
            (Some(e), None) => (Ink::Down, format!("waiting for {}: {e}", m.source)),
            (Some(e), Some(a)) => (
                Ink::Down,
                format!("{} unreachable, data {a}s old: {e} | {x}", m.source),
            ),
            (None, None) => (Ink::Dim, format!("waiting for {} | {x}", m.source)),
            (None, Some(a)) => (
                Ink::Dim,
                format!("{} | data {a}s old | {win} | {x}{extra}", m.source),
            ),
        }
    }

    fn draw_node(&mut self, n: &mut NodeWin, m: &Model) -> Res<()> {
        let before = self.counters.sent();
        let lh = self.r.line_h();
        let cols = (n.w as i16 / self.r.char_w).max(10) as usize;
        let node = m.nodes.get(&n.node);
        let (health, ink) = match node.and_then(|x| x.up) {
            Some(v) if v >= 1.0 => ("up", Ink::Up),
            Some(_) => ("DOWN", Ink::Down),
            None => ("no data", Ink::Unknown),
        };
        let role = node.map_or("", |x| x.role.as_str());
        self.text(
            &mut n.texts,
            n.win,
            0,
            Ink::Fg,
            6,
            6 + self.r.ascent,
            &format!("{} ({role})", n.node),
            cols / 2,
        )?;
        self.text(
            &mut n.texts,
            n.win,
            1,
            ink,
            6 + (cols / 2) as i16 * self.r.char_w,
            6 + self.r.ascent,
            health,
            8,
        )?;
        if !n.paused {
            for ci in 0..n.charts.len() {
                let (title, series, unit) = CHARTS[n.charts[ci].idx];
                // The label: title and each series' current value, in its colour.
                let ly = n.charts[ci].y - self.r.descent - 2;
                let x0 = n.charts[ci].x;
                self.text(
                    &mut n.texts,
                    n.win,
                    10 + ci as u32 * 4,
                    Ink::Fg,
                    x0,
                    ly,
                    title,
                    16,
                )?;
                for (k, s) in series.iter().enumerate() {
                    let v = node
                        .and_then(|x| x.series[s.index()].current())
                        .unwrap_or(f64::NAN);
                    let t = format!("{} {}", s.label(), human(v, unit));
                    let ink = if k == 0 { Ink::A } else { Ink::B };
                    let x = x0 + (16 + k as i16 * 22) * self.r.char_w;
                    self.text(
                        &mut n.texts,
                        n.win,
                        11 + ci as u32 * 4 + k as u32,
                        ink,
                        x,
                        ly,
                        &t,
                        21,
                    )?;
                }
                let scale_txt = format!("max {}", human(n.charts[ci].scale, unit));
                let sx = x0 + n.charts[ci].w as i16 - 18 * self.r.char_w;
                self.text(
                    &mut n.texts,
                    n.win,
                    13 + ci as u32 * 4,
                    Ink::Dim,
                    sx,
                    ly,
                    &scale_txt,
                    18,
                )?;
                let mut c = std::mem::replace(
                    &mut n.charts[ci],
                    Chart {
                        idx: 0,
                        x: 0,
                        y: 0,
                        w: 0,
                        h: 0,
                        pix: 0,
                        scale: 0.0,
                        last_t: None,
                        step: 0,
                    },
                );
                self.draw_chart(n.win, &mut c, m, node)?;
                n.charts[ci] = c;
            }
            // Peers, busiest first.
            let mut peers: Vec<(String, &crate::model::Link)> = m
                .links
                .iter()
                .filter_map(|l| {
                    if l.src == n.node {
                        Some((format!("-> {}", l.dst), l))
                    } else if l.dst == n.node {
                        Some((format!("<- {}", l.src), l))
                    } else {
                        None
                    }
                })
                .collect();
            peers.sort_by(|a, b| b.1.messages.total_cmp(&a.1.messages));
            let py = n.charts.last().map_or(0, |c| c.y + c.h as i16) + lh + 4;
            self.text(&mut n.texts, n.win, 100, Ink::Fg, 6, py, "peers", cols)?;
            for i in 0..7 {
                let line = peers.get(i).map_or(String::new(), |(p, l)| {
                    format!("{p:<20} {:>14} {:>12}", l.carries(), human(l.bytes, "B/s"))
                });
                self.text(
                    &mut n.texts,
                    n.win,
                    101 + i as u32,
                    Ink::Fg,
                    6,
                    py + lh * (i as i16 + 1),
                    &line,
                    cols,
                )?;
            }
        }
        let paused = if n.paused { " | paused" } else { "" };
        let (ink, s) = self.status(m, n.wire.rate, paused);
        self.text(
            &mut n.texts,
            n.win,
            200,
            ink,
            6,
            n.h as i16 - 6 - self.r.descent,
            &s,
            cols,
        )?;
        self.conn.flush()?;
        n.wire.add(self.counters.sent() - before);
        Ok(())
    }

    /// Blank the chart's pixmap from column `from` to its right edge, baseline included.
    fn clear_columns(&self, c: &Chart, from: i16) -> Res<()> {
        let right = c.w as i16;
        self.conn.poly_fill_rectangle(
            c.pix,
            self.r.gc(Ink::Bg),
            &[Rectangle {
                x: from,
                y: 0,
                width: (right - from).max(0) as u16,
                height: c.h,
            }],
        )?;
        let y = c.h as i16 - 1;
        self.conn.poly_segment(
            c.pix,
            self.r.gc(Ink::Grid),
            &[Segment {
                x1: from,
                y1: y,
                x2: right,
                y2: y,
            }],
        )?;
        Ok(())
    }

    /// Scroll the chart's pixmap by the steps since it was last drawn, draw the new
    /// columns, copy it to the window. A rescale or a jump redraws it whole (still into
    /// the pixmap, so nothing flickers).
    fn draw_chart(
        &self,
        win: Window,
        c: &mut Chart,
        m: &Model,
        node: Option<&crate::model::Node>,
    ) -> Res<()> {
        let (_, series, _) = CHARTS[c.idx];
        let rings: Vec<&crate::model::Ring> = node
            .map(|n| series.iter().map(|s| &n.series[s.index()]).collect())
            .unwrap_or_default();
        let newest = rings.iter().filter_map(|r| r.last().map(|p| p.0)).max();
        let step = m.step_ms.max(1);
        let w = i64::from(c.w);
        let max = rings
            .iter()
            .map(|r| r.max_last(c.w as usize))
            .fold(0.0, f64::max);
        let want = nice(max * 1.15);
        let rescale = want > c.scale || want < c.scale / 3.0;
        let Some(newest) = newest else {
            if c.last_t.is_some() || c.scale == 0.0 {
                self.clear_columns(c, 0)?;
                c.scale = want;
                c.last_t = None;
            }
            self.conn
                .copy_area(c.pix, win, self.r.gc(Ink::Bg), 0, 0, c.x, c.y, c.w, c.h)?;
            return Ok(());
        };
        let shift = c.last_t.map(|t| (newest - t) / step);
        let full = rescale || c.step != step || shift.is_none_or(|s| s < 0 || s >= w);
        let y_of = |v: f64, scale: f64| -> i16 {
            let h = f64::from(c.h) - 2.0;
            (f64::from(c.h) - 1.0 - (v / scale.max(1e-12)).clamp(0.0, 1.0) * h).round() as i16
        };
        let x_of = |t: i64| -> i64 { w - 1 - (newest - t) / step };
        let first_new = if full {
            c.scale = want;
            c.step = step;
            self.clear_columns(c, 0)?;
            0
        } else {
            let s = shift.unwrap_or(0);
            if s == 0 {
                self.conn
                    .copy_area(c.pix, win, self.r.gc(Ink::Bg), 0, 0, c.x, c.y, c.w, c.h)?;
                return Ok(());
            }
            self.conn.copy_area(
                c.pix,
                c.pix,
                self.r.gc(Ink::Bg),
                s as i16,
                0,
                0,
                0,
                (w - s) as u16,
                c.h,
            )?;
            self.clear_columns(c, (w - s) as i16)?;
            w - s
        };
        for (k, r) in rings.iter().enumerate() {
            let ink = if k == 0 { Ink::A } else { Ink::B };
            let mut segs = Vec::new();
            let mut prev: Option<(i64, f64)> = None;
            for &(t, v) in r.iter() {
                let x = x_of(t);
                if x < first_new - 1 || x < 0 {
                    prev = Some((x, v));
                    continue;
                }
                if v.is_finite() {
                    match prev {
                        Some((px, pv)) if pv.is_finite() && x - px == 1 && x >= first_new => segs
                            .push(Segment {
                                x1: px as i16,
                                y1: y_of(pv, c.scale),
                                x2: x as i16,
                                y2: y_of(v, c.scale),
                            }),
                        _ if x >= first_new => segs.push(Segment {
                            x1: x as i16,
                            y1: y_of(v, c.scale),
                            x2: x as i16,
                            y2: y_of(v, c.scale),
                        }),
                        _ => {}
                    }
                }
                prev = Some((x, v));
            }
            if !segs.is_empty() {
                self.conn.poly_segment(c.pix, self.r.gc(ink), &segs)?;
            }
        }
        c.last_t = Some(newest);
        self.conn
            .copy_area(c.pix, win, self.r.gc(Ink::Bg), 0, 0, c.x, c.y, c.w, c.h)?;
        Ok(())
    }

    fn draw_overview(&mut self, o: &mut OverviewWin, m: &Model) -> Res<()> {
        let before = self.counters.sent();
        let lh = self.r.line_h();
        let names: Vec<&String> = m.nodes.keys().collect();
        // Deterministic layout: a circle in name order.
        if o.pos.len() != names.len() || o.pos.iter().zip(&names).any(|(p, n)| &p.0 != *n) {
            let (cx, cy) = (f64::from(o.gw) / 2.0, f64::from(o.gh) / 2.0);
            let rad = (cx.min(cy) - 30.0).max(10.0);
            let k = names.len().max(1) as f64;
            o.pos = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let a = std::f64::consts::TAU * i as f64 / k - std::f64::consts::FRAC_PI_2;
                    (
                        (*n).clone(),
                        (cx + rad * a.cos()) as i16,
                        (cy + rad * a.sin()) as i16,
                    )
                })
                .collect();
            o.scene.clear();
        }
        let width_of = |msgs: f64| -> u8 { (1.0 + msgs.max(0.0).log10().max(0.0)).min(6.0) as u8 };
        // A node's size tells its traffic: a step per tenfold messages in.
        let size_of = |n: &crate::model::Node| -> u8 {
            let v = n.series[Series::MessagesIn.index()]
                .current()
                .unwrap_or(0.0);
            (v.max(0.0) + 1.0).log10().clamp(0.0, 4.0) as u8
        };
        let mut scene = Vec::new();
        for n in m.nodes.values() {
            scene.push(match n.up {
                Some(v) if v >= 1.0 => 1,
                Some(_) => 0,
                None => 2,
            });
            scene.push(size_of(n));
        }
        for l in &m.links {
            scene.push(width_of(l.messages));
        }
        if scene != o.scene {
            // The graph, drawn into a pixmap and copied in one request.
            self.conn.poly_fill_rectangle(
                o.pix,
                self.r.gc(Ink::Bg),
                &[Rectangle {
                    x: 0,
                    y: 0,
                    width: o.gw,
                    height: o.gh,
                }],
            )?;
            let at: HashMap<&str, (i16, i16)> = o
                .pos
                .iter()
                .map(|(n, x, y)| (n.as_str(), (*x, *y)))
                .collect();
            let mut by_width: HashMap<u8, Vec<Segment>> = HashMap::new();
            for l in &m.links {
                if let (Some(a), Some(b)) = (at.get(l.src.as_str()), at.get(l.dst.as_str())) {
                    by_width
                        .entry(width_of(l.messages))
                        .or_default()
                        .push(Segment {
                            x1: a.0,
                            y1: a.1,
                            x2: b.0,
                            y2: b.1,
                        });
                }
            }
            let mut widths: Vec<_> = by_width.into_iter().collect();
            widths.sort_by_key(|(w, _)| *w);
            for (wd, segs) in widths {
                self.conn.change_gc(
                    self.r.gc(Ink::Link),
                    &ChangeGCAux::new().line_width(u32::from(wd)),
                )?;
                self.conn.poly_segment(o.pix, self.r.gc(Ink::Link), &segs)?;
            }
            self.conn
                .change_gc(self.r.gc(Ink::Link), &ChangeGCAux::new().line_width(0))?;
            let mut by_ink: HashMap<Ink, Vec<x11rb::protocol::xproto::Arc>> = HashMap::new();
            for (n, x, y) in &o.pos {
                let node = m.nodes.get(n);
                let ink = match node.and_then(|x| x.up) {
                    Some(v) if v >= 1.0 => Ink::Up,
                    Some(_) => Ink::Down,
                    None => Ink::Unknown,
                };
                let r = 5 + 2 * i16::from(node.map_or(0, size_of));
                by_ink
                    .entry(ink)
                    .or_default()
                    .push(x11rb::protocol::xproto::Arc {
                        x: x - r,
                        y: y - r,
                        width: 2 * r as u16,
                        height: 2 * r as u16,
                        angle1: 0,
                        angle2: 360 * 64,
                    });
            }
            for (ink, arcs) in by_ink {
                self.conn.poly_fill_arc(o.pix, self.r.gc(ink), &arcs)?;
            }
            for (n, x, y) in &o.pos {
                let tx = x - (n.len() as i16 * self.r.char_w) / 2;
                self.conn.image_text8(
                    o.pix,
                    self.r.gc(Ink::Fg),
                    tx,
                    y + 14 + self.r.ascent,
                    n.as_bytes(),
                )?;
            }
            o.scene = scene;
        }
        self.conn
            .copy_area(o.pix, o.win, self.r.gc(Ink::Bg), 0, 0, 6, 6, o.gw, o.gh)?;
        // The node list.
        let cols = ((o.w as i16 - o.list_x) / self.r.char_w).max(10) as usize;
        self.text(
            &mut o.texts,
            o.win,
            0,
            Ink::Dim,
            o.list_x,
            o.list_y,
            &format!(
                "{:<14} {:<8} {:>10} {:>10} {:>8}",
                "node", "role", "in/s", "out/s", "backlog"
            ),
            cols,
        )?;
        for (i, n) in m.nodes.values().enumerate() {
            let cur = |s: Series| n.series[s.index()].current().unwrap_or(f64::NAN);
            let ink = match n.up {
                Some(v) if v >= 1.0 => Ink::Fg,
                Some(_) => Ink::Down,
                None => Ink::Unknown,
            };
            let line = format!(
                "{:<14} {:<8} {:>10} {:>10} {:>8}",
                n.name,
                n.role,
                human(cur(Series::MessagesIn), ""),
                human(cur(Series::MessagesOut), ""),
                human(cur(Series::Backlog), ""),
            );
            self.text(
                &mut o.texts,
                o.win,
                1 + i as u32,
                ink,
                o.list_x,
                o.list_y + lh * (i as i16 + 1),
                &line,
                cols,
            )?;
        }
        let (ink, s) = self.status(m, o.wire.rate, " | click a node");
        let all_cols = (o.w as i16 / self.r.char_w).max(10) as usize;
        self.text(
            &mut o.texts,
            o.win,
            10_000,
            ink,
            6,
            o.h as i16 - 6 - self.r.descent,
            &s,
            all_cols,
        )?;
        self.conn.flush()?;
        o.wire.add(self.counters.sent() - before);
        Ok(())
    }
}

/// The next "nice" chart maximum (1, 2 or 5 times a power of ten) at or above `v`.
pub fn nice(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|k| k * p)
        .find(|x| *x >= v)
        .unwrap_or(10.0 * p)
}

impl Model {
    /// A copy of what one node window draws (its node and the links), so the lock is
    /// held only for the copy.
    pub fn clone_for(&self, node: &str) -> Model {
        Model {
            source: self.source.clone(),
            window_ms: self.window_ms,
            step_ms: self.step_ms,
            nodes: self
                .nodes
                .get(node)
                .map(|n| (node.to_string(), n.clone()))
                .into_iter()
                .collect(),
            links: self
                .links
                .iter()
                .filter(|l| l.src == node || l.dst == node)
                .cloned()
                .collect(),
            last_ok_ms: self.last_ok_ms,
            error: self.error.clone(),
            alerts: self
                .alerts
                .iter()
                .filter(|a| a.node == node)
                .cloned()
                .collect(),
            version: self.version,
        }
    }

    /// What the overview draws: every node's health and current values, the links.
    pub fn clone_overview(&self) -> Model {
        let nodes = self
            .nodes
            .iter()
            .map(|(k, n)| {
                let mut n2 = crate::model::Node {
                    name: n.name.clone(),
                    role: n.role.clone(),
                    up: n.up,
                    series: Vec::with_capacity(n.series.len()),
                };
                for r in &n.series {
                    let mut small = crate::model::Ring::new(r.step_ms(), 1);
                    if let Some(v) = r.current() {
                        let t = r.last().map_or(0, |p| p.0);
                        small.push(t, v);
                    }
                    n2.series.push(small);
                }
                (k.clone(), n2)
            })
            .collect();
        Model {
            source: self.source.clone(),
            window_ms: self.window_ms,
            step_ms: self.step_ms,
            nodes,
            links: self.links.clone(),
            last_ok_ms: self.last_ok_ms,
            error: self.error.clone(),
            alerts: self.alerts.clone(),
            version: self.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_maxima_are_round_numbers() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(1.2), 2.0);
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(1234.0), 2000.0);
        assert_eq!(nice(f64::NAN), 1.0);
    }

    #[test]
    fn colours_follow_the_visual_masks() {
        let v = Visualtype {
            visual_id: 1,
            class: VisualClass::TRUE_COLOR,
            bits_per_rgb_value: 8,
            colormap_entries: 256,
            red_mask: 0xff0000,
            green_mask: 0x00ff00,
            blue_mask: 0x0000ff,
        };
        assert_eq!(pixel(&v, 0x123456, 1, 0), 0x123456);
        let v16 = Visualtype {
            red_mask: 0xf800,
            green_mask: 0x07e0,
            blue_mask: 0x001f,
            ..v
        };
        assert_eq!(pixel(&v16, 0xffffff, 1, 0), 0xffff);
        let gray = Visualtype {
            class: VisualClass::STATIC_GRAY,
            ..v
        };
        assert_eq!(pixel(&gray, 0xffffff, 7, 3), 7);
        assert_eq!(pixel(&gray, 0x000000, 7, 3), 3);
    }
}
