//! `force-leave` on real `node` processes, from the CLI and from Consul's
//! `PUT /v1/agent/force-leave/<node>`: refused for an unknown or alive
//! member; a failed server forced to leave is left everywhere, leaves the
//! catalog and the Raft configuration. Addresses 127.0.96.x; ports 18300
//! (peer) and 18500 (HTTP).

use crate::support::http_agents::{HttpAgent, WAIT, cluster};
use crate::support::node_process::text;
use crate::support::wait::wait_until_ok;

fn member_status(agent: &HttpAgent, name: &str) -> Option<u64> {
    let members = agent.http().get("/v1/agent/members").json();
    members
        .as_array()?
        .iter()
        .find(|m| m["Name"] == name)
        .and_then(|m| m["Status"].as_u64())
}

fn wait_member_status(agent: &HttpAgent, name: &str, status: u64, what: &str) {
    wait_until_ok(WAIT, what, || match member_status(agent, name) {
        Some(s) if s == status => Ok(()),
        other => Err(format!("{name} has status {other:?}")),
    });
}

#[test]
fn a_failed_server_forced_to_leave_leaves_the_catalog_and_raft() {
    let mut agents = cluster("127.0.96");
    let unknown = agents[0].node(&["force-leave", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        text(&unknown.stderr).trim(),
        "Error: agent: No node found with name 'nobody'"
    );
    let alive = agents[3].http().put("/v1/agent/force-leave/s3", b"");
    assert_eq!(alive.status, 400, "{}", alive.text());
    assert!(alive.text().contains("'s3' is alive"), "{}", alive.text());
    let wan = agents[3].http().put("/v1/agent/force-leave/s3?wan", b"");
    assert_eq!(wan.status, 501, "{}", wan.text());

    agents[2].kill();
    wait_member_status(&agents[0], "s3", 4, "s1 sees s3 failed");
    wait_member_status(&agents[3], "s3", 4, "c4 sees s3 failed");
    let forced = agents[3].http().put("/v1/agent/force-leave/s3", b"");
    assert_eq!((forced.status, forced.text().as_str()), (200, ""));
    assert!(agents[3].log().contains("Force leaving node: s3"));

    wait_member_status(&agents[0], "s3", 3, "s1 hears that s3 left");
    wait_member_status(&agents[1], "s3", 3, "s2 hears that s3 left");
    // A failed node stays in the catalog; only a left one is deregistered.
    wait_until_ok(WAIT, "s3 deregistered from the catalog", || {
        let nodes = agents[1].http().get("/v1/catalog/nodes?stale").json();
        let names: Vec<String> = nodes
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["Node"].as_str().map(str::to_owned))
            .collect();
        match names.iter().any(|n| n == "s3") {
            false => Ok(()),
            true => Err(format!("{names:?}")),
        }
    });
    wait_until_ok(WAIT, "two servers left in Raft", || {
        let peers = agents[1].http().get("/v1/status/peers").json();
        match peers.as_array().map(Vec::len) {
            Some(2) => Ok(()),
            other => Err(format!("{other:?}: {peers}")),
        }
    });
    // Forcing again is a success that changes nothing, as Consul's.
    let again = agents[0].node(&["force-leave", "s3"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(text(&again.stdout), "");
    agents[0].put_until_taken("after", "force-leave");
}
