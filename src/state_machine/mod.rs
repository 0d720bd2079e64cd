//! The replicated state machine: the KV store, the node catalog and the
//! client session table, changed only by applying committed entries in log
//! order. `apply` is a pure function of (state, index, bytes), so every
//! server that applies the same log reaches the same state (Raft §5.3).
//!
//! # What the agent calls
//!
//! **Writing.** Build a [`Command`], wrap it in an [`Envelope`] (the
//! leader's wall-clock `timestamp_ms`, set when it proposes, and optionally
//! a [`ClientSequence`]), propose `envelope.encode(&command, &mut data)`,
//! and when the entry commits call [`StateMachine::apply`]. It returns an
//! [`Applied`]: `result` is the client's answer ([`ApplyResult`];
//! `to_rpc()` for the native protocol), `changes` lists the keys written or
//! deleted and the trees deleted, and [`KvWatch::is_affected_by`] tells
//! whether a blocking query on a key or prefix must wake. Check
//! [`Command::limits_error`] before proposing.
//!
//! **Reading.** [`StateMachine::kv_get`], [`StateMachine::kv_list`] and
//! [`StateMachine::kv_keys`] return the entries and the blocking-query
//! index (`X-Consul-Index`): never below 1, never backwards at one server
//! (see [`kv_store::KvStore::key_index`] and
//! [`kv_store::KvStore::prefix_index`]). A woken query re-reads and, if the
//! index is still not past the client's, waits again.
//!
//! **Exactly-once writes** ([`client_sessions`]). The agent proposes
//! `Command::RegisterClient` (no client in its envelope); the answer
//! `ApplyResult::ClientRegistered { client_id }` is the new session's id
//! (the entry's log index). Each write then carries `ClientSequence {
//! client_id, sequence, first_unacknowledged }`: `sequence` increases by
//! one per new write of the session and is reused, unchanged, by a retry;
//! `first_unacknowledged` is the lowest sequence whose answer the agent
//! has not yet received (its answers below are forgotten). Keep at most
//! `MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT` writes in flight per session (use
//! several sessions for more). A duplicate is answered with the original
//! result and `duplicate: true`, and is not applied again.
//! [`Applied::session_expired`] means the session is gone (idle an hour of
//! log time, or evicted): register again. A write never sent before may be
//! resent in the new session; a retry of a write whose first attempt may
//! have been applied must not be (its outcome is unknown: report it so).
//!
//! Commands without a client (catalog reconciliation, the current native
//! protocol path) apply each time they commit, as before.

pub mod answer_codec;
pub mod apply_result;
pub mod catalog;
pub mod changes;
pub mod client_sessions;
pub mod kv_store;
pub mod services;
pub mod snapshot_codec;
mod snapshot_sections;
mod snapshot_services;
pub mod tombstones;
mod txn;

use bytes::Bytes;

use crate::wire::command::{Command, LogCommand};

use crate::state_machine::catalog::Catalog;
use crate::state_machine::client_sessions::{Admission, ClientSessions};
use crate::state_machine::kv_store::{KeyRead, KeysRead, KvStore, PrefixRead};

pub use crate::state_machine::apply_result::{
    Applied, ApplyResult, CommandRejection, TxnOpError, TxnOutcome,
};
pub use crate::state_machine::changes::{Changes, KvChanges, KvWatch};
pub use crate::state_machine::kv_store::{CasMismatch, DirEntry};
pub use crate::state_machine::txn::go_quoted;
pub use crate::wire::command::{ClientSequence, Envelope, TxnOp};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateMachine {
    kv: KvStore,
    catalog: Catalog,
    sessions: ClientSessions,
    /// The index of the last entry applied (or restored from a snapshot).
    applied_index: u64,
    /// The newest leader timestamp seen in the log, in ms: the clock session
    /// expiry runs on. A new leader's clock may be behind the old one's, so
    /// this takes the maximum and never moves back.
    log_time_ms: u64,
}

impl StateMachine {
    pub fn new() -> Self {
        StateMachine::default()
    }

    pub(crate) fn from_parts(
        kv: KvStore,
        catalog: Catalog,
        sessions: ClientSessions,
        applied_index: u64,
        log_time_ms: u64,
    ) -> Self {
        StateMachine {
            kv,
            catalog,
            sessions,
            applied_index,
            log_time_ms,
        }
    }

    pub fn kv(&self) -> &KvStore {
        &self.kv
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn sessions(&self) -> &ClientSessions {
        &self.sessions
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    pub fn log_time_ms(&self) -> u64 {
        self.log_time_ms
    }

    /// One key with its value, and its blocking-query index.
    pub fn kv_get(&self, key: &str) -> KeyRead {
        self.kv.read_key(key)
    }

    /// Every key under `prefix` with values, and the prefix's index.
    pub fn kv_list(&self, prefix: &str) -> PrefixRead {
        self.kv.read_prefix(prefix)
    }

    /// Keys under `prefix`, rolled up at `separator` as Consul's
    /// `?keys&separator=` does, and the prefix's index.
    pub fn kv_keys(&self, prefix: &str, separator: Option<&str>) -> KeysRead {
        self.kv.read_keys(prefix, separator)
    }

    /// A transaction without write verbs, evaluated on the current state
    /// (Consul's `Txn.Read`): nothing changes. Write verbs, if any, act on
    /// a scratch copy that is dropped.
    pub fn txn_read(&self, ops: &[TxnOp]) -> TxnOutcome {
        let mut scratch = self.kv.clone();
        let index = self.applied_index.max(scratch.table_index());
        txn::apply_txn(&mut scratch, index, ops).0
    }

    /// Records that a log entry without a command (a leader's no-op, a
    /// configuration change) was applied, so `applied_index` tracks the log.
    pub fn skip(&mut self, index: u64) {
        assert!(
            index > self.applied_index,
            "entries are applied in log order: {index} after {}",
            self.applied_index
        );
        self.applied_index = index;
    }

    /// Applies the entry stored at log `index`. Indexes must increase:
    /// applying out of order would be a bug in the caller, not bad input
    /// (after a snapshot restore, entries up to `applied_index` are skipped
    /// by the caller).
    ///
    /// The values it stores share `command_bytes` (no copy), or get their
    /// own buffer when small next to it ([`crate::wire::reader::Reader::shared_bytes`]).
    pub fn apply(&mut self, index: u64, command_bytes: &Bytes) -> Applied {
        self.skip(index);
        let entry = match LogCommand::decode_shared(command_bytes) {
            Ok(entry) => entry,
            Err(err) => {
                return Applied::unchanged(ApplyResult::Rejected(CommandRejection::Undecodable(
                    err,
                )));
            }
        };
        self.log_time_ms = self.log_time_ms.max(entry.envelope.timestamp_ms);
        self.sessions.expire_idle(self.log_time_ms);
        let Some(client) = entry.envelope.client else {
            return self.execute(index, entry.command);
        };
        match self.sessions.admit(index, self.log_time_ms, &client) {
            Admission::Fresh => {
                let applied = self.execute(index, entry.command);
                self.sessions.retain(&client, index, &applied.result);
                applied
            }
            Admission::Duplicate(result) => Applied {
                duplicate: true,
                ..Applied::unchanged(result)
            },
            Admission::Refused(rejection) => Applied::unchanged(ApplyResult::Rejected(rejection)),
        }
    }

    fn execute(&mut self, index: u64, command: Command) -> Applied {
        let mut changes = Changes::default();
        let result = match command {
            Command::KvPut {
                key,
                value,
                flags,
                cas,
            } => self.put(index, key, value, flags, cas, &mut changes.kv),
            Command::KvDelete { key, cas } => self.delete(index, key, cas, &mut changes.kv),
            Command::KvDeleteTree { prefix } => {
                let removed = self.kv.delete_tree(index, &prefix) as u64;
                if removed > 0 {
                    changes.kv.add_tree(&prefix);
                }
                ApplyResult::KvDeleted { index, removed }
            }
            Command::Txn { ops } => {
                let (outcome, kv_changes) = txn::apply_txn(&mut self.kv, index, &ops);
                changes.kv = kv_changes;
                ApplyResult::Txn { index, outcome }
            }
            Command::CatalogRegister(node) if node.name.is_empty() => {
                ApplyResult::Rejected(CommandRejection::EmptyKey)
            }
            Command::CatalogRegister(node) => {
                let change = self.catalog.register_node(node, index);
                changes.record_catalog(change);
                ApplyResult::CatalogRegistered { index }
            }
            Command::CatalogDeregister { name } => {
                let change = self.catalog.deregister_node(&name, index);
                let existed = change.changed;
                changes.record_catalog(change);
                ApplyResult::CatalogDeregistered { index, existed }
            }
            Command::CatalogRegistration(request) => {
                match self.catalog.apply_registration(&request, index) {
                    Ok(change) => {
                        changes.record_catalog(change);
                        ApplyResult::CatalogRegistered { index }
                    }
                    Err(reason) => ApplyResult::Rejected(CommandRejection::CatalogRefused(reason)),
                }
            }
            Command::CatalogDeregistration(request) => {
                match self.catalog.apply_deregistration(&request, index) {
                    Ok(change) => {
                        let existed = change.changed;
                        changes.record_catalog(change);
                        ApplyResult::CatalogDeregistered { index, existed }
                    }
                    Err(reason) => ApplyResult::Rejected(CommandRejection::CatalogRefused(reason)),
                }
            }
            Command::RegisterClient => {
                self.sessions.register(index, self.log_time_ms);
                ApplyResult::ClientRegistered { client_id: index }
            }
        };
        Applied {
            result,
            changes,
            duplicate: false,
        }
    }

    fn put(
        &mut self,
        index: u64,
        key: String,
        value: Bytes,
        flags: u64,
        cas: Option<u64>,
        changes: &mut KvChanges,
    ) -> ApplyResult {
        if key.is_empty() {
            return ApplyResult::Rejected(CommandRejection::EmptyKey);
        }
        match self.kv.put(index, &key, value, flags, cas) {
            Ok(outcome) => {
                if outcome.changed {
                    changes.add_key(&key);
                }
                ApplyResult::KvWritten { index }
            }
            Err(mismatch) => ApplyResult::KvCasFailed { key, mismatch },
        }
    }

    fn delete(
        &mut self,
        index: u64,
        key: String,
        cas: Option<u64>,
        changes: &mut KvChanges,
    ) -> ApplyResult {
        if key.is_empty() {
            return ApplyResult::Rejected(CommandRejection::EmptyKey);
        }
        let removed = match cas {
            None => Ok(self.kv.delete(index, &key)),
            Some(cas) => self.kv.delete_cas(index, &key, cas),
        };
        match removed {
            Ok(removed) => {
                if removed {
                    changes.add_key(&key);
                }
                ApplyResult::KvDeleted {
                    index,
                    removed: u64::from(removed),
                }
            }
            Err(mismatch) => ApplyResult::KvDeleteCasFailed { key, mismatch },
        }
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
