//! The meshscope collector: scrape Prometheus/OpenMetrics endpoints, keep samples in an
//! embedded time-series store and serve them.

pub mod api;
pub mod config;
pub mod exposition;
pub mod notifier;
pub mod promql;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod serve;
pub mod server;
pub mod tsdb;
pub mod webconfig;
