//! The catalog's services and health checks, per node, as Consul's state
//! store holds them (`ensureServiceTxn`, `ensureCheckTxn`): services keyed
//! by service ID and checks by check ID, each with its create and modify
//! indexes. Registering what is already there changes nothing, so an
//! agent's anti-entropy may resend its whole state without waking anyone.
//!
//! Each service name has its own index: the last change to one of its
//! instances or their checks, node-level checks and node updates of the
//! nodes running it included. A blocking query on one service wakes on
//! those only. A name without instances has no entry and reads the table's
//! index instead (as Consul's `maxIndexForService`), so its index never
//! goes backwards however it was deleted, and the map stays as small as
//! the live services.
//!
//! Service names are matched without case, as Consul's state store indexes
//! them (`Lowercase: true`) and as DNS must (a resolver may send any case):
//! the instance links and per-name indexes are keyed by the folded name
//! ([`fold_service_name`]); records keep the name as registered.

use std::collections::{BTreeMap, BTreeSet};

use imbl::{OrdMap, OrdSet};

use crate::wire::catalog_registration::{
    CheckDefinition, CheckStatus, RegisterRequest, ServiceDefinition,
};

/// Services one node may hold; a bound on the state, not Consul's.
pub const MAX_SERVICES_PER_NODE: usize = 4096;
/// Checks one node may hold.
pub const MAX_CHECKS_PER_NODE: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub service: ServiceDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    pub check: CheckDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

/// What the catalog holds for one node beyond its address: Consul's node
/// meta and tagged addresses, its services and its checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeServices {
    pub meta: BTreeMap<String, String>,
    pub tagged_addresses: BTreeMap<String, String>,
    pub services: OrdMap<String, ServiceRecord>,
    pub checks: OrdMap<String, CheckRecord>,
}

/// A service name as the catalog matches it: without case.
pub fn fold_service_name(name: &str) -> String {
    name.to_lowercase()
}

impl NodeServices {
    /// The folded names of the node's services.
    fn service_names(&self) -> BTreeSet<String> {
        self.services
            .values()
            .map(|record| fold_service_name(&record.service.service))
            .collect()
    }

    /// Whether the node holds nothing a registration put there.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
            && self.tagged_addresses.is_empty()
            && self.services.is_empty()
            && self.checks.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceTable {
    nodes: OrdMap<String, NodeServices>,
    /// Folded service name → (node, service ID) of each instance, in the
    /// order every answer lists them (catalog and health alike).
    instances: OrdMap<String, OrdSet<(String, String)>>,
    /// Folded service name → its index; present while it has instances.
    service_indexes: OrdMap<String, u64>,
    /// The last change to any service or check, deletions included.
    table_index: u64,
}

/// The folded service names whose index an applied change moved.
pub type TouchedServices = BTreeSet<String>;

impl ServiceTable {
    pub fn node(&self, name: &str) -> Option<&NodeServices> {
        self.nodes.get(name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&String, &NodeServices)> {
        self.nodes.iter()
    }

    pub fn table_index(&self) -> u64 {
        self.table_index
    }

    /// The blocking-query index of one service name.
    pub fn service_index(&self, name: &str) -> u64 {
        self.service_indexes
            .get(&fold_service_name(name))
            .copied()
            .unwrap_or(self.table_index)
    }

    /// Every instance of `name`: (node, record), ordered by node then ID.
    pub fn instances<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = (&'a str, &'a ServiceRecord)> + 'a {
        self.instances
            .get(&fold_service_name(name))
            .into_iter()
            .flat_map(|set| set.iter())
            .filter_map(|(node, id)| {
                let record = self.nodes.get(node)?.services.get(id)?;
                Some((node.as_str(), record))
            })
    }

    /// Every service name as registered, ordered by name, with the union
    /// of its instances' tags, each tag once, in first-seen order (Consul's
    /// `/v1/catalog/services`, which lists names that differ only in case
    /// apart).
    pub fn service_tags(&self) -> Vec<(String, Vec<String>)> {
        let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for folded in self.instances.keys() {
            for (_, record) in self.instances(folded) {
                let tags = by_name.entry(&record.service.service).or_default();
                for tag in &record.service.tags {
                    if !tags.contains(tag) {
                        tags.push(tag.clone());
                    }
                }
            }
        }
        by_name
            .into_iter()
            .map(|(name, tags)| (name.to_owned(), tags))
            .collect()
    }

    /// The checks that bear on an instance: its own and its node's.
    pub fn instance_checks<'a>(
        &'a self,
        node: &str,
        service_id: &'a str,
    ) -> impl Iterator<Item = &'a CheckRecord> + 'a {
        self.nodes
            .get(node)
            .into_iter()
            .flat_map(|entry| entry.checks.values())
            .filter(move |record| {
                record.check.service_id.is_empty() || record.check.service_id == service_id
            })
    }

    /// Every check of every node, ordered by node then check ID.
    pub fn all_checks(&self) -> impl Iterator<Item = (&str, &CheckRecord)> {
        self.nodes
            .iter()
            .flat_map(|(node, entry)| entry.checks.values().map(move |c| (node.as_str(), c)))
    }

    fn touch(&mut self, names: &TouchedServices, index: u64) {
        if names.is_empty() {
            return;
        }
        self.table_index = self.table_index.max(index);
        for name in names {
            if self.instances.contains_key(name) {
                self.service_indexes.insert(name.clone(), index);
            } else {
                self.service_indexes.remove(name);
            }
        }
    }

    /// The node's address or role changed: its services' watchers wake.
    pub fn node_updated(&mut self, node: &str, index: u64) -> TouchedServices {
        let names = self.nodes.get(node).map(NodeServices::service_names);
        let names = names.unwrap_or_default();
        self.touch(&names, index);
        names
    }

    /// Why `request` cannot apply to this table, or `None`. Checked before
    /// anything changes, so a registration applies whole or not at all.
    pub fn registration_error(&self, request: &RegisterRequest) -> Option<String> {
        let entry = self.nodes.get(&request.node);
        let mut service_ids: BTreeSet<&str> = entry
            .map(|e| e.services.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if let Some(service) = &request.service {
            if service.service.is_empty() {
                return Some("Must provide service name".into());
            }
            service_ids.insert(effective_id(service));
        }
        if service_ids.len() > MAX_SERVICES_PER_NODE {
            return Some(format!(
                "node {:?} would hold more than {MAX_SERVICES_PER_NODE} services",
                request.node
            ));
        }
        let mut check_ids: BTreeSet<&str> = entry
            .map(|e| e.checks.keys().map(String::as_str).collect())
            .unwrap_or_default();
        for check in &request.checks {
            if check.check_id.is_empty() {
                return Some("Must provide check ID or name".into());
            }
            if !check.service_id.is_empty() && !service_ids.contains(check.service_id.as_str()) {
                return Some(format!(
                    "Missing service registration for check {:?}: service {:?}",
                    check.check_id, check.service_id
                ));
            }
            check_ids.insert(&check.check_id);
        }
        if check_ids.len() > MAX_CHECKS_PER_NODE {
            return Some(format!(
                "node {:?} would hold more than {MAX_CHECKS_PER_NODE} checks",
                request.node
            ));
        }
        None
    }

    /// Applies a registration [`ServiceTable::registration_error`] passed;
    /// returns whether anything changed, and the services touched.
    pub fn register(&mut self, request: &RegisterRequest, index: u64) -> (bool, TouchedServices) {
        let mut touched = TouchedServices::new();
        let mut entry = self.nodes.get(&request.node).cloned().unwrap_or_default();
        let mut changed = false;
        if entry.meta != request.node_meta || entry.tagged_addresses != request.tagged_addresses {
            entry.meta = request.node_meta.clone();
            entry.tagged_addresses = request.tagged_addresses.clone();
            touched.extend(entry.service_names());
            changed = true;
        }
        if let Some(service) = &request.service {
            let mut service = service.clone();
            service.id = effective_id(&service).to_owned();
            changed |= self.ensure_service(&request.node, &mut entry, service, index, &mut touched);
        }
        for check in &request.checks {
            changed |= ensure_check(&mut entry, check.clone(), index, &mut touched);
        }
        if changed {
            self.table_index = self.table_index.max(index);
            self.nodes.insert(request.node.clone(), entry);
        }
        self.touch(&touched, index);
        (changed, touched)
    }

    fn ensure_service(
        &mut self,
        node: &str,
        entry: &mut NodeServices,
        service: ServiceDefinition,
        index: u64,
        touched: &mut TouchedServices,
    ) -> bool {
        let create_index = match entry.services.get(&service.id) {
            Some(existing) if existing.service == service => return false,
            Some(existing) => {
                let old_name = fold_service_name(&existing.service.service);
                if old_name != fold_service_name(&service.service) {
                    self.unlink(&old_name, node, &service.id);
                    touched.insert(old_name);
                }
                existing.create_index
            }
            None => index,
        };
        let name = fold_service_name(&service.service);
        self.instances
            .entry(name.clone())
            .or_default()
            .insert((node.to_owned(), service.id.clone()));
        touched.insert(name);
        // The checks of the service carry its name and tags (Consul copies
        // them into each check).
        let service_checks: Vec<String> = entry
            .checks
            .values()
            .filter(|record| record.check.service_id == service.id)
            .map(|record| record.check.check_id.clone())
            .collect();
        for check_id in service_checks {
            if let Some(record) = entry.checks.get_mut(&check_id)
                && (record.check.service_name != service.service
                    || record.check.service_tags != service.tags)
            {
                record.check.service_name = service.service.clone();
                record.check.service_tags = service.tags.clone();
                record.modify_index = index;
            }
        }
        let record = ServiceRecord {
            service,
            create_index,
            modify_index: index,
        };
        entry.services.insert(record.service.id.clone(), record);
        true
    }

    /// `name`: as registered or folded.
    fn unlink(&mut self, name: &str, node: &str, service_id: &str) {
        let key = (node.to_owned(), service_id.to_owned());
        let name = fold_service_name(name);
        let now_empty = match self.instances.get_mut(&name) {
            Some(set) => {
                set.remove(&key);
                set.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.instances.remove(&name);
        }
    }

    /// Removes the node's services and checks. Returns the services touched
    /// and whether the node held anything.
    pub fn remove_node(&mut self, node: &str, index: u64) -> (TouchedServices, bool) {
        let Some(entry) = self.nodes.remove(node) else {
            return (TouchedServices::new(), false);
        };
        for (id, record) in entry.services.iter() {
            self.unlink(&record.service.service, node, id);
        }
        let touched = entry.service_names();
        self.table_index = self.table_index.max(index);
        self.touch(&touched, index);
        (touched, true)
    }

    /// Removes one service and its checks; `None` if the node has no such
    /// service.
    pub fn remove_service(&mut self, node: &str, id: &str, index: u64) -> Option<TouchedServices> {
        let mut entry = self.nodes.get(node)?.clone();
        let record = entry.services.remove(id)?;
        let service_checks: Vec<String> = entry
            .checks
            .values()
            .filter(|check| check.check.service_id == id)
            .map(|check| check.check.check_id.clone())
            .collect();
        for check_id in service_checks {
            entry.checks.remove(&check_id);
        }
        self.unlink(&record.service.service, node, id);
        self.store_node(node, entry);
        let touched = TouchedServices::from([fold_service_name(&record.service.service)]);
        self.table_index = self.table_index.max(index);
        self.touch(&touched, index);
        Some(touched)
    }

    /// Removes one check; `None` if the node has no such check.
    pub fn remove_check(&mut self, node: &str, id: &str, index: u64) -> Option<TouchedServices> {
        let mut entry = self.nodes.get(node)?.clone();
        let record = entry.checks.remove(id)?;
        let touched = touched_by_check(&entry, &record.check);
        self.store_node(node, entry);
        self.table_index = self.table_index.max(index);
        self.touch(&touched, index);
        Some(touched)
    }

    fn store_node(&mut self, node: &str, entry: NodeServices) {
        if entry.is_empty() {
            self.nodes.remove(node);
        } else {
            self.nodes.insert(node.to_owned(), entry);
        }
    }

    /// A table restored from a snapshot: nodes with their entries, the
    /// per-name indexes, and the table index.
    pub fn from_restored(
        nodes: Vec<(String, NodeServices)>,
        service_indexes: Vec<(String, u64)>,
        table_index: u64,
    ) -> Result<ServiceTable, String> {
        let mut table = ServiceTable {
            table_index,
            ..ServiceTable::default()
        };
        for (node, entry) in nodes {
            for (id, record) in entry.services.iter() {
                table
                    .instances
                    .entry(fold_service_name(&record.service.service))
                    .or_default()
                    .insert((node.clone(), id.clone()));
            }
            table.nodes.insert(node, entry);
        }
        // Snapshots written before names were folded key the indexes by
        // the name as registered: names that fold together take the
        // highest, so no index goes backwards.
        for (name, index) in service_indexes {
            let name = fold_service_name(&name);
            if !table.instances.contains_key(&name) || index > table_index {
                return Err(format!("service index of {name:?} at {index}"));
            }
            let kept = table.service_indexes.get(&name).copied().unwrap_or(0);
            table.service_indexes.insert(name, kept.max(index));
        }
        if table.service_indexes.len() != table.instances.len() {
            return Err("a service without its index".into());
        }
        table.invariant_error().map_or(Ok(table), Err)
    }

    /// The per-name indexes, for the snapshot.
    pub fn service_indexes(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.service_indexes.iter()
    }

    /// What breaks the table's rules, if anything.
    pub fn invariant_error(&self) -> Option<String> {
        for (node, entry) in self.nodes.iter() {
            if entry.is_empty() {
                return Some(format!("node {node:?} holds an empty entry"));
            }
            for (id, record) in entry.services.iter() {
                let linked = self
                    .instances
                    .get(&fold_service_name(&record.service.service))
                    .is_some_and(|set| set.contains(&(node.clone(), id.clone())));
                if id != &record.service.id || !linked || !indexes_ok(record, self.table_index) {
                    return Some(format!("service {id:?} on {node:?} is inconsistent"));
                }
            }
            for (id, record) in entry.checks.iter() {
                let service_ok = record.check.service_id.is_empty()
                    || entry.services.contains_key(&record.check.service_id);
                let indexes = (record.create_index, record.modify_index);
                if id != &record.check.check_id
                    || !service_ok
                    || indexes.0 > indexes.1
                    || indexes.1 > self.table_index
                {
                    return Some(format!("check {id:?} on {node:?} is inconsistent"));
                }
            }
        }
        let linked: usize = self.instances.values().map(OrdSet::len).sum();
        let held: usize = self.nodes.values().map(|e| e.services.len()).sum();
        (linked != held).then(|| format!("{linked} instances linked, {held} held"))
    }
}

fn indexes_ok(record: &ServiceRecord, table_index: u64) -> bool {
    record.create_index <= record.modify_index && record.modify_index <= table_index
}

/// Consul's default: a service without an ID takes its name.
fn effective_id(service: &ServiceDefinition) -> &str {
    if service.id.is_empty() {
        &service.service
    } else {
        &service.id
    }
}

/// A service's check moves that service; a node-level check every service
/// of the node.
fn touched_by_check(entry: &NodeServices, check: &CheckDefinition) -> TouchedServices {
    if check.service_id.is_empty() {
        entry.service_names()
    } else {
        entry
            .services
            .get(&check.service_id)
            .map(|record| TouchedServices::from([fold_service_name(&record.service.service)]))
            .unwrap_or_default()
    }
}

fn ensure_check(
    entry: &mut NodeServices,
    mut check: CheckDefinition,
    index: u64,
    touched: &mut TouchedServices,
) -> bool {
    match entry.services.get(&check.service_id) {
        Some(record) => {
            check.service_name = record.service.service.clone();
            check.service_tags = record.service.tags.clone();
        }
        None => {
            check.service_name.clear();
            check.service_tags.clear();
        }
    }
    let create_index = match entry.checks.get(&check.check_id) {
        Some(existing) if existing.check == check => return false,
        Some(existing) => {
            // A check moved from one service to another wakes both.
            touched.extend(touched_by_check(entry, &existing.check));
            existing.create_index
        }
        None => index,
    };
    touched.extend(touched_by_check(entry, &check));
    let record = CheckRecord {
        check,
        create_index,
        modify_index: index,
    };
    entry.checks.insert(record.check.check_id.clone(), record);
    true
}

/// The worst of the statuses (Consul's aggregate: critical over warning
/// over passing); passing when there are none.
pub fn aggregate_status<'a>(statuses: impl Iterator<Item = &'a CheckStatus>) -> CheckStatus {
    statuses.copied().max().unwrap_or(CheckStatus::Passing)
}

#[cfg(test)]
#[path = "services_tests.rs"]
mod tests;
