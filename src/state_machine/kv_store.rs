//! The replicated key/value store: an ordered map from key to value with
//! Consul's two indexes per key. It is only ever changed through
//! [`crate::state_machine::StateMachine::apply`], so every server holds the
//! same map at the same applied index.

use std::sync::Arc;

use imbl::OrdMap;

use crate::wire::client_message::KvEntry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvRecord {
    /// Shared, so the copy-on-write map copies a pointer, not the bytes,
    /// when a snapshot holds the node a write changes.
    pub value: Arc<[u8]>,
    /// The log index of the write that created the key.
    pub create_index: u64,
    /// The log index of the latest write to the key; the CAS token.
    pub modify_index: u64,
}

/// Why a conditional put was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasMismatch {
    pub expected_modify_index: u64,
    /// The key's ModifyIndex, `None` when the key is absent.
    pub actual_modify_index: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStore {
    /// Persistent (copy-on-write) map: cloning the store for a snapshot is
    /// O(1), and a write after it copies only the path it changes, so the
    /// loop never stops to copy the whole state (the snapshot thread
    /// serializes the clone while writes go on).
    records: OrdMap<String, KvRecord>,
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

    pub fn get(&self, key: &str) -> Option<&KvRecord> {
        self.records.get(key)
    }

    /// Writes `value` at log `index`. With `cas == Some(0)` the write happens
    /// only if the key is absent; with `Some(i)` only if its ModifyIndex is
    /// `i` (Consul's check-and-set: a client that read index `i` cannot
    /// overwrite a newer write it has not seen).
    pub fn put(
        &mut self,
        index: u64,
        key: &str,
        value: Vec<u8>,
        cas: Option<u64>,
    ) -> Result<(), CasMismatch> {
        let existing = self.records.get_mut(key);
        if let Some(expected) = cas {
            let actual = existing.as_ref().map(|r| r.modify_index);
            let allowed = match (expected, actual) {
                (0, None) => true,
                (0, Some(_)) => false,
                (e, Some(a)) => e == a,
                (_, None) => false,
            };
            if !allowed {
                return Err(CasMismatch {
                    expected_modify_index: expected,
                    actual_modify_index: actual,
                });
            }
        }
        match existing {
            Some(record) => {
                record.value = value.into();
                record.modify_index = index;
            }
            None => {
                self.records.insert(
                    key.to_owned(),
                    KvRecord {
                        value: value.into(),
                        create_index: index,
                        modify_index: index,
                    },
                );
            }
        }
        Ok(())
    }

    /// Removes one key; returns whether it existed.
    pub fn delete(&mut self, key: &str) -> bool {
        self.records.remove(key).is_some()
    }

    /// Removes every key starting with `prefix` (all keys for ""); returns
    /// how many were removed.
    pub fn delete_prefix(&mut self, prefix: &str) -> usize {
        let doomed: Vec<String> = self.keys_with_prefix(prefix).cloned().collect();
        for key in &doomed {
            self.records.remove(key);
        }
        doomed.len()
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

    fn keys_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a String> {
        self.list(prefix).map(|(key, _)| key)
    }

    /// Every record in key order (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &KvRecord)> {
        self.records.iter()
    }

    /// Inserts a record as read from a snapshot, bypassing index checks.
    pub(crate) fn insert_restored(&mut self, key: String, record: KvRecord) {
        self.records.insert(key, record);
    }

    /// The client view of one key.
    pub fn entry(&self, key: &str) -> Option<KvEntry> {
        self.get(key).map(|record| to_entry(key, record))
    }

    /// The client view of every key under `prefix`, in key order.
    pub fn entries(&self, prefix: &str) -> Vec<KvEntry> {
        self.list(prefix)
            .map(|(key, record)| to_entry(key, record))
            .collect()
    }
}

fn to_entry(key: &str, record: &KvRecord) -> KvEntry {
    KvEntry {
        key: key.to_owned(),
        value: record.value.to_vec(),
        create_index: record.create_index,
        modify_index: record.modify_index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_write_sets_both_indexes_and_later_writes_only_modify_index() {
        let mut kv = KvStore::new();
        kv.put(5, "a", b"1".to_vec(), None).unwrap();
        assert_eq!(kv.get("a").unwrap().create_index, 5);
        assert_eq!(kv.get("a").unwrap().modify_index, 5);
        kv.put(9, "a", b"2".to_vec(), None).unwrap();
        let record = kv.get("a").unwrap();
        assert_eq!(
            (record.create_index, record.modify_index, &record.value[..]),
            (5, 9, &b"2"[..])
        );
    }

    #[test]
    fn cas_zero_creates_only_when_absent() {
        let mut kv = KvStore::new();
        kv.put(1, "a", b"x".to_vec(), Some(0)).unwrap();
        let refused = kv.put(2, "a", b"y".to_vec(), Some(0)).unwrap_err();
        assert_eq!(refused.actual_modify_index, Some(1));
        assert_eq!(kv.get("a").unwrap().value[..], *b"x");
    }

    #[test]
    fn cas_index_must_match_the_current_modify_index() {
        let mut kv = KvStore::new();
        kv.put(1, "a", b"x".to_vec(), None).unwrap();
        kv.put(2, "a", b"y".to_vec(), None).unwrap();
        assert!(kv.put(3, "a", b"stale".to_vec(), Some(1)).is_err());
        assert_eq!(kv.get("a").unwrap().value[..], *b"y");
        kv.put(4, "a", b"fresh".to_vec(), Some(2)).unwrap();
        assert_eq!(kv.get("a").unwrap().value[..], *b"fresh");
        assert_eq!(kv.get("a").unwrap().modify_index, 4);
    }

    #[test]
    fn cas_on_an_absent_key_with_nonzero_index_fails() {
        let mut kv = KvStore::new();
        let refused = kv.put(1, "a", vec![], Some(3)).unwrap_err();
        assert_eq!(refused.actual_modify_index, None);
        assert!(kv.is_empty());
    }

    #[test]
    fn recursive_delete_removes_exactly_the_prefix() {
        let mut kv = KvStore::new();
        for (i, key) in ["app/a", "app/b/c", "apple", "ap", "b"].iter().enumerate() {
            kv.put(i as u64 + 1, key, vec![], None).unwrap();
        }
        assert_eq!(kv.delete_prefix("app/"), 2);
        let left: Vec<&String> = kv.iter().map(|(k, _)| k).collect();
        assert_eq!(left, ["ap", "apple", "b"]);
        assert_eq!(kv.delete_prefix(""), 3);
        assert!(kv.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(&'static str, u8, Option<u64>),
        Delete(&'static str),
        DeletePrefix(&'static str),
    }

    fn arb_op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let key = proptest::sample::select(vec!["", "a", "a/", "a/b", "ab", "b", "b/c"]);
        prop_oneof![
            (key.clone(), any::<u8>(), proptest::option::of(0u64..8))
                .prop_map(|(k, v, cas)| Op::Put(k, v, cas)),
            key.clone().prop_map(Op::Delete),
            key.prop_map(Op::DeletePrefix),
        ]
    }

    proptest::proptest! {
        /// The store against a naive model: a list of (key, record) scanned
        /// linearly, with the CAS rule written out longhand.
        #[test]
        fn store_matches_a_naive_model(ops in proptest::collection::vec(arb_op(), 0..60)) {
            let mut kv = KvStore::new();
            let mut model: Vec<(String, KvRecord)> = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                let index = i as u64 + 1;
                match op {
                    Op::Put(key, value, cas) => {
                        let current = model.iter().position(|(k, _)| k == key);
                        let allowed = match cas {
                            None => true,
                            Some(0) => current.is_none(),
                            Some(c) => current.is_some_and(|p| model[p].1.modify_index == c),
                        };
                        proptest::prop_assert_eq!(
                            kv.put(index, key, vec![value], cas).is_ok(),
                            allowed
                        );
                        if allowed {
                            match current {
                                Some(p) => {
                                    model[p].1.value = vec![value].into();
                                    model[p].1.modify_index = index;
                                }
                                None => model.push((key.to_string(), KvRecord {
                                    value: vec![value].into(),
                                    create_index: index,
                                    modify_index: index,
                                })),
                            }
                        }
                    }
                    Op::Delete(key) => {
                        let existed = model.iter().any(|(k, _)| k == key);
                        model.retain(|(k, _)| k != key);
                        proptest::prop_assert_eq!(kv.delete(key), existed);
                    }
                    Op::DeletePrefix(prefix) => {
                        let before = model.len();
                        model.retain(|(k, _)| !k.starts_with(prefix));
                        proptest::prop_assert_eq!(kv.delete_prefix(prefix), before - model.len());
                    }
                }
                let mut expected = model.clone();
                expected.sort_by(|a, b| a.0.cmp(&b.0));
                let actual: Vec<(String, KvRecord)> =
                    kv.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
                proptest::prop_assert_eq!(actual, expected);
            }
        }
    }

    #[test]
    fn list_is_ordered_and_bounded_by_prefix() {
        let mut kv = KvStore::new();
        for (i, key) in ["z", "web/2", "web/10", "web", "wea"].iter().enumerate() {
            kv.put(i as u64 + 1, key, vec![], None).unwrap();
        }
        let keys: Vec<String> = kv.entries("web").into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["web", "web/10", "web/2"]);
    }
}
