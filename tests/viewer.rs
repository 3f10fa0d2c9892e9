//! The X11 viewer under a real X server (Xvfb): windows open on the simulated mesh with
//! non-empty charts, keys and WM_DELETE_WINDOW close them, nothing comes back from the
//! server in the steady state (no round trips), an unreachable source still opens the
//! windows, and a lost X connection is a clear error.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::*;
use x11rb::rust_connection::RustConnection;

use super::collect::{free_port, get, start_mesh_collector, start_simulator_with, wait_for, Proc};
use super::real::available;

/// A display number for the relay's socket (the bind fails if the path is taken), from a
/// range above the numbers Xvfb's own search takes while few servers run.
fn free_display() -> u32 {
    (400..800)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .unwrap()
}

/// An Xvfb of the test's own. It picks a free display itself and writes the number when
/// it is ready (`-displayfd`), so tests or test processes starting servers at the same
/// time never share one.
fn start_xvfb() -> (Proc, u32) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let p = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(out);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        // Keep reading, so Xvfb never writes into a closed pipe.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
        panic!("Xvfb did not report its display within 20 s");
    };
    let n = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not report its display: {line:?}"));
    (p, n)
}

/// A byte-counting relay: display `:listen` forwards to `:target`.
struct Relay {
    to_server: Arc<AtomicU64>,
    to_client: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
    display: u32,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{}", self.display));
    }
}

fn relay(target: u32) -> Relay {
    let n = free_display();
    let path = format!("/tmp/.X11-unix/X{n}");
    let l = UnixListener::bind(&path).unwrap();
    let r = Relay {
        to_server: Arc::default(),
        to_client: Arc::default(),
        cut: Arc::default(),
        display: n,
    };
    let (ts, tc, cut) = (r.to_server.clone(), r.to_client.clone(), r.cut.clone());
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let Ok(s) = UnixStream::connect(format!("/tmp/.X11-unix/X{target}")) else {
                return;
            };
            for (mut from, mut to, count) in [
                (c.try_clone().unwrap(), s.try_clone().unwrap(), ts.clone()),
                (s, c, tc.clone()),
            ] {
                let cut = cut.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if cut.load(Ordering::Relaxed) || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        count.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                    let _ = from.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    r
}

/// Top-level windows and their names.
fn windows(c: &RustConnection) -> Vec<(Window, String)> {
    let root = c.setup().roots[0].root;
    let tree = c.query_tree(root).unwrap().reply().unwrap();
    tree.children
        .iter()
        .filter_map(|w| {
            let p = c
                .get_property(false, *w, AtomEnum::WM_NAME, AtomEnum::STRING, 0, 256)
                .ok()?
                .reply()
                .ok()?;
            let a = c.get_window_attributes(*w).ok()?.reply().ok()?;
            (a.map_state == MapState::VIEWABLE && !p.value.is_empty())
                .then(|| (*w, String::from_utf8_lossy(&p.value).into_owned()))
        })
        .collect()
}

fn window_named(c: &RustConnection, part: &str) -> Option<Window> {
    windows(c)
        .into_iter()
        .find(|(_, n)| n.contains(part))
        .map(|(w, _)| w)
}

/// Pixels of a window with exactly this colour (0xRRGGBB on a 24-bit TrueColor screen).
fn count_colour(c: &RustConnection, w: Window, rgb: u32) -> usize {
    let g = c.get_geometry(w).unwrap().reply().unwrap();
    let img = c
        .get_image(ImageFormat::Z_PIXMAP, w, 0, 0, g.width, g.height, !0)
        .unwrap()
        .reply()
        .unwrap();
    img.data
        .chunks_exact(4)
        .filter(|p| u32::from_le_bytes([p[0], p[1], p[2], 0]) == rgb)
        .count()
}

fn send_delete(c: &RustConnection, w: Window) {
    let protocols = c
        .intern_atom(false, b"WM_PROTOCOLS")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let delete = c
        .intern_atom(false, b"WM_DELETE_WINDOW")
        .unwrap()
        .reply()
        .unwrap()
        .atom;
    let ev = ClientMessageEvent::new(32, w, protocols, [delete, 0, 0, 0, 0]);
    c.send_event(false, w, EventMask::NO_EVENT, ev).unwrap();
    c.flush().unwrap();
}

fn send_key(c: &RustConnection, w: Window, keysym: u32) {
    let s = c.setup();
    let (min, max) = (s.min_keycode, s.max_keycode);
    let km = c
        .get_keyboard_mapping(min, max - min + 1)
        .unwrap()
        .reply()
        .unwrap();
    let per = usize::from(km.keysyms_per_keycode);
    let code = km
        .keysyms
        .chunks(per)
        .position(|k| k.first() == Some(&keysym))
        .map(|i| min + i as u8)
        .unwrap();
    let root = s.roots[0].root;
    let ev = KeyPressEvent {
        response_type: KEY_PRESS_EVENT,
        detail: code,
        sequence: 0,
        time: 0,
        root,
        event: w,
        child: 0,
        root_x: 10,
        root_y: 10,
        event_x: 10,
        event_y: 10,
        state: KeyButMask::default(),
        same_screen: true,
    };
    c.send_event(true, w, EventMask::KEY_PRESS, ev).unwrap();
    c.flush().unwrap();
}

fn view(display: u32, source: &str, extra: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_meshscope"))
        .args(["view", "--source", source])
        .args(extra)
        .env("DISPLAY", format!(":{display}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

fn wait_exit(p: &mut Child, within: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = p.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < within, "the viewer did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn screenshot(display: u32, w: Window, out: &Path) {
    if !super::real::have("xwd") {
        return;
    }
    let xwd = out.with_extension("xwd");
    let st = Command::new("xwd")
        .args(["-silent", "-id", &w.to_string(), "-out"])
        .arg(&xwd)
        .env("DISPLAY", format!(":{display}"))
        .status()
        .unwrap();
    assert!(st.success());
    let st = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/xwd2png.py"))
        .arg(&xwd)
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "xwd2png failed");
    let png = std::fs::read(out).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 1000);
}

#[test]
fn x11_windows_show_the_mesh_and_cost_nothing_back() {
    let _serial = super::serial();
    if !available("Xvfb") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (_x, xn) = start_xvfb();
    let relay = relay(xn);
    let (_sim, _sp, targets) = start_simulator_with(8, d.path(), &["--no-failures"]);
    let (_col, port) = start_mesh_collector(d.path(), &targets, "");
    let src = format!("http://127.0.0.1:{port}");
    // Messages on every node but host-0 and router-0.
    wait_for("the mesh model", Duration::from_secs(60), || {
        get(&format!(
            "{src}/api/v1/query?query=count(node:mesh_messages_in:rate1m)"
        ))
        .is_some_and(|(_, b)| b.contains("\"6\""))
    });
    let (x, _) = RustConnection::connect(Some(&format!(":{xn}"))).unwrap();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer-screens");
    std::fs::create_dir_all(&shots).unwrap();

    // An unknown node is refused before any window opens, naming the known ones.
    let out = Command::new(env!("CARGO_BIN_EXE_meshscope"))
        .args(["view", "--source", &src, "--node", "nosuch-9"])
        .env("DISPLAY", format!(":{xn}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown node \"nosuch-9\"") && err.contains("pulsar-0"),
        "{err}"
    );
    assert!(windows(&x).is_empty());

    // The overview alone: node circles in the health colour, links, the list.
    let mut v = view(relay.display, &src, &[], &d.path().join("v1.log"));
    wait_for("the overview window", Duration::from_secs(20), || {
        window_named(&x, "mesh overview").is_some()
    });
    let ov = window_named(&x, "mesh overview").unwrap();
    wait_for(
        "green nodes in the overview",
        Duration::from_secs(10),
        || count_colour(&x, ov, 0x66bb6a) > 8 * 100,
    );
    assert!(count_colour(&x, ov, 0x5c6bc0) > 200, "no links drawn");
    assert!(count_colour(&x, ov, 0xd8dee9) > 500, "no text drawn");
    screenshot(xn, ov, &shots.join("overview.png"));
    // Steady state: nothing comes back from the server (no requests with replies, no
    // events), a little goes out each second.
    std::thread::sleep(Duration::from_secs(2));
    let (s0, c0) = (
        relay.to_server.load(Ordering::Relaxed),
        relay.to_client.load(Ordering::Relaxed),
    );
    std::thread::sleep(Duration::from_secs(5));
    let (s1, c1) = (
        relay.to_server.load(Ordering::Relaxed),
        relay.to_client.load(Ordering::Relaxed),
    );
    assert_eq!(
        c1 - c0,
        0,
        "the server sent {} bytes in the steady state",
        c1 - c0
    );
    assert!(s1 > s0, "the overview did not update");
    send_delete(&x, ov);
    let st = wait_exit(&mut v, Duration::from_secs(10));
    assert!(st.success(), "{st:?}");

    // A node window: its five charts draw in the series colours; `q` closes it, and
    // WM_DELETE_WINDOW on the overview ends the viewer with status 0.
    let mut v = view(
        relay.display,
        &src,
        &["--node", "pulsar-0"],
        &d.path().join("v2.log"),
    );
    wait_for("the node window", Duration::from_secs(20), || {
        window_named(&x, "pulsar-0 (pulsar)").is_some()
    });
    let nw = window_named(&x, "pulsar-0 (pulsar)").unwrap();
    wait_for("charts in the node window", Duration::from_secs(15), || {
        count_colour(&x, nw, 0x4fc3f7) > 40 && count_colour(&x, nw, 0xffb74d) > 40
    });
    screenshot(xn, nw, &shots.join("node-pulsar-0.png"));
    send_key(&x, nw, 0x71); // q
    wait_for("the node window to close", Duration::from_secs(10), || {
        window_named(&x, "pulsar-0").is_none()
    });
    assert!(
        v.try_wait().unwrap().is_none(),
        "the viewer quit with a window left"
    );
    let ov = window_named(&x, "mesh overview").unwrap();
    send_delete(&x, ov);
    let st = wait_exit(&mut v, Duration::from_secs(10));
    assert!(st.success(), "{st:?}");

    // An unreachable source: the windows open anyway and wait for it.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut v = view(relay.display, &nowhere, &[], &d.path().join("v3.log"));
    wait_for("the overview, waiting", Duration::from_secs(20), || {
        window_named(&x, "mesh overview").is_some()
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(v.try_wait().unwrap().is_none());

    // The X connection lost: a clear message and a failure status.
    relay.cut.store(true, Ordering::Relaxed);
    // The viewer writes every second: its next frame finds the relay cut.
    let st = wait_exit(&mut v, Duration::from_secs(15));
    assert!(!st.success());
    let log = std::fs::read_to_string(d.path().join("v3.log")).unwrap();
    assert!(log.contains("the X connection was lost"), "{log}");
}

/// A real `ssh -X` session: an sshd of the test's own on a free loopback port, key auth
/// with keys made for the test; the viewer runs under ssh, its window appears on the
/// local X server through the forwarded (TCP) display, and closing it ends the viewer and
/// the session with status 0.
#[test]
fn the_viewer_runs_over_ssh_x() {
    let _serial = super::serial();
    let sshd = Path::new("/usr/sbin/sshd");
    if !(available("Xvfb") && available("ssh") && available("xauth")) {
        return;
    }
    if !sshd.exists() {
        assert!(
            std::env::var("MESHSCOPE_REAL_COMPONENTS").as_deref() != Ok("required"),
            "sshd is not installed, and scripts/test.sh should have installed it"
        );
        eprintln!("SKIPPED: sshd is not installed");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (_x, xn) = start_xvfb();
    let (_sim, _sp, targets) = start_simulator_with(4, dir, &["--no-failures"]);
    let (_col, port) = start_mesh_collector(dir, &targets, "");
    let src = format!("http://127.0.0.1:{port}");
    wait_for("the mesh model", Duration::from_secs(60), || {
        get(&format!("{src}/api/v1/query?query=count(node:mesh_up:max)"))
            .is_some_and(|(_, b)| b.contains("\"4\""))
    });

    // Keys and an sshd of our own.
    for k in ["host_key", "user_key"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(k))
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
    let _ = std::fs::create_dir_all("/run/sshd");
    let sp = free_port();
    let conf = dir.join("sshd_config");
    std::fs::write(
        &conf,
        format!(
            "Port {sp}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin yes\n\
             StrictModes no\nUsePAM no\nX11Forwarding yes\nX11UseLocalhost yes\n\
             X11DisplayOffset 50\nXAuthLocation /usr/bin/xauth\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let _sshd = Proc(
        Command::new(sshd)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("sshd", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", sp)).is_ok()
    });
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let remote = format!(
        "echo DISPLAY=$DISPLAY >&2; exec {} view --source {src} --node pulsar-0 --no-overview",
        env!("CARGO_BIN_EXE_meshscope")
    );
    let mut ssh = Command::new("ssh")
        .args(["-X", "-p", &sp.to_string(), "-i"])
        .arg(dir.join("user_key"))
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ForwardX11Trusted=yes",
            "-o",
            "LogLevel=ERROR",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .arg(remote)
        .env("DISPLAY", format!(":{xn}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("ssh.log")).unwrap())
        .spawn()
        .unwrap();
    let (x, _) = RustConnection::connect(Some(&format!(":{xn}"))).unwrap();
    let log = || {
        format!(
            "ssh: {}\nsshd: {}",
            std::fs::read_to_string(dir.join("ssh.log")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        )
    };
    let t = Instant::now();
    let w = loop {
        if let Some(w) = window_named(&x, "pulsar-0 (pulsar)") {
            break w;
        }
        assert!(
            ssh.try_wait().unwrap().is_none(),
            "ssh ended early:\n{}",
            log()
        );
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no window over ssh -X:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The forwarded display is TCP (localhost:50.0): the viewer's TCP path.
    assert!(log().contains("DISPLAY=localhost:50"), "{}", log());
    wait_for("charts over ssh", Duration::from_secs(15), || {
        count_colour(&x, w, 0x4fc3f7) > 20
    });
    send_delete(&x, w);
    let st = wait_exit(&mut ssh, Duration::from_secs(15));
    assert!(st.success(), "{st:?}\n{}", log());
}

/// `meshscope demo`: with history, the API answers for the past at once; the viewer opens
/// on the display; closing it stops everything with status 0; without a viewer, Ctrl-C
/// does.
#[test]
fn the_demo_runs_mesh_collector_and_viewer_and_stops_cleanly() {
    let _serial = super::serial();
    let d = tempfile::tempdir().unwrap();
    // Headless, with an hour of history.
    let port = free_port();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_meshscope"))
        .args(["demo", "--no-viewer", "--nodes", "4", "--history", "1h"])
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--storage.tsdb.path")
        .arg(d.path().join("store"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_for("the demo's API", Duration::from_secs(120), || {
        get(&format!("{base}/-/ready")).is_some_and(|(c, _)| c == 200)
    });
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1800;
    let (_, b) = get(&format!(
        "{base}/api/v1/query?query=count(node:mesh_messages_in:rate1m)&time={past}"
    ))
    .unwrap();
    assert!(
        b.contains("\"4\""),
        "the backfilled model half an hour ago: {b}"
    );
    wait_for("live model series", Duration::from_secs(60), || {
        get(&format!(
            "{base}/api/v1/query?query=count(node:mesh_up:max)"
        ))
        .is_some_and(|(_, b)| b.contains("\"4\""))
    });
    let st = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let st = wait_exit(&mut demo, Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    let mut out = String::new();
    demo.stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains(&format!("the Prometheus-compatible API is at {base}")),
        "{out}"
    );

    // With a display: the overview opens; closing it ends the demo with 0.
    if !available("Xvfb") {
        return;
    }
    let (_x, xn) = start_xvfb();
    let port = free_port();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_meshscope"))
        .args(["demo", "--nodes", "4"])
        .arg("--web.listen-address")
        .arg(format!("127.0.0.1:{port}"))
        .env("DISPLAY", format!(":{xn}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (x, _) = RustConnection::connect(Some(&format!(":{xn}"))).unwrap();
    wait_for("the demo's overview", Duration::from_secs(30), || {
        window_named(&x, "mesh overview").is_some()
    });
    send_delete(&x, window_named(&x, "mesh overview").unwrap());
    let st = wait_exit(&mut demo, Duration::from_secs(30));
    assert!(st.success(), "{st:?}");
    assert!(
        get(&format!("http://127.0.0.1:{port}/-/ready")).is_none(),
        "the collector still runs"
    );
}

/// A tmux server of a test's own (`-L NAME`), killed when dropped.
pub struct TmuxServer(pub String);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

pub fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `meshscope demo --tui` in a real terminal (tmux): the overview shows the nodes with
/// live numbers; sort, filter and drill down by keys; `q` quits with 0 and the terminal
/// is usable (canonical mode) afterwards.
#[test]
fn the_terminal_dashboard_runs_in_tmux() {
    let _serial = super::serial();
    if !available("tmux") {
        return;
    }
    let port = free_port();
    let sock = format!("meshscope-test-{}", std::process::id());
    let t = |args: &[&str]| {
        let mut a = vec!["-L", sock.as_str()];
        a.extend_from_slice(args);
        tmux(&a)
    };
    let cmd = format!(
        "env -u DISPLAY {} demo --tui --nodes 4 --web.listen-address 127.0.0.1:{port}; echo EXITED $?; stty -a | grep -q -- ' icanon' && echo SANE; sleep 60",
        env!("CARGO_BIN_EXE_meshscope")
    );
    t(&[
        "new-session",
        "-d",
        "-s",
        "m",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    let _kill = TmuxServer(sock.clone());
    let screen = || t(&["capture-pane", "-p", "-t", "m"]);
    // Live numbers: the pulsar-0 row gets a rate.
    wait_for(
        "live numbers in the overview",
        Duration::from_secs(90),
        || {
            screen().lines().any(|l| {
                l.starts_with("pulsar-0")
                    && l.split_whitespace()
                        .nth(3)
                        .is_some_and(|v| v.parse::<f64>().is_ok())
            })
        },
    );
    let s = screen();
    for n in ["pulsar-0", "kafka-0", "rabbitmq-0", "nats-0"] {
        assert!(s.contains(n), "{s}");
    }
    // Sort by role: the header marks it.
    t(&["send-keys", "-t", "m", "s"]);
    wait_for("the role sort", Duration::from_secs(5), || {
        screen().contains("role▼")
    });
    // Filter to the Pulsar node, drill down, come back.
    t(&["send-keys", "-t", "m", "/", "p", "u", "l", "Enter"]);
    wait_for("the filter", Duration::from_secs(5), || {
        let s = screen();
        s.contains("pulsar-0") && !s.contains("kafka-0")
    });
    t(&["send-keys", "-t", "m", "Enter"]);
    wait_for("the node screen", Duration::from_secs(5), || {
        let s = screen();
        s.contains("pulsar-0 (pulsar)") && s.contains("messages") && s.contains("peers")
    });
    t(&["send-keys", "-t", "m", "Escape"]);
    wait_for("back to the overview", Duration::from_secs(5), || {
        screen().contains("mesh overview")
    });
    t(&["send-keys", "-t", "m", "q"]);
    wait_for("exit and a sane terminal", Duration::from_secs(30), || {
        let s = screen();
        s.contains("EXITED 0") && s.contains("SANE")
    });
}
