//! Checks shared by the fuzz targets.

use concord::wire::Message;
use concord::wire::client_message::{ClientRequest, ClientResponse};
use concord::wire::raft_message::RaftMessage;

/// Decodes `payload` as `M`; when that succeeds, encoding the message must
/// give back exactly `payload`. Decoding is strict (bools are 0 or 1, tags
/// are defined, nothing trails), so every accepted payload is the one
/// canonical encoding of its message. Decoding from a shared frame buffer
/// (values and entries as slices of it) says exactly what decoding from a
/// slice says.
pub fn decode_is_canonical<M: Message + PartialEq + std::fmt::Debug>(
    message_type: u8,
    payload: &[u8],
) {
    let decoded = M::decode(message_type, payload);
    let shared = bytes::Bytes::copy_from_slice(payload);
    assert_eq!(M::decode_shared(message_type, &shared), decoded);
    if let Ok(message) = decoded {
        assert_eq!(message.message_type(), message_type, "{message:?}");
        let mut encoded = Vec::new();
        message.encode_payload(&mut encoded);
        assert_eq!(encoded, payload, "{message:?} re-encodes differently");
    }
}

/// Decodes a payload as every message family.
pub fn decode_as_every_family(message_type: u8, payload: &[u8]) {
    decode_is_canonical::<RaftMessage>(message_type, payload);
    decode_is_canonical::<ClientRequest>(message_type, payload);
    decode_is_canonical::<ClientResponse>(message_type, payload);
}
