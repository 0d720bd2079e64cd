//! The answers built from catalog data: a service's instances, a node's
//! address, an `addr` name's address.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::config::DnsConfig;
use super::instance::{DnsInstance, select_instances};
use super::name::Lookup;
use super::query::{DnsQuery, Transport};
use super::records::{address_record, cname_record, name_from_text, parse_ip, soa_record};
use super::response::{finish, nxdomain, reply};
use super::service::{address_records, srv_records};

/// The datacenter to answer for: this agent's, when the query names none or
/// names it. `None` for any other: this agent is not federated, so a
/// foreign datacenter is NXDOMAIN (Consul's "no path to datacenter").
fn local_datacenter<'a>(asked: Option<&str>, config: &'a DnsConfig) -> Option<&'a str> {
    match asked {
        None => Some(&config.datacenter),
        Some(asked) if asked.eq_ignore_ascii_case(&config.datacenter) => Some(&config.datacenter),
        Some(_) => None,
    }
}

/// The answer to a service lookup. `instances` is every instance of the
/// service; critical ones, warning ones under `only_passing`, and those
/// without the asked tag are left out, the rest shuffled by `shuffle_seed`.
/// No instance left is NXDOMAIN; instances without a record of the asked
/// type is NOERROR with the SOA (RFC 2308 NODATA). A query that is not a
/// service lookup is NXDOMAIN.
pub fn service_answer(
    query: &DnsQuery,
    instances: &[DnsInstance],
    transport: Transport,
    shuffle_seed: u64,
    soa_serial: u32,
    config: &DnsConfig,
) -> Vec<u8> {
    let Lookup::Service {
        tag, datacenter, ..
    } = &query.lookup
    else {
        return nxdomain(query, soa_serial, config);
    };
    let Some(datacenter) = local_datacenter(datacenter.as_deref(), config) else {
        return nxdomain(query, soa_serial, config);
    };
    let chosen = select_instances(instances, tag.as_deref(), shuffle_seed, config);
    if chosen.is_empty() {
        return nxdomain(query, soa_serial, config);
    }
    let (answers, additionals) = if query.record_type() == RecordType::SRV {
        srv_records(query, &chosen, datacenter, config)
    } else {
        (address_records(query, &chosen, config), Vec::new())
    };
    let mut message = reply(query, ResponseCode::NoError, config);
    if answers.is_empty() {
        message.authorities.extend(soa_record(config, soa_serial));
    }
    message.answers = answers;
    message.additionals = additionals;
    finish(message, query, transport)
}

/// The answer to a node lookup: `node_address` is the node's address, or
/// `None` when no such node is registered (NXDOMAIN). As Consul does, only
/// A, AAAA, ANY and TXT questions get records (TXT would carry node meta,
/// which this agent does not keep), and a hostname address is a CNAME.
pub fn node_answer(
    query: &DnsQuery,
    node_address: Option<&str>,
    transport: Transport,
    soa_serial: u32,
    config: &DnsConfig,
) -> Vec<u8> {
    let Lookup::Node { datacenter, .. } = &query.lookup else {
        return nxdomain(query, soa_serial, config);
    };
    if local_datacenter(datacenter.as_deref(), config).is_none() {
        return nxdomain(query, soa_serial, config);
    }
    let qtype = query.record_type();
    let mut message = reply(query, ResponseCode::NoError, config);
    if !matches!(
        qtype,
        RecordType::A | RecordType::AAAA | RecordType::ANY | RecordType::TXT
    ) {
        return finish(message, query, transport);
    }
    let Some(address) = node_address else {
        return nxdomain(query, soa_serial, config);
    };
    if qtype != RecordType::TXT && !address.is_empty() {
        let ttl_s = config.node_ttl_s;
        let name = query.wire_name.clone();
        let record = match parse_ip(address) {
            Some(ip) => address_record(name, ip, ttl_s, qtype),
            None => name_from_text(address).map(|host| cname_record(name, host, ttl_s)),
        };
        message.answers.extend(record);
    }
    finish(message, query, transport)
}

/// The answer to `<hex>.addr.<dc>.<domain>`: the address itself, in the
/// answer section if the question asks for its family (or ANY), else in the
/// additional section, as Consul does. The datacenter label is ignored, as
/// Consul ignores it. A query that is not an addr lookup is NXDOMAIN.
pub fn addr_answer(
    query: &DnsQuery,
    transport: Transport,
    soa_serial: u32,
    config: &DnsConfig,
) -> Vec<u8> {
    let Lookup::Addr { ip, .. } = &query.lookup else {
        return nxdomain(query, soa_serial, config);
    };
    let qtype = query.record_type();
    let mut message = reply(query, ResponseCode::NoError, config);
    let name = query.wire_name.clone();
    match address_record(name.clone(), *ip, config.node_ttl_s, qtype) {
        Some(record) if qtype != RecordType::TXT && qtype != RecordType::NS => {
            message.answers.push(record)
        }
        _ => message.additionals.extend(address_record(
            name,
            *ip,
            config.node_ttl_s,
            RecordType::ANY,
        )),
    }
    finish(message, query, transport)
}
