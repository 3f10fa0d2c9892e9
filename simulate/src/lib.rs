//! The simulated mesh.
