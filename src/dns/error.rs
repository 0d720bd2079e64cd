//! Why a datagram or TCP message is not a query this server answers.

use std::fmt;

use super::response::{format_error, not_implemented};

/// A query that could not be taken. Each variant knows whether the client
/// gets an answer ([`DnsError::response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// Longer than the transport allows for a query.
    TooLong { len_bytes: usize, max_bytes: usize },
    /// Shorter than a DNS header: there is no id to answer to.
    NoHeader,
    /// The header has the QR bit set: a response, which is never answered
    /// (answering would let two servers loop).
    NotAQuery { id: u16 },
    /// An opcode other than QUERY (Consul answers NOTIMP).
    UnsupportedOpcode { id: u16, opcode: u8 },
    /// Not exactly one question (FORMERR).
    QuestionCount { id: u16, count: u16 },
    /// More records in the answer, authority or additional section than a
    /// query carries (FORMERR, as Consul's DNS library rejects them).
    TooManyRecords { id: u16 },
    /// The header is readable but the rest is not DNS (FORMERR).
    Malformed { id: u16, reason: String },
}

impl DnsError {
    /// The message id, when the header could be read.
    pub fn id(&self) -> Option<u16> {
        match self {
            DnsError::TooLong { .. } | DnsError::NoHeader => None,
            DnsError::NotAQuery { id }
            | DnsError::UnsupportedOpcode { id, .. }
            | DnsError::QuestionCount { id, .. }
            | DnsError::TooManyRecords { id }
            | DnsError::Malformed { id, .. } => Some(*id),
        }
    }

    /// The encoded answer the client gets, or `None` when the input is
    /// dropped silently (no readable id, an oversized query, or a response).
    pub fn response(&self) -> Option<Vec<u8>> {
        match self {
            DnsError::TooLong { .. } | DnsError::NoHeader | DnsError::NotAQuery { .. } => None,
            DnsError::UnsupportedOpcode { id, .. } => Some(not_implemented(*id)),
            DnsError::QuestionCount { id, .. }
            | DnsError::TooManyRecords { id }
            | DnsError::Malformed { id, .. } => Some(format_error(*id)),
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::TooLong {
                len_bytes,
                max_bytes,
            } => write!(f, "query of {len_bytes} bytes exceeds {max_bytes}"),
            DnsError::NoHeader => write!(f, "message shorter than a DNS header"),
            DnsError::NotAQuery { id } => write!(f, "message {id} is a response, not a query"),
            DnsError::UnsupportedOpcode { id, opcode } => {
                write!(f, "message {id}: opcode {opcode} not implemented")
            }
            DnsError::QuestionCount { id, count } => {
                write!(f, "message {id}: {count} questions, want exactly 1")
            }
            DnsError::TooManyRecords { id } => {
                write!(f, "message {id}: too many records for a query")
            }
            DnsError::Malformed { id, reason } => write!(f, "message {id}: malformed: {reason}"),
        }
    }
}

impl std::error::Error for DnsError {}
