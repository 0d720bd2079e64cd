//! The agent's operations over Consul's HTTP API on real `node` processes:
//! `PUT /v1/agent/join/<address>` and `PUT /v1/agent/leave`. Addresses
//! 127.0.89.x; ports 18300 (peer) and 18500.

use serde_json::Value;

use crate::support::http_agents::{HttpAgent, WAIT, single_server};
use crate::support::wait::wait_until_ok;

fn member_status(agent: &HttpAgent, name: &str) -> Option<u64> {
    let members = agent.http().get("/v1/agent/members").json();
    members
        .as_array()?
        .iter()
        .find(|m| m["Name"] == name)
        .and_then(|m: &Value| m["Status"].as_u64())
}

#[test]
fn an_agent_joins_and_leaves_through_its_http_api() {
    let server = single_server("127.0.89.1");
    let mut client = HttpAgent::start("127.0.89.2:18300", "127.0.89.2:18500", "c2", &[]);
    let http = client.http();

    let wan = http.put("/v1/agent/join/127.0.89.1:18300?wan=1", b"");
    assert_eq!(wan.status, 501, "{}", wan.text());
    let nobody = http.put("/v1/agent/join/127.0.89.99:18300", b"");
    assert_eq!(nobody.status, 500);
    assert!(
        nobody
            .text()
            .starts_with("Failed to join 127.0.89.99:18300"),
        "{}",
        nobody.text()
    );
    let joined = http.put("/v1/agent/join/127.0.89.1:18300", b"");
    assert_eq!((joined.status, joined.text().as_str()), (200, ""));
    wait_until_ok(WAIT, "the server sees c2 alive", || {
        match member_status(&server, "c2") {
            Some(1) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    let left = http.put("/v1/agent/leave", b"");
    assert_eq!(left.status, 200, "{}", left.text());
    let status = client.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0));
    assert!(client.log().contains("graceful leave complete"));
    assert_eq!(member_status(&server, "c2"), Some(3), "left, not failed");
}
