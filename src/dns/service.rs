//! The records of a service answer, as Consul's `makeNodeServiceRecords`
//! builds them: where each instance is reached, then SRV records (with the
//! targets' addresses as additional records) or address records.

use std::collections::HashSet;
use std::net::IpAddr;

use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::config::DnsConfig;
use super::instance::DnsInstance;
use super::name::Lookup;
use super::query::DnsQuery;
use super::records::{
    addr_fqdn, address_record, cname_record, name_from_text, node_fqdn, parse_ip,
};

/// SRV records in one answer: more never fit in 64 KiB (Consul's bound).
pub(crate) const MAX_SRV_ANSWERS: usize = 1024;
/// Address records in one answer: more never fit in 64 KiB (Consul's bound).
pub(crate) const MAX_ADDRESS_ANSWERS: usize = 4096;
/// Every SRV record has Consul's priority.
const SRV_PRIORITY: u16 = 1;

/// Where an instance is reached.
enum Reach {
    /// The node's IP: SRV targets name the node.
    NodeIp(IpAddr),
    /// The service's own IP: SRV targets name the address.
    ServiceIp(IpAddr),
    /// A hostname (an external service): answered with a CNAME, or as the
    /// SRV target itself.
    Host(Name),
}

fn reach(instance: &DnsInstance, query: &DnsQuery) -> Option<Reach> {
    let node_ip = parse_ip(&instance.node_address);
    if instance.service_address.is_empty() {
        return match node_ip {
            Some(ip) => Some(Reach::NodeIp(ip)),
            None if instance.node_address.is_empty() => None,
            None => name_from_text(&instance.node_address).map(Reach::Host),
        };
    }
    if let Some(ip) = parse_ip(&instance.service_address) {
        return Some(Reach::ServiceIp(ip));
    }
    let host = name_from_text(&instance.service_address)?;
    // A service whose address is the very name asked for would answer with
    // a CNAME to itself; Consul falls back to the node's address.
    match node_ip {
        Some(ip) if host == query.wire_name => Some(Reach::NodeIp(ip)),
        _ => Some(Reach::Host(host)),
    }
}

/// SRV answers and the additional address records of their targets.
pub(crate) fn srv_records(
    query: &DnsQuery,
    instances: &[&DnsInstance],
    datacenter: &str,
    config: &DnsConfig,
) -> (Vec<Record>, Vec<Record>) {
    let ttl_s = service_ttl_s(query, config);
    let mut answers = Vec::new();
    let mut additionals = Vec::new();
    let mut seen_instances = HashSet::new();
    let mut seen_targets = HashSet::new();
    for instance in instances {
        if answers.len() == MAX_SRV_ANSWERS {
            break;
        }
        let key = (&instance.node, &instance.service_address, instance.port);
        if !seen_instances.insert(key) {
            continue;
        }
        let (target, extra) = match reach(instance, query) {
            Some(Reach::NodeIp(ip)) => {
                with_address(node_fqdn(&instance.node, datacenter, config), ip, ttl_s)
            }
            Some(Reach::ServiceIp(ip)) => {
                with_address(addr_fqdn(ip, datacenter, config), ip, ttl_s)
            }
            Some(Reach::Host(host)) => (Some(host), None),
            None => (None, None),
        };
        let Some(target) = target else { continue };
        if let Some(extra) = extra
            && seen_targets.insert(target.to_lowercase().to_ascii())
        {
            additionals.push(extra);
        }
        let srv = SRV::new(SRV_PRIORITY, instance.srv_weight(), instance.port, target);
        answers.push(Record::from_rdata(
            query.wire_name.clone(),
            ttl_s,
            RData::SRV(srv),
        ));
    }
    (answers, additionals)
}

fn with_address(target: Option<Name>, ip: IpAddr, ttl_s: u32) -> (Option<Name>, Option<Record>) {
    let extra = target
        .clone()
        .and_then(|name| address_record(name, ip, ttl_s, RecordType::SRV));
    (target, extra)
}

/// Address answers (A, AAAA, ANY, ...) for the question name. Hostnames
/// become a CNAME, used only when no instance has an address of the asked
/// family, as Consul does.
pub(crate) fn address_records(
    query: &DnsQuery,
    instances: &[&DnsInstance],
    config: &DnsConfig,
) -> Vec<Record> {
    let ttl_s = service_ttl_s(query, config);
    let qtype = query.record_type();
    let mut answers = Vec::new();
    let mut seen_addresses = HashSet::new();
    let mut first_cname = None;
    for instance in instances {
        if answers.len() == MAX_ADDRESS_ANSWERS {
            break;
        }
        match reach(instance, query) {
            Some(Reach::NodeIp(ip) | Reach::ServiceIp(ip)) => {
                let record = address_record(query.wire_name.clone(), ip, ttl_s, qtype);
                if let Some(record) = record
                    && seen_addresses.insert(ip)
                {
                    answers.push(record);
                }
            }
            Some(Reach::Host(host)) if first_cname.is_none() => {
                first_cname = Some(cname_record(query.wire_name.clone(), host, ttl_s));
            }
            Some(Reach::Host(_)) | None => {}
        }
    }
    if answers.is_empty() {
        answers.extend(first_cname);
    }
    answers
}

/// The TTL of the asked service's records.
fn service_ttl_s(query: &DnsQuery, config: &DnsConfig) -> u32 {
    match &query.lookup {
        Lookup::Service { service, .. } => config.service_ttl_s(service),
        _ => config.service_ttl_s,
    }
}
