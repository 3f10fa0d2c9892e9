//! The write-ahead log: numbered segment files of checksummed records, a checkpoint
//! written when the head is truncated, replayed on start.
//!
//! Record: `u32 LE length | u32 LE CRC-32 of the payload | payload`, where the payload
//! is a type byte and the body. A torn or corrupt record at the tail of the newest segment is cut off with a
//! warning; the store never refuses to start over it.
//!
//! Sync policy: every commit is written to the segment file with one `write` call (so a
//! `kill -9` of the process loses nothing that was committed: the data is in the kernel);
//! the file is `fsync`ed at most `sync_interval` after a write (default 1 s), which bounds
//! what a power loss can take.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::head::SeriesRef;
use super::labels::{read_uvarint, write_uvarint, Labels};

const REC_SERIES: u8 = 1;
const REC_SAMPLES: u8 = 2;
pub(crate) const HEADER: usize = 8;
/// Largest record accepted on replay (anything larger is corruption).
pub(crate) const MAX_RECORD: usize = 256 << 20;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<(SeriesRef, Labels)>),
    Samples(Vec<(SeriesRef, i64, f64)>),
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

impl Record {
    /// Append the framed record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        match self {
            Record::Series(s) => {
                out.push(REC_SERIES);
                write_uvarint(out, s.len() as u64);
                for (r, l) in s {
                    write_uvarint(out, *r);
                    write_uvarint(out, l.as_bytes().len() as u64);
                    out.extend_from_slice(l.as_bytes());
                }
            }
            Record::Samples(s) => {
                out.push(REC_SAMPLES);
                write_uvarint(out, s.len() as u64);
                let base = s.first().map_or(0, |x| x.1);
                write_uvarint(out, zigzag(base));
                for (r, t, v) in s {
                    write_uvarint(out, *r);
                    write_uvarint(out, zigzag(t.wrapping_sub(base)));
                    out.extend_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
        let payload_len = (out.len() - start - HEADER) as u32;
        let crc = crc32fast::hash(&out[start + HEADER..]);
        out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decode a record payload; `None` for anything malformed (fuzzed in `fuzz/`).
    pub fn decode(p: &[u8]) -> Option<Record> {
        let (&ty, body) = p.split_first()?;
        let mut pos = 0;
        let n = read_uvarint(body, &mut pos)? as usize;
        match ty {
            REC_SERIES => {
                let mut v = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let r = read_uvarint(body, &mut pos)?;
                    let len = read_uvarint(body, &mut pos)? as usize;
                    let end = pos.checked_add(len)?;
                    v.push((r, Labels::from_bytes(body.get(pos..end)?)?));
                    pos = end;
                }
                Some(Record::Series(v))
            }
            REC_SAMPLES => {
                let base = unzigzag(read_uvarint(body, &mut pos)?);
                let mut v = Vec::with_capacity(n.min(1 << 16));
                for _ in 0..n {
                    let r = read_uvarint(body, &mut pos)?;
                    let t = base.wrapping_add(unzigzag(read_uvarint(body, &mut pos)?));
                    let b: [u8; 8] = body.get(pos..pos + 8)?.try_into().ok()?;
                    pos += 8;
                    v.push((r, t, f64::from_bits(u64::from_le_bytes(b))));
                }
                Some(Record::Samples(v))
            }
            _ => None,
        }
    }
}

/// Read records from one file until its end or the first bad record. Returns the
/// length of the good prefix and whether the file ended cleanly.
pub(crate) fn read_file(path: &Path, f: &mut dyn FnMut(Record)) -> io::Result<(u64, bool)> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut good = 0u64;
    let mut buf = Vec::new();
    loop {
        let mut hdr = [0u8; HEADER];
        match read_full(&mut r, &mut hdr)? {
            0 => return Ok((good, true)),
            n if n < HEADER => return Ok((good, false)),
            _ => {}
        }
        let len = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        let crc = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]);
        if len == 0 || len > MAX_RECORD {
            return Ok((good, false));
        }
        buf.resize(len, 0);
        if read_full(&mut r, &mut buf)? < len || crc32fast::hash(&buf) != crc {
            return Ok((good, false));
        }
        match Record::decode(&buf) {
            Some(rec) => f(rec),
            None => return Ok((good, false)),
        }
        good += (HEADER + len) as u64;
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) fn segment_name(i: u64) -> String {
    format!("{i:08}")
}

/// The segments, oldest first, and the newest checkpoint.
pub(crate) fn list(dir: &Path) -> io::Result<(Vec<u64>, Option<u64>)> {
    let mut segs = Vec::new();
    let mut cp: Option<u64> = None;
    for e in fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Ok(i) = name.parse::<u64>() {
            segs.push(i);
        } else if let Some(i) = name
            .strip_prefix("checkpoint.")
            .and_then(|s| s.parse::<u64>().ok())
        {
            cp = Some(cp.map_or(i, |c| c.max(i)));
        }
    }
    segs.sort_unstable();
    Ok((segs, cp))
}

/// What replay found, for logs and metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayStats {
    pub records: u64,
    pub segments: u64,
    /// Bytes cut off a torn tail.
    pub truncated_bytes: u64,
    pub corrupt_segments: u64,
}

pub struct Wal {
    dir: PathBuf,
    segment: u64,
    file: File,
    len: u64,
    segment_size: u64,
    dirty: bool,
    last_sync: Instant,
    bytes_total: u64,
}

impl Wal {
    /// Replay the log in `dir` into `f`, repair a torn tail, and open it for appending.
    pub fn open(
        dir: &Path,
        segment_size: u64,
        f: &mut dyn FnMut(Record),
    ) -> io::Result<(Wal, ReplayStats)> {
        fs::create_dir_all(dir)?;
        let (segs, cp) = list(dir)?;
        let mut stats = ReplayStats::default();
        let mut count = |r: Record| {
            stats.records += 1;
            f(r)
        };
        if let Some(c) = cp {
            let path = dir.join(format!("checkpoint.{}", segment_name(c)));
            let (_, clean) = read_file(&path, &mut count)?;
            if !clean {
                tracing::warn!(path = %path.display(), "WAL checkpoint is corrupt; replayed its good prefix");
            }
        }
        let live: Vec<u64> = segs
            .iter()
            .copied()
            .filter(|s| cp.is_none_or(|c| *s > c))
            .collect();
        let last = live.last().copied();
        for s in &live {
            let path = dir.join(segment_name(*s));
            let (good, clean) = read_file(&path, &mut count)?;
            stats.segments += 1;
            if !clean {
                let size = fs::metadata(&path)?.len();
                if Some(*s) == last {
                    tracing::warn!(
                        segment = %path.display(), good_bytes = good, cut_bytes = size - good,
                        "Truncating a torn WAL tail"
                    );
                    stats.truncated_bytes = size - good;
                    OpenOptions::new().write(true).open(&path)?.set_len(good)?;
                } else {
                    tracing::warn!(segment = %path.display(), good_bytes = good, "WAL segment is corrupt after this offset; the rest of it is skipped");
                    stats.corrupt_segments += 1;
                }
            }
        }
        // Start a fresh segment after a replay so appends never follow a bad record.
        let next = last.or(cp).map_or(1, |s| s + 1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(segment_name(next)))?;
        sync_dir(dir);
        Ok((
            Wal {
                dir: dir.to_path_buf(),
                segment: next,
                file,
                len: 0,
                segment_size,
                dirty: false,
                last_sync: Instant::now(),
                bytes_total: 0,
            },
            stats,
        ))
    }

    /// Write framed records (from [`Record::encode_into`]) with one write. On error the
    /// segment is cut back to its last good length, so a failed write (disk full) never
    /// leaves a torn record in front of later ones.
    pub fn write(&mut self, framed: &[u8]) -> io::Result<()> {
        if framed.is_empty() {
            return Ok(());
        }
        if self.len > 0 && self.len + framed.len() as u64 > self.segment_size {
            self.roll()?;
        }
        if let Err(e) = self.file.write_all(framed) {
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(e);
        }
        self.len += framed.len() as u64;
        self.bytes_total += framed.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// fsync if anything was written since the last sync.
    pub fn sync(&mut self) -> io::Result<bool> {
        if !self.dirty {
            return Ok(false);
        }
        self.file.sync_data()?;
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(true)
    }

    /// Close the current segment and start the next; returns the closed segment's number.
    pub fn roll(&mut self) -> io::Result<u64> {
        self.file.sync_data()?;
        let closed = self.segment;
        self.segment += 1;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(segment_name(self.segment)))?;
        self.len = 0;
        self.dirty = false;
        sync_dir(&self.dir);
        Ok(closed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes of all segments and checkpoints on disk.
    pub fn size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }

    pub fn segment(&self) -> u64 {
        self.segment
    }
}

/// Write a checkpoint covering segments up to `upto` and delete those segments (and
/// older checkpoints). `records` hold everything that must survive (live series,
/// samples not yet in blocks); they are consumed as they are written.
pub fn write_checkpoint(
    dir: &Path,
    upto: u64,
    records: impl IntoIterator<Item = Record>,
) -> io::Result<()> {
    let name = format!("checkpoint.{}", segment_name(upto));
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        let mut buf = Vec::with_capacity(1 << 20);
        for r in records {
            r.encode_into(&mut buf);
            if buf.len() > 1 << 20 {
                f.write_all(&buf)?;
                buf.clear();
            }
        }
        f.write_all(&buf)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(&name))?;
    sync_dir(dir);
    let (segs, _) = list(dir)?;
    for s in segs.into_iter().filter(|s| *s <= upto) {
        fs::remove_file(dir.join(segment_name(s)))?;
    }
    for e in fs::read_dir(dir)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(i) = n
            .strip_prefix("checkpoint.")
            .and_then(|s| s.parse::<u64>().ok())
        {
            if i < upto {
                fs::remove_file(e.path())?;
            }
        }
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(r: u64, name: &str) -> Record {
        Record::Series(vec![(r, Labels::from_pairs([("__name__", name)]))])
    }

    fn replay(dir: &Path) -> (Vec<Record>, ReplayStats, Wal) {
        let mut got = Vec::new();
        let (w, st) = Wal::open(dir, 1 << 20, &mut |r| got.push(r)).unwrap();
        (got, st, w)
    }

    #[test]
    fn records_roundtrip_through_segments() {
        let d = tempfile::tempdir().unwrap();
        let recs = vec![
            series(1, "a"),
            Record::Samples(vec![(1, 1000, 1.5), (1, 2000, f64::NAN), (1, -5, -1.0)]),
            series(2, "b"),
        ];
        {
            let (_, _, mut w) = replay(d.path());
            for r in &recs {
                let mut b = Vec::new();
                r.encode_into(&mut b);
                w.write(&b).unwrap();
                w.roll().unwrap();
            }
        }
        let (got, st, _) = replay(d.path());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], recs[0]);
        assert_eq!(got[2], recs[2]);
        assert_eq!(st.truncated_bytes, 0);
        let Record::Samples(s) = &got[1] else {
            panic!()
        };
        assert_eq!(s[2], (1, -5, -1.0));
        assert!(s[1].2.is_nan());
    }

    #[test]
    fn torn_tail_is_truncated_and_later_writes_replay() {
        let d = tempfile::tempdir().unwrap();
        {
            let (_, _, mut w) = replay(d.path());
            let mut b = Vec::new();
            series(1, "a").encode_into(&mut b);
            series(2, "b").encode_into(&mut b);
            w.write(&b[..b.len() - 3]).unwrap(); // torn second record
        }
        let (got, st, mut w) = replay(d.path());
        assert_eq!(got, vec![series(1, "a")]);
        assert!(st.truncated_bytes > 0);
        let mut b = Vec::new();
        series(3, "c").encode_into(&mut b);
        w.write(&b).unwrap();
        drop(w);
        let (got, st, _) = replay(d.path());
        assert_eq!(got, vec![series(1, "a"), series(3, "c")]);
        assert_eq!(st.truncated_bytes, 0);
    }

    #[test]
    fn corrupt_bytes_anywhere_never_fail_the_open() {
        let d = tempfile::tempdir().unwrap();
        let mut b = Vec::new();
        for i in 0..20 {
            Record::Samples(vec![(i, i as i64 * 10, i as f64)]).encode_into(&mut b);
        }
        for pos in (0..b.len()).step_by(7) {
            let seg = d.path().join(segment_name(1));
            let mut bad = b.clone();
            bad[pos] ^= 0xff;
            for e in fs::read_dir(d.path()).unwrap().flatten() {
                fs::remove_file(e.path()).unwrap();
            }
            fs::write(&seg, &bad).unwrap();
            let (got, _, _) = replay(d.path());
            assert!(got.len() < 20);
        }
    }

    #[test]
    fn checkpoint_replaces_old_segments() {
        let d = tempfile::tempdir().unwrap();
        let (_, _, mut w) = replay(d.path());
        let mut b = Vec::new();
        series(1, "old").encode_into(&mut b);
        w.write(&b).unwrap();
        let closed = w.roll().unwrap();
        let mut b = Vec::new();
        series(2, "new").encode_into(&mut b);
        w.write(&b).unwrap();
        write_checkpoint(d.path(), closed, [series(1, "kept")]).unwrap();
        drop(w);
        let (got, _, _) = replay(d.path());
        assert_eq!(got, vec![series(1, "kept"), series(2, "new")]);
    }
}
