//! Charts as data: downsampling for native charts, and the dense visuals (a node × hour
//! heatmap, small multiples per node) drawn with `plotters` as PNG at twice the size they
//! take on the slide, with DejaVu Sans bundled (no fontconfig).

mod downsample;
mod png;

pub use downsample::{keep, MAX_POINTS};
pub use png::{heatmap, small_multiples, Small};
