//! A real Consul client library, py-consul from PyPI (imported as
//! `consul`), against a 3-server cluster: KV get/put/CAS/delete/recurse/
//! keys, a blocking query woken by a write through another server, a
//! transaction, status, the catalog (nodes, a node, services, a blocking
//! catalog query), the Raft configuration and an agent join
//! (`tests/it/consul_client.py`). `.ci/run` installs
//! the library; without it this test fails, saying how to install it.
//! Addresses 127.0.86.x.

use std::process::Command;

use crate::support::http_agents::cluster;
use crate::support::node_process::text;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/consul_client.py");

#[test]
fn py_consul_drives_a_three_server_cluster() {
    let agents = cluster("127.0.86");
    let http: Vec<&str> = agents[..3].iter().map(|a| a.1.as_str()).collect();
    let raft: Vec<&str> = agents[..3].iter().map(|a| a.bind.as_str()).collect();
    let output = Command::new("python3")
        .arg(SCRIPT)
        .args(&http)
        .args(&raft)
        .output()
        .expect("python3 runs (install it with apt-get install -y python3)");
    assert!(
        output.status.success(),
        "py-consul against concord failed ({}):\n{}{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("every check passed"));
}
