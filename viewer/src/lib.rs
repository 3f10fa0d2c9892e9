//! meshscope's viewer: live per-node traffic windows on X11, fed by the Prometheus HTTP
//! API of the collector (or of any Prometheus with the mesh-model rules).

pub mod fetch;
pub mod model;
pub mod tui;
pub mod x11;
