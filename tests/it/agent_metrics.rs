//! `/v1/agent/metrics` on a real 3-server cluster: after KV writes over
//! HTTP, the leader's JSON has go-metrics' fields and counts what was
//! done, and its `?format=prometheus` text parses with the official
//! Python client's parser (`tests/it/prometheus_parse.py`, prometheus_client
//! from PyPI, installed by `.ci/run`; without it this test fails, saying
//! how to install it). Addresses 127.0.90.x.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::http_agents::{HttpAgent, WAIT, cluster};
use crate::support::node_process::text;
use crate::support::wait::wait_until_ok;

const PARSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/prometheus_parse.py");
const WRITES: u64 = 20;

fn leader(agents: &[HttpAgent]) -> &HttpAgent {
    let mut found = None;
    wait_until_ok(WAIT, "a server says it leads", || {
        found = agents[..3].iter().find(|agent| {
            let reply = agent.http().get("/v1/agent/self");
            reply.status == 200 && reply.json()["Stats"]["consul"]["leader"] == "true"
        });
        found.map(|_| ()).ok_or_else(|| "no leader yet".to_string())
    });
    found.unwrap()
}

/// The entry of `kind` (`Counters`, `Samples`, `Gauges`) named `name`
/// whose labels include `labels`.
fn entry<'a>(metrics: &'a Value, kind: &str, name: &str, labels: &[(&str, &str)]) -> &'a Value {
    let entries = metrics[kind].as_array().expect("an array of entries");
    entries
        .iter()
        .find(|e| e["Name"] == name && labels.iter().all(|(k, v)| e["Labels"][*k] == *v))
        .unwrap_or_else(|| panic!("no {kind} entry {name} {labels:?} in {metrics}"))
}

fn count(metrics: &Value, kind: &str, name: &str, labels: &[(&str, &str)]) -> u64 {
    entry(metrics, kind, name, labels)["Count"]
        .as_u64()
        .expect("a whole Count")
}

fn check_json(text: &str) {
    let metrics: Value = serde_json::from_str(text).expect("JSON");
    let fields: Vec<&str> = metrics
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec!["Counters", "Gauges", "Points", "Samples", "Timestamp"];
    expected.sort();
    assert_eq!(fields, expected, "{text}");
    let timestamp = metrics["Timestamp"].as_str().unwrap();
    // The start of go-metrics' current 10 s interval.
    assert!(timestamp.ends_with("0 +0000 UTC"), "{timestamp}");
    assert_eq!(
        timestamp.len(),
        "2026-12-02 06:20:00 +0000 UTC".len(),
        "{timestamp}"
    );
    // go-metrics' field order, as Consul writes it.
    assert!(
        text.contains(r#"{"Name":"consul.raft.commitTime","Count":"#),
        "{text}"
    );
    let sample = entry(&metrics, "Samples", "consul.raft.commitTime", &[]);
    let keys: Vec<&str> = sample
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sampled = vec![
        "Count", "Labels", "Max", "Mean", "Min", "Name", "Rate", "Stddev", "Sum",
    ];
    sampled.sort();
    assert_eq!(keys, sampled);
    assert!(count(&metrics, "Samples", "consul.raft.commitTime", &[]) > 0);
    assert!(count(&metrics, "Samples", "consul.raft.boltdb.storeLogs", &[]) > 0);
    assert!(count(&metrics, "Samples", "consul.raft.fsm.apply", &[]) >= WRITES);
    assert!(count(&metrics, "Samples", "consul.kvs.apply", &[]) >= WRITES);
    assert!(count(&metrics, "Counters", "consul.raft.apply", &[]) >= WRITES);
    assert!(count(&metrics, "Counters", "consul.raft.state.leader", &[]) >= 1);
    assert!(count(&metrics, "Samples", "consul.raft.leader.lastContact", &[]) > 0);
    let kv_put = [("method", "PUT"), ("path", "v1_kv_"), ("code", "200")];
    assert!(count(&metrics, "Samples", "consul.api.http", &kv_put) >= WRITES);
    assert!(count(&metrics, "Samples", "consul.http.PUT.v1.kv._", &[]) >= WRITES);
    assert!(count(&metrics, "Samples", "consul.memberlist.probeNode", &[]) > 0);
    assert_eq!(
        entry(&metrics, "Gauges", "consul.server.isLeader", &[])["Value"],
        1
    );
    let keys = entry(&metrics, "Gauges", "consul.state.kv_entries", &[])["Value"].as_u64();
    assert!(keys.unwrap() >= WRITES, "{metrics}");
    assert!(entry(&metrics, "Gauges", "consul.rpc.queries_blocking", &[])["Value"].is_u64());
    assert!(entry(&metrics, "Gauges", "consul.runtime.rss_bytes", &[])["Value"].as_u64() > Some(0));
}

fn parse_prometheus(exposition: &str) -> Value {
    let mut parser = Command::new("python3")
        .arg(PARSER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (install it with apt-get install -y python3)");
    let mut stdin = parser.stdin.take().unwrap();
    stdin.write_all(exposition.as_bytes()).unwrap();
    drop(stdin);
    let output = parser.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client's parser failed ({}): {}\n{exposition}",
        output.status,
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the parser's JSON")
}

fn family<'a>(families: &'a Value, name: &str) -> &'a Value {
    families
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name} in {families}"))
}

fn check_prometheus(families: &Value) {
    let commit = family(families, "consul_raft_commitTime");
    assert_eq!(commit["type"], "summary");
    let quantiles: Vec<&str> = commit["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["labels"]["quantile"].as_str())
        .collect();
    assert_eq!(quantiles, ["0.5", "0.9", "0.99"]);
    let http = family(families, "consul_api_http");
    assert_eq!(http["type"], "summary");
    let kv_put_count = http["samples"].as_array().unwrap().iter().find(|s| {
        s["name"] == "consul_api_http_count"
            && s["labels"]["method"] == "PUT"
            && s["labels"]["path"] == "v1_kv_"
            && s["labels"]["code"] == "200"
    });
    assert!(
        kv_put_count.unwrap()["value"].as_f64() >= Some(WRITES as f64),
        "{http}"
    );
    let apply = family(families, "consul_raft_apply");
    assert_eq!(apply["type"], "counter");
    assert!(
        apply["samples"][0]["value"].as_f64() >= Some(WRITES as f64),
        "{apply}"
    );
    let leader = family(families, "consul_server_isLeader");
    assert_eq!(leader["type"], "gauge");
    assert_eq!(leader["samples"][0]["value"].as_f64(), Some(1.0));
}

#[test]
fn the_leader_reports_its_raft_http_and_gossip_metrics() {
    let agents = cluster("127.0.90");
    let leader = leader(&agents);
    let http = leader.http();
    for i in 0..WRITES {
        let reply = http.put(&format!("/v1/kv/metrics/{i}"), b"v");
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    // A probe finishes within a probe interval of the cluster forming,
    // and the leader samples its followers' contact every 500 ms.
    wait_until_ok(
        WAIT,
        "the leader has probed a member and heard a follower",
        || {
            let text = http.get("/v1/agent/metrics").text();
            match text.contains("consul.memberlist.probeNode")
                && text.contains("consul.raft.leader.lastContact")
            {
                true => Ok(()),
                false => Err(text),
            }
        },
    );
    let reply = http.get("/v1/agent/metrics");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    check_json(&reply.text());
    let reply = http.get("/v1/agent/metrics?format=prometheus");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    check_prometheus(&parse_prometheus(&reply.text()));
}
