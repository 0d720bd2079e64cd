//! The DNS core's tests: every response is decoded back with hickory-proto
//! and checked as a client would see it.

mod authority;
mod names;
mod nodes;
mod parsing;
mod robustness;
mod services;
mod truncation;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{DnsConfig, DnsInstance, DnsQuery, InstanceHealth, Transport, parse_query};

const SERIAL: u32 = 1_764_000_000;

fn config() -> DnsConfig {
    DnsConfig {
        node_ttl_s: 30,
        service_ttl_s: 10,
        ..DnsConfig::default()
    }
}

fn query_bytes(name: &str, qtype: RecordType, edns_payload_bytes: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = edns_payload_bytes {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    message.to_vec().unwrap()
}

fn parse(name: &str, qtype: RecordType) -> DnsQuery {
    parse_query(&query_bytes(name, qtype, None), Transport::Udp, &config()).unwrap()
}

fn parse_edns(name: &str, qtype: RecordType, payload_bytes: u16) -> DnsQuery {
    let bytes = query_bytes(name, qtype, Some(payload_bytes));
    parse_query(&bytes, Transport::Udp, &config()).unwrap()
}

fn decode(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).expect("a response decodes")
}

fn instance(node: &str, node_address: &str, port: u16) -> DnsInstance {
    DnsInstance {
        node: node.to_string(),
        node_address: node_address.to_string(),
        service_address: String::new(),
        port,
        tags: Vec::new(),
        weight_passing: 1,
        weight_warning: 1,
        status: InstanceHealth::Passing,
    }
}

fn tagged(mut instance: DnsInstance, tags: &[&str]) -> DnsInstance {
    instance.tags = tags.iter().map(|tag| tag.to_string()).collect();
    instance
}

fn with_status(mut instance: DnsInstance, status: InstanceHealth) -> DnsInstance {
    instance.status = status;
    instance
}

/// The addresses in A/AAAA records, in order, as text.
fn addresses(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(aaaa) => Some(aaaa.0.to_string()),
            _ => None,
        })
        .collect()
}

/// The SRV records as (weight, port, target).
fn srvs(records: &[Record]) -> Vec<(u16, u16, String)> {
    records
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some((srv.weight, srv.port, srv.target.to_ascii())),
            _ => None,
        })
        .collect()
}
