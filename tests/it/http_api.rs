//! Consul's HTTP API on real `node` processes, driven by a real HTTP client
//! (ureq), answers compared field by field with Consul's documented ones
//! (`/v1/kv`, `/v1/txn`, `/v1/status`). Addresses 127.0.80.x (single
//! servers) and 127.0.81.x (the cluster); ports 18300 (peer) and 18500.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::http_agents::HttpAgent;
use crate::support::http_agents::{WAIT, cluster, single_server};
use crate::support::http_client::Reply;
use crate::support::node_process::text;
use crate::support::wait::{wait_until, wait_until_ok};

/// The blocking queries a server holds, from `node info`.
fn blocked_queries(agent: &HttpAgent) -> usize {
    let info = text(&agent.node(&["info"]).stdout);
    info.lines()
        .find_map(|line| line.trim().strip_prefix("blocked_queries = "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no blocked_queries in {info}"))
}

/// The fields of a `GET /v1/kv/<key>` entry, in Consul's order.
const ENTRY_FIELDS: [&str; 6] = [
    "LockIndex",
    "Key",
    "Flags",
    "Value",
    "CreateIndex",
    "ModifyIndex",
];

fn only_entry(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let list = reply.json();
    let entries = list.as_array().expect("a JSON list");
    assert_eq!(entries.len(), 1, "{list}");
    entries[0].clone()
}

/// Sends `request` on a fresh connection and returns every byte of the
/// answer, as a client that looks at bytes sees them.
fn raw_exchange(address: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn field_names(entry: &Value) -> Vec<String> {
    entry
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn kv_entries_have_consuls_fields_in_consuls_order() {
    let agent = single_server("127.0.80.1");
    let http = agent.http();
    let put = http.put("/v1/kv/web/config?flags=18446744073709551615", b"hello");
    assert_eq!((put.status, put.text().as_str()), (200, "true"));
    let reply = http.get("/v1/kv/web/config");
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    let entry = only_entry(&reply);
    // serde_json keeps the order the agent wrote (preserve_order is off, so
    // check the raw text too).
    let raw = reply.text();
    let positions: Vec<usize> = ENTRY_FIELDS
        .iter()
        .map(|field| raw.find(&format!("\"{field}\"")).expect(field))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    let mut names = field_names(&entry);
    names.sort();
    let mut expected: Vec<String> = ENTRY_FIELDS.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "no Session without a lock: {raw}");
    assert_eq!(entry["Key"], "web/config");
    assert_eq!(entry["Flags"].as_u64(), Some(u64::MAX));
    assert_eq!(entry["Value"], "aGVsbG8=");
    assert_eq!(entry["LockIndex"], 0);
    assert_eq!(entry["CreateIndex"], entry["ModifyIndex"]);
    assert_eq!(reply.index(), entry["ModifyIndex"].as_u64().unwrap());
    // An empty value is null, as Go writes a nil []byte.
    assert_eq!(http.put("/v1/kv/empty", b"").text(), "true");
    assert_eq!(only_entry(&http.get("/v1/kv/empty"))["Value"], Value::Null);
}

#[test]
fn kv_reads_carry_consuls_headers_and_a_missing_key_is_404_with_its_index() {
    let agent = single_server("127.0.80.2");
    let http = agent.http();
    http.put("/v1/kv/a", b"1");
    let reply = http.get("/v1/kv/a");
    // Go canonicalizes the names; clients that compare bytes see these.
    let raw = raw_exchange(
        &agent.1,
        "GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    for name in [
        "X-Consul-Index",
        "X-Consul-Knownleader",
        "X-Consul-Lastcontact",
        "X-Consul-Effective-Consistency",
    ] {
        assert!(raw.contains(&format!("\r\n{name}: ")), "{name} in {raw}");
    }
    assert_eq!(reply.header("X-Consul-Knownleader"), Some("true"));
    assert_eq!(
        reply.header("X-Consul-Lastcontact"),
        Some("0"),
        "the leader"
    );
    assert_eq!(
        reply.header("X-Consul-Effective-Consistency"),
        Some("leader")
    );
    let stale = http.get("/v1/kv/a?stale");
    assert_eq!(
        stale.header("X-Consul-Effective-Consistency"),
        Some("stale")
    );
    let consistent = http.get("/v1/kv/a?consistent");
    assert_eq!(
        consistent.header("X-Consul-Effective-Consistency"),
        Some("consistent")
    );
    let missing = http.get("/v1/kv/missing");
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
    assert!(missing.index() >= 1);
    let both = http.get("/v1/kv/a?stale&consistent");
    assert_eq!(both.status, 400);
    assert_eq!(
        both.text(),
        "Cannot specify ?stale with ?consistent, conflicting semantics."
    );
    assert_eq!(http.get("/v1/kv/a?wait=10").text(), "Invalid wait time");
    let raw = http.get("/v1/kv/a?raw");
    assert_eq!((raw.status, raw.text().as_str()), (200, "1"));
    assert_eq!(raw.header("Content-Type"), Some("text/plain"));
    assert_eq!(raw.header("X-Content-Type-Options"), Some("nosniff"));
}

#[test]
fn kv_recurse_keys_separator_cas_and_deletes_behave_as_consuls() {
    let agent = single_server("127.0.80.3");
    let http = agent.http();
    for key in ["app/db/host", "app/db/port", "app/web", "apple"] {
        assert_eq!(
            http.put(&format!("/v1/kv/{key}"), key.as_bytes()).text(),
            "true"
        );
    }
    let tree = http.get("/v1/kv/app/?recurse").json();
    let keys: Vec<&str> = tree
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["app/db/host", "app/db/port", "app/web"]);
    assert_eq!(
        http.get("/v1/kv/app/?keys").json(),
        json!(["app/db/host", "app/db/port", "app/web"])
    );
    assert_eq!(
        http.get("/v1/kv/app/?keys&separator=/").json(),
        json!(["app/db/", "app/web"])
    );
    assert_eq!(http.get("/v1/kv/nothing/?keys").status, 404);
    assert_eq!(http.get("/v1/kv/nothing/?recurse").status, 404);

    // Check-and-set: 0 creates only if absent; otherwise the ModifyIndex.
    assert_eq!(http.put("/v1/kv/apple?cas=0", b"x").text(), "false");
    let modify = only_entry(&http.get("/v1/kv/apple"))["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        http.put(&format!("/v1/kv/apple?cas={}", modify + 1), b"x")
            .text(),
        "false"
    );
    assert_eq!(
        http.put(&format!("/v1/kv/apple?cas={modify}"), b"y").text(),
        "true"
    );
    assert_eq!(http.get("/v1/kv/apple?raw").text(), "y");
    assert_eq!(
        http.delete(&format!("/v1/kv/apple?cas={modify}")).text(),
        "false"
    );
    assert_eq!(http.get("/v1/kv/apple").status, 200);
    let modify = only_entry(&http.get("/v1/kv/apple"))["ModifyIndex"]
        .as_u64()
        .unwrap();
    assert_eq!(
        http.delete(&format!("/v1/kv/apple?cas={modify}")).text(),
        "true"
    );
    assert_eq!(http.get("/v1/kv/apple").status, 404);
    assert_eq!(http.delete("/v1/kv/app/db/?recurse").text(), "true");
    assert_eq!(http.get("/v1/kv/app/?keys").json(), json!(["app/web"]));

    // A client's mistakes are 4xx with one line of text, never a 500.
    let cases: [(Reply, u16); 5] = [
        (http.get("/v1/kv//lead"), 400),
        (http.put("/v1/kv/x?flags=nope", b""), 400),
        (http.put("/v1/kv/big", &vec![b'v'; 512 * 1024 + 1]), 413),
        (http.delete("/v1/kv/x?recurse&cas=1"), 400),
        (http.get("/v1/nowhere"), 404),
    ];
    for (reply, status) in cases {
        assert_eq!(reply.status, status, "{}", reply.text());
        assert!(!reply.text().contains('\n'), "{}", reply.text());
    }
    let wrong = http.delete("/v1/status/leader");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("Allow"), Some("OPTIONS,GET"));
}

#[test]
fn a_transaction_applies_all_or_nothing_with_consuls_results_and_errors() {
    let agent = single_server("127.0.80.4");
    let http = agent.http();
    http.put("/v1/kv/t/existing", b"old");
    let ops = json!([
        {"KV": {"Verb": "set", "Key": "t/a", "Value": "YQ==", "Flags": 7}},
        {"KV": {"Verb": "get", "Key": "t/existing"}},
        {"KV": {"Verb": "delete", "Key": "t/existing"}},
    ]);
    let reply = http.put("/v1/txn", ops.to_string().as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["Errors"], Value::Null);
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "set and get return entries: {body}");
    assert_eq!(results[0]["KV"]["Key"], "t/a");
    assert_eq!(results[0]["KV"]["Flags"], 7);
    assert_eq!(
        results[0]["KV"]["Value"],
        Value::Null,
        "a set returns no value"
    );
    assert_eq!(results[1]["KV"]["Value"], "b2xk");
    assert_eq!(http.get("/v1/kv/t/existing").status, 404);

    let failing = json!([
        {"KV": {"Verb": "set", "Key": "t/b", "Value": "Yg=="}},
        {"KV": {"Verb": "check-not-exists", "Key": "t/a"}},
        {"KV": {"Verb": "cas", "Key": "t/a", "Value": "Yg==", "Index": 1}},
    ]);
    let reply = http.put("/v1/txn", failing.to_string().as_bytes());
    assert_eq!(reply.status, 409, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["Results"], Value::Null);
    assert_eq!(
        body["Errors"],
        json!([
            {"OpIndex": 1, "What": "key \"t/a\" exists"},
            {"OpIndex": 2, "What": "failed to set key \"t/a\", index is stale"},
        ])
    );
    assert_eq!(http.get("/v1/kv/t/b").status, 404, "nothing applied");

    let read_only = json!([{"KV": {"Verb": "get", "Key": "t/a"}}]);
    let reply = http.put("/v1/txn?stale", read_only.to_string().as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["Results"][0]["KV"]["Value"], "YQ==");
    assert_eq!(body["KnownLeader"], true);
    assert_eq!(body["ConsistencyLevel"], "stale");
    assert_eq!(reply.header("X-Consul-Knownleader"), Some("true"));

    let too_many: Vec<Value> = (0..129)
        .map(|i| json!({"KV": {"Verb": "get", "Key": format!("k{i}")}}))
        .collect();
    let reply = http.put("/v1/txn", Value::from(too_many).to_string().as_bytes());
    assert_eq!(reply.status, 413, "{}", reply.text());
}

#[test]
fn status_names_the_leader_and_the_peers_at_their_raft_addresses() {
    let agent = single_server("127.0.80.5");
    let http = agent.http();
    assert_eq!(
        http.get("/v1/status/leader").json(),
        json!("127.0.80.5:18300")
    );
    assert_eq!(
        http.get("/v1/status/peers").json(),
        json!(["127.0.80.5:18300"])
    );
}

#[test]
fn a_prefix_index_never_goes_back_when_its_newest_key_is_deleted() {
    let agent = single_server("127.0.80.6");
    let http = agent.http();
    http.put("/v1/kv/p/a", b"1");
    http.put("/v1/kv/p/b", b"2");
    let before = http.get("/v1/kv/p/?recurse").index();
    http.delete("/v1/kv/p/b");
    let after = http.get("/v1/kv/p/?recurse").index();
    assert!(after > before, "{after} after {before}");
    // A blocking query from the old index sees the deletion.
    let reply = http.get(&format!("/v1/kv/p/?recurse&index={before}&wait=30s"));
    assert_eq!(reply.index(), after);
}

/// Runs `GET path` on its own thread; returns its reply and how long it took.
fn in_background(
    http: crate::support::http_client::Http,
    path: String,
) -> std::thread::JoinHandle<(Reply, Duration)> {
    std::thread::spawn(move || {
        let started = Instant::now();
        let reply = http.get(&path);
        (reply, started.elapsed())
    })
}

#[test]
fn blocking_queries_wake_on_a_change_through_another_server_and_only_then() {
    let agents = cluster("127.0.81");
    let (s2, s3, client) = (&agents[1], &agents[2], &agents[3]);
    s3.http().put("/v1/kv/watched", b"v1");
    let index = s2.http().get("/v1/kv/watched").index();

    // Held on the leader for a follower's default read, on the server a
    // client agent forwards to, and on the follower itself when stale.
    let waits = [
        in_background(s2.http(), format!("/v1/kv/watched?index={index}&wait=60s")),
        in_background(
            client.http(),
            format!("/v1/kv/watched?index={index}&wait=60s"),
        ),
        in_background(
            s2.http(),
            format!("/v1/kv/watched?index={index}&wait=60s&stale"),
        ),
        in_background(
            client.http(),
            format!("/v1/kv/?recurse&index={index}&wait=60s"),
        ),
    ];
    // Unrelated writes (another key, and a key sharing the watched one's
    // first letters) wake nobody.
    s3.http().put("/v1/kv/other", b"x");
    s3.http().put("/v1/kv/watchedx", b"x");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waits[..3].iter().all(|w| !w.is_finished()),
        "woken by an unrelated write"
    );
    let started = Instant::now();
    s3.http().put("/v1/kv/watched", b"v2");
    for wait in waits {
        let (reply, took) = wait.join().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.index() > index);
        assert!(
            took < Duration::from_secs(60),
            "woken before its wait: {took:?}"
        );
    }
    assert_eq!(
        s2.http().get("/v1/kv/watched?raw&stale").text(),
        "v2",
        "{:?} after the write",
        started.elapsed()
    );
}

#[test]
fn a_blocking_query_times_out_with_the_same_index_and_a_missing_key_keeps_blocking() {
    let agents = cluster("127.0.82");
    let (s2, client) = (&agents[1], &agents[3]);
    s2.http().put("/v1/kv/quiet", b"v");
    let index = client.http().get("/v1/kv/quiet").index();
    let started = Instant::now();
    let reply = client
        .http()
        .get(&format!("/v1/kv/quiet?index={index}&wait=2s"));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(started.elapsed() < Duration::from_millis(2000 + 2000 / 16 + 5000));
    assert_eq!((reply.status, reply.index()), (200, index));

    let missing = s2.http().get("/v1/kv/later");
    assert_eq!(missing.status, 404);
    let index = missing.index();
    let wait = in_background(s2.http(), format!("/v1/kv/later?index={index}&wait=60s"));
    // A missing key's index is the store's (as in Consul), so the write
    // below must come once the query is held (on the leader), or the query
    // would rightly answer at once with the newer index.
    wait_until(WAIT, "the leader holds the query", || {
        blocked_queries(&agents[0]) == 1
    });
    s2.http().put("/v1/kv/unrelated", b"x");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!wait.is_finished(), "a missing key woke for another key");
    agents[2].http().put("/v1/kv/later", b"here");
    let (reply, _) = wait.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(only_entry(&reply)["Value"], "aGVyZQ==");
}

#[test]
fn writes_through_every_agent_are_seen_through_every_other() {
    let agents = cluster("127.0.83");
    for (i, agent) in agents.iter().enumerate() {
        let reply = agent.http().put(&format!("/v1/kv/from/{i}"), b"x");
        assert_eq!(reply.text(), "true");
    }
    for agent in &agents {
        let http = agent.http();
        wait_until_ok(WAIT, "every write seen", || {
            let reply = http.get("/v1/kv/from/?keys");
            match reply.json().as_array().map(Vec::len) {
                Some(4) => Ok(()),
                _ => Err(reply.text()),
            }
        });
    }
}

#[test]
fn agent_self_members_and_datacenters_have_consuls_shapes() {
    let agent = single_server("127.0.80.7");
    let http = agent.http();
    let me = http.get("/v1/agent/self").json();
    for section in [
        "Config",
        "DebugConfig",
        "Coord",
        "Member",
        "Stats",
        "Meta",
        "xDS",
    ] {
        assert!(me.get(section).is_some(), "{section} in {me}");
    }
    let config = &me["Config"];
    assert_eq!(config["Datacenter"], "dc1");
    assert_eq!(config["NodeName"], "solo");
    assert_eq!(config["Server"], true);
    assert!(config["NodeID"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(config["Version"].is_string() && config["Revision"].is_string());
    let consul = &me["Stats"]["consul"];
    assert_eq!(consul["leader"], "true");
    assert_eq!(consul["leader_addr"], "127.0.80.7:18300");
    assert_eq!(consul["server"], "true");
    assert_eq!(consul["bootstrap"], "true");
    assert_eq!(consul["known_datacenters"], "1");
    assert_eq!(me["Stats"]["raft"]["state"], "LEADER");

    let members = http.get("/v1/agent/members").json();
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 1);
    let member = &members[0];
    assert_eq!(member["Name"], "solo");
    assert_eq!(member["Addr"], "127.0.80.7");
    assert_eq!(member["Port"], 18300);
    assert_eq!(member["Status"], 1);
    assert_eq!(member["Tags"]["role"], "consul");
    assert_eq!(member["Tags"]["dc"], "dc1");
    assert_eq!(member["Tags"]["port"], "18300");
    for field in [
        "ProtocolMin",
        "ProtocolMax",
        "ProtocolCur",
        "DelegateMin",
        "DelegateMax",
        "DelegateCur",
    ] {
        assert!(member[field].is_u64(), "{field} in {member}");
    }
    assert_eq!(me["Member"], *member);
    assert_eq!(http.get("/v1/catalog/datacenters").json(), json!(["dc1"]));
    let metrics = http.get("/v1/agent/metrics");
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    assert!(metrics.json()["Samples"].is_array(), "{}", metrics.text());
}
