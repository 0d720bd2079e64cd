//! DNS lookups with `dig` against a server and a client agent of a
//! 3-server cluster: services (A, SRV with the targets' addresses, a tag,
//! RFC 2782 names, a service name in another case), nodes, NXDOMAIN with the SOA, TCP, names outside the
//! domain. Addresses 127.0.140.x; ports 18300, 18500 and 18600 (DNS).

use serde_json::json;

use crate::support::dns::{dig, dig_short, dig_status, dns_cluster, dns_ip, register};
use crate::support::http_agents::{HttpAgent, WAIT};
use crate::support::wait::wait_until_ok;

fn register_web(agent: &HttpAgent) {
    for (node, address, tag, port) in [
        ("web-a", "10.0.1.1", "blue", 8080),
        ("web-b", "10.0.1.2", "green", 8081),
    ] {
        register(
            agent,
            &json!({
                "Node": node,
                "Address": address,
                "Service": {"Service": "web", "Tags": [tag, "v1"], "Port": port},
                "Check": {"Name": "web alive", "Status": "passing", "ServiceID": "web"}
            }),
        );
    }
    // Registered with capitals; DNS lower-cases the question, and the
    // catalog matches service names without case, as Consul's does.
    register(
        agent,
        &json!({
            "Node": "web-a",
            "Address": "10.0.1.1",
            "Service": {"Service": "Billing", "Port": 9090},
        }),
    );
}

fn expect_short(ip: &str, args: &[&str], want: &[&str]) {
    let what = format!("dig {} at {ip} answers {want:?}", args.join(" "));
    wait_until_ok(WAIT, &what, || {
        let got = dig_short(ip, args);
        match got == want {
            true => Ok(()),
            false => Err(format!("{got:?}")),
        }
    });
}

fn check_lookups(ip: &str, server_ip: &str) {
    expect_short(ip, &["web.service.consul"], &["10.0.1.1", "10.0.1.2"]);
    expect_short(ip, &["WEB.Service.Consul", "A"], &["10.0.1.1", "10.0.1.2"]);
    expect_short(ip, &["billing.service.consul", "A"], &["10.0.1.1"]);
    expect_short(
        ip,
        &["web.service.consul", "SRV"],
        &[
            "1 1 8080 web-a.node.dc1.consul.",
            "1 1 8081 web-b.node.dc1.consul.",
        ],
    );
    let srv = dig(ip, &["web.service.consul", "SRV"]);
    assert!(srv.contains("ADDITIONAL SECTION"), "{srv}");
    assert!(
        srv.contains("web-a.node.dc1.consul.\t0\tIN\tA\t10.0.1.1"),
        "{srv}"
    );
    assert!(
        srv.contains("web-b.node.dc1.consul.\t0\tIN\tA\t10.0.1.2"),
        "{srv}"
    );
    expect_short(ip, &["blue.web.service.consul"], &["10.0.1.1"]);
    expect_short(
        ip,
        &["v1.web.service.dc1.consul"],
        &["10.0.1.1", "10.0.1.2"],
    );
    expect_short(
        ip,
        &["_web._green.service.consul", "SRV"],
        &["1 1 8081 web-b.node.dc1.consul."],
    );
    expect_short(
        ip,
        &["_web._tcp.service.consul", "SRV"],
        &[
            "1 1 8080 web-a.node.dc1.consul.",
            "1 1 8081 web-b.node.dc1.consul.",
        ],
    );
    // Nodes: an external one as registered, a gossip member by its IP
    // (its catalog address carries the peer port).
    expect_short(ip, &["web-b.node.consul"], &["10.0.1.2"]);
    expect_short(ip, &["s1.node.consul"], &[server_ip]);
    let missing = dig(ip, &["nosuch.service.consul"]);
    assert_eq!(
        dig_status(&missing).as_deref(),
        Some("NXDOMAIN"),
        "{missing}"
    );
    assert!(missing.contains("AUTHORITY SECTION"), "{missing}");
    assert!(
        missing.contains("SOA\tns.consul. hostmaster.consul."),
        "{missing}"
    );
    let other_dc = dig(ip, &["web.service.dc9.consul"]);
    assert_eq!(
        dig_status(&other_dc).as_deref(),
        Some("NXDOMAIN"),
        "{other_dc}"
    );
    expect_short(
        ip,
        &["+tcp", "web.service.consul"],
        &["10.0.1.1", "10.0.1.2"],
    );
    let outside = dig(ip, &["example.com"]);
    assert_eq!(
        dig_status(&outside).as_deref(),
        Some("REFUSED"),
        "{outside}"
    );
}

#[test]
fn services_and_nodes_are_answered_by_a_server_and_a_client_agent() {
    let agents = dns_cluster("127.0.140");
    register_web(&agents[1]);
    let server_ip = dns_ip(&agents[0]);
    check_lookups(&dns_ip(&agents[1]), &server_ip);
    check_lookups(&dns_ip(&agents[3]), &server_ip);
    // Each query under the domain was timed, labelled with the node.
    let metrics = agents[3].http().get("/v1/agent/metrics").json();
    let timed = metrics["Samples"].as_array().is_some_and(|samples| {
        samples.iter().any(|sample| {
            sample["Name"] == "consul.dns.domain_query"
                && sample["Labels"]["node"] == "c4"
                && sample["Count"].as_u64().is_some_and(|count| count > 10)
        })
    });
    assert!(timed, "{metrics}");
}
