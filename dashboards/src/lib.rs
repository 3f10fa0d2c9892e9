//! meshscope's Grafana dashboards: generated here, committed as JSON under
//! `dashboards/provisioning/dashboards/meshscope/`, and checked by the test suite.
//!
//! Regenerate after a change: `cargo run -p meshscope-dashboards --example generate`
//! (a test fails while the committed files differ from what this crate generates).

pub mod build;
pub mod defs;
pub mod lint;

use std::path::{Path, PathBuf};

pub use build::Dashboard;
pub use defs::all;

/// Where the JSON files live, relative to the repository root.
pub const JSON_DIR: &str = "dashboards/provisioning/dashboards/meshscope";

/// The repository's root (this crate is `dashboards/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The catalogue of metric names each source documents (`dashboards/catalogue.yml`).
pub fn catalogue() -> Result<std::collections::BTreeMap<String, Vec<String>>, serde_yaml::Error> {
    serde_yaml::from_str(include_str!("../catalogue.yml"))
}

/// Write every dashboard's JSON into `dir`.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    all()
        .into_iter()
        .map(|d| {
            let p = dir.join(d.file_name());
            std::fs::write(&p, d.render())?;
            Ok(p)
        })
        .collect()
}
