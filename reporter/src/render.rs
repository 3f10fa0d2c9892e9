//! One deck, start to end: fetch the week and the week before, analyse, lay out, write
//! the package, lint it, and put it in place atomically (a temporary file in the same
//! folder, then a rename), so a reader never sees half a deck.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meshscope_source::Source;

use crate::deck::{self, Meta};
use crate::model::Report;
use crate::pptx;
use crate::query::fetch::{fetch, FetchError, FetchOptions};
use crate::slo::SloConfig;
use crate::week::Week;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("drawing the charts: {0}")]
    Draw(String),
    #[error(transparent)]
    Pptx(#[from] pptx::PptxError),
    #[error("the deck failed its own package lint (a bug in meshscope): {0}")]
    Lint(String),
    #[error("writing {path}: {error}")]
    Write { path: String, error: std::io::Error },
}

/// What a deck is made from, apart from the week.
#[derive(Clone, Debug)]
pub struct Job {
    pub source: Source,
    pub tz: Tz,
    pub slo: SloConfig,
    pub fetch: FetchOptions,
    /// Draw a progress bar on standard error (when it is a terminal).
    pub progress: bool,
}

/// A finished deck and what it took.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub week: Week,
    pub bytes: Vec<u8>,
    pub slides: usize,
    pub fetch_time: Duration,
    pub build_time: Duration,
    /// CPU time of the build (analysis, charts, package, lint): the process's, which
    /// after the fetch is the build's alone.
    pub build_cpu: Duration,
}

impl Job {
    fn bar(&self) -> ProgressBar {
        let target = if self.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(0), target);
        if let Ok(style) = ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    /// Fetch, analyse and lay out the deck for `week`.
    pub async fn render(
        &self,
        week: Week,
        generated: DateTime<Utc>,
    ) -> Result<Rendered, RenderError> {
        let bar = self.bar();
        bar.set_prefix("Fetching");
        bar.set_message(format!("{week} from {}", self.source.url()));
        let t0 = Instant::now();
        let periods = [week.period(self.tz), week.previous().period(self.tz)];
        let progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let as_of = generated.timestamp();
        let mut weeks = fetch(&self.source, &periods, as_of, &self.fetch, &progress).await?;
        let fetch_time = t0.elapsed();
        bar.set_prefix("Building");
        bar.set_message("charts and slides");
        let t1 = Instant::now();
        let cpu0 = cpu_time::ProcessTime::try_now().ok();
        let prev = weeks.pop();
        let this = weeks
            .pop()
            .ok_or_else(|| RenderError::Draw("no week fetched".into()))?;
        let meta = Meta {
            source: self.source.url().to_string(),
            generated,
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let slo = self.slo.clone();
        // The build is CPU work: off the async workers.
        let (slides, bytes) = tokio::task::spawn_blocking(move || {
            let report = Report::new(this, prev, &slo);
            let deck = deck::build(&report, &meta).map_err(RenderError::Draw)?;
            let bytes = pptx::write(&deck)?;
            let findings = pptx::lint::lint(&bytes);
            if !findings.is_empty() {
                return Err(RenderError::Lint(findings.join("; ")));
            }
            Ok((deck.slides.len(), bytes))
        })
        .await
        .map_err(|e| RenderError::Draw(format!("the build stopped: {e}")))??;
        let build_time = t1.elapsed();
        let build_cpu = cpu0.map(|c| c.elapsed()).unwrap_or_default();
        bar.finish_and_clear();
        tracing::info!(
            week = %week,
            slides,
            bytes = bytes.len(),
            fetch_ms = fetch_time.as_millis() as u64,
            build_ms = build_time.as_millis() as u64,
            build_cpu_ms = build_cpu.as_millis() as u64,
            "Built the deck."
        );
        Ok(Rendered {
            week,
            slides,
            bytes,
            fetch_time,
            build_time,
            build_cpu,
        })
    }
}

/// Write `bytes` to `path` atomically: a temporary file beside it, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<PathBuf, RenderError> {
    let err = |error| RenderError::Write {
        path: path.display().to_string(),
        error,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".meshscope-")
        .suffix(".pptx.tmp")
        .tempfile_in(&dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(path.to_path_buf())
}
