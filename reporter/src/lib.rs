//! meshscope reporter: the weekly executive deck (PPTX) from the mesh model, read through
//! the Prometheus HTTP API, on a schedule.

pub mod charts;
pub mod deck;
pub mod format;
pub mod model;
pub mod pptx;
pub mod query;
pub mod render;
pub mod sample;
pub mod schedule;
pub mod slo;
pub mod week;
