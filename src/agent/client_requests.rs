//! How a client request meets the replicated state: writes become
//! [`Command`]s to propose through Raft, reads are answered from the local
//! [`StateMachine`]. Requests about the agent itself (join, leave, members,
//! peers, info) are neither and stay with the agent.

use crate::wire::client_message::{
    ErrorCode, MAX_KEY_BYTES, MAX_VALUE_BYTES, RequestBody, RpcError, RpcResult,
};
use crate::wire::command::Command;

use super::state_machine::StateMachine;

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
                cas: *cas,
            }))
        }
        RequestBody::KvDelete { key, recurse } => {
            check_key(key, *recurse)?;
            Ok(RequestKind::Write(Command::KvDelete {
                key: key.clone(),
                recurse: *recurse,
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
        | RequestBody::Info => Ok(RequestKind::Agent),
    }
}

/// Answers a read from the state machine. `None` for requests that are not
/// reads.
pub fn answer_read(state: &StateMachine, body: &RequestBody) -> Option<RpcResult> {
    match body {
        RequestBody::KvGet { key, .. } => Some(RpcResult::KvValue(state.kv().entry(key))),
        RequestBody::KvList { prefix, .. } => {
            Some(RpcResult::KvEntries(state.kv().entries(prefix)))
        }
        RequestBody::CatalogNodes => Some(RpcResult::CatalogNodes(
            state.catalog().nodes().cloned().collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::Consistency;

    #[test]
    fn writes_become_commands_with_the_same_fields() {
        let body = RequestBody::KvPut {
            key: "k".into(),
            value: b"v".to_vec(),
            cas: Some(3),
        };
        assert_eq!(
            classify(&body).unwrap(),
            RequestKind::Write(Command::KvPut {
                key: "k".into(),
                value: b"v".to_vec(),
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
                value: vec![],
                cas: None,
            },
            RequestBody::KvPut {
                key: "k".repeat(MAX_KEY_BYTES + 1),
                value: vec![],
                cas: None,
            },
            RequestBody::KvPut {
                key: "k".into(),
                value: vec![0; MAX_VALUE_BYTES + 1],
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
                value: b"v".to_vec(),
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
        let Some(RpcResult::KvValue(Some(entry))) = answer_read(&state, &get) else {
            panic!("a/2 exists");
        };
        assert_eq!(entry.modify_index, 2);
        let list = RequestBody::KvList {
            prefix: "a/".into(),
            consistency: Consistency::Default,
        };
        let Some(RpcResult::KvEntries(entries)) = answer_read(&state, &list) else {
            panic!("list answers");
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(answer_read(&state, &RequestBody::Members), None);
    }
}
