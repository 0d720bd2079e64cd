//! `PUT /v1/catalog/register` and `/v1/catalog/deregister` on a real
//! cluster, sent to a follower (forwarded to the leader) and read back
//! through the client agent. Addresses 127.0.98.x; ports 18300 and 18500.

use serde_json::{Value, json};

use crate::support::http_agents::{HttpAgent, WAIT, cluster};
use crate::support::wait::wait_until_ok;

fn services(agent: &HttpAgent) -> Value {
    agent.http().get("/v1/catalog/services").json()
}

fn put_json(agent: &HttpAgent, path: &str, body: &Value) -> (u16, String) {
    let reply = agent.http().put(path, body.to_string().as_bytes());
    (reply.status, reply.text())
}

#[test]
fn an_external_service_registered_through_a_follower_is_listed_and_removed() {
    let agents = cluster("127.0.98");
    let (follower, client) = (&agents[1], &agents[3]);
    // Lower-case keys, as the Python client sends them.
    let registration = json!({
        "node": "ext-db",
        "Address": "10.1.2.3",
        "NodeMeta": {"rack": "r1"},
        "Service": {"Service": "redis", "Tags": ["primary", "v1"], "Port": 6379},
        "Check": {"Name": "redis alive", "Status": "passing", "ServiceID": "redis"}
    });
    let registered = put_json(follower, "/v1/catalog/register", &registration);
    assert_eq!(registered, (200, "true".to_owned()));
    wait_until_ok(WAIT, "redis listed by the client agent", || {
        let listed = services(client);
        match listed.get("redis") {
            Some(tags) if *tags == json!(["primary", "v1"]) => Ok(()),
            _ => Err(listed.to_string()),
        }
    });
    let node = client.http().get("/v1/catalog/nodes").json();
    assert!(
        node.as_array()
            .unwrap()
            .iter()
            .any(|n| n["Node"] == "ext-db"),
        "{node}"
    );

    let bad = put_json(follower, "/v1/catalog/register", &json!({"Node": 5}));
    assert_eq!(bad.0, 400, "{}", bad.1);
    let garbage = follower.http().put("/v1/catalog/register", b"{not json");
    assert_eq!(garbage.status, 400, "{}", garbage.text());
    let no_node = put_json(
        follower,
        "/v1/catalog/deregister",
        &json!({"ServiceID": "redis"}),
    );
    assert_eq!(no_node.0, 400, "{}", no_node.1);

    let service_gone = json!({"Node": "ext-db", "ServiceID": "redis"});
    let deregistered = put_json(client, "/v1/catalog/deregister", &service_gone);
    assert_eq!(deregistered, (200, "true".to_owned()));
    wait_until_ok(WAIT, "redis no longer listed", || {
        let listed = services(follower);
        match listed.get("redis") {
            None => Ok(()),
            Some(_) => Err(listed.to_string()),
        }
    });
    let node_gone = put_json(client, "/v1/catalog/deregister", &json!({"Node": "ext-db"}));
    assert_eq!(node_gone, (200, "true".to_owned()));
}
