use super::*;
use crate::state_machine::client_sessions::{
    CLIENT_SESSION_IDLE_TIMEOUT_MS, MAX_CLIENT_SESSIONS, MAX_RETAINED_ANSWER_BYTES,
    MAX_RETAINED_ANSWERS_BYTES_TOTAL, MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT,
};
use crate::wire::client_message::{CatalogNode, ErrorCode};

fn put(key: &str, value: &[u8], cas: Option<u64>) -> Command {
    Command::KvPut {
        key: key.into(),
        value: Bytes::copy_from_slice(value),
        flags: 0,
        cas,
    }
}

fn in_session(command: &Command, client_id: u64, sequence: u64, acked: u64, ms: u64) -> Bytes {
    let envelope = Envelope {
        timestamp_ms: ms,
        client: Some(ClientSequence {
            client_id,
            sequence,
            first_unacknowledged: acked,
        }),
    };
    envelope.to_bytes(command)
}

fn at_time(command: &Command, ms: u64) -> Bytes {
    Envelope {
        timestamp_ms: ms,
        client: None,
    }
    .to_bytes(command)
}

fn txn(ops: Vec<TxnOp>) -> Bytes {
    Command::Txn { ops }.to_bytes()
}

fn value_of(sm: &StateMachine, key: &str) -> Option<Vec<u8>> {
    sm.kv().get(key).map(|r| r.value.to_vec())
}

#[test]
fn apply_uses_the_log_index_as_the_kv_index() {
    let mut sm = StateMachine::new();
    let applied = sm.apply(3, &put("k", b"v", None).to_bytes());
    assert_eq!(applied.result, ApplyResult::KvWritten { index: 3 });
    sm.skip(4);
    sm.apply(7, &put("k", b"w", None).to_bytes());
    let record = sm.kv().get("k").unwrap();
    assert_eq!((record.create_index, record.modify_index), (3, 7));
    assert_eq!(sm.applied_index(), 7);
}

#[test]
fn cas_failure_is_a_result_not_a_write() {
    let mut sm = StateMachine::new();
    sm.apply(1, &put("k", b"v", None).to_bytes());
    let applied = sm.apply(2, &put("k", b"w", Some(0)).to_bytes());
    assert!(matches!(applied.result, ApplyResult::KvCasFailed { .. }));
    assert!(applied.changes.kv.is_empty());
    assert_eq!(applied.to_rpc().unwrap_err().code, ErrorCode::CasFailed);
    assert_eq!(value_of(&sm, "k").unwrap(), b"v");
    assert_eq!(sm.applied_index(), 2);
}

#[test]
fn undecodable_command_is_rejected_and_consumes_its_index() {
    let mut sm = StateMachine::new();
    let applied = sm.apply(1, &Bytes::from_static(&[0xde, 0xad]));
    assert!(matches!(
        applied.result,
        ApplyResult::Rejected(CommandRejection::Undecodable(_))
    ));
    assert_eq!(sm.applied_index(), 1);
    assert!(sm.kv().is_empty());
}

#[test]
fn empty_key_writes_are_rejected() {
    let mut sm = StateMachine::new();
    let delete = Command::KvDelete {
        key: "".into(),
        cas: None,
    };
    for (i, command) in [put("", b"v", None), delete].iter().enumerate() {
        assert_eq!(
            sm.apply(i as u64 + 1, &command.to_bytes()).result,
            ApplyResult::Rejected(CommandRejection::EmptyKey)
        );
    }
}

#[test]
fn a_put_reports_its_key_changed_and_an_identical_put_reports_nothing() {
    let mut sm = StateMachine::new();
    let first = sm.apply(1, &put("k", b"v", None).to_bytes());
    assert_eq!(first.changes.kv.keys, ["k"]);
    let again = sm.apply(2, &put("k", b"v", None).to_bytes());
    assert_eq!(again.result, ApplyResult::KvWritten { index: 2 });
    assert!(again.changes.kv.is_empty());
    assert_eq!(sm.kv_get("k").index, 1);
}

#[test]
fn a_delete_tree_counts_removed_keys_and_reports_its_prefix() {
    let mut sm = StateMachine::new();
    for (i, key) in ["a/1", "a/2", "b"].iter().enumerate() {
        sm.apply(i as u64 + 1, &put(key, b"", None).to_bytes());
    }
    let delete = Command::KvDeleteTree {
        prefix: "a/".into(),
    };
    let applied = sm.apply(4, &delete.to_bytes());
    assert_eq!(
        applied.result,
        ApplyResult::KvDeleted {
            index: 4,
            removed: 2
        }
    );
    assert_eq!(applied.changes.kv.trees, ["a/"]);
    assert!(KvWatch::Key("a/1").is_affected_by(&applied.changes.kv));
    assert!(!KvWatch::Key("b").is_affected_by(&applied.changes.kv));
    assert_eq!(sm.kv().len(), 1);
}

#[test]
fn a_delete_cas_with_a_stale_index_fails_and_deletes_nothing() {
    let mut sm = StateMachine::new();
    sm.apply(1, &put("k", b"v", None).to_bytes());
    let stale = Command::KvDelete {
        key: "k".into(),
        cas: Some(7),
    };
    let applied = sm.apply(2, &stale.to_bytes());
    assert!(matches!(
        applied.result,
        ApplyResult::KvDeleteCasFailed { .. }
    ));
    assert!(sm.kv().get("k").is_some());
    let fresh = Command::KvDelete {
        key: "k".into(),
        cas: Some(1),
    };
    assert_eq!(sm.apply(3, &fresh.to_bytes()).changes.kv.keys, ["k"]);
}

#[test]
fn catalog_register_and_deregister_through_apply() {
    let mut sm = StateMachine::new();
    let node = CatalogNode {
        name: "n1".into(),
        address: "127.0.0.1:8300".into(),
        role: "server".into(),
        datacenter: "dc1".into(),
    };
    let registered = sm.apply(1, &Command::CatalogRegister(node.clone()).to_bytes());
    assert!(registered.changes.catalog);
    assert_eq!(sm.catalog().get("n1"), Some(&node));
    let again = sm.apply(2, &Command::CatalogRegister(node.clone()).to_bytes());
    assert!(
        !again.changes.catalog,
        "an identical registration wakes no watcher"
    );
    let applied = sm.apply(
        3,
        &Command::CatalogDeregister { name: "n1".into() }.to_bytes(),
    );
    assert_eq!(
        applied.result,
        ApplyResult::CatalogDeregistered {
            index: 3,
            existed: true
        }
    );
    assert!(sm.catalog().is_empty());
    assert_eq!(sm.catalog().table_index(), 3);
}

#[test]
#[should_panic(expected = "applied in log order")]
fn applying_an_old_index_is_a_bug() {
    let mut sm = StateMachine::new();
    sm.apply(5, &put("k", b"v", None).to_bytes());
    sm.apply(5, &put("k", b"v", None).to_bytes());
}

#[test]
fn a_failed_txn_applies_none_of_its_ops() {
    let mut sm = StateMachine::new();
    sm.apply(1, &put("existing", b"old", None).to_bytes());
    let before = sm.clone();
    let applied = sm.apply(
        2,
        &txn(vec![
            TxnOp::Set {
                key: "new".into(),
                value: bytes::Bytes::from_static(b"x"),
                flags: 1,
            },
            TxnOp::Delete {
                key: "existing".into(),
            },
            TxnOp::CheckNotExists { key: "new".into() },
        ]),
    );
    let ApplyResult::Txn {
        outcome: TxnOutcome::Failed { errors },
        ..
    } = applied.result
    else {
        panic!("the check fails: {applied:?}");
    };
    assert_eq!(
        errors,
        [TxnOpError {
            op_index: 2,
            what: "key \"new\" exists".into()
        }]
    );
    assert!(applied.changes.kv.is_empty());
    assert_eq!(sm.kv(), before.kv());
}

#[test]
fn a_failed_txn_lists_every_failing_op_with_consuls_text() {
    let mut sm = StateMachine::new();
    sm.apply(1, &put("k", b"v", None).to_bytes());
    let applied = sm.apply(
        2,
        &txn(vec![
            TxnOp::CheckIndex {
                key: "k".into(),
                index: 9,
            },
            TxnOp::Get { key: "nope".into() },
            TxnOp::Cas {
                key: "k".into(),
                value: vec![].into(),
                flags: 0,
                index: 0,
            },
            TxnOp::DeleteCas {
                key: "k".into(),
                index: 5,
            },
            TxnOp::CheckIndex {
                key: "gone".into(),
                index: 1,
            },
            TxnOp::Get { key: "".into() },
        ]),
    );
    let ApplyResult::Txn {
        outcome: TxnOutcome::Failed { errors },
        ..
    } = applied.result
    else {
        panic!("every op fails: {applied:?}");
    };
    let texts: Vec<(u32, &str)> = errors
        .iter()
        .map(|e| (e.op_index, e.what.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (
                0,
                "failed index check for key \"k\", current modify index 1 != 9"
            ),
            (1, "key \"nope\" doesn't exist"),
            (2, "failed to set key \"k\", index is stale"),
            (3, "failed to delete key \"k\", index is stale"),
            (4, "failed to check index, key \"gone\" doesn't exist"),
            (5, "Must provide key"),
        ]
    );
}

#[test]
fn a_committed_txn_returns_consuls_entries_per_op_and_sees_earlier_ops() {
    let mut sm = StateMachine::new();
    sm.apply(1, &put("t/a", b"1", None).to_bytes());
    sm.apply(2, &put("t/b", b"2", None).to_bytes());
    let applied = sm.apply(
        3,
        &txn(vec![
            TxnOp::Set {
                key: "t/c".into(),
                value: bytes::Bytes::from_static(b"3"),
                flags: 42,
            },
            TxnOp::Get { key: "t/c".into() },
            TxnOp::CheckIndex {
                key: "t/a".into(),
                index: 1,
            },
            TxnOp::Delete { key: "t/b".into() },
            TxnOp::CheckNotExists { key: "t/b".into() },
            TxnOp::GetTree {
                prefix: "t/".into(),
            },
            TxnOp::DeleteCas {
                key: "t/a".into(),
                index: 1,
            },
        ]),
    );
    let ApplyResult::Txn {
        index: 3,
        outcome: TxnOutcome::Committed { results },
    } = &applied.result
    else {
        panic!("commits: {applied:?}");
    };
    let shown: Vec<(&str, Option<&[u8]>, u64)> = results
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_deref(), e.modify_index))
        .collect();
    assert_eq!(
        shown,
        [
            ("t/c", None, 3),
            ("t/c", Some(&b"3"[..]), 3),
            ("t/a", None, 1),
            ("t/a", Some(&b"1"[..]), 1),
            ("t/c", Some(&b"3"[..]), 3),
        ]
    );
    assert_eq!(results[0].flags, 42);
    assert_eq!(applied.changes.kv.keys, ["t/c", "t/b", "t/a"]);
    assert_eq!(sm.kv().len(), 1);
    assert_eq!(sm.kv_list("t/").index, 3);
}

fn register(sm: &mut StateMachine, index: u64, ms: u64) -> u64 {
    let applied = sm.apply(index, &at_time(&Command::RegisterClient, ms));
    let ApplyResult::ClientRegistered { client_id } = applied.result else {
        panic!("registers: {applied:?}");
    };
    assert_eq!(client_id, index);
    client_id
}

#[test]
fn a_duplicate_write_is_answered_with_the_original_result_and_applied_once() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 1_000);
    let write = put("counter", b"1", Some(0));
    let first = sm.apply(2, &in_session(&write, client, 1, 1, 1_001));
    assert_eq!(first.result, ApplyResult::KvWritten { index: 2 });
    assert!(!first.duplicate);
    // The retry commits again (the leader changed before answering).
    let retry = sm.apply(3, &in_session(&write, client, 1, 1, 1_002));
    assert!(retry.duplicate);
    assert_eq!(retry.result, ApplyResult::KvWritten { index: 2 });
    assert!(retry.changes.kv.is_empty());
    assert_eq!(sm.kv().get("counter").unwrap().modify_index, 2);
}

#[test]
fn pipelined_writes_retried_out_of_order_each_apply_once() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 0);
    // Writes 1..=3 were in flight; 2 was lost, 3 and 1 committed.
    sm.apply(2, &in_session(&put("c", b"3", None), client, 3, 1, 0));
    sm.apply(3, &in_session(&put("a", b"1", None), client, 1, 1, 0));
    let late = sm.apply(4, &in_session(&put("b", b"2", None), client, 2, 1, 0));
    assert!(
        !late.duplicate,
        "write 2 never applied: it is not a duplicate"
    );
    let again = sm.apply(5, &in_session(&put("c", b"X", None), client, 3, 2, 0));
    assert!(again.duplicate);
    assert_eq!(value_of(&sm, "c").unwrap(), b"3");
}

#[test]
fn a_write_for_an_unknown_session_is_refused_as_expired_and_not_applied() {
    let mut sm = StateMachine::new();
    let applied = sm.apply(1, &in_session(&put("k", b"v", None), 77, 1, 1, 0));
    assert!(applied.session_expired());
    assert!(sm.kv().is_empty());
}

#[test]
fn a_session_idle_past_the_timeout_expires_by_log_time() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 10);
    let before = 10 + CLIENT_SESSION_IDLE_TIMEOUT_MS - 1;
    let kept = sm.apply(2, &in_session(&put("a", b"", None), client, 1, 1, before));
    assert!(!kept.session_expired());
    // Unrelated entries move log time; the session idles past its timeout.
    sm.apply(
        3,
        &at_time(
            &put("b", b"", None),
            before + CLIENT_SESSION_IDLE_TIMEOUT_MS,
        ),
    );
    assert!(sm.sessions().is_empty());
    let late = sm.apply(4, &in_session(&put("a", b"", None), client, 2, 2, 0));
    assert!(late.session_expired());
}

#[test]
fn log_time_never_moves_back_when_a_new_leader_clock_is_behind() {
    let mut sm = StateMachine::new();
    sm.apply(1, &at_time(&put("a", b"", None), 5_000));
    sm.apply(2, &at_time(&put("b", b"", None), 4_000));
    assert_eq!(sm.log_time_ms(), 5_000);
}

#[test]
fn acknowledged_answers_are_forgotten_and_their_sequences_refused() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 0);
    sm.apply(2, &in_session(&put("a", b"1", None), client, 1, 1, 0));
    sm.apply(3, &in_session(&put("b", b"2", None), client, 2, 2, 0));
    assert_eq!(sm.sessions().get(client).unwrap().answers.len(), 1);
    let stale = sm.apply(4, &in_session(&put("a", b"X", None), client, 1, 1, 0));
    assert!(matches!(
        stale.result,
        ApplyResult::Rejected(CommandRejection::SequenceAcknowledged { .. })
    ));
    assert_eq!(value_of(&sm, "a").unwrap(), b"1");
}

#[test]
fn an_acknowledgement_past_the_write_is_refused() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 0);
    let applied = sm.apply(2, &in_session(&put("a", b"", None), client, 3, 4, 0));
    assert!(matches!(
        applied.result,
        ApplyResult::Rejected(CommandRejection::AcknowledgementAhead { .. })
    ));
    assert!(sm.kv().is_empty());
}

#[test]
fn a_session_with_the_most_unacknowledged_answers_refuses_new_writes() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 0);
    let limit = MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT as u64;
    for sequence in 0..limit {
        let write = put(&format!("k{sequence}"), b"", None);
        sm.apply(2 + sequence, &in_session(&write, client, sequence, 0, 0));
    }
    let refused = sm.apply(
        2 + limit,
        &in_session(&put("x", b"", None), client, limit, 0, 0),
    );
    assert!(matches!(
        refused.result,
        ApplyResult::Rejected(CommandRejection::TooManyUnacknowledged { .. })
    ));
    assert!(sm.kv().get("x").is_none());
    let acked = sm.apply(
        3 + limit,
        &in_session(&put("x", b"", None), client, limit, 1, 0),
    );
    assert_eq!(acked.result, ApplyResult::KvWritten { index: 3 + limit });
}

#[test]
fn the_least_recently_active_session_is_evicted_past_the_cap() {
    let mut sm = StateMachine::new();
    let first = register(&mut sm, 1, 0);
    let second = register(&mut sm, 2, 0);
    sm.apply(3, &in_session(&put("a", b"", None), first, 0, 0, 0));
    let mut index = 3;
    for _ in 2..=MAX_CLIENT_SESSIONS {
        index += 1;
        register(&mut sm, index, 0);
    }
    assert_eq!(sm.sessions().len(), MAX_CLIENT_SESSIONS);
    assert!(sm.sessions().get(second).is_none(), "second idled longest");
    assert!(
        sm.sessions().get(first).is_some(),
        "first wrote after second registered"
    );
}

/// A txn whose get results come to `value_bytes` and some.
fn big_get(sm: &mut StateMachine, index: u64, value_bytes: usize) -> Command {
    sm.apply(index, &put("big", &vec![7; value_bytes], None).to_bytes());
    Command::Txn {
        ops: vec![TxnOp::Get { key: "big".into() }],
    }
}

#[test]
fn a_large_txn_answer_is_kept_as_a_marker_and_its_duplicate_not_applied() {
    let mut sm = StateMachine::new();
    let client = register(&mut sm, 1, 0);
    let read = big_get(&mut sm, 2, MAX_RETAINED_ANSWER_BYTES);
    let first = sm.apply(3, &in_session(&read, client, 0, 0, 0));
    assert!(matches!(first.result, ApplyResult::Txn { .. }));
    let again = sm.apply(4, &in_session(&read, client, 0, 0, 0));
    assert!(again.duplicate);
    assert_eq!(
        again.result,
        ApplyResult::ResultNotRetained { applied_index: 3 }
    );
}

#[test]
fn the_least_recent_sessions_go_when_kept_answers_pass_the_byte_budget() {
    let mut sm = StateMachine::new();
    let read = big_get(&mut sm, 1, MAX_RETAINED_ANSWER_BYTES - 200);
    let per_session = MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT as u64;
    let sessions_to_fill = MAX_RETAINED_ANSWERS_BYTES_TOTAL as u64
        / (per_session * (MAX_RETAINED_ANSWER_BYTES as u64 - 200))
        + 1;
    let mut index = 1;
    let mut clients = Vec::new();
    for _ in 0..sessions_to_fill {
        index += 1;
        let client = register(&mut sm, index, 0);
        clients.push(client);
        for sequence in 0..per_session {
            index += 1;
            let applied = sm.apply(index, &in_session(&read, client, sequence, 0, 0));
            assert!(matches!(applied.result, ApplyResult::Txn { .. }));
        }
    }
    assert!(
        sm.sessions().get(clients[0]).is_none(),
        "the oldest session went"
    );
    assert!(sm.sessions().get(*clients.last().unwrap()).is_some());
}
