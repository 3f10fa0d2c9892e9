//! Following the store's WAL as it is written, the way Prometheus's WAL watcher does for
//! remote write: records are read from the segment files (never from the writer's
//! memory), so a sender that falls behind, or a receiver that is down, loses nothing
//! while the segments are still on disk; when the head is truncated and a checkpoint
//! replaces older segments, the reader takes the series from the checkpoint and goes on
//! with the oldest segment left.
//!
//! A record the writer has only half written yet (the file ends inside it) is kept and
//! completed on the next read. The current segment's file stays open, so it can be read
//! to its end even after a checkpoint deleted it.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::tsdb::head::SeriesRef;
use crate::tsdb::labels::Labels;
use crate::tsdb::wal::{list, read_file, segment_name, Record, HEADER, MAX_RECORD};

/// What the reader found.
#[derive(Debug, PartialEq)]
pub enum Event {
    Record(Record),
    /// The head was truncated: `checkpoint.upto` holds the series still alive (every
    /// series of a segment after `upto` is in that segment or a later one).
    Checkpoint {
        upto: u64,
        series: Vec<(SeriesRef, Labels)>,
    },
    /// Segments were deleted before they were read: their samples are lost to the
    /// remote (it was behind by more than the WAL keeps).
    Skipped {
        from: u64,
        to: u64,
    },
}

pub struct WalTail {
    dir: PathBuf,
    segment: u64,
    file: Option<File>,
    /// Bytes read from `file` that do not yet make a whole record.
    pending: Vec<u8>,
    checkpoint: Option<u64>,
    chunk: Vec<u8>,
}

impl WalTail {
    /// Start at the end of the WAL: the series of the checkpoint and of every segment
    /// are passed to `series` (the samples already there are history, not sent, as in
    /// Prometheus); from then on [`WalTail::poll`] returns what is appended.
    pub fn open_at_end(
        dir: &Path,
        series: &mut dyn FnMut(Vec<(SeriesRef, Labels)>),
    ) -> io::Result<WalTail> {
        let (segs, cp) = list(dir)?;
        if let Some(c) = cp {
            let path = dir.join(format!("checkpoint.{}", segment_name(c)));
            read_file(&path, &mut |r| {
                if let Record::Series(s) = r {
                    series(s)
                }
            })?;
        }
        let first = segs
            .iter()
            .copied()
            .find(|s| cp.is_none_or(|c| *s > c))
            .unwrap_or(cp.map_or(1, |c| c + 1));
        let mut t = WalTail {
            dir: dir.to_path_buf(),
            segment: first,
            file: None,
            pending: Vec::new(),
            checkpoint: cp,
            chunk: vec![0; 1 << 20],
        };
        t.poll(&mut |e| {
            if let Event::Record(Record::Series(s)) = e {
                series(s)
            }
        })?;
        Ok(t)
    }

    /// The segment being read.
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// Read everything appended since the last call, in order. Returns how many events
    /// were passed to `f` (0: nothing new).
    pub fn poll(&mut self, f: &mut dyn FnMut(Event)) -> io::Result<usize> {
        let mut n = 0;
        loop {
            if self.file.is_none() {
                match File::open(self.dir.join(segment_name(self.segment))) {
                    Ok(file) => self.file = Some(file),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // Not written yet, or deleted by a checkpoint before we got here.
                        if !self.advance(f, &mut n)? {
                            return Ok(n);
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let got = self.read_some()?;
            let corrupt = self.parse(f, &mut n);
            if got > 0 && !corrupt {
                continue;
            }
            // At the end of what the writer has written: a newer segment means this one
            // is finished (the writer only appends to the newest), so read it once more
            // to its end and move on.
            let (segs, _) = list(&self.dir)?;
            if !segs.iter().any(|s| *s > self.segment) {
                return Ok(n);
            }
            while self.read_some()? > 0 {
                if self.parse(f, &mut n) {
                    break;
                }
            }
            if !self.pending.is_empty() {
                tracing::warn!(
                    segment = %self.dir.join(segment_name(self.segment)).display(),
                    bytes = self.pending.len(),
                    "Remote write: the rest of this WAL segment is unreadable; going on with the next"
                );
            }
            if !self.advance(f, &mut n)? {
                return Ok(n);
            }
        }
    }

    fn read_some(&mut self) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        loop {
            match file.read(&mut self.chunk) {
                Ok(k) => {
                    self.pending.extend_from_slice(&self.chunk[..k]);
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Pass the whole records in `pending` to `f`; true when a corrupt record stops it.
    fn parse(&mut self, f: &mut dyn FnMut(Event), n: &mut usize) -> bool {
        let mut at = 0;
        let mut corrupt = false;
        while self.pending.len() - at >= HEADER {
            let h = &self.pending[at..at + HEADER];
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
            if len == 0 || len > MAX_RECORD {
                corrupt = true;
                break;
            }
            if self.pending.len() - at < HEADER + len {
                break;
            }
            let body = &self.pending[at + HEADER..at + HEADER + len];
            match (crc32fast::hash(body) == crc)
                .then(|| Record::decode(body))
                .flatten()
            {
                Some(r) => {
                    f(Event::Record(r));
                    *n += 1;
                    at += HEADER + len;
                }
                None => {
                    corrupt = true;
                    break;
                }
            }
        }
        self.pending.drain(..at);
        corrupt
    }

    /// Go to the next segment there is. False when there is none yet.
    fn advance(&mut self, f: &mut dyn FnMut(Event), n: &mut usize) -> io::Result<bool> {
        let (segs, cp) = list(&self.dir)?;
        let Some(next) = segs.iter().copied().find(|s| *s > self.segment) else {
            return Ok(false);
        };
        if let Some(c) = cp.filter(|c| self.checkpoint.is_none_or(|old| *c > old)) {
            let mut series = Vec::new();
            let path = self.dir.join(format!("checkpoint.{}", segment_name(c)));
            match read_file(&path, &mut |r| {
                if let Record::Series(s) = r {
                    series.extend(s)
                }
            }) {
                Ok(_) => {
                    self.checkpoint = Some(c);
                    f(Event::Checkpoint { upto: c, series });
                    *n += 1;
                }
                // Replaced by a newer one meanwhile: that one is read next time.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if next > self.segment + 1 {
            // The segment in hand was read (its file is open), or was itself not found.
            f(Event::Skipped {
                from: self.segment + u64::from(self.file.is_some()),
                to: next - 1,
            });
            *n += 1;
        }
        self.segment = next;
        self.file = None;
        self.pending.clear();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::wal::{write_checkpoint, Wal};

    fn labels(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    fn framed(r: &Record) -> Vec<u8> {
        let mut b = Vec::new();
        r.encode_into(&mut b);
        b
    }

    fn records(t: &mut WalTail) -> Vec<Event> {
        let mut got = Vec::new();
        t.poll(&mut |e| got.push(e)).unwrap();
        got
    }

    #[test]
    fn it_follows_appends_half_written_records_and_new_segments() {
        let d = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(d.path(), 1 << 20, &mut |_| {}).unwrap();
        w.write(&framed(&Record::Series(vec![(1, labels("a"))])))
            .unwrap();
        w.write(&framed(&Record::Samples(vec![(1, 1000, 1.0)])))
            .unwrap();
        let mut seen = Vec::new();
        let mut t = WalTail::open_at_end(d.path(), &mut |s| seen.extend(s)).unwrap();
        // The series is known; the sample already there is history.
        assert_eq!(seen, vec![(1, labels("a"))]);
        assert!(records(&mut t).is_empty());

        // A record written in two halves is read once it is whole.
        let rec = Record::Samples(vec![(1, 2000, 2.0), (1, 3000, 3.0)]);
        let b = framed(&rec);
        let path = d.path().join(segment_name(w.segment()));
        let mut raw = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        use std::io::Write;
        raw.write_all(&b[..5]).unwrap();
        assert!(records(&mut t).is_empty());
        raw.write_all(&b[5..]).unwrap();
        assert_eq!(records(&mut t), vec![Event::Record(rec)]);

        // The writer moves to a new segment: what was left in the old one comes first.
        let last = Record::Samples(vec![(1, 4000, 4.0)]);
        w.write(&framed(&last)).unwrap();
        w.roll().unwrap();
        let next = Record::Series(vec![(2, labels("b"))]);
        w.write(&framed(&next)).unwrap();
        assert_eq!(
            records(&mut t),
            vec![Event::Record(last), Event::Record(next)]
        );
    }

    #[test]
    fn a_checkpoint_gives_the_live_series_and_deleted_segments_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(d.path(), 1 << 20, &mut |_| {}).unwrap();
        w.write(&framed(&Record::Series(vec![(1, labels("a"))])))
            .unwrap();
        let mut t = WalTail::open_at_end(d.path(), &mut |_| {}).unwrap();
        let s1 = Record::Samples(vec![(1, 1000, 1.0)]);
        w.write(&framed(&s1)).unwrap();
        // Two segments are written and truncated before the reader looks again.
        let first = w.roll().unwrap();
        w.write(&framed(&Record::Samples(vec![(1, 2000, 2.0)])))
            .unwrap();
        let second = w.roll().unwrap();
        w.write(&framed(&Record::Samples(vec![(1, 3000, 3.0)])))
            .unwrap();
        write_checkpoint(
            d.path(),
            second,
            vec![Record::Series(vec![(1, labels("a"))])],
        )
        .unwrap();
        let got = records(&mut t);
        // The open first segment is still read to its end (its file is open), then the
        // checkpoint, the gap, and the newest segment.
        assert_eq!(got[0], Event::Record(s1));
        assert_eq!(
            got[1],
            Event::Checkpoint {
                upto: second,
                series: vec![(1, labels("a"))]
            }
        );
        assert_eq!(
            got[2],
            Event::Skipped {
                from: first + 1,
                to: second
            }
        );
        assert_eq!(got[3], Event::Record(Record::Samples(vec![(1, 3000, 3.0)])));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn a_corrupt_record_in_a_finished_segment_skips_to_the_next() {
        let d = tempfile::tempdir().unwrap();
        let (mut w, _) = Wal::open(d.path(), 1 << 20, &mut |_| {}).unwrap();
        let mut t = WalTail::open_at_end(d.path(), &mut |_| {}).unwrap();
        let mut bad = framed(&Record::Samples(vec![(1, 1000, 1.0)]));
        let k = bad.len() - 1;
        bad[k] ^= 0xff;
        w.write(&bad).unwrap();
        // Still the newest segment: the reader waits (the writer may not be done).
        assert!(records(&mut t).is_empty());
        w.roll().unwrap();
        let good = Record::Samples(vec![(1, 2000, 2.0)]);
        w.write(&framed(&good)).unwrap();
        assert_eq!(records(&mut t), vec![Event::Record(good)]);
    }
}
