//! SOA and NS questions: the zone's SOA and the servers as name servers.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use super::super::{
    DnsInstance, InstanceHealth, Lookup, Transport, authority_answer, zone_transfer,
};
use super::{SERIAL, addresses, config, decode, instance, parse, with_status};

fn servers() -> Vec<DnsInstance> {
    vec![
        instance("Server-1", "10.0.0.1", 8300),
        instance("server-2", "10.0.0.2", 8300),
        instance("server-3", "10.0.0.3", 8300),
        instance("server-4", "10.0.0.4", 8300),
        instance("bad_name", "10.0.0.5", 8300),
        with_status(
            instance("server-6", "10.0.0.6", 8300),
            InstanceHealth::Critical,
        ),
    ]
}

fn ns_targets(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|record| match &record.data {
            RData::NS(ns) => Some(ns.0.to_ascii()),
            _ => None,
        })
        .collect()
}

#[test]
fn soa_and_ns_questions_under_the_domain_are_authority_lookups() {
    for name in ["consul.", "web.service.consul.", "nothing.consul."] {
        assert_eq!(parse(name, RecordType::SOA).lookup, Lookup::Authority);
        assert_eq!(parse(name, RecordType::NS).lookup, Lookup::Authority);
        assert_eq!(parse(name, RecordType::AXFR).lookup, Lookup::ZoneTransfer);
    }
    assert_eq!(
        parse("example.com.", RecordType::SOA).lookup,
        Lookup::OutsideDomain
    );
}

#[test]
fn an_soa_question_gets_the_soa_and_three_name_servers_with_glue() {
    let query = parse("consul.", RecordType::SOA);
    let reply = decode(&authority_answer(
        &query,
        &servers(),
        Transport::Udp,
        4,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    let [soa] = reply.answers.as_slice() else {
        panic!("one SOA answer")
    };
    assert!(matches!(&soa.data, RData::SOA(soa) if soa.serial == SERIAL));
    let targets = ns_targets(&reply.authorities);
    assert_eq!(targets.len(), 3);
    for target in &targets {
        assert!(target.starts_with("server-"), "{target}");
        assert!(target.ends_with(".node.dc1.consul."), "{target}");
        assert!(
            !target.starts_with("server-6"),
            "critical servers are skipped"
        );
        let glue = reply
            .additionals
            .iter()
            .find(|extra| &extra.name.to_ascii() == target);
        assert!(glue.is_some(), "glue for {target}");
    }
    assert_eq!(reply.additionals.len(), 3);
    assert!(
        reply
            .authorities
            .iter()
            .all(|ns| ns.name.to_ascii() == "consul." && ns.ttl == 30)
    );
}

#[test]
fn an_ns_question_gets_the_name_servers_as_its_answer() {
    let query = parse("Consul.", RecordType::NS);
    let reply = decode(&authority_answer(
        &query,
        &servers(),
        Transport::Udp,
        9,
        SERIAL,
        &config(),
    ));
    assert_eq!(ns_targets(&reply.answers).len(), 3);
    assert!(reply.authorities.is_empty());
    let mut glue = addresses(&reply.additionals);
    glue.sort();
    assert_eq!(glue.len(), 3);
    assert!(
        glue.iter()
            .all(|address| address != "10.0.0.5" && address != "10.0.0.6")
    );
    // The lower-cased name of Server-1, when it is chosen.
    let lowered = ns_targets(&reply.answers)
        .iter()
        .all(|target| *target == target.to_lowercase());
    assert!(lowered);
}

#[test]
fn no_servers_is_an_empty_answer() {
    let query = parse("consul.", RecordType::NS);
    let reply = decode(&authority_answer(
        &query,
        &[],
        Transport::Udp,
        9,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
}

#[test]
fn a_zone_transfer_is_not_implemented() {
    let query = parse("consul.", RecordType::AXFR);
    let reply = decode(&zone_transfer(&query, &config()));
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(reply.queries.len(), 1);
}
