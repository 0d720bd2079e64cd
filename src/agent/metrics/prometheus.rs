//! `/v1/agent/metrics?format=prometheus`: the text exposition format 0.0.4
//! as go-metrics' Prometheus sink writes Consul's metrics through
//! client_golang: dots become `_`, gauges are gauges, counters are
//! counters holding their running sum (no `_total` suffix, as the sink
//! names them), samples are summaries with the 0.5, 0.9 and 0.99
//! quantiles. Families are sorted by name and labels by name, the
//! `quantile` label last, as client_golang writes them.

use std::fmt::Write;

use super::names::help_of;
use super::registry::{Registry, SeriesKey};
use super::summary::Summary;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The quantiles of every summary, go-metrics' Prometheus objectives.
pub const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

enum Family<'a> {
    Gauge(Vec<(&'a SeriesKey, f64)>),
    Counter(Vec<(&'a SeriesKey, &'a Summary)>),
    Summary(Vec<(&'a SeriesKey, &'a Summary)>),
}

/// go-metrics' `flattenKey`: anything outside `[a-zA-Z0-9_:]` becomes `_`.
pub fn flatten_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn render(registry: &Registry) -> String {
    let mut families: Vec<(String, &str, Family)> = Vec::new();
    for (key, value) in registry.gauges() {
        match families.last_mut() {
            Some((_, name, Family::Gauge(series))) if *name == key.name => {
                series.push((key, *value))
            }
            _ => families.push((
                flatten_name(&key.name),
                &key.name,
                Family::Gauge(vec![(key, *value)]),
            )),
        }
    }
    for (key, summary) in registry.counters() {
        match families.last_mut() {
            Some((_, name, Family::Counter(series))) if *name == key.name => {
                series.push((key, summary))
            }
            _ => families.push((
                flatten_name(&key.name),
                &key.name,
                Family::Counter(vec![(key, summary)]),
            )),
        }
    }
    for (key, summary) in registry.samples() {
        match families.last_mut() {
            Some((_, name, Family::Summary(series))) if *name == key.name => {
                series.push((key, summary))
            }
            _ => families.push((
                flatten_name(&key.name),
                &key.name,
                Family::Summary(vec![(key, summary)]),
            )),
        }
    }
    families.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (flat, dotted, family) in &families {
        write_family(&mut out, flat, dotted, family);
    }
    out
}

fn write_family(out: &mut String, flat: &str, dotted: &str, family: &Family) {
    let help = help_of(dotted).map_or_else(|| flat.to_string(), escape_help);
    let kind = match family {
        Family::Gauge(_) => "gauge",
        Family::Counter(_) => "counter",
        Family::Summary(_) => "summary",
    };
    let _ = writeln!(out, "# HELP {flat} {help}");
    let _ = writeln!(out, "# TYPE {flat} {kind}");
    match family {
        Family::Gauge(series) => {
            for (key, value) in series {
                write_line(out, flat, &labels(key, None), *value);
            }
        }
        Family::Counter(series) => {
            for (key, summary) in series {
                write_line(out, flat, &labels(key, None), summary.sum);
            }
        }
        Family::Summary(series) => {
            for (key, summary) in series {
                for q in QUANTILES {
                    let value = summary.quantile(q).unwrap_or(f64::NAN);
                    write_line(out, flat, &labels(key, Some(q)), value);
                }
                let plain = labels(key, None);
                write_line(out, &format!("{flat}_sum"), &plain, summary.sum);
                write_line(out, &format!("{flat}_count"), &plain, summary.count as f64);
            }
        }
    }
}

fn write_line(out: &mut String, name: &str, labels: &str, value: f64) {
    let _ = writeln!(out, "{name}{labels} {}", format_value(value));
}

/// `{a="x",b="y"}`, or nothing without labels.
fn labels(key: &SeriesKey, quantile: Option<f64>) -> String {
    let mut pairs: Vec<String> = key
        .labels
        .iter()
        .map(|(name, value)| format!("{}=\"{}\"", flatten_name(name), escape_label(value)))
        .collect();
    if let Some(q) = quantile {
        pairs.push(format!("quantile=\"{}\"", format_value(q)));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// Values as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes the usual
/// ones: whole numbers without a fraction, `NaN`, `+Inf`, `-Inf`.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_exposition_is_exactly_client_golangs() {
        let mut registry = Registry::new();
        registry.set_gauge("consul.state.kv_entries", &[], 3.0);
        registry.incr_counter("consul.raft.apply", &[], 1.0);
        registry.incr_counter("consul.raft.apply", &[], 1.0);
        let http = [("path", "v1_kv_"), ("method", "GET"), ("code", "200")];
        registry.add_sample("consul.api.http", &http, 1.5);
        registry.add_sample("consul.api.http", &http, 0.5);
        registry.add_sample("consul.http.GET.v1.kv._", &[], 0.25);
        let labels = r#"code="200",method="GET",path="v1_kv_""#;
        let expected = [
            "# HELP consul_api_http Time to answer an HTTP API request, in ms.",
            "# TYPE consul_api_http summary",
            // The upper edge of 0.5 ms's bucket (496-511 µs).
            &format!("consul_api_http{{{labels},quantile=\"0.5\"}} 0.511"),
            &format!("consul_api_http{{{labels},quantile=\"0.9\"}} 1.5"),
            &format!("consul_api_http{{{labels},quantile=\"0.99\"}} 1.5"),
            &format!("consul_api_http_sum{{{labels}}} 2"),
            &format!("consul_api_http_count{{{labels}}} 2"),
            "# HELP consul_http_GET_v1_kv__ consul_http_GET_v1_kv__",
            "# TYPE consul_http_GET_v1_kv__ summary",
            "consul_http_GET_v1_kv__{quantile=\"0.5\"} 0.25",
            "consul_http_GET_v1_kv__{quantile=\"0.9\"} 0.25",
            "consul_http_GET_v1_kv__{quantile=\"0.99\"} 0.25",
            "consul_http_GET_v1_kv___sum 0.25",
            "consul_http_GET_v1_kv___count 1",
            "# HELP consul_raft_apply Client writes proposed to the Raft log.",
            "# TYPE consul_raft_apply counter",
            "consul_raft_apply 2",
            "# HELP consul_state_kv_entries Keys in the KV store.",
            "# TYPE consul_state_kv_entries gauge",
            "consul_state_kv_entries 3",
            "",
        ]
        .join("\n");
        assert_eq!(render(&registry), expected);
    }

    #[test]
    fn names_labels_and_values_are_escaped() {
        assert_eq!(
            flatten_name("consul.raft.leader.lastContact"),
            "consul_raft_leader_lastContact"
        );
        assert_eq!(flatten_name("a-b c/d"), "a_b_c_d");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(0.99), "0.99");
        assert_eq!(format_value(12.0), "12");
    }
}
