//! Commands of the replicated state machine: the `data` of a Raft log entry
//! of kind `Command`. A command is written once by the leader and decoded by
//! every server when the entry commits, possibly by a newer build years later,
//! so it starts with its own version byte. Layout in `wire-spec.md`
//! (section 9).
//!
//! An entry is an [`Envelope`] (the leader's timestamp and, for exactly-once
//! writes, the client session and sequence number) followed by one
//! [`Command`]. Version 1 entries (no envelope, no flags, no transactions)
//! are still decoded, so a log written by the previous build replays to the
//! same state; only version 2 is written.

use bytes::Bytes;

use super::catalog_registration::{DeregisterRequest, RegisterRequest};
use super::client_message::{CatalogNode, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// Version of the command encoding written by this build.
pub const COMMAND_VERSION: u8 = 2;
/// The previous layout: still decoded (entries already in a log), never written.
pub const COMMAND_VERSION_1: u8 = 1;
/// Node names, addresses, roles and datacenters are short; the limit keeps a
/// hostile catalog entry small (same limit as a Raft server entry).
pub const MAX_CATALOG_FIELD_BYTES: usize = 255;
/// Operations in one transaction (the decoder refuses more).
pub const MAX_TXN_OPS: usize = 128;
/// Smallest encoding of one transaction operation: a verb and an empty key.
const MIN_TXN_OP_BYTES: usize = 1 + 4;
/// Version, timestamp, and a client (presence byte and three u64s).
const ENVELOPE_MAX_BYTES: usize = 1 + 8 + 1 + 3 * 8;

const TAG_KV_PUT: u8 = 0x01;
const TAG_KV_DELETE: u8 = 0x02;
const TAG_CATALOG_REGISTER: u8 = 0x03;
const TAG_CATALOG_DEREGISTER: u8 = 0x04;
const TAG_KV_DELETE_TREE: u8 = 0x05;
const TAG_TXN: u8 = 0x06;
const TAG_REGISTER_CLIENT: u8 = 0x07;
const TAG_CATALOG_REGISTRATION: u8 = 0x08;
const TAG_CATALOG_DEREGISTRATION: u8 = 0x09;

const VERB_SET: u8 = 0x01;
const VERB_CAS: u8 = 0x02;
const VERB_GET: u8 = 0x03;
const VERB_GET_TREE: u8 = 0x04;
const VERB_CHECK_INDEX: u8 = 0x05;
const VERB_CHECK_NOT_EXISTS: u8 = 0x06;
const VERB_DELETE: u8 = 0x07;
const VERB_DELETE_TREE: u8 = 0x08;
const VERB_DELETE_CAS: u8 = 0x09;

/// Who sent a write, for exactly-once application (Raft dissertation §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ClientSequence {
    /// The session's id: the log index of its `RegisterClient` entry.
    pub client_id: u64,
    /// Chosen by the client, unique per write within the session; a retry
    /// reuses the number of the write it retries.
    pub sequence: u64,
    /// The lowest sequence number whose answer the client has not yet
    /// received: the state machine forgets the answers below it.
    pub first_unacknowledged: u64,
}

/// What the leader adds to every command it proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Envelope {
    /// The leader's clock when it proposed the entry, in ms since the Unix
    /// epoch; 0 means "no time" (log time does not move). Session expiry
    /// runs on these timestamps, so every server expires at the same entry.
    pub timestamp_ms: u64,
    /// `None` for writes outside a session (applied every time they commit).
    pub client: Option<ClientSequence>,
}

/// One decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct LogCommand {
    pub envelope: Envelope,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// `cas`: `None` writes unconditionally; `Some(0)` creates only if the
    /// key is absent; `Some(i)` writes only if the key's ModifyIndex is `i`.
    /// `flags` is the client's opaque 64-bit word, stored with the value.
    KvPut {
        key: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = super::arbitrary_bytes))]
        value: Bytes,
        flags: u64,
        cas: Option<u64>,
    },
    /// `cas`: `None` deletes unconditionally; `Some(i)` deletes only if the
    /// key's ModifyIndex is `i` (Consul's delete-cas: `Some(0)` never deletes
    /// an existing key; an absent key is a success that deletes nothing).
    KvDelete {
        key: String,
        cas: Option<u64>,
    },
    /// Deletes every key that starts with `prefix` ("" deletes all).
    KvDeleteTree {
        prefix: String,
    },
    /// Up to [`MAX_TXN_OPS`] operations applied atomically at one index.
    Txn {
        ops: Vec<TxnOp>,
    },
    /// Adds the node, or replaces the entry of the same name.
    CatalogRegister(CatalogNode),
    CatalogDeregister {
        name: String,
    },
    /// Opens an exactly-once session; its id is this entry's log index.
    /// Never carries a client in its envelope.
    RegisterClient,
    /// Consul's `RegisterRequest`: a node with its service and checks,
    /// applied atomically.
    CatalogRegistration(Box<RegisterRequest>),
    /// Consul's `DeregisterRequest`: a node, a service or a check.
    CatalogDeregistration(DeregisterRequest),
}

/// One operation of a transaction, with Consul's verbs (`/v1/txn` KV ops).
/// New verbs (lock, unlock, check-session) take new verb bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum TxnOp {
    Set {
        key: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = super::arbitrary_bytes))]
        value: Bytes,
        flags: u64,
    },
    /// `index` 0: create only if absent; otherwise only if ModifyIndex matches.
    Cas {
        key: String,
        #[cfg_attr(feature = "fuzzing", arbitrary(with = super::arbitrary_bytes))]
        value: Bytes,
        flags: u64,
        index: u64,
    },
    Get {
        key: String,
    },
    GetTree {
        prefix: String,
    },
    CheckIndex {
        key: String,
        index: u64,
    },
    CheckNotExists {
        key: String,
    },
    Delete {
        key: String,
    },
    DeleteTree {
        prefix: String,
    },
    DeleteCas {
        key: String,
        index: u64,
    },
}

impl TxnOp {
    /// The key (or prefix) the operation names.
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Set { key, .. }
            | TxnOp::Cas { key, .. }
            | TxnOp::Get { key }
            | TxnOp::CheckIndex { key, .. }
            | TxnOp::CheckNotExists { key }
            | TxnOp::Delete { key }
            | TxnOp::DeleteCas { key, .. } => key,
            TxnOp::GetTree { prefix } | TxnOp::DeleteTree { prefix } => prefix,
        }
    }

    fn value(&self) -> Option<&[u8]> {
        match self {
            TxnOp::Set { value, .. } | TxnOp::Cas { value, .. } => Some(value),
            _ => None,
        }
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let (verb, index) = match self {
            TxnOp::Set { .. } => (VERB_SET, None),
            TxnOp::Cas { index, .. } => (VERB_CAS, Some(*index)),
            TxnOp::Get { .. } => (VERB_GET, None),
            TxnOp::GetTree { .. } => (VERB_GET_TREE, None),
            TxnOp::CheckIndex { index, .. } => (VERB_CHECK_INDEX, Some(*index)),
            TxnOp::CheckNotExists { .. } => (VERB_CHECK_NOT_EXISTS, None),
            TxnOp::Delete { .. } => (VERB_DELETE, None),
            TxnOp::DeleteTree { .. } => (VERB_DELETE_TREE, None),
            TxnOp::DeleteCas { index, .. } => (VERB_DELETE_CAS, Some(*index)),
        };
        out.put_u8(verb);
        out.put_string(self.key());
        if let TxnOp::Set { value, flags, .. } | TxnOp::Cas { value, flags, .. } = self {
            out.put_bytes(value);
            out.put_u64(*flags);
        }
        if let Some(index) = index {
            out.put_u64(index);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<TxnOp, WireError> {
        let verb = r.u8()?;
        let key = r.string("txn.key", MAX_KEY_BYTES)?;
        let op = match verb {
            VERB_SET | VERB_CAS => {
                let value = r.shared_bytes("txn.value", MAX_VALUE_BYTES)?;
                let flags = r.u64()?;
                if verb == VERB_SET {
                    TxnOp::Set { key, value, flags }
                } else {
                    let index = r.u64()?;
                    TxnOp::Cas {
                        key,
                        value,
                        flags,
                        index,
                    }
                }
            }
            VERB_GET => TxnOp::Get { key },
            VERB_GET_TREE => TxnOp::GetTree { prefix: key },
            VERB_CHECK_INDEX => TxnOp::CheckIndex {
                key,
                index: r.u64()?,
            },
            VERB_CHECK_NOT_EXISTS => TxnOp::CheckNotExists { key },
            VERB_DELETE => TxnOp::Delete { key },
            VERB_DELETE_TREE => TxnOp::DeleteTree { prefix: key },
            VERB_DELETE_CAS => TxnOp::DeleteCas {
                key,
                index: r.u64()?,
            },
            other => {
                return Err(WireError::InvalidValue {
                    field: "txn.verb",
                    value: u64::from(other),
                });
            }
        };
        Ok(op)
    }
}

impl Envelope {
    /// No timestamp, no session: what [`Command::encode`] writes.
    pub const UNTIMED: Envelope = Envelope {
        timestamp_ms: 0,
        client: None,
    };

    /// A whole log entry (this envelope, then `command`) in a buffer of its
    /// own, allocated once: the entry's data, which the Raft log, the disk
    /// staging, the followers' frames and the KV store then share.
    pub fn to_bytes(&self, command: &Command) -> Bytes {
        let mut out = Vec::with_capacity(ENVELOPE_MAX_BYTES + command.body_len_bound());
        self.encode(command, &mut out);
        Bytes::from(out)
    }

    /// Appends a whole log entry: this envelope, then `command`.
    pub fn encode(&self, command: &Command, out: &mut Vec<u8>) {
        out.put_u8(COMMAND_VERSION);
        out.put_u64(self.timestamp_ms);
        match &self.client {
            None => out.put_u8(0),
            Some(client) => {
                out.put_u8(1);
                out.put_u64(client.client_id);
                out.put_u64(client.sequence);
                out.put_u64(client.first_unacknowledged);
            }
        }
        command.encode_body(out);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Envelope, WireError> {
        let timestamp_ms = r.u64()?;
        let client = if r.bool("command.client_present")? {
            Some(ClientSequence {
                client_id: r.u64()?,
                sequence: r.u64()?,
                first_unacknowledged: r.u64()?,
            })
        } else {
            None
        };
        Ok(Envelope {
            timestamp_ms,
            client,
        })
    }
}

impl LogCommand {
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.envelope.encode(&self.command, out);
    }

    pub fn to_bytes(&self) -> Bytes {
        self.envelope.to_bytes(&self.command)
    }

    /// Decodes a buffer holding exactly one entry (version 2, or version 1
    /// with an untimed envelope). Every length and count is checked against
    /// its limit and the remaining input before anything is copied.
    pub fn decode(bytes: &[u8]) -> Result<LogCommand, WireError> {
        LogCommand::decode_from(Reader::new(bytes))
    }

    /// As [`LogCommand::decode`], from a log entry's shared buffer: values
    /// are slices of it, not copies (see [`Reader::shared_bytes`]).
    pub fn decode_shared(bytes: &Bytes) -> Result<LogCommand, WireError> {
        LogCommand::decode_from(Reader::shared(bytes))
    }

    fn decode_from(mut r: Reader<'_>) -> Result<LogCommand, WireError> {
        let entry = match r.u8()? {
            COMMAND_VERSION => {
                let envelope = Envelope::decode(&mut r)?;
                let command = Command::decode_body(&mut r)?;
                if command == Command::RegisterClient && envelope.client.is_some() {
                    // A session is opened outside any session; refusing the
                    // combination here keeps "registration" and "duplicate"
                    // from ever meeting in the state machine.
                    return Err(WireError::InvalidValue {
                        field: "command.client_present",
                        value: 1,
                    });
                }
                LogCommand { envelope, command }
            }
            COMMAND_VERSION_1 => LogCommand {
                envelope: Envelope::UNTIMED,
                command: Command::decode_body_v1(&mut r)?,
            },
            other => return Err(WireError::UnknownVersion(other)),
        };
        r.finish()?;
        Ok(entry)
    }
}

impl Command {
    /// Appends a whole entry with an [`Envelope::UNTIMED`] envelope: no
    /// session (applied on every commit) and no timestamp.
    pub fn encode(&self, out: &mut Vec<u8>) {
        Envelope::UNTIMED.encode(self, out);
    }

    pub fn to_bytes(&self) -> Bytes {
        Envelope::UNTIMED.to_bytes(self)
    }

    /// At least the encoded size of the body (everything after the
    /// envelope), so an entry's buffer is sized once: growing it by
    /// doubling while a value is copied in would copy again and keep up to
    /// twice the entry alive in the log.
    pub fn body_len_bound(&self) -> usize {
        // Tag; per field a u32 length, or a u64, or an option (1 + 8).
        const LEN: usize = 4;
        const OPTION: usize = 9;
        1 + match self {
            Command::KvPut { key, value, .. } => LEN + key.len() + LEN + value.len() + 8 + OPTION,
            Command::KvDelete { key, .. } => LEN + key.len() + OPTION,
            Command::KvDeleteTree { prefix } => LEN + prefix.len(),
            Command::Txn { ops } => {
                let op_bound = |op: &TxnOp| {
                    1 + LEN + op.key().len() + LEN + op.value().map_or(0, <[u8]>::len) + 8 + 8
                };
                LEN + ops.iter().map(op_bound).sum::<usize>()
            }
            Command::CatalogRegister(node) => {
                4 * LEN
                    + node.name.len()
                    + node.address.len()
                    + node.role.len()
                    + node.datacenter.len()
            }
            Command::CatalogDeregister { name } => LEN + name.len(),
            Command::RegisterClient => 0,
            Command::CatalogRegistration(request) => request.len_bound(),
            Command::CatalogDeregistration(request) => {
                let mut out = Vec::new();
                request.encode(&mut out);
                out.len()
            }
        }
    }

    /// Why the command could not be decoded if it were proposed as is, or
    /// `None`. The agent checks this before proposing: an entry that does
    /// not decode still costs every server a log write.
    pub fn limits_error(&self) -> Option<String> {
        let too_long = |what: &str, len: usize, max: usize| {
            (len > max).then(|| format!("{what} is {len} bytes, limit {max}"))
        };
        match self {
            Command::KvPut { key, value, .. } => too_long("key", key.len(), MAX_KEY_BYTES)
                .or_else(|| too_long("value", value.len(), MAX_VALUE_BYTES)),
            Command::KvDelete { key, .. } => too_long("key", key.len(), MAX_KEY_BYTES),
            Command::KvDeleteTree { prefix } => too_long("prefix", prefix.len(), MAX_KEY_BYTES),
            Command::Txn { ops } if ops.len() > MAX_TXN_OPS => Some(format!(
                "transaction has {} operations, limit {MAX_TXN_OPS}",
                ops.len()
            )),
            Command::Txn { ops } => ops.iter().enumerate().find_map(|(i, op)| {
                too_long(
                    &format!("operation {i}: key"),
                    op.key().len(),
                    MAX_KEY_BYTES,
                )
                .or_else(|| {
                    let value_len = op.value().map_or(0, <[u8]>::len);
                    too_long(&format!("operation {i}: value"), value_len, MAX_VALUE_BYTES)
                })
            }),
            Command::CatalogRegister(node) => {
                [&node.name, &node.address, &node.role, &node.datacenter]
                    .into_iter()
                    .find_map(|field| {
                        too_long("catalog field", field.len(), MAX_CATALOG_FIELD_BYTES)
                    })
            }
            Command::CatalogDeregister { name } => {
                too_long("node name", name.len(), MAX_CATALOG_FIELD_BYTES)
            }
            Command::RegisterClient => None,
            Command::CatalogRegistration(request) => request.limits_error(),
            Command::CatalogDeregistration(request) => request.limits_error(),
        }
    }

    fn encode_body(&self, out: &mut Vec<u8>) {
        match self {
            Command::KvPut {
                key,
                value,
                flags,
                cas,
            } => {
                out.put_u8(TAG_KV_PUT);
                out.put_string(key);
                out.put_bytes(value);
                out.put_u64(*flags);
                put_option_u64(out, *cas);
            }
            Command::KvDelete { key, cas } => {
                out.put_u8(TAG_KV_DELETE);
                out.put_string(key);
                put_option_u64(out, *cas);
            }
            Command::KvDeleteTree { prefix } => {
                out.put_u8(TAG_KV_DELETE_TREE);
                out.put_string(prefix);
            }
            Command::Txn { ops } => {
                out.put_u8(TAG_TXN);
                out.put_count(ops.len());
                for op in ops {
                    op.encode(out);
                }
            }
            Command::CatalogRegister(node) => {
                out.put_u8(TAG_CATALOG_REGISTER);
                out.put_string(&node.name);
                out.put_string(&node.address);
                out.put_string(&node.role);
                out.put_string(&node.datacenter);
            }
            Command::CatalogDeregister { name } => {
                out.put_u8(TAG_CATALOG_DEREGISTER);
                out.put_string(name);
            }
            Command::RegisterClient => out.put_u8(TAG_REGISTER_CLIENT),
            Command::CatalogRegistration(request) => {
                out.put_u8(TAG_CATALOG_REGISTRATION);
                request.encode(out);
            }
            Command::CatalogDeregistration(request) => {
                out.put_u8(TAG_CATALOG_DEREGISTRATION);
                request.encode(out);
            }
        }
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<Command, WireError> {
        let command = match r.u8()? {
            TAG_KV_PUT => Command::KvPut {
                key: r.string("command.key", MAX_KEY_BYTES)?,
                value: r.shared_bytes("command.value", MAX_VALUE_BYTES)?,
                flags: r.u64()?,
                cas: read_option_u64(r, "command.cas_present")?,
            },
            TAG_KV_DELETE => Command::KvDelete {
                key: r.string("command.key", MAX_KEY_BYTES)?,
                cas: read_option_u64(r, "command.cas_present")?,
            },
            TAG_KV_DELETE_TREE => Command::KvDeleteTree {
                prefix: r.string("command.prefix", MAX_KEY_BYTES)?,
            },
            TAG_TXN => {
                let count = r.count(MIN_TXN_OP_BYTES)?;
                if count > MAX_TXN_OPS {
                    return Err(WireError::InvalidValue {
                        field: "txn.op_count",
                        value: count as u64,
                    });
                }
                let mut ops = Vec::with_capacity(count);
                for _ in 0..count {
                    ops.push(TxnOp::decode(r)?);
                }
                Command::Txn { ops }
            }
            TAG_CATALOG_REGISTER => Command::CatalogRegister(read_catalog_node(r)?),
            TAG_CATALOG_DEREGISTER => Command::CatalogDeregister {
                name: r.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
            },
            TAG_REGISTER_CLIENT => Command::RegisterClient,
            TAG_CATALOG_REGISTRATION => {
                Command::CatalogRegistration(Box::new(RegisterRequest::decode(r)?))
            }
            TAG_CATALOG_DEREGISTRATION => {
                Command::CatalogDeregistration(DeregisterRequest::decode(r)?)
            }
            other => return Err(WireError::UnknownMessageType(other)),
        };
        Ok(command)
    }

    /// Version 1 bodies: KvPut without flags, KvDelete with a recurse flag.
    fn decode_body_v1(r: &mut Reader<'_>) -> Result<Command, WireError> {
        let command = match r.u8()? {
            TAG_KV_PUT => Command::KvPut {
                key: r.string("command.key", MAX_KEY_BYTES)?,
                value: r.shared_bytes("command.value", MAX_VALUE_BYTES)?,
                flags: 0,
                cas: read_option_u64(r, "command.cas_present")?,
            },
            TAG_KV_DELETE => {
                let key = r.string("command.key", MAX_KEY_BYTES)?;
                if r.bool("command.recurse")? {
                    Command::KvDeleteTree { prefix: key }
                } else {
                    Command::KvDelete { key, cas: None }
                }
            }
            TAG_CATALOG_REGISTER => Command::CatalogRegister(read_catalog_node(r)?),
            TAG_CATALOG_DEREGISTER => Command::CatalogDeregister {
                name: r.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
            },
            other => return Err(WireError::UnknownMessageType(other)),
        };
        Ok(command)
    }
}

fn read_catalog_node(r: &mut Reader<'_>) -> Result<CatalogNode, WireError> {
    Ok(CatalogNode {
        name: r.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
        address: r.string("catalog.address", MAX_CATALOG_FIELD_BYTES)?,
        role: r.string("catalog.role", MAX_CATALOG_FIELD_BYTES)?,
        datacenter: r.string("catalog.datacenter", MAX_CATALOG_FIELD_BYTES)?,
    })
}

fn put_option_u64(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.put_u8(0),
        Some(v) => {
            out.put_u8(1);
            out.put_u64(v);
        }
    }
}

fn read_option_u64(r: &mut Reader<'_>, field: &'static str) -> Result<Option<u64>, WireError> {
    Ok(if r.bool(field)? { Some(r.u64()?) } else { None })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
