use super::*;
use crate::tsdb::labels::Matcher;

fn opts() -> Options {
    Options {
        retention_time_ms: 0,
        block_range_ms: 1000,
        ..Options::default()
    }
}

fn l(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

fn write(db: &Db, series: usize, from: i64, to: i64, step: i64) {
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        for i in 0..series {
            let h = app.series(&l("m", i));
            app.add(&h, t, (t / step) as f64 + i as f64);
        }
        app.commit().unwrap();
        t += step;
    }
}

fn all_samples(db: &Db) -> Vec<(Labels, Vec<(i64, f64)>)> {
    db.select(&[Matcher::equal("__name__", "m")], i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| {
            let v = s.samples(i64::MIN, i64::MAX).collect();
            (s.labels, v)
        })
        .collect()
}

#[test]
fn wal_replay_restores_the_head() {
    let d = tempfile::tempdir().unwrap();
    let before = {
        let db = Db::open(d.path(), opts()).unwrap();
        write(&db, 5, 0, 500, 10);
        db.close().unwrap();
        all_samples(&db)
    };
    assert_eq!(before.len(), 5);
    assert_eq!(before[0].1.len(), 50);
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(all_samples(&db), before);
}

#[test]
fn uncommitted_appends_are_not_stored() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    {
        let mut app = db.appender();
        let h = app.series(&l("m", 1));
        app.add(&h, 1, 1.0);
    }
    assert!(all_samples(&db).is_empty());
}

#[test]
fn head_persists_into_blocks_and_survives_restart() {
    let d = tempfile::tempdir().unwrap();
    let before = {
        let db = Db::open(d.path(), opts()).unwrap();
        write(&db, 3, 0, 5000, 10);
        db.maintain().unwrap();
        assert!(!db.blocks().is_empty());
        let (hmin, _) = db.head().time_range().unwrap();
        assert!(hmin >= 3000, "head min {hmin}");
        write(&db, 3, 5000, 5200, 10);
        all_samples(&db)
    };
    assert_eq!(before[0].1.len(), 520);
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(all_samples(&db), before);
}

#[test]
fn compaction_merges_blocks_without_changing_data() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    write(&db, 4, 0, 12_000, 7);
    db.persist_head(true).unwrap();
    let before = all_samples(&db);
    let n_before = db.blocks().len();
    db.compact().unwrap();
    let blocks = db.blocks();
    assert!(blocks.len() < n_before, "{} -> {}", n_before, blocks.len());
    assert!(blocks.iter().any(|b| b.meta.compaction.level >= 2));
    assert_eq!(all_samples(&db), before);
    drop(db);
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(all_samples(&db), before);
}

#[test]
fn time_retention_deletes_old_blocks() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(
        d.path(),
        Options {
            retention_time_ms: 3000,
            ..opts()
        },
    )
    .unwrap();
    write(&db, 1, 0, 10_000, 100);
    db.persist_head(true).unwrap();
    db.apply_retention();
    let min = db.blocks().iter().map(|b| b.meta.min_time).min().unwrap();
    assert!(min >= 6000, "oldest block starts at {min}");
}

#[test]
fn out_of_order_samples_are_counted() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    write(&db, 1, 100, 200, 10);
    let mut app = db.appender();
    let h = app.series(&l("m", 0));
    app.add(&h, 50, 1.0);
    app.add(&h, 500, 1.0);
    let st = app.commit().unwrap();
    assert_eq!(
        st,
        CommitStats {
            appended: 1,
            rejected: 1
        }
    );
    assert_eq!(db.stats.rejected_out_of_order.load(Ordering::Relaxed), 1);
}

#[test]
fn a_second_open_of_a_live_store_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(d.path(), opts()).unwrap();
    let e = Db::open(d.path(), opts()).err().unwrap();
    assert!(matches!(e, DbError::Locked(_)), "{e}");
    assert!(e.to_string().contains("in use by another process"));
    drop(db);
    Db::open(d.path(), opts()).unwrap();
}

#[test]
fn closed_head_chunks_live_on_disk_and_read_back() {
    let d = tempfile::tempdir().unwrap();
    let db = Db::open(
        d.path(),
        Options {
            retention_time_ms: 0,
            block_range_ms: 1_000_000,
            ..Options::default()
        },
    )
    .unwrap();
    // 1000 samples a series: eight closed chunks and an open one.
    write(&db, 10, 0, 1000 * 100, 100);
    let files = db.head().chunk_files_bytes();
    assert!(files > 0, "closed chunks were not written out");
    let got = all_samples(&db);
    assert_eq!(got.len(), 10);
    for (i, (_, s)) in got.iter().enumerate() {
        assert_eq!(s.len(), 1000);
        assert!(s
            .iter()
            .enumerate()
            .all(|(k, (t, v))| *t == k as i64 * 100 && *v == k as f64 + i as f64));
    }
    // Once the head has persisted and truncated past them, the files go.
    db.persist_head(true).unwrap();
    assert_eq!(db.head().chunk_files_bytes(), 0);
    assert_eq!(all_samples(&db), got);
    drop(db);
    // A restart rebuilds the head from the WAL and blocks, whatever the files held.
    let db = Db::open(d.path(), opts()).unwrap();
    assert_eq!(all_samples(&db), got);
}
