//! Property tests of the gossip message codec: every message round-trips,
//! and no input bytes make decoding panic.

use concord::wire::Message;
use concord::wire::gossip_message::{
    GossipMessage, JoinRefusal, MAX_ADDRESS_BYTES, MAX_NAME_BYTES, MAX_TAG_BYTES, MemberState,
    MemberStatus, PushPull, Role, Tags,
};
use proptest::prelude::*;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..12).prop_map(move |chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() <= max {
                s.push(c);
            }
        }
        s
    })
}

fn tags() -> impl Strategy<Value = Tags> {
    (
        prop_oneof![Just(Role::Server), Just(Role::Client)],
        text(MAX_TAG_BYTES),
        any::<u128>(),
        text(MAX_TAG_BYTES),
        any::<u8>(),
    )
        .prop_map(
            |(role, datacenter, cluster_id, build_version, protocol_version)| Tags {
                role,
                datacenter,
                cluster_id,
                build_version,
                protocol_version,
            },
        )
}

fn status() -> impl Strategy<Value = MemberStatus> {
    prop_oneof![
        Just(MemberStatus::Alive),
        Just(MemberStatus::Suspect),
        Just(MemberStatus::Dead),
        Just(MemberStatus::Left),
    ]
}

fn member_state() -> impl Strategy<Value = MemberState> {
    (
        text(MAX_NAME_BYTES),
        text(MAX_ADDRESS_BYTES),
        any::<u64>(),
        status(),
        tags(),
    )
        .prop_map(|(name, address, incarnation, status, tags)| MemberState {
            name,
            address,
            incarnation,
            status,
            tags,
        })
}

fn message() -> impl Strategy<Value = GossipMessage> {
    let name = || text(MAX_NAME_BYTES);
    let address = || text(MAX_ADDRESS_BYTES);
    prop_oneof![
        (any::<u32>(), name(), name()).prop_map(|(seq_no, target_name, source_name)| {
            GossipMessage::Ping {
                seq_no,
                target_name,
                source_name,
            }
        }),
        (any::<u32>(), name(), address(), name(), any::<bool>()).prop_map(
            |(seq_no, target_name, target_address, source_name, want_nack)| {
                GossipMessage::IndirectPing {
                    seq_no,
                    target_name,
                    target_address,
                    source_name,
                    want_nack,
                }
            }
        ),
        any::<u32>().prop_map(|seq_no| GossipMessage::Ack { seq_no }),
        any::<u32>().prop_map(|seq_no| GossipMessage::Nack { seq_no }),
        (any::<u64>(), name(), address(), tags()).prop_map(|(incarnation, name, address, tags)| {
            GossipMessage::Alive {
                incarnation,
                name,
                address,
                tags,
            }
        }),
        (any::<u64>(), name(), name()).prop_map(|(incarnation, name, from)| {
            GossipMessage::Suspect {
                incarnation,
                name,
                from,
            }
        }),
        (any::<u64>(), name(), name()).prop_map(|(incarnation, name, from)| {
            GossipMessage::Dead {
                incarnation,
                name,
                from,
            }
        }),
        (any::<u64>(), name())
            .prop_map(|(incarnation, name)| GossipMessage::Left { incarnation, name }),
        (
            any::<bool>(),
            name(),
            proptest::collection::vec(member_state(), 0..8)
        )
            .prop_map(|(join, from_name, members)| {
                GossipMessage::PushPull(PushPull {
                    join,
                    from_name,
                    members,
                })
            }),
        (name(), address(), address()).prop_map(|(name, existing_address, joining_address)| {
            GossipMessage::JoinRefused(JoinRefusal::NameConflict {
                name,
                existing_address,
                joining_address,
            })
        }),
        (any::<u128>(), any::<u128>()).prop_map(|(ours, theirs)| {
            GossipMessage::JoinRefused(JoinRefusal::ClusterIdMismatch { ours, theirs })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_gossip_message_round_trips(message in message()) {
        let mut payload = Vec::new();
        message.encode_payload(&mut payload);
        let message_type = message.message_type();
        prop_assert!((0x80..=0xBF).contains(&message_type));
        prop_assert_eq!(GossipMessage::decode(message_type, &payload), Ok(message));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        message_type in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = GossipMessage::decode(message_type, &payload);
    }

    #[test]
    fn decoding_a_corrupted_message_never_panics(
        message in message(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut payload = Vec::new();
        message.encode_payload(&mut payload);
        if !payload.is_empty() {
            for (at, byte) in flips {
                let i = at.index(payload.len());
                payload[i] ^= byte;
            }
            let len = cut.index(payload.len() + 1);
            payload.truncate(len);
        }
        let _ = GossipMessage::decode(message.message_type(), &payload);
    }
}

#[test]
fn a_truncated_message_is_a_typed_error() {
    let message = GossipMessage::Left {
        incarnation: 9,
        name: "node-1".into(),
    };
    let mut payload = Vec::new();
    message.encode_payload(&mut payload);
    for len in 0..payload.len() {
        assert!(GossipMessage::decode(message.message_type(), &payload[..len]).is_err());
    }
}

#[test]
fn a_type_outside_the_gossip_family_is_unknown() {
    assert_eq!(
        GossipMessage::decode(0x01, &[]),
        Err(concord::wire::WireError::UnknownMessageType(0x01))
    );
}
