//! The KV requests and answers Consul's HTTP API needs beyond the native
//! CLI's: writes with flags and check-and-set deletes answered `true` or
//! `false`, reads that carry a blocking query's index and wait and answer
//! with Consul's query metadata, and transactions. An agent that accepted
//! an HTTP request sends these to the leader (or, from a client agent, to a
//! server) as any client request; layouts in `wire-spec.md`.

use super::client_message::{
    Consistency, MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_TEXT_BYTES, MAX_VALUE_BYTES,
};
use super::command::{MAX_TXN_OPS, TxnOp};
use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// What a KV read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum KvReadKind {
    /// One key (`GET /v1/kv/<key>`).
    Entry,
    /// Every entry under the prefix (`?recurse`).
    Tree,
    /// Key names under the prefix, rolled up at `separator` (`?keys`).
    Keys { separator: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct KvRead {
    pub key: String,
    pub kind: KvReadKind,
    pub consistency: Consistency,
    /// A blocking query: answer once the result's index passes this. 0
    /// answers at once.
    pub min_index: u64,
    /// How long the server holding a blocking query waits for a change
    /// before answering with the unchanged result (jitter included).
    pub wait_ms: u64,
}

impl KvRead {
    pub fn is_blocking(&self) -> bool {
        self.min_index > 0
    }
}

/// How `DELETE /v1/kv/<key>` deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum KvRemoveMode {
    Single,
    /// Every key under the prefix.
    Tree,
    /// Only if the key's ModifyIndex is `index`.
    Cas {
        index: u64,
    },
}

/// A KV entry as Consul's API shows it. An empty value is shown as `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct KvDirEntry {
    pub key: String,
    pub value: Vec<u8>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub session: Option<String>,
}

/// What the server that served a read knew (Consul's `QueryMeta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ReadMeta {
    /// The blocking-query index (`X-Consul-Index`), at least 1.
    pub index: u64,
    pub known_leader: bool,
    /// Milliseconds since the server last heard from the leader; 0 on the
    /// leader.
    pub last_contact_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum KvReadAnswer {
    Entries(Vec<KvDirEntry>),
    Keys(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum TxnAnswer {
    /// Every operation applied; the entries the operations return.
    Committed { results: Vec<KvDirEntry> },
    /// Nothing applied: each failing operation and Consul's text for why.
    Failed { errors: Vec<(u32, String)> },
}

/// key (4) + value (4) + four u64 + session presence (1).
const MIN_DIR_ENTRY_BYTES: usize = 41;
/// op index (4) + text (4).
const MIN_TXN_ERROR_BYTES: usize = 8;
const MIN_STRING_BYTES: usize = 4;

fn put_option_string(out: &mut Vec<u8>, value: Option<&str>) {
    out.put_bool(value.is_some());
    if let Some(value) = value {
        out.put_string(value);
    }
}

fn read_option_string(
    r: &mut Reader<'_>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, WireError> {
    Ok(if r.bool(field)? {
        Some(r.string(field, max)?)
    } else {
        None
    })
}

pub(super) fn encode_kv_set(
    key: &str,
    value: &[u8],
    flags: u64,
    cas: Option<u64>,
    out: &mut Vec<u8>,
) {
    out.put_string(key);
    out.put_bytes(value);
    out.put_u64(flags);
    out.put_bool(cas.is_some());
    if let Some(cas) = cas {
        out.put_u64(cas);
    }
}

/// `(key, value, flags, cas)`.
pub(super) fn decode_kv_set(
    r: &mut Reader<'_>,
) -> Result<(String, Vec<u8>, u64, Option<u64>), WireError> {
    let key = r.string("kv_set.key", MAX_KEY_BYTES)?;
    let value = r.bytes("kv_set.value", MAX_VALUE_BYTES)?.to_vec();
    let flags = r.u64()?;
    let cas = match r.bool("kv_set.cas")? {
        true => Some(r.u64()?),
        false => None,
    };
    Ok((key, value, flags, cas))
}

pub(super) fn encode_kv_remove(key: &str, mode: KvRemoveMode, out: &mut Vec<u8>) {
    out.put_string(key);
    match mode {
        KvRemoveMode::Single => out.put_u8(0),
        KvRemoveMode::Tree => out.put_u8(1),
        KvRemoveMode::Cas { index } => {
            out.put_u8(2);
            out.put_u64(index);
        }
    }
}

pub(super) fn decode_kv_remove(r: &mut Reader<'_>) -> Result<(String, KvRemoveMode), WireError> {
    let key = r.string("kv_remove.key", MAX_KEY_BYTES)?;
    let mode = match r.u8()? {
        0 => KvRemoveMode::Single,
        1 => KvRemoveMode::Tree,
        2 => KvRemoveMode::Cas { index: r.u64()? },
        other => {
            return Err(WireError::InvalidValue {
                field: "kv_remove.mode",
                value: u64::from(other),
            });
        }
    };
    Ok((key, mode))
}

impl KvRead {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.put_string(&self.key);
        match &self.kind {
            KvReadKind::Entry => out.put_u8(0),
            KvReadKind::Tree => out.put_u8(1),
            KvReadKind::Keys { separator } => {
                out.put_u8(2);
                put_option_string(out, separator.as_deref());
            }
        }
        out.put_u8(self.consistency.to_byte());
        out.put_u64(self.min_index);
        out.put_u64(self.wait_ms);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<KvRead, WireError> {
        let key = r.string("kv_read.key", MAX_KEY_BYTES)?;
        let kind = match r.u8()? {
            0 => KvReadKind::Entry,
            1 => KvReadKind::Tree,
            2 => KvReadKind::Keys {
                separator: read_option_string(r, "kv_read.separator", MAX_KEY_BYTES)?,
            },
            other => {
                return Err(WireError::InvalidValue {
                    field: "kv_read.kind",
                    value: u64::from(other),
                });
            }
        };
        Ok(KvRead {
            key,
            kind,
            consistency: Consistency::from_byte(r.u8()?)?,
            min_index: r.u64()?,
            wait_ms: r.u64()?,
        })
    }
}

pub(super) fn encode_txn(ops: &[TxnOp], consistency: Consistency, out: &mut Vec<u8>) {
    out.put_count(ops.len());
    for op in ops {
        op.encode(out);
    }
    out.put_u8(consistency.to_byte());
}

pub(super) fn decode_txn(r: &mut Reader<'_>) -> Result<(Vec<TxnOp>, Consistency), WireError> {
    let count = r.count_at_most(MIN_STRING_BYTES + 1, MAX_TXN_OPS, "txn.ops")?;
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        ops.push(TxnOp::decode(r)?);
    }
    Ok((ops, Consistency::from_byte(r.u8()?)?))
}

impl KvDirEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.put_string(&self.key);
        out.put_bytes(&self.value);
        out.put_u64(self.flags);
        out.put_u64(self.create_index);
        out.put_u64(self.modify_index);
        out.put_u64(self.lock_index);
        put_option_string(out, self.session.as_deref());
    }

    fn decode(r: &mut Reader<'_>) -> Result<KvDirEntry, WireError> {
        Ok(KvDirEntry {
            key: r.string("dir_entry.key", MAX_KEY_BYTES)?,
            value: r.bytes("dir_entry.value", MAX_VALUE_BYTES)?.to_vec(),
            flags: r.u64()?,
            create_index: r.u64()?,
            modify_index: r.u64()?,
            lock_index: r.u64()?,
            session: read_option_string(r, "dir_entry.session", MAX_NAME_BYTES)?,
        })
    }

    /// Bytes of its encoding, for answer size bounds.
    pub fn wire_bytes(&self) -> usize {
        MIN_DIR_ENTRY_BYTES
            + self.key.len()
            + self.value.len()
            + self.session.as_ref().map_or(0, |s| 4 + s.len())
    }
}

fn encode_entries(entries: &[KvDirEntry], out: &mut Vec<u8>) {
    out.put_count(entries.len());
    for entry in entries {
        entry.encode(out);
    }
}

fn decode_entries(r: &mut Reader<'_>) -> Result<Vec<KvDirEntry>, WireError> {
    let count = r.count(MIN_DIR_ENTRY_BYTES)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(KvDirEntry::decode(r)?);
    }
    Ok(entries)
}

impl ReadMeta {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.index);
        out.put_bool(self.known_leader);
        out.put_u64(self.last_contact_ms);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<ReadMeta, WireError> {
        Ok(ReadMeta {
            index: r.u64()?,
            known_leader: r.bool("read_meta.known_leader")?,
            last_contact_ms: r.u64()?,
        })
    }
}

impl KvReadAnswer {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            KvReadAnswer::Entries(entries) => {
                out.put_u8(0);
                encode_entries(entries, out);
            }
            KvReadAnswer::Keys(keys) => {
                out.put_u8(1);
                out.put_count(keys.len());
                for key in keys {
                    out.put_string(key);
                }
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<KvReadAnswer, WireError> {
        Ok(match r.u8()? {
            0 => KvReadAnswer::Entries(decode_entries(r)?),
            1 => {
                let count = r.count(MIN_STRING_BYTES)?;
                let mut keys = Vec::with_capacity(count);
                for _ in 0..count {
                    keys.push(r.string("kv_keys.key", MAX_KEY_BYTES)?);
                }
                KvReadAnswer::Keys(keys)
            }
            other => {
                return Err(WireError::InvalidValue {
                    field: "kv_read_answer.kind",
                    value: u64::from(other),
                });
            }
        })
    }
}

impl TxnAnswer {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TxnAnswer::Committed { results } => {
                out.put_u8(0);
                encode_entries(results, out);
            }
            TxnAnswer::Failed { errors } => {
                out.put_u8(1);
                out.put_count(errors.len());
                for (op_index, what) in errors {
                    out.put_u32(*op_index);
                    out.put_string(what);
                }
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<TxnAnswer, WireError> {
        Ok(match r.u8()? {
            0 => TxnAnswer::Committed {
                results: decode_entries(r)?,
            },
            1 => {
                let count = r.count(MIN_TXN_ERROR_BYTES)?;
                let mut errors = Vec::with_capacity(count);
                for _ in 0..count {
                    let op_index = r.u32()?;
                    errors.push((op_index, r.string("txn_error.what", MAX_TEXT_BYTES)?));
                }
                TxnAnswer::Failed { errors }
            }
            other => {
                return Err(WireError::InvalidValue {
                    field: "txn_answer.kind",
                    value: u64::from(other),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::{
        ClientRequest, ClientResponse, RequestBody, ResponseBody, RpcResult,
    };
    use crate::wire::message::Message;
    use crate::wire::test_support::round_trip;

    #[test]
    fn every_consul_request_round_trips() {
        let bodies = vec![
            RequestBody::KvSet {
                key: "a".into(),
                value: vec![9],
                flags: u64::MAX,
                cas: Some(0),
            },
            RequestBody::KvSet {
                key: "a".into(),
                value: vec![],
                flags: 0,
                cas: None,
            },
            RequestBody::KvRemove {
                key: "a".into(),
                mode: KvRemoveMode::Cas { index: 4 },
            },
            RequestBody::KvRemove {
                key: "".into(),
                mode: KvRemoveMode::Tree,
            },
            RequestBody::KvRead(KvRead {
                key: "a/".into(),
                kind: KvReadKind::Keys {
                    separator: Some("/".into()),
                },
                consistency: Consistency::Stale,
                min_index: 7,
                wait_ms: 300_000,
            }),
            RequestBody::Txn {
                ops: vec![
                    TxnOp::Get { key: "a".into() },
                    TxnOp::Cas {
                        key: "b".into(),
                        value: vec![1].into(),
                        flags: 2,
                        index: 3,
                    },
                ],
                consistency: Consistency::Default,
            },
        ];
        for body in bodies {
            round_trip(&ClientRequest {
                request_id: 3,
                body,
            });
        }
    }

    #[test]
    fn every_consul_answer_round_trips() {
        let dir_entry = KvDirEntry {
            key: "k".into(),
            value: b"v".to_vec(),
            flags: 1 << 63,
            create_index: 2,
            modify_index: 3,
            lock_index: 0,
            session: Some("s".into()),
        };
        let meta = ReadMeta {
            index: 9,
            known_leader: true,
            last_contact_ms: 12,
        };
        let results = [
            RpcResult::KvApplied {
                applied: false,
                index: 4,
            },
            RpcResult::KvRead {
                meta,
                answer: KvReadAnswer::Entries(vec![dir_entry.clone()]),
            },
            RpcResult::KvRead {
                meta,
                answer: KvReadAnswer::Keys(vec!["a/".into(), "b".into()]),
            },
            RpcResult::Txn {
                meta,
                answer: TxnAnswer::Committed {
                    results: vec![dir_entry],
                },
            },
            RpcResult::Txn {
                meta,
                answer: TxnAnswer::Failed {
                    errors: vec![(1, "key \"a\" exists".into())],
                },
            },
        ];
        for result in results {
            round_trip(&ClientResponse {
                request_id: 4,
                body: ResponseBody::Ok(result),
            });
        }
    }

    #[test]
    fn a_transaction_of_more_than_128_ops_is_refused() {
        let txn = |n: usize| ClientRequest {
            request_id: 1,
            body: RequestBody::Txn {
                ops: vec![TxnOp::Get { key: "k".into() }; n],
                consistency: Consistency::Default,
            },
        };
        let mut payload = Vec::new();
        txn(MAX_TXN_OPS).encode_payload(&mut payload);
        assert!(ClientRequest::decode(txn(1).message_type(), &payload).is_ok());
        payload.clear();
        txn(MAX_TXN_OPS + 1).encode_payload(&mut payload);
        assert!(matches!(
            ClientRequest::decode(txn(1).message_type(), &payload),
            Err(WireError::FieldTooLong {
                field: "txn.ops",
                ..
            })
        ));
    }
}
