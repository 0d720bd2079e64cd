use super::*;
use crate::state_machine::{ClientSequence, Envelope, TxnOp};
use crate::wire::client_message::CatalogNode;
use crate::wire::command::Command;
use bytes::Bytes;
use proptest::prelude::*;

fn node(name: &str) -> CatalogNode {
    CatalogNode {
        name: name.into(),
        address: "127.0.0.1:8300".into(),
        role: "server".into(),
        datacenter: "dc1".into(),
    }
}

fn put(key: &str, value: &[u8], flags: u64) -> Command {
    Command::KvPut {
        key: key.into(),
        value: Bytes::copy_from_slice(value),
        flags,
        cas: None,
    }
}

fn entry(command: &Command, ms: u64, client: Option<(u64, u64, u64)>) -> Bytes {
    let envelope = Envelope {
        timestamp_ms: ms,
        client: client.map(
            |(client_id, sequence, first_unacknowledged)| ClientSequence {
                client_id,
                sequence,
                first_unacknowledged,
            },
        ),
    };
    envelope.to_bytes(command)
}

/// Every section non-empty: records with flags, a catalog node, key and
/// tree tombstones, a session holding a put's and a txn's answers.
fn sample() -> StateMachine {
    let mut sm = StateMachine::new();
    let txn = Command::Txn {
        ops: vec![
            TxnOp::Set {
                key: "web/c".into(),
                value: bytes::Bytes::from_static(b"3"),
                flags: 9,
            },
            TxnOp::Get {
                key: "web/a".into(),
            },
        ],
    };
    let entries = [
        entry(&put("web/a", b"1", u64::MAX), 1_000, None),
        entry(&put("web/b", &[0; 1000], 0), 1_001, None),
        entry(&Command::CatalogRegister(node("n1")), 1_002, None),
        entry(&Command::RegisterClient, 1_003, None),
        entry(&put("tmp/x", b"", 0), 1_004, Some((4, 1, 1))),
        entry(&txn, 1_005, Some((4, 2, 1))),
        entry(
            &Command::KvDelete {
                key: "tmp/x".into(),
                cas: None,
            },
            1_006,
            None,
        ),
        entry(&put("old/y", b"", 0), 1_007, None),
        entry(
            &Command::KvDeleteTree {
                prefix: "old/".into(),
            },
            1_008,
            None,
        ),
    ];
    for (i, bytes) in entries.iter().enumerate() {
        sm.apply(i as u64 + 1, bytes);
    }
    assert_eq!(sm.kv().tombstones().len(), 2);
    assert_eq!(sm.sessions().get(4).unwrap().answers.len(), 2);
    sm
}

fn snapshot_bytes(sm: &StateMachine) -> Vec<u8> {
    let mut out = Vec::new();
    let written = sm.write_snapshot(&mut out).unwrap();
    assert_eq!(written, out.len() as u64);
    out
}

/// The version 2 header with the given counts and no records.
fn header(applied: u64, table: u64, floor: u64, counts: [u64; 4]) -> Vec<u8> {
    let mut bytes = SNAPSHOT_MAGIC.to_vec();
    bytes.push(SNAPSHOT_FORMAT_VERSION_2);
    for v in [applied, 0, table, floor].into_iter().chain(counts) {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

#[test]
fn snapshot_round_trips_every_section() {
    let sm = sample();
    let restored = StateMachine::restore_snapshot(&snapshot_bytes(&sm)[..]).unwrap();
    assert_eq!(restored, sm);
    assert_eq!(restored.kv().get("web/a").unwrap().flags, u64::MAX);
    assert_eq!(restored.kv_list("old/").index, 9);
    assert_eq!(restored.log_time_ms(), 1_008);
}

#[test]
fn the_catalog_keeps_its_indexes_across_a_snapshot() {
    let mut sm = sample();
    let next = sm.applied_index() + 1;
    sm.apply(next, &Command::CatalogRegister(node("n2")).to_bytes());
    sm.apply(
        next + 1,
        &Command::CatalogDeregister { name: "n2".into() }.to_bytes(),
    );
    let restored = StateMachine::restore_snapshot(&snapshot_bytes(&sm)[..]).unwrap();
    let record = restored.catalog().record("n1").unwrap();
    assert_eq!((record.create_index, record.modify_index), (3, 3));
    assert_eq!(restored.catalog().table_index(), next + 1);
    restored.catalog().check_invariants();
}

#[test]
fn a_version_2_catalog_restores_at_the_applied_index() {
    let mut body = header(5, 0, 0, [0, 1, 0, 0]);
    for field in ["n1", "127.0.0.1:8300", "server", "dc1"] {
        body.extend_from_slice(&(field.len() as u32).to_be_bytes());
        body.extend_from_slice(field.as_bytes());
    }
    let restored = StateMachine::restore_snapshot(&with_crc(body)[..]).unwrap();
    let record = restored.catalog().record("n1").unwrap();
    assert_eq!((record.create_index, record.modify_index), (5, 5));
    assert_eq!(restored.catalog().table_index(), 5);
}

#[test]
fn a_catalog_record_above_the_catalog_index_is_refused() {
    let mut body = SNAPSHOT_MAGIC.to_vec();
    body.push(SNAPSHOT_FORMAT_VERSION_3);
    for v in [9u64, 0, 0, 0, 4, 0, 1, 0, 0] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    for field in ["n1", "a", "server", "dc1"] {
        body.extend_from_slice(&(field.len() as u32).to_be_bytes());
        body.extend_from_slice(field.as_bytes());
    }
    for v in [2u64, 6] {
        body.extend_from_slice(&v.to_be_bytes());
    }
    let err = StateMachine::restore_snapshot(&with_crc(body)[..]).unwrap_err();
    assert!(matches!(err, SnapshotError::Inconsistent(_)), "{err}");
}

fn with_services() -> StateMachine {
    use crate::wire::catalog_registration::tests::{sample_check, sample_register};
    use crate::wire::catalog_registration::{
        CheckDefinition, CheckStatus, DeregisterRequest, DeregisterTarget,
    };
    let mut state = sample();
    let mut index = state.applied_index();
    let mut apply = |state: &mut StateMachine, command: Command| {
        index += 1;
        let applied = state.apply(index, &command.to_bytes());
        assert!(applied.to_rpc().is_ok(), "{applied:?}");
    };
    apply(
        &mut state,
        Command::CatalogRegistration(Box::new(sample_register())),
    );
    let mut other = sample_register();
    other.node = "n2".into();
    other.checks.push(CheckDefinition {
        check_id: "serfHealth".into(),
        status: CheckStatus::Passing,
        service_id: String::new(),
        ..sample_check()
    });
    apply(&mut state, Command::CatalogRegistration(Box::new(other)));
    let mut api = sample_register();
    api.service.as_mut().unwrap().id = "api".into();
    api.service.as_mut().unwrap().service = "api".into();
    api.checks.clear();
    apply(&mut state, Command::CatalogRegistration(Box::new(api)));
    apply(
        &mut state,
        Command::CatalogDeregistration(DeregisterRequest {
            node: "n1".into(),
            target: DeregisterTarget::Service("api".into()),
        }),
    );
    state.catalog().check_invariants();
    state
}

#[test]
fn services_and_checks_survive_a_snapshot() {
    let state = with_services();
    let restored = StateMachine::restore_snapshot(&snapshot_bytes(&state)[..]).unwrap();
    assert_eq!(restored, state);
    restored.catalog().check_invariants();
    assert_eq!(restored.catalog().services().instances("web").count(), 2);
    assert_eq!(
        restored.catalog().services().service_index("api"),
        state.catalog().services().service_index("api"),
        "a deleted service keeps its index"
    );
    let bytes = snapshot_bytes(&state);
    for len in 0..bytes.len() {
        assert!(
            StateMachine::restore_snapshot(&bytes[..len]).is_err(),
            "cut to {len}"
        );
    }
}

#[test]
fn a_version_3_snapshot_restores_without_services() {
    let state = sample();
    let bytes = snapshot_bytes(&state);
    // Version 3 is version 4 without the services section, which for a
    // catalog without services is three zero u64s before the CRC.
    let mut body = bytes[..bytes.len() - 4 - 24].to_vec();
    assert!(
        bytes[bytes.len() - 4 - 24..bytes.len() - 4]
            .iter()
            .all(|b| *b == 0)
    );
    body[4] = SNAPSHOT_FORMAT_VERSION_3;
    let restored = StateMachine::restore_snapshot(&with_crc(body)[..]).unwrap();
    assert_eq!(restored, state);
}

#[test]
fn a_service_block_of_an_unregistered_node_is_refused() {
    let state = with_services();
    let mut bytes = snapshot_bytes(&state);
    // Rename the first services node ("n1") to a node the catalog lacks.
    let body_len = bytes.len() - 4;
    let at = bytes[..body_len]
        .windows(6)
        .rposition(|w| w == [0, 0, 0, 2, b'n', b'1'])
        .unwrap();
    bytes[at + 5] = b'0';
    let body = bytes[..body_len].to_vec();
    assert!(StateMachine::restore_snapshot(&with_crc(body)[..]).is_err());
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = snapshot_bytes(&sample());
    for len in 0..bytes.len() {
        assert!(StateMachine::restore_snapshot(&bytes[..len]).is_err());
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let bytes = snapshot_bytes(&sample());
    for at in 0..bytes.len() {
        let mut corrupt = bytes.clone();
        corrupt[at] ^= 0x10;
        assert!(
            StateMachine::restore_snapshot(&corrupt[..]).is_err(),
            "flip at byte {at} went unnoticed"
        );
    }
}

#[test]
fn huge_claimed_counts_and_lengths_do_not_allocate() {
    // Claims 2^64-1 keys then a 4 GiB key: refused by the key limit.
    let mut bytes = header(1, 1, 0, [u64::MAX, 0, 0, 0]);
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        StateMachine::restore_snapshot(&bytes[..]),
        Err(SnapshotError::FieldTooLong {
            field: "kv.key",
            ..
        })
    ));
    // A value length at the limit with no data behind it is truncation.
    let mut bytes = bytes[..bytes.len() - 4].to_vec();
    bytes.extend_from_slice(&1u32.to_be_bytes());
    bytes.push(b'k');
    bytes.extend_from_slice(&(crate::wire::client_message::MAX_VALUE_BYTES as u32).to_be_bytes());
    assert!(matches!(
        StateMachine::restore_snapshot(&bytes[..]),
        Err(SnapshotError::Truncated)
    ));
    // Claims 2^64-1 tombstones and sessions with nothing behind them.
    let bytes = header(1, 1, 0, [0, 0, u64::MAX, u64::MAX]);
    assert!(matches!(
        StateMachine::restore_snapshot(&bytes[..]),
        Err(SnapshotError::Truncated)
    ));
}

#[test]
fn more_tombstones_than_the_cap_are_inconsistent() {
    let count = crate::state_machine::tombstones::MAX_TOMBSTONES as u64 + 1;
    let mut body = header(count, count, 0, [0, 0, count, 0]);
    for i in 0..count {
        let key = format!("k{i:06}");
        body.push(0);
        body.extend_from_slice(&(key.len() as u32).to_be_bytes());
        body.extend_from_slice(key.as_bytes());
        body.extend_from_slice(&(i + 1).to_be_bytes());
    }
    assert!(matches!(
        StateMachine::restore_snapshot(&with_crc(body)[..]),
        Err(SnapshotError::Inconsistent(_))
    ));
}

#[test]
fn a_table_index_past_the_applied_index_is_inconsistent() {
    let body = header(5, 6, 0, [0, 0, 0, 0]);
    assert!(matches!(
        StateMachine::restore_snapshot(&with_crc(body)[..]),
        Err(SnapshotError::Inconsistent(_))
    ));
}

#[test]
fn restore_at_refuses_an_applied_index_other_than_the_snapshot_index() {
    let sm = sample();
    let bytes = snapshot_bytes(&sm);
    let applied = sm.applied_index();
    assert!(StateMachine::restore_snapshot_at(&bytes[..], applied).is_ok());
    for wrong in [0, applied - 1, applied + 1, u64::MAX] {
        assert!(matches!(
            StateMachine::restore_snapshot_at(&bytes[..], wrong),
            Err(SnapshotError::Inconsistent(_))
        ));
    }
}

#[test]
fn restore_at_refuses_bytes_after_the_crc() {
    let sm = sample();
    let mut bytes = snapshot_bytes(&sm);
    bytes.push(0);
    assert!(matches!(
        StateMachine::restore_snapshot_at(&bytes[..], sm.applied_index()),
        Err(SnapshotError::Inconsistent(_))
    ));
}

fn v1_record(body: &mut Vec<u8>, key: &[u8], create: u64, modify: u64) {
    body.extend_from_slice(&(key.len() as u32).to_be_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(&1u32.to_be_bytes());
    body.push(b'v');
    body.extend_from_slice(&create.to_be_bytes());
    body.extend_from_slice(&modify.to_be_bytes());
}

fn v1_snapshot(keys: &[&[u8]]) -> Vec<u8> {
    let mut body = SNAPSHOT_MAGIC.to_vec();
    body.push(SNAPSHOT_FORMAT_VERSION_1);
    body.extend_from_slice(&5u64.to_be_bytes());
    body.extend_from_slice(&(keys.len() as u64).to_be_bytes());
    body.extend_from_slice(&0u64.to_be_bytes());
    for key in keys {
        v1_record(&mut body, key, 1, 2);
    }
    with_crc(body)
}

#[test]
fn a_version_1_snapshot_restores_with_its_indexes_floored_at_the_applied_index() {
    let restored = StateMachine::restore_snapshot(&v1_snapshot(&[b"a", b"b"])[..]).unwrap();
    assert_eq!(restored.applied_index(), 5);
    let record = restored.kv().get("a").unwrap();
    assert_eq!(
        (record.flags, record.create_index, record.modify_index),
        (0, 1, 2)
    );
    // Deletions before the snapshot are unknown: never report below 5.
    assert_eq!(restored.kv_list("a").index, 5);
    assert_eq!(restored.kv_get("gone").index, 5);
    assert_eq!(restored.kv_get("a").index, 2);
}

#[test]
fn out_of_order_keys_are_inconsistent_even_with_a_valid_crc() {
    assert!(matches!(
        StateMachine::restore_snapshot(&v1_snapshot(&[b"b", b"a"])[..]),
        Err(SnapshotError::Inconsistent(_))
    ));
}

#[test]
fn an_unknown_format_version_is_refused_by_number() {
    let mut bytes = snapshot_bytes(&sample());
    bytes[4] = 5;
    assert!(matches!(
        StateMachine::restore_snapshot(&bytes[..]),
        Err(SnapshotError::UnsupportedVersion(5))
    ));
}

/// Entries over a few keys, three sessions (ids 1, 2 and a never
/// registered 99), repeated sequences, acknowledgements and time jumps.
fn arb_entry() -> impl Strategy<Value = Bytes> {
    let key = proptest::sample::select(vec!["a", "a/b", "a/c", "b", "bb", "c/d"]);
    let prefix = proptest::sample::select(vec!["", "a", "a/", "b", "c/"]);
    let value = proptest::collection::vec(any::<u8>(), 0..4).prop_map(Bytes::from);
    let op = prop_oneof![
        (key.clone(), value.clone(), any::<u64>()).prop_map(|(k, value, flags)| TxnOp::Set {
            key: k.into(),
            value,
            flags
        }),
        (key.clone(), 0u64..8).prop_map(|(k, index)| TxnOp::CheckIndex {
            key: k.into(),
            index
        }),
        key.clone().prop_map(|k| TxnOp::Get { key: k.into() }),
        prefix
            .clone()
            .prop_map(|p| TxnOp::DeleteTree { prefix: p.into() }),
        key.clone().prop_map(|k| TxnOp::Delete { key: k.into() }),
    ];
    let command = prop_oneof![
        (key.clone(), value, 0u64..3, proptest::option::of(0u64..6)).prop_map(
            |(k, value, flags, cas)| Command::KvPut {
                key: k.into(),
                value,
                flags,
                cas
            }
        ),
        (key.clone(), proptest::option::of(0u64..6))
            .prop_map(|(k, cas)| Command::KvDelete { key: k.into(), cas }),
        prefix.prop_map(|p| Command::KvDeleteTree { prefix: p.into() }),
        proptest::collection::vec(op, 0..4).prop_map(|ops| Command::Txn { ops }),
        key.clone().prop_map(|k| Command::CatalogRegister(node(k))),
        key.prop_map(|k| Command::CatalogDeregister { name: k.into() }),
        Just(Command::RegisterClient),
    ];
    let client = proptest::option::of((
        proptest::sample::select(vec![1u64, 2, 99]),
        0u64..6,
        0u64..4,
    ));
    let ms = prop_oneof![Just(0u64), 0u64..3 * 3_600_000];
    (command, ms, client).prop_map(|(command, ms, client)| {
        let client = client.filter(|_| command != Command::RegisterClient);
        entry(&command, ms, client)
    })
}

proptest! {
    /// A follower that installs a snapshot taken at index i and then
    /// applies i+1.. must end exactly where a replica that replayed the
    /// whole log ends (Raft §7), sessions, graveyard and all, and answer
    /// every entry after the cut the same way.
    #[test]
    fn restore_then_apply_equals_replay(
        entries in proptest::collection::vec(arb_entry(), 0..40),
        cut in 0usize..40,
    ) {
        let cut = cut.min(entries.len());
        let mut replayed = StateMachine::new();
        let mut answers = Vec::new();
        for (i, bytes) in entries.iter().enumerate() {
            answers.push(replayed.apply(i as u64 + 1, bytes));
        }
        let mut snapshotted = StateMachine::new();
        for (i, bytes) in entries.iter().enumerate().take(cut) {
            snapshotted.apply(i as u64 + 1, bytes);
        }
        let mut restored =
            StateMachine::restore_snapshot(&snapshot_bytes(&snapshotted)[..]).unwrap();
        prop_assert_eq!(&restored, &snapshotted);
        restored.kv().check_invariants();
        for (i, bytes) in entries.iter().enumerate().skip(cut) {
            let applied = restored.apply(i as u64 + 1, bytes);
            prop_assert_eq!(&applied, &answers[i]);
        }
        prop_assert_eq!(restored, replayed);
    }

    #[test]
    fn hostile_snapshot_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        for version in [
            SNAPSHOT_FORMAT_VERSION,
            SNAPSHOT_FORMAT_VERSION_3,
            SNAPSHOT_FORMAT_VERSION_2,
            SNAPSHOT_FORMAT_VERSION_1,
        ] {
            let mut input = SNAPSHOT_MAGIC.to_vec();
            input.push(version);
            input.extend_from_slice(&bytes);
            if let Ok(restored) = StateMachine::restore_snapshot(&input[..]) {
                restored.kv().check_invariants();
                restored.catalog().check_invariants();
            }
        }
        if let Ok(restored) = StateMachine::restore_snapshot(&bytes[..]) {
            restored.kv().check_invariants();
        }
    }
}
