//! What the wire's unit tests share.

use super::message::Message;

/// `message` decodes back to itself, and every truncation of its payload
/// is an error, never a shorter message.
pub fn round_trip<M: Message + PartialEq + std::fmt::Debug>(message: &M) {
    let mut payload = Vec::new();
    message.encode_payload(&mut payload);
    assert_eq!(
        &M::decode(message.message_type(), &payload).unwrap(),
        message
    );
    for len in 0..payload.len() {
        assert!(
            M::decode(message.message_type(), &payload[..len]).is_err(),
            "{message:?} cut to {len} bytes decoded"
        );
    }
}
