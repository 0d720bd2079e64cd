//! The contract every message family (Raft, client RPC, gossip) fulfils, so
//! frames and datagrams can carry any of them through one code path.

use bytes::Bytes;

use super::error::WireError;

pub trait Message: Sized {
    /// The type byte written in the frame or datagram before the payload.
    fn message_type(&self) -> u8;

    /// Appends the payload (everything after the type byte) to `out`.
    fn encode_payload(&self, out: &mut Vec<u8>);

    /// Decodes a payload of the given type. The payload must be consumed
    /// exactly: leftover bytes are [`WireError::TrailingBytes`], an undefined
    /// type is [`WireError::UnknownMessageType`].
    fn decode(message_type: u8, payload: &[u8]) -> Result<Self, WireError>;

    /// As [`Message::decode`], from a received frame held as `Bytes`: a
    /// family whose messages carry payloads (values, log entries) overrides
    /// this so they share the frame instead of copying it.
    fn decode_shared(message_type: u8, payload: &Bytes) -> Result<Self, WireError> {
        Self::decode(message_type, payload)
    }
}
