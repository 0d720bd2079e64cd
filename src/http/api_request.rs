//! What a Consul HTTP API request asks for, once routed: one variant per
//! endpoint, each with its parameters typed and already validated, so the
//! agent acts on meaning rather than on query strings.

use std::collections::BTreeMap;

use super::blocking::BlockingParams;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRequest {
    /// `GET /v1/kv/<key>`.
    KvGet(KvGet),
    /// `PUT /v1/kv/<key>`.
    KvPut(KvPut),
    /// `DELETE /v1/kv/<key>`.
    KvDelete(KvDelete),
    /// `PUT /v1/txn`.
    Txn(TxnRequest),
    /// `GET /v1/status/leader`.
    StatusLeader { blocking: BlockingParams },
    /// `GET /v1/status/peers`.
    StatusPeers { blocking: BlockingParams },
    /// `GET /v1/agent/self`.
    AgentSelf,
    /// `GET /v1/agent/members`.
    AgentMembers(AgentMembers),
    /// `PUT /v1/agent/join/<address>`.
    AgentJoin { address: String, wan: bool },
    /// `PUT /v1/agent/leave`.
    AgentLeave,
    /// `PUT /v1/agent/force-leave/<node>`.
    AgentForceLeave {
        node: String,
        prune: bool,
        wan: bool,
    },
    /// `PUT /v1/agent/reload`.
    AgentReload,
    /// `GET /v1/agent/metrics`.
    AgentMetrics { format: MetricsFormat },
    /// The agent's own services and checks.
    AgentLocal(super::agent_local_request::AgentLocalRequest),
    /// `GET /v1/catalog/nodes`.
    CatalogNodes(CatalogNodes),
    /// `GET /v1/catalog/node/<node>`.
    CatalogNode {
        node: String,
        blocking: BlockingParams,
    },
    /// `GET /v1/catalog/datacenters`.
    CatalogDatacenters,
    /// `GET /v1/catalog/services`.
    CatalogServices(CatalogServices),
    /// `GET /v1/catalog/service/<name>` and `/v1/health/*`.
    ServiceRead(ServiceRead),
    /// `PUT /v1/catalog/register`.
    CatalogRegister(Box<crate::wire::catalog_registration::RegisterRequest>),
    /// `PUT /v1/catalog/deregister`.
    CatalogDeregister(crate::wire::catalog_registration::DeregisterRequest),
    /// `GET /v1/operator/raft/configuration`.
    OperatorRaftConfiguration { blocking: BlockingParams },
    /// `DELETE /v1/operator/raft/peer`.
    OperatorRaftRemovePeer {
        peer: RaftPeer,
        datacenter: Option<String>,
    },
    /// `POST /v1/operator/raft/transfer-leader`; `None` lets the leader
    /// pick the target.
    OperatorRaftTransferLeader { id: Option<String> },
    /// `GET /v1/operator/autopilot/health`.
    OperatorAutopilotHealth { blocking: BlockingParams },
    /// `OPTIONS` on a known path: Consul answers 200 with an `Allow` header
    /// listing OPTIONS and the path's methods.
    Options { allow: &'static [&'static str] },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvGet {
    /// Without the `/v1/kv/` prefix; empty only with `recurse` or `keys`.
    pub key: String,
    /// `?recurse`: every entry under the prefix `key`.
    pub recurse: bool,
    /// `?keys`: only key names under the prefix `key`.
    pub keys_only: bool,
    /// `?separator` (or Consul's historic `?seperator`), with `keys` only:
    /// list up to the first separator after the prefix.
    pub separator: Option<String>,
    /// `?raw`: the bare value as the body; ignored with `recurse`, as Consul
    /// ignores it.
    pub raw: bool,
    pub blocking: BlockingParams,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvPut {
    pub key: String,
    /// `?flags`: opaque to Consul, the full u64 range.
    pub flags: u64,
    pub mode: KvPutMode,
    /// The raw request body.
    pub value: Vec<u8>,
    pub datacenter: Option<String>,
}

/// At most one of `?cas`, `?acquire`, `?release` may be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvPutMode {
    Set,
    /// Write only if the entry's ModifyIndex is this (0: only if absent).
    Cas {
        index: u64,
    },
    /// Take the lock for this session, writing the value.
    Acquire {
        session: String,
    },
    /// Release this session's lock, writing the value.
    Release {
        session: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvDelete {
    pub key: String,
    pub mode: KvDeleteMode,
    pub datacenter: Option<String>,
}

/// `?recurse` and `?cas` may not be combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvDeleteMode {
    Single,
    /// Every key under the prefix (an empty key deletes everything).
    Recurse,
    /// Delete only if the entry's ModifyIndex is this.
    Cas {
        index: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRequest {
    pub ops: Vec<TxnKvOp>,
    /// Only read-only transactions honour the read options; Consul ignores
    /// them (except `dc`) when the transaction writes.
    pub blocking: BlockingParams,
}

impl TxnRequest {
    /// Consul fast-paths a transaction without writes to a read that any
    /// server may answer.
    pub fn is_read_only(&self) -> bool {
        self.ops.iter().all(|op| !op.verb.is_write())
    }
}

/// One `{"KV": {...}}` operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnKvOp {
    pub verb: KvVerb,
    pub key: String,
    /// Decoded from base64; `None` when absent or JSON null.
    pub value: Option<Vec<u8>>,
    pub flags: u64,
    pub index: u64,
    pub session: String,
}

/// The KV verbs of Consul's transaction API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvVerb {
    Set,
    Cas,
    Lock,
    Unlock,
    Get,
    GetOrEmpty,
    GetTree,
    CheckIndex,
    CheckSession,
    CheckNotExists,
    Delete,
    DeleteTree,
    DeleteCas,
}

impl KvVerb {
    pub const ALL: [KvVerb; 13] = [
        KvVerb::Set,
        KvVerb::Cas,
        KvVerb::Lock,
        KvVerb::Unlock,
        KvVerb::Get,
        KvVerb::GetOrEmpty,
        KvVerb::GetTree,
        KvVerb::CheckIndex,
        KvVerb::CheckSession,
        KvVerb::CheckNotExists,
        KvVerb::Delete,
        KvVerb::DeleteTree,
        KvVerb::DeleteCas,
    ];

    /// Verbs are matched exactly, as Consul's state store switches on them.
    pub fn from_name(name: &str) -> Option<KvVerb> {
        KvVerb::ALL.into_iter().find(|verb| verb.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            KvVerb::Set => "set",
            KvVerb::Cas => "cas",
            KvVerb::Lock => "lock",
            KvVerb::Unlock => "unlock",
            KvVerb::Get => "get",
            KvVerb::GetOrEmpty => "get-or-empty",
            KvVerb::GetTree => "get-tree",
            KvVerb::CheckIndex => "check-index",
            KvVerb::CheckSession => "check-session",
            KvVerb::CheckNotExists => "check-not-exists",
            KvVerb::Delete => "delete",
            KvVerb::DeleteTree => "delete-tree",
            KvVerb::DeleteCas => "delete-cas",
        }
    }

    /// Consul's `isWrite`: the verbs that change the store.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            KvVerb::Set
                | KvVerb::Cas
                | KvVerb::Lock
                | KvVerb::Unlock
                | KvVerb::Delete
                | KvVerb::DeleteTree
                | KvVerb::DeleteCas
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMembers {
    /// `?wan` with a non-empty value (Consul tests `Get("wan") != ""`).
    pub wan: bool,
    /// `?segment`; `_all` asks for every segment.
    pub segment: Option<String>,
    /// `?filter`: an expression over each member's JSON.
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsFormat {
    Json,
    /// `?format=prometheus`.
    Prometheus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogNodes {
    pub blocking: BlockingParams,
    /// `?near`: sort by round-trip time from this node (`_agent`: this one).
    pub near: Option<String>,
    /// `?node-meta=key:value`, repeatable; a repeated key keeps the last.
    pub node_meta: BTreeMap<String, String>,
    /// `?filter`: a bexpr filter expression, passed through unparsed.
    pub filter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogServices {
    pub blocking: BlockingParams,
    pub node_meta: BTreeMap<String, String>,
    pub filter: Option<String>,
}

/// The service and health reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceReadKind {
    /// `/v1/catalog/service/<name>` with `?tag=` (repeatable).
    CatalogService { name: String, tags: Vec<String> },
    /// `/v1/health/service/<name>` with `?tag=` and `?passing`.
    HealthService {
        name: String,
        tags: Vec<String>,
        passing: bool,
    },
    /// `/v1/health/checks/<service>`.
    HealthChecks { service: String },
    /// `/v1/health/node/<node>`.
    HealthNode { node: String },
    /// `/v1/health/state/<state>`; `None` is `any`.
    HealthState {
        state: Option<crate::wire::catalog_registration::CheckStatus>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRead {
    pub kind: ServiceReadKind,
    pub blocking: BlockingParams,
    /// `?node-meta=key:value`: instances (or checks) on nodes with these.
    pub node_meta: BTreeMap<String, String>,
    /// `?filter`, unparsed.
    pub filter: Option<String>,
}

/// Which server `DELETE /v1/operator/raft/peer` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaftPeer {
    Id(String),
    Address(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verb_names_round_trip() {
        for verb in KvVerb::ALL {
            assert_eq!(KvVerb::from_name(verb.name()), Some(verb));
        }
        assert_eq!(KvVerb::from_name("SET"), None);
    }

    #[test]
    fn read_only_transactions_have_no_write_verbs() {
        let op = |verb| TxnKvOp {
            verb,
            key: "k".to_string(),
            value: None,
            flags: 0,
            index: 0,
            session: String::new(),
        };
        let reads = TxnRequest {
            ops: vec![op(KvVerb::Get), op(KvVerb::CheckIndex)],
            blocking: BlockingParams::default(),
        };
        assert!(reads.is_read_only());
        let mixed = TxnRequest {
            ops: vec![op(KvVerb::Get), op(KvVerb::Set)],
            blocking: BlockingParams::default(),
        };
        assert!(!mixed.is_read_only());
    }
}
