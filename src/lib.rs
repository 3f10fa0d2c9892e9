//! The `meshscope` command line.
pub mod cli;
