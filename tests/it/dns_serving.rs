//! How the agent serves DNS: `--dns-addr` (an explicit address must bind,
//! the default may be taken and is then skipped with a warning, "" serves
//! none), and SERVFAIL when the catalog cannot answer in time. Addresses
//! 127.0.143.x; the default address 127.0.0.1:8600 only in the test that
//! needs it taken.

use std::net::UdpSocket;

use crate::support::dns::{DNS_PORT, dig, dig_status};
use crate::support::http_agents::WAIT;
use crate::support::node_process::{NodeProcess, node_command, text};
use crate::support::scratch::ScratchDir;
use crate::support::wait::wait_until_ok;

#[test]
fn an_explicit_dns_address_that_cannot_be_bound_fails_the_start() {
    let _taken = UdpSocket::bind(("127.0.143.1", DNS_PORT)).unwrap();
    let scratch = ScratchDir::new("dns-taken");
    let output = node_command()
        .args(["--bind", "127.0.143.1:18300", "--http-addr", ""])
        .args(["--dns-addr", "127.0.143.1:18600"])
        .args(["--node", "taken", "--data-dir"])
        .arg(scratch.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Error: cannot bind DNS to 127.0.143.1:18600"),
        "{stderr}"
    );
}

#[test]
fn a_taken_default_dns_address_is_skipped_with_a_warning() {
    // Held by this test, or already by another agent on the machine.
    let _held = UdpSocket::bind("127.0.0.1:8600");
    let mut agent = NodeProcess::new("127.0.143.2:18300", "no-dns");
    agent.start(&["--bootstrap", "--http-addr", ""], WAIT);
    agent.wait_log("[WARN] agent: cannot bind DNS to 127.0.0.1:8600", WAIT);
    agent.wait_log("cluster leadership acquired", WAIT);
    agent.put("k", "v", WAIT);
    assert!(!agent.log().contains("Started DNS server"));
}

#[test]
fn an_empty_dns_address_serves_no_dns() {
    let mut agent = NodeProcess::new("127.0.143.3:18300", "off");
    agent.start(&["--bootstrap", "--http-addr", "", "--dns-addr", ""], WAIT);
    agent.wait_log("cluster leadership acquired", WAIT);
    agent.put("k", "v", WAIT);
    let log = agent.log();
    assert!(!log.contains("DNS"), "{log}");
}

#[test]
fn a_client_agent_without_servers_answers_servfail() {
    let mut agent = NodeProcess::new("127.0.143.4:18300", "lonely");
    agent.start(
        &["--http-addr", "", "--dns-addr", "127.0.143.4:18600"],
        WAIT,
    );
    agent.wait_log("Started DNS server on 127.0.143.4:18600", WAIT);
    wait_until_ok(
        WAIT,
        "a service lookup with no server answers SERVFAIL",
        || {
            let output = dig("127.0.143.4", &["+time=5", "web.service.consul"]);
            match dig_status(&output).as_deref() {
                Some("SERVFAIL") => Ok(()),
                _ => Err(output),
            }
        },
    );
    // What needs no catalog is still answered.
    let addr = dig("127.0.143.4", &["7f000001.addr.consul"]);
    assert!(addr.contains("IN\tA\t127.0.0.1"), "{addr}");
}
