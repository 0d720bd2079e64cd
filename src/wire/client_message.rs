//! Client RPC messages (connection purpose `CLIENT`): what the `node` CLI and
//! `node bench` send to an agent, and what a server forwards to the leader.
//! Requests carry an ID chosen by the sender so one connection can carry many
//! requests in flight; the response echoes it.

use bytes::Bytes;

use super::catalog_registration::{DeregisterRequest, RegisterRequest};
use super::client_catalog::{
    CatalogAnswer, CatalogRead, decode_catalog_node, encode_catalog_node, encode_catalog_result,
};
use super::client_kv::{
    KvRead, KvReadAnswer, KvRemoveMode, ReadMeta, TxnAnswer, decode_kv_remove, decode_kv_set,
    decode_txn, encode_kv_remove, encode_kv_set, encode_txn,
};
use super::client_operator::RaftConfigurationView;
use super::command::TxnOp;
use super::error::WireError;
use super::message::Message;
use super::reader::Reader;
use super::writer::WriteExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Consistency {
    /// Served by the leader (Consul's default mode). The leader confirms
    /// its leadership with a quorum first, as for `Consistent`: serving
    /// from its own state alone returned stale values around leader changes.
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
    /// `value` shares the request's frame (see [`Reader::shared_bytes`]).
    KvPut {
        key: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = super::arbitrary_bytes))]
        value: Bytes,
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
    /// Server to server: "who are you" ([`ServerIdentity`]).
    Identity,
    /// Consul's KV PUT: `flags` stored with the value; `cas` as in
    /// `KvPut`. A failed check is the answer `applied: false`, not an error.
    KvSet {
        key: String,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
    },
    /// Consul's KV DELETE, answered `applied` (false: a cas that failed).
    KvRemove {
        key: String,
        mode: KvRemoveMode,
    },
    /// Consul's KV GET, with its blocking-query index and wait.
    KvRead(KvRead),
    /// Consul's `/v1/txn`: applied as one entry, or (without write verbs)
    /// read with `consistency`.
    Txn {
        ops: Vec<TxnOp>,
        consistency: Consistency,
    },
    /// Consul's catalog reads, with their blocking-query index and wait.
    CatalogRead(CatalogRead),
    /// The Raft configuration as the leader sees it (as this server sees
    /// it with `Stale`).
    RaftConfiguration {
        consistency: Consistency,
    },
    /// Hand leadership to this server (`None`: the most up-to-date other
    /// voter); answered once another server leads.
    RaftTransferLeader {
        target: Option<u64>,
    },
    /// Remove a server from the Raft configuration; answered once the
    /// change commits.
    /// Consul's `Catalog.Register`: applied as one entry.
    CatalogRegister(Box<RegisterRequest>),
    /// Consul's `Catalog.Deregister`.
    CatalogDeregister(DeregisterRequest),
    RaftRemovePeer {
        peer: PeerRef,
    },
    /// Consul's `force-leave`: move a failed gossip member to left (and
    /// with `prune` forget it here at once). Answered by the agent itself.
    ForceLeave {
        node: String,
        prune: bool,
    },
}

/// A server of the Raft configuration, as an operator names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum PeerRef {
    Id(u64),
    Address(String),
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
    /// A bound on waiting work (blocking queries) is reached; retry later.
    TooManyRequests,
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
    /// Shares the KV store's record: an answer copies the value only into
    /// the connection's write buffer.
    #[cfg_attr(feature = "fuzzing", arbitrary(with = super::arbitrary_bytes))]
    pub value: Bytes,
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
    Identity(ServerIdentity),
    /// A `KvSet` or `KvRemove` applied at `index`; `applied` is false when
    /// its check-and-set failed.
    KvApplied {
        applied: bool,
        index: u64,
    },
    /// A catalog registration or deregistration applied at `index`.
    CatalogWritten {
        index: u64,
    },
    /// A `KvRead`'s entries or keys, with what the serving server knew.
    KvRead {
        meta: ReadMeta,
        answer: KvReadAnswer,
    },
    /// A transaction's outcome; `meta.index` is its entry's index for one
    /// that wrote.
    Txn {
        meta: ReadMeta,
        answer: TxnAnswer,
    },
    /// A `CatalogRead`'s nodes or services, with what the serving server
    /// knew.
    CatalogRead {
        meta: ReadMeta,
        answer: CatalogAnswer,
    },
    RaftConfiguration(RaftConfigurationView),
    /// The server that leads after a transfer.
    LeadershipTransferred {
        leader: u64,
    },
    /// The server removed and the index of the committed configuration.
    PeerRemoved {
        id: u64,
        index: u64,
    },
    /// A `ForceLeave` done: the member is left (or forgotten).
    ForcedLeave,
}

/// What one agent asks another about itself, server to server: the leader
/// before it adds a joining server, a leaving server to learn whether its
/// removal is committed. Typed, so no machine parses text meant for people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServerIdentity {
    pub node_name: String,
    /// 0 for a client agent (it holds no Raft state).
    pub raft_id: u64,
    /// 0 until the server is part of a cluster.
    pub cluster_id: u128,
    /// The server's data directory holds Raft state.
    pub has_raft_data: bool,
    /// The server IDs of the configuration in effect at its applied index
    /// (committed); `None` when it has none.
    pub committed_servers: Option<Vec<u64>>,
}

/// Servers in one committed configuration an identity carries.
pub const MAX_IDENTITY_SERVERS: usize = 1024;

/// Limits from Consul: keys up to 512 bytes, values up to 512 KiB.
pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 512 * 1024;
/// Node names, datacenters, roles, states, build strings, info section names.
pub const MAX_NAME_BYTES: usize = 255;
/// `IP:PORT` or `host:port`.
pub const MAX_ADDRESS_BYTES: usize = 255;
/// Free text: error messages, per-address join errors, `node info` fields.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Addresses in one join request. Each one becomes a TCP push/pull carrying
/// our whole member table, so a request naming a million addresses (a 16 MiB
/// frame of short strings) must be refused, not attempted.
pub const MAX_JOIN_ADDRESSES: usize = 256;

/// Message type bytes of client requests (range 0x20-0x3F).
pub const TYPE_KV_GET: u8 = 0x20;
pub const TYPE_KV_PUT: u8 = 0x21;
pub const TYPE_KV_DELETE: u8 = 0x22;
pub const TYPE_KV_LIST: u8 = 0x23;
pub const TYPE_JOIN: u8 = 0x24;
pub const TYPE_LEAVE: u8 = 0x25;
pub const TYPE_MEMBERS: u8 = 0x26;
pub const TYPE_PEERS: u8 = 0x27;
pub const TYPE_INFO: u8 = 0x28;
pub const TYPE_CATALOG_NODES: u8 = 0x29;
pub const TYPE_IDENTITY: u8 = 0x2A;
pub const TYPE_KV_SET: u8 = 0x2B;
pub const TYPE_KV_REMOVE: u8 = 0x2C;
pub const TYPE_KV_READ: u8 = 0x2D;
pub const TYPE_TXN: u8 = 0x2E;
pub const TYPE_CATALOG_READ: u8 = 0x2F;
pub const TYPE_RAFT_CONFIGURATION: u8 = 0x30;
pub const TYPE_RAFT_TRANSFER_LEADER: u8 = 0x31;
pub const TYPE_RAFT_REMOVE_PEER: u8 = 0x32;
pub const TYPE_CATALOG_REGISTER: u8 = 0x33;
pub const TYPE_CATALOG_DEREGISTER: u8 = 0x34;
pub const TYPE_FORCE_LEAVE: u8 = 0x35;
/// Request types are `TYPE_KV_GET..=LAST_REQUEST_TYPE`, with no gap.
const LAST_REQUEST_TYPE: u8 = TYPE_FORCE_LEAVE;

/// Message type bytes of client responses (range 0x40-0x5F).
pub const TYPE_KV_VALUE_RESULT: u8 = 0x40;
pub const TYPE_KV_ENTRIES_RESULT: u8 = 0x41;
pub const TYPE_KV_WRITTEN_RESULT: u8 = 0x42;
pub const TYPE_KV_DELETED_RESULT: u8 = 0x43;
pub const TYPE_JOINED_RESULT: u8 = 0x44;
pub const TYPE_LEFT_RESULT: u8 = 0x45;
pub const TYPE_MEMBERS_RESULT: u8 = 0x46;
pub const TYPE_PEERS_RESULT: u8 = 0x47;
pub const TYPE_INFO_RESULT: u8 = 0x48;
pub const TYPE_CATALOG_NODES_RESULT: u8 = 0x49;
pub const TYPE_IDENTITY_RESULT: u8 = 0x4A;
pub const TYPE_KV_APPLIED_RESULT: u8 = 0x4B;
pub const TYPE_KV_READ_RESULT: u8 = 0x4C;
pub const TYPE_TXN_RESULT: u8 = 0x4D;
pub const TYPE_CATALOG_READ_RESULT: u8 = 0x4E;
pub const TYPE_RAFT_CONFIGURATION_RESULT: u8 = 0x4F;
pub const TYPE_LEADERSHIP_TRANSFERRED_RESULT: u8 = 0x50;
pub const TYPE_PEER_REMOVED_RESULT: u8 = 0x51;
pub const TYPE_CATALOG_WRITTEN_RESULT: u8 = 0x52;
pub const TYPE_FORCED_LEAVE_RESULT: u8 = 0x53;
/// Result types are `TYPE_KV_VALUE_RESULT..=LAST_RESULT_TYPE` (and the
/// error type), with no gap.
const LAST_RESULT_TYPE: u8 = TYPE_FORCED_LEAVE_RESULT;
pub const TYPE_ERROR_RESULT: u8 = 0x5F;

/// Minimum encodings, for [`Reader::count`]: each string or byte field is at
/// least its 4-byte length.
const MIN_STRING_BYTES: usize = 4;
/// key (4) + value (4) + create_index (8) + modify_index (8).
const MIN_KV_ENTRY_BYTES: usize = 24;
/// Two strings.
const MIN_STRING_PAIR_BYTES: usize = 8;
/// Six strings + protocol (1).
const MIN_MEMBER_BYTES: usize = 25;
/// name (4) + id (8) + address (4) + state (4) + voter (1).
const MIN_PEER_BYTES: usize = 21;
/// name (4) + field count (4).
const MIN_INFO_SECTION_BYTES: usize = 8;
/// Four strings.
const MIN_CATALOG_NODE_BYTES: usize = 16;

impl Consistency {
    pub fn to_byte(self) -> u8 {
        match self {
            Consistency::Default => 0,
            Consistency::Consistent => 1,
            Consistency::Stale => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            0 => Ok(Consistency::Default),
            1 => Ok(Consistency::Consistent),
            2 => Ok(Consistency::Stale),
            other => Err(WireError::InvalidValue {
                field: "consistency",
                value: u64::from(other),
            }),
        }
    }
}

impl ErrorCode {
    /// Codes start at 1 so an all-zero payload is not a valid error.
    pub fn to_byte(self) -> u8 {
        match self {
            ErrorCode::NotLeader => 1,
            ErrorCode::NoLeader => 2,
            ErrorCode::CasFailed => 3,
            ErrorCode::KeyNotFound => 4,
            ErrorCode::InvalidRequest => 5,
            ErrorCode::NoServers => 6,
            ErrorCode::Timeout => 7,
            ErrorCode::ClusterMismatch => 8,
            ErrorCode::Internal => 9,
            ErrorCode::TooManyRequests => 10,
        }
    }

    pub fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            1 => Ok(ErrorCode::NotLeader),
            2 => Ok(ErrorCode::NoLeader),
            3 => Ok(ErrorCode::CasFailed),
            4 => Ok(ErrorCode::KeyNotFound),
            5 => Ok(ErrorCode::InvalidRequest),
            6 => Ok(ErrorCode::NoServers),
            7 => Ok(ErrorCode::Timeout),
            8 => Ok(ErrorCode::ClusterMismatch),
            9 => Ok(ErrorCode::Internal),
            10 => Ok(ErrorCode::TooManyRequests),
            other => Err(WireError::InvalidValue {
                field: "error.code",
                value: u64::from(other),
            }),
        }
    }
}

/// An optional u64: presence byte (0 or 1), then the value when present.
fn put_option_u64(out: &mut Vec<u8>, value: Option<u64>) {
    out.put_bool(value.is_some());
    if let Some(v) = value {
        out.put_u64(v);
    }
}

fn read_option_u64(r: &mut Reader<'_>, field: &'static str) -> Result<Option<u64>, WireError> {
    Ok(if r.bool(field)? { Some(r.u64()?) } else { None })
}

fn encode_kv_entry(entry: &KvEntry, out: &mut Vec<u8>) {
    out.put_string(&entry.key);
    out.put_bytes(&entry.value);
    out.put_u64(entry.create_index);
    out.put_u64(entry.modify_index);
}

fn decode_kv_entry(r: &mut Reader<'_>) -> Result<KvEntry, WireError> {
    Ok(KvEntry {
        key: r.string("kv.key", MAX_KEY_BYTES)?,
        value: r.shared_bytes("kv.value", MAX_VALUE_BYTES)?,
        create_index: r.u64()?,
        modify_index: r.u64()?,
    })
}

fn encode_string_pairs(pairs: &[(String, String)], out: &mut Vec<u8>) {
    out.put_count(pairs.len());
    for (a, b) in pairs {
        out.put_string(a);
        out.put_string(b);
    }
}

fn decode_string_pairs(
    r: &mut Reader<'_>,
    first: &'static str,
    first_max: usize,
    second: &'static str,
) -> Result<Vec<(String, String)>, WireError> {
    let count = r.count(MIN_STRING_PAIR_BYTES)?;
    let mut pairs = Vec::with_capacity(count);
    for _ in 0..count {
        let a = r.string(first, first_max)?;
        let b = r.string(second, MAX_TEXT_BYTES)?;
        pairs.push((a, b));
    }
    Ok(pairs)
}

/// Decodes `count` then that many elements with `decode_one`.
fn decode_identity(r: &mut Reader<'_>) -> Result<ServerIdentity, WireError> {
    let node_name = r.string("identity.node_name", MAX_NAME_BYTES)?;
    let raft_id = r.u64()?;
    let cluster_id = r.u128()?;
    let has_raft_data = r.bool("identity.has_raft_data")?;
    let known = r.bool("identity.committed_known")?;
    // The count is checked before any ID is decoded.
    let count = r.count(8)?;
    if count > MAX_IDENTITY_SERVERS {
        return Err(WireError::FieldTooLong {
            field: "identity.committed_servers",
            len: count,
            max: MAX_IDENTITY_SERVERS,
        });
    }
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        servers.push(r.u64()?);
    }
    if !known && !servers.is_empty() {
        // Servers of a configuration it says it does not have.
        return Err(WireError::InvalidValue {
            field: "identity.committed_servers",
            value: count as u64,
        });
    }
    Ok(ServerIdentity {
        node_name,
        raft_id,
        cluster_id,
        has_raft_data,
        committed_servers: known.then_some(servers),
    })
}

fn decode_list<'a, T>(
    r: &mut Reader<'a>,
    min_element_bytes: usize,
    mut decode_one: impl FnMut(&mut Reader<'a>) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    let count = r.count(min_element_bytes)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(decode_one(r)?);
    }
    Ok(items)
}

/// A blocking read's part of the request: the index its result must pass
/// and how long the serving server may hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    pub min_index: u64,
    pub wait_ms: u64,
}

impl RequestBody {
    /// `Some` for a KV or catalog read with a blocking query's index.
    pub fn blocking(&self) -> Option<Blocking> {
        let (min_index, wait_ms) = match self {
            RequestBody::KvRead(read) => (read.min_index, read.wait_ms),
            RequestBody::CatalogRead(read) => (read.min_index, read.wait_ms),
            _ => return None,
        };
        (min_index > 0).then_some(Blocking { min_index, wait_ms })
    }

    /// A blocking read's wait, to cut when forwarding it.
    pub fn blocking_wait_ms_mut(&mut self) -> Option<&mut u64> {
        match self {
            RequestBody::KvRead(read) if read.is_blocking() => Some(&mut read.wait_ms),
            RequestBody::CatalogRead(read) if read.is_blocking() => Some(&mut read.wait_ms),
            _ => None,
        }
    }

    /// The consistency a read asks for (`Default` for what is not a read
    /// or has no choice).
    pub fn read_consistency(&self) -> Consistency {
        match self {
            RequestBody::KvGet { consistency, .. }
            | RequestBody::KvList { consistency, .. }
            | RequestBody::Txn { consistency, .. } => *consistency,
            RequestBody::KvRead(read) => read.consistency,
            RequestBody::CatalogRead(read) => read.consistency,
            RequestBody::RaftConfiguration { consistency } => *consistency,
            _ => Consistency::Default,
        }
    }

    pub fn message_type(&self) -> u8 {
        match self {
            RequestBody::KvGet { .. } => TYPE_KV_GET,
            RequestBody::KvPut { .. } => TYPE_KV_PUT,
            RequestBody::KvDelete { .. } => TYPE_KV_DELETE,
            RequestBody::KvList { .. } => TYPE_KV_LIST,
            RequestBody::Join { .. } => TYPE_JOIN,
            RequestBody::Leave => TYPE_LEAVE,
            RequestBody::Members => TYPE_MEMBERS,
            RequestBody::Peers => TYPE_PEERS,
            RequestBody::Info => TYPE_INFO,
            RequestBody::CatalogNodes => TYPE_CATALOG_NODES,
            RequestBody::Identity => TYPE_IDENTITY,
            RequestBody::KvSet { .. } => TYPE_KV_SET,
            RequestBody::KvRemove { .. } => TYPE_KV_REMOVE,
            RequestBody::KvRead(_) => TYPE_KV_READ,
            RequestBody::Txn { .. } => TYPE_TXN,
            RequestBody::CatalogRead(_) => TYPE_CATALOG_READ,
            RequestBody::RaftConfiguration { .. } => TYPE_RAFT_CONFIGURATION,
            RequestBody::RaftTransferLeader { .. } => TYPE_RAFT_TRANSFER_LEADER,
            RequestBody::RaftRemovePeer { .. } => TYPE_RAFT_REMOVE_PEER,
            RequestBody::CatalogRegister(_) => TYPE_CATALOG_REGISTER,
            RequestBody::CatalogDeregister(_) => TYPE_CATALOG_DEREGISTER,
            RequestBody::ForceLeave { .. } => TYPE_FORCE_LEAVE,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RequestBody::KvGet { key, consistency } => {
                out.put_string(key);
                out.put_u8(consistency.to_byte());
            }
            RequestBody::KvPut { key, value, cas } => {
                out.put_string(key);
                out.put_bytes(value);
                put_option_u64(out, *cas);
            }
            RequestBody::KvDelete { key, recurse } => {
                out.put_string(key);
                out.put_bool(*recurse);
            }
            RequestBody::KvList {
                prefix,
                consistency,
            } => {
                out.put_string(prefix);
                out.put_u8(consistency.to_byte());
            }
            RequestBody::Join { addresses } => {
                out.put_count(addresses.len());
                for address in addresses {
                    out.put_string(address);
                }
            }
            RequestBody::Leave
            | RequestBody::Members
            | RequestBody::Peers
            | RequestBody::Info
            | RequestBody::CatalogNodes
            | RequestBody::Identity => {}
            RequestBody::KvSet {
                key,
                value,
                flags,
                cas,
            } => encode_kv_set(key, value, *flags, *cas, out),
            RequestBody::KvRemove { key, mode } => encode_kv_remove(key, *mode, out),
            RequestBody::KvRead(read) => read.encode(out),
            RequestBody::Txn { ops, consistency } => encode_txn(ops, *consistency, out),
            RequestBody::CatalogRead(read) => read.encode(out),
            RequestBody::RaftConfiguration { consistency } => out.put_u8(consistency.to_byte()),
            RequestBody::RaftTransferLeader { target } => put_option_u64(out, *target),
            RequestBody::CatalogRegister(request) => request.encode(out),
            RequestBody::CatalogDeregister(request) => request.encode(out),
            RequestBody::RaftRemovePeer { peer } => match peer {
                PeerRef::Id(id) => {
                    out.put_u8(0);
                    out.put_u64(*id);
                }
                PeerRef::Address(address) => {
                    out.put_u8(1);
                    out.put_string(address);
                }
            },
            RequestBody::ForceLeave { node, prune } => {
                out.put_string(node);
                out.put_bool(*prune);
            }
        }
    }

    fn decode(message_type: u8, r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match message_type {
            TYPE_KV_GET => RequestBody::KvGet {
                key: r.string("kv_get.key", MAX_KEY_BYTES)?,
                consistency: Consistency::from_byte(r.u8()?)?,
            },
            TYPE_KV_PUT => RequestBody::KvPut {
                key: r.string("kv_put.key", MAX_KEY_BYTES)?,
                value: r.shared_bytes("kv_put.value", MAX_VALUE_BYTES)?,
                cas: read_option_u64(r, "kv_put.cas")?,
            },
            TYPE_KV_DELETE => RequestBody::KvDelete {
                key: r.string("kv_delete.key", MAX_KEY_BYTES)?,
                recurse: r.bool("kv_delete.recurse")?,
            },
            TYPE_KV_LIST => RequestBody::KvList {
                prefix: r.string("kv_list.prefix", MAX_KEY_BYTES)?,
                consistency: Consistency::from_byte(r.u8()?)?,
            },
            TYPE_JOIN => {
                // The count is checked before any address is decoded.
                let count =
                    r.count_at_most(MIN_STRING_BYTES, MAX_JOIN_ADDRESSES, "join.addresses")?;
                let mut addresses = Vec::with_capacity(count);
                for _ in 0..count {
                    addresses.push(r.string("join.address", MAX_ADDRESS_BYTES)?);
                }
                RequestBody::Join { addresses }
            }
            TYPE_LEAVE => RequestBody::Leave,
            TYPE_MEMBERS => RequestBody::Members,
            TYPE_PEERS => RequestBody::Peers,
            TYPE_INFO => RequestBody::Info,
            TYPE_CATALOG_NODES => RequestBody::CatalogNodes,
            TYPE_IDENTITY => RequestBody::Identity,
            TYPE_KV_SET => {
                let (key, value, flags, cas) = decode_kv_set(r)?;
                RequestBody::KvSet {
                    key,
                    value,
                    flags,
                    cas,
                }
            }
            TYPE_KV_REMOVE => {
                let (key, mode) = decode_kv_remove(r)?;
                RequestBody::KvRemove { key, mode }
            }
            TYPE_KV_READ => RequestBody::KvRead(KvRead::decode(r)?),
            TYPE_CATALOG_READ => RequestBody::CatalogRead(CatalogRead::decode(r)?),
            TYPE_CATALOG_REGISTER => {
                RequestBody::CatalogRegister(Box::new(RegisterRequest::decode(r)?))
            }
            TYPE_CATALOG_DEREGISTER => {
                RequestBody::CatalogDeregister(DeregisterRequest::decode(r)?)
            }
            TYPE_RAFT_CONFIGURATION => RequestBody::RaftConfiguration {
                consistency: Consistency::from_byte(r.u8()?)?,
            },
            TYPE_RAFT_TRANSFER_LEADER => RequestBody::RaftTransferLeader {
                target: read_option_u64(r, "raft_transfer_leader.target")?,
            },
            TYPE_RAFT_REMOVE_PEER => RequestBody::RaftRemovePeer {
                peer: match r.u8()? {
                    0 => PeerRef::Id(r.u64()?),
                    1 => PeerRef::Address(r.string("raft_remove_peer.address", MAX_ADDRESS_BYTES)?),
                    other => {
                        return Err(WireError::InvalidValue {
                            field: "raft_remove_peer.kind",
                            value: u64::from(other),
                        });
                    }
                },
            },
            TYPE_TXN => {
                let (ops, consistency) = decode_txn(r)?;
                RequestBody::Txn { ops, consistency }
            }
            TYPE_FORCE_LEAVE => RequestBody::ForceLeave {
                node: r.string("force_leave.node", MAX_NAME_BYTES)?,
                prune: r.bool("force_leave.prune")?,
            },
            other => return Err(WireError::UnknownMessageType(other)),
        })
    }
}

/// Layout: `request_id u64 | body`, the body chosen by the message type byte.
impl Message for ClientRequest {
    fn message_type(&self) -> u8 {
        self.body.message_type()
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.put_u64(self.request_id);
        self.body.encode(out);
    }

    fn decode(message_type: u8, payload: &[u8]) -> Result<Self, WireError> {
        ClientRequest::decode_from(message_type, Reader::new(payload))
    }

    fn decode_shared(message_type: u8, payload: &Bytes) -> Result<Self, WireError> {
        ClientRequest::decode_from(message_type, Reader::shared(payload))
    }
}

impl ClientRequest {
    fn decode_from(message_type: u8, mut r: Reader<'_>) -> Result<Self, WireError> {
        if !(TYPE_KV_GET..=LAST_REQUEST_TYPE).contains(&message_type) {
            return Err(WireError::UnknownMessageType(message_type));
        }
        let request_id = r.u64()?;
        let body = RequestBody::decode(message_type, &mut r)?;
        r.finish()?;
        Ok(ClientRequest { request_id, body })
    }
}

impl ResponseBody {
    pub fn message_type(&self) -> u8 {
        match self {
            ResponseBody::Err(_) => TYPE_ERROR_RESULT,
            ResponseBody::Ok(result) => match result {
                RpcResult::KvValue(_) => TYPE_KV_VALUE_RESULT,
                RpcResult::KvEntries(_) => TYPE_KV_ENTRIES_RESULT,
                RpcResult::KvWritten { .. } => TYPE_KV_WRITTEN_RESULT,
                RpcResult::KvDeleted { .. } => TYPE_KV_DELETED_RESULT,
                RpcResult::Joined { .. } => TYPE_JOINED_RESULT,
                RpcResult::Left => TYPE_LEFT_RESULT,
                RpcResult::Members(_) => TYPE_MEMBERS_RESULT,
                RpcResult::Peers(_) => TYPE_PEERS_RESULT,
                RpcResult::Info(_) => TYPE_INFO_RESULT,
                RpcResult::CatalogNodes(_) => TYPE_CATALOG_NODES_RESULT,
                RpcResult::Identity(_) => TYPE_IDENTITY_RESULT,
                RpcResult::KvApplied { .. } => TYPE_KV_APPLIED_RESULT,
                RpcResult::KvRead { .. } => TYPE_KV_READ_RESULT,
                RpcResult::Txn { .. } => TYPE_TXN_RESULT,
                RpcResult::CatalogRead { .. } => TYPE_CATALOG_READ_RESULT,
                RpcResult::RaftConfiguration(_) => TYPE_RAFT_CONFIGURATION_RESULT,
                RpcResult::LeadershipTransferred { .. } => TYPE_LEADERSHIP_TRANSFERRED_RESULT,
                RpcResult::PeerRemoved { .. } => TYPE_PEER_REMOVED_RESULT,
                RpcResult::CatalogWritten { .. } => TYPE_CATALOG_WRITTEN_RESULT,
                RpcResult::ForcedLeave => TYPE_FORCED_LEAVE_RESULT,
            },
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ResponseBody::Err(error) => {
                out.put_u8(error.code.to_byte());
                out.put_string(&error.message);
                out.put_bool(error.leader_hint.is_some());
                if let Some(hint) = &error.leader_hint {
                    out.put_string(hint);
                }
            }
            ResponseBody::Ok(result) => result.encode(out),
        }
    }

    fn decode(message_type: u8, r: &mut Reader<'_>) -> Result<Self, WireError> {
        if message_type != TYPE_ERROR_RESULT {
            return Ok(ResponseBody::Ok(RpcResult::decode(message_type, r)?));
        }
        let code = ErrorCode::from_byte(r.u8()?)?;
        let message = r.string("error.message", MAX_TEXT_BYTES)?;
        let leader_hint = if r.bool("error.leader_hint")? {
            Some(r.string("error.leader_hint", MAX_ADDRESS_BYTES)?)
        } else {
            None
        };
        Ok(ResponseBody::Err(RpcError {
            code,
            message,
            leader_hint,
        }))
    }
}

impl RpcResult {
    /// The query metadata of a Consul read's answer.
    pub fn read_meta(&self) -> Option<&ReadMeta> {
        match self {
            RpcResult::KvRead { meta, .. }
            | RpcResult::Txn { meta, .. }
            | RpcResult::CatalogRead { meta, .. } => Some(meta),
            _ => None,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RpcResult::KvValue(entry) => {
                out.put_bool(entry.is_some());
                if let Some(entry) = entry {
                    encode_kv_entry(entry, out);
                }
            }
            RpcResult::KvEntries(entries) => {
                out.put_count(entries.len());
                for entry in entries {
                    encode_kv_entry(entry, out);
                }
            }
            RpcResult::KvWritten { index } | RpcResult::KvDeleted { index } => {
                out.put_u64(*index);
            }
            RpcResult::Joined { contacted, errors } => {
                out.put_u32(*contacted);
                encode_string_pairs(errors, out);
            }
            RpcResult::Left | RpcResult::ForcedLeave => {}
            RpcResult::Members(members) => {
                out.put_count(members.len());
                for m in members {
                    out.put_string(&m.name);
                    out.put_string(&m.address);
                    out.put_string(&m.status);
                    out.put_string(&m.role);
                    out.put_string(&m.build);
                    out.put_u8(m.protocol);
                    out.put_string(&m.datacenter);
                }
            }
            RpcResult::Peers(peers) => {
                out.put_count(peers.len());
                for p in peers {
                    out.put_string(&p.name);
                    out.put_u64(p.id);
                    out.put_string(&p.address);
                    out.put_string(&p.state);
                    out.put_bool(p.voter);
                }
            }
            RpcResult::Info(sections) => {
                out.put_count(sections.len());
                for section in sections {
                    out.put_string(&section.name);
                    encode_string_pairs(&section.fields, out);
                }
            }
            RpcResult::CatalogNodes(nodes) => {
                out.put_count(nodes.len());
                for node in nodes {
                    encode_catalog_node(node, out);
                }
            }
            RpcResult::Identity(identity) => {
                out.put_string(&identity.node_name);
                out.put_u64(identity.raft_id);
                out.put_u128(identity.cluster_id);
                out.put_bool(identity.has_raft_data);
                out.put_bool(identity.committed_servers.is_some());
                let servers = identity.committed_servers.as_deref().unwrap_or_default();
                out.put_count(servers.len());
                for id in servers {
                    out.put_u64(*id);
                }
            }
            RpcResult::KvApplied { applied, index } => {
                out.put_bool(*applied);
                out.put_u64(*index);
            }
            RpcResult::KvRead { meta, answer } => {
                meta.encode(out);
                answer.encode(out);
            }
            RpcResult::Txn { meta, answer } => {
                meta.encode(out);
                answer.encode(out);
            }
            RpcResult::CatalogRead { meta, answer } => encode_catalog_result(meta, answer, out),
            RpcResult::RaftConfiguration(view) => view.encode(out),
            RpcResult::LeadershipTransferred { leader } => out.put_u64(*leader),
            RpcResult::PeerRemoved { id, index } => {
                out.put_u64(*id);
                out.put_u64(*index);
            }
            RpcResult::CatalogWritten { index } => out.put_u64(*index),
        }
    }

    fn decode(message_type: u8, r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match message_type {
            TYPE_KV_VALUE_RESULT => RpcResult::KvValue(if r.bool("kv_value.present")? {
                Some(decode_kv_entry(r)?)
            } else {
                None
            }),
            TYPE_KV_ENTRIES_RESULT => {
                RpcResult::KvEntries(decode_list(r, MIN_KV_ENTRY_BYTES, decode_kv_entry)?)
            }
            TYPE_KV_WRITTEN_RESULT => RpcResult::KvWritten { index: r.u64()? },
            TYPE_KV_DELETED_RESULT => RpcResult::KvDeleted { index: r.u64()? },
            TYPE_JOINED_RESULT => RpcResult::Joined {
                contacted: r.u32()?,
                errors: decode_string_pairs(
                    r,
                    "joined.address",
                    MAX_ADDRESS_BYTES,
                    "joined.error",
                )?,
            },
            TYPE_LEFT_RESULT => RpcResult::Left,
            TYPE_FORCED_LEAVE_RESULT => RpcResult::ForcedLeave,
            TYPE_MEMBERS_RESULT => RpcResult::Members(decode_list(r, MIN_MEMBER_BYTES, |r| {
                Ok(MemberInfo {
                    name: r.string("member.name", MAX_NAME_BYTES)?,
                    address: r.string("member.address", MAX_ADDRESS_BYTES)?,
                    status: r.string("member.status", MAX_NAME_BYTES)?,
                    role: r.string("member.role", MAX_NAME_BYTES)?,
                    build: r.string("member.build", MAX_NAME_BYTES)?,
                    protocol: r.u8()?,
                    datacenter: r.string("member.datacenter", MAX_NAME_BYTES)?,
                })
            })?),
            TYPE_PEERS_RESULT => RpcResult::Peers(decode_list(r, MIN_PEER_BYTES, |r| {
                Ok(PeerInfo {
                    name: r.string("peer.name", MAX_NAME_BYTES)?,
                    id: r.u64()?,
                    address: r.string("peer.address", MAX_ADDRESS_BYTES)?,
                    state: r.string("peer.state", MAX_NAME_BYTES)?,
                    voter: r.bool("peer.voter")?,
                })
            })?),
            TYPE_INFO_RESULT => RpcResult::Info(decode_list(r, MIN_INFO_SECTION_BYTES, |r| {
                Ok(InfoSection {
                    name: r.string("info.section", MAX_NAME_BYTES)?,
                    fields: decode_string_pairs(r, "info.key", MAX_TEXT_BYTES, "info.value")?,
                })
            })?),
            TYPE_CATALOG_NODES_RESULT => RpcResult::CatalogNodes(decode_list(
                r,
                MIN_CATALOG_NODE_BYTES,
                decode_catalog_node,
            )?),
            TYPE_IDENTITY_RESULT => RpcResult::Identity(decode_identity(r)?),
            TYPE_KV_APPLIED_RESULT => RpcResult::KvApplied {
                applied: r.bool("kv_applied.applied")?,
                index: r.u64()?,
            },
            TYPE_KV_READ_RESULT => RpcResult::KvRead {
                meta: ReadMeta::decode(r)?,
                answer: KvReadAnswer::decode(r)?,
            },
            TYPE_TXN_RESULT => RpcResult::Txn {
                meta: ReadMeta::decode(r)?,
                answer: TxnAnswer::decode(r)?,
            },
            TYPE_CATALOG_READ_RESULT => RpcResult::CatalogRead {
                meta: ReadMeta::decode(r)?,
                answer: CatalogAnswer::decode(r)?,
            },
            TYPE_RAFT_CONFIGURATION_RESULT => {
                RpcResult::RaftConfiguration(RaftConfigurationView::decode(r)?)
            }
            TYPE_LEADERSHIP_TRANSFERRED_RESULT => {
                RpcResult::LeadershipTransferred { leader: r.u64()? }
            }
            TYPE_PEER_REMOVED_RESULT => RpcResult::PeerRemoved {
                id: r.u64()?,
                index: r.u64()?,
            },
            TYPE_CATALOG_WRITTEN_RESULT => RpcResult::CatalogWritten { index: r.u64()? },
            other => return Err(WireError::UnknownMessageType(other)),
        })
    }
}

/// Layout: `request_id u64 | body`. A success is one message type per result
/// kind; an error is type 0x5F whatever the request was.
impl Message for ClientResponse {
    fn message_type(&self) -> u8 {
        self.body.message_type()
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.put_u64(self.request_id);
        self.body.encode(out);
    }

    fn decode(message_type: u8, payload: &[u8]) -> Result<Self, WireError> {
        ClientResponse::decode_from(message_type, Reader::new(payload))
    }

    fn decode_shared(message_type: u8, payload: &Bytes) -> Result<Self, WireError> {
        ClientResponse::decode_from(message_type, Reader::shared(payload))
    }
}

impl ClientResponse {
    fn decode_from(message_type: u8, mut r: Reader<'_>) -> Result<Self, WireError> {
        let known = (TYPE_KV_VALUE_RESULT..=LAST_RESULT_TYPE).contains(&message_type)
            || message_type == TYPE_ERROR_RESULT;
        if !known {
            return Err(WireError::UnknownMessageType(message_type));
        }
        let request_id = r.u64()?;
        let body = ResponseBody::decode(message_type, &mut r)?;
        r.finish()?;
        Ok(ClientResponse { request_id, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::round_trip;

    #[test]
    fn every_request_body_round_trips() {
        let bodies = vec![
            RequestBody::KvGet {
                key: "a/b".into(),
                consistency: Consistency::Consistent,
            },
            RequestBody::KvPut {
                key: "a".into(),
                value: Bytes::from_static(&[1, 2, 3]),
                cas: Some(0),
            },
            RequestBody::KvPut {
                key: "a".into(),
                value: Bytes::new(),
                cas: None,
            },
            RequestBody::KvDelete {
                key: "a/".into(),
                recurse: true,
            },
            RequestBody::KvList {
                prefix: "a/".into(),
                consistency: Consistency::Stale,
            },
            RequestBody::Join {
                addresses: vec!["10.0.0.1:8300".into(), "10.0.0.2:8300".into()],
            },
            RequestBody::Leave,
            RequestBody::Members,
            RequestBody::Peers,
            RequestBody::Info,
            RequestBody::CatalogNodes,
            RequestBody::Identity,
            RequestBody::ForceLeave {
                node: "n3".into(),
                prune: true,
            },
        ];
        for body in bodies {
            round_trip(&ClientRequest {
                request_id: 77,
                body,
            });
        }
    }

    #[test]
    fn every_response_body_round_trips() {
        let entry = KvEntry {
            key: "k".into(),
            value: Bytes::from_static(b"v"),
            create_index: 3,
            modify_index: 8,
        };
        let results = vec![
            RpcResult::KvValue(None),
            RpcResult::KvValue(Some(entry.clone())),
            RpcResult::KvEntries(vec![entry.clone(), entry]),
            RpcResult::KvWritten { index: 12 },
            RpcResult::KvDeleted { index: 13 },
            RpcResult::Joined {
                contacted: 1,
                errors: vec![("10.0.0.9:8300".into(), "connection refused".into())],
            },
            RpcResult::Left,
            RpcResult::ForcedLeave,
            RpcResult::Members(vec![MemberInfo {
                name: "n1".into(),
                address: "10.0.0.1:8301".into(),
                status: "alive".into(),
                role: "server".into(),
                build: "0.1.0".into(),
                protocol: 1,
                datacenter: "dc1".into(),
            }]),
            RpcResult::Peers(vec![PeerInfo {
                name: "n1".into(),
                id: 99,
                address: "10.0.0.1:8300".into(),
                state: "leader".into(),
                voter: true,
            }]),
            RpcResult::Info(vec![InfoSection {
                name: "raft".into(),
                fields: vec![("term".into(), "4".into())],
            }]),
            RpcResult::CatalogNodes(vec![CatalogNode {
                name: "n1".into(),
                address: "10.0.0.1".into(),
                role: "client".into(),
                datacenter: "dc1".into(),
            }]),
            RpcResult::Identity(ServerIdentity {
                node_name: "n2".into(),
                raft_id: 0xab,
                cluster_id: 7 << 64 | 9,
                has_raft_data: true,
                committed_servers: Some(vec![1, 0xab]),
            }),
            RpcResult::Identity(ServerIdentity {
                node_name: "c1".into(),
                raft_id: 0,
                cluster_id: 0,
                has_raft_data: false,
                committed_servers: None,
            }),
        ];
        for result in results {
            round_trip(&ClientResponse {
                request_id: 5,
                body: ResponseBody::Ok(result),
            });
        }
        round_trip(&ClientResponse {
            request_id: 6,
            body: ResponseBody::Err(RpcError {
                code: ErrorCode::NotLeader,
                message: "not the leader".into(),
                leader_hint: Some("10.0.0.2:8300".into()),
            }),
        });
    }

    #[test]
    fn a_join_naming_more_addresses_than_the_limit_is_refused() {
        let join = |n: usize| ClientRequest {
            request_id: 1,
            body: RequestBody::Join {
                addresses: vec![String::new(); n],
            },
        };
        let mut payload = Vec::new();
        join(MAX_JOIN_ADDRESSES).encode_payload(&mut payload);
        assert!(ClientRequest::decode(TYPE_JOIN, &payload).is_ok());
        payload.clear();
        join(MAX_JOIN_ADDRESSES + 1).encode_payload(&mut payload);
        assert_eq!(
            ClientRequest::decode(TYPE_JOIN, &payload),
            Err(WireError::FieldTooLong {
                field: "join.addresses",
                len: MAX_JOIN_ADDRESSES + 1,
                max: MAX_JOIN_ADDRESSES
            })
        );
    }

    #[test]
    fn oversized_key_is_refused() {
        let request = ClientRequest {
            request_id: 1,
            body: RequestBody::KvGet {
                key: "k".repeat(MAX_KEY_BYTES + 1),
                consistency: Consistency::Default,
            },
        };
        let mut payload = Vec::new();
        request.encode_payload(&mut payload);
        assert_eq!(
            ClientRequest::decode(TYPE_KV_GET, &payload),
            Err(WireError::FieldTooLong {
                field: "kv_get.key",
                len: MAX_KEY_BYTES + 1,
                max: MAX_KEY_BYTES
            })
        );
    }
}
