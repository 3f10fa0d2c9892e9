//! Closed head chunks on disk. A head chunk that is full no longer changes, so it is
//! written to a head-chunks file as it closes, and the series keeps only where it is:
//! the head's memory then holds labels, index and the one open chunk per series, as
//! Prometheus's memory-mapped head chunks do. Reads use `pread` (no mmap, so no unsafe
//! code). The files are a cache of what the WAL holds: they are emptied at every start
//! (the WAL replay rebuilds them) and need no fsync. Files rotate at 64 MiB and are
//! deleted once the head has truncated past every chunk in them.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::num::NonZeroU32;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::query::ChunkData;

const FILE_SIZE: u64 = 64 << 20;
/// Length and span before each chunk's bytes.
const HEADER: u64 = 6;

/// Where a closed chunk's bytes are. File ids start at 1, so that an enum holding a
/// `DiskRef` can keep its tag in the id's zero (a head series keeps one per chunk).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DiskRef {
    pub file: NonZeroU32,
    /// Files stay under 64 MiB, so offsets fit 32 bits.
    pub offset: u32,
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HeadChunks {
    pub fn in_memory() -> HeadChunks {
        HeadChunks {
            dir: None,
            inner: Mutex::new(Inner::default()),
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
        })
    }

    /// Store a closed chunk's bytes and its time span (`max_t - min_t`, which the head
    /// does not keep in memory); `None` keeps it in memory (no dir, or a write failed,
    /// e.g. the disk is full).
    pub fn write(&self, bytes: &[u8], max_t: i64, span: u32) -> Option<DiskRef> {
        let dir = self.dir.as_ref()?;
        // Each chunk is stored as `u16 LE length`, `u32 LE span`, bytes (a head chunk is
        // far smaller than 64 KiB).
        let len = u16::try_from(bytes.len()).ok()?;
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

    /// Read a chunk back; `None` if its file is gone or the read fails.
    pub fn read(&self, r: DiskRef, min_t: i64) -> Option<ChunkData> {
        let file = lock(&self.inner).files.get(&r.file.get())?.file.clone();
        let fail = |e: std::io::Error| {
            tracing::error!(file = r.file, error = %e, "Reading a head chunk failed");
        };
        let mut head = [0u8; HEADER as usize];
        file.read_exact_at(&mut head, u64::from(r.offset))
            .map_err(fail)
            .ok()?;
        let len = u16::from_le_bytes([head[0], head[1]]);
        let span = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
        let mut buf = vec![0u8; usize::from(len)];
        file.read_exact_at(&mut buf, u64::from(r.offset) + HEADER)
            .map_err(fail)
            .ok()?;
        Some(ChunkData {
            min_t,
            max_t: min_t + i64::from(span),
            data: buf.into(),
        })
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
