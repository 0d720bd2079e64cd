//! Consul's KV transaction (`/v1/txn`, `state/txn.go`): the operations run
//! in order on a scratch copy of the store, each seeing the ones before it;
//! if any fails, the copy is dropped and the answer lists every failing
//! operation with Consul's error text; otherwise the copy becomes the store.
//! The copy is O(1) (persistent maps), and only the paths the operations
//! touch are copied.

use bytes::Bytes;

use crate::state_machine::apply_result::{TxnOpError, TxnOutcome};
use crate::state_machine::changes::KvChanges;
use crate::state_machine::kv_store::{DirEntry, KvStore};
use crate::wire::command::TxnOp;

/// Applies `ops` atomically at log `index`. On commit the store is replaced
/// and the changed keys are returned; on failure nothing changes.
pub(crate) fn apply_txn(store: &mut KvStore, index: u64, ops: &[TxnOp]) -> (TxnOutcome, KvChanges) {
    let mut scratch = store.clone();
    let mut effects = Effects::default();
    let mut errors = Vec::new();
    for (op_index, op) in ops.iter().enumerate() {
        let op_index = u32::try_from(op_index).expect("a decoded txn has at most 128 ops");
        // Consul's kvsPreApply: every verb but delete-tree needs a key.
        if op.key().is_empty() && !matches!(op, TxnOp::DeleteTree { .. }) {
            errors.push(TxnOpError {
                op_index,
                what: "Must provide key".into(),
            });
            continue;
        }
        if let Err(what) = apply_op(&mut scratch, index, op, &mut effects) {
            errors.push(TxnOpError { op_index, what });
        }
    }
    if errors.is_empty() {
        *store = scratch;
        let Effects { results, changes } = effects;
        (TxnOutcome::Committed { results }, changes)
    } else {
        (TxnOutcome::Failed { errors }, KvChanges::default())
    }
}

/// What the operations so far return and change.
#[derive(Default)]
struct Effects {
    results: Vec<DirEntry>,
    changes: KvChanges,
}

/// One operation; `Err` holds Consul's text for why it failed.
fn apply_op(
    store: &mut KvStore,
    index: u64,
    op: &TxnOp,
    effects: &mut Effects,
) -> Result<(), String> {
    let key = op.key();
    match op {
        TxnOp::Set { value, flags, .. } => set(store, index, key, value, *flags, None, effects)?,
        TxnOp::Cas {
            value,
            flags,
            index: cas,
            ..
        } => set(store, index, key, value, *flags, Some(*cas), effects)?,
        TxnOp::Get { .. } => {
            let record = store
                .get(key)
                .ok_or_else(|| format!("key {} doesn't exist", go_quoted(key)))?;
            effects.results.push(DirEntry::new(key, record, true));
        }
        TxnOp::GetTree { .. } => {
            effects
                .results
                .extend(store.list(key).map(|(k, r)| DirEntry::new(k, r, true)));
        }
        TxnOp::CheckIndex {
            index: expected, ..
        } => {
            let record = store.get(key).ok_or_else(|| {
                format!(
                    "failed to check index, key {} doesn't exist",
                    go_quoted(key)
                )
            })?;
            if record.modify_index != *expected {
                return Err(format!(
                    "failed index check for key {}, current modify index {} != {expected}",
                    go_quoted(key),
                    record.modify_index
                ));
            }
            effects.results.push(DirEntry::new(key, record, false));
        }
        TxnOp::CheckNotExists { .. } => {
            if store.get(key).is_some() {
                return Err(format!("key {} exists", go_quoted(key)));
            }
        }
        TxnOp::Delete { .. } => {
            if store.delete(index, key) {
                effects.changes.add_key(key);
            }
        }
        TxnOp::DeleteTree { .. } => {
            if store.delete_tree(index, key) > 0 {
                effects.changes.add_tree(key);
            }
        }
        TxnOp::DeleteCas { index: cas, .. } => {
            let removed = store
                .delete_cas(index, key, *cas)
                .map_err(|_| format!("failed to delete key {}, index is stale", go_quoted(key)))?;
            if removed {
                effects.changes.add_key(key);
            }
        }
    }
    Ok(())
}

/// A set or cas: the entry as stored goes in the results without its value.
fn set(
    store: &mut KvStore,
    index: u64,
    key: &str,
    value: &Bytes,
    flags: u64,
    cas: Option<u64>,
    effects: &mut Effects,
) -> Result<(), String> {
    let outcome = store
        .put(index, key, value.clone(), flags, cas)
        .map_err(|_| format!("failed to set key {}, index is stale", go_quoted(key)))?;
    if outcome.changed {
        effects.changes.add_key(key);
    }
    effects
        .results
        .push(DirEntry::new(key, &outcome.record, false));
    Ok(())
}

/// The key as Go's `%q` prints it, so error texts match Consul's byte for
/// byte for ordinary keys: double quotes, `\"` and `\\`, the short escapes,
/// `\xNN` below space and for DEL, `\uNNNN`/`\UNNNNNNNN` for other
/// unprintable characters (approximated as Rust's control and non-space
/// whitespace characters; Go's table also escapes format characters).
pub fn go_quoted(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quoted("a/b"), "\"a/b\"");
        assert_eq!(go_quoted("say \"hi\"\\"), r#""say \"hi\"\\""#);
        assert_eq!(go_quoted("tab\there\n"), r#""tab\there\n""#);
        assert_eq!(go_quoted("\u{1}\u{7f}"), r#""\x01\x7f""#);
        assert_eq!(go_quoted("\u{85}\u{a0}é"), "\"\\u0085\\u00a0é\"");
    }
}
