//! Encoding an answer within what its transport carries. A UDP answer is
//! cut to the answer records that fit (with the additional records those
//! still need) and flagged TC so the client retries over TCP, as Consul's
//! `trimUDPResponse` does; a TCP answer is cut only at the 64 KiB a TCP
//! message's length prefix can express.

use hickory_proto::op::{Message, emit_message_parts};
use hickory_proto::rr::{RData, Record};
use hickory_proto::serialize::binary::BinEncoder;

use super::query::Transport;

/// A UDP answer's size when the client offers no EDNS0 (RFC 1035).
pub const MIN_UDP_ANSWER_BYTES: usize = 512;
/// The most an EDNS0 client is sent over UDP, whatever it offered: larger
/// datagrams fragment, and fragments get lost.
pub const MAX_EDNS_UDP_ANSWER_BYTES: usize = 4096;
/// A TCP DNS message's limit: its length prefix is 16 bits.
pub const MAX_TCP_MESSAGE_BYTES: usize = 65535;

/// The largest answer the client can take on this transport.
pub(crate) fn answer_limit_bytes(transport: Transport, edns_offer_bytes: Option<u16>) -> usize {
    match transport {
        Transport::Tcp => MAX_TCP_MESSAGE_BYTES,
        Transport::Udp => edns_offer_bytes
            .map_or(MIN_UDP_ANSWER_BYTES, usize::from)
            .clamp(MIN_UDP_ANSWER_BYTES, MAX_EDNS_UDP_ANSWER_BYTES),
    }
}

/// Encodes `message` in at most `max_bytes`, dropping answer records (and
/// then the authority section) when it does not fit, and setting TC then.
/// `None` only when not even the header and question fit.
pub(crate) fn encode_fitted(mut message: Message, max_bytes: usize) -> Option<Vec<u8>> {
    assert!(
        max_bytes <= MAX_TCP_MESSAGE_BYTES,
        "no DNS message exceeds 64 KiB"
    );
    if let Some(bytes) = encode_whole(&message, max_bytes) {
        return Some(bytes);
    }
    message.metadata.truncation = true;
    message.authorities.clear();
    let answers = std::mem::take(&mut message.answers);
    let additionals = std::mem::take(&mut message.additionals);
    let fits = |count: usize, message: &mut Message| {
        message.answers = answers[..count].to_vec();
        message.additionals = additionals_for(&message.answers, &additionals);
        encode_whole(message, max_bytes)
    };
    // Binary search for the most answers that fit; fewer always fit when
    // more do, since each section only shrinks.
    let (mut low, mut high) = (0, answers.len());
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if fits(middle, &mut message).is_some() {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    let bytes = fits(low, &mut message)?;
    assert!(
        bytes.len() <= max_bytes,
        "a fitted answer is within its limit"
    );
    Some(bytes)
}

/// The encoding, or `None` if any record would not fit in `max_bytes`.
fn encode_whole(message: &Message, max_bytes: usize) -> Option<Vec<u8>> {
    let max_size = u16::try_from(max_bytes).unwrap_or(u16::MAX);
    let mut buffer = Vec::with_capacity(max_bytes.min(MIN_UDP_ANSWER_BYTES));
    let mut encoder = BinEncoder::new(&mut buffer);
    encoder.set_max_size(max_size);
    let header = emit_message_parts(
        &message.metadata,
        &mut message.queries.iter(),
        &mut message.answers.iter(),
        &mut message.authorities.iter(),
        &mut message.additionals.iter(),
        message.edns.as_ref(),
        None,
        &mut encoder,
    )
    .ok()?;
    let additionals_wanted = message.additionals.len() + usize::from(message.edns.is_some());
    let complete = usize::from(header.counts.queries) == message.queries.len()
        && usize::from(header.counts.answers) == message.answers.len()
        && usize::from(header.counts.authorities) == message.authorities.len()
        && usize::from(header.counts.additionals) == additionals_wanted;
    (complete && buffer.len() <= max_bytes).then_some(buffer)
}

/// The additional records the kept answers still point at (Consul's
/// `syncExtra`): the addresses of the SRV and NS targets that remain.
fn additionals_for(answers: &[Record], additionals: &[Record]) -> Vec<Record> {
    additionals
        .iter()
        .filter(|extra| {
            answers.iter().any(|answer| match &answer.data {
                RData::SRV(srv) => srv.target == extra.name,
                RData::NS(ns) => ns.0 == extra.name,
                _ => false,
            })
        })
        .cloned()
        .collect()
}
