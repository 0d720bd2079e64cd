//! Datagram size accounting for piggybacking: how many bytes and messages
//! a compound datagram (`src/wire/datagram.rs`) can still take, so the
//! state machine only ever emits batches that encode within the limits.

use crate::wire::datagram::DATAGRAM_MESSAGE_LENGTH_BYTES;
pub use crate::wire::datagram::{DATAGRAM_HEADER_BYTES, MAX_DATAGRAM_BYTES, MAX_DATAGRAM_MESSAGES};
use crate::wire::gossip_message::GossipMessage;

/// Per message: its 16-bit length field and its type byte.
pub const PER_MESSAGE_OVERHEAD_BYTES: usize = DATAGRAM_MESSAGE_LENGTH_BYTES + 1;
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
