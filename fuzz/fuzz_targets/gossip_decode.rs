//! Decoding any bytes as a gossip message must return a value or a typed
//! error, never panic; whatever decodes must re-encode to the same payload.

#![no_main]

use concord::wire::Message;
use concord::wire::gossip_message::GossipMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&message_type, payload)) = data.split_first() else {
        return;
    };
    if let Ok(message) = GossipMessage::decode(message_type, payload) {
        let mut encoded = Vec::new();
        message.encode_payload(&mut encoded);
        assert_eq!(message.message_type(), message_type);
        assert_eq!(encoded, payload, "decode then encode must be the identity");
    }
});
