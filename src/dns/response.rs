//! Reply skeletons and the answers that carry no catalog data: NXDOMAIN,
//! REFUSED, FORMERR, NOTIMP, SERVFAIL.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::DNSClass;

use super::config::DnsConfig;
use super::query::{DnsQuery, Transport};
use super::records::soa_record;
use super::truncate::{MAX_EDNS_UDP_ANSWER_BYTES, answer_limit_bytes, encode_fitted};

/// An authoritative reply to `query` (Consul's `SetReply` plus AA, and RA
/// when a recursor is configured), echoing the question and the client's
/// EDNS0 payload size as Consul's `setEDNS` does.
pub(crate) fn reply(query: &DnsQuery, rcode: ResponseCode, config: &DnsConfig) -> Message {
    let mut message = bare_reply(query, rcode);
    message.metadata.authoritative = true;
    message.metadata.recursion_available = config.has_recursor;
    if let Some(offer_bytes) = query.edns_udp_payload_bytes {
        let mut edns = Edns::new();
        let max_bytes = u16::try_from(MAX_EDNS_UDP_ANSWER_BYTES).unwrap_or(u16::MAX);
        edns.set_max_payload(offer_bytes.min(max_bytes));
        message.set_edns(edns);
    }
    message
}

/// A reply with only the id, the copied flags, the question and the rcode.
fn bare_reply(query: &DnsQuery, rcode: ResponseCode) -> Message {
    let mut message = Message::new(query.id, MessageType::Response, OpCode::Query);
    message.metadata.recursion_desired = query.recursion_desired;
    message.metadata.checking_disabled = query.checking_disabled;
    message.metadata.response_code = rcode;
    let mut question = Query::query(query.wire_name.clone(), query.record_type());
    question.set_query_class(DNSClass::from(query.question.qclass));
    message.add_query(question);
    message
}

/// Encodes a reply within the transport's limit; if even the bare header
/// and question cannot be encoded, a header-only SERVFAIL.
pub(crate) fn finish(message: Message, query: &DnsQuery, transport: Transport) -> Vec<u8> {
    let id = message.metadata.id;
    let max_bytes = answer_limit_bytes(transport, query.edns_udp_payload_bytes);
    encode_fitted(message, max_bytes).unwrap_or_else(|| header_only(id, ResponseCode::ServFail))
}

/// NXDOMAIN with the domain's SOA in the authority section, so resolvers
/// cache the negative answer for the SOA's minimum TTL.
pub fn nxdomain(query: &DnsQuery, soa_serial: u32, config: &DnsConfig) -> Vec<u8> {
    let mut message = reply(query, ResponseCode::NXDomain, config);
    message.authorities.extend(soa_record(config, soa_serial));
    finish(message, query, Transport::Udp)
}

/// REFUSED for a name outside the domain when there is no recursor, as
/// Consul's DNS library answers a zone it has no handler for.
pub fn refused(query: &DnsQuery) -> Vec<u8> {
    finish(
        bare_reply(query, ResponseCode::Refused),
        query,
        Transport::Udp,
    )
}

/// SERVFAIL: the catalog could not be read.
pub fn server_failure(query: &DnsQuery, config: &DnsConfig) -> Vec<u8> {
    finish(
        reply(query, ResponseCode::ServFail, config),
        query,
        Transport::Udp,
    )
}

/// FORMERR for input whose id could be read but not the rest.
pub fn format_error(id: u16) -> Vec<u8> {
    header_only(id, ResponseCode::FormErr)
}

/// NOTIMP for an opcode other than QUERY.
pub fn not_implemented(id: u16) -> Vec<u8> {
    header_only(id, ResponseCode::NotImp)
}

fn header_only(id: u16, rcode: ResponseCode) -> Vec<u8> {
    Message::error_msg(id, OpCode::Query, rcode)
        .to_vec()
        .expect("a header-only message always encodes")
}
