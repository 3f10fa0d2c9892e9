//! `meshscope tsdb dump | import | analyze`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;

use super::block::BlockWriter;
use super::chunk::is_stale_nan;
use super::db::{Db, DbError};
use super::head::{Head, SeriesHandle};
use super::labels::{Labels, Matcher};
use super::query::Queryable;
use crate::exposition::{self, Event, Format};

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
}

use crate::exposition::write::{escape_label_value as escape, fmt_timestamp as fmt_ts, fmt_value};

/// Write series matching any of the selectors (each a list of matchers; none = every
/// series) in `[mint, maxt]` as OpenMetrics text with timestamps, grouped by metric name
/// (as OpenMetrics requires), each series once. Staleness markers are not samples and
/// are left out. Returns the number of samples written.
pub fn dump(
    db: &Db,
    selectors: &[Vec<Matcher>],
    mint: i64,
    maxt: i64,
    w: &mut dyn Write,
) -> io::Result<u64> {
    let all = vec![
        Matcher::new(super::labels::MatchOp::Regex, "__name__", ".+").map_err(io::Error::other)?,
    ];
    let selectors: &[Vec<Matcher>] = if selectors.is_empty() {
        std::slice::from_ref(&all)
    } else {
        selectors
    };
    let mut labels: Vec<Labels> = selectors
        .iter()
        .flat_map(|ms| db.series(ms, mint, maxt))
        .collect();
    labels.sort_by(|a, b| a.name().cmp(&b.name()).then_with(|| a.cmp(b)));
    labels.dedup();
    let mut n = 0u64;
    let mut out = io::BufWriter::with_capacity(1 << 20, w);
    for l in labels {
        let exact: Vec<Matcher> = l.iter().map(|(k, v)| Matcher::equal(k, v)).collect();
        let mut prefix = String::new();
        prefix.push_str(l.name().unwrap_or(""));
        prefix.push('{');
        let mut first = true;
        for (k, v) in l.iter().filter(|(k, _)| *k != "__name__") {
            if !first {
                prefix.push(',');
            }
            first = false;
            prefix.push_str(&format!("{k}=\"{}\"", escape(v)));
        }
        prefix.push('}');
        for s in db
            .select(&exact, mint, maxt)
            .into_iter()
            .filter(|s| s.labels == l)
        {
            for (t, v) in s.samples(mint, maxt) {
                if is_stale_nan(v) {
                    continue;
                }
                writeln!(out, "{prefix} {} {}", fmt_value(v), fmt_ts(t))?;
                n += 1;
            }
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    Ok(n)
}

/// Summary of an import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportStats {
    pub samples: u64,
    pub series: u64,
    pub blocks: u64,
    pub skipped_out_of_order: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

/// Backfill an OpenMetrics file (timestamps required) into blocks, like `promtool tsdb
/// create-blocks-from openmetrics`. Streams: the file is read once to find its time
/// range, then once per group of block ranges sized so that about `max_samples_in_memory`
/// samples are held at a time.
pub fn import_openmetrics(
    db: &Db,
    path: &Path,
    max_samples_in_memory: u64,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<ImportStats, ToolError> {
    let open = || -> Result<Box<dyn Read>, ToolError> {
        let f = std::fs::File::open(path).map_err(|e| ToolError::Input {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Box::new(io::BufReader::with_capacity(1 << 20, f)))
    };
    let input_err = |e: exposition::StreamError<Msg>| ToolError::Input {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let (mut mint, mut maxt, mut count) = (i64::MAX, i64::MIN, 0u64);
    exposition::parse_stream(open()?, Format::OpenMetrics, |ev| {
        if let Event::Sample(s) = ev {
            let t = s.timestamp_ms.ok_or_else(|| {
                Msg(format!(
                    "sample {} has no timestamp; import needs one on every sample",
                    s.name
                ))
            })?;
            mint = mint.min(t);
            maxt = maxt.max(t);
            count += 1;
        }
        Ok(())
    })
    .map_err(input_err)?;
    let mut stats = ImportStats::default();
    if count == 0 {
        return Ok(stats);
    }
    let range = db.options().block_range_ms;
    let first = mint.div_euclid(range);
    let last = maxt.div_euclid(range);
    let n_ranges = (last - first + 1) as u64;
    let per_range = count.div_ceil(n_ranges).max(1);
    let group = (max_samples_in_memory / per_range).clamp(1, n_ranges) as i64;
    let mut series_seen = std::collections::HashSet::new();
    let mut r = first;
    while r <= last {
        let (gmin, gmax) = (r * range, (r + group) * range);
        let head = Head::new(range);
        let mut cache: HashMap<Vec<u8>, SeriesHandle> = HashMap::new();
        exposition::parse_stream(open()?, Format::OpenMetrics, |ev| {
            let Event::Sample(s) = ev else { return Ok(()) };
            let t = s.timestamp_ms.unwrap_or(i64::MIN);
            if t < gmin || t >= gmax {
                return Ok(());
            }
            let h = match cache.get(s.series) {
                Some(h) => h.clone(),
                None => {
                    let l = Labels::from_pairs(
                        std::iter::once(("__name__", std::borrow::Cow::Borrowed(s.name)))
                            .chain(s.labels()),
                    );
                    if let Some(d) = l.duplicate_name() {
                        return Err(Msg(format!("series {} has the label {d:?} twice", s.name)));
                    }
                    let h = head.get_or_create(&l).0;
                    cache.insert(s.series.to_vec(), h.clone());
                    h
                }
            };
            if head.append(&h, t, s.value).is_err() {
                stats.skipped_out_of_order += 1;
            }
            Ok(())
        })
        .map_err(input_err)?;
        for b in r..(r + group).min(last + 1) {
            let (bmin, bmax) = (b * range, (b + 1) * range);
            let mut w: BlockWriter = db.block_writer(bmin, bmax)?;
            let mut n = 0u64;
            for s in head.snapshot(bmin, bmax) {
                let samples: Vec<(i64, f64)> = s.samples(bmin, bmax - 1).collect();
                n += samples.len() as u64;
                series_seen.insert(s.labels.hash64());
                if let Err(e) = w.add_series(&s.labels, samples.into_iter()) {
                    w.abort();
                    return Err(e.into());
                }
            }
            if n > 0 {
                stats.blocks += 1;
            }
            stats.samples += n;
            db.import_block(w)?;
            progress("import", stats.samples);
        }
        r += group;
    }
    stats.series = series_seen.len() as u64;
    Ok(stats)
}

/// `tsdb analyze`: what is stored and how densely.
pub fn analyze(db: &Db, w: &mut dyn Write) -> io::Result<()> {
    let blocks = db.blocks();
    writeln!(w, "Blocks: {}", blocks.len())?;
    writeln!(
        w,
        "{:<28} {:>15} {:>15} {:>6} {:>10} {:>12} {:>12} {:>10}",
        "ULID", "min time", "max time", "level", "series", "samples", "bytes", "B/sample"
    )?;
    let (mut tb, mut ts) = (0u64, 0u64);
    for b in &blocks {
        let m = &b.meta;
        let bps = b.size_bytes() as f64 / m.stats.num_samples.max(1) as f64;
        writeln!(
            w,
            "{:<28} {:>15} {:>15} {:>6} {:>10} {:>12} {:>12} {:>10.3}",
            m.ulid,
            m.min_time,
            m.max_time,
            m.compaction.level,
            m.stats.num_series,
            m.stats.num_samples,
            b.size_bytes(),
            bps
        )?;
        tb += b.size_bytes();
        ts += m.stats.num_samples;
    }
    if ts > 0 {
        writeln!(
            w,
            "All blocks: {ts} samples in {tb} bytes, {:.3} bytes per sample",
            tb as f64 / ts as f64
        )?;
    }
    let head = db.head();
    let hs = head.select(&[], i64::MIN, i64::MAX);
    let hsamples: u64 = hs
        .iter()
        .map(|s| s.samples(i64::MIN, i64::MAX).count() as u64)
        .sum();
    let hchunks: usize = hs.iter().map(|s| s.chunks.len()).sum();
    writeln!(
        w,
        "Head: {} series, {} chunks, {} samples, about {} bytes in memory ({:.0} bytes per series)",
        head.num_series(),
        hchunks,
        hsamples,
        head.memory_bytes(),
        head.memory_bytes() as f64 / head.num_series().max(1) as f64
    )?;
    writeln!(w, "WAL: {} bytes", db.wal_size_bytes())?;
    // Series per metric name over everything stored.
    let all = [
        Matcher::new(super::labels::MatchOp::Regex, "__name__", ".+").map_err(io::Error::other)?,
    ];
    let mut per: HashMap<String, u64> = HashMap::new();
    for l in db.series(&all, i64::MIN, i64::MAX) {
        *per.entry(l.name().unwrap_or("").to_string()).or_default() += 1;
    }
    let mut top: Vec<_> = per.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    writeln!(w, "Series per metric name (top 20 of {}):", top.len())?;
    for (n, c) in top.iter().take(20) {
        writeln!(w, "{c:>10} {n}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::Options;

    #[test]
    fn dump_import_roundtrips_exactly() {
        let d = tempfile::tempdir().unwrap();
        let opts = Options {
            block_range_ms: 3_600_000,
            retention_time_ms: 0,
            ..Options::default()
        };
        let src = Db::open(&d.path().join("a"), opts.clone()).unwrap();
        let vals = [
            0.1 + 0.2,
            1e300,
            -0.0,
            f64::INFINITY,
            42.0,
            1.5e-7,
            f64::NAN,
        ];
        for step in 0..2000i64 {
            let mut app = src.appender();
            for (i, name) in ["a", "b_total", "c"].iter().enumerate() {
                let l = Labels::from_pairs([
                    ("__name__", name.to_string()),
                    ("q", format!("\"x\\\n{i}")),
                ]);
                let h = app.series(&l);
                app.add(
                    &h,
                    1_700_000_000_000 + step * 15_500,
                    vals[(step as usize + i) % vals.len()] * step as f64,
                );
            }
            app.commit().unwrap();
        }
        src.maintain().unwrap();
        let mut first = Vec::new();
        let n = dump(&src, &[], i64::MIN, i64::MAX, &mut first).unwrap();
        assert_eq!(n, 6000);
        exposition::validate(&first, Format::OpenMetrics).unwrap();
        let f = d.path().join("dump.om");
        std::fs::write(&f, &first).unwrap();
        let dst = Db::open(&d.path().join("b"), opts).unwrap();
        let st = import_openmetrics(&dst, &f, 1000, &mut |_, _| {}).unwrap();
        assert_eq!(st.samples, 6000);
        assert_eq!(st.series, 3);
        assert!(st.blocks >= 8);
        let mut second = Vec::new();
        dump(&dst, &[], i64::MIN, i64::MAX, &mut second).unwrap();
        assert!(first == second, "dump after import differs");
    }

    #[test]
    fn import_rejects_samples_without_timestamps() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(d.path(), Options::default()).unwrap();
        let f = d.path().join("x.om");
        std::fs::write(&f, "a 1 5\nb 2\n# EOF\n").unwrap();
        let e = import_openmetrics(&db, &f, 1000, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("no timestamp"), "{e}");
        std::fs::write(&f, "a 1 5\na{ 2\n# EOF\n").unwrap();
        let e = import_openmetrics(&db, &f, 1000, &mut |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
