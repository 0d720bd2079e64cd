//! Blocking queries this server holds: reads whose result's index has not
//! passed the client's `?index` yet. Each is a table entry (no thread, no
//! timer of its own), indexed so that an applied entry finds the queries it
//! concerns without looking at the others: by watched key, by watched
//! prefix, catalog watchers apart, and by deadline. A KV change wakes a
//! query only when [`KvWatch::is_affected_by`] says it may have changed
//! what it reads, and a catalog change only the catalog's watchers, so
//! writes elsewhere wake nobody.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::time::Instant;

use crate::state_machine::services::fold_service_name;
use crate::state_machine::{Changes, KvWatch};
use crate::wire::client_catalog::CatalogQuery;
use crate::wire::client_kv::KvReadKind;
use crate::wire::client_message::RequestBody;

use crate::agent::io::connection::ConnectionId;
use crate::agent::server::WaitingRead;

/// Blocking queries one server holds at once; past it a blocking query is
/// refused (429) rather than answered early, which would make its client
/// poll in a loop.
pub const MAX_BLOCKED_QUERIES: usize = 32_768;

/// What a held query watches, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Watched {
    Key(String),
    Prefix(String),
    /// A read about one service, which reports that service's index.
    Service(String),
    /// Any other catalog read: they report a table's index.
    Catalog,
}

impl Watched {
    fn of(body: &RequestBody) -> Option<Watched> {
        match body {
            RequestBody::KvRead(read) => Some(match read.kind {
                KvReadKind::Entry => Watched::Key(read.key.clone()),
                KvReadKind::Tree | KvReadKind::Keys { .. } => Watched::Prefix(read.key.clone()),
            }),
            RequestBody::CatalogRead(read) => Some(match &read.query {
                CatalogQuery::ServiceNodes { name, .. }
                | CatalogQuery::HealthService { name, .. }
                | CatalogQuery::ServiceChecks { name } => Watched::Service(fold_service_name(name)),
                _ => Watched::Catalog,
            }),
            _ => None,
        }
    }

    fn is_affected_by(&self, changes: &Changes) -> bool {
        match self {
            Watched::Key(key) => KvWatch::Key(key).is_affected_by(&changes.kv),
            Watched::Prefix(prefix) => KvWatch::Prefix(prefix).is_affected_by(&changes.kv),
            Watched::Service(name) => changes.services.iter().any(|s| s == name),
            Watched::Catalog => changes.catalog,
        }
    }
}

struct Held {
    read: WaitingRead,
    watched: Watched,
    deadline: Instant,
}

#[derive(Default)]
pub(crate) struct BlockedQueries {
    next_id: u64,
    held: HashMap<u64, Held>,
    by_key: BTreeMap<String, HashSet<u64>>,
    by_prefix: BTreeMap<String, HashSet<u64>>,
    catalog: BTreeSet<u64>,
    by_service: BTreeMap<String, HashSet<u64>>,
    by_deadline: BTreeSet<(Instant, u64)>,
    by_connection: HashMap<ConnectionId, HashSet<u64>>,
}

impl BlockedQueries {
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    /// Holds `read` until a change concerns it or `deadline`; gives it back
    /// when the table is full or the read watches nothing.
    pub(crate) fn hold(&mut self, read: WaitingRead, deadline: Instant) -> Result<(), WaitingRead> {
        if self.held.len() >= MAX_BLOCKED_QUERIES {
            return Err(read);
        }
        let Some(watched) = Watched::of(&read.body) else {
            return Err(read);
        };
        let id = self.next_id;
        self.next_id += 1;
        match &watched {
            Watched::Key(key) => self.by_key.entry(key.clone()).or_default().insert(id),
            Watched::Prefix(prefix) => self.by_prefix.entry(prefix.clone()).or_default().insert(id),
            Watched::Service(name) => self.by_service.entry(name.clone()).or_default().insert(id),
            Watched::Catalog => self.catalog.insert(id),
        };
        self.by_deadline.insert((deadline, id));
        self.by_connection
            .entry(read.connection)
            .or_default()
            .insert(id);
        self.held.insert(
            id,
            Held {
                read,
                watched,
                deadline,
            },
        );
        Ok(())
    }

    /// The queries `changes` may concern, removed, in the order they were held.
    pub(crate) fn take_affected(&mut self, changes: &Changes) -> Vec<WaitingRead> {
        let quiet = changes.kv.is_empty() && !changes.catalog && changes.services.is_empty();
        if self.held.is_empty() || quiet {
            return Vec::new();
        }
        let mut candidates: BTreeSet<u64> = BTreeSet::new();
        if changes.catalog {
            candidates.extend(self.catalog.iter().copied());
        }
        for name in &changes.services {
            extend(&mut candidates, self.by_service.get(name.as_str()));
        }
        for key in &changes.kv.keys {
            extend(&mut candidates, self.by_key.get(key.as_str()));
            for prefix in prefixes_of(key) {
                extend(&mut candidates, self.by_prefix.get(prefix));
            }
        }
        for tree in &changes.kv.trees {
            for ids in under(&self.by_key, tree).chain(under(&self.by_prefix, tree)) {
                candidates.extend(ids.iter().copied());
            }
            for prefix in prefixes_of(tree) {
                extend(&mut candidates, self.by_prefix.get(prefix));
            }
        }
        let affected: Vec<u64> = candidates
            .into_iter()
            .filter(|id| {
                self.held
                    .get(id)
                    .is_some_and(|held| held.watched.is_affected_by(changes))
            })
            .collect();
        affected
            .into_iter()
            .filter_map(|id| self.remove(id))
            .collect()
    }

    /// The queries whose wait is over at `now`.
    pub(crate) fn take_expired(&mut self, now: Instant) -> Vec<WaitingRead> {
        let due: Vec<u64> = self
            .by_deadline
            .range(..=(now, u64::MAX))
            .map(|(_, id)| *id)
            .collect();
        due.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// The queries matching `wanted`, removed (all of them after a
    /// snapshot replaced the state; the leader's own after it lost
    /// leadership).
    pub(crate) fn take_where(&mut self, wanted: impl Fn(&WaitingRead) -> bool) -> Vec<WaitingRead> {
        let mut ids: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, held)| wanted(&held.read))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Forgets the queries of a closed connection: nobody reads their answer.
    pub(crate) fn forget_connection(&mut self, connection: ConnectionId) {
        let ids = self.by_connection.remove(&connection).unwrap_or_default();
        for id in ids {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: u64) -> Option<WaitingRead> {
        let held = self.held.remove(&id)?;
        let index = match &held.watched {
            Watched::Key(key) => self.by_key.get_mut(key.as_str()).map(|ids| (ids, key)),
            Watched::Prefix(prefix) => self
                .by_prefix
                .get_mut(prefix.as_str())
                .map(|ids| (ids, prefix)),
            Watched::Service(name) => self
                .by_service
                .get_mut(name.as_str())
                .map(|ids| (ids, name)),
            Watched::Catalog => {
                self.catalog.remove(&id);
                None
            }
        };
        if let Some((ids, name)) = index {
            ids.remove(&id);
            if ids.is_empty() {
                let name = name.clone();
                match &held.watched {
                    Watched::Key(_) => self.by_key.remove(&name),
                    Watched::Prefix(_) => self.by_prefix.remove(&name),
                    Watched::Service(_) => self.by_service.remove(&name),
                    Watched::Catalog => None,
                };
            }
        }
        self.by_deadline.remove(&(held.deadline, id));
        if let Some(ids) = self.by_connection.get_mut(&held.read.connection) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_connection.remove(&held.read.connection);
            }
        }
        Some(held.read)
    }
}

fn extend(into: &mut BTreeSet<u64>, ids: Option<&HashSet<u64>>) {
    if let Some(ids) = ids {
        into.extend(ids.iter().copied());
    }
}

/// Every prefix of `key` (the empty one and `key` itself included), at
/// character boundaries: the prefix watches a change of `key` may concern.
fn prefixes_of(key: &str) -> impl Iterator<Item = &str> {
    key.char_indices()
        .map(|(at, _)| &key[..at])
        .chain(std::iter::once(key))
}

/// The entries of `map` whose name starts with `tree`.
fn under<'a>(
    map: &'a BTreeMap<String, HashSet<u64>>,
    tree: &'a str,
) -> impl Iterator<Item = &'a HashSet<u64>> {
    map.range::<str, _>((Bound::Included(tree), Bound::Unbounded))
        .take_while(move |(name, _)| name.starts_with(tree))
        .map(|(_, ids)| ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::KvChanges;
    use crate::wire::client_catalog::{CatalogQuery, CatalogRead};
    use crate::wire::client_kv::KvRead;
    use crate::wire::client_message::Consistency;
    use std::time::Duration;

    fn read(key: &str, kind: KvReadKind, connection: usize) -> WaitingRead {
        WaitingRead {
            connection: ConnectionId(connection),
            request_id: 1,
            body: RequestBody::KvRead(KvRead {
                key: key.into(),
                kind,
                consistency: Consistency::Stale,
                min_index: 5,
                wait_ms: 1000,
            }),
            deadline: None,
        }
    }

    fn changes(keys: &[&str], trees: &[&str]) -> Changes {
        Changes {
            kv: KvChanges {
                keys: keys.iter().map(|k| k.to_string()).collect(),
                trees: trees.iter().map(|t| t.to_string()).collect(),
            },
            catalog: false,
            services: Vec::new(),
        }
    }

    fn catalog_read(connection: usize) -> WaitingRead {
        catalog_query(connection, CatalogQuery::Nodes)
    }

    fn catalog_query(connection: usize, query: CatalogQuery) -> WaitingRead {
        WaitingRead {
            connection: ConnectionId(connection),
            request_id: 1,
            body: RequestBody::CatalogRead(CatalogRead {
                query,
                consistency: Consistency::Default,
                min_index: 5,
                wait_ms: 1000,
            }),
            deadline: None,
        }
    }

    fn table() -> (BlockedQueries, Instant) {
        let now = Instant::now();
        let mut table = BlockedQueries::default();
        let later = now + Duration::from_secs(60);
        table
            .hold(read("app/db", KvReadKind::Entry, 1), later)
            .unwrap();
        table
            .hold(read("app/", KvReadKind::Tree, 2), later)
            .unwrap();
        table
            .hold(
                read("other", KvReadKind::Entry, 3),
                now + Duration::from_secs(1),
            )
            .unwrap();
        (table, now)
    }

    fn connections(reads: &[WaitingRead]) -> Vec<usize> {
        reads.iter().map(|r| r.connection.0).collect()
    }

    #[test]
    fn a_write_wakes_its_key_and_the_prefixes_above_it_only() {
        let (mut table, _) = table();
        assert!(
            table
                .take_affected(&changes(&["app/dbx", "zzz"], &[]))
                .len()
                == 1
        );
        assert_eq!(table.len(), 2);
        let woken = table.take_affected(&changes(&["app/db"], &[]));
        assert_eq!(connections(&woken), [1]);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_catalog_change_wakes_the_catalog_watchers_only() {
        let (mut table, now) = table();
        let later = now + Duration::from_secs(60);
        table.hold(catalog_read(7), later).unwrap();
        table.hold(catalog_read(8), later).unwrap();
        assert!(table.take_affected(&changes(&["zzz"], &[""])).len() == 3);
        assert_eq!(table.len(), 2, "a KV change leaves catalog watchers held");
        let mut catalog = changes(&[], &[]);
        catalog.catalog = true;
        let woken = table.take_affected(&catalog);
        assert_eq!(connections(&woken), [7, 8]);
        assert_eq!(table.len(), 0);
        table.hold(catalog_read(9), later).unwrap();
        table.forget_connection(ConnectionId(9));
        assert!(table.take_affected(&catalog).is_empty());
    }

    #[test]
    fn a_service_watch_wakes_only_when_that_service_changes() {
        let (mut table, now) = table();
        let later = now + Duration::from_secs(60);
        let health = |name: &str| CatalogQuery::HealthService {
            name: name.into(),
            tags: vec![],
            passing_only: false,
        };
        table.hold(catalog_query(1, health("web")), later).unwrap();
        let service_nodes = CatalogQuery::ServiceNodes {
            name: "db".into(),
            tags: vec![],
        };
        table.hold(catalog_query(2, service_nodes), later).unwrap();
        table.hold(catalog_read(3), later).unwrap();
        let mut db_changed = changes(&[], &[]);
        db_changed.catalog = true;
        db_changed.services = vec!["db".into()];
        assert_eq!(connections(&table.take_affected(&db_changed)), [2, 3]);
        let mut node_only = changes(&[], &[]);
        node_only.catalog = true;
        assert!(
            table.take_affected(&node_only).is_empty(),
            "web is untouched"
        );
        let mut web_changed = changes(&[], &[]);
        web_changed.services = vec!["web".into()];
        assert_eq!(connections(&table.take_affected(&web_changed)), [1]);
        assert_eq!(table.len(), 3, "the table's own KV watchers stay");
    }

    #[test]
    fn unrelated_writes_wake_nobody() {
        let (mut table, _) = table();
        assert!(
            table
                .take_affected(&changes(&["ap", "b/app/db"], &["b/"]))
                .is_empty()
        );
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn a_deleted_tree_wakes_keys_under_it_and_prefixes_around_it() {
        let (mut table, _) = table();
        let woken = table.take_affected(&changes(&[], &["app/d"]));
        assert_eq!(connections(&woken), [1, 2]);
        let woken = table.take_affected(&changes(&[], &[""]));
        assert_eq!(connections(&woken), [3]);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn queries_expire_at_their_deadline_and_leave_with_their_connection() {
        let (mut table, now) = table();
        assert!(table.take_expired(now).is_empty());
        let expired = table.take_expired(now + Duration::from_secs(1));
        assert_eq!(connections(&expired), [3]);
        table.forget_connection(ConnectionId(2));
        assert_eq!(table.len(), 1);
        assert!(table.by_prefix.is_empty() && table.by_connection.len() == 1);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = BlockedQueries::default();
        let later = Instant::now() + Duration::from_secs(60);
        for i in 0..MAX_BLOCKED_QUERIES {
            table.hold(read("k", KvReadKind::Entry, i), later).unwrap();
        }
        assert!(table.hold(read("k", KvReadKind::Entry, 0), later).is_err());
    }
}
