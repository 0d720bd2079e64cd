//! The command codec against hostile and random bytes, through the public
//! API: every entry round-trips, every truncation and every oversize field
//! is a typed error, and no bytes make the decoder or `apply` panic.

use concord::state_machine::StateMachine;
use concord::wire::WireError;
use concord::wire::client_message::{CatalogNode, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use concord::wire::command::{
    COMMAND_VERSION, ClientSequence, Command, Envelope, LogCommand, MAX_CATALOG_FIELD_BYTES,
    MAX_TXN_OPS, TxnOp,
};
use proptest::prelude::*;

fn arb_string(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..12).prop_map(move |chars| {
        let mut s: String = chars.into_iter().collect();
        while s.len() > max {
            s.pop();
        }
        s
    })
}

fn arb_value() -> impl Strategy<Value = bytes::Bytes> {
    proptest::collection::vec(any::<u8>(), 0..32).prop_map(bytes::Bytes::from)
}

fn arb_txn_op() -> impl Strategy<Value = TxnOp> {
    let key = || arb_string(MAX_KEY_BYTES);
    prop_oneof![
        (key(), arb_value(), any::<u64>()).prop_map(|(key, value, flags)| TxnOp::Set {
            key,
            value,
            flags
        }),
        (key(), arb_value(), any::<u64>(), any::<u64>()).prop_map(|(key, value, flags, index)| {
            TxnOp::Cas {
                key,
                value,
                flags,
                index,
            }
        }),
        key().prop_map(|key| TxnOp::Get { key }),
        key().prop_map(|prefix| TxnOp::GetTree { prefix }),
        (key(), any::<u64>()).prop_map(|(key, index)| TxnOp::CheckIndex { key, index }),
        key().prop_map(|key| TxnOp::CheckNotExists { key }),
        key().prop_map(|key| TxnOp::Delete { key }),
        key().prop_map(|prefix| TxnOp::DeleteTree { prefix }),
        (key(), any::<u64>()).prop_map(|(key, index)| TxnOp::DeleteCas { key, index }),
    ]
}

fn arb_command() -> impl Strategy<Value = Command> {
    let key = || arb_string(MAX_KEY_BYTES);
    let field = || arb_string(MAX_CATALOG_FIELD_BYTES);
    prop_oneof![
        (key(), arb_value(), any::<u64>(), any::<Option<u64>>()).prop_map(
            |(key, value, flags, cas)| Command::KvPut {
                key,
                value,
                flags,
                cas
            }
        ),
        (key(), any::<Option<u64>>()).prop_map(|(key, cas)| Command::KvDelete { key, cas }),
        key().prop_map(|prefix| Command::KvDeleteTree { prefix }),
        proptest::collection::vec(arb_txn_op(), 0..6).prop_map(|ops| Command::Txn { ops }),
        (field(), field(), field(), field()).prop_map(|(name, address, role, datacenter)| {
            Command::CatalogRegister(CatalogNode {
                name,
                address,
                role,
                datacenter,
            })
        }),
        field().prop_map(|name| Command::CatalogDeregister { name }),
        Just(Command::RegisterClient),
    ]
}

fn arb_entry() -> impl Strategy<Value = LogCommand> {
    let client = any::<Option<(u64, u64, u64)>>();
    (arb_command(), any::<u64>(), client).prop_map(|(command, timestamp_ms, client)| {
        let client = client.filter(|_| command != Command::RegisterClient).map(
            |(client_id, sequence, first_unacknowledged)| ClientSequence {
                client_id,
                sequence,
                first_unacknowledged,
            },
        );
        LogCommand {
            envelope: Envelope {
                timestamp_ms,
                client,
            },
            command,
        }
    })
}

proptest! {
    #[test]
    fn every_entry_round_trips(entry in arb_entry()) {
        let bytes = entry.to_bytes();
        prop_assert_eq!(bytes[0], COMMAND_VERSION);
        prop_assert_eq!(LogCommand::decode(&bytes), Ok(entry));
    }

    #[test]
    fn every_strict_prefix_of_an_entry_is_an_error(entry in arb_entry()) {
        let bytes = entry.to_bytes();
        for len in 0..bytes.len() {
            prop_assert!(LogCommand::decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder_or_apply(
        bytes in proptest::collection::vec(any::<u8>(), 0..160),
        version in prop_oneof![Just(1u8), Just(2u8), any::<u8>()],
    ) {
        let mut input = vec![version];
        input.extend_from_slice(&bytes);
        let _ = LogCommand::decode(&input);
        let mut state = StateMachine::new();
        let _ = state.apply(1, &input.into());
        let _ = state.apply(2, &bytes.into());
    }
}

/// A version 2 header without a client, then `body`.
fn untimed(body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![COMMAND_VERSION];
    bytes.extend_from_slice(&0u64.to_be_bytes());
    bytes.push(0);
    bytes.extend_from_slice(body);
    bytes
}

#[test]
fn an_oversize_key_or_value_is_refused_before_it_is_copied() {
    let mut body = vec![0x01];
    body.extend_from_slice(&(MAX_KEY_BYTES as u32 + 1).to_be_bytes());
    assert!(matches!(
        LogCommand::decode(&untimed(&body)),
        Err(WireError::FieldTooLong {
            field: "command.key",
            ..
        })
    ));
    let mut body = vec![0x01, 0, 0, 0, 1, b'k'];
    body.extend_from_slice(&(MAX_VALUE_BYTES as u32 + 1).to_be_bytes());
    assert!(matches!(
        LogCommand::decode(&untimed(&body)),
        Err(WireError::FieldTooLong {
            field: "command.value",
            ..
        })
    ));
}

#[test]
fn a_txn_count_the_bytes_cannot_hold_is_refused_before_allocation() {
    let mut body = vec![0x06];
    body.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        LogCommand::decode(&untimed(&body)),
        Err(WireError::CountTooLarge { .. })
    ));
}

#[test]
fn a_txn_at_the_op_limit_decodes_and_one_more_does_not() {
    let ops = vec![TxnOp::Get { key: "k".into() }; MAX_TXN_OPS];
    let at_limit = Command::Txn { ops: ops.clone() };
    assert_eq!(
        LogCommand::decode(&at_limit.to_bytes()).map(|e| e.command),
        Ok(at_limit)
    );
    let mut over = ops;
    over.push(TxnOp::Get { key: "k".into() });
    let bytes = Command::Txn { ops: over }.to_bytes();
    assert!(matches!(
        LogCommand::decode(&bytes),
        Err(WireError::InvalidValue {
            field: "txn.op_count",
            ..
        })
    ));
    let mut state = StateMachine::new();
    assert!(state.apply(1, &bytes).changes.kv.is_empty());
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = Command::CatalogDeregister { name: "n".into() }
        .to_bytes()
        .to_vec();
    bytes.push(0);
    assert_eq!(LogCommand::decode(&bytes), Err(WireError::TrailingBytes(1)));
}
