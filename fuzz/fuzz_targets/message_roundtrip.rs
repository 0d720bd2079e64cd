//! Arbitrary Raft messages, client requests and client responses: encoding
//! then decoding gives the same message, as a bare payload, through a frame,
//! and through a datagram when it fits. The only allowed failure is a field
//! over its length limit, which arbitrary values can exceed.

#![no_main]

use arbitrary::Arbitrary;
use concord::wire::client_message::{ClientRequest, ClientResponse};
use concord::wire::datagram::{decode_datagram, encode_datagram};
use concord::wire::frame::{DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encode_frame};
use concord::wire::raft_message::RaftMessage;
use concord::wire::{Message, WireError};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum AnyMessage {
    Raft(RaftMessage),
    Request(ClientRequest),
    Response(ClientResponse),
}

fn round_trip<M: Message + PartialEq + Clone + std::fmt::Debug>(message: &M) {
    let mut payload = Vec::new();
    message.encode_payload(&mut payload);
    match M::decode(message.message_type(), &payload) {
        Ok(decoded) => assert_eq!(&decoded, message),
        Err(WireError::FieldTooLong { .. }) => return,
        Err(other) => panic!("{message:?} failed to decode: {other}"),
    }

    let mut frame = Vec::new();
    encode_frame(message, &mut frame);
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    assert_eq!(decoder.feed(&frame), frame.len());
    let decoded = decoder
        .next_frame()
        .unwrap()
        .unwrap()
        .decode::<M>()
        .unwrap();
    assert_eq!(&decoded, message);

    let messages = [message.clone(), message.clone()];
    match encode_datagram(&messages) {
        Ok(datagram) => assert_eq!(decode_datagram::<M>(&datagram).unwrap(), messages),
        Err(WireError::DatagramTooLarge { .. }) => {}
        Err(other) => panic!("{message:?} failed to fit a datagram: {other}"),
    }
}

fuzz_target!(|input: AnyMessage| {
    match &input {
        AnyMessage::Raft(m) => round_trip(m),
        AnyMessage::Request(m) => round_trip(m),
        AnyMessage::Response(m) => round_trip(m),
    }
});
