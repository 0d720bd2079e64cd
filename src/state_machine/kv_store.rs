//! The replicated key/value store: an ordered map from key to record with
//! Consul's indexes per key, the graveyard of deleted keys, and the store's
//! own index. It is only ever changed through
//! [`crate::state_machine::StateMachine::apply`], so every server holds the
//! same store at the same applied index.
//!
//! Writes follow Consul's `state/kvs.go`: a put that changes nothing (same
//! value, flags, lock index and session) leaves ModifyIndex alone; a cas of 0
//! means "only if absent"; a delete-cas of an absent key succeeds.
//!
//! Blocking-query indexes (`key_index`, `prefix_index`) are never below 1
//! and never go backwards at one server; see each function.

use bytes::Bytes;
use imbl::OrdMap;

use crate::state_machine::tombstones::Tombstones;
use crate::wire::client_message::KvEntry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvRecord {
    /// Shared, so the copy-on-write map copies a pointer, not the bytes,
    /// when a snapshot holds the node a write changes; and a slice of the
    /// log entry it was applied from, so applying copies nothing.
    pub value: Bytes,
    /// The client's opaque 64-bit word (Consul's `flags`).
    pub flags: u64,
    /// The log index of the write that created the key.
    pub create_index: u64,
    /// The log index of the latest write that changed the key; the CAS token.
    pub modify_index: u64,
    /// Consul's lock counter; always 0 until sessions land.
    pub lock_index: u64,
    /// The session holding the key's lock; always `None` until sessions land.
    pub session: Option<String>,
}

/// A key as Consul's API shows it (a `DirEntry`). `value` is `None` where
/// Consul blanks it: the results of txn set, cas and check-index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub key: String,
    pub value: Option<Bytes>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub session: Option<String>,
}

impl DirEntry {
    pub fn new(key: &str, record: &KvRecord, with_value: bool) -> DirEntry {
        DirEntry {
            key: key.to_owned(),
            value: with_value.then(|| record.value.clone()),
            flags: record.flags,
            create_index: record.create_index,
            modify_index: record.modify_index,
            lock_index: record.lock_index,
            session: record.session.clone(),
        }
    }
}

/// Why a conditional write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasMismatch {
    pub expected_modify_index: u64,
    /// The key's ModifyIndex, `None` when the key is absent.
    pub actual_modify_index: Option<u64>,
}

/// A put that passed its check: the record as stored, and whether anything
/// changed (an identical put changes nothing and wakes no watcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub record: KvRecord,
    pub changed: bool,
}

/// One key's read: its entry (with value) and the blocking-query index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRead {
    pub entry: Option<DirEntry>,
    pub index: u64,
}

/// A prefix read (`?recurse`): entries in key order and the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixRead {
    pub entries: Vec<DirEntry>,
    pub index: u64,
}

/// A keys read (`?keys[&separator=]`): keys in order and the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysRead {
    pub keys: Vec<String>,
    pub index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStore {
    /// Persistent (copy-on-write) map: cloning the store for a snapshot or
    /// for a transaction's scratch copy is O(1), and a write after it copies
    /// only the path it changes.
    records: OrdMap<String, KvRecord>,
    tombstones: Tombstones,
    /// The log index of the latest command that changed the store (Consul's
    /// `kvs` table index); 0 before the first.
    table_index: u64,
}

impl KvStore {
    pub fn new() -> Self {
        KvStore::default()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Panics when a record's indexes are out of order or past the table
    /// index, a live key still has a tombstone, or the graveyard is
    /// inconsistent. O(n): run by the property tests and the simulators
    /// after every change, not on the apply path.
    pub fn check_invariants(&self) {
        for (key, record) in &self.records {
            assert!(
                1 <= record.create_index
                    && record.create_index <= record.modify_index
                    && record.modify_index <= self.table_index,
                "{key:?}: create {} / modify {} / table {} out of order",
                record.create_index,
                record.modify_index,
                self.table_index
            );
            // Equal indexes are one transaction that deleted a tree and
            // then wrote the key again (written first, it would be gone).
            assert!(
                self.tombstones
                    .key_deleted_index(key)
                    .is_none_or(|deleted| deleted <= record.modify_index),
                "{key:?} is live but buried after its last write"
            );
        }
        self.tombstones.check_invariants(self.table_index);
    }

    pub fn get(&self, key: &str) -> Option<&KvRecord> {
        self.records.get(key)
    }

    pub fn table_index(&self) -> u64 {
        self.table_index
    }

    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }

    /// Writes `value` and `flags` at log `index`. With `cas == Some(0)` the
    /// write happens only if the key is absent; with `Some(i)` only if its
    /// ModifyIndex is `i` (a client that read index `i` cannot overwrite a
    /// newer write it has not seen).
    pub fn put(
        &mut self,
        index: u64,
        key: &str,
        value: Bytes,
        flags: u64,
        cas: Option<u64>,
    ) -> Result<PutOutcome, CasMismatch> {
        let existing = self.records.get(key);
        if let Some(expected) = cas {
            check_modify_index(expected, existing.map(|r| r.modify_index), true)?;
        }
        if let Some(record) = existing {
            // Consul's kvsSetTxn: an entry equal in everything but its
            // indexes is not written again (lock index and session are
            // kept from the existing record by a plain put).
            if record.value == value && record.flags == flags {
                return Ok(PutOutcome {
                    record: record.clone(),
                    changed: false,
                });
            }
        }
        let record = match existing {
            Some(old) => KvRecord {
                value,
                flags,
                modify_index: index,
                ..old.clone()
            },
            None => KvRecord {
                value,
                flags,
                create_index: index,
                modify_index: index,
                lock_index: 0,
                session: None,
            },
        };
        self.mark_changed(index);
        self.tombstones.forget_key(key);
        self.records.insert(key.to_owned(), record.clone());
        Ok(PutOutcome {
            record,
            changed: true,
        })
    }

    /// Removes one key at `index`; returns whether it existed.
    pub fn delete(&mut self, index: u64, key: &str) -> bool {
        if self.records.remove(key).is_none() {
            return false;
        }
        self.mark_changed(index);
        self.tombstones.bury_key(key, index);
        true
    }

    /// Removes `key` only if its ModifyIndex is `cas`; returns whether it
    /// was removed. An absent key is a success that removes nothing
    /// (Consul's kvsDeleteCASTxn), so `cas` 0 never deletes an existing key.
    pub fn delete_cas(&mut self, index: u64, key: &str, cas: u64) -> Result<bool, CasMismatch> {
        let Some(record) = self.records.get(key) else {
            return Ok(false);
        };
        check_modify_index(cas, Some(record.modify_index), false)?;
        Ok(self.delete(index, key))
    }

    /// Removes every key starting with `prefix` (all keys for "") at `index`;
    /// returns how many were removed. One tombstone records the whole tree.
    pub fn delete_tree(&mut self, index: u64, prefix: &str) -> usize {
        let doomed: Vec<String> = self.list(prefix).map(|(key, _)| key.clone()).collect();
        for key in &doomed {
            self.records.remove(key);
        }
        if !doomed.is_empty() {
            self.mark_changed(index);
            self.tombstones.bury_tree(prefix, index);
        }
        doomed.len()
    }

    fn mark_changed(&mut self, index: u64) {
        assert!(
            index >= self.table_index,
            "the KV store changes in log order: {index} after {}",
            self.table_index
        );
        self.table_index = index;
    }

    /// Records whose key starts with `prefix`, in key order.
    pub fn list(&self, prefix: &str) -> impl Iterator<Item = (&String, &KvRecord)> {
        self.records
            .range::<_, str>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(key, _)| key.starts_with(prefix))
    }

    /// The blocking-query index of one key: its ModifyIndex while it exists;
    /// once deleted, the newest deletion covering it (at least the tombstone
    /// floor); for a key no tombstone covers, the store's table index.
    pub fn key_index(&self, key: &str) -> u64 {
        let index = match self.records.get(key) {
            Some(record) => record.modify_index,
            None => match self.tombstones.key_deleted_index(key) {
                Some(deleted) => deleted.max(self.tombstones.floor_index()),
                None => self.table_index,
            },
        };
        index.max(1)
    }

    /// The blocking-query index of a prefix: the newest ModifyIndex under it,
    /// or deletion under it or of a tree above it, and at least the
    /// tombstone floor, so deleting the prefix's newest key moves the index
    /// forward, never back. The empty prefix is the whole store: its table
    /// index.
    pub fn prefix_index(&self, prefix: &str) -> u64 {
        if prefix.is_empty() {
            return self.table_index.max(1);
        }
        let live = self
            .list(prefix)
            .map(|(_, record)| record.modify_index)
            .max()
            .unwrap_or(0);
        live.max(self.tombstones.prefix_deleted_index(prefix))
            .max(self.tombstones.floor_index())
            .max(1)
    }

    pub fn read_key(&self, key: &str) -> KeyRead {
        KeyRead {
            entry: self.get(key).map(|record| DirEntry::new(key, record, true)),
            index: self.key_index(key),
        }
    }

    pub fn read_prefix(&self, prefix: &str) -> PrefixRead {
        PrefixRead {
            entries: self
                .list(prefix)
                .map(|(key, record)| DirEntry::new(key, record, true))
                .collect(),
            index: self.prefix_index(prefix),
        }
    }

    /// Consul's `?keys&separator=`: keys under `prefix`, where a key with
    /// `separator` after the prefix is rolled up to the text through its
    /// first separator (`prefix/sub/`), listed once. No (or an empty)
    /// separator lists every key.
    pub fn read_keys(&self, prefix: &str, separator: Option<&str>) -> KeysRead {
        let separator = separator.filter(|s| !s.is_empty());
        let mut keys: Vec<String> = Vec::new();
        let mut last_rolled_up: Option<&str> = None;
        for (key, _) in self.list(prefix) {
            let rolled_up = separator.and_then(|sep| {
                key[prefix.len()..]
                    .find(sep)
                    .map(|at| &key[..prefix.len() + at + sep.len()])
            });
            match rolled_up {
                // Keys sharing a rolled-up folder are adjacent in key order.
                Some(folder) if last_rolled_up == Some(folder) => {}
                Some(folder) => {
                    keys.push(folder.to_owned());
                    last_rolled_up = Some(folder);
                }
                None => keys.push(key.clone()),
            }
        }
        KeysRead {
            keys,
            index: self.prefix_index(prefix),
        }
    }

    /// Every record in key order (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &KvRecord)> {
        self.records.iter()
    }

    /// A store as read from a snapshot, bypassing index checks (the codec
    /// checks them).
    pub(crate) fn from_restored(
        records: OrdMap<String, KvRecord>,
        tombstones: Tombstones,
        table_index: u64,
    ) -> KvStore {
        KvStore {
            records,
            tombstones,
            table_index,
        }
    }

    /// The native protocol's view of one key.
    pub fn entry(&self, key: &str) -> Option<KvEntry> {
        self.get(key).map(|record| to_entry(key, record))
    }

    /// The native protocol's view of every key under `prefix`, in key order.
    pub fn entries(&self, prefix: &str) -> Vec<KvEntry> {
        self.list(prefix)
            .map(|(key, record)| to_entry(key, record))
            .collect()
    }
}

/// Consul's CAS rule: 0 means "absent" for a put (`zero_means_absent`), and
/// for a delete-cas 0 never matches an existing key.
fn check_modify_index(
    expected: u64,
    actual: Option<u64>,
    zero_means_absent: bool,
) -> Result<(), CasMismatch> {
    let allowed = match (expected, actual) {
        (0, None) => zero_means_absent,
        (0, Some(_)) => false,
        (e, Some(a)) => e == a,
        (_, None) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(CasMismatch {
            expected_modify_index: expected,
            actual_modify_index: actual,
        })
    }
}

fn to_entry(key: &str, record: &KvRecord) -> KvEntry {
    KvEntry {
        key: key.to_owned(),
        value: record.value.clone(),
        create_index: record.create_index,
        modify_index: record.modify_index,
    }
}

#[cfg(test)]
#[path = "kv_store_tests.rs"]
mod tests;
