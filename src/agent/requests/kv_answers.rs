//! The answers of Consul's KV requests: reads (one key, a tree, key names)
//! and read-only transactions from the state machine with the serving
//! server's query metadata, and the answers of applied writes. Large
//! answers are refused by size before anything is copied, as the native
//! lists are.

use crate::state_machine::{ApplyResult, DirEntry, StateMachine, TxnOpError, TxnOutcome};
use crate::wire::client_kv::{KvDirEntry, KvRead, KvReadAnswer, KvReadKind, ReadMeta, TxnAnswer};
use crate::wire::client_message::{ErrorCode, RpcError, RpcResult};
use crate::wire::command::TxnOp;

use crate::agent::requests::routing::MAX_ANSWER_BYTES;

/// What the server serving a read knows of its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServingView {
    pub known_leader: bool,
    /// Since the leader was last heard; 0 on the leader.
    pub last_contact_ms: u64,
}

impl ServingView {
    pub(crate) fn meta(self, index: u64) -> ReadMeta {
        ReadMeta {
            index: index.max(1),
            known_leader: self.known_leader,
            last_contact_ms: self.last_contact_ms,
        }
    }
}

pub fn dir_entry(entry: &DirEntry) -> KvDirEntry {
    KvDirEntry {
        key: entry.key.clone(),
        value: entry
            .value
            .as_deref()
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        flags: entry.flags,
        create_index: entry.create_index,
        modify_index: entry.modify_index,
        lock_index: entry.lock_index,
        session: entry.session.clone(),
    }
}

fn too_large(prefix: &str, bytes: usize) -> RpcError {
    RpcError {
        code: ErrorCode::InvalidRequest,
        message: format!(
            "result too large: prefix {prefix:?} holds more than {bytes} bytes, over the \
             answer limit of {MAX_ANSWER_BYTES} bytes; narrow the prefix"
        ),
        leader_hint: None,
    }
}

/// Entries as an answer, refused when their encoding would pass the bound.
fn entries_answer(prefix: &str, entries: &[DirEntry]) -> Result<Vec<KvDirEntry>, RpcError> {
    let mut bytes = 0usize;
    for entry in entries {
        bytes += 64 + entry.key.len() + entry.value.as_ref().map_or(0, |v| v.len());
        if bytes > MAX_ANSWER_BYTES {
            return Err(too_large(prefix, bytes));
        }
    }
    Ok(entries.iter().map(dir_entry).collect())
}

pub fn answer_kv_read(
    state: &StateMachine,
    read: &KvRead,
    view: ServingView,
) -> Result<RpcResult, RpcError> {
    let (index, answer) = match &read.kind {
        KvReadKind::Entry => {
            let found = state.kv_get(&read.key);
            let entries: Vec<KvDirEntry> = found.entry.iter().map(dir_entry).collect();
            (found.index, KvReadAnswer::Entries(entries))
        }
        KvReadKind::Tree => {
            let found = state.kv_list(&read.key);
            let entries = entries_answer(&read.key, &found.entries)?;
            (found.index, KvReadAnswer::Entries(entries))
        }
        KvReadKind::Keys { separator } => {
            let found = state.kv_keys(&read.key, separator.as_deref());
            let bytes: usize = found.keys.iter().map(|k| 4 + k.len()).sum();
            if bytes > MAX_ANSWER_BYTES {
                return Err(too_large(&read.key, bytes));
            }
            (found.index, KvReadAnswer::Keys(found.keys))
        }
    };
    Ok(RpcResult::KvRead {
        meta: view.meta(index),
        answer,
    })
}

fn txn_answer(outcome: &TxnOutcome) -> Result<TxnAnswer, RpcError> {
    Ok(match outcome {
        TxnOutcome::Committed { results } => TxnAnswer::Committed {
            results: entries_answer("", results)?,
        },
        TxnOutcome::Failed { errors } => TxnAnswer::Failed {
            errors: errors
                .iter()
                .map(|TxnOpError { op_index, what }| (*op_index, what.clone()))
                .collect(),
        },
    })
}

/// A transaction without write verbs, read from the state (Consul's
/// `Txn.Read`): its index is the store's.
pub fn answer_txn_read(
    state: &StateMachine,
    ops: &[TxnOp],
    view: ServingView,
) -> Result<RpcResult, RpcError> {
    let outcome = state.txn_read(ops);
    Ok(RpcResult::Txn {
        meta: view.meta(state.kv().table_index()),
        answer: txn_answer(&outcome)?,
    })
}

/// The HTTP API's answer to an applied write: `true`/`false` for a put or
/// delete (a failed check-and-set is `false`, not an error, as in Consul),
/// the results or errors of a transaction.
pub fn consul_write_answer(result: &ApplyResult) -> Result<RpcResult, RpcError> {
    match result {
        ApplyResult::KvWritten { index } | ApplyResult::KvDeleted { index, .. } => {
            Ok(RpcResult::KvApplied {
                applied: true,
                index: *index,
            })
        }
        ApplyResult::KvCasFailed { .. } | ApplyResult::KvDeleteCasFailed { .. } => {
            Ok(RpcResult::KvApplied {
                applied: false,
                index: 0,
            })
        }
        ApplyResult::CatalogRegistered { index }
        | ApplyResult::CatalogDeregistered { index, .. } => {
            Ok(RpcResult::CatalogWritten { index: *index })
        }
        ApplyResult::Txn { index, outcome } => Ok(RpcResult::Txn {
            meta: ReadMeta {
                index: *index,
                known_leader: true,
                last_contact_ms: 0,
            },
            answer: txn_answer(outcome)?,
        }),
        other => other.to_rpc(),
    }
}
