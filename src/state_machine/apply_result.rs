//! What applying one log entry answers: the result the client is told
//! ([`ApplyResult`]), and with it what changed ([`Applied`]).

use crate::state_machine::changes::Changes;
use crate::state_machine::kv_store::{CasMismatch, DirEntry};
use crate::wire::WireError;
use crate::wire::client_message::{ErrorCode, RpcError, RpcResult};

/// The answer to one command. Every server computes the same one for the
/// same entry; for a write inside a client session it is also what a
/// duplicate of that write is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyResult {
    KvWritten {
        index: u64,
    },
    KvCasFailed {
        key: String,
        mismatch: CasMismatch,
    },
    /// A delete, delete-cas or delete-tree; `removed` keys were deleted.
    KvDeleted {
        index: u64,
        removed: u64,
    },
    KvDeleteCasFailed {
        key: String,
        mismatch: CasMismatch,
    },
    /// A transaction applied at `index`: committed, or failed with nothing
    /// applied.
    Txn {
        index: u64,
        outcome: TxnOutcome,
    },
    CatalogRegistered {
        index: u64,
    },
    CatalogDeregistered {
        index: u64,
        existed: bool,
    },
    /// A client session was opened; its id is the entry's log index.
    ClientRegistered {
        client_id: u64,
    },
    /// A duplicate of a write applied at `applied_index` whose answer was
    /// too large to keep (over `MAX_RETAINED_ANSWER_BYTES`): the write was
    /// applied once, its result is gone.
    ResultNotRetained {
        applied_index: u64,
    },
    /// Not applied. The index is still consumed, identically everywhere.
    Rejected(CommandRejection),
}

/// A transaction's outcome, as Consul's `/v1/txn` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Every operation applied. The entries each operation returns, in
    /// operation order: get and get-tree with values; set, cas and
    /// check-index without; the others none.
    Committed { results: Vec<DirEntry> },
    /// At least one operation failed, so none applied.
    Failed { errors: Vec<TxnOpError> },
}

/// Consul's `TxnError`: which operation failed and Consul's text for why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOpError {
    pub op_index: u32,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandRejection {
    /// The entry's bytes are not a valid command.
    Undecodable(WireError),
    /// A KV write (put, delete, delete-cas) without a key.
    EmptyKey,
    /// The write names a client session this state does not hold: never
    /// registered, expired after idling, or evicted. The agent registers a
    /// new session; see the module docs for what it may resend.
    SessionExpired { client_id: u64 },
    /// The write's sequence number is below what the client acknowledged:
    /// its answer was already delivered and forgotten.
    SequenceAcknowledged {
        client_id: u64,
        sequence: u64,
        first_unacknowledged: u64,
    },
    /// The client acknowledges a sequence number at or past the write that
    /// carries the acknowledgement.
    AcknowledgementAhead {
        client_id: u64,
        sequence: u64,
        first_unacknowledged: u64,
    },
    /// The session already holds the most answers it may
    /// (`MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT`); the client must
    /// acknowledge older ones first. Not applied, so it may be resent.
    TooManyUnacknowledged { client_id: u64, limit: usize },
    /// A catalog registration or deregistration the catalog refused, with
    /// Consul's reason (a check of a missing service, no node name, ...).
    CatalogRefused(String),
}

impl std::fmt::Display for CommandRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandRejection::Undecodable(err) => write!(f, "undecodable command: {err}"),
            CommandRejection::EmptyKey => write!(f, "key must not be empty"),
            CommandRejection::SessionExpired { client_id } => {
                write!(f, "client session {client_id} is unknown or expired")
            }
            CommandRejection::SequenceAcknowledged {
                client_id,
                sequence,
                first_unacknowledged,
            } => write!(
                f,
                "client session {client_id}: sequence {sequence} is below the acknowledged \
                 {first_unacknowledged}"
            ),
            CommandRejection::AcknowledgementAhead {
                client_id,
                sequence,
                first_unacknowledged,
            } => write!(
                f,
                "client session {client_id}: acknowledgement {first_unacknowledged} is past \
                 the write's own sequence {sequence}"
            ),
            CommandRejection::TooManyUnacknowledged { client_id, limit } => write!(
                f,
                "client session {client_id} has {limit} unacknowledged answers, the limit"
            ),
            CommandRejection::CatalogRefused(reason) => f.write_str(reason),
        }
    }
}

/// One applied entry: its answer, and what it changed for watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub result: ApplyResult,
    /// Empty for rejections, failed conditions, duplicates, and writes that
    /// changed nothing.
    pub changes: Changes,
    /// The entry repeated a write of its client session already applied;
    /// `result` is that write's original answer.
    pub duplicate: bool,
}

impl Applied {
    pub(crate) fn unchanged(result: ApplyResult) -> Applied {
        Applied {
            result,
            changes: Changes::default(),
            duplicate: false,
        }
    }

    /// Whether the agent must register a new client session.
    pub fn session_expired(&self) -> bool {
        matches!(
            self.result,
            ApplyResult::Rejected(CommandRejection::SessionExpired { .. })
        )
    }

    /// The native-protocol answer (see [`ApplyResult::to_rpc`]).
    pub fn to_rpc(&self) -> Result<RpcResult, RpcError> {
        self.result.to_rpc()
    }
}

impl ApplyResult {
    /// Whether a client session may keep this answer for a duplicate: every
    /// answer except the ones that mean "not applied because of the session
    /// or the bytes" (those are answered afresh each time).
    pub fn is_retainable(&self) -> bool {
        !matches!(
            self,
            ApplyResult::Rejected(
                CommandRejection::Undecodable(_)
                    | CommandRejection::SessionExpired { .. }
                    | CommandRejection::SequenceAcknowledged { .. }
                    | CommandRejection::AcknowledgementAhead { .. }
                    | CommandRejection::TooManyUnacknowledged { .. }
            )
        )
    }

    /// The response a native-protocol client gets for its write.
    /// Transactions and session registrations have no native-protocol
    /// request; the agent reads those results directly.
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
            ApplyResult::KvCasFailed { key, .. } | ApplyResult::KvDeleteCasFailed { key, .. } => {
                Err(error(
                    ErrorCode::CasFailed,
                    format!("CAS failed for key {key}"),
                ))
            }
            ApplyResult::Txn { .. } | ApplyResult::ClientRegistered { .. } => Err(error(
                ErrorCode::Internal,
                "this result has no native-protocol answer".into(),
            )),
            ApplyResult::ResultNotRetained { applied_index } => Err(error(
                ErrorCode::Internal,
                format!("the write was applied at index {applied_index}; its result was not kept"),
            )),
            ApplyResult::Rejected(reason) => {
                Err(error(ErrorCode::InvalidRequest, reason.to_string()))
            }
        }
    }
}
