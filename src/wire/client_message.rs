//! Client RPC messages (connection purpose `CLIENT`): what the `node` CLI and
//! `node bench` send to an agent, and what a server forwards to the leader.
//! Requests carry an ID chosen by the sender so one connection can carry many
//! requests in flight; the response echoes it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Consistency {
    /// Served by the leader without a quorum round (Consul's default mode).
    #[default]
    Default,
    /// Linearizable: the leader confirms leadership with a quorum (ReadIndex).
    Consistent,
    /// Served by any server from its local state, possibly behind.
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ClientRequest {
    pub request_id: u64,
    pub body: RequestBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum RequestBody {
    KvGet {
        key: String,
        consistency: Consistency,
    },
    /// `cas`: `None` writes unconditionally; `Some(0)` creates only if the key
    /// is absent; `Some(i)` writes only if the key's ModifyIndex is `i`.
    KvPut {
        key: String,
        value: Vec<u8>,
        cas: Option<u64>,
    },
    KvDelete {
        key: String,
        recurse: bool,
    },
    KvList {
        prefix: String,
        consistency: Consistency,
    },
    /// Ask the agent to join the gossip pool through these addresses.
    Join {
        addresses: Vec<String>,
    },
    Leave,
    Members,
    Peers,
    Info,
    CatalogNodes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ClientResponse {
    pub request_id: u64,
    pub body: ResponseBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum ResponseBody {
    Ok(RpcResult),
    Err(RpcError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum ErrorCode {
    /// This server is not the leader; `leader_hint` names it when known.
    NotLeader,
    /// No leader is known after the bounded wait (`No cluster leader`).
    NoLeader,
    /// A put with a CAS index that did not match.
    CasFailed,
    KeyNotFound,
    InvalidRequest,
    /// The request needs a server and this agent is a client with none known.
    NoServers,
    Timeout,
    /// Refused because the peer belongs to another cluster.
    ClusterMismatch,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    /// `IP:PORT` of the leader, when known (with `NotLeader`).
    pub leader_hint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct MemberInfo {
    pub name: String,
    pub address: String,
    /// alive, failed, left (as `node members` prints).
    pub status: String,
    /// server or client.
    pub role: String,
    pub build: String,
    pub protocol: u8,
    pub datacenter: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct PeerInfo {
    pub name: String,
    pub id: u64,
    pub address: String,
    /// leader, follower or non-voter.
    pub state: String,
    pub voter: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CatalogNode {
    pub name: String,
    pub address: String,
    pub role: String,
    pub datacenter: String,
}

/// One titled section of `node info`, as ordered key/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct InfoSection {
    pub name: String,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum RpcResult {
    /// `None` when the key does not exist.
    KvValue(Option<KvEntry>),
    KvEntries(Vec<KvEntry>),
    /// The index at which the write was applied.
    KvWritten {
        index: u64,
    },
    KvDeleted {
        index: u64,
    },
    /// How many addresses were contacted successfully, and the error for
    /// each address that failed.
    Joined {
        contacted: u32,
        errors: Vec<(String, String)>,
    },
    Left,
    Members(Vec<MemberInfo>),
    Peers(Vec<PeerInfo>),
    Info(Vec<InfoSection>),
    CatalogNodes(Vec<CatalogNode>),
}

/// Limits from Consul: keys up to 512 bytes, values up to 512 KiB.
pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 512 * 1024;
