//! Exporters for components whose own Prometheus exporter is not packaged here.

pub mod nats;
