//! The KV store's graveyard: the log index at which keys (and key trees)
//! were deleted, so a blocking read of a prefix never reports an index below
//! one it reported before, even after the prefix's newest key is deleted
//! (Consul's `tombstones` table, with a count cap instead of a reaping timer).
//!
//! Bounded: at most [`MAX_TOMBSTONES`]. Past it the oldest tombstones are
//! dropped and `floor_index` rises to the newest index dropped; reads that
//! consult tombstones report at least the floor, so an index may jump forward
//! (a watcher wakes once for nothing) but never goes backwards.

use imbl::{OrdMap, OrdSet};

/// Tombstones kept before the oldest are dropped behind the floor. Each costs
/// at most a 512-byte key in three maps, so the graveyard stays under ~16 MiB;
/// 10,000 deletions of lag keeps the floor far behind any live watcher in
/// ordinary use.
pub const MAX_TOMBSTONES: usize = 10_000;

/// A single deleted key, or a deleted tree (every key starting with a prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TombstoneKind {
    Key,
    Tree,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    keys: OrdMap<String, u64>,
    trees: OrdMap<String, u64>,
    /// Every tombstone by (index, kind, key): the eviction order, oldest
    /// first, the same on every server.
    by_age: OrdSet<(u64, TombstoneKind, String)>,
    floor_index: u64,
}

/// Why a restored graveyard is impossible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneRestoreError(pub String);

/// Entries of `map` whose key starts with `prefix`, in key order.
fn with_prefix<'a>(
    map: &'a OrdMap<String, u64>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a u64)> {
    map.range::<_, str>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .take_while(move |(key, _)| key.starts_with(prefix))
}

/// `text[..i]` for every char boundary `i`, shortest first, `text` included.
fn prefixes_of(text: &str) -> impl Iterator<Item = &str> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .map(move |i| &text[..i])
}

impl Tombstones {
    pub fn len(&self) -> usize {
        self.by_age.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_age.is_empty()
    }

    /// The newest deletion index dropped to respect [`MAX_TOMBSTONES`]; 0
    /// while none was dropped.
    pub fn floor_index(&self) -> u64 {
        self.floor_index
    }

    /// Records that `key` was deleted at `index`.
    pub fn bury_key(&mut self, key: &str, index: u64) {
        if let Some(old) = self.keys.insert(key.to_owned(), index) {
            self.by_age
                .remove(&(old, TombstoneKind::Key, key.to_owned()));
        }
        self.by_age
            .insert((index, TombstoneKind::Key, key.to_owned()));
        self.evict_over_cap();
    }

    /// Records that every key starting with `prefix` was deleted at `index`.
    /// Tombstones under `prefix` are older, and every read that would count
    /// one of them also counts the new tree tombstone, so they are dropped:
    /// answers stay exact and the graveyard does not grow with subtrees.
    pub fn bury_tree(&mut self, prefix: &str, index: u64) {
        for (kind, map) in [
            (TombstoneKind::Key, &mut self.keys),
            (TombstoneKind::Tree, &mut self.trees),
        ] {
            let dominated: Vec<(String, u64)> = with_prefix(map, prefix)
                .map(|(key, index)| (key.clone(), *index))
                .collect();
            for (key, old) in dominated {
                assert!(
                    old <= index,
                    "tombstone {key:?} at {old} is newer than {index}"
                );
                map.remove(&key);
                self.by_age.remove(&(old, kind, key));
            }
        }
        self.trees.insert(prefix.to_owned(), index);
        self.by_age
            .insert((index, TombstoneKind::Tree, prefix.to_owned()));
        self.evict_over_cap();
    }

    /// `key` was written again: its live ModifyIndex is newer than the
    /// tombstone, so every read that counted the tombstone now counts the key.
    pub fn forget_key(&mut self, key: &str) {
        if let Some(old) = self.keys.remove(key) {
            self.by_age
                .remove(&(old, TombstoneKind::Key, key.to_owned()));
        }
    }

    /// The newest deletion covering `key` (its own tombstone or a deleted
    /// tree above it), not counting the floor; `None` if no tombstone covers it.
    pub fn key_deleted_index(&self, key: &str) -> Option<u64> {
        let own = self.keys.get(key).copied();
        let trees = prefixes_of(key).filter_map(|prefix| self.trees.get(prefix).copied());
        own.into_iter().chain(trees).max()
    }

    /// The newest deletion of a key under `prefix` or of a tree that covers
    /// it, not counting the floor; 0 if none.
    pub fn prefix_deleted_index(&self, prefix: &str) -> u64 {
        let inside = with_prefix(&self.keys, prefix)
            .chain(with_prefix(&self.trees, prefix))
            .map(|(_, index)| *index);
        let above = prefixes_of(prefix)
            .filter(|p| p.len() < prefix.len())
            .filter_map(|p| self.trees.get(p).copied());
        inside.chain(above).max().unwrap_or(0)
    }

    /// Every tombstone ordered by (kind, key), for snapshots.
    pub fn iter(&self) -> impl Iterator<Item = (TombstoneKind, &String, u64)> {
        let keys = self.keys.iter().map(|(k, i)| (TombstoneKind::Key, k, *i));
        let trees = self.trees.iter().map(|(k, i)| (TombstoneKind::Tree, k, *i));
        keys.chain(trees)
    }

    /// Rebuilds a graveyard read from a snapshot taken at `applied_index`.
    /// Entries must be strictly increasing by (kind, key), at most
    /// [`MAX_TOMBSTONES`], with indexes in `1..=applied_index`.
    pub(crate) fn restore(
        entries: Vec<(TombstoneKind, String, u64)>,
        floor_index: u64,
        applied_index: u64,
    ) -> Result<Tombstones, TombstoneRestoreError> {
        let fail = |what: String| Err(TombstoneRestoreError(what));
        if entries.len() > MAX_TOMBSTONES {
            return fail(format!(
                "{} tombstones, limit {MAX_TOMBSTONES}",
                entries.len()
            ));
        }
        if floor_index > applied_index {
            return fail(format!(
                "floor {floor_index} above applied index {applied_index}"
            ));
        }
        let mut graveyard = Tombstones {
            floor_index,
            ..Tombstones::default()
        };
        let mut previous: Option<(TombstoneKind, &String)> = None;
        for (kind, key, index) in &entries {
            if previous.is_some_and(|p| p >= (*kind, key)) {
                return fail(format!("tombstone {key:?} repeated or out of order"));
            }
            if *index == 0 || *index > applied_index {
                return fail(format!("tombstone {key:?} at index {index}"));
            }
            previous = Some((*kind, key));
            let map = match kind {
                TombstoneKind::Key => &mut graveyard.keys,
                TombstoneKind::Tree => &mut graveyard.trees,
            };
            map.insert(key.clone(), *index);
            graveyard.by_age.insert((*index, *kind, key.clone()));
        }
        Ok(graveyard)
    }

    /// Panics when the graveyard's three views disagree or an index is out
    /// of `(floor_index, table_index]`. O(n): for tests and simulators.
    pub fn check_invariants(&self, table_index: u64) {
        assert!(
            self.by_age.len() <= MAX_TOMBSTONES,
            "graveyard over its cap"
        );
        assert_eq!(
            self.by_age.len(),
            self.keys.len() + self.trees.len(),
            "the eviction order and the tombstone maps disagree"
        );
        for (index, kind, key) in &self.by_age {
            let map = match kind {
                TombstoneKind::Key => &self.keys,
                TombstoneKind::Tree => &self.trees,
            };
            assert_eq!(
                map.get(key),
                Some(index),
                "tombstone {key:?} is not where its age says"
            );
            assert!(
                *index > self.floor_index && *index <= table_index,
                "tombstone {key:?} at {index} outside ({}, {table_index}]",
                self.floor_index
            );
        }
        assert!(
            self.floor_index <= table_index,
            "the floor is past the table index"
        );
    }

    fn evict_over_cap(&mut self) {
        while self.by_age.len() > MAX_TOMBSTONES {
            let (index, kind, key) = self
                .by_age
                .remove_min()
                .expect("a graveyard over its cap is not empty");
            match kind {
                TombstoneKind::Key => self.keys.remove(&key),
                TombstoneKind::Tree => self.trees.remove(&key),
            };
            self.floor_index = self.floor_index.max(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_tombstone_covers_keys_and_prefixes_below_it() {
        let mut graveyard = Tombstones::default();
        graveyard.bury_tree("a/", 7);
        assert_eq!(graveyard.key_deleted_index("a/b/c"), Some(7));
        assert_eq!(graveyard.key_deleted_index("a/"), Some(7));
        assert_eq!(graveyard.key_deleted_index("a"), None);
        assert_eq!(graveyard.prefix_deleted_index("a/b/"), 7);
        assert_eq!(graveyard.prefix_deleted_index("a"), 7);
        assert_eq!(graveyard.prefix_deleted_index("b"), 0);
    }

    #[test]
    fn a_tree_tombstone_absorbs_the_older_tombstones_under_it() {
        let mut graveyard = Tombstones::default();
        graveyard.bury_key("a/x", 3);
        graveyard.bury_tree("a/b/", 4);
        graveyard.bury_key("b", 5);
        graveyard.bury_tree("a/", 6);
        let left: Vec<_> = graveyard
            .iter()
            .map(|(k, key, i)| (k, key.clone(), i))
            .collect();
        assert_eq!(
            left,
            [
                (TombstoneKind::Key, "b".to_owned(), 5),
                (TombstoneKind::Tree, "a/".to_owned(), 6)
            ]
        );
    }

    #[test]
    fn past_the_cap_the_oldest_tombstone_goes_and_the_floor_rises_to_it() {
        let mut graveyard = Tombstones::default();
        for i in 1..=MAX_TOMBSTONES as u64 + 2 {
            graveyard.bury_key(&format!("k{i}"), i);
        }
        assert_eq!(graveyard.len(), MAX_TOMBSTONES);
        assert_eq!(graveyard.floor_index(), 2);
        assert_eq!(graveyard.key_deleted_index("k1"), None);
        assert_eq!(graveyard.key_deleted_index("k3"), Some(3));
    }

    #[test]
    fn restore_refuses_disorder_and_indexes_past_the_snapshot() {
        let entry = |kind, key: &str, index| (kind, key.to_owned(), index);
        assert!(
            Tombstones::restore(
                vec![
                    entry(TombstoneKind::Tree, "a", 1),
                    entry(TombstoneKind::Key, "b", 1)
                ],
                0,
                5
            )
            .is_err()
        );
        assert!(Tombstones::restore(vec![entry(TombstoneKind::Key, "a", 6)], 0, 5).is_err());
        assert!(Tombstones::restore(vec![], 6, 5).is_err());
        let ok = Tombstones::restore(
            vec![
                entry(TombstoneKind::Key, "b", 2),
                entry(TombstoneKind::Tree, "a", 1),
            ],
            1,
            5,
        )
        .unwrap();
        assert_eq!(ok.key_deleted_index("ab"), Some(1));
    }
}
