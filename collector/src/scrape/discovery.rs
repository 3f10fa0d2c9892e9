//! Target discovery: `static_configs`, `file_sd_configs` re-read on every change of
//! the files (watched with `notify`) and at least every `refresh_interval`, and
//! `http_sd_configs` fetched every `refresh_interval`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::target::TargetGroup;
use crate::config::relabel::LabelMap;
use crate::config::{is_valid_label_name, StaticConfig};

/// Where a provider sends its groups.
pub struct Sink {
    pub job: String,
    pub provider: String,
    pub tx: mpsc::UnboundedSender<Update>,
    /// Failed reads or fetches (the provider keeps its last good groups).
    pub failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// New groups from one provider of one job.
#[derive(Debug)]
pub struct Update {
    pub job: String,
    pub provider: String,
    pub groups: Vec<TargetGroup>,
}

pub fn static_groups(statics: &[StaticConfig]) -> Vec<TargetGroup> {
    statics
        .iter()
        .enumerate()
        .map(|(i, s)| TargetGroup {
            source: format!("static/{i}"),
            targets: s
                .targets
                .iter()
                .map(|t| LabelMap::from([("__address__".to_string(), t.clone())]))
                .collect(),
            labels: s.labels.clone(),
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Read one SD file into groups (JSON for `.json`, YAML otherwise).
pub fn read_sd_file(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = crate::config::read_file(path).map_err(|e| e.to_string())?;
    parse_sd(path, &text)
}

/// Parse the text of an SD file named `path`.
pub fn parse_sd(path: &Path, text: &str) -> Result<Vec<TargetGroup>, String> {
    let groups: Vec<FileGroup> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(text)
            .map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        crate::config::check_yaml(text, path).map_err(|e| e.to_string())?;
        serde_yaml::from_str(text).map_err(|e| {
            let pos = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            format!("{}{pos}: {e}", path.display())
        })?
    };
    let file = path.display().to_string();
    checked_groups(&file, groups, "__meta_filepath")
}

/// Check decoded groups (label names, addresses) and turn them into target groups
/// sourced `{origin}:{i}`, each labelled `meta` = `origin`.
fn checked_groups(
    origin: &str,
    groups: Vec<FileGroup>,
    meta: &str,
) -> Result<Vec<TargetGroup>, String> {
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut labels = g.labels.unwrap_or_default();
            if let Some(bad) = labels.keys().find(|n| !is_valid_label_name(n)) {
                return Err(format!(
                    "{origin}: group {i}: {bad:?} is not a valid label name"
                ));
            }
            for t in &g.targets {
                crate::config::check_address(t).map_err(|e| format!("{origin}: group {i}: {e}"))?;
            }
            labels.insert(meta.into(), origin.to_string());
            Ok(TargetGroup {
                source: format!("{origin}:{i}"),
                targets: g
                    .targets
                    .into_iter()
                    .map(|t| LabelMap::from([("__address__".to_string(), t)]))
                    .collect(),
                labels,
            })
        })
        .collect()
}

/// Parse an HTTP SD response: the file_sd JSON format, each group labelled with
/// `__meta_url`.
pub fn parse_http_sd(url: &str, body: &[u8]) -> Result<Vec<TargetGroup>, String> {
    let groups: Vec<FileGroup> = serde_json::from_slice(body)
        .map_err(|e| format!("{url}: line {} column {}: {e}", e.line(), e.column()))?;
    checked_groups(url, groups, "__meta_url")
}

/// Fetch an HTTP SD endpoint once: 200 and JSON, or why not.
async fn fetch_http_sd(
    client: &super::http::Client,
    url: &str,
    refresh: Duration,
) -> Result<Vec<TargetGroup>, String> {
    let req = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            "X-Prometheus-Refresh-Interval-Seconds",
            refresh.as_secs().to_string(),
        )
        .timeout(refresh.clamp(Duration::from_secs(1), Duration::from_secs(60)));
    let resp = client
        .authorize(req)?
        .send()
        .await
        .map_err(|e| format!("{url}: {}", super::http::describe(&e)))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!(
            "{url}: server returned HTTP status {}",
            resp.status()
        ));
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !ct.starts_with("application/json") {
        return Err(format!(
            "{url}: unsupported content type {ct:?} (HTTP SD answers application/json)"
        ));
    }
    let body = super::http::read_bounded(resp, url).await?;
    parse_http_sd(url, &body)
}

/// Run one `http_sd_configs` entry until cancelled: fetch every `refresh`, send the
/// groups when they change; a failed fetch keeps the last good groups.
pub async fn run_http_sd(
    url: String,
    refresh: Duration,
    client: super::http::Client,
    sink: Sink,
    stop: CancellationToken,
) {
    let mut last_sent: Option<Vec<TargetGroup>> = None;
    let refresh = refresh.max(Duration::from_millis(100));
    loop {
        match fetch_http_sd(&client, &url, refresh).await {
            Ok(groups) => {
                if last_sent.as_ref() != Some(&groups) {
                    last_sent = Some(groups.clone());
                    let _ = sink.tx.send(Update {
                        job: sink.job.clone(),
                        provider: sink.provider.clone(),
                        groups,
                    });
                }
            }
            Err(e) => {
                sink.failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(job = %sink.job, error = %e, "HTTP service discovery failed; keeping the last good targets");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(refresh) => {}
        }
    }
}

/// The files a set of patterns names now.
fn expand(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let s = p.to_string_lossy();
        match glob::glob(&s) {
            Ok(paths) => out.extend(paths.flatten()),
            Err(e) => tracing::warn!(pattern = %s, error = %e, "Invalid file_sd pattern"),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether a file system event in a watched directory can change the targets. As in
/// Prometheus, a targets file created, written, renamed or removed counts (Kubernetes
/// swaps a ConfigMap's files by renaming a `..data` symlink, not the file: entries named
/// `..*` count too), attribute changes do not; and reading a file does not either
/// (inotify's open, access and close-after-read, which fsnotify does not report):
/// reacting to those made every read of the targets file trigger the next one, about 16
/// reads a second of the file. Unlike Prometheus, other files of the directory do not
/// count: a log or a store written beside the targets file made the collector re-read
/// it on every write.
fn changes_targets(ev: &notify::Event, patterns: &[glob::Pattern]) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
    let kind = match ev.kind {
        // Closing a file opened for writing is when an editor's or a tool's write is done.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    };
    let ours = |p: &PathBuf| {
        patterns.iter().any(|pat| pat.matches_path(p))
            || p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".."))
    };
    kind && (ev.paths.is_empty() || ev.need_rescan() || ev.paths.iter().any(ours))
}

/// Run one `file_sd_configs` entry until cancelled, sending the groups of all its files
/// whenever they change. A file that fails to parse keeps its last good groups.
pub async fn run_file_sd(
    patterns: Vec<PathBuf>,
    refresh: Duration,
    sink: Sink,
    stop: CancellationToken,
) {
    let Sink {
        job,
        provider,
        tx,
        failures,
    } = sink;
    // Absolute, so that a file named relative to the working directory has a directory
    // to watch, and the watcher's event paths compare equal to the patterns.
    let patterns: Vec<PathBuf> = patterns
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
    let globs: Vec<glob::Pattern> = patterns
        .iter()
        .filter_map(|p| glob::Pattern::new(&p.to_string_lossy()).ok())
        .collect();
    let watcher = {
        use notify::Watcher;
        let w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.is_ok_and(|ev| changes_targets(&ev, &globs)) {
                let _ = ev_tx.send(());
            }
        });
        match w {
            Ok(mut w) => {
                let mut dirs: Vec<PathBuf> = patterns
                    .iter()
                    .filter_map(|p| p.parent().map(Path::to_path_buf))
                    .collect();
                dirs.sort();
                dirs.dedup();
                for d in dirs {
                    if let Err(e) = w.watch(&d, notify::RecursiveMode::NonRecursive) {
                        tracing::warn!(dir = %d.display(), error = %e, "Cannot watch a file_sd directory; relying on refresh_interval");
                    }
                }
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "Cannot watch files; relying on refresh_interval");
                None
            }
        }
    };
    let mut last_good: HashMap<PathBuf, Vec<TargetGroup>> = HashMap::new();
    let mut last_sent: Option<Vec<TargetGroup>> = None;
    let refresh = refresh.max(Duration::from_millis(100));
    loop {
        let files = expand(&patterns);
        last_good.retain(|p, _| files.contains(p));
        for f in &files {
            match read_sd_file(f) {
                Ok(g) => {
                    last_good.insert(f.clone(), g);
                }
                Err(e) => {
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(job = %job, error = %e, "Reading a file_sd file failed; keeping its last good targets");
                }
            }
        }
        let mut groups: Vec<TargetGroup> = files
            .iter()
            .filter_map(|f| last_good.get(f))
            .flatten()
            .cloned()
            .collect();
        groups.sort_by(|a, b| a.source.cmp(&b.source));
        if last_sent.as_ref() != Some(&groups) {
            last_sent = Some(groups.clone());
            let _ = tx.send(Update {
                job: job.clone(),
                provider: provider.clone(),
                groups,
            });
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(refresh) => {}
            Some(()) = ev_rx.recv() => {
                // Let a writer finish, and fold a burst of events into one read.
                tokio::time::sleep(Duration::from_millis(50)).await;
                while ev_rx.try_recv().is_ok() {}
            }
        }
    }
    drop(watcher);
}

#[cfg(test)]
mod tests {
    use super::changes_targets;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, EventKind, ModifyKind};
    use notify::event::{MetadataKind, RemoveKind, RenameMode};
    use notify::Event;
    use std::path::PathBuf;

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    fn pats() -> Vec<glob::Pattern> {
        vec![glob::Pattern::new("/sd/t*.json").unwrap()]
    }

    #[test]
    fn only_the_targets_files_and_a_configmaps_entries_count() {
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(changes_targets(&ev(write, "/sd/targets.json"), &pats()));
        assert!(!changes_targets(&ev(write, "/sd/collector.log"), &pats()));
        assert!(!changes_targets(&ev(write, "/sd/other.json"), &pats()));
        // An editor's temporary file renamed over the targets file.
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/sd/.t.json.swp"))
            .add_path(PathBuf::from("/sd/t.json"));
        assert!(changes_targets(&rename, &pats()));
        // A queue overflow: anything may have changed.
        assert!(changes_targets(&Event::new(write), &pats()));
        let rescan = ev(write, "/sd/x").set_flag(notify::event::Flag::Rescan);
        assert!(changes_targets(&rescan, &pats()));
    }

    #[test]
    fn reading_the_targets_file_is_not_a_change_but_writing_it_is() {
        let unchanged = [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
        ];
        for k in unchanged {
            assert!(!changes_targets(&ev(k, "/sd/t.json"), &pats()), "{k:?}");
        }
        let changes = [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ];
        for k in changes {
            assert!(changes_targets(&ev(k, "/sd/t.json"), &pats()), "{k:?}");
        }
        // A ConfigMap's update renames its `..data` symlink, not the targets file.
        let swap = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(changes_targets(&ev(swap, "/sd/..data"), &pats()));
    }
}
