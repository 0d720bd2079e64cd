//! Service answers: records, filters, health, order.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use super::super::{DnsConfig, DnsInstance, InstanceHealth, Transport, service_answer};
use super::{SERIAL, addresses, config, decode, instance, parse, srvs, tagged, with_status};

fn answer(name: &str, qtype: RecordType, instances: &[DnsInstance]) -> hickory_proto::op::Message {
    answer_with(name, qtype, instances, &config())
}

fn answer_with(
    name: &str,
    qtype: RecordType,
    instances: &[DnsInstance],
    config: &DnsConfig,
) -> hickory_proto::op::Message {
    let query = parse(name, qtype);
    decode(&service_answer(
        &query,
        instances,
        Transport::Udp,
        7,
        SERIAL,
        config,
    ))
}

fn three_nodes() -> Vec<DnsInstance> {
    vec![
        instance("n1", "10.0.0.1", 8080),
        instance("n2", "10.0.0.2", 8081),
        instance("n3", "10.0.0.3", 8082),
    ]
}

#[test]
fn an_a_question_gets_every_instance_address() {
    let reply = answer("web.service.consul.", RecordType::A, &three_nodes());
    assert_eq!(reply.metadata.id, 0x1234);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert!(reply.metadata.recursion_desired);
    assert!(!reply.metadata.recursion_available);
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.queries.len(), 1);
    let mut got = addresses(&reply.answers);
    got.sort();
    assert_eq!(got, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    for record in &reply.answers {
        assert_eq!(record.name.to_ascii(), "web.service.consul.");
        assert_eq!(record.ttl, 10);
    }
    assert!(reply.authorities.is_empty());
}

#[test]
fn the_service_address_wins_over_the_node_address() {
    let mut own = instance("n1", "10.0.0.1", 80);
    own.service_address = "192.168.1.5".to_string();
    let reply = answer("web.service.consul.", RecordType::A, &[own]);
    assert_eq!(addresses(&reply.answers), ["192.168.1.5"]);
}

#[test]
fn an_aaaa_question_gets_ipv6_addresses_only() {
    let instances = [
        instance("n1", "10.0.0.1", 80),
        instance("n2", "2001:db8::2", 80),
    ];
    let reply = answer("web.service.consul.", RecordType::AAAA, &instances);
    assert_eq!(addresses(&reply.answers), ["2001:db8::2"]);
    assert_eq!(reply.answers[0].record_type(), RecordType::AAAA);
}

#[test]
fn an_aaaa_question_for_ipv4_only_instances_is_nodata_with_the_soa() {
    let reply = answer("web.service.consul.", RecordType::AAAA, &three_nodes());
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    assert_eq!(reply.authorities.len(), 1);
    assert_eq!(reply.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn an_srv_question_names_the_nodes_and_adds_their_addresses() {
    let reply = answer("web.service.consul.", RecordType::SRV, &three_nodes());
    let mut got = srvs(&reply.answers);
    got.sort();
    assert_eq!(
        got,
        [
            (1, 8080, "n1.node.dc1.consul.".to_string()),
            (1, 8081, "n2.node.dc1.consul.".to_string()),
            (1, 8082, "n3.node.dc1.consul.".to_string()),
        ]
    );
    for record in &reply.answers {
        let RData::SRV(srv) = &record.data else {
            panic!("not SRV")
        };
        assert_eq!(srv.priority, 1);
        assert_eq!(record.ttl, 10);
        let extra = reply
            .additionals
            .iter()
            .find(|extra| extra.name == srv.target)
            .expect("each target's address is in the additional section");
        assert_eq!(extra.record_type(), RecordType::A);
    }
    assert_eq!(reply.additionals.len(), 3);
}

#[test]
fn an_srv_target_for_a_service_address_is_its_addr_name() {
    let mut own = instance("n1", "10.0.0.1", 80);
    own.service_address = "127.0.0.2".to_string();
    let reply = answer("web.service.consul.", RecordType::SRV, &[own]);
    assert_eq!(srvs(&reply.answers)[0].2, "7f000002.addr.dc1.consul.");
    assert_eq!(addresses(&reply.additionals), ["127.0.0.2"]);
    assert_eq!(
        reply.additionals[0].name.to_ascii(),
        "7f000002.addr.dc1.consul."
    );
}

#[test]
fn a_hostname_address_is_a_cname_or_the_srv_target() {
    let mut external = instance("n1", "10.0.0.1", 443);
    external.service_address = "db.example.com".to_string();
    let reply = answer(
        "db.service.consul.",
        RecordType::A,
        std::slice::from_ref(&external),
    );
    assert_eq!(reply.answers.len(), 1);
    let RData::CNAME(cname) = &reply.answers[0].data else {
        panic!("not a CNAME")
    };
    assert_eq!(cname.0.to_ascii(), "db.example.com.");
    let reply = answer("db.service.consul.", RecordType::SRV, &[external]);
    assert_eq!(
        srvs(&reply.answers),
        [(1, 443, "db.example.com.".to_string())]
    );
    assert!(reply.additionals.is_empty());
}

#[test]
fn a_cname_is_only_used_when_no_instance_has_an_address() {
    let mut external = instance("n1", "10.0.0.1", 443);
    external.service_address = "db.example.com".to_string();
    let instances = [external, instance("n2", "10.0.0.2", 443)];
    let reply = answer("db.service.consul.", RecordType::A, &instances);
    assert_eq!(addresses(&reply.answers), ["10.0.0.2"]);
    assert_eq!(reply.answers.len(), 1);
}

#[test]
fn srv_weights_follow_the_status() {
    let mut passing = instance("n1", "10.0.0.1", 80);
    passing.weight_passing = 10;
    let mut warning = with_status(instance("n2", "10.0.0.2", 80), InstanceHealth::Warning);
    warning.weight_warning = 3;
    let mut huge = instance("n3", "10.0.0.3", 80);
    huge.weight_passing = 1_000_000;
    let reply = answer(
        "web.service.consul.",
        RecordType::SRV,
        &[passing, warning, huge],
    );
    let mut weights: Vec<_> = srvs(&reply.answers).into_iter().map(|srv| srv.0).collect();
    weights.sort();
    assert_eq!(weights, [3, 10, u16::MAX]);
}

#[test]
fn a_tag_filters_instances_case_insensitively() {
    let instances = [
        tagged(instance("n1", "10.0.0.1", 80), &["primary"]),
        tagged(instance("n2", "10.0.0.2", 80), &["replica"]),
        tagged(instance("n3", "10.0.0.3", 80), &["Primary", "v2"]),
    ];
    let mut got =
        addresses(&answer("primary.db.service.consul.", RecordType::A, &instances).answers);
    got.sort();
    assert_eq!(got, ["10.0.0.1", "10.0.0.3"]);
    let rfc = answer("_db._replica.service.consul.", RecordType::SRV, &instances);
    assert_eq!(srvs(&rfc.answers)[0].2, "n2.node.dc1.consul.");
    assert_eq!(rfc.answers.len(), 1);
    let none = answer("missing.db.service.consul.", RecordType::A, &instances);
    assert_eq!(none.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn tcp_as_the_rfc2782_tag_means_any_tag() {
    let instances = [
        tagged(instance("n1", "10.0.0.1", 80), &["primary"]),
        instance("n2", "10.0.0.2", 80),
    ];
    let reply = answer("_db._tcp.service.consul.", RecordType::SRV, &instances);
    assert_eq!(reply.answers.len(), 2);
    let bare = answer("_db._tcp.consul.", RecordType::SRV, &instances);
    assert_eq!(bare.answers.len(), 2);
}

#[test]
fn critical_instances_are_dropped_and_warning_ones_under_only_passing() {
    let instances = [
        instance("n1", "10.0.0.1", 80),
        with_status(instance("n2", "10.0.0.2", 80), InstanceHealth::Warning),
        with_status(instance("n3", "10.0.0.3", 80), InstanceHealth::Critical),
    ];
    let mut got = addresses(&answer("web.service.consul.", RecordType::A, &instances).answers);
    got.sort();
    assert_eq!(got, ["10.0.0.1", "10.0.0.2"]);
    let strict = DnsConfig {
        only_passing: true,
        ..config()
    };
    let reply = answer_with("web.service.consul.", RecordType::A, &instances, &strict);
    assert_eq!(addresses(&reply.answers), ["10.0.0.1"]);
    let all_critical = [with_status(
        instance("n3", "10.0.0.3", 80),
        InstanceHealth::Critical,
    )];
    let reply = answer("web.service.consul.", RecordType::A, &all_critical);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn no_instances_is_nxdomain_with_the_soa() {
    let reply = answer("web.service.consul.", RecordType::A, &[]);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.authorities.len(), 1);
}

#[test]
fn the_datacenter_label_is_this_one_or_nxdomain() {
    let ours = answer("web.service.DC1.consul.", RecordType::SRV, &three_nodes());
    assert_eq!(ours.answers.len(), 3);
    assert!(
        srvs(&ours.answers)
            .iter()
            .all(|srv| srv.2.ends_with(".node.dc1.consul."))
    );
    let theirs = answer("web.service.dc2.consul.", RecordType::SRV, &three_nodes());
    assert_eq!(theirs.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn the_shuffle_is_deterministic_per_seed_and_differs_across_seeds() {
    let instances: Vec<DnsInstance> = (0..20)
        .map(|i| instance(&format!("n{i}"), &format!("10.0.0.{i}"), 80))
        .collect();
    let query = parse("web.service.consul.", RecordType::A);
    let order = |seed| {
        let bytes = service_answer(&query, &instances, Transport::Tcp, seed, SERIAL, &config());
        addresses(&decode(&bytes).answers)
    };
    assert_eq!(order(1), order(1));
    assert_ne!(order(1), order(2));
    let mut sorted = order(3);
    sorted.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("10.0.0.{i}")).collect();
    want.sort();
    assert_eq!(sorted, want);
}

#[test]
fn the_question_name_is_echoed_with_its_case() {
    let reply = answer("Web.Service.Consul.", RecordType::A, &three_nodes());
    assert_eq!(reply.queries[0].name().to_ascii(), "Web.Service.Consul.");
    assert_eq!(reply.answers[0].name.to_ascii(), "Web.Service.Consul.");
}

#[test]
fn duplicate_addresses_are_answered_once() {
    let instances = [
        instance("n1", "10.0.0.1", 80),
        instance("n1", "10.0.0.1", 81),
    ];
    let reply = answer("web.service.consul.", RecordType::A, &instances);
    assert_eq!(addresses(&reply.answers), ["10.0.0.1"]);
    let srv = answer("web.service.consul.", RecordType::SRV, &instances);
    assert_eq!(srv.answers.len(), 2);
    assert_eq!(srv.additionals.len(), 1);
}

#[test]
fn recursion_available_follows_the_recursor_setting() {
    let with_recursor = DnsConfig {
        has_recursor: true,
        ..config()
    };
    let reply = answer_with(
        "web.service.consul.",
        RecordType::A,
        &three_nodes(),
        &with_recursor,
    );
    assert!(reply.metadata.recursion_available);
}
