//! Closed head chunks on disk. A head chunk that is full no longer changes, so it is
//! written to a head-chunks file as it closes, with where the series' chunk before it
//! is: the series keeps only where its newest closed chunk is, and reaches older ones
//! through those links. The head's memory then holds labels, index, the one open chunk
//! and one link per series, whatever the head's length (Prometheus's memory-mapped head
//! chunks keep a reference and a time range per chunk in memory: at 10 s scrapes and a
//! full 3 h head, nine per series). Reads use `pread` (no mmap, so no unsafe
//! code). The files are a cache of what the WAL holds: they are emptied at every start
//! (the WAL replay rebuilds them) and need no fsync. Files rotate at 64 MiB and are
//! deleted once the head has truncated past every chunk in them.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::query::ChunkData;

const FILE_SIZE: u64 = 64 << 20;
/// Before each chunk's bytes: length (`u16`), span (`u32`), first timestamp (`i64`),
/// and where the series' chunk before it is (file and offset, `u32` each; file 0: none).
const HEADER: u64 = 22;

/// Where a closed chunk's bytes are. File ids start at 1, so that an `Option<DiskRef>`
/// keeps its tag in the id's zero (a head series keeps one: its newest closed chunk's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DiskRef {
    pub file: NonZeroU32,
    /// Files stay under 64 MiB, so offsets fit 32 bits.
    pub offset: u32,
}

/// What a chunk's record says before its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub min_t: i64,
    pub max_t: i64,
    /// The series' chunk before this one.
    pub prev: Option<DiskRef>,
    len: usize,
}

fn parse_header(h: &[u8]) -> Header {
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
    let span = u32_at(2);
    let mut t = [0u8; 8];
    t.copy_from_slice(&h[6..14]);
    let min_t = i64::from_le_bytes(t);
    let prev = NonZeroU32::new(u32_at(14)).map(|file| DiskRef {
        file,
        offset: u32_at(18),
    });
    Header {
        min_t,
        max_t: min_t.saturating_add(i64::from(span)),
        prev,
        len,
    }
}

fn read_failed(r: DiskRef, e: std::io::Error) {
    tracing::error!(file = r.file, offset = r.offset, error = %e, "Reading a head chunk failed");
}

/// Read into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_up_to(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct OpenFile {
    file: Arc<File>,
    len: u64,
    max_t: i64,
}

#[derive(Default)]
struct Inner {
    files: BTreeMap<u32, OpenFile>,
    /// The file being appended to.
    current: Option<u32>,
    next_id: u32,
}

/// The head-chunks files of one head; `None` dir keeps chunks in memory.
pub(crate) struct HeadChunks {
    dir: Option<PathBuf>,
    inner: Mutex<Inner>,
    /// Closed chunks the files could not take (no dir, or a write failed), by series
    /// ref, oldest first: kept here rather than in every series for the few that need
    /// it. `kept_series` counts the series with some (0: no lock to take).
    kept: Mutex<HashMap<u64, Vec<ChunkData>>>,
    kept_series: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HeadChunks {
    pub fn in_memory() -> HeadChunks {
        HeadChunks {
            dir: None,
            inner: Mutex::new(Inner::default()),
            kept: Mutex::default(),
            kept_series: AtomicUsize::new(0),
        }
    }

    /// Use `dir`, removing what an earlier process left there.
    pub fn on_disk(dir: &Path) -> std::io::Result<HeadChunks> {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir)?;
        Ok(HeadChunks {
            dir: Some(dir.to_path_buf()),
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
            kept: Mutex::default(),
            kept_series: AtomicUsize::new(0),
        })
    }

    /// Store a closed chunk's bytes, its time range and the place of the series' chunk
    /// before it; `None` keeps it in memory (no dir, or a write failed, e.g. the disk is
    /// full).
    pub fn write(
        &self,
        bytes: &[u8],
        min_t: i64,
        max_t: i64,
        prev: Option<DiskRef>,
    ) -> Option<DiskRef> {
        let dir = self.dir.as_ref()?;
        // A head chunk is far smaller than 64 KiB and spans less than 49 days.
        let len = u16::try_from(bytes.len()).ok()?;
        let span = u32::try_from(max_t.checked_sub(min_t)?).ok()?;
        let mut g = lock(&self.inner);
        let rotate = match g.current.and_then(|id| g.files.get(&id)) {
            None => true,
            Some(f) => f.len + bytes.len() as u64 + HEADER > FILE_SIZE,
        };
        if rotate {
            let id = g.next_id;
            let path = dir.join(format!("{id:08}"));
            let file = match OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Cannot create a head-chunks file; keeping chunks in memory");
                    return None;
                }
            };
            g.next_id += 1;
            g.files.insert(
                id,
                OpenFile {
                    file: Arc::new(file),
                    len: 0,
                    max_t: i64::MIN,
                },
            );
            g.current = Some(id);
        }
        let id = g.current?;
        let f = g.files.get_mut(&id)?;
        let offset = f.len;
        let mut rec = Vec::with_capacity(bytes.len() + HEADER as usize);
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&span.to_le_bytes());
        rec.extend_from_slice(&min_t.to_le_bytes());
        let (pf, po) = prev.map_or((0, 0), |p| (p.file.get(), p.offset));
        rec.extend_from_slice(&pf.to_le_bytes());
        rec.extend_from_slice(&po.to_le_bytes());
        rec.extend_from_slice(bytes);
        if f.file.write_all_at(&rec, offset).is_err() {
            return None;
        }
        f.len += rec.len() as u64;
        f.max_t = f.max_t.max(max_t);
        Some(DiskRef {
            file: NonZeroU32::new(id)?,
            offset: u32::try_from(offset).ok()?,
        })
    }

    /// A chunk's time range and the link to the one before it, without its bytes;
    /// `None` if its file is gone or the read fails.
    pub fn header(&self, r: DiskRef) -> Option<Header> {
        let file = self.file(r)?;
        let mut head = [0u8; HEADER as usize];
        file.read_exact_at(&mut head, u64::from(r.offset))
            .map_err(|e| read_failed(r, e))
            .ok()?;
        Some(parse_header(&head))
    }

    /// Read a chunk back with its header; `None` if its file is gone or the read fails.
    pub fn read(&self, r: DiskRef) -> Option<(Header, ChunkData)> {
        let file = self.file(r)?;
        // Header and bytes in one read: chunks are a few hundred bytes.
        let mut buf = vec![0u8; HEADER as usize + 320];
        let n = read_up_to(&file, &mut buf, u64::from(r.offset))
            .map_err(|e| read_failed(r, e))
            .ok()?;
        if n < HEADER as usize {
            read_failed(r, std::io::ErrorKind::UnexpectedEof.into());
            return None;
        }
        let h = parse_header(&buf[..HEADER as usize]);
        let end = HEADER as usize + h.len;
        if n < end {
            buf.resize(end, 0);
            file.read_exact_at(&mut buf[n..], u64::from(r.offset) + n as u64)
                .map_err(|e| read_failed(r, e))
                .ok()?;
        }
        let data = ChunkData {
            min_t: h.min_t,
            max_t: h.max_t,
            data: buf[HEADER as usize..end].into(),
        };
        Some((h, data))
    }

    /// Keep a closed chunk of series `sref` in memory (the files did not take it).
    pub fn keep(&self, sref: u64, c: ChunkData) {
        let mut g = lock(&self.kept);
        let list = g.entry(sref).or_default();
        list.push(c);
        self.kept_series.store(g.len(), Ordering::Relaxed);
    }

    /// `f` on the chunks kept in memory for `sref` (`None`: it has none); a list left
    /// empty is dropped.
    pub fn with_kept<R>(&self, sref: u64, f: impl FnOnce(&mut Vec<ChunkData>) -> R) -> Option<R> {
        if self.kept_series.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut g = lock(&self.kept);
        let list = g.get_mut(&sref)?;
        let r = f(list);
        if list.is_empty() {
            g.remove(&sref);
            self.kept_series.store(g.len(), Ordering::Relaxed);
        }
        Some(r)
    }

    fn file(&self, r: DiskRef) -> Option<Arc<File>> {
        Some(lock(&self.inner).files.get(&r.file.get())?.file.clone())
    }

    /// Delete files whose every chunk ends before `t` (the head has dropped them).
    pub fn truncate_before(&self, t: i64) {
        let Some(dir) = &self.dir else { return };
        let mut g = lock(&self.inner);
        let old: Vec<u32> = g
            .files
            .iter()
            .filter(|(_, f)| f.max_t < t)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            g.files.remove(&id);
            if g.current == Some(id) {
                g.current = None;
            }
            let _ = fs::remove_file(dir.join(format!("{id:08}")));
        }
    }

    /// Bytes on disk (for `tsdb analyze` and /metrics).
    pub fn size_bytes(&self) -> u64 {
        lock(&self.inner).files.values().map(|f| f.len).sum()
    }
}
