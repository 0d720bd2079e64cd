//! Datagram size accounting. A datagram is a compound of messages; the size
//! of each message on the wire is its payload plus a fixed per-message
//! overhead (type byte and 16-bit length), and the datagram adds a fixed
//! header. These mirror the compound datagram layout of `src/wire`.

use crate::wire::gossip_message::GossipMessage;

/// The UDP payload limit: small enough to avoid IP fragmentation on any
/// ordinary path MTU (1500 minus IP/UDP headers, with margin).
pub const MAX_DATAGRAM_BYTES: usize = 1400;
/// The compound datagram's own header.
pub const DATAGRAM_HEADER_BYTES: usize = 12;
/// Per message: one type byte and a 16-bit payload length.
pub const PER_MESSAGE_OVERHEAD_BYTES: usize = 3;
/// Room for messages in one datagram.
pub const DATAGRAM_BUDGET_BYTES: usize = MAX_DATAGRAM_BYTES - DATAGRAM_HEADER_BYTES;

/// Bytes `message` occupies inside a compound datagram.
pub fn packed_len(message: &GossipMessage) -> usize {
    PER_MESSAGE_OVERHEAD_BYTES + message.encoded_payload_len()
}

/// Bytes a datagram holding exactly `messages` occupies.
pub fn datagram_len(messages: &[GossipMessage]) -> usize {
    DATAGRAM_HEADER_BYTES + messages.iter().map(packed_len).sum::<usize>()
}
