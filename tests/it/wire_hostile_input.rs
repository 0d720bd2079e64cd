//! Hostile input: each way bytes can be wrong gets its own error, and no
//! sequence of bytes makes any decoder panic or buffer more than one frame.

use concord::wire::WireError;
use concord::wire::client_message::*;
use concord::wire::datagram::{
    DATAGRAM_HEADER_BYTES, MAX_DATAGRAM_BYTES, MAX_DATAGRAM_MESSAGES, decode_datagram,
    encode_datagram,
};
use concord::wire::frame::*;
use concord::wire::raft_message::*;
use concord::wire::{Message, writer::WriteExt};
use proptest::collection::vec;
use proptest::prelude::*;

fn put_request() -> ClientRequest {
    ClientRequest {
        request_id: 7,
        body: RequestBody::KvPut {
            key: "web/config".into(),
            value: bytes::Bytes::from_static(b"hello"),
            cas: Some(3),
        },
    }
}

fn append_entries() -> RaftMessage {
    RaftMessage {
        cluster_id: 42,
        from: 1,
        to: 2,
        term: 5,
        body: RaftBody::AppendEntries {
            prev_log_index: 9,
            prev_log_term: 4,
            leader_commit: 9,
            read_round: 0,
            entries: vec![Entry {
                term: 5,
                index: 10,
                kind: EntryKind::Command,
                data: bytes::Bytes::from_static(b"cmd"),
            }],
        },
    }
}

fn payload_of<M: Message>(message: &M) -> Vec<u8> {
    let mut payload = Vec::new();
    message.encode_payload(&mut payload);
    payload
}

fn frame_of<M: Message>(message: &M) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(message, &mut bytes);
    bytes
}

/// Rewrites a datagram's CRC after a test edited its body, so the edit is
/// what the decoder trips on rather than the checksum.
fn reseal(datagram: &mut [u8]) {
    let crc = crc32fast::hash(&datagram[7..]);
    datagram[3..7].copy_from_slice(&crc.to_be_bytes());
}

// ---- truncation --------------------------------------------------------------

#[test]
fn payload_cut_inside_a_fixed_field_is_truncated() {
    let payload = payload_of(&append_entries());
    // Cut in the middle of `from` (bytes 16..24).
    assert_eq!(
        RaftMessage::decode(TYPE_APPEND_ENTRIES, &payload[..20]),
        Err(WireError::Truncated {
            needed: 8,
            remaining: 4
        })
    );
}

#[test]
fn payload_cut_inside_a_string_is_truncated() {
    let payload = payload_of(&put_request());
    // request_id (8) + key length (4) + 3 of the 10 key bytes.
    assert_eq!(
        ClientRequest::decode(TYPE_KV_PUT, &payload[..15]),
        Err(WireError::Truncated {
            needed: 10,
            remaining: 3
        })
    );
}

#[test]
fn short_preamble_is_truncated() {
    let preamble = encode_preamble(Purpose::Raft);
    assert_eq!(
        decode_preamble(&preamble[..5]),
        Err(WireError::Truncated {
            needed: PREAMBLE_BYTES,
            remaining: 5
        })
    );
}

#[test]
fn short_datagram_is_truncated() {
    let datagram = encode_datagram(&[put_request()]).unwrap();
    assert!(matches!(
        decode_datagram::<ClientRequest>(&datagram[..DATAGRAM_HEADER_BYTES - 1]),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn datagram_message_longer_than_the_datagram_is_truncated() {
    let mut datagram = encode_datagram(&[put_request()]).unwrap();
    let length_at = DATAGRAM_HEADER_BYTES;
    datagram[length_at..length_at + 2].copy_from_slice(&1000u16.to_be_bytes());
    reseal(&mut datagram);
    assert!(matches!(
        decode_datagram::<ClientRequest>(&datagram),
        Err(WireError::Truncated { needed: 1000, .. })
    ));
}

#[test]
fn datagram_claiming_more_messages_than_it_holds_is_truncated() {
    let mut datagram = encode_datagram(&[put_request()]).unwrap();
    datagram[DATAGRAM_HEADER_BYTES - 1] = 2;
    reseal(&mut datagram);
    assert!(matches!(
        decode_datagram::<ClientRequest>(&datagram),
        Err(WireError::Truncated { .. })
    ));
}

// ---- checksums -----------------------------------------------------------------

#[test]
fn any_flipped_bit_in_a_frame_body_is_a_crc_error() {
    let frame = frame_of(&append_entries());
    // Every bit after the length field: the type, the payload and the CRC.
    for byte in FRAME_LENGTH_BYTES..frame.len() {
        for bit in 0..8 {
            let mut damaged = frame.clone();
            damaged[byte] ^= 1 << bit;
            let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
            assert_eq!(decoder.feed(&damaged), damaged.len());
            assert!(
                matches!(decoder.next_frame(), Err(WireError::BadCrc { .. })),
                "flip at byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn frame_decoder_stays_failed_after_a_crc_error() {
    let mut stream = frame_of(&put_request());
    let last = stream.len() - 1;
    stream[last] ^= 1;
    stream.extend(frame_of(&put_request()));
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    let taken = decoder.feed(&stream);
    assert!(matches!(
        decoder.next_frame(),
        Err(WireError::BadCrc { .. })
    ));
    // The intact frame that follows is not trusted: the stream lost its framing.
    assert_eq!(decoder.feed(&stream[taken..]), 0);
    assert!(matches!(
        decoder.next_frame(),
        Err(WireError::BadCrc { .. })
    ));
}

#[test]
fn any_flipped_bit_after_the_datagram_crc_is_a_crc_error() {
    let datagram = encode_datagram(&[put_request(), put_request()]).unwrap();
    for byte in 3..datagram.len() {
        for bit in 0..8 {
            let mut damaged = datagram.clone();
            damaged[byte] ^= 1 << bit;
            assert!(
                matches!(
                    decode_datagram::<ClientRequest>(&damaged),
                    Err(WireError::BadCrc { .. })
                ),
                "flip at byte {byte} bit {bit}"
            );
        }
    }
}

// ---- magic, version, purpose ---------------------------------------------------------

#[test]
fn preamble_of_another_version_is_refused() {
    let mut preamble = encode_preamble(Purpose::Raft);
    preamble[4] = PROTOCOL_VERSION.wrapping_add(1);
    assert_eq!(
        decode_preamble(&preamble),
        Err(WireError::UnknownVersion(PROTOCOL_VERSION.wrapping_add(1)))
    );
}

#[test]
fn preamble_with_bad_magic_or_purpose_is_refused() {
    assert_eq!(
        decode_preamble(b"GET / "),
        Err(WireError::BadMagic { found: *b"GET " })
    );
    let mut preamble = encode_preamble(Purpose::GossipSync);
    preamble[5] = 0;
    assert_eq!(
        decode_preamble(&preamble),
        Err(WireError::UnknownPurpose(0))
    );
}

#[test]
fn datagram_of_another_version_is_refused() {
    let mut datagram = encode_datagram(&[put_request()]).unwrap();
    datagram[2] = 0;
    assert_eq!(
        decode_datagram::<ClientRequest>(&datagram),
        Err(WireError::UnknownVersion(0))
    );
}

#[test]
fn datagram_with_bad_magic_is_refused() {
    let mut datagram = encode_datagram(&[put_request()]).unwrap();
    datagram[0] = b'X';
    assert!(matches!(
        decode_datagram::<ClientRequest>(&datagram),
        Err(WireError::BadMagic { .. })
    ));
}

// ---- message types -----------------------------------------------------------------

#[test]
fn each_family_refuses_type_bytes_outside_its_own_set() {
    let raft = payload_of(&append_entries());
    let request = payload_of(&put_request());
    for message_type in 0..=u8::MAX {
        let raft_known = (0x01..=0x07).contains(&message_type);
        let request_known = (0x20..=0x35).contains(&message_type);
        let response_known = (0x40..=0x53).contains(&message_type) || message_type == 0x5F;
        if !raft_known {
            assert_eq!(
                RaftMessage::decode(message_type, &raft),
                Err(WireError::UnknownMessageType(message_type))
            );
        }
        if !request_known {
            assert_eq!(
                ClientRequest::decode(message_type, &request),
                Err(WireError::UnknownMessageType(message_type))
            );
        }
        if !response_known {
            assert_eq!(
                ClientResponse::decode(message_type, &request),
                Err(WireError::UnknownMessageType(message_type))
            );
        }
    }
}

#[test]
fn unknown_type_inside_a_datagram_is_refused() {
    let mut datagram = encode_datagram(&[put_request()]).unwrap();
    datagram[DATAGRAM_HEADER_BYTES + 2] = 0x3F;
    reseal(&mut datagram);
    assert_eq!(
        decode_datagram::<ClientRequest>(&datagram),
        Err(WireError::UnknownMessageType(0x3F))
    );
}

// ---- trailing bytes --------------------------------------------------------------

#[test]
fn bytes_after_a_complete_message_are_trailing() {
    let mut raft = payload_of(&append_entries());
    raft.push(0);
    assert_eq!(
        RaftMessage::decode(TYPE_APPEND_ENTRIES, &raft),
        Err(WireError::TrailingBytes(1))
    );
    let mut request = payload_of(&put_request());
    request.extend([1, 2]);
    assert_eq!(
        ClientRequest::decode(TYPE_KV_PUT, &request),
        Err(WireError::TrailingBytes(2))
    );
    let response = ClientResponse {
        request_id: 1,
        body: ResponseBody::Ok(RpcResult::Left),
    };
    let mut payload = payload_of(&response);
    payload.push(9);
    assert_eq!(
        ClientResponse::decode(TYPE_LEFT_RESULT, &payload),
        Err(WireError::TrailingBytes(1))
    );
}

#[test]
fn bytes_after_the_last_datagram_message_are_trailing() {
    let mut datagram = encode_datagram(&[put_request()]).unwrap();
    datagram.extend([0, 0, 0]);
    reseal(&mut datagram);
    assert_eq!(
        decode_datagram::<ClientRequest>(&datagram),
        Err(WireError::TrailingBytes(3))
    );
}

#[test]
fn preamble_followed_by_more_bytes_is_trailing() {
    let mut bytes = encode_preamble(Purpose::Client).to_vec();
    bytes.push(0);
    assert_eq!(decode_preamble(&bytes), Err(WireError::TrailingBytes(1)));
}

// ---- strings -----------------------------------------------------------------------

#[test]
fn invalid_utf8_in_a_key_is_refused() {
    let mut payload = Vec::new();
    payload.put_u64(1);
    payload.put_bytes(&[b'a', 0xff, b'b']);
    payload.put_u8(0);
    assert_eq!(
        ClientRequest::decode(TYPE_KV_GET, &payload),
        Err(WireError::InvalidUtf8)
    );
}

#[test]
fn invalid_utf8_in_an_error_message_is_refused() {
    let mut payload = Vec::new();
    payload.put_u64(1);
    payload.put_u8(ErrorCode::Internal.to_byte());
    payload.put_bytes(&[0xc0, 0x80]); // overlong encoding of NUL
    payload.put_bool(false);
    assert_eq!(
        ClientResponse::decode(TYPE_ERROR_RESULT, &payload),
        Err(WireError::InvalidUtf8)
    );
}

#[test]
fn value_above_the_limit_is_refused_before_reading_it() {
    let mut payload = Vec::new();
    payload.put_u64(1);
    payload.put_string("k");
    payload.put_u32(MAX_VALUE_BYTES as u32 + 1);
    assert_eq!(
        ClientRequest::decode(TYPE_KV_PUT, &payload),
        Err(WireError::FieldTooLong {
            field: "kv_put.value",
            len: MAX_VALUE_BYTES + 1,
            max: MAX_VALUE_BYTES
        })
    );
}

#[test]
fn entry_data_above_the_limit_is_refused() {
    let mut payload = payload_of(&append_entries());
    // The single entry's data length sits 3 data bytes before the end.
    let at = payload.len() - 3 - 4;
    payload[at..at + 4].copy_from_slice(&(MAX_ENTRY_DATA_BYTES as u32 + 1).to_be_bytes());
    assert!(matches!(
        RaftMessage::decode(TYPE_APPEND_ENTRIES, &payload),
        Err(WireError::FieldTooLong {
            field: "entry.data",
            ..
        })
    ));
}

// ---- counts and values ------------------------------------------------------------------

#[test]
fn entry_count_above_what_the_bytes_hold_is_refused() {
    let mut payload = Vec::new();
    payload.put_u128(42);
    for v in [1u64, 2, 5, 9, 4, 9, 0] {
        payload.put_u64(v);
    }
    payload.put_u32(u32::MAX); // four billion entries in zero bytes
    assert_eq!(
        RaftMessage::decode(TYPE_APPEND_ENTRIES, &payload),
        Err(WireError::CountTooLarge {
            count: u64::from(u32::MAX),
            remaining: 0
        })
    );
}

#[test]
fn member_count_above_what_the_bytes_hold_is_refused() {
    let mut payload = Vec::new();
    payload.put_u64(1);
    payload.put_u32(2);
    payload.extend([0; 30]); // room for one member at most, not two
    assert_eq!(
        ClientResponse::decode(TYPE_MEMBERS_RESULT, &payload),
        Err(WireError::CountTooLarge {
            count: 2,
            remaining: 30
        })
    );
}

#[test]
fn datagram_message_count_outside_its_bounds_is_refused() {
    for count in [0u8, MAX_DATAGRAM_MESSAGES as u8 + 1] {
        let mut datagram = encode_datagram(&[put_request()]).unwrap();
        datagram[DATAGRAM_HEADER_BYTES - 1] = count;
        reseal(&mut datagram);
        assert_eq!(
            decode_datagram::<ClientRequest>(&datagram),
            Err(WireError::InvalidValue {
                field: "datagram.count",
                value: u64::from(count)
            })
        );
    }
}

#[test]
fn undefined_enum_and_bool_bytes_are_invalid_values() {
    let mut payload = payload_of(&append_entries());
    // The entry kind sits just before the entry's data length and data.
    let kind_at = payload.len() - 3 - 4 - 1;
    payload[kind_at] = 3;
    assert_eq!(
        RaftMessage::decode(TYPE_APPEND_ENTRIES, &payload),
        Err(WireError::InvalidValue {
            field: "entry.kind",
            value: 3
        })
    );
    let mut payload = payload_of(&put_request());
    let presence_at = payload.len() - 8 - 1;
    payload[presence_at] = 2;
    assert_eq!(
        ClientRequest::decode(TYPE_KV_PUT, &payload),
        Err(WireError::InvalidValue {
            field: "kv_put.cas",
            value: 2
        })
    );
}

// ---- frame lengths ------------------------------------------------------------------

#[test]
fn declared_frame_length_above_the_cap_is_refused_before_allocation() {
    let max = 64 * 1024;
    let mut decoder = FrameDecoder::new(max);
    let mut hostile = (u32::MAX).to_be_bytes().to_vec();
    hostile.extend([0xaa; 100]);
    // Only the length field is taken; none of the body is buffered.
    assert_eq!(decoder.feed(&hostile), FRAME_LENGTH_BYTES);
    assert_eq!(decoder.buffered_bytes(), FRAME_LENGTH_BYTES);
    assert_eq!(
        decoder.next_frame(),
        Err(WireError::FrameTooLarge {
            declared: u64::from(u32::MAX),
            max: u64::from(max)
        })
    );
    assert_eq!(decoder.feed(&hostile[4..]), 0);
}

#[test]
fn frame_exactly_at_the_cap_is_accepted() {
    let request = put_request();
    let frame = frame_of(&request);
    let max = (frame.len() - FRAME_LENGTH_BYTES) as u32;
    let mut decoder = FrameDecoder::new(max);
    assert_eq!(decoder.feed(&frame), frame.len());
    assert_eq!(
        decoder
            .next_frame()
            .unwrap()
            .unwrap()
            .decode::<ClientRequest>(),
        Ok(request)
    );
    let mut decoder = FrameDecoder::new(max - 1);
    decoder.feed(&frame);
    assert!(matches!(
        decoder.next_frame(),
        Err(WireError::FrameTooLarge { .. })
    ));
}

#[test]
fn declared_frame_length_below_type_and_crc_is_too_short() {
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    decoder.feed(&[0, 0, 0, 4, 1, 2, 3, 4]);
    assert_eq!(
        decoder.next_frame(),
        Err(WireError::FrameTooShort { declared: 4 })
    );
}

#[test]
fn frame_decoder_takes_at_most_one_frame_at_a_time() {
    let mut stream = Vec::new();
    for _ in 0..10 {
        stream.extend(frame_of(&append_entries()));
    }
    let one_frame = stream.len() / 10;
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    assert_eq!(decoder.feed(&stream), one_frame);
    assert_eq!(decoder.buffered_bytes(), one_frame);
    // Until the frame is collected, nothing more is taken.
    assert_eq!(decoder.feed(&stream[one_frame..]), 0);
    assert!(decoder.next_frame().unwrap().is_some());
    assert_eq!(decoder.buffered_bytes(), 0);
    assert_eq!(decoder.feed(&stream[one_frame..]), one_frame);
}

#[test]
fn oversized_datagram_is_refused_before_decoding() {
    let bytes = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    assert_eq!(
        decode_datagram::<ClientRequest>(&bytes),
        Err(WireError::DatagramTooLarge {
            size: MAX_DATAGRAM_BYTES + 1,
            max: MAX_DATAGRAM_BYTES
        })
    );
}

// ---- arbitrary bytes never panic -------------------------------------------------------

/// Feeds `bytes` to a decoder in pieces, decoding each frame as every family.
/// Checks the decoder never holds more than one frame.
fn feed_frames(bytes: &[u8], piece_sizes: &[usize], max_frame_bytes: u32) {
    let mut decoder = FrameDecoder::new(max_frame_bytes);
    let mut input = bytes;
    let mut sizes = piece_sizes.iter().cycle();
    while !input.is_empty() {
        let size = (*sizes.next().unwrap()).clamp(1, input.len());
        let mut piece = &input[..size];
        input = &input[size..];
        loop {
            let taken = decoder.feed(piece);
            piece = &piece[taken..];
            assert!(decoder.buffered_bytes() <= max_frame_bytes as usize + FRAME_LENGTH_BYTES);
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let _ = frame.decode::<RaftMessage>();
                    let _ = frame.decode::<ClientRequest>();
                    let _ = frame.decode::<ClientResponse>();
                }
                Ok(None) => {
                    if piece.is_empty() {
                        break;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic_the_preamble_decoder(bytes in vec(any::<u8>(), 0..12)) {
        let _ = decode_preamble(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(
        bytes in vec(any::<u8>(), 0..2048),
        piece_sizes in vec(1usize..64, 1..6),
        max_frame_bytes in 0u32..4096,
    ) {
        feed_frames(&bytes, &piece_sizes, max_frame_bytes);
    }

    /// Random bytes rarely pass a CRC, so frames are built with a valid CRC
    /// around a random type and payload to reach the message decoders.
    #[test]
    fn arbitrary_payloads_in_valid_frames_never_panic(
        message_type in any::<u8>(),
        payload in vec(any::<u8>(), 0..512),
        piece_sizes in vec(1usize..64, 1..6),
    ) {
        let mut frame = Vec::new();
        frame.put_u32(payload.len() as u32 + 5);
        frame.put_u8(message_type);
        frame.extend(&payload);
        let crc = crc32fast::hash(&frame[4..]);
        frame.put_u32(crc);
        feed_frames(&frame, &piece_sizes, DEFAULT_MAX_FRAME_BYTES);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_message_decoders(
        message_type in any::<u8>(),
        payload in vec(any::<u8>(), 0..512),
    ) {
        let _ = RaftMessage::decode(message_type, &payload);
        let _ = ClientRequest::decode(message_type, &payload);
        let _ = ClientResponse::decode(message_type, &payload);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_datagram_decoder(
        bytes in vec(any::<u8>(), 0..1600),
    ) {
        let _ = decode_datagram::<RaftMessage>(&bytes);
        let _ = decode_datagram::<ClientRequest>(&bytes);
        let _ = decode_datagram::<ClientResponse>(&bytes);
    }

    /// Same, with a valid header and CRC so decoding reaches the messages.
    #[test]
    fn arbitrary_bodies_in_sealed_datagrams_never_panic(
        count in any::<u8>(),
        body in vec(any::<u8>(), 0..(MAX_DATAGRAM_BYTES - DATAGRAM_HEADER_BYTES)),
    ) {
        let mut datagram = b"CG".to_vec();
        datagram.put_u8(PROTOCOL_VERSION);
        datagram.put_u32(0);
        datagram.put_u8(count);
        datagram.extend(&body);
        reseal(&mut datagram);
        let _ = decode_datagram::<RaftMessage>(&datagram);
        let _ = decode_datagram::<ClientRequest>(&datagram);
        let _ = decode_datagram::<ClientResponse>(&datagram);
    }
}
