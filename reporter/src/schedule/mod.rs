//! `meshscope report --schedule`: a daemon that writes `meshscope-weekly-YYYY-Www.pptx`
//! into a folder on a cron schedule (`tokio-cron-scheduler`, six fields with seconds),
//! keeps the newest N, and remembers the last week it wrote in a state file, so that
//! after a restart it catches up the weeks it missed while down. A deck that fails (the
//! source is down) is retried with backoff until it is written or the next tick comes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_cron_scheduler::{Job as CronJob, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::query::fetch::FetchError;
use crate::render::{write_atomic, Job, RenderError};
use crate::week::Week;

pub const STATE_FILE: &str = ".meshscope-report.state";
const PREFIX: &str = "meshscope-weekly-";

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("--schedule {cron:?}: not a cron expression with seconds (six fields: sec min hour day-of-month month day-of-week, e.g. \"0 0 7 * * Mon\"): {message}")]
    Cron { cron: String, message: String },
    #[error("--out-dir {dir}: {error}")]
    Dir { dir: String, error: std::io::Error },
    #[error("{path}: {message}")]
    State { path: String, message: String },
    #[error("the scheduler: {0}")]
    Scheduler(String),
}

#[derive(Clone, Debug)]
pub struct Daemon {
    pub job: Job,
    pub cron: String,
    pub dir: PathBuf,
    pub keep: usize,
    /// The first wait before retrying a deck that failed; doubled up to an hour.
    pub retry: Duration,
}

pub fn deck_name(w: Week) -> String {
    format!("{PREFIX}{w}.pptx")
}

/// The last week written, from the state file.
pub fn read_state(dir: &Path) -> Result<Option<Week>, ScheduleError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|e: crate::week::WeekError| ScheduleError::State {
                path: path.display().to_string(),
                message: format!("{e} (delete the file to start afresh)"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ScheduleError::State {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

fn write_state(dir: &Path, w: Week) -> Result<(), RenderError> {
    write_atomic(&dir.join(STATE_FILE), format!("{w}\n").as_bytes()).map(|_| ())
}

/// The weeks to write now: from the one after the last written to the last complete
/// week, at most `keep` (older ones would be pruned at once); without a state, the last
/// complete week.
pub fn due(last: Option<Week>, latest: Week, keep: usize) -> Vec<Week> {
    let mut out = Vec::new();
    let mut w = latest;
    while out.len() < keep.max(1) && last.is_none_or(|l| w > l) {
        out.push(w);
        if last.is_none() {
            break;
        }
        w = w.previous();
    }
    out.reverse();
    out
}

/// Delete all but the newest `keep` decks (names sort by week).
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut decks: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(".pptx"))
        })
        .collect();
    decks.sort();
    let n = decks.len().saturating_sub(keep.max(1));
    let old: Vec<PathBuf> = decks.drain(..n).collect();
    for p in &old {
        std::fs::remove_file(p)?;
        tracing::info!(path = %p.display(), "Removed an old deck.");
    }
    Ok(old)
}

impl Daemon {
    /// Write every due week; stops at the first failure (the state keeps what is done).
    async fn catch_up(&self) -> Result<usize, RenderError> {
        let latest = Week::last_complete(Utc::now(), self.job.tz);
        let last = read_state(&self.dir).map_err(|e| RenderError::Draw(e.to_string()))?;
        let weeks = due(last, latest, self.keep);
        for w in &weeks {
            let r = match self.job.render(*w, Utc::now()).await {
                Ok(r) => r,
                // A missed week the source has nothing for is skipped, so that it does
                // not hold back the weeks after it; the latest is retried (its data may
                // still be arriving).
                Err(RenderError::Fetch(e @ FetchError::NoData { .. })) if *w != latest => {
                    tracing::warn!(week = %w, error = %e, "Skipped a missed week without data.");
                    write_state(&self.dir, *w)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let path = self.dir.join(deck_name(*w));
            write_atomic(&path, &r.bytes)?;
            write_state(&self.dir, *w)?;
            tracing::info!(path = %path.display(), slides = r.slides, bytes = r.bytes.len(), "Wrote the weekly deck.");
            if let Err(e) = prune(&self.dir, self.keep) {
                tracing::warn!(error = %e, "Could not remove old decks.");
            }
        }
        Ok(weeks.len())
    }

    /// Run until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) -> Result<(), ScheduleError> {
        std::fs::create_dir_all(&self.dir).map_err(|error| ScheduleError::Dir {
            dir: self.dir.display().to_string(),
            error,
        })?;
        read_state(&self.dir)?;
        let (tx, mut ticks) = mpsc::channel::<()>(1);
        let job = CronJob::new_async_tz(self.cron.as_str(), self.job.tz, move |_, _| {
            let tx = tx.clone();
            Box::pin(async move {
                // A tick while a deck is being written is merged into it.
                let _ = tx.try_send(());
            })
        })
        .map_err(|e| ScheduleError::Cron {
            cron: self.cron.clone(),
            message: e.to_string(),
        })?;
        let mut sched = JobScheduler::new()
            .await
            .map_err(|e| ScheduleError::Scheduler(e.to_string()))?;
        sched
            .add(job)
            .await
            .map_err(|e| ScheduleError::Scheduler(e.to_string()))?;
        sched
            .start()
            .await
            .map_err(|e| ScheduleError::Scheduler(e.to_string()))?;
        tracing::info!(schedule = %self.cron, dir = %self.dir.display(), keep = self.keep, "Waiting for the schedule.");

        // On start: catch up what was missed while down.
        let mut retry = self.retry;
        let mut retry_at = Some(tokio::time::Instant::now());
        loop {
            let sleep = async {
                match retry_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                Some(()) = ticks.recv() => {}
                _ = sleep => {}
            }
            retry_at = None;
            match self.catch_up().await {
                Ok(n) => {
                    retry = self.retry;
                    if n == 0 {
                        tracing::info!("Nothing due: the last complete week's deck is written.");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_s = retry.as_secs(), "Could not write the weekly deck; retrying.");
                    retry_at = Some(tokio::time::Instant::now() + retry);
                    retry = (retry * 2).min(Duration::from_secs(3600));
                }
            }
        }
        let _ = sched.shutdown().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(week: u32) -> Week {
        Week { year: 2026, week }
    }

    #[test]
    fn due_weeks() {
        assert_eq!(due(None, w(47), 12), vec![w(47)]);
        assert_eq!(due(Some(w(47)), w(47), 12), vec![]);
        assert_eq!(due(Some(w(44)), w(47), 12), vec![w(45), w(46), w(47)]);
        assert_eq!(due(Some(w(30)), w(47), 2), vec![w(46), w(47)]);
        assert_eq!(
            due(
                Some(Week {
                    year: 2025,
                    week: 52
                }),
                Week {
                    year: 2026,
                    week: 1
                },
                5
            ),
            vec![Week {
                year: 2026,
                week: 1
            }]
        );
    }

    #[test]
    fn prunes_the_oldest_and_reads_the_state() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for wk in [44, 45, 46, 47] {
            std::fs::write(dir.path().join(deck_name(w(wk))), b"x").unwrap_or_default();
        }
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap_or_default();
        let gone = prune(dir.path(), 2).unwrap_or_default();
        assert_eq!(gone.len(), 2);
        assert!(!dir.path().join(deck_name(w(45))).exists());
        assert!(dir.path().join(deck_name(w(46))).exists());
        assert!(dir.path().join("notes.txt").exists(), "other files stay");
        assert_eq!(read_state(dir.path()).ok().flatten(), None);
        std::fs::write(dir.path().join(STATE_FILE), "2026-W46\n").unwrap_or_default();
        assert_eq!(read_state(dir.path()).ok().flatten(), Some(w(46)));
        std::fs::write(dir.path().join(STATE_FILE), "garbage").unwrap_or_default();
        let e = read_state(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(".meshscope-report.state") && e.contains("delete the file"),
            "{e}"
        );
    }
}
