//! How a client request meets the replicated state: writes become
//! [`Command`]s to propose through Raft, reads are answered from the local
//! [`StateMachine`]. Requests about the agent itself (join, leave, members,
//! peers, info) are neither and stay with the agent.

use crate::wire::client_kv::{KvReadKind, KvRemoveMode};
use crate::wire::client_message::{
    CatalogNode, ErrorCode, MAX_KEY_BYTES, MAX_VALUE_BYTES, RequestBody, RpcError, RpcResult,
};
use crate::wire::command::{Command, TxnOp};
use crate::wire::frame::DEFAULT_MAX_FRAME_BYTES;

use crate::agent::requests::catalog_answers::answer_catalog_read;
use crate::agent::requests::kv_answers::{ServingView, answer_kv_read, answer_txn_read};
use crate::agent::server::pending_writes::WriteAnswer;
use crate::agent::server::reads::MAX_HELD_WAIT;
use crate::state_machine::StateMachine;

/// Room in a response frame for everything but the listed items (frame
/// header, request ID, result type, list count), with a wide margin.
pub const ANSWER_HEADROOM_BYTES: usize = 64 * 1024;
/// The encoded size the items of one list answer may take. A larger answer
/// would exceed the client's frame limit and be refused as a broken frame;
/// it is answered with an error saying the result is too large instead.
pub const MAX_ANSWER_BYTES: usize = DEFAULT_MAX_FRAME_BYTES as usize - ANSWER_HEADROOM_BYTES;

/// What kind of work a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// Propose this command; answer when it is applied.
    Write(Command),
    /// Answer from the state machine (after whatever consistency check the
    /// request's mode asks for).
    Read,
    /// Agent-level: join, leave, members, peers, info.
    Agent,
    /// The Raft configuration as the leader (with `stale`, any server)
    /// sees it.
    RaftView,
    /// Only the leader can do it (a leadership transfer, a peer removal).
    LeaderOnly,
}

fn invalid(message: String) -> RpcError {
    RpcError {
        code: ErrorCode::InvalidRequest,
        message,
        leader_hint: None,
    }
}

fn check_key(key: &str, allow_empty: bool) -> Result<(), RpcError> {
    if key.is_empty() && !allow_empty {
        return Err(invalid("key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(invalid(format!(
            "key is {} bytes, limit {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), RpcError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(invalid(format!(
            "value is {} bytes, limit {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

/// How long a blocking query may be held by the server that serves it
/// (zero for every other request): the agents forwarding it wait that much
/// longer for its answer.
pub fn blocking_wait(body: &RequestBody) -> std::time::Duration {
    match body.blocking() {
        Some(blocking) => std::time::Duration::from_millis(blocking.wait_ms).min(MAX_HELD_WAIT),
        None => std::time::Duration::ZERO,
    }
}

/// Which protocol's answer a write gets.
pub fn write_answer(body: &RequestBody) -> WriteAnswer {
    match body {
        RequestBody::KvSet { .. }
        | RequestBody::KvRemove { .. }
        | RequestBody::Txn { .. }
        | RequestBody::CatalogRegister(_)
        | RequestBody::CatalogDeregister(_) => WriteAnswer::Consul,
        _ => WriteAnswer::Native,
    }
}

/// A catalog write, refused before proposing when over its limits.
fn catalog_write(limits_error: Option<String>, command: Command) -> Result<RequestKind, RpcError> {
    match limits_error {
        Some(message) => Err(RpcError {
            code: ErrorCode::InvalidRequest,
            message,
            leader_hint: None,
        }),
        None => Ok(RequestKind::Write(command)),
    }
}

/// Consul's KV PUT: the same command as the native put, with flags.
fn classify_kv_set(
    key: &str,
    value: &[u8],
    flags: u64,
    cas: Option<u64>,
) -> Result<RequestKind, RpcError> {
    check_key(key, false)?;
    check_value(value)?;
    Ok(RequestKind::Write(Command::KvPut {
        key: key.to_owned(),
        value: bytes::Bytes::copy_from_slice(value),
        flags,
        cas,
    }))
}

/// Consul's KV DELETE: a delete, a delete-cas or a delete-tree.
fn classify_kv_remove(key: &str, mode: KvRemoveMode) -> Result<RequestKind, RpcError> {
    check_key(key, mode == KvRemoveMode::Tree)?;
    let key = key.to_owned();
    Ok(RequestKind::Write(match mode {
        KvRemoveMode::Single => Command::KvDelete { key, cas: None },
        KvRemoveMode::Cas { index } => Command::KvDelete {
            key,
            cas: Some(index),
        },
        KvRemoveMode::Tree => Command::KvDeleteTree { prefix: key },
    }))
}

fn txn_value_len(op: &TxnOp) -> usize {
    match op {
        TxnOp::Set { value, .. } | TxnOp::Cas { value, .. } => value.len(),
        _ => 0,
    }
}

/// A transaction is one `Txn` entry, unless it only reads.
fn classify_txn(ops: &[TxnOp]) -> Result<RequestKind, RpcError> {
    let command = Command::Txn { ops: ops.to_vec() };
    if let Some(error) = command.limits_error() {
        return Err(invalid(error));
    }
    // Consul's txn_max_req_len bounds a whole transaction as the HTTP API
    // takes it; a forwarded one is held to the same, so one entry stays
    // the size of one value.
    let bytes: usize = ops
        .iter()
        .map(|op| op.key().len() + txn_value_len(op))
        .sum();
    if bytes > MAX_VALUE_BYTES {
        return Err(invalid(format!(
            "transaction carries {bytes} bytes of keys and values, limit {MAX_VALUE_BYTES}"
        )));
    }
    let writes = ops.iter().any(|op| {
        !matches!(
            op,
            TxnOp::Get { .. }
                | TxnOp::GetTree { .. }
                | TxnOp::CheckIndex { .. }
                | TxnOp::CheckNotExists { .. }
        )
    });
    Ok(if writes {
        RequestKind::Write(command)
    } else {
        RequestKind::Read
    })
}

/// Classifies a request, refusing invalid writes before they reach the log
/// (an entry in the log costs every server a write, even if rejected).
pub fn classify(body: &RequestBody) -> Result<RequestKind, RpcError> {
    match body {
        RequestBody::KvPut { key, value, cas } => {
            check_key(key, false)?;
            if value.len() > MAX_VALUE_BYTES {
                return Err(invalid(format!(
                    "value is {} bytes, limit {MAX_VALUE_BYTES}",
                    value.len()
                )));
            }
            Ok(RequestKind::Write(Command::KvPut {
                key: key.clone(),
                value: value.clone(),
                flags: 0,
                cas: *cas,
            }))
        }
        RequestBody::KvDelete { key, recurse } => {
            check_key(key, *recurse)?;
            Ok(RequestKind::Write(if *recurse {
                Command::KvDeleteTree {
                    prefix: key.clone(),
                }
            } else {
                Command::KvDelete {
                    key: key.clone(),
                    cas: None,
                }
            }))
        }
        RequestBody::KvGet { key, .. } => {
            check_key(key, false)?;
            Ok(RequestKind::Read)
        }
        RequestBody::KvList { prefix, .. } => {
            check_key(prefix, true)?;
            Ok(RequestKind::Read)
        }
        RequestBody::CatalogNodes => Ok(RequestKind::Read),
        RequestBody::Join { .. }
        | RequestBody::Leave
        | RequestBody::Members
        | RequestBody::Peers
        | RequestBody::Info
        | RequestBody::Identity
        | RequestBody::ForceLeave { .. } => Ok(RequestKind::Agent),
        RequestBody::KvSet {
            key,
            value,
            flags,
            cas,
        } => classify_kv_set(key, value, *flags, *cas),
        RequestBody::KvRemove { key, mode } => classify_kv_remove(key, *mode),
        RequestBody::KvRead(read) => {
            check_key(&read.key, read.kind != KvReadKind::Entry)?;
            Ok(RequestKind::Read)
        }
        RequestBody::Txn { ops, .. } => classify_txn(ops),
        RequestBody::CatalogRead(_) => Ok(RequestKind::Read),
        RequestBody::CatalogRegister(request) => catalog_write(
            request.limits_error(),
            Command::CatalogRegistration(request.clone()),
        ),
        RequestBody::CatalogDeregister(request) => catalog_write(
            request.limits_error(),
            Command::CatalogDeregistration(request.clone()),
        ),
        RequestBody::RaftConfiguration { .. } => Ok(RequestKind::RaftView),
        RequestBody::RaftTransferLeader { .. } | RequestBody::RaftRemovePeer { .. } => {
            Ok(RequestKind::LeaderOnly)
        }
    }
}

/// Bytes of one KV entry in a `KvEntries` answer: key and value (each with
/// a u32 length) and two u64 indexes.
fn kv_entry_wire_bytes(key: &str, value: &[u8]) -> usize {
    4 + key.len() + 4 + value.len() + 8 + 8
}

/// Bytes of one node in a `CatalogNodes` answer: four length-prefixed
/// strings.
fn catalog_node_wire_bytes(node: &CatalogNode) -> usize {
    16 + node.name.len() + node.address.len() + node.role.len() + node.datacenter.len()
}

fn too_large(what: &str, count: usize, bytes: usize) -> RpcError {
    RpcError {
        code: ErrorCode::InvalidRequest,
        message: format!(
            "result too large: {what} is more than {count} items / {bytes} bytes, \
             over the answer limit of {MAX_ANSWER_BYTES} bytes; narrow the prefix"
        ),
        leader_hint: None,
    }
}

/// Answers a read from the state machine. A list whose answer would exceed
/// [`MAX_ANSWER_BYTES`] is an error (sizes are summed before anything is
/// copied); so is a request that is not a read.
pub fn answer_read(
    state: &StateMachine,
    body: &RequestBody,
    view: ServingView,
) -> Result<RpcResult, RpcError> {
    match body {
        RequestBody::KvRead(read) => answer_kv_read(state, read, view),
        RequestBody::CatalogRead(read) => answer_catalog_read(state, read, view),
        RequestBody::Txn { ops, .. } => answer_txn_read(state, ops, view),
        RequestBody::KvGet { key, .. } => Ok(RpcResult::KvValue(state.kv().entry(key))),
        RequestBody::KvList { prefix, .. } => {
            let mut bytes = 0usize;
            let mut count = 0usize;
            for (key, record) in state.kv().list(prefix) {
                bytes += kv_entry_wire_bytes(key, &record.value);
                count += 1;
                if bytes > MAX_ANSWER_BYTES {
                    return Err(too_large(&format!("prefix {prefix:?}"), count, bytes));
                }
            }
            Ok(RpcResult::KvEntries(state.kv().entries(prefix)))
        }
        RequestBody::CatalogNodes => {
            let mut bytes = 0usize;
            let mut count = 0usize;
            for node in state.catalog().nodes() {
                bytes += catalog_node_wire_bytes(node);
                count += 1;
                if bytes > MAX_ANSWER_BYTES {
                    return Err(too_large("the catalog", count, bytes));
                }
            }
            Ok(RpcResult::CatalogNodes(
                state.catalog().nodes().cloned().collect(),
            ))
        }
        _ => Err(invalid("not a read".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEW: ServingView = ServingView {
        known_leader: true,
        last_contact_ms: 0,
    };
    use crate::wire::client_message::Consistency;

    #[test]
    fn writes_become_commands_with_the_same_fields() {
        let body = RequestBody::KvPut {
            key: "k".into(),
            value: bytes::Bytes::from_static(b"v"),
            cas: Some(3),
        };
        assert_eq!(
            classify(&body).unwrap(),
            RequestKind::Write(Command::KvPut {
                key: "k".into(),
                value: bytes::Bytes::from_static(b"v"),
                flags: 0,
                cas: Some(3)
            })
        );
        let body = RequestBody::KvDelete {
            key: "".into(),
            recurse: true,
        };
        assert!(matches!(classify(&body), Ok(RequestKind::Write(_))));
    }

    #[test]
    fn invalid_writes_never_reach_the_log() {
        for body in [
            RequestBody::KvPut {
                key: "".into(),
                value: vec![].into(),
                cas: None,
            },
            RequestBody::KvPut {
                key: "k".repeat(MAX_KEY_BYTES + 1),
                value: vec![].into(),
                cas: None,
            },
            RequestBody::KvPut {
                key: "k".into(),
                value: vec![0; MAX_VALUE_BYTES + 1].into(),
                cas: None,
            },
            RequestBody::KvDelete {
                key: "".into(),
                recurse: false,
            },
        ] {
            assert_eq!(classify(&body).unwrap_err().code, ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn reads_are_answered_from_the_applied_state() {
        let mut state = StateMachine::new();
        let put = |key: &str| {
            Command::KvPut {
                key: key.into(),
                value: bytes::Bytes::from_static(b"v"),
                flags: 0,
                cas: None,
            }
            .to_bytes()
        };
        state.apply(1, &put("a/1"));
        state.apply(2, &put("a/2"));
        state.apply(3, &put("b"));
        let get = RequestBody::KvGet {
            key: "a/2".into(),
            consistency: Consistency::Stale,
        };
        assert_eq!(classify(&get).unwrap(), RequestKind::Read);
        let Ok(RpcResult::KvValue(Some(entry))) = answer_read(&state, &get, VIEW) else {
            panic!("a/2 exists");
        };
        assert_eq!(entry.modify_index, 2);
        let list = RequestBody::KvList {
            prefix: "a/".into(),
            consistency: Consistency::Default,
        };
        let Ok(RpcResult::KvEntries(entries)) = answer_read(&state, &list, VIEW) else {
            panic!("list answers");
        };
        assert_eq!(entries.len(), 2);
        assert!(answer_read(&state, &RequestBody::Members, VIEW).is_err());
    }

    /// Values of 512 KiB: 40 of them exceed a 16 MiB frame.
    fn state_with_large_values(count: u64) -> StateMachine {
        let mut state = StateMachine::new();
        for i in 1..=count {
            let put = Command::KvPut {
                key: format!("big/{i:04}"),
                value: vec![7; MAX_VALUE_BYTES].into(),
                flags: 0,
                cas: None,
            }
            .to_bytes();
            state.apply(i, &put);
        }
        state
    }

    #[test]
    fn a_list_answer_over_the_frame_limit_is_a_too_large_error() {
        let count = (DEFAULT_MAX_FRAME_BYTES as usize / MAX_VALUE_BYTES + 2) as u64;
        let state = state_with_large_values(count);
        let list = RequestBody::KvList {
            prefix: "big/".into(),
            consistency: Consistency::Stale,
        };
        let err = answer_read(&state, &list, VIEW).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.message.contains("result too large"), "{}", err.message);
    }

    #[test]
    fn every_list_answer_fits_in_one_frame() {
        use crate::wire::client_message::{ClientResponse, ResponseBody};
        use crate::wire::message::Message;
        // The largest answer allowed, encoded, fits the client's frame limit.
        let count =
            (MAX_ANSWER_BYTES / kv_entry_wire_bytes("big/0000", &[0; MAX_VALUE_BYTES])) as u64;
        let state = state_with_large_values(count);
        let list = RequestBody::KvList {
            prefix: "big/".into(),
            consistency: Consistency::Stale,
        };
        let result = answer_read(&state, &list, VIEW).unwrap();
        let response = ClientResponse {
            request_id: u64::MAX,
            body: ResponseBody::Ok(result),
        };
        let mut payload = Vec::new();
        response.encode_payload(&mut payload);
        assert!(payload.len() <= DEFAULT_MAX_FRAME_BYTES as usize - 16);
        assert!(payload.len() > MAX_ANSWER_BYTES - MAX_VALUE_BYTES);
    }

    #[test]
    fn a_catalog_answer_over_the_frame_limit_is_a_too_large_error() {
        let mut state = StateMachine::new();
        let name_bytes = 255;
        let count = MAX_ANSWER_BYTES / (16 + 3 * name_bytes) + 1;
        for i in 0..count {
            let register = Command::CatalogRegister(CatalogNode {
                name: format!("{i:0>255}"),
                address: "127.0.0.1:8301".into(),
                role: format!("{:0>255}", "r"),
                datacenter: format!("{:0>255}", "d"),
            })
            .to_bytes();
            state.apply(i as u64 + 1, &register);
        }
        let err = answer_read(&state, &RequestBody::CatalogNodes, VIEW).unwrap_err();
        assert!(err.message.contains("result too large"), "{}", err.message);
    }
}
