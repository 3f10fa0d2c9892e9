//! The `meshscope` command line, and the exporters it serves.
pub mod cli;
pub mod exporter;
