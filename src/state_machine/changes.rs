//! What one applied command changed, so the agent wakes exactly the
//! blocking queries it concerns: the keys written or deleted, and the
//! prefixes deleted as whole trees (one entry however many keys the tree
//! held, so the set stays as small as the command).

/// KV keys changed by one command. A put that changed nothing, a delete of
/// an absent key and a delete-tree that found no key are not listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvChanges {
    /// Keys created, overwritten or deleted, in the order the command
    /// touched them, each once.
    pub keys: Vec<String>,
    /// Prefixes whose keys were deleted by a delete-tree (`""`: all keys).
    pub trees: Vec<String>,
}

impl KvChanges {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.trees.is_empty()
    }

    pub(crate) fn add_key(&mut self, key: &str) {
        if !self.keys.iter().any(|k| k == key) {
            self.keys.push(key.to_owned());
        }
    }

    pub(crate) fn add_tree(&mut self, prefix: &str) {
        if !self.trees.iter().any(|p| p == prefix) {
            self.trees.push(prefix.to_owned());
        }
    }
}

/// Everything one applied command changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub kv: KvChanges,
    /// A node was registered, replaced or deregistered, or a service or
    /// check changed.
    pub catalog: bool,
    /// Service names whose index moved (their watchers wake).
    pub services: Vec<String>,
}

impl Changes {
    pub(crate) fn record_catalog(&mut self, change: crate::state_machine::catalog::CatalogChange) {
        self.catalog |= change.changed;
        self.services.extend(change.services);
    }
}

/// A blocking query's view of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvWatch<'a> {
    /// One key (`GET /v1/kv/<key>`).
    Key(&'a str),
    /// Every key under a prefix (`?recurse` and `?keys`).
    Prefix(&'a str),
}

impl KvWatch<'_> {
    /// Whether `changes` may have changed what this watch reads. Exact for
    /// keys; a deleted tree affects a prefix watch when either prefix
    /// contains the other, which wakes a watch of a sub-prefix the tree held
    /// no key under (its index moved too, so the wake is consistent).
    pub fn is_affected_by(&self, changes: &KvChanges) -> bool {
        match *self {
            KvWatch::Key(watched) => {
                changes.keys.iter().any(|key| key == watched)
                    || changes
                        .trees
                        .iter()
                        .any(|tree| watched.starts_with(tree.as_str()))
            }
            KvWatch::Prefix(watched) => {
                changes.keys.iter().any(|key| key.starts_with(watched))
                    || changes
                        .trees
                        .iter()
                        .any(|tree| tree.starts_with(watched) || watched.starts_with(tree.as_str()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(keys: &[&str], trees: &[&str]) -> KvChanges {
        KvChanges {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            trees: trees.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn a_key_watch_is_affected_only_by_its_key_or_a_tree_above_it() {
        let watch = KvWatch::Key("app/db");
        assert!(watch.is_affected_by(&changes(&["app/db"], &[])));
        assert!(!watch.is_affected_by(&changes(&["app/db2", "app"], &[])));
        assert!(watch.is_affected_by(&changes(&[], &["app/"])));
        assert!(watch.is_affected_by(&changes(&[], &[""])));
        assert!(!watch.is_affected_by(&changes(&[], &["app/db/"])));
    }

    #[test]
    fn a_prefix_watch_is_affected_by_keys_under_it_and_overlapping_trees() {
        let watch = KvWatch::Prefix("app/");
        assert!(watch.is_affected_by(&changes(&["app/x/y"], &[])));
        assert!(!watch.is_affected_by(&changes(&["ap", "app"], &[])));
        assert!(watch.is_affected_by(&changes(&[], &["app/x/"])));
        assert!(watch.is_affected_by(&changes(&[], &["a"])));
        assert!(!watch.is_affected_by(&changes(&[], &["b/"])));
        assert!(!watch.is_affected_by(&KvChanges::default()));
    }
}
