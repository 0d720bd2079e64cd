//! The service and health reads from the state machine's catalog: a
//! service's instances (with their checks for `/v1/health/service`), a
//! node's services, and checks by service, node or state. A read about one
//! service reports that service's index, so its blocking queries wake only
//! when its instances or their checks change; the others report the index
//! of the table they read, as Consul's do. Instances are listed in one
//! order (node, then service ID) by catalog and health alike, since
//! Traefik pairs the two answers by position.

use crate::state_machine::StateMachine;
use crate::state_machine::services::{CheckRecord, ServiceRecord};
use crate::wire::catalog_instances::{
    CheckEntry, NodeView, NodeWithServices, ServiceEntry, ServiceInstance,
};
use crate::wire::catalog_registration::CheckStatus;
use crate::wire::client_catalog::{CatalogAnswer, CatalogNodeEntry};
use crate::wire::client_message::{ErrorCode, RpcError};

use crate::agent::requests::routing::MAX_ANSWER_BYTES;

/// An answer and the index it reports.
pub type Indexed = (u64, CatalogAnswer);

fn too_large(what: &str, bytes: usize) -> RpcError {
    RpcError {
        code: ErrorCode::InvalidRequest,
        message: format!(
            "result too large: {what} take more than {bytes} bytes, over the answer limit of \
             {MAX_ANSWER_BYTES} bytes"
        ),
        leader_hint: None,
    }
}

/// Sums the encoded sizes as items are added, so an answer over the limit
/// is refused as soon as it passes it, not after it was built whole.
struct SizedList<T> {
    items: Vec<T>,
    bytes: usize,
    scratch: Vec<u8>,
}

impl<T> SizedList<T> {
    fn new() -> Self {
        SizedList {
            items: Vec::new(),
            bytes: 0,
            scratch: Vec::new(),
        }
    }

    fn push(&mut self, item: T, encode: fn(&T, &mut Vec<u8>), what: &str) -> Result<(), RpcError> {
        self.scratch.clear();
        encode(&item, &mut self.scratch);
        self.bytes += self.scratch.len();
        if self.bytes > MAX_ANSWER_BYTES {
            return Err(too_large(what, self.bytes));
        }
        self.items.push(item);
        Ok(())
    }
}

fn node_view(state: &StateMachine, name: &str) -> Option<NodeView> {
    let record = state.catalog().record(name)?;
    let extra = state.catalog().services().node(name);
    Some(NodeView {
        entry: CatalogNodeEntry {
            node: record.node.clone(),
            create_index: record.create_index,
            modify_index: record.modify_index,
        },
        meta: extra.map(|n| n.meta.clone()).unwrap_or_default(),
        tagged_addresses: extra
            .map(|n| n.tagged_addresses.clone())
            .unwrap_or_default(),
    })
}

fn service_entry(record: &ServiceRecord) -> ServiceEntry {
    ServiceEntry {
        service: record.service.clone(),
        create_index: record.create_index,
        modify_index: record.modify_index,
    }
}

fn check_entry(node: &str, record: &CheckRecord) -> CheckEntry {
    CheckEntry {
        node: node.to_string(),
        check: record.check.clone(),
        create_index: record.create_index,
        modify_index: record.modify_index,
    }
}

/// Consul's `serviceTagsFilter`: every tag asked for, compared without case.
fn has_tags(record: &ServiceRecord, tags: &[String]) -> bool {
    tags.iter().all(|wanted| {
        record
            .service
            .tags
            .iter()
            .any(|tag| tag.eq_ignore_ascii_case(wanted))
    })
}

/// The instances of `name` with every tag in `tags`; with their checks
/// when `with_checks`, and then only those whose checks all pass when
/// `passing_only` (Consul's `?passing` drops warning ones too).
pub fn instances(
    state: &StateMachine,
    name: &str,
    tags: &[String],
    with_checks: bool,
    passing_only: bool,
) -> Result<Indexed, RpcError> {
    let table = state.catalog().services();
    let mut list = SizedList::new();
    for (node, record) in table.instances(name) {
        if !has_tags(record, tags) {
            continue;
        }
        let checks: Vec<CheckEntry> = match with_checks {
            true => table
                .instance_checks(node, &record.service.id)
                .map(|check| check_entry(node, check))
                .collect(),
            false => Vec::new(),
        };
        if passing_only
            && checks
                .iter()
                .any(|c| c.check.status != CheckStatus::Passing)
        {
            continue;
        }
        // A service is registered with its node, so its node is there.
        let Some(node) = node_view(state, node) else {
            continue;
        };
        let instance = ServiceInstance {
            node,
            service: service_entry(record),
            checks,
        };
        list.push(instance, ServiceInstance::encode, "the instances")?;
    }
    let index = table.service_index(name);
    Ok((index, CatalogAnswer::Instances(list.items)))
}

/// A node with its services, `None` for an unknown node.
pub fn node_services(state: &StateMachine, name: &str) -> Result<Indexed, RpcError> {
    let index = state.catalog().table_index();
    let Some(node) = node_view(state, name) else {
        return Ok((index, CatalogAnswer::NodeServices(None)));
    };
    let mut services = SizedList::new();
    let mut checks = SizedList::new();
    if let Some(entry) = state.catalog().services().node(name) {
        for record in entry.services.values() {
            services.push(service_entry(record), ServiceEntry::encode, "the services")?;
        }
        for record in entry.checks.values() {
            checks.push(check_entry(name, record), CheckEntry::encode, "the checks")?;
        }
    }
    let answer = NodeWithServices {
        node,
        services: services.items,
        checks: checks.items,
    };
    Ok((index, CatalogAnswer::NodeServices(Some(answer))))
}

/// The checks of every instance of a service (its instances' own checks,
/// not their nodes', as Consul's `ServiceChecks`).
pub fn service_checks(state: &StateMachine, name: &str) -> Result<Indexed, RpcError> {
    let table = state.catalog().services();
    let mut list = SizedList::new();
    for (node, record) in table.instances(name) {
        let id = record.service.id.as_str();
        for check in table.instance_checks(node, id) {
            if check.check.service_id == id {
                list.push(check_entry(node, check), CheckEntry::encode, "the checks")?;
            }
        }
    }
    Ok((table.service_index(name), CatalogAnswer::Checks(list.items)))
}

/// Every check of one node, its services' included.
pub fn node_checks(state: &StateMachine, name: &str) -> Result<Indexed, RpcError> {
    let table = state.catalog().services();
    let mut list = SizedList::new();
    if let Some(entry) = table.node(name) {
        for check in entry.checks.values() {
            list.push(check_entry(name, check), CheckEntry::encode, "the checks")?;
        }
    }
    Ok((table.table_index(), CatalogAnswer::Checks(list.items)))
}

/// Every check in `state` (every check for `None`), by node then check ID.
pub fn checks_in_state(
    state: &StateMachine,
    wanted: Option<CheckStatus>,
) -> Result<Indexed, RpcError> {
    let table = state.catalog().services();
    let mut list = SizedList::new();
    for (node, check) in table.all_checks() {
        if wanted.is_none_or(|status| check.check.status == status) {
            list.push(check_entry(node, check), CheckEntry::encode, "the checks")?;
        }
    }
    Ok((table.table_index(), CatalogAnswer::Checks(list.items)))
}

#[cfg(test)]
#[path = "service_answers_tests.rs"]
mod tests;
