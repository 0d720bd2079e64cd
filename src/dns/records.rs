//! The resource records answers are made of, named as Consul names them.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA};
use hickory_proto::rr::{Label, Name, RData, Record, RecordType};

use super::addr::addr_label;
use super::config::DnsConfig;

/// SOA timers: Consul's `dns_config.soa` defaults.
pub(crate) const SOA_REFRESH_S: i32 = 3600;
pub(crate) const SOA_RETRY_S: i32 = 600;
pub(crate) const SOA_EXPIRE_S: i32 = 86400;
pub(crate) const SOA_MIN_TTL_S: u32 = 0;

/// A fully qualified name from dotted text (a trailing dot is optional).
/// Labels are taken as raw bytes, as Consul's DNS library does; `None` when
/// a label is empty or too long, or the name is too long.
pub(crate) fn name_from_text(text: &str) -> Option<Name> {
    let text = text.strip_suffix('.').unwrap_or(text);
    if text.is_empty() {
        return Some(Name::root());
    }
    name_from_labels(text.split('.'))
}

fn name_from_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Option<Name> {
    let labels: Option<Vec<Label>> = labels
        .map(|label| Label::from_raw_bytes(label.as_bytes()).ok())
        .collect();
    Name::from_labels(labels?).ok()
}

/// The domain served, as a name.
pub(crate) fn domain_name(config: &DnsConfig) -> Option<Name> {
    name_from_text(&config.domain)
}

/// Consul's canonical node name: `<node>.node.<dc>.<domain>`.
pub(crate) fn node_fqdn(node: &str, datacenter: &str, config: &DnsConfig) -> Option<Name> {
    let domain = config.domain.strip_suffix('.').unwrap_or(&config.domain);
    name_from_text(&format!("{node}.node.{datacenter}.{domain}"))
}

/// Consul's name for a service's own IP address: `<hex>.addr.<dc>.<domain>`.
pub(crate) fn addr_fqdn(ip: IpAddr, datacenter: &str, config: &DnsConfig) -> Option<Name> {
    let domain = config.domain.strip_suffix('.').unwrap_or(&config.domain);
    name_from_text(&format!("{}.addr.{datacenter}.{domain}", addr_label(ip)))
}

/// An address as Go's `net.ParseIP` reads it: IPv4-mapped IPv6 is IPv4.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        v4 => Some(v4),
    }
}

/// An A or AAAA record for `ip` if the question type wants that family
/// (Consul's `makeARecord`): an AAAA question gets nothing for an IPv4
/// address, and the reverse.
pub(crate) fn address_record(
    name: Name,
    ip: IpAddr,
    ttl_s: u32,
    qtype: RecordType,
) -> Option<Record> {
    let any_family = matches!(
        qtype,
        RecordType::SRV | RecordType::ANY | RecordType::NS | RecordType::TXT
    );
    match ip {
        IpAddr::V4(v4) if any_family || qtype == RecordType::A => {
            Some(Record::from_rdata(name, ttl_s, RData::A(A(v4))))
        }
        IpAddr::V6(v6) if any_family || qtype == RecordType::AAAA => {
            Some(Record::from_rdata(name, ttl_s, RData::AAAA(AAAA(v6))))
        }
        _ => None,
    }
}

pub(crate) fn cname_record(name: Name, target: Name, ttl_s: u32) -> Record {
    Record::from_rdata(name, ttl_s, RData::CNAME(CNAME(target)))
}

/// The domain's SOA as Consul builds it: `ns.<domain>`,
/// `hostmaster.<domain>`, its TTL the minimum TTL.
pub(crate) fn soa_record(config: &DnsConfig, serial: u32) -> Option<Record> {
    let domain = domain_name(config)?;
    let mname = Name::from_labels([Label::from_raw_bytes(b"ns").ok()?])
        .ok()?
        .append_domain(&domain)
        .ok()?;
    let rname = Name::from_labels([Label::from_raw_bytes(b"hostmaster").ok()?])
        .ok()?
        .append_domain(&domain)
        .ok()?;
    let soa = SOA::new(
        mname,
        rname,
        serial,
        SOA_REFRESH_S,
        SOA_RETRY_S,
        SOA_EXPIRE_S,
        SOA_MIN_TTL_S,
    );
    Some(Record::from_rdata(domain, SOA_MIN_TTL_S, RData::SOA(soa)))
}
