//! The agent's telemetry, served at `/v1/agent/metrics` as Consul serves
//! it: a pure [`registry`] of gauges, counters and samples under Consul's
//! [`names`], their [`summary`] statistics (cumulative since the agent
//! started) with bounded [`quantile_buckets`], rendered as go-metrics'
//! JSON summary ([`json`]) or as Prometheus text ([`prometheus`]).
//! Durations are measured with the seam's clock by whoever records them.

pub mod json;
pub mod names;
pub mod prometheus;
pub mod quantile_buckets;
pub mod registry;
pub mod series_key;
pub mod summary;

pub use registry::{Label, MAX_SERIES_PER_KIND, Registry, SeriesKey};
