//! The byte form of a retained answer ([`ApplyResult`]), as the client
//! session table keeps it in the snapshot (`wire-spec.md` section 9,
//! "Retained answer"). An answer read back from a snapshot is untrusted:
//! decoding checks every length and count before copying.

use crate::state_machine::apply_result::{ApplyResult, CommandRejection, TxnOpError, TxnOutcome};
use crate::state_machine::kv_store::{CasMismatch, DirEntry};
use crate::wire::WireError;
use crate::wire::client_message::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::wire::command::MAX_TXN_OPS;
use crate::wire::reader::Reader;
use crate::wire::writer::WriteExt;

/// Consul session ids are UUIDs: 36 characters.
pub const MAX_SESSION_ID_BYTES: usize = 36;
/// A txn error text: Consul's sentence around a quoted key, whose escapes
/// take at most 10 bytes per key byte.
pub const MAX_TXN_ERROR_BYTES: usize = 128 + 10 * MAX_KEY_BYTES;

const TAG_KV_WRITTEN: u8 = 0x01;
const TAG_KV_CAS_FAILED: u8 = 0x02;
const TAG_KV_DELETED: u8 = 0x03;
const TAG_KV_DELETE_CAS_FAILED: u8 = 0x04;
const TAG_TXN_COMMITTED: u8 = 0x05;
const TAG_TXN_FAILED: u8 = 0x06;
const TAG_CATALOG_REGISTERED: u8 = 0x07;
const TAG_CATALOG_DEREGISTERED: u8 = 0x08;
const TAG_CLIENT_REGISTERED: u8 = 0x09;
const TAG_REJECTED_EMPTY_KEY: u8 = 0x0A;
const TAG_RESULT_NOT_RETAINED: u8 = 0x0B;
const TAG_REJECTED_CATALOG_REFUSED: u8 = 0x0C;
/// A catalog refusal's reason: Consul's sentence around a few names.
pub const MAX_REFUSAL_BYTES: usize = 1024;

/// Smallest DirEntry: empty key, absent value and session, four u64.
const MIN_DIR_ENTRY_BYTES: usize = 4 + 1 + 8 * 4 + 1;
/// Smallest txn error: op index and an empty text.
const MIN_TXN_ERROR_BYTES: usize = 4 + 4;

/// Appends `result`. Only retainable answers are ever encoded (the session
/// table asserts it before keeping one).
pub fn encode_answer(result: &ApplyResult, out: &mut Vec<u8>) {
    assert!(result.is_retainable(), "{result:?} is never retained");
    match result {
        ApplyResult::KvWritten { index } => tagged_u64(out, TAG_KV_WRITTEN, *index),
        ApplyResult::KvCasFailed { key, mismatch } => {
            encode_mismatch(out, TAG_KV_CAS_FAILED, key, mismatch)
        }
        ApplyResult::KvDeleted { index, removed } => {
            tagged_u64(out, TAG_KV_DELETED, *index);
            out.put_u64(*removed);
        }
        ApplyResult::KvDeleteCasFailed { key, mismatch } => {
            encode_mismatch(out, TAG_KV_DELETE_CAS_FAILED, key, mismatch)
        }
        ApplyResult::Txn { index, outcome } => match outcome {
            TxnOutcome::Committed { results } => {
                tagged_u64(out, TAG_TXN_COMMITTED, *index);
                out.put_count(results.len());
                results
                    .iter()
                    .for_each(|entry| encode_dir_entry(entry, out));
            }
            TxnOutcome::Failed { errors } => {
                tagged_u64(out, TAG_TXN_FAILED, *index);
                out.put_count(errors.len());
                for error in errors {
                    out.put_u32(error.op_index);
                    out.put_string(&error.what);
                }
            }
        },
        ApplyResult::CatalogRegistered { index } => tagged_u64(out, TAG_CATALOG_REGISTERED, *index),
        ApplyResult::CatalogDeregistered { index, existed } => {
            tagged_u64(out, TAG_CATALOG_DEREGISTERED, *index);
            out.put_bool(*existed);
        }
        ApplyResult::ClientRegistered { client_id } => {
            tagged_u64(out, TAG_CLIENT_REGISTERED, *client_id)
        }
        ApplyResult::ResultNotRetained { applied_index } => {
            tagged_u64(out, TAG_RESULT_NOT_RETAINED, *applied_index)
        }
        ApplyResult::Rejected(CommandRejection::EmptyKey) => out.put_u8(TAG_REJECTED_EMPTY_KEY),
        ApplyResult::Rejected(CommandRejection::CatalogRefused(reason)) => {
            out.put_u8(TAG_REJECTED_CATALOG_REFUSED);
            out.put_string(truncated(reason));
        }
        ApplyResult::Rejected(_) => unreachable!("checked by is_retainable"),
    }
}

/// The length [`encode_answer`] would write, computed without copying
/// values (a txn's get results may hold megabytes that will not be kept).
pub fn encoded_answer_len(result: &ApplyResult) -> usize {
    let mismatch = |key: &str, m: &CasMismatch| {
        1 + 4
            + key.len()
            + 8
            + 1
            + if m.actual_modify_index.is_some() {
                8
            } else {
                0
            }
    };
    match result {
        ApplyResult::KvCasFailed { key, mismatch: m }
        | ApplyResult::KvDeleteCasFailed { key, mismatch: m } => mismatch(key, m),
        ApplyResult::KvDeleted { .. } => 1 + 16,
        ApplyResult::CatalogDeregistered { .. } => 1 + 8 + 1,
        ApplyResult::Txn { outcome, .. } => {
            1 + 8
                + 4
                + match outcome {
                    TxnOutcome::Committed { results } => {
                        results.iter().map(dir_entry_len).sum::<usize>()
                    }
                    TxnOutcome::Failed { errors } => {
                        errors.iter().map(|e| 4 + 4 + e.what.len()).sum()
                    }
                }
        }
        ApplyResult::Rejected(CommandRejection::CatalogRefused(reason)) => {
            1 + 4 + truncated(reason).len()
        }
        ApplyResult::Rejected(_) => 1,
        ApplyResult::KvWritten { .. }
        | ApplyResult::CatalogRegistered { .. }
        | ApplyResult::ClientRegistered { .. }
        | ApplyResult::ResultNotRetained { .. } => 1 + 8,
    }
}

/// A refusal's reason as retained: at most [`MAX_REFUSAL_BYTES`], cut at a
/// character boundary.
fn truncated(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_REFUSAL_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn dir_entry_len(entry: &DirEntry) -> usize {
    4 + entry.key.len()
        + 1
        + entry.value.as_ref().map_or(0, |v| 4 + v.len())
        + 8 * 4
        + 1
        + entry.session.as_ref().map_or(0, |s| 4 + s.len())
}

/// Decodes exactly one answer.
pub fn decode_answer(bytes: &[u8]) -> Result<ApplyResult, WireError> {
    let mut r = Reader::new(bytes);
    let result = match r.u8()? {
        TAG_KV_WRITTEN => ApplyResult::KvWritten { index: r.u64()? },
        TAG_KV_CAS_FAILED => {
            let (key, mismatch) = decode_mismatch(&mut r)?;
            ApplyResult::KvCasFailed { key, mismatch }
        }
        TAG_KV_DELETED => ApplyResult::KvDeleted {
            index: r.u64()?,
            removed: r.u64()?,
        },
        TAG_KV_DELETE_CAS_FAILED => {
            let (key, mismatch) = decode_mismatch(&mut r)?;
            ApplyResult::KvDeleteCasFailed { key, mismatch }
        }
        TAG_TXN_COMMITTED => {
            let index = r.u64()?;
            let count = r.count(MIN_DIR_ENTRY_BYTES)?;
            let mut results = Vec::with_capacity(count);
            for _ in 0..count {
                results.push(decode_dir_entry(&mut r)?);
            }
            let outcome = TxnOutcome::Committed { results };
            ApplyResult::Txn { index, outcome }
        }
        TAG_TXN_FAILED => {
            let index = r.u64()?;
            let count = r.count(MIN_TXN_ERROR_BYTES)?;
            if count == 0 || count > MAX_TXN_OPS {
                return Err(WireError::InvalidValue {
                    field: "answer.txn_error_count",
                    value: count as u64,
                });
            }
            let mut errors = Vec::with_capacity(count);
            for _ in 0..count {
                errors.push(TxnOpError {
                    op_index: r.u32()?,
                    what: r.string("answer.txn_error", MAX_TXN_ERROR_BYTES)?,
                });
            }
            let outcome = TxnOutcome::Failed { errors };
            ApplyResult::Txn { index, outcome }
        }
        TAG_CATALOG_REGISTERED => ApplyResult::CatalogRegistered { index: r.u64()? },
        TAG_CATALOG_DEREGISTERED => ApplyResult::CatalogDeregistered {
            index: r.u64()?,
            existed: r.bool("answer.existed")?,
        },
        TAG_CLIENT_REGISTERED => ApplyResult::ClientRegistered {
            client_id: r.u64()?,
        },
        TAG_REJECTED_EMPTY_KEY => ApplyResult::Rejected(CommandRejection::EmptyKey),
        TAG_REJECTED_CATALOG_REFUSED => ApplyResult::Rejected(CommandRejection::CatalogRefused(
            r.string("answer.refusal", MAX_REFUSAL_BYTES)?,
        )),
        TAG_RESULT_NOT_RETAINED => ApplyResult::ResultNotRetained {
            applied_index: r.u64()?,
        },
        other => {
            return Err(WireError::InvalidValue {
                field: "answer.tag",
                value: u64::from(other),
            });
        }
    };
    r.finish()?;
    Ok(result)
}

fn tagged_u64(out: &mut Vec<u8>, tag: u8, value: u64) {
    out.put_u8(tag);
    out.put_u64(value);
}

fn encode_mismatch(out: &mut Vec<u8>, tag: u8, key: &str, mismatch: &CasMismatch) {
    out.put_u8(tag);
    out.put_string(key);
    out.put_u64(mismatch.expected_modify_index);
    match mismatch.actual_modify_index {
        None => out.put_u8(0),
        Some(actual) => {
            out.put_u8(1);
            out.put_u64(actual);
        }
    }
}

fn decode_mismatch(r: &mut Reader<'_>) -> Result<(String, CasMismatch), WireError> {
    let key = r.string("answer.key", MAX_KEY_BYTES)?;
    let expected_modify_index = r.u64()?;
    let actual_modify_index = if r.bool("answer.actual_present")? {
        Some(r.u64()?)
    } else {
        None
    };
    Ok((
        key,
        CasMismatch {
            expected_modify_index,
            actual_modify_index,
        },
    ))
}

fn encode_dir_entry(entry: &DirEntry, out: &mut Vec<u8>) {
    out.put_string(&entry.key);
    match &entry.value {
        None => out.put_u8(0),
        Some(value) => {
            out.put_u8(1);
            out.put_bytes(value);
        }
    }
    out.put_u64(entry.flags);
    out.put_u64(entry.create_index);
    out.put_u64(entry.modify_index);
    out.put_u64(entry.lock_index);
    match &entry.session {
        None => out.put_u8(0),
        Some(session) => {
            out.put_u8(1);
            out.put_string(session);
        }
    }
}

fn decode_dir_entry(r: &mut Reader<'_>) -> Result<DirEntry, WireError> {
    let key = r.string("answer.entry.key", MAX_KEY_BYTES)?;
    let value = if r.bool("answer.entry.value_present")? {
        Some(r.shared_bytes("answer.entry.value", MAX_VALUE_BYTES)?)
    } else {
        None
    };
    Ok(DirEntry {
        key,
        value,
        flags: r.u64()?,
        create_index: r.u64()?,
        modify_index: r.u64()?,
        lock_index: r.u64()?,
        session: if r.bool("answer.entry.session_present")? {
            Some(r.string("answer.entry.session", MAX_SESSION_ID_BYTES)?)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn samples() -> Vec<ApplyResult> {
        let entry = DirEntry {
            key: "k".into(),
            value: Some(Bytes::from_static(b"v")),
            flags: u64::MAX,
            create_index: 1,
            modify_index: 2,
            lock_index: 0,
            session: None,
        };
        let mismatch = CasMismatch {
            expected_modify_index: 3,
            actual_modify_index: Some(4),
        };
        vec![
            ApplyResult::KvWritten { index: 9 },
            ApplyResult::KvCasFailed {
                key: "k".into(),
                mismatch: mismatch.clone(),
            },
            ApplyResult::KvDeleteCasFailed {
                key: "k".into(),
                mismatch: CasMismatch {
                    actual_modify_index: None,
                    ..mismatch
                },
            },
            ApplyResult::KvDeleted {
                index: 3,
                removed: 7,
            },
            ApplyResult::Txn {
                index: 5,
                outcome: TxnOutcome::Committed {
                    results: vec![
                        entry.clone(),
                        DirEntry {
                            value: None,
                            ..entry
                        },
                    ],
                },
            },
            ApplyResult::Txn {
                index: 5,
                outcome: TxnOutcome::Failed {
                    errors: vec![TxnOpError {
                        op_index: 3,
                        what: "key \"k\" exists".into(),
                    }],
                },
            },
            ApplyResult::CatalogRegistered { index: 1 },
            ApplyResult::CatalogDeregistered {
                index: 1,
                existed: true,
            },
            ApplyResult::ClientRegistered { client_id: 4 },
            ApplyResult::ResultNotRetained { applied_index: 8 },
            ApplyResult::Rejected(CommandRejection::EmptyKey),
            ApplyResult::Rejected(CommandRejection::CatalogRefused("Must provide node".into())),
        ]
    }

    #[test]
    fn every_retainable_answer_round_trips_at_its_computed_length() {
        for result in samples() {
            let mut bytes = Vec::new();
            encode_answer(&result, &mut bytes);
            assert_eq!(bytes.len(), encoded_answer_len(&result), "{result:?}");
            assert_eq!(decode_answer(&bytes), Ok(result));
        }
    }

    #[test]
    fn every_truncated_answer_is_an_error() {
        for result in samples() {
            let mut bytes = Vec::new();
            encode_answer(&result, &mut bytes);
            for len in 0..bytes.len() {
                assert!(decode_answer(&bytes[..len]).is_err(), "{result:?} at {len}");
            }
        }
    }
}
