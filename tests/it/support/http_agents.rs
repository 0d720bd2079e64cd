//! Agents with the HTTP API on an address of their own, and the clusters
//! the HTTP tests run: one bootstrapped server, or three servers and a
//! client agent joined as the seed procedure joins them.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::http_client::Http;
use super::node_process::{NodeProcess, text, wraps_node_process};
use super::wait::{wait_until, wait_until_ok};

pub const WAIT: Duration = Duration::from_secs(30);

pub struct HttpAgent(NodeProcess, pub String);

wraps_node_process!(HttpAgent);

impl HttpAgent {
    /// Starts `node ARGS --http-addr HTTP` and waits until both its ports
    /// accept connections.
    pub fn start(bind: &str, http: &str, name: &str, args: &[&str]) -> HttpAgent {
        let mut agent = HttpAgent(NodeProcess::new(bind, name), http.to_string());
        let args = [args, &["--http-addr", http]].concat();
        agent.0.start(&args, WAIT);
        let address: SocketAddr = http.parse().unwrap();
        wait_until(WAIT, &format!("{name} serves HTTP on {http}"), || {
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        });
        agent
    }

    pub fn http(&self) -> Http {
        Http::new(&self.1)
    }

    /// Writes until the cluster takes the write (a leader may be being
    /// elected).
    pub fn put_until_taken(&self, key: &str, value: &str) {
        let http = self.http();
        wait_until_ok(WAIT, &format!("PUT {key} through {}", self.name), || {
            let reply = http.put(&format!("/v1/kv/{key}"), value.as_bytes());
            match reply.status {
                200 => Ok(()),
                _ => Err(format!("{} {}", reply.status, reply.text())),
            }
        });
    }
}

/// One bootstrapped server at `ip` (peer port 18300, HTTP 18500), leading.
pub fn single_server(ip: &str) -> HttpAgent {
    let agent = HttpAgent::start(
        &format!("{ip}:18300"),
        &format!("{ip}:18500"),
        "solo",
        &["--bootstrap"],
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    agent.put_until_taken("ready", "yes");
    // The leader registers itself (and its `consul` service) in the
    // catalog by its reconciliation, which may trail the first write.
    wait_until_ok(WAIT, "solo in the catalog with its consul service", || {
        let node = agent.http().get("/v1/catalog/node/solo").text();
        match node.contains(r#""consul""#) {
            true => Ok(()),
            false => Err(node),
        }
    });
    agent
}

/// Three servers at `prefix.1-3` and a client agent at `prefix.4`, every
/// one with HTTP on port 18500; returns them once the three vote and the
/// client agent sees them.
pub fn cluster(prefix: &str) -> Vec<HttpAgent> {
    cluster_with(prefix, |_| Vec::new())
}

/// [`cluster`], each agent started with the arguments `extra` gives for
/// its IP (`prefix.i`) as well.
pub fn cluster_with(prefix: &str, extra: impl Fn(&str) -> Vec<String>) -> Vec<HttpAgent> {
    let at = |i: usize| (format!("{prefix}.{i}:18300"), format!("{prefix}.{i}:18500"));
    let start = |i: usize, name: &str, args: &[&str]| {
        let (bind, http) = at(i);
        let more = extra(&format!("{prefix}.{i}"));
        let more: Vec<&str> = more.iter().map(String::as_str).collect();
        HttpAgent::start(&bind, &http, name, &[args, &more].concat())
    };
    let first = start(1, "s1", &["--bootstrap"]);
    first.wait_log("cluster leadership acquired", WAIT);
    let mut agents = vec![first];
    for (i, name) in [(2, "s2"), (3, "s3")] {
        agents.push(start(i, name, &["--server"]));
    }
    let output = agents[0].node(&["join", &agents[1].bind, &agents[2].bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let join = agents[0].bind.clone();
    agents.push(start(4, "c4", &["--join", &join]));
    let peers = agents[3].http();
    wait_until_ok(WAIT, "three servers in the Raft configuration", || {
        let reply = peers.get("/v1/status/peers");
        match reply.status == 200 && reply.json().as_array().is_some_and(|p| p.len() == 3) {
            true => Ok(()),
            false => Err(reply.text()),
        }
    });
    for agent in &agents {
        agent.put_until_taken(&format!("ready/{}", agent.name), "yes");
    }
    agents
}
