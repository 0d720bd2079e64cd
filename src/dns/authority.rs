//! The zone's own records: SOA and NS questions, answered with the servers
//! (the `consul` service's instances) as name servers, as Consul's
//! `handleQuery` does before it looks at the name.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::NS;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::config::DnsConfig;
use super::instance::{DnsInstance, select_instances};
use super::name::Lookup;
use super::query::{DnsQuery, Transport};
use super::records::{
    address_record, cname_record, domain_name, name_from_text, node_fqdn, parse_ip, soa_record,
};
use super::response::{finish, nxdomain, reply};

/// Name servers named in one answer (Consul names up to three).
const MAX_NAMESERVERS: usize = 3;

/// The answer to an SOA or NS question under the domain. `servers` is every
/// instance of the `consul` service; up to three healthy ones, shuffled by
/// `shuffle_seed`, are named as `<node>.node.<dc>.<domain>` with their node
/// addresses as glue. An SOA question gets the SOA as its answer and the NS
/// records as authority; an NS question gets the NS records as its answer.
/// A query that is not an authority lookup is NXDOMAIN.
pub fn authority_answer(
    query: &DnsQuery,
    servers: &[DnsInstance],
    transport: Transport,
    shuffle_seed: u64,
    soa_serial: u32,
    config: &DnsConfig,
) -> Vec<u8> {
    if query.lookup != Lookup::Authority {
        return nxdomain(query, soa_serial, config);
    }
    let (nameservers, glue) = nameservers(servers, shuffle_seed, config);
    let mut message = reply(query, ResponseCode::NoError, config);
    if query.record_type() == RecordType::SOA {
        message.answers.extend(soa_record(config, soa_serial));
        message.authorities = nameservers;
    } else {
        message.answers = nameservers;
    }
    message.additionals = glue;
    finish(message, query, transport)
}

/// NOTIMP for a zone transfer, as Consul answers AXFR.
pub fn zone_transfer(query: &DnsQuery, config: &DnsConfig) -> Vec<u8> {
    let message = reply(query, ResponseCode::NotImp, config);
    finish(message, query, Transport::Udp)
}

/// NS records for up to three servers and their glue records.
fn nameservers(
    servers: &[DnsInstance],
    shuffle_seed: u64,
    config: &DnsConfig,
) -> (Vec<Record>, Vec<Record>) {
    let (mut records, mut glue) = (Vec::new(), Vec::new());
    let Some(domain) = domain_name(config) else {
        return (records, glue);
    };
    let ttl_s = config.node_ttl_s;
    let mut named: Vec<&str> = Vec::new();
    for server in select_instances(servers, None, shuffle_seed, config) {
        if records.len() == MAX_NAMESERVERS {
            break;
        }
        if !is_valid_node_label(&server.node) || named.contains(&server.node.as_str()) {
            continue;
        }
        let Some(fqdn) = node_fqdn(&server.node, &config.datacenter, config) else {
            continue;
        };
        // Consul lower-cases name server names.
        let fqdn = fqdn.to_lowercase();
        named.push(&server.node);
        glue.extend(glue_record(fqdn.clone(), &server.node_address, ttl_s));
        records.push(Record::from_rdata(
            domain.clone(),
            ttl_s,
            RData::NS(NS(fqdn)),
        ));
    }
    (records, glue)
}

fn glue_record(fqdn: Name, node_address: &str, ttl_s: u32) -> Option<Record> {
    match parse_ip(node_address) {
        Some(ip) => address_record(fqdn, ip, ttl_s, RecordType::ANY),
        None if node_address.is_empty() => None,
        None => name_from_text(node_address).map(|host| cname_record(fqdn, host, ttl_s)),
    }
}

/// Consul skips servers whose node name is not one DNS label of letters,
/// digits and hyphens (its `InvalidNameRe`, which also lets a backslash by).
fn is_valid_node_label(node: &str) -> bool {
    !node.is_empty()
        && node
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'\\')
}
