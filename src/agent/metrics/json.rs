//! `/v1/agent/metrics` as Consul answers it by default: go-metrics'
//! `MetricsSummary`, fields in its order, numbers as Go writes them (a
//! whole number without a fraction).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Number, Value};

use super::registry::{Registry, SeriesKey};
use super::summary::Summary;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricsSummary {
    pub timestamp: String,
    pub gauges: Vec<GaugeValue>,
    /// go-metrics' `SetGauge` points; concord records none.
    pub points: Vec<Value>,
    pub counters: Vec<SampledValue>,
    pub samples: Vec<SampledValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GaugeValue {
    pub name: String,
    pub value: Value,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SampledValue {
    pub name: String,
    pub count: u64,
    pub rate: Value,
    pub sum: Value,
    pub min: Value,
    pub max: Value,
    pub mean: Value,
    pub stddev: Value,
    pub labels: BTreeMap<String, String>,
}

/// A float as Go's encoder writes it: `3`, not `3.0`. Non-finite values
/// (which Go refuses to encode) become 0.
pub fn go_number(value: f64) -> Value {
    if !value.is_finite() {
        return Value::Number(Number::from(0));
    }
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        return Value::Number(Number::from(value as i64));
    }
    Number::from_f64(value).map_or(Value::Number(Number::from(0)), Value::Number)
}

fn labels_of(key: &SeriesKey) -> BTreeMap<String, String> {
    key.labels.iter().cloned().collect()
}

fn sampled(key: &SeriesKey, summary: &Summary, window_secs: f64) -> SampledValue {
    SampledValue {
        name: key.name.clone(),
        count: summary.count,
        rate: go_number(summary.rate(window_secs)),
        sum: go_number(summary.sum),
        min: go_number(summary.min),
        max: go_number(summary.max),
        mean: go_number(summary.mean()),
        stddev: go_number(summary.stddev()),
        labels: labels_of(key),
    }
}

/// The summary of `registry`; `timestamp` is the window's start as Go
/// prints a UTC time (`2026-12-02 06:20:00 +0000 UTC`), `window_secs` its
/// length (for `Rate`).
pub fn metrics_summary(registry: &Registry, timestamp: String, window_secs: f64) -> MetricsSummary {
    MetricsSummary {
        timestamp,
        gauges: registry
            .gauges()
            .iter()
            .map(|(key, value)| GaugeValue {
                name: key.name.clone(),
                value: go_number(*value),
                labels: labels_of(key),
            })
            .collect(),
        points: Vec::new(),
        counters: registry
            .counters()
            .iter()
            .map(|(key, summary)| sampled(key, summary, window_secs))
            .collect(),
        samples: registry
            .samples()
            .iter()
            .map(|(key, summary)| sampled(key, summary, window_secs))
            .collect(),
    }
}

/// Go's `time.Time.String()` of a UTC time, from Unix seconds.
pub fn go_utc_time(unix_secs: u64) -> String {
    let logged = crate::logging::format_utc_timestamp(unix_secs);
    format!("{} +0000 UTC", logged.replacen('/', "-", 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_order_are_go_metrics() {
        let mut registry = Registry::new();
        registry.set_gauge("consul.state.kv_entries", &[], 3.0);
        registry.incr_counter("consul.raft.apply", &[], 1.0);
        registry.incr_counter("consul.raft.apply", &[], 1.0);
        registry.add_sample("consul.api.http", &[("method", "GET")], 1.5);
        registry.add_sample("consul.api.http", &[("method", "GET")], 0.5);
        let summary = metrics_summary(&registry, go_utc_time(1_796_192_400), 10.0);
        let text = serde_json::to_string(&summary).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"Timestamp":"2026-12-02 06:20:00 +0000 UTC","#,
                r#""Gauges":[{"Name":"consul.state.kv_entries","Value":3,"Labels":{}}],"#,
                r#""Points":[],"#,
                r#""Counters":[{"Name":"consul.raft.apply","Count":2,"Rate":0.2,"Sum":2,"#,
                r#""Min":1,"Max":1,"Mean":1,"Stddev":0,"Labels":{}}],"#,
                r#""Samples":[{"Name":"consul.api.http","Count":2,"Rate":0.2,"Sum":2,"#,
                r#""Min":0.5,"Max":1.5,"Mean":1,"Stddev":0.7071067811865476,"#,
                r#""Labels":{"method":"GET"}}]}"#
            )
        );
    }

    #[test]
    fn numbers_are_written_as_go_writes_them() {
        assert_eq!(go_number(3.0).to_string(), "3");
        assert_eq!(go_number(0.25).to_string(), "0.25");
        assert_eq!(go_number(f64::NAN).to_string(), "0");
    }
}
