//! The source address of an agent's outbound peer connections, as the peer
//! sees it, with real `node agent` processes on 127.0.50.x: an agent bound
//! to 127.0.50.2 dials from 127.0.50.2, not from the kernel's default
//! loopback source 127.0.0.1, so peers (and partition rules that filter by
//! source address) can tell agents apart. Every process is killed when its
//! guard drops, also when the test fails.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::node_process::{NodeProcess, text};
use crate::support::wait::wait_until;

const STARTED: Duration = Duration::from_secs(10);
const JOINED: Duration = Duration::from_secs(20);

/// `node --log-level debug agent [extra...]`.
fn start_debug_agent(bind: &str, name: &str, extra: &[&str]) -> NodeProcess {
    let mut agent = NodeProcess::new(bind, name);
    agent.start(
        &[&["--log-level", "debug", "agent"], extra].concat(),
        STARTED,
    );
    agent
}

/// Source addresses of the inbound connections opened for `purpose`, from
/// the agent's DEBUG lines `connection N from ADDR opened for PURPOSE`.
fn sources_opened_for(agent: &NodeProcess, purpose: &str) -> Vec<SocketAddr> {
    let suffix = format!(" opened for {purpose}");
    agent
        .log()
        .lines()
        .filter(|line| line.ends_with(&suffix))
        .filter_map(|line| {
            let after = line.split(" from ").nth(1)?;
            after.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

#[test]
fn a_peer_sees_the_joining_agents_own_ip_as_the_source() {
    let seed = start_debug_agent("127.0.50.1:18550", "src-seed", &["--server"]);
    let joiner = start_debug_agent("127.0.50.2:18551", "src-joiner", &[]);
    let output = joiner.node(&["join", &seed.bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    wait_until(JOINED, "the seed accepted the joiner's push/pull", || {
        !sources_opened_for(&seed, "GossipSync").is_empty()
    });
    let joiner_ip: IpAddr = [127, 0, 50, 2].into();
    for source in sources_opened_for(&seed, "GossipSync") {
        assert_eq!(source.ip(), joiner_ip, "log of the seed:\n{}", seed.log());
    }
    // The INFO line an operator reads names the same source.
    let log = seed.log();
    let join_source: SocketAddr = log
        .lines()
        .find_map(|line| {
            let after = line.split("Join request from src-joiner (").nth(1)?;
            after.strip_suffix(')')?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no join request in the seed's log:\n{log}"));
    assert_eq!(join_source.ip(), joiner_ip, "log of the seed:\n{log}");

    // The CLI is not an agent: its connection still leaves from wherever
    // the kernel picks (127.0.0.1 on loopback).
    let cli_sources = sources_opened_for(&joiner, "Client");
    assert!(
        cli_sources
            .iter()
            .any(|s| s.ip() == IpAddr::from([127, 0, 0, 1])),
        "log of the joiner:\n{}",
        joiner.log()
    );
}
