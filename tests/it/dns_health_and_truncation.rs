//! What DNS serves as health and size change: a critical instance drops
//! out of the answers and comes back when it passes again, and 40
//! instances do not fit a UDP answer (TC set) but all come over TCP.
//! Addresses 127.0.141.x; ports 18300, 18500 and 18600 (DNS).

use serde_json::json;

use crate::support::dns::{dig, dig_flags, dig_short, dns_cluster, dns_ip, register};
use crate::support::http_agents::{HttpAgent, WAIT};
use crate::support::wait::wait_until_ok;

fn register_api(agent: &HttpAgent, node: &str, address: &str, status: &str) {
    register(
        agent,
        &json!({
            "Node": node,
            "Address": address,
            "Service": {"Service": "api", "Port": 9000},
            "Check": {"CheckID": "api-check", "Name": "api", "Status": status, "ServiceID": "api"}
        }),
    );
}

fn wait_answers(ip: &str, name: &str, want: &[&str]) {
    wait_until_ok(WAIT, &format!("{name} at {ip} is {want:?}"), || {
        let got = dig_short(ip, &[name]);
        match got == want {
            true => Ok(()),
            false => Err(format!("{got:?}")),
        }
    });
}

#[test]
fn a_critical_instance_drops_out_and_comes_back_and_40_instances_truncate_over_udp() {
    let agents = dns_cluster("127.0.141");
    let (server, client) = (&agents[2], &agents[3]);
    register_api(server, "api-1", "10.0.2.1", "passing");
    register_api(server, "api-2", "10.0.2.2", "passing");
    for agent in [server, client] {
        wait_answers(
            &dns_ip(agent),
            "api.service.consul",
            &["10.0.2.1", "10.0.2.2"],
        );
    }
    register_api(server, "api-2", "10.0.2.2", "critical");
    for agent in [server, client] {
        wait_answers(&dns_ip(agent), "api.service.consul", &["10.0.2.1"]);
    }
    register_api(server, "api-2", "10.0.2.2", "warning");
    for agent in [server, client] {
        wait_answers(
            &dns_ip(agent),
            "api.service.consul",
            &["10.0.2.1", "10.0.2.2"],
        );
    }

    let mut all: Vec<String> = Vec::new();
    for i in 1..=40 {
        let address = format!("10.0.3.{i}");
        register(
            server,
            &json!({
                "Node": format!("many-{i}"),
                "Address": address,
                "Service": {"Service": "many", "Port": 7000}
            }),
        );
        all.push(address);
    }
    all.sort();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    for agent in [server, client] {
        let ip = dns_ip(agent);
        wait_until_ok(WAIT, "all 40 over TCP", || {
            let got = dig_short(&ip, &["+tcp", "many.service.consul", "SRV"]);
            match got.len() {
                40 => Ok(()),
                n => Err(format!("{n} records")),
            }
        });
        let got = dig_short(&ip, &["+tcp", "many.service.consul"]);
        assert_eq!(got, all);
        let udp = dig(&ip, &["+ignore", "+noedns", "many.service.consul", "SRV"]);
        assert!(dig_flags(&udp).contains(&"tc".to_string()), "{udp}");
    }
}
