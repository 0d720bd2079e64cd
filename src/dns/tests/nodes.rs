//! Node and addr answers, and the answers without catalog data.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use super::super::{
    Transport, addr_answer, node_answer, nxdomain, refused, server_failure, service_answer,
};
use super::{SERIAL, addresses, config, decode, parse, parse_edns};

#[test]
fn a_node_question_gets_its_address() {
    let query = parse("n1.node.consul.", RecordType::A);
    let reply = decode(&node_answer(
        &query,
        Some("10.1.2.3"),
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(addresses(&reply.answers), ["10.1.2.3"]);
    assert_eq!(reply.answers[0].ttl, 30);
    assert_eq!(reply.answers[0].name.to_ascii(), "n1.node.consul.");
}

#[test]
fn a_node_aaaa_question_for_an_ipv4_node_has_no_records() {
    let query = parse("n1.node.dc1.consul.", RecordType::AAAA);
    let reply = decode(&node_answer(
        &query,
        Some("10.1.2.3"),
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    let query = parse("n1.node.dc1.consul.", RecordType::AAAA);
    let reply = decode(&node_answer(
        &query,
        Some("::1"),
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    assert_eq!(addresses(&reply.answers), ["::1"]);
}

#[test]
fn a_node_with_a_hostname_address_is_a_cname() {
    let query = parse("ext.node.consul.", RecordType::A);
    let reply = decode(&node_answer(
        &query,
        Some("ext.example.com"),
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    let RData::CNAME(cname) = &reply.answers[0].data else {
        panic!("not a CNAME")
    };
    assert_eq!(cname.0.to_ascii(), "ext.example.com.");
}

#[test]
fn an_unknown_node_or_foreign_datacenter_is_nxdomain() {
    let query = parse("n9.node.consul.", RecordType::A);
    let reply = decode(&node_answer(
        &query,
        None,
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    let query = parse("n1.node.dc9.consul.", RecordType::A);
    let reply = decode(&node_answer(
        &query,
        Some("10.1.2.3"),
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn a_node_question_of_another_type_is_empty() {
    let query = parse("n1.node.consul.", RecordType::MX);
    let reply = decode(&node_answer(
        &query,
        Some("10.1.2.3"),
        Transport::Udp,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
}

#[test]
fn an_addr_question_answers_the_address_it_spells() {
    let query = parse("0a000001.addr.dc1.consul.", RecordType::A);
    let reply = decode(&addr_answer(&query, Transport::Udp, SERIAL, &config()));
    assert_eq!(addresses(&reply.answers), ["10.0.0.1"]);
    let query = parse("0a000001.addr.dc1.consul.", RecordType::AAAA);
    let reply = decode(&addr_answer(&query, Transport::Udp, SERIAL, &config()));
    assert!(reply.answers.is_empty());
    assert_eq!(addresses(&reply.additionals), ["10.0.0.1"]);
}

#[test]
fn nxdomain_carries_consuls_soa() {
    let query = parse("nothing.here.consul.", RecordType::A);
    let reply = decode(&nxdomain(&query, SERIAL, &config()));
    assert_eq!(reply.metadata.id, 0x1234);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert!(reply.metadata.authoritative);
    assert!(reply.answers.is_empty());
    let [soa_record] = reply.authorities.as_slice() else {
        panic!("one SOA")
    };
    assert_eq!(soa_record.name.to_ascii(), "consul.");
    assert_eq!(soa_record.ttl, 0);
    let RData::SOA(soa) = &soa_record.data else {
        panic!("not an SOA")
    };
    assert_eq!(soa.mname.to_ascii(), "ns.consul.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.consul.");
    assert_eq!(soa.serial, SERIAL);
    assert_eq!(
        (soa.refresh, soa.retry, soa.expire, soa.minimum),
        (3600, 600, 86400, 0)
    );
}

#[test]
fn answers_to_a_non_matching_lookup_are_nxdomain() {
    let query = parse("n1.node.consul.", RecordType::A);
    let reply = decode(&service_answer(
        &query,
        &[],
        Transport::Udp,
        1,
        SERIAL,
        &config(),
    ));
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    let reply = decode(&addr_answer(&query, Transport::Udp, SERIAL, &config()));
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn refused_outside_the_domain() {
    let query = parse("www.example.com.", RecordType::A);
    let reply = decode(&refused(&query));
    assert_eq!(reply.metadata.id, 0x1234);
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(!reply.metadata.authoritative);
    assert_eq!(reply.queries[0].name().to_ascii(), "www.example.com.");
}

#[test]
fn server_failure_keeps_the_question_and_edns() {
    let query = parse_edns("web.service.consul.", RecordType::A, 1400);
    let reply = decode(&server_failure(&query, &config()));
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(reply.queries.len(), 1);
    assert_eq!(
        reply.edns.as_ref().map(|edns| edns.max_payload()),
        Some(1400)
    );
}
