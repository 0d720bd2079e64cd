//! `?filter=` on `/v1/catalog/nodes` and `/v1/agent/members` of a real server: matching nodes
//! kept, the rest left out, a bad expression a 400 with the parser's line.
//! Address 127.0.130.1; ports 18300 and 18500.

use crate::support::http_agents::{HttpAgent, single_server};

fn nodes_filtered(server: &HttpAgent, expression: &str) -> (u16, String) {
    let encoded: String = form_urlencoded::byte_serialize(expression.as_bytes()).collect();
    let reply = server
        .http()
        .get(&format!("/v1/catalog/nodes?filter={encoded}"));
    (reply.status, reply.text())
}

fn names(body: &str) -> Vec<String> {
    let nodes: serde_json::Value = serde_json::from_str(body).expect("a JSON list");
    nodes
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|n| n["Node"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn catalog_nodes_are_filtered_by_consuls_expressions() {
    let server = single_server("127.0.130.1");
    let (status, body) = nodes_filtered(&server, r#"Node == "solo""#);
    assert_eq!((status, names(&body)), (200, vec!["solo".to_owned()]));
    let (status, body) = nodes_filtered(&server, r#"Node != "solo""#);
    assert_eq!((status, names(&body)), (200, Vec::<String>::new()));
    let either = r#"(Node == "other" or Address == "127.0.130.1") and not (Datacenter == "dc2")"#;
    let (status, body) = nodes_filtered(&server, either);
    assert_eq!((status, names(&body)), (200, vec!["solo".to_owned()]));
    let members = |expression: &str| {
        let encoded: String = form_urlencoded::byte_serialize(expression.as_bytes()).collect();
        let reply = server
            .http()
            .get(&format!("/v1/agent/members?filter={encoded}"));
        let body = reply.text();
        let members: serde_json::Value = serde_json::from_str(&body).expect("a JSON list");
        (reply.status, members.as_array().map(Vec::len))
    };
    assert_eq!(members(r#"Name == "solo""#), (200, Some(1)));
    assert_eq!(members(r#"Name == "nobody""#), (200, Some(0)));
    let bad = server.http().get("/v1/agent/members?filter=Name%20%3D%3D");
    assert_eq!(bad.status, 400, "{}", bad.text());

    let (status, body) = nodes_filtered(&server, "Node ==");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("Failed to create boolean expression evaluator"),
        "{body}"
    );
}
