use super::*;
use crate::state_machine::tombstones::MAX_TOMBSTONES;

fn bytes(value: &[u8]) -> Bytes {
    Bytes::copy_from_slice(value)
}

fn put(kv: &mut KvStore, index: u64, key: &str, value: &[u8]) {
    kv.put(index, key, bytes(value), 0, None).unwrap();
}

#[test]
fn first_write_sets_both_indexes_and_later_writes_only_modify_index() {
    let mut kv = KvStore::new();
    put(&mut kv, 5, "a", b"1");
    assert_eq!(kv.get("a").unwrap().create_index, 5);
    assert_eq!(kv.get("a").unwrap().modify_index, 5);
    put(&mut kv, 9, "a", b"2");
    let record = kv.get("a").unwrap();
    assert_eq!(
        (record.create_index, record.modify_index, &record.value[..]),
        (5, 9, &b"2"[..])
    );
}

#[test]
fn a_put_that_changes_nothing_keeps_the_modify_index() {
    let mut kv = KvStore::new();
    kv.put(1, "a", bytes(b"v"), 7, None).unwrap();
    let same = kv.put(2, "a", bytes(b"v"), 7, Some(1)).unwrap();
    assert!(!same.changed);
    assert_eq!(same.record.modify_index, 1);
    assert_eq!(kv.table_index(), 1);
    let new_flags = kv.put(3, "a", bytes(b"v"), 8, None).unwrap();
    assert!(new_flags.changed);
    assert_eq!(kv.get("a").unwrap().modify_index, 3);
}

#[test]
fn flags_keep_all_64_bits() {
    let mut kv = KvStore::new();
    kv.put(1, "a", bytes(b""), u64::MAX, None).unwrap();
    assert_eq!(kv.get("a").unwrap().flags, u64::MAX);
}

#[test]
fn cas_zero_creates_only_when_absent() {
    let mut kv = KvStore::new();
    kv.put(1, "a", bytes(b"x"), 0, Some(0)).unwrap();
    let refused = kv.put(2, "a", bytes(b"y"), 0, Some(0)).unwrap_err();
    assert_eq!(refused.actual_modify_index, Some(1));
    assert_eq!(kv.get("a").unwrap().value[..], *b"x");
}

#[test]
fn cas_index_must_match_the_current_modify_index() {
    let mut kv = KvStore::new();
    put(&mut kv, 1, "a", b"x");
    put(&mut kv, 2, "a", b"y");
    assert!(kv.put(3, "a", bytes(b"stale"), 0, Some(1)).is_err());
    assert_eq!(kv.get("a").unwrap().value[..], *b"y");
    kv.put(4, "a", bytes(b"fresh"), 0, Some(2)).unwrap();
    assert_eq!(kv.get("a").unwrap().modify_index, 4);
}

#[test]
fn cas_on_an_absent_key_with_nonzero_index_fails() {
    let mut kv = KvStore::new();
    let refused = kv.put(1, "a", bytes(b""), 0, Some(3)).unwrap_err();
    assert_eq!(refused.actual_modify_index, None);
    assert!(kv.is_empty());
}

#[test]
fn delete_cas_deletes_only_at_the_matching_index_and_zero_never_deletes() {
    let mut kv = KvStore::new();
    put(&mut kv, 1, "a", b"x");
    assert!(kv.delete_cas(2, "a", 0).is_err());
    assert!(kv.delete_cas(3, "a", 7).is_err());
    assert!(kv.get("a").is_some());
    assert_eq!(kv.delete_cas(4, "a", 1), Ok(true));
    assert!(kv.get("a").is_none());
    // Consul: an absent key is a successful delete-cas of nothing.
    assert_eq!(kv.delete_cas(5, "a", 9), Ok(false));
}

#[test]
fn recursive_delete_removes_exactly_the_prefix() {
    let mut kv = KvStore::new();
    for (i, key) in ["app/a", "app/b/c", "apple", "ap", "b"].iter().enumerate() {
        put(&mut kv, i as u64 + 1, key, b"");
    }
    assert_eq!(kv.delete_tree(10, "app/"), 2);
    let left: Vec<&String> = kv.iter().map(|(k, _)| k).collect();
    assert_eq!(left, ["ap", "apple", "b"]);
    assert_eq!(kv.delete_tree(11, ""), 3);
    assert!(kv.is_empty());
}

#[test]
fn a_prefix_index_does_not_go_backwards_when_its_newest_key_is_deleted() {
    let mut kv = KvStore::new();
    put(&mut kv, 1, "web/a", b"");
    put(&mut kv, 2, "web/b", b"");
    put(&mut kv, 3, "other", b"");
    assert_eq!(kv.prefix_index("web/"), 2);
    kv.delete(4, "web/b");
    assert_eq!(kv.prefix_index("web/"), 4);
    kv.delete_tree(5, "web/");
    assert_eq!(kv.prefix_index("web/"), 5);
    assert_eq!(kv.prefix_index("web/a/deeper/"), 5);
    assert_eq!(kv.prefix_index("other"), 3);
}

#[test]
fn a_missing_key_reports_its_deletion_index_or_the_table_index_if_never_seen() {
    let mut kv = KvStore::new();
    assert_eq!(kv.key_index("never"), 1);
    put(&mut kv, 3, "k", b"");
    kv.delete(4, "k");
    put(&mut kv, 9, "other", b"");
    assert_eq!(kv.key_index("k"), 4);
    assert_eq!(kv.key_index("never"), 9);
    kv.delete_tree(10, "d/");
    assert_eq!(
        kv.key_index("d/x"),
        9,
        "a tree that deleted nothing leaves no tombstone"
    );
    put(&mut kv, 11, "d/y", b"");
    kv.delete_tree(12, "d/");
    assert_eq!(kv.key_index("d/x"), 12);
}

#[test]
fn an_index_is_never_reported_below_one() {
    let kv = KvStore::new();
    assert_eq!(kv.key_index("k"), 1);
    assert_eq!(kv.prefix_index(""), 1);
    assert_eq!(kv.prefix_index("p/"), 1);
}

#[test]
fn past_the_tombstone_cap_prefix_reads_report_at_least_the_floor() {
    let mut kv = KvStore::new();
    put(&mut kv, 1, "keep/a", b"");
    put(&mut kv, 2, "keep/b", b"");
    kv.delete(3, "keep/b");
    let mut index = 3;
    for i in 0..MAX_TOMBSTONES {
        index += 1;
        put(&mut kv, index, &format!("tmp/{i}"), b"");
        index += 1;
        kv.delete(index, &format!("tmp/{i}"));
    }
    // keep/b's tombstone was the oldest: dropped, so the floor stands in.
    assert_eq!(kv.tombstones().floor_index(), 3);
    assert_eq!(kv.prefix_index("keep/"), 3);
    assert_eq!(
        kv.key_index("keep/b"),
        index,
        "uncovered now: the table index"
    );
}

#[test]
fn keys_with_a_separator_roll_sub_folders_up() {
    let mut kv = KvStore::new();
    for (i, key) in [
        "web/a",
        "web/sub/x",
        "web/sub/y",
        "web/sub2/z",
        "web/z",
        "webx",
    ]
    .iter()
    .enumerate()
    {
        put(&mut kv, i as u64 + 1, key, b"");
    }
    let read = kv.read_keys("web/", Some("/"));
    assert_eq!(read.keys, ["web/a", "web/sub/", "web/sub2/", "web/z"]);
    assert_eq!(read.index, 5);
    assert_eq!(kv.read_keys("web/", None).keys.len(), 5);
    assert_eq!(kv.read_keys("web/", Some("")).keys.len(), 5);
    assert_eq!(kv.read_keys("", Some("/")).keys, ["web/", "webx"]);
}

#[test]
fn list_is_ordered_and_bounded_by_prefix() {
    let mut kv = KvStore::new();
    for (i, key) in ["z", "web/2", "web/10", "web", "wea"].iter().enumerate() {
        put(&mut kv, i as u64 + 1, key, b"");
    }
    let keys: Vec<String> = kv.entries("web").into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["web", "web/10", "web/2"]);
}

#[derive(Debug, Clone)]
enum Op {
    Put(&'static str, u8, Option<u64>),
    Delete(&'static str),
    DeleteTree(&'static str),
}

fn arb_op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let key = proptest::sample::select(vec!["a", "a/", "a/b", "ab", "b", "b/c"]);
    prop_oneof![
        (key.clone(), 0u8..3, proptest::option::of(0u64..8))
            .prop_map(|(k, v, cas)| Op::Put(k, v, cas)),
        key.clone().prop_map(Op::Delete),
        proptest::sample::select(vec!["", "a", "a/", "b"]).prop_map(Op::DeleteTree),
    ]
}

const WATCHED: [&str; 6] = ["", "a", "a/", "a/b", "b", "zz"];

proptest::proptest! {
    /// The store against a naive model: a list of (key, record) scanned
    /// linearly, with Consul's CAS and unchanged-put rules written out.
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
                        kv.put(index, key, bytes(&[value]), 0, cas).is_ok(),
                        allowed
                    );
                    match current {
                        _ if !allowed => {}
                        Some(p) if model[p].1.value[..] == [value] => {}
                        Some(p) => {
                            model[p].1.value = bytes(&[value]);
                            model[p].1.modify_index = index;
                        }
                        None => model.push((key.to_string(), KvRecord {
                            value: bytes(&[value]),
                            flags: 0,
                            create_index: index,
                            modify_index: index,
                            lock_index: 0,
                            session: None,
                        })),
                    }
                }
                Op::Delete(key) => {
                    let existed = model.iter().any(|(k, _)| k == key);
                    model.retain(|(k, _)| k != key);
                    proptest::prop_assert_eq!(kv.delete(index, key), existed);
                }
                Op::DeleteTree(prefix) => {
                    let before = model.len();
                    model.retain(|(k, _)| !k.starts_with(prefix));
                    proptest::prop_assert_eq!(kv.delete_tree(index, prefix), before - model.len());
                }
            }
            kv.check_invariants();
            let mut expected = model.clone();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            let actual: Vec<(String, KvRecord)> =
                kv.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
            proptest::prop_assert_eq!(actual, expected);
        }
    }

    /// Whatever the writes, no key's or prefix's index ever decreases.
    #[test]
    fn indexes_never_go_backwards(ops in proptest::collection::vec(arb_op(), 0..80)) {
        let mut kv = KvStore::new();
        let mut last_key = [1u64; WATCHED.len()];
        let mut last_prefix = [1u64; WATCHED.len()];
        for (i, op) in ops.into_iter().enumerate() {
            let index = i as u64 + 1;
            match op {
                Op::Put(key, value, cas) => {
                    let _ = kv.put(index, key, bytes(&[value]), 0, cas);
                }
                Op::Delete(key) => {
                    kv.delete(index, key);
                }
                Op::DeleteTree(prefix) => {
                    kv.delete_tree(index, prefix);
                }
            }
            kv.check_invariants();
            for (w, watched) in WATCHED.iter().enumerate() {
                let key_index = kv.key_index(watched);
                let prefix_index = kv.prefix_index(watched);
                proptest::prop_assert!(key_index >= last_key[w], "key {watched:?}");
                proptest::prop_assert!(prefix_index >= last_prefix[w], "prefix {watched:?}");
                proptest::prop_assert!(prefix_index <= index.max(1) && key_index <= index.max(1));
                last_key[w] = key_index;
                last_prefix[w] = prefix_index;
            }
        }
    }
}

#[test]
fn a_transaction_that_deletes_a_tree_then_writes_under_it_keeps_the_key_live() {
    use crate::state_machine::TxnOp;
    let mut kv = KvStore::new();
    put(&mut kv, 1, "a/b", b"old");
    let ops = [
        TxnOp::DeleteTree {
            prefix: "a/".into(),
        },
        TxnOp::Set {
            key: "a/b".into(),
            value: bytes(b"new"),
            flags: 0,
        },
    ];
    crate::state_machine::txn::apply_txn(&mut kv, 2, &ops);
    let record = kv.get("a/b").expect("written after the tree was deleted");
    assert_eq!((record.modify_index, &record.value[..]), (2, &b"new"[..]));
    assert_eq!(kv.tombstones().key_deleted_index("a/b"), Some(2));
    kv.check_invariants();
}
