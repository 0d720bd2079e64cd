//! Property tests: every message of every family survives encode then decode
//! unchanged, through a bare payload, a TCP frame fed in arbitrary pieces and
//! a UDP datagram; and a damaged encoding never makes a decoder panic.

use concord::wire::Message;
use concord::wire::client_kv::*;
use concord::wire::client_message::*;
use concord::wire::command::TxnOp;
use concord::wire::datagram::{
    DATAGRAM_HEADER_BYTES, DatagramBuilder, MAX_DATAGRAM_BYTES, decode_datagram, encode_datagram,
};
use concord::wire::frame::{DEFAULT_MAX_FRAME_BYTES, FrameDecoder, encode_frame};
use concord::wire::raft_message::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

// ---- strategies -----------------------------------------------------------

/// Any Unicode text of up to `max_chars` characters (so up to 4x that in bytes).
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max_chars).prop_map(|chars| chars.into_iter().collect())
}

/// Keys include the exact limit, the edge most likely to be off by one.
fn key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => text(40),
        1 => Just("k".repeat(MAX_KEY_BYTES)),
    ]
    .boxed()
}

fn blob(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max_len)
}

fn configuration() -> impl Strategy<Value = Configuration> {
    vec(
        (
            any::<u64>(),
            text(16),
            text(24),
            prop_oneof![Just(Suffrage::Voter), Just(Suffrage::NonVoter)],
        )
            .prop_map(|(id, name, address, suffrage)| ServerEntry {
                id,
                name,
                address,
                suffrage,
            }),
        0..6,
    )
    .prop_map(|servers| Configuration { servers })
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        any::<u64>(),
        any::<u64>(),
        prop_oneof![
            Just(EntryKind::Command),
            Just(EntryKind::Noop),
            Just(EntryKind::Configuration)
        ],
        blob(64),
    )
        .prop_map(|(term, index, kind, data)| Entry {
            term,
            index,
            kind,
            data: data.into(),
        })
}

fn raft_body() -> impl Strategy<Value = RaftBody> {
    prop_oneof![
        (any::<bool>(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(pre_vote, last_log_index, last_log_term, leadership_transfer)| {
                RaftBody::RequestVote {
                    pre_vote,
                    last_log_index,
                    last_log_term,
                    leadership_transfer,
                }
            }
        ),
        (any::<bool>(), any::<bool>())
            .prop_map(|(pre_vote, granted)| RaftBody::RequestVoteResponse { pre_vote, granted }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            vec(entry(), 0..8)
        )
            .prop_map(
                |(prev_log_index, prev_log_term, leader_commit, read_round, entries)| {
                    RaftBody::AppendEntries {
                        prev_log_index,
                        prev_log_term,
                        leader_commit,
                        read_round,
                        entries,
                    }
                }
            ),
        (
            any::<bool>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(
                |(success, last_log_index, conflict_term, conflict_index, read_round)| {
                    RaftBody::AppendEntriesResponse {
                        success,
                        last_log_index,
                        conflict_term,
                        conflict_index,
                        read_round,
                    }
                }
            ),
        (
            any::<u64>(),
            any::<u64>(),
            configuration(),
            any::<u64>(),
            any::<u64>(),
            blob(256),
            any::<bool>()
        )
            .prop_map(
                |(
                    last_included_index,
                    last_included_term,
                    configuration,
                    total_size_bytes,
                    offset,
                    data,
                    done,
                )| RaftBody::InstallSnapshot {
                    last_included_index,
                    last_included_term,
                    configuration,
                    total_size_bytes,
                    offset,
                    data,
                    done,
                }
            ),
        (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(
            |(last_included_index, next_offset, success)| RaftBody::InstallSnapshotResponse {
                last_included_index,
                next_offset,
                success,
            }
        ),
        Just(RaftBody::TimeoutNow),
    ]
}

fn raft_message() -> impl Strategy<Value = RaftMessage> {
    (
        any::<u128>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        raft_body(),
    )
        .prop_map(|(cluster_id, from, to, term, body)| RaftMessage {
            cluster_id,
            from,
            to,
            term,
            body,
        })
}

fn consistency() -> impl Strategy<Value = Consistency> {
    prop_oneof![
        Just(Consistency::Default),
        Just(Consistency::Consistent),
        Just(Consistency::Stale)
    ]
}

fn request_body() -> impl Strategy<Value = RequestBody> {
    prop_oneof![
        (key(), consistency())
            .prop_map(|(key, consistency)| RequestBody::KvGet { key, consistency }),
        (key(), blob(300), option::of(any::<u64>())).prop_map(|(key, value, cas)| {
            RequestBody::KvPut {
                key,
                value: value.into(),
                cas,
            }
        }),
        (key(), any::<bool>()).prop_map(|(key, recurse)| RequestBody::KvDelete { key, recurse }),
        (key(), consistency()).prop_map(|(prefix, consistency)| RequestBody::KvList {
            prefix,
            consistency
        }),
        vec(text(20), 0..5).prop_map(|addresses| RequestBody::Join { addresses }),
        Just(RequestBody::Leave),
        Just(RequestBody::Members),
        Just(RequestBody::Peers),
        Just(RequestBody::Info),
        Just(RequestBody::CatalogNodes),
        consul_request_body(),
    ]
}

fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        (key(), blob(50), any::<u64>()).prop_map(|(key, value, flags)| TxnOp::Set {
            key,
            value: value.into(),
            flags
        }),
        (key(), blob(50), any::<u64>(), any::<u64>()).prop_map(|(key, value, flags, index)| {
            TxnOp::Cas {
                key,
                value: value.into(),
                flags,
                index,
            }
        }),
        key().prop_map(|key| TxnOp::Get { key }),
        key().prop_map(|prefix| TxnOp::DeleteTree { prefix }),
        (key(), any::<u64>()).prop_map(|(key, index)| TxnOp::DeleteCas { key, index }),
    ]
}

/// The requests an agent forwards for Consul's HTTP API.
fn consul_request_body() -> impl Strategy<Value = RequestBody> {
    let kind = prop_oneof![
        Just(KvReadKind::Entry),
        Just(KvReadKind::Tree),
        option::of(text(3)).prop_map(|separator| KvReadKind::Keys { separator }),
    ];
    let mode = prop_oneof![
        Just(KvRemoveMode::Single),
        Just(KvRemoveMode::Tree),
        any::<u64>().prop_map(|index| KvRemoveMode::Cas { index }),
    ];
    prop_oneof![
        (key(), blob(300), any::<u64>(), option::of(any::<u64>())).prop_map(
            |(key, value, flags, cas)| RequestBody::KvSet {
                key,
                value,
                flags,
                cas
            }
        ),
        (key(), mode).prop_map(|(key, mode)| RequestBody::KvRemove { key, mode }),
        (key(), kind, consistency(), any::<u64>(), any::<u64>()).prop_map(
            |(key, kind, consistency, min_index, wait_ms)| RequestBody::KvRead(KvRead {
                key,
                kind,
                consistency,
                min_index,
                wait_ms,
            })
        ),
        (vec(txn_op(), 0..6), consistency())
            .prop_map(|(ops, consistency)| RequestBody::Txn { ops, consistency }),
    ]
}

fn dir_entry() -> impl Strategy<Value = KvDirEntry> {
    (key(), blob(60), any::<[u64; 4]>(), option::of(text(8))).prop_map(
        |(key, value, [flags, create_index, modify_index, lock_index], session)| KvDirEntry {
            key,
            value,
            flags,
            create_index,
            modify_index,
            lock_index,
            session,
        },
    )
}

fn read_meta() -> impl Strategy<Value = ReadMeta> {
    (any::<u64>(), any::<bool>(), any::<u64>()).prop_map(
        |(index, known_leader, last_contact_ms)| ReadMeta {
            index,
            known_leader,
            last_contact_ms,
        },
    )
}

/// The answers of the requests above.
fn consul_result() -> impl Strategy<Value = RpcResult> {
    let read = prop_oneof![
        vec(dir_entry(), 0..3).prop_map(KvReadAnswer::Entries),
        vec(key(), 0..3).prop_map(KvReadAnswer::Keys),
    ];
    let txn = prop_oneof![
        vec(dir_entry(), 0..3).prop_map(|results| TxnAnswer::Committed { results }),
        vec((any::<u32>(), text(20)), 0..3).prop_map(|errors| TxnAnswer::Failed { errors }),
    ];
    prop_oneof![
        (any::<bool>(), any::<u64>())
            .prop_map(|(applied, index)| RpcResult::KvApplied { applied, index }),
        (read_meta(), read).prop_map(|(meta, answer)| RpcResult::KvRead { meta, answer }),
        (read_meta(), txn).prop_map(|(meta, answer)| RpcResult::Txn { meta, answer }),
    ]
}

fn client_request() -> impl Strategy<Value = ClientRequest> {
    (any::<u64>(), request_body()).prop_map(|(request_id, body)| ClientRequest { request_id, body })
}

fn kv_entry() -> impl Strategy<Value = KvEntry> {
    (key(), blob(100), any::<u64>(), any::<u64>()).prop_map(
        |(key, value, create_index, modify_index)| KvEntry {
            key,
            value: value.into(),
            create_index,
            modify_index,
        },
    )
}

fn string_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    vec((text(12), text(30)), 0..4)
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::NotLeader),
        Just(ErrorCode::NoLeader),
        Just(ErrorCode::CasFailed),
        Just(ErrorCode::KeyNotFound),
        Just(ErrorCode::InvalidRequest),
        Just(ErrorCode::NoServers),
        Just(ErrorCode::Timeout),
        Just(ErrorCode::ClusterMismatch),
        Just(ErrorCode::Internal),
        Just(ErrorCode::TooManyRequests),
    ]
}

fn rpc_result() -> impl Strategy<Value = RpcResult> {
    prop_oneof![
        option::of(kv_entry()).prop_map(RpcResult::KvValue),
        vec(kv_entry(), 0..4).prop_map(RpcResult::KvEntries),
        any::<u64>().prop_map(|index| RpcResult::KvWritten { index }),
        any::<u64>().prop_map(|index| RpcResult::KvDeleted { index }),
        (any::<u32>(), string_pairs())
            .prop_map(|(contacted, errors)| RpcResult::Joined { contacted, errors }),
        Just(RpcResult::Left),
        vec(
            (
                text(12),
                text(20),
                text(8),
                text(8),
                text(8),
                any::<u8>(),
                text(8)
            )
                .prop_map(
                    |(name, address, status, role, build, protocol, datacenter)| MemberInfo {
                        name,
                        address,
                        status,
                        role,
                        build,
                        protocol,
                        datacenter,
                    }
                ),
            0..4
        )
        .prop_map(RpcResult::Members),
        vec(
            (text(12), any::<u64>(), text(20), text(8), any::<bool>()).prop_map(
                |(name, id, address, state, voter)| PeerInfo {
                    name,
                    id,
                    address,
                    state,
                    voter,
                }
            ),
            0..4
        )
        .prop_map(RpcResult::Peers),
        vec(
            (text(12), string_pairs()).prop_map(|(name, fields)| InfoSection { name, fields }),
            0..3
        )
        .prop_map(RpcResult::Info),
        vec(
            (text(12), text(20), text(8), text(8)).prop_map(|(name, address, role, datacenter)| {
                CatalogNode {
                    name,
                    address,
                    role,
                    datacenter,
                }
            }),
            0..4
        )
        .prop_map(RpcResult::CatalogNodes),
        consul_result(),
    ]
}

fn response_body() -> impl Strategy<Value = ResponseBody> {
    prop_oneof![
        rpc_result().prop_map(ResponseBody::Ok),
        (error_code(), text(40), option::of(text(20))).prop_map(|(code, message, leader_hint)| {
            ResponseBody::Err(RpcError {
                code,
                message,
                leader_hint,
            })
        }),
    ]
}

fn client_response() -> impl Strategy<Value = ClientResponse> {
    (any::<u64>(), response_body())
        .prop_map(|(request_id, body)| ClientResponse { request_id, body })
}

// ---- helpers ---------------------------------------------------------------

fn payload_of<M: Message>(message: &M) -> Vec<u8> {
    let mut payload = Vec::new();
    message.encode_payload(&mut payload);
    payload
}

/// Frames `messages` into one byte stream, feeds it to a [`FrameDecoder`] in
/// pieces of the given sizes (cycled), and decodes each frame.
fn through_frames<M: Message>(messages: &[M], piece_sizes: &[usize]) -> Vec<M> {
    let mut stream = Vec::new();
    for message in messages {
        encode_frame(message, &mut stream);
    }
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
    let mut decoded = Vec::new();
    let mut input = &stream[..];
    let mut sizes = piece_sizes.iter().cycle();
    while !input.is_empty() {
        let size = (*sizes.next().unwrap()).clamp(1, input.len());
        let mut piece = &input[..size];
        input = &input[size..];
        while !piece.is_empty() {
            let taken = decoder.feed(piece);
            piece = &piece[taken..];
            while let Some(frame) = decoder.next_frame().unwrap() {
                decoded.push(frame.decode::<M>().unwrap());
            }
        }
    }
    assert_eq!(decoder.buffered_bytes(), 0);
    decoded
}

/// Decoding a damaged payload may fail but must return, not panic, and
/// says the same whether the payload is a slice or a shared frame buffer.
fn decode_damaged<M: Message + PartialEq + std::fmt::Debug>(
    message: &M,
    cut: usize,
    flips: &[(usize, u8)],
) {
    let mut payload = payload_of(message);
    for &(at, mask) in flips {
        if !payload.is_empty() {
            let at = at % payload.len();
            payload[at] ^= mask;
        }
    }
    payload.truncate(cut.min(payload.len()));
    let from_slice = M::decode(message.message_type(), &payload);
    let shared = bytes::Bytes::from(payload);
    assert_eq!(
        M::decode_shared(message.message_type(), &shared),
        from_slice
    );
}

// ---- properties --------------------------------------------------------------

proptest! {
    #[test]
    fn raft_message_round_trips(message in raft_message()) {
        let payload = payload_of(&message);
        prop_assert_eq!(RaftMessage::decode(message.message_type(), &payload), Ok(message));
    }

    #[test]
    fn client_request_round_trips(message in client_request()) {
        let payload = payload_of(&message);
        prop_assert_eq!(ClientRequest::decode(message.message_type(), &payload), Ok(message));
    }

    #[test]
    fn client_response_round_trips(message in client_response()) {
        let payload = payload_of(&message);
        prop_assert_eq!(ClientResponse::decode(message.message_type(), &payload), Ok(message));
    }

    #[test]
    fn raft_messages_round_trip_through_frames_cut_anywhere(
        messages in vec(raft_message(), 1..5),
        piece_sizes in vec(1usize..300, 1..8),
    ) {
        prop_assert_eq!(through_frames(&messages, &piece_sizes), messages);
    }

    #[test]
    fn client_messages_round_trip_through_frames_cut_anywhere(
        requests in vec(client_request(), 1..5),
        responses in vec(client_response(), 1..5),
        piece_sizes in vec(1usize..300, 1..8),
    ) {
        prop_assert_eq!(through_frames(&requests, &piece_sizes), requests);
        prop_assert_eq!(through_frames(&responses, &piece_sizes), responses);
    }

    #[test]
    fn whatever_the_builder_packs_decodes_back_in_order(
        requests in vec(client_request(), 1..40),
    ) {
        let mut builder = DatagramBuilder::new();
        let mut packed = Vec::new();
        for request in &requests {
            if builder.try_push(request) {
                packed.push(request.clone());
            }
        }
        prop_assume!(!packed.is_empty());
        let bytes = builder.finish();
        prop_assert!(bytes.len() <= MAX_DATAGRAM_BYTES);
        prop_assert_eq!(decode_datagram::<ClientRequest>(&bytes), Ok(packed));
    }

    #[test]
    fn encode_datagram_round_trips_or_reports_the_size(
        messages in vec(raft_message(), 1..6),
    ) {
        match encode_datagram(&messages) {
            Ok(bytes) => {
                prop_assert!(bytes.len() <= MAX_DATAGRAM_BYTES);
                prop_assert_eq!(decode_datagram::<RaftMessage>(&bytes), Ok(messages));
            }
            Err(concord::wire::WireError::DatagramTooLarge { size, max }) => {
                let exact: usize = DATAGRAM_HEADER_BYTES
                    + messages.iter().map(|m| 3 + payload_of(m).len()).sum::<usize>();
                prop_assert_eq!(size, exact);
                prop_assert!(size > max);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn damaged_raft_payload_never_panics(
        message in raft_message(),
        cut in any::<usize>(),
        flips in vec((any::<usize>(), 1u8..), 0..4),
    ) {
        decode_damaged(&message, cut, &flips);
    }

    #[test]
    fn damaged_client_payloads_never_panic(
        request in client_request(),
        response in client_response(),
        cut in any::<usize>(),
        flips in vec((any::<usize>(), 1u8..), 0..4),
    ) {
        decode_damaged(&request, cut, &flips);
        decode_damaged(&response, cut, &flips);
    }

    #[test]
    fn strict_prefix_of_a_payload_never_decodes(message in raft_message(), request in client_request(), response in client_response()) {
        fn check<M: Message>(message: &M) -> Result<(), TestCaseError> {
            let payload = payload_of(message);
            for cut in 0..payload.len() {
                prop_assert!(M::decode(message.message_type(), &payload[..cut]).is_err());
            }
            Ok(())
        }
        check(&message)?;
        check(&request)?;
        check(&response)?;
    }
}
