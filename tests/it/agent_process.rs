//! Real `node agent` processes on their own loopback addresses
//! (127.0.5.x): what the CLI sees from a running agent, leave and signals,
//! and a bind address already in use. Every process started is killed on
//! drop, also when a test fails.

use std::net::UdpSocket;
use std::time::Duration;

use crate::support::node_process::{NodeProcess, node_at as node, run_agent_to_exit, text};
use crate::support::scratch::ScratchDir;
use crate::support::wait::wait_until_ok;

/// Starts `node [extra...] --bind ADDR --node NAME --data-dir DIR` and
/// waits until its port accepts connections.
fn start_agent(bind: &str, name: &str, extra: &[&str]) -> NodeProcess {
    let mut agent = NodeProcess::new(bind, name);
    agent.start(extra, Duration::from_secs(10));
    agent
}

#[test]
fn members_lists_the_agent_handler_in_consul_columns() {
    let bind = "127.0.5.1:18301";
    let _agent = start_agent(bind, "alpha", &["agent", "--server"]);
    let output = node(bind, &["members"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "Node", "Address", "Status", "Type", "Build", "Protocol", "DC"
        ]
    );
    assert_eq!(lines[1][..4], ["alpha", bind, "alive", "server"]);
    assert_eq!(lines[1][6], "dc1");
    assert_eq!(lines.len(), 2);
}

#[test]
fn info_has_agent_raft_and_gossip_sections() {
    let bind = "127.0.5.2:18302";
    // No subcommand means `agent`.
    let _agent = start_agent(bind, "beta", &["--datacenter", "east"]);
    let output = node(bind, &["info"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for line in [
        "agent:",
        "\tname = beta",
        "\tdatacenter = east",
        "\tserver = false",
        "raft:",
        "gossip:",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in\n{stdout}");
    }
}

#[test]
fn a_bootstrapped_agent_serves_kv_peers_and_catalog_and_join_reports_failures() {
    let bind = "127.0.5.3:18303";
    let _agent = start_agent(bind, "gamma", &["--bootstrap"]);
    // Leadership comes within an election of the start.
    wait_until_ok(Duration::from_secs(10), "a leader takes a write", || {
        let output = node(bind, &["kv", "put", "k", "v"]);
        if output.status.code() != Some(0) {
            return Err(text(&output.stderr));
        }
        assert_eq!(text(&output.stdout), "Success! Data written to: k\n");
        Ok(())
    });
    assert_eq!(text(&node(bind, &["kv", "get", "k"]).stdout), "v\n");
    let peers = text(&node(bind, &["peers"]).stdout);
    assert!(
        peers
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("gamma ") && l.contains(" leader ")),
        "{peers}"
    );
    // The leader registers members in the catalog on its next
    // reconciliation pass (every second).
    wait_until_ok(Duration::from_secs(10), "gamma is in the catalog", || {
        let catalog = text(&node(bind, &["catalog", "nodes"]).stdout);
        match catalog.lines().any(|l| l.starts_with("gamma ")) {
            true => Ok(()),
            false => Err(catalog),
        }
    });
    let output = node(bind, &["kv", "delete", "k", "--recurse"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(node(bind, &["kv", "get", "k"]).status.code(), Some(1));
    // --bootstrap implies --server.
    let info = text(&node(bind, &["info"]).stdout);
    assert!(info.lines().any(|l| l == "\tserver = true"), "{info}");
    assert!(info.lines().any(|l| l == "\tbootstrap = true"), "{info}");

    // Gossip is wired: a join to nobody reports the address that failed.
    let output = node(bind, &["join", "127.0.5.99"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error joining address '127.0.5.99:8300': "),
        "{stderr}"
    );
    assert!(stderr.ends_with("Failed to join any nodes.\n"), "{stderr}");
}

#[test]
fn leave_answers_then_the_agent_exits() {
    let bind = "127.0.5.4:18304";
    let mut agent = start_agent(bind, "delta", &[]);
    let output = node(bind, &["leave"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Graceful leave complete\n");
    let status = agent.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn sigint_leaves_and_sigterm_stops() {
    let bind = "127.0.5.5:18305";
    let mut agent = start_agent(bind, "eps", &[]);
    agent.signal("INT");
    assert!(agent.wait_exit(Duration::from_secs(10)).success());
    drop(agent);

    let mut agent = start_agent(bind, "eps", &[]);
    agent.signal("TERM");
    // Handled by the loop, so the exit is clean rather than death by signal.
    assert_eq!(agent.wait_exit(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn sighup_reloads_and_the_agent_keeps_serving() {
    let bind = "127.0.5.10:18310";
    let mut agent = start_agent(bind, "eta", &["agent", "--bootstrap"]);
    agent.wait_log("cluster leadership acquired", Duration::from_secs(10));
    agent.signal("HUP");
    agent.wait_log("Reloading configuration...", Duration::from_secs(10));
    assert!(!agent.has_exited(), "SIGHUP must not stop the agent");
    agent.put("after-hup", "1", Duration::from_secs(10));
    assert_eq!(agent.stale_get("after-hup").as_deref(), Some("1"));
}

#[test]
fn a_bind_address_in_use_is_one_line_and_exit_1() {
    let bind = "127.0.5.6:18306";
    let _first = start_agent(bind, "zeta", &[]);
    let scratch = ScratchDir::new("bind-in-use");
    let data_dir = scratch.join("data");
    let output = run_agent_to_exit(bind, "zeta2", &data_dir);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with("Error: cannot bind TCP 127.0.5.6:18306"),
        "{stderr}"
    );
    assert!(
        !data_dir.exists(),
        "a failed start must not create its data directory"
    );

    // Only the UDP half taken: still refused, naming UDP.
    let udp_bind = "127.0.5.7:18307";
    let _udp = UdpSocket::bind(udp_bind).unwrap();
    let output = run_agent_to_exit(udp_bind, "eta", scratch.join("udp-in-use"));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("Error: cannot bind UDP 127.0.5.7:18307"),
        "{stderr}"
    );
}

#[test]
fn bench_against_an_agent_without_raft_reports_every_failure() {
    let bind = "127.0.5.8:18308";
    let _agent = start_agent(bind, "theta", &[]);
    let output = node(
        bind,
        &["bench", "put", "--requests", "50", "--clients", "2"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("requests: 0 ok, 50 errors"), "{stdout}");
    assert!(stdout.contains("throughput: "), "{stdout}");
    assert_eq!(text(&output.stderr), "Error: 50 of 50 requests failed\n");
}

#[test]
fn an_unusable_data_dir_is_one_line_and_exit_1() {
    let output = run_agent_to_exit(
        "127.0.5.9:18309",
        "iota",
        "/proc/concord-cannot-create-here",
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.starts_with("Error: cannot create data directory /proc/concord-cannot-create-here"),
        "{stderr}"
    );
}
