//! Answers cut to what UDP carries, with TC set; TCP answers whole.

use hickory_proto::rr::RecordType;

use super::super::{DnsInstance, Transport, service_answer};
use super::{SERIAL, config, decode, instance, parse, parse_edns, srvs};

fn forty() -> Vec<DnsInstance> {
    (0..40)
        .map(|i| instance(&format!("node-{i:02}"), &format!("10.0.1.{i}"), 8000 + i))
        .collect()
}

#[test]
fn forty_srv_instances_over_udp_are_cut_to_512_bytes_with_tc() {
    let query = parse("web.service.consul.", RecordType::SRV);
    let bytes = service_answer(&query, &forty(), Transport::Udp, 3, SERIAL, &config());
    assert!(bytes.len() <= 512, "{} bytes", bytes.len());
    let reply = decode(&bytes);
    assert!(reply.metadata.truncation);
    assert!(!reply.answers.is_empty() && reply.answers.len() < 40);
    // Every SRV record kept still has its target's address, and no more.
    let targets: Vec<String> = srvs(&reply.answers).into_iter().map(|srv| srv.2).collect();
    assert_eq!(reply.additionals.len(), targets.len());
    for extra in &reply.additionals {
        assert!(targets.contains(&extra.name.to_ascii()));
    }
}

#[test]
fn forty_a_records_over_udp_are_cut_to_as_many_as_fit() {
    // Header 12 bytes, question 20 + 4; each A record with a compressed
    // name 16: 29 records take 500 bytes, a 30th would need 516.
    let query = parse("web.service.consul.", RecordType::A);
    let bytes = service_answer(&query, &forty(), Transport::Udp, 3, SERIAL, &config());
    let reply = decode(&bytes);
    assert_eq!(bytes.len(), 500);
    assert!(reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 29);
}

#[test]
fn the_edns0_size_is_honoured_up_to_4096() {
    let query = parse_edns("web.service.consul.", RecordType::SRV, 4096);
    let bytes = service_answer(&query, &forty(), Transport::Udp, 3, SERIAL, &config());
    let reply = decode(&bytes);
    assert!(!reply.metadata.truncation, "{} bytes", bytes.len());
    assert_eq!(reply.answers.len(), 40);
    assert_eq!(
        reply.edns.as_ref().map(|edns| edns.max_payload()),
        Some(4096)
    );

    let query = parse_edns("web.service.consul.", RecordType::SRV, 1000);
    let bytes = service_answer(&query, &forty(), Transport::Udp, 3, SERIAL, &config());
    assert!(
        bytes.len() <= 1000 && bytes.len() > 512,
        "{} bytes",
        bytes.len()
    );
    assert!(decode(&bytes).metadata.truncation);

    let many: Vec<DnsInstance> = (0..300)
        .map(|i| {
            instance(
                &format!("node-{i:03}"),
                &format!("10.1.{}.{}", i / 256, i % 256),
                80,
            )
        })
        .collect();
    let query = parse_edns("web.service.consul.", RecordType::SRV, 65000);
    let bytes = service_answer(&query, &many, Transport::Udp, 3, SERIAL, &config());
    assert!(bytes.len() <= 4096, "{} bytes", bytes.len());
    assert!(decode(&bytes).metadata.truncation);
}

#[test]
fn tcp_answers_are_not_truncated() {
    let query = parse("web.service.consul.", RecordType::SRV);
    let bytes = service_answer(&query, &forty(), Transport::Tcp, 3, SERIAL, &config());
    let reply = decode(&bytes);
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 40);
    assert_eq!(reply.additionals.len(), 40);
}

#[test]
fn tcp_answers_are_bounded_at_64_kib() {
    let many: Vec<DnsInstance> = (0..5000)
        .map(|i| {
            instance(
                &format!("n{i}"),
                &format!("10.{}.{}.1", i / 256, i % 256),
                80,
            )
        })
        .collect();
    let query = parse("web.service.consul.", RecordType::A);
    let bytes = service_answer(&query, &many, Transport::Tcp, 3, SERIAL, &config());
    assert!(bytes.len() <= 65535);
    let reply = decode(&bytes);
    // Past 16 KiB hickory-proto stops compressing names, so the later
    // records carry the name in full; still well over a thousand fit.
    assert!(
        reply.answers.len() >= 1900,
        "{} answers",
        reply.answers.len()
    );
    assert!(reply.metadata.truncation);
    let query = parse("web.service.consul.", RecordType::SRV);
    let bytes = service_answer(&query, &many, Transport::Tcp, 3, SERIAL, &config());
    assert!(bytes.len() <= 65535);
    assert!(decode(&bytes).answers.len() <= 1024);
}
