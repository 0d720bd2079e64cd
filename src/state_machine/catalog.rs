//! The replicated node catalog: which nodes are registered, with their
//! address, role and datacenter, keyed and ordered by node name. Each entry
//! carries the Raft indexes Consul shows (`CreateIndex`, `ModifyIndex`),
//! and the catalog its table index: the index of its last change,
//! deregistrations included, so a blocking query on the nodes never sees
//! its index go backwards when the newest node leaves.
//!
//! Each node's services and checks are in [`ServiceTable`]; deregistering
//! a node removes them with it, and a node's update moves the indexes of
//! the services it runs.

use imbl::OrdMap;

use crate::state_machine::services::{ServiceTable, TouchedServices};
use crate::wire::catalog_registration::{DeregisterRequest, DeregisterTarget, RegisterRequest};
use crate::wire::client_message::CatalogNode;

/// What one catalog command changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogChange {
    pub changed: bool,
    /// Service names whose index moved.
    pub services: TouchedServices,
}

/// A registered node with the indexes of its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRecord {
    pub node: CatalogNode,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Persistent map, for the same O(1) snapshot clone as the KV store.
    nodes: OrdMap<String, CatalogRecord>,
    /// The index of the last change; 0 before any.
    table_index: u64,
    services: ServiceTable,
}

impl Catalog {
    pub fn new() -> Self {
        Catalog::default()
    }

    /// A catalog restored from a snapshot's records, in any order.
    pub fn from_records(records: Vec<CatalogRecord>, table_index: u64) -> Self {
        let nodes = records
            .into_iter()
            .map(|record| (record.node.name.clone(), record))
            .collect();
        Catalog {
            nodes,
            table_index,
            services: ServiceTable::default(),
        }
    }

    /// Adds the restored services; their nodes must be registered.
    pub fn with_services(mut self, services: ServiceTable) -> Result<Catalog, String> {
        if let Some((node, _)) = services.nodes().find(|(n, _)| !self.nodes.contains_key(*n)) {
            return Err(format!("services of unregistered node {node:?}"));
        }
        if services.table_index() > self.table_index {
            return Err(format!(
                "services index {} past the catalog's {}",
                services.table_index(),
                self.table_index
            ));
        }
        self.services = services;
        Ok(self)
    }

    pub fn services(&self) -> &ServiceTable {
        &self.services
    }

    /// Adds the node at `index`, or replaces the entry of the same name
    /// when it differs (keeping its create index). Returns whether the
    /// catalog changed: registering what is already there changes nothing,
    /// as Consul's `EnsureNode` skips an identical node, so the leader's
    /// reconciliation wakes no watcher.
    pub fn register(&mut self, node: CatalogNode, index: u64) -> bool {
        self.register_node(node, index).changed
    }

    /// As [`Catalog::register`], with the services the change touched.
    pub fn register_node(&mut self, node: CatalogNode, index: u64) -> CatalogChange {
        let create_index = match self.nodes.get(&node.name) {
            Some(existing) if existing.node == node => return CatalogChange::default(),
            Some(existing) => existing.create_index,
            None => index,
        };
        let name = node.name.clone();
        self.table_index = self.table_index.max(index);
        let record = CatalogRecord {
            node,
            create_index,
            modify_index: index,
        };
        self.nodes.insert(record.node.name.clone(), record);
        CatalogChange {
            changed: true,
            services: self.services.node_updated(&name, index),
        }
    }

    /// Returns whether the node was registered.
    pub fn deregister(&mut self, name: &str, index: u64) -> bool {
        self.deregister_node(name, index).changed
    }

    /// Removes the node with its services and checks.
    pub fn deregister_node(&mut self, name: &str, index: u64) -> CatalogChange {
        let existed = self.nodes.remove(name).is_some();
        let (services, _) = self.services.remove_node(name, index);
        if existed {
            self.table_index = self.table_index.max(index);
        }
        CatalogChange {
            changed: existed,
            services,
        }
    }

    /// Consul's `EnsureRegistration`: the node, its service and its checks,
    /// all or nothing. An error is Consul's text and changes nothing.
    pub fn apply_registration(
        &mut self,
        request: &RegisterRequest,
        index: u64,
    ) -> Result<CatalogChange, String> {
        if request.node.is_empty() || request.address.is_empty() {
            return Err("Must provide node and address".into());
        }
        if let Some(err) = request
            .limits_error()
            .or_else(|| self.services.registration_error(request))
        {
            return Err(err);
        }
        let existing = self.nodes.get(&request.node).map(|r| &r.node);
        let node = CatalogNode {
            name: request.node.clone(),
            // A gossip-registered node holds `IP:port`; an agent's
            // registration gives the IP, which must not flip it back.
            address: match existing {
                Some(node) if same_host(&node.address, &request.address) => node.address.clone(),
                _ => request.address.clone(),
            },
            role: existing.map(|n| n.role.clone()).unwrap_or_default(),
            datacenter: match existing {
                Some(node) if request.datacenter.is_empty() => node.datacenter.clone(),
                _ => request.datacenter.clone(),
            },
        };
        let mut change = self.register_node(node, index);
        let (changed, touched) = self.services.register(request, index);
        if changed {
            change.changed = true;
            self.table_index = self.table_index.max(index);
        }
        change.services.extend(touched);
        Ok(change)
    }

    /// Consul's `DeregisterRequest`. Removing what is not there is no
    /// error (Consul answers `true`); a node must be named.
    pub fn apply_deregistration(
        &mut self,
        request: &DeregisterRequest,
        index: u64,
    ) -> Result<CatalogChange, String> {
        if request.node.is_empty() {
            return Err("Must provide node".into());
        }
        let services = match &request.target {
            DeregisterTarget::Node => return Ok(self.deregister_node(&request.node, index)),
            DeregisterTarget::Service(id) => self.services.remove_service(&request.node, id, index),
            DeregisterTarget::Check(id) => self.services.remove_check(&request.node, id, index),
        };
        let Some(services) = services else {
            return Ok(CatalogChange::default());
        };
        self.table_index = self.table_index.max(index);
        Ok(CatalogChange {
            changed: true,
            services,
        })
    }

    pub fn get(&self, name: &str) -> Option<&CatalogNode> {
        self.nodes.get(name).map(|record| &record.node)
    }

    pub fn record(&self, name: &str) -> Option<&CatalogRecord> {
        self.nodes.get(name)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node, ordered by name.
    pub fn nodes(&self) -> impl Iterator<Item = &CatalogNode> {
        self.nodes.values().map(|record| &record.node)
    }

    /// Every record, ordered by name.
    pub fn records(&self) -> impl Iterator<Item = &CatalogRecord> {
        self.nodes.values()
    }

    /// The index of the catalog's last change (0 before any).
    pub fn table_index(&self) -> u64 {
        self.table_index
    }

    /// Panics when the catalog breaks its own rules; for tests and the
    /// simulator (a restored snapshot is checked by its reader instead).
    pub fn check_invariants(&self) {
        if let Some(err) = self.services.invariant_error() {
            panic!("catalog services: {err}");
        }
        assert!(self.services.table_index() <= self.table_index);
        for (node, _) in self.services.nodes() {
            assert!(
                self.nodes.contains_key(node),
                "services of unknown node {node:?}"
            );
        }
        for (name, record) in self.nodes.iter() {
            assert_eq!(name, &record.node.name, "catalog keyed by node name");
            assert!(
                record.create_index <= record.modify_index
                    && record.modify_index <= self.table_index,
                "catalog node {name:?}: create {} modify {} table {}",
                record.create_index,
                record.modify_index,
                self.table_index
            );
        }
    }
}

/// Whether a stored `IP:port` (or bare IP) names the host `address`.
fn same_host(stored: &str, address: &str) -> bool {
    stored == address
        || stored
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|socket| socket.ip().to_string() == address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, address: &str) -> CatalogNode {
        CatalogNode {
            name: name.into(),
            address: address.into(),
            role: "server".into(),
            datacenter: "dc1".into(),
        }
    }

    #[test]
    fn register_replaces_the_entry_of_the_same_name_keeping_its_create_index() {
        let mut catalog = Catalog::new();
        assert!(catalog.register(node("n1", "127.0.0.1:8300"), 3));
        assert!(catalog.register(node("n1", "127.0.0.2:8300"), 7));
        assert_eq!(catalog.len(), 1);
        let record = catalog.record("n1").unwrap();
        assert_eq!(record.node.address, "127.0.0.2:8300");
        assert_eq!((record.create_index, record.modify_index), (3, 7));
        assert_eq!(catalog.table_index(), 7);
        catalog.check_invariants();
    }

    #[test]
    fn registering_an_identical_node_changes_nothing() {
        let mut catalog = Catalog::new();
        assert!(catalog.register(node("n1", "x"), 3));
        assert!(!catalog.register(node("n1", "x"), 9));
        assert_eq!(catalog.record("n1").unwrap().modify_index, 3);
        assert_eq!(catalog.table_index(), 3);
    }

    #[test]
    fn deregister_removes_only_the_named_node_and_moves_the_table_index() {
        let mut catalog = Catalog::new();
        catalog.register(node("b", "x"), 1);
        catalog.register(node("a", "y"), 2);
        assert!(catalog.deregister("b", 5));
        assert!(!catalog.deregister("b", 6));
        let names: Vec<&str> = catalog.nodes().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(catalog.table_index(), 5, "a deletion's index is kept");
        catalog.check_invariants();
    }
}
