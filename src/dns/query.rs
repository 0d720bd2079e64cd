//! The bounded query decoder: header checks first (so hostile counts never
//! reach the record decoder), then hickory-proto decodes the message.

use hickory_proto::op::{Header, Message, MessageType, OpCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::config::DnsConfig;
use super::error::DnsError;
use super::name::{Lookup, classify};
use super::truncate::MAX_TCP_MESSAGE_BYTES;

/// The largest query accepted over UDP (RFC 1035's datagram limit).
pub const MAX_UDP_QUERY_BYTES: usize = 512;
/// Answer records a query may carry (Consul's DNS library rejects more).
const MAX_QUERY_ANSWERS: u16 = 1;
/// Authority records a query may carry (a prerequisite SOA at most).
const MAX_QUERY_AUTHORITIES: u16 = 1;
/// Additional records a query may carry: the OPT record and one more.
const MAX_QUERY_ADDITIONALS: u16 = 2;

/// The transport a query came in on and its answer goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The one question of a query, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuestion {
    /// The name in presentation form, fully qualified, case as sent.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// A decoded query: what the answer builders need to reply to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    pub id: u16,
    pub question: DnsQuestion,
    /// The UDP payload size the client offered in an EDNS0 OPT record.
    pub edns_udp_payload_bytes: Option<u16>,
    pub lookup: Lookup,
    pub(crate) recursion_desired: bool,
    pub(crate) checking_disabled: bool,
    /// The question name as decoded, so answers repeat it byte for byte.
    pub(crate) wire_name: Name,
}

impl DnsQuery {
    pub(crate) fn record_type(&self) -> RecordType {
        RecordType::from(self.question.qtype)
    }
}

/// Decodes one query and classifies its question against the domain.
pub fn parse_query(
    bytes: &[u8],
    transport: Transport,
    config: &DnsConfig,
) -> Result<DnsQuery, DnsError> {
    let max_bytes = match transport {
        Transport::Udp => MAX_UDP_QUERY_BYTES,
        Transport::Tcp => MAX_TCP_MESSAGE_BYTES,
    };
    if bytes.len() > max_bytes {
        return Err(DnsError::TooLong {
            len_bytes: bytes.len(),
            max_bytes,
        });
    }
    let header = Header::read(&mut BinDecoder::new(bytes)).map_err(|_| DnsError::NoHeader)?;
    check_header(&header)?;
    let id = header.metadata.id;
    let message = Message::from_vec(bytes).map_err(|error| DnsError::Malformed {
        id,
        reason: error.to_string(),
    })?;
    let [query] = message.queries.as_slice() else {
        return Err(DnsError::QuestionCount {
            id,
            count: header.counts.queries,
        });
    };
    let wire_name = query.name().clone();
    let record_type = query.query_type();
    let labels: Vec<&[u8]> = wire_name.iter().collect();
    let lookup = classify(&labels, &config.domain_labels(), record_type);
    Ok(DnsQuery {
        id,
        question: DnsQuestion {
            name: wire_name.to_ascii(),
            qtype: u16::from(record_type),
            qclass: u16::from(query.query_class()),
        },
        edns_udp_payload_bytes: message.edns.as_ref().map(|edns| edns.max_payload()),
        lookup,
        recursion_desired: message.metadata.recursion_desired,
        checking_disabled: message.metadata.checking_disabled,
        wire_name,
    })
}

fn check_header(header: &Header) -> Result<(), DnsError> {
    let id = header.metadata.id;
    if header.metadata.message_type == MessageType::Response {
        return Err(DnsError::NotAQuery { id });
    }
    if header.metadata.op_code != OpCode::Query {
        return Err(DnsError::UnsupportedOpcode {
            id,
            opcode: u8::from(header.metadata.op_code),
        });
    }
    if header.counts.queries != 1 {
        return Err(DnsError::QuestionCount {
            id,
            count: header.counts.queries,
        });
    }
    let counts = &header.counts;
    if counts.answers > MAX_QUERY_ANSWERS
        || counts.authorities > MAX_QUERY_AUTHORITIES
        || counts.additionals > MAX_QUERY_ADDITIONALS
    {
        return Err(DnsError::TooManyRecords { id });
    }
    Ok(())
}
