//! `GET /v1/agent/metrics` (Consul's `AgentMetrics`): the agent's metrics
//! from its rooms (HTTP timings, gossip probes, the Raft host's timings
//! and gauges) and the process's memory, as go-metrics' JSON summary or,
//! with `?format=prometheus`, as Prometheus text.

use crate::http::HttpResponse;
use crate::http::api_request::MetricsFormat;

use crate::agent::handler::AgentHandler;
use crate::agent::metrics::names::RUNTIME_RSS_BYTES;
use crate::agent::metrics::{Registry, json, prometheus};
use crate::agent::seam::Context;

/// go-metrics' InmemSink interval: the JSON `Timestamp` is the start of
/// the current one, as Consul shows it.
const INTERVAL_SECS: u64 = 10;

impl AgentHandler {
    pub(crate) fn agent_metrics(
        &self,
        format: MetricsFormat,
        pretty: bool,
        ctx: &mut Context,
    ) -> HttpResponse {
        let metrics = self.gathered_metrics(ctx);
        match format {
            MetricsFormat::Prometheus => HttpResponse::new(200).with_body(
                prometheus::CONTENT_TYPE,
                prometheus::render(&metrics).into_bytes(),
            ),
            MetricsFormat::Json => {
                let unix_secs = ctx.unix_time_secs();
                let timestamp = json::go_utc_time(unix_secs - unix_secs % INTERVAL_SECS);
                let window_secs = ctx
                    .now()
                    .saturating_duration_since(self.started_at)
                    .as_secs_f64();
                let summary = json::metrics_summary(&metrics, timestamp, window_secs);
                HttpResponse::json(200, &summary, pretty)
            }
        }
    }

    fn gathered_metrics(&self, ctx: &mut Context) -> Registry {
        let mut metrics = self.http.metrics().clone();
        metrics.merge(self.membership.metrics());
        metrics.merge(self.dns.metrics());
        if let Some(raft) = &self.raft {
            metrics.merge(&raft.metrics());
        }
        if let Some(bytes) = ctx.resident_memory_bytes() {
            metrics.set_gauge(RUNTIME_RSS_BYTES, &[], bytes as f64);
        }
        if metrics.dropped_updates() > 0 {
            log::debug!(target: "agent.http",
                "metrics: {} updates dropped past {} series per kind",
                metrics.dropped_updates(), crate::agent::metrics::MAX_SERIES_PER_KIND);
        }
        metrics
    }
}
