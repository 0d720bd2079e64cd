//! Consul's catalog endpoints on real `node` processes: `/v1/catalog/nodes`,
//! `/v1/catalog/node/<node>` and `/v1/catalog/services`, with Consul's
//! fields and blocking queries that wake for the catalog only. Addresses
//! 127.0.87.x and 127.0.88.x; ports 18300 (peer) and 18500.

use std::time::Duration;

use serde_json::Value;

use crate::support::http_agents::{HttpAgent, WAIT, cluster};
use crate::support::http_client::{Http, Reply};
use crate::support::wait::wait_until_ok;

/// `api.Node`'s fields, in Consul's order.
const NODE_FIELDS: [&str; 8] = [
    "ID",
    "Node",
    "Address",
    "Datacenter",
    "TaggedAddresses",
    "Meta",
    "CreateIndex",
    "ModifyIndex",
];

fn nodes(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json().as_array().expect("a JSON list").clone()
}

fn names(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["Node"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for_nodes(http: &Http, count: usize) -> Reply {
    let mut last = None;
    wait_until_ok(WAIT, &format!("{count} nodes in the catalog"), || {
        let reply = http.get("/v1/catalog/nodes");
        let found = nodes(&reply).len();
        last = Some(reply);
        match found == count {
            true => Ok(()),
            false => Err(format!("{found} nodes")),
        }
    });
    last.unwrap()
}

#[test]
fn catalog_nodes_node_and_services_have_consuls_shapes() {
    let agents = cluster("127.0.87");
    let http = agents[3].http();
    let reply = wait_for_nodes(&http, 4);
    assert!(reply.index() >= 1);
    assert_eq!(reply.header("X-Consul-Knownleader"), Some("true"));
    let listed = nodes(&reply);
    assert_eq!(names(&listed), ["c4", "s1", "s2", "s3"], "sorted by name");
    let raw = reply.text();
    let first = &raw[..raw.find("\"ModifyIndex\"").unwrap() + "\"ModifyIndex\"".len()];
    let positions: Vec<usize> = NODE_FIELDS
        .iter()
        .map(|field| first.find(&format!("\"{field}\"")).expect(field))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    let s2 = &listed[2];
    assert_eq!(s2["Address"], "127.0.87.2", "the IP alone, as Consul");
    assert_eq!(s2["Datacenter"], "dc1");
    assert_eq!(s2["TaggedAddresses"]["lan"], "127.0.87.2");
    assert_eq!(s2["Meta"]["consul-network-segment"], "");
    let (create, modify) = (s2["CreateIndex"].as_u64(), s2["ModifyIndex"].as_u64());
    assert!(create.is_some_and(|c| c >= 1) && create <= modify, "{s2}");
    assert!(modify.unwrap() <= reply.index());

    let server = http.get("/v1/catalog/node/s2").json();
    assert_eq!(server["Node"]["Node"], "s2");
    assert_eq!(server["Services"]["consul"]["Service"], "consul");
    assert_eq!(server["Services"]["consul"]["Port"], 18300);
    let client = http.get("/v1/catalog/node/c4").json();
    assert_eq!(client["Services"], serde_json::json!({}));
    let missing = http.get("/v1/catalog/node/nobody");
    assert_eq!((missing.status, missing.text().as_str()), (200, "null"));
    assert!(
        missing.index() >= 1,
        "an unknown node still carries the index"
    );

    let services = http.get("/v1/catalog/services");
    assert_eq!(services.json(), serde_json::json!({"consul": []}));
    let matched = http.get("/v1/catalog/nodes?node-meta=consul-network-segment:");
    assert_eq!(nodes(&matched).len(), 4);
    let unmatched = http.get("/v1/catalog/nodes?node-meta=rack:r1");
    assert!(nodes(&unmatched).is_empty());
    let filtered = http.get("/v1/catalog/nodes?filter=Node%20%3D%3D%20s1");
    assert_eq!(filtered.status, 200, "{}", filtered.text());
    assert_eq!(nodes(&filtered).len(), 1, "a bare word is a value");
    let refused = http.get("/v1/catalog/services?filter=ServiceName%20%3D%3D%20consul");
    assert_eq!(refused.status, 501, "a filter is refused, never ignored");
    let stale = agents[1].http().get("/v1/catalog/nodes?stale");
    assert_eq!(
        stale.header("X-Consul-Effective-Consistency"),
        Some("stale")
    );
}

#[test]
fn catalog_blocking_queries_wake_for_nodes_only_and_never_go_back() {
    let agents = cluster("127.0.88");
    let index = wait_for_nodes(&agents[3].http(), 4).index();
    let watch = |agent: &HttpAgent, extra: &str| {
        let http = agent.http();
        let path = format!("/v1/catalog/nodes?index={index}&wait=60s{extra}");
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            (http.get(&path), started.elapsed())
        })
    };
    let waits = [
        watch(&agents[3], ""),
        watch(&agents[1], "&stale"),
        watch(&agents[2], ""),
    ];
    agents[1].http().put("/v1/kv/unrelated", b"x");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waits.iter().all(|w| !w.is_finished()),
        "a KV write woke a catalog watcher"
    );
    let joiner = HttpAgent::start(
        "127.0.88.5:18300",
        "127.0.88.5:18500",
        "c5",
        &["--join", &agents[0].bind],
    );
    for wait in waits {
        let (reply, took) = wait.join().unwrap();
        assert!(
            took < Duration::from_secs(50),
            "woken by its deadline, not the join: {took:?}"
        );
        assert!(reply.index() > index);
        assert!(names(&nodes(&reply)).contains(&"c5".to_string()));
    }
    let with_c5 = wait_for_nodes(&agents[0].http(), 5).index();
    joiner.signal("INT");
    let after = wait_for_nodes(&agents[0].http(), 4);
    assert!(
        after.index() > with_c5,
        "the deregistration's index is kept: {} after {with_c5}",
        after.index()
    );
}
