//! The service and health reads of a real server, over raw HTTP: Consul's
//! field order, repeated `?tag=`, `?passing`, `?node-meta`, `?filter`, and
//! the 400s for a bad `?passing` or state. Address 127.0.135.1; ports
//! 18300 and 18500.

use serde_json::{Value, json};

use crate::support::http_agents::{HttpAgent, single_server};

fn get(server: &HttpAgent, path: &str) -> (u16, String) {
    let reply = server.http().get(path);
    (reply.status, reply.text())
}

fn nodes_of(body: &str, pointer: &str) -> Vec<String> {
    let list: Value = serde_json::from_str(body).expect("a JSON list");
    list.as_array()
        .expect("a JSON list")
        .iter()
        .map(|item| {
            item.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn register(server: &HttpAgent, body: Value) {
    let reply = server
        .http()
        .put("/v1/catalog/register", body.to_string().as_bytes());
    assert_eq!((reply.status, reply.text()), (200, "true".to_owned()));
}

#[test]
fn service_and_health_reads_have_consuls_shapes_and_parameters() {
    let server = single_server("127.0.135.1");
    let instance = |node: &str, tags: Value, status: &str, rack: &str| {
        json!({
            "Node": node, "Address": "10.7.0.1", "NodeMeta": {"rack": rack},
            "Service": {"Service": "api", "ID": "api-1", "Tags": tags, "Port": 9000},
            "Check": {"CheckID": "api-check", "Name": "api", "Status": status, "ServiceID": "api-1"}
        })
    };
    register(
        &server,
        instance("n1", json!(["v1", "blue"]), "passing", "r1"),
    );
    register(&server, instance("n2", json!(["v1"]), "critical", "r2"));

    let (status, body) = get(&server, "/v1/catalog/service/api?tag=v1&tag=blue");
    assert_eq!(
        (status, nodes_of(&body, "/Node")),
        (200, vec!["n1".to_owned()])
    );
    let first_keys: Vec<&str> = [
        "\"ID\"",
        "\"Node\"",
        "\"Address\"",
        "\"Datacenter\"",
        "\"ServiceID\"",
    ]
    .into_iter()
    .collect();
    let at: Vec<usize> = first_keys
        .iter()
        .map(|k| body.find(k).unwrap_or(usize::MAX))
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "Consul's field order: {body}"
    );
    assert!(
        body.contains(r#""Datacenter":"dc1""#),
        "the agent's datacenter: {body}"
    );

    let (_, all) = get(&server, "/v1/health/service/api");
    assert_eq!(nodes_of(&all, "/Node/Node"), ["n1", "n2"]);
    let (_, passing) = get(&server, "/v1/health/service/api?passing");
    assert_eq!(nodes_of(&passing, "/Node/Node"), ["n1"]);
    let (_, not_passing) = get(&server, "/v1/health/service/api?passing=false");
    assert_eq!(nodes_of(&not_passing, "/Node/Node"), ["n1", "n2"]);
    let (_, rack2) = get(&server, "/v1/health/service/api?node-meta=rack:r2");
    assert_eq!(nodes_of(&rack2, "/Node/Node"), ["n2"]);
    let (status, filtered) = get(
        &server,
        "/v1/health/service/api?filter=Node.Node%20%3D%3D%20%22n2%22",
    );
    assert_eq!(
        (status, nodes_of(&filtered, "/Node/Node")),
        (200, vec!["n2".to_owned()])
    );

    let (_, critical) = get(&server, "/v1/health/state/critical");
    assert_eq!(nodes_of(&critical, "/Node"), ["n2"]);
    let (_, checks) = get(&server, "/v1/health/checks/api");
    assert_eq!(nodes_of(&checks, "/CheckID"), ["api-check", "api-check"]);
    let (_, on_node) = get(&server, "/v1/health/node/n1");
    assert_eq!(nodes_of(&on_node, "/ServiceID"), ["api-1"]);
    let (_, node) = get(&server, "/v1/catalog/node/n1");
    let node: Value = serde_json::from_str(&node).unwrap();
    assert_eq!(
        node["Services"]["api-1"]["Tags"],
        json!(["v1", "blue"]),
        "{node}"
    );
    assert_eq!(node["Node"]["Meta"]["rack"], "r1", "{node}");
    let (_, solo) = get(&server, "/v1/catalog/node/solo");
    assert!(
        solo.contains(r#""consul""#),
        "the server's own service: {solo}"
    );

    assert_eq!(
        get(&server, "/v1/health/state/sleepy"),
        (400, "Invalid check state".to_owned())
    );
    let (status, _) = get(&server, "/v1/health/service/api?passing=maybe");
    assert_eq!(status, 400);
    assert_eq!(get(&server, "/v1/catalog/service/").0, 400);
    let (status, _) = get(&server, "/v1/health/service/api?filter=Node%20%3D%3D");
    assert_eq!(status, 400, "a bad expression");
}
