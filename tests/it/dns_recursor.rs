//! `--domain` and `--recursor`: one agent answers the zone `other.`, a
//! second agent (zone `consul.`) forwards names outside its zone to it and
//! relays the answers; a recursor that does not answer gives SERVFAIL.
//! Addresses 127.0.144.x; ports 18300, 18500 and 18600 (DNS).

use serde_json::json;

use crate::support::dns::{dig, dig_short, dig_status, register};
use crate::support::http_agents::{HttpAgent, WAIT};
use crate::support::wait::wait_until_ok;

fn server(ip: &str, name: &str, args: &[&str]) -> HttpAgent {
    let dns = format!("{ip}:18600");
    let agent = HttpAgent::start(
        &format!("{ip}:18300"),
        &format!("{ip}:18500"),
        name,
        &[&["--bootstrap", "--dns-addr", &dns], args].concat(),
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    agent
}

#[test]
fn names_outside_the_domain_go_to_the_recursor() {
    let other = server("127.0.144.2", "other", &["--domain", "other"]);
    wait_until_ok(WAIT, "the registration is taken", || {
        let body = json!({"Node": "ext", "Address": "10.4.4.4",
                          "Service": {"Service": "web", "Port": 80}});
        let reply = other
            .http()
            .put("/v1/catalog/register", body.to_string().as_bytes());
        match reply.status {
            200 => Ok(()),
            status => Err(format!("{status} {}", reply.text())),
        }
    });
    let forwarding = server(
        "127.0.144.1",
        "forwarding",
        &["--recursor", "127.0.144.2:18600"],
    );
    register(
        &forwarding,
        &json!({"Node": "mine", "Address": "10.5.5.5", "Service": {"Service": "web", "Port": 80}}),
    );
    wait_until_ok(
        WAIT,
        "both zones answered through the forwarding agent",
        || {
            let own = dig_short("127.0.144.1", &["web.service.consul"]);
            let relayed = dig_short("127.0.144.1", &["web.service.other"]);
            match (own.as_slice(), relayed.as_slice()) {
                ([a], [b]) if a == "10.5.5.5" && b == "10.4.4.4" => Ok(()),
                _ => Err(format!("own {own:?} relayed {relayed:?}")),
            }
        },
    );
    // The zone's own agent does not answer consul. names: it has no recursor.
    let refused = dig("127.0.144.2", &["web.service.consul"]);
    assert_eq!(
        dig_status(&refused).as_deref(),
        Some("REFUSED"),
        "{refused}"
    );

    let _silent = server(
        "127.0.144.3",
        "silent",
        &["--recursor", "127.0.144.4:18600"],
    );
    let failed = dig("127.0.144.3", &["+time=5", "example.com"]);
    assert_eq!(dig_status(&failed).as_deref(), Some("SERVFAIL"), "{failed}");
}
