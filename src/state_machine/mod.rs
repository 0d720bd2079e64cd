//! The replicated state machine: the KV store and the node catalog, changed
//! only by applying committed commands in log order. `apply` is a pure
//! function of (state, index, bytes), so every server that applies the same
//! log reaches the same state (Raft §5.3: replicated state machines).

pub mod catalog;
pub mod kv_store;
pub mod snapshot_codec;

use crate::wire::WireError;
use crate::wire::client_message::{ErrorCode, RpcError, RpcResult};
use crate::wire::command::Command;

use crate::state_machine::catalog::Catalog;
use crate::state_machine::kv_store::{CasMismatch, KvStore};

/// What applying one command did; the leader turns it into the client's
/// response with [`ApplyResult::to_rpc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyResult {
    KvWritten {
        index: u64,
    },
    KvCasFailed {
        key: String,
        mismatch: CasMismatch,
    },
    KvDeleted {
        index: u64,
        removed: usize,
    },
    CatalogRegistered {
        index: u64,
    },
    CatalogDeregistered {
        index: u64,
        existed: bool,
    },
    /// The entry's bytes are not a valid command, or the command is invalid
    /// (an empty key). Every server rejects it the same way, so the replicas
    /// stay identical; the index is still consumed.
    Rejected(CommandRejection),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRejection {
    Undecodable(WireError),
    EmptyKey,
}

impl std::fmt::Display for CommandRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandRejection::Undecodable(err) => write!(f, "undecodable command: {err}"),
            CommandRejection::EmptyKey => write!(f, "key must not be empty"),
        }
    }
}

impl ApplyResult {
    /// The response a client gets for its write.
    pub fn to_rpc(&self) -> Result<RpcResult, RpcError> {
        let error = |code, message: String| RpcError {
            code,
            message,
            leader_hint: None,
        };
        match self {
            ApplyResult::KvWritten { index } => Ok(RpcResult::KvWritten { index: *index }),
            ApplyResult::KvDeleted { index, .. } => Ok(RpcResult::KvDeleted { index: *index }),
            ApplyResult::CatalogRegistered { index } => Ok(RpcResult::KvWritten { index: *index }),
            ApplyResult::CatalogDeregistered { index, .. } => {
                Ok(RpcResult::KvDeleted { index: *index })
            }
            ApplyResult::KvCasFailed { key, .. } => Err(error(
                ErrorCode::CasFailed,
                format!("CAS failed for key {key}"),
            )),
            ApplyResult::Rejected(reason) => {
                Err(error(ErrorCode::InvalidRequest, reason.to_string()))
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateMachine {
    kv: KvStore,
    catalog: Catalog,
    /// The index of the last entry applied (or restored from a snapshot).
    applied_index: u64,
}

impl StateMachine {
    pub fn new() -> Self {
        StateMachine::default()
    }

    pub(crate) fn from_parts(kv: KvStore, catalog: Catalog, applied_index: u64) -> Self {
        StateMachine {
            kv,
            catalog,
            applied_index,
        }
    }

    pub fn kv(&self) -> &KvStore {
        &self.kv
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
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

    /// Applies the command stored at log `index`. Indexes must increase:
    /// applying out of order would be a bug in the caller, not bad input
    /// (after a snapshot restore, entries up to `applied_index` are skipped
    /// by the caller).
    pub fn apply(&mut self, index: u64, command_bytes: &[u8]) -> ApplyResult {
        self.skip(index);
        let command = match Command::decode(command_bytes) {
            Ok(command) => command,
            Err(err) => return ApplyResult::Rejected(CommandRejection::Undecodable(err)),
        };
        self.apply_command(index, command)
    }

    fn apply_command(&mut self, index: u64, command: Command) -> ApplyResult {
        match command {
            Command::KvPut { key, value, cas } => {
                if key.is_empty() {
                    return ApplyResult::Rejected(CommandRejection::EmptyKey);
                }
                match self.kv.put(index, &key, value, cas) {
                    Ok(()) => ApplyResult::KvWritten { index },
                    Err(mismatch) => ApplyResult::KvCasFailed { key, mismatch },
                }
            }
            Command::KvDelete { key, recurse } => {
                let removed = if recurse {
                    self.kv.delete_prefix(&key)
                } else {
                    usize::from(self.kv.delete(&key))
                };
                ApplyResult::KvDeleted { index, removed }
            }
            Command::CatalogRegister(node) => {
                if node.name.is_empty() {
                    return ApplyResult::Rejected(CommandRejection::EmptyKey);
                }
                self.catalog.register(node);
                ApplyResult::CatalogRegistered { index }
            }
            Command::CatalogDeregister { name } => {
                let existed = self.catalog.deregister(&name);
                ApplyResult::CatalogDeregistered { index, existed }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::CatalogNode;

    fn put(key: &str, value: &[u8], cas: Option<u64>) -> Vec<u8> {
        Command::KvPut {
            key: key.into(),
            value: value.to_vec(),
            cas,
        }
        .to_bytes()
    }

    #[test]
    fn apply_uses_the_log_index_as_the_kv_index() {
        let mut sm = StateMachine::new();
        assert_eq!(
            sm.apply(3, &put("k", b"v", None)),
            ApplyResult::KvWritten { index: 3 }
        );
        sm.skip(4);
        sm.apply(7, &put("k", b"w", None));
        let record = sm.kv().get("k").unwrap();
        assert_eq!((record.create_index, record.modify_index), (3, 7));
        assert_eq!(sm.applied_index(), 7);
    }

    #[test]
    fn cas_failure_is_a_result_not_a_write() {
        let mut sm = StateMachine::new();
        sm.apply(1, &put("k", b"v", None));
        let result = sm.apply(2, &put("k", b"w", Some(0)));
        assert!(matches!(result, ApplyResult::KvCasFailed { .. }));
        assert_eq!(result.to_rpc().unwrap_err().code, ErrorCode::CasFailed);
        assert_eq!(sm.kv().get("k").unwrap().value[..], *b"v");
        assert_eq!(sm.applied_index(), 2);
    }

    #[test]
    fn undecodable_command_is_rejected_and_consumes_its_index() {
        let mut sm = StateMachine::new();
        let result = sm.apply(1, &[0xde, 0xad]);
        assert!(matches!(
            result,
            ApplyResult::Rejected(CommandRejection::Undecodable(_))
        ));
        assert_eq!(sm.applied_index(), 1);
        assert!(sm.kv().is_empty());
    }

    #[test]
    fn empty_key_put_is_rejected() {
        let mut sm = StateMachine::new();
        assert_eq!(
            sm.apply(1, &put("", b"v", None)),
            ApplyResult::Rejected(CommandRejection::EmptyKey)
        );
    }

    #[test]
    fn recursive_delete_through_apply_counts_removed_keys() {
        let mut sm = StateMachine::new();
        sm.apply(1, &put("a/1", b"", None));
        sm.apply(2, &put("a/2", b"", None));
        sm.apply(3, &put("b", b"", None));
        let del = Command::KvDelete {
            key: "a/".into(),
            recurse: true,
        };
        assert_eq!(
            sm.apply(4, &del.to_bytes()),
            ApplyResult::KvDeleted {
                index: 4,
                removed: 2
            }
        );
        assert_eq!(sm.kv().len(), 1);
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
        sm.apply(1, &Command::CatalogRegister(node.clone()).to_bytes());
        assert_eq!(sm.catalog().get("n1"), Some(&node));
        let result = sm.apply(
            2,
            &Command::CatalogDeregister { name: "n1".into() }.to_bytes(),
        );
        assert_eq!(
            result,
            ApplyResult::CatalogDeregistered {
                index: 2,
                existed: true
            }
        );
        assert!(sm.catalog().is_empty());
    }

    #[test]
    #[should_panic(expected = "applied in log order")]
    fn applying_an_old_index_is_a_bug() {
        let mut sm = StateMachine::new();
        sm.apply(5, &put("k", b"v", None));
        sm.apply(5, &put("k", b"v", None));
    }
}
