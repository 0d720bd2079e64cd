//! `node services register|deregister` (through the agent's HTTP API) and
//! `node catalog services [--tags]`, `node catalog nodes --service` on a
//! real server, in Consul's words and columns. Address 127.0.139.1; ports
//! 18300 and 18500.

use crate::support::http_agents::{WAIT, single_server};
use crate::support::node_process::{node_command, text};
use crate::support::scratch::ScratchDir;
use crate::support::wait::wait_until_ok;

const RPC: &str = "127.0.139.1:18300";
const HTTP: &str = "127.0.139.1:18500";

fn node(args: &[&str]) -> (bool, String, String) {
    let output = node_command().args(args).output().unwrap();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn services_are_registered_listed_and_deregistered_from_the_command_line() {
    let _server = single_server("127.0.139.1");
    let scratch = ScratchDir::new("cli-services");
    let file = scratch.join("web.json");
    std::fs::write(
        &file,
        r#"{"service": {"name": "web", "port": 80, "tags": ["prod", "v1"]}}"#,
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let registered = node(&["services", "register", &file, "--http-addr", HTTP]);
    assert_eq!(
        registered,
        (true, "Registered service: web\n".into(), String::new())
    );
    wait_until_ok(WAIT, "web listed with its tags", || {
        let listed = node(&["--rpc-addr", RPC, "catalog", "services", "--tags"]);
        match listed.1 == "consul\nweb     prod,v1\n" {
            true => Ok(()),
            false => Err(format!("{listed:?}")),
        }
    });
    let (ok, plain, _) = node(&["--rpc-addr", RPC, "catalog", "services"]);
    assert!(ok && plain == "consul\nweb\n", "{plain}");
    let (ok, nodes, _) = node(&["--rpc-addr", RPC, "catalog", "nodes", "--service", "web"]);
    assert!(ok, "{nodes}");
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    assert!(
        nodes.lines().nth(1).unwrap().starts_with("solo "),
        "{nodes}"
    );

    let gone = node(&["services", "deregister", "web", "--http-addr", HTTP]);
    assert_eq!(
        gone,
        (true, "Deregistered service: web\n".into(), String::new())
    );
    let again = node(&["services", "deregister", "web", "--http-addr", HTTP]);
    assert!(!again.0, "{again:?}");
    assert!(
        again
            .2
            .starts_with("Error: cannot deregister service \"web\": Unexpected response code: 404"),
        "{}",
        again.2
    );
    let (ok, _, none) = node(&[
        "--rpc-addr",
        RPC,
        "catalog",
        "nodes",
        "--service",
        "nothing",
    ]);
    assert!(!ok && none.contains("No nodes match"), "{none}");
}
