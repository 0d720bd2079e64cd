//! The agent's operations over Consul's HTTP API on real `node` processes:
//! `PUT /v1/agent/join/<address>` and `PUT /v1/agent/leave`. Addresses
//! 127.0.89.x; ports 18300 (peer) and 18500.

use serde_json::Value;

use crate::support::http_agents::{HttpAgent, WAIT, single_server};
use crate::support::node_process::text;
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

/// `structs.RaftServer`'s fields, in Consul's order.
const RAFT_SERVER_FIELDS: [&str; 7] = [
    "ID",
    "Node",
    "Address",
    "Leader",
    "ProtocolVersion",
    "Voter",
    "LastIndex",
];

#[test]
fn the_raft_configuration_is_the_leaders_view_unless_stale() {
    let agents = crate::support::http_agents::cluster("127.0.91");
    let (follower, client) = (&agents[1], &agents[3]);
    let mut leader_id = None;
    wait_until_ok(
        WAIT,
        "every follower replicated, in the leader's view",
        || {
            let reply = client.http().get("/v1/operator/raft/configuration");
            let config = reply.json();
            let servers = config["Servers"].as_array().cloned().unwrap_or_default();
            leader_id = servers
                .iter()
                .find(|s| s["Leader"] == true)
                .map(|s| s["ID"].clone());
            match servers.len() == 3 && servers.iter().all(|s| s["LastIndex"].as_u64() > Some(0)) {
                true => Ok(()),
                false => Err(reply.text()),
            }
        },
    );
    let reply = follower.http().get("/v1/operator/raft/configuration");
    let raw = reply.text();
    let positions: Vec<usize> = RAFT_SERVER_FIELDS
        .iter()
        .map(|field| raw.find(&format!("\"{field}\"")).expect(field))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    let config = reply.json();
    assert!(config["Index"].as_u64().is_some_and(|i| i >= 1), "{config}");
    let servers = config["Servers"].as_array().unwrap();
    for agent in &agents[..3] {
        let me = agent.http().get("/v1/agent/self").json();
        let entry = servers
            .iter()
            .find(|s| s["Node"] == agent.name.as_str())
            .unwrap_or_else(|| panic!("{} in {config}", agent.name));
        assert_eq!(entry["ID"], me["Config"]["NodeID"], "one ID for one server");
        assert_eq!(entry["Address"], agent.bind.as_str());
        assert_eq!(
            (entry["Voter"].clone(), entry["ProtocolVersion"].clone()),
            (true.into(), "3".into())
        );
    }
    assert_eq!(servers.iter().filter(|s| s["Leader"] == true).count(), 1);
    assert_eq!(
        leader_id.as_ref(),
        servers
            .iter()
            .find(|s| s["Leader"] == true)
            .map(|s| &s["ID"])
    );

    // A follower's own view knows only its own last index.
    let stale = follower
        .http()
        .get("/v1/operator/raft/configuration?stale")
        .json();
    let own: Vec<(String, u64)> = stale["Servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["Node"].as_str().unwrap().to_string(),
                s["LastIndex"].as_u64().unwrap(),
            )
        })
        .collect();
    for (name, last_index) in own {
        assert_eq!(last_index > 0, name == follower.name, "{name}: {stale}");
    }
}

#[test]
fn operator_raft_list_peers_asks_the_leader_and_says_when_there_is_none() {
    let agents = crate::support::http_agents::cluster("127.0.92");
    let mut listing = String::new();
    wait_until_ok(WAIT, "list-peers shows three replicating servers", || {
        let output = agents[3].node(&["operator", "raft", "list-peers"]);
        listing = text(&output.stdout);
        let rows: Vec<&str> = listing.lines().skip(1).collect();
        let caught_up = rows.iter().filter(|r| r.ends_with("0 commits")).count();
        match output.status.code() == Some(0) && rows.len() == 3 && caught_up == 2 {
            true => Ok(()),
            false => Err(format!("{listing}{}", text(&output.stderr))),
        }
    });
    let header: Vec<&str> = listing
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "Node",
            "ID",
            "Address",
            "State",
            "Voter",
            "RaftProtocol",
            "Commit Index",
            "Trails Leader By"
        ]
    );
    assert_eq!(listing.matches(" leader ").count(), 1, "{listing}");
    assert!(listing.contains("127.0.92.2:18300"), "{listing}");

    let stale = agents[1].node(&["operator", "raft", "list-peers", "--stale"]);
    assert_eq!(stale.status.code(), Some(0));
    assert!(
        text(&stale.stderr).contains("stale"),
        "{}",
        text(&stale.stderr)
    );

    let mut lonely = crate::support::node_process::NodeProcess::new("127.0.92.9:18300", "lonely");
    lonely.start(&["--server", "--http-addr", ""], WAIT);
    let output = lonely.node(&["operator", "raft", "list-peers"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stderr).trim(), "Error: No cluster leader");
}

#[test]
fn leadership_moves_on_request_and_the_answer_comes_once_another_leads() {
    let agents = crate::support::http_agents::cluster("127.0.94");
    let leader_of = |agent: &HttpAgent| agent.http().get("/v1/status/leader").json();
    let before = leader_of(&agents[3]);
    // Asked of a follower, forwarded to the leader; no target: the most
    // up-to-date other voter.
    let follower = agents
        .iter()
        .take(3)
        .find(|a| Value::String(a.bind.clone()) != before)
        .unwrap();
    let moved = follower
        .http()
        .post("/v1/operator/raft/transfer-leader", b"");
    assert_eq!(moved.status, 200, "{}", moved.text());
    assert_eq!(moved.json(), serde_json::json!({"Success": true}));
    let after = leader_of(follower);
    assert!(after != before && after != "", "{before} then {after}");

    // By ID, through the CLI, to a named server.
    let target = agents
        .iter()
        .take(3)
        .find(|a| Value::String(a.bind.clone()) != after)
        .unwrap();
    let id = target.http().get("/v1/agent/self").json()["Config"]["NodeID"]
        .as_str()
        .unwrap()
        .to_string();
    let output = agents[3].node(&["operator", "raft", "transfer-leader", "--id", &id]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        format!("Success: leadership transferred to {id}")
    );
    assert_eq!(leader_of(&agents[3]), Value::String(target.bind.clone()));

    let unknown = agents[0]
        .http()
        .post("/v1/operator/raft/transfer-leader?id=00000000000000ff", b"");
    assert_eq!(unknown.status, 400, "{}", unknown.text());
    let bad = agents[0]
        .http()
        .post("/v1/operator/raft/transfer-leader?id=xyz", b"");
    assert_eq!(bad.status, 400);
    agents[1].put_until_taken("after/transfers", "ok");
}

#[test]
fn a_failed_server_is_removed_on_request_and_a_live_one_refused() {
    let mut agents = crate::support::http_agents::cluster("127.0.95");
    let http = agents[3].http();
    let live = http.delete("/v1/operator/raft/peer?address=127.0.95.3:18300");
    assert_eq!(live.status, 400, "{}", live.text());
    assert!(live.text().contains("is alive"), "{}", live.text());
    let unknown = http.delete("/v1/operator/raft/peer?id=00000000000000ff");
    assert_eq!(unknown.status, 400);
    assert!(
        unknown
            .text()
            .contains("was not found in the Raft configuration")
    );

    agents[2].kill();
    wait_until_ok(WAIT, "gossip marks s3 failed", || {
        match member_status(&agents[0], "s3") {
            Some(4) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let output = agents[1].node(&[
        "operator",
        "raft",
        "remove-peer",
        "--address",
        "127.0.95.3:18300",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "Removed peer with address \"127.0.95.3:18300\""
    );
    let config = http.get("/v1/operator/raft/configuration").json();
    let names: Vec<&str> = config["Servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Node"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{config}");
    assert!(!names.contains(&"s3"));
    agents[1].put_until_taken("after/removal", "ok");
}
