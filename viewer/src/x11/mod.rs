//! The X11 renderer.

pub mod app;
pub mod conn;
