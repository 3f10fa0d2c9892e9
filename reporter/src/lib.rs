//! meshscope reporter: the weekly executive deck (PPTX) from the mesh model, read through
//! the Prometheus HTTP API, on a schedule.

pub mod pptx;
