//! Arbitrary bytes as a DNS query: the decoder never panics, an error's
//! reply (FORMERR, NOTIMP) decodes, and for every query it accepts each
//! answer builder produces a message that decodes and fits its transport.
//!
//! Input: the first byte's low bit picks the transport (0 UDP, 1 TCP); the
//! rest is the query as it would arrive (without TCP's length prefix).

#![no_main]

use concord::dns::{
    DnsConfig, DnsInstance, InstanceHealth, MAX_EDNS_UDP_ANSWER_BYTES, MAX_TCP_MESSAGE_BYTES,
    MIN_UDP_ANSWER_BYTES, Transport, addr_answer, authority_answer, node_answer, nxdomain,
    parse_query, refused, server_failure, service_answer, zone_transfer,
};
use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;

const SOA_SERIAL: u32 = 1_764_000_000;

fn instance(node: &str, node_address: &str, service_address: &str) -> DnsInstance {
    DnsInstance {
        node: node.to_string(),
        node_address: node_address.to_string(),
        service_address: service_address.to_string(),
        port: 8080,
        tags: vec!["v1".to_string(), "primary".to_string()],
        weight_passing: 10,
        weight_warning: 1,
        status: InstanceHealth::Passing,
    }
}

fn must_decode(bytes: &[u8], max_bytes: usize) {
    assert!(
        bytes.len() <= max_bytes,
        "{} bytes over {max_bytes}",
        bytes.len()
    );
    if let Err(error) = Message::from_vec(bytes) {
        panic!("our own answer does not decode: {error}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let transport = if selector & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let config = DnsConfig::default();
    let query = match parse_query(bytes, transport, &config) {
        Ok(query) => query,
        Err(error) => {
            if let Some(reply) = error.response() {
                must_decode(&reply, MIN_UDP_ANSWER_BYTES);
            }
            return;
        }
    };
    // What the client can take: 512 bytes over UDP unless it offered more
    // in EDNS0 (at most 4096 honoured), 64 KiB over TCP.
    let max_bytes = match transport {
        Transport::Udp => query
            .edns_udp_payload_bytes
            .map_or(MIN_UDP_ANSWER_BYTES, usize::from)
            .clamp(MIN_UDP_ANSWER_BYTES, MAX_EDNS_UDP_ANSWER_BYTES),
        Transport::Tcp => MAX_TCP_MESSAGE_BYTES,
    };
    let mut warning = instance("n3", "10.0.0.3", "");
    warning.status = InstanceHealth::Warning;
    let mut critical = instance("n4", "10.0.0.4", "");
    critical.status = InstanceHealth::Critical;
    let instances = [
        instance("n1", "10.0.0.1", ""),
        instance("n2", "10.0.0.2", "2001:db8::2"),
        instance("ext", "10.0.0.5", "db.example.com"),
        warning,
        critical,
    ];
    let seed = u64::from(selector);
    let answers = [
        service_answer(&query, &instances, transport, seed, SOA_SERIAL, &config),
        node_answer(&query, Some("10.0.0.1"), transport, SOA_SERIAL, &config),
        node_answer(
            &query,
            Some("node.example.com"),
            transport,
            SOA_SERIAL,
            &config,
        ),
        node_answer(&query, None, transport, SOA_SERIAL, &config),
        addr_answer(&query, transport, SOA_SERIAL, &config),
        authority_answer(&query, &instances, transport, seed, SOA_SERIAL, &config),
        zone_transfer(&query, &config),
        nxdomain(&query, SOA_SERIAL, &config),
        refused(&query),
        server_failure(&query, &config),
    ];
    for answer in &answers {
        must_decode(answer, max_bytes);
    }
});
