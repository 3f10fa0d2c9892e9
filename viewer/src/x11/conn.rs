//! Connecting to the X server: the socket is opened here (so that a TCP display, as
//! under `ssh -X`, gets `TCP_NODELAY`: x11rb's own connect does not set it, and a frame
//! larger than the write buffer followed by a reply then waits ~40 ms on Nagle), then
//! handed to x11rb's pure-Rust connection wrapped in a stream that counts the bytes each
//! way.

use std::io::{IoSlice, Result};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use x11rb::rust_connection::{DefaultStream, PollMode, RustConnection, Stream};
use x11rb::utils::RawFdContainer;
use x11rb_protocol::parse_display::{parse_display, ConnectAddress};

/// Bytes sent to and received from the X server.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

impl Counters {
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// x11rb's stream, counting.
pub struct CountingStream {
    inner: DefaultStream,
    counters: Arc<Counters>,
}

impl Stream for CountingStream {
    fn poll(&self, mode: PollMode) -> Result<()> {
        self.inner.poll(mode)
    }

    fn read(&self, buf: &mut [u8], fd_storage: &mut Vec<RawFdContainer>) -> Result<usize> {
        let n = self.inner.read(buf, fd_storage)?;
        self.counters
            .received
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn write(&self, buf: &[u8], fds: &mut Vec<RawFdContainer>) -> Result<usize> {
        let n = self.inner.write(buf, fds)?;
        self.counters.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>], fds: &mut Vec<RawFdContainer>) -> Result<usize> {
        let n = self.inner.write_vectored(bufs, fds)?;
        self.counters.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub type Conn = RustConnection<CountingStream>;

/// Why the display could not be used, in one line.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    #[error("no X display: $DISPLAY is not set")]
    NoDisplay,
    #[error("cannot parse the X display {0:?}")]
    Parse(String),
    #[error("cannot connect to the X display {display:?}: {reason}")]
    Connect { display: String, reason: String },
}

/// Connect to `display` (default `$DISPLAY`).
pub fn connect(
    display: Option<&str>,
) -> std::result::Result<(Conn, usize, Arc<Counters>), DisplayError> {
    let name = match display {
        Some(d) => d.to_string(),
        None => std::env::var("DISPLAY")
            .ok()
            .filter(|d| !d.is_empty())
            .ok_or(DisplayError::NoDisplay)?,
    };
    let parsed = parse_display(Some(&name)).map_err(|_| DisplayError::Parse(name.clone()))?;
    let screen = usize::from(parsed.screen);
    let mut last = String::from("no address to try");
    for addr in parsed.connect_instruction() {
        let r = match &addr {
            ConnectAddress::Hostname(host, port) => {
                TcpStream::connect((*host, *port)).and_then(|s| {
                    s.set_nodelay(true)?;
                    DefaultStream::from_tcp_stream(s)
                })
            }
            ConnectAddress::Socket(path) => {
                UnixStream::connect(path).and_then(DefaultStream::from_unix_stream)
            }
            _ => continue,
        };
        let (stream, (family, address)) = match r {
            Ok(x) => x,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let (auth_name, auth_data) =
            x11rb_protocol::xauth::get_auth(family, &address, parsed.display)
                .ok()
                .flatten()
                .unwrap_or_default();
        let counters = Arc::new(Counters::default());
        let stream = CountingStream {
            inner: stream,
            counters: counters.clone(),
        };
        return RustConnection::connect_to_stream_with_auth_info(
            stream, screen, auth_name, auth_data,
        )
        .map(|c| (c, screen, counters))
        .map_err(|e| DisplayError::Connect {
            display: name.clone(),
            reason: e.to_string(),
        });
    }
    Err(DisplayError::Connect {
        display: name,
        reason: last,
    })
}
