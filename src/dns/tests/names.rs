//! Question names classified by Consul's label rules.

use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use super::super::{DnsConfig, Lookup, Transport, parse_query};
use super::{parse, query_bytes};

fn service(service: &str, tag: Option<&str>, datacenter: Option<&str>) -> Lookup {
    Lookup::Service {
        service: service.to_string(),
        tag: tag.map(str::to_string),
        datacenter: datacenter.map(str::to_string),
    }
}

fn node(node: &str, datacenter: Option<&str>) -> Lookup {
    Lookup::Node {
        node: node.to_string(),
        datacenter: datacenter.map(str::to_string),
    }
}

#[test]
fn service_names_with_tags_and_datacenters() {
    let cases = [
        ("web.service.consul.", service("web", None, None)),
        ("web.service.dc2.consul.", service("web", None, Some("dc2"))),
        (
            "web.service.dc2.dc.consul.",
            service("web", None, Some("dc2")),
        ),
        ("v1.web.service.consul.", service("web", Some("v1"), None)),
        ("a.b.web.service.consul.", service("web", Some("a.b"), None)),
        ("_web._v1.service.consul.", service("web", Some("v1"), None)),
        ("_web._tcp.service.consul.", service("web", None, None)),
        (
            "_web._udp.service.dc1.consul.",
            service("web", None, Some("dc1")),
        ),
    ];
    for (name, want) in cases {
        assert_eq!(parse(name, RecordType::SRV).lookup, want, "{name}");
    }
}

#[test]
fn names_are_case_insensitive() {
    assert_eq!(
        parse("V1.Web.SERVICE.DC1.Consul.", RecordType::A).lookup,
        service("web", Some("v1"), Some("dc1"))
    );
    assert_eq!(
        parse("Node-1.NODE.CONSUL.", RecordType::A).lookup,
        node("node-1", None)
    );
}

#[test]
fn an_srv_question_may_leave_out_the_service_label() {
    assert_eq!(
        parse("_web._tcp.consul.", RecordType::SRV).lookup,
        service("web", None, None)
    );
    assert_eq!(
        parse("_web._tcp.consul.", RecordType::A).lookup,
        Lookup::Unknown
    );
}

#[test]
fn node_names_may_contain_dots() {
    assert_eq!(
        parse("n1.node.consul.", RecordType::A).lookup,
        node("n1", None)
    );
    assert_eq!(
        parse("n1.rack2.node.dc1.consul.", RecordType::A).lookup,
        node("n1.rack2", Some("dc1"))
    );
}

#[test]
fn addr_names_decode_their_hex_address() {
    let lookup = parse("7f000001.addr.dc1.consul.", RecordType::A).lookup;
    let want: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(
        lookup,
        Lookup::Addr {
            ip: want,
            datacenter: Some("dc1".to_string())
        }
    );
    let v6 = parse(
        "20010db8000000000000000000000001.addr.consul.",
        RecordType::AAAA,
    );
    let want: IpAddr = "2001:db8::1".parse().unwrap();
    assert!(matches!(v6.lookup, Lookup::Addr { ip, .. } if ip == want));
    assert_eq!(
        parse("7f00001.addr.consul.", RecordType::A).lookup,
        Lookup::Unknown
    );
    assert_eq!(
        parse("7g000001.addr.consul.", RecordType::A).lookup,
        Lookup::Unknown
    );
}

#[test]
fn malformed_names_under_the_domain_are_unknown() {
    for name in [
        "consul.",
        "service.consul.",
        "node.consul.",
        "web.consul.",
        "web.service.a.b.c.consul.",
        "web.service.p.peer.consul.",
        "web.connect.consul.",
        "q.query.consul.",
        "_._tcp.service.consul.",
    ] {
        assert_eq!(parse(name, RecordType::A).lookup, Lookup::Unknown, "{name}");
    }
}

#[test]
fn names_outside_the_domain_are_outside() {
    for name in ["example.com.", "consul.example.com.", "."] {
        assert_eq!(
            parse(name, RecordType::A).lookup,
            Lookup::OutsideDomain,
            "{name}"
        );
    }
}

#[test]
fn a_configured_domain_of_several_labels_is_matched_whole() {
    let config = DnsConfig {
        domain: "Cluster.Example.".to_string(),
        ..DnsConfig::default()
    };
    let classify = |name: &str| {
        let bytes = query_bytes(name, RecordType::A, None);
        parse_query(&bytes, Transport::Udp, &config).unwrap().lookup
    };
    assert_eq!(
        classify("web.service.cluster.example."),
        service("web", None, None)
    );
    assert_eq!(classify("web.service.consul."), Lookup::OutsideDomain);
    assert_eq!(
        classify("web.service.other.example."),
        Lookup::OutsideDomain
    );
}
