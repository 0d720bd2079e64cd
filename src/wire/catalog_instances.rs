//! The entries of the service and health reads (`/v1/catalog/service/<name>`,
//! `/v1/catalog/node/<node>`, `/v1/health/*`): a node with the meta and
//! tagged addresses its registrations gave it, a service instance with its
//! Raft indexes, and a check with the node it runs on. Layouts in
//! `wire-spec.md` (5.1).

use std::collections::BTreeMap;

use super::catalog_registration::{
    CheckDefinition, MAX_CHECKS_PER_REGISTRATION, ServiceDefinition, put_string_map, read_meta,
};
use super::client_catalog::CatalogNodeEntry;
use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// Checks one instance may carry in an answer: its own and its node's. A
/// node holds at most `MAX_CHECKS_PER_NODE` checks; this bounds a decoded
/// list long before that, since every check is at least 65 bytes.
pub const MAX_CHECKS_PER_INSTANCE: usize = 128 * MAX_CHECKS_PER_REGISTRATION;

/// A catalog node as the service and health answers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct NodeView {
    pub entry: CatalogNodeEntry,
    pub meta: BTreeMap<String, String>,
    pub tagged_addresses: BTreeMap<String, String>,
}

/// A service instance with the indexes of its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServiceEntry {
    pub service: ServiceDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A check with its node and the indexes of its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CheckEntry {
    pub node: String,
    pub check: CheckDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One instance of a service on its node; `checks` (the instance's and its
/// node's) is filled for the health reads only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServiceInstance {
    pub node: NodeView,
    pub service: ServiceEntry,
    pub checks: Vec<CheckEntry>,
}

/// A node with every service and check it holds (`/v1/catalog/node/<node>`
/// shows the services; an agent's anti-entropy compares both).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct NodeWithServices {
    pub node: NodeView,
    pub services: Vec<ServiceEntry>,
    pub checks: Vec<CheckEntry>,
}

/// An empty node entry: four strings, two u64, two empty maps.
pub(super) const MIN_NODE_VIEW_BYTES: usize = 4 * 4 + 16 + 2 * 4;
/// Nine empty strings, a status, a tag count and three u64 (the check), a
/// node name and two u64.
pub(super) const MIN_CHECK_ENTRY_BYTES: usize = 9 * 4 + 1 + 4 + 3 * 8 + 4 + 16;
/// The smallest service definition (five strings or counts, a port, two
/// weights, a flag, a count) and two u64.
pub(super) const MIN_SERVICE_ENTRY_BYTES: usize = 5 * 4 + 2 + 8 + 1 + 4 + 16;
pub(super) const MIN_INSTANCE_BYTES: usize = MIN_NODE_VIEW_BYTES + MIN_SERVICE_ENTRY_BYTES + 4;

impl NodeView {
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.entry.encode(out);
        put_string_map(out, &self.meta);
        put_string_map(out, &self.tagged_addresses);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<NodeView, WireError> {
        Ok(NodeView {
            entry: CatalogNodeEntry::decode(r)?,
            meta: read_meta(r, "node_view.meta")?,
            tagged_addresses: read_meta(r, "node_view.tagged_addresses")?,
        })
    }
}

impl ServiceEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.service.encode_into(out);
        out.put_u64(self.create_index);
        out.put_u64(self.modify_index);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<ServiceEntry, WireError> {
        Ok(ServiceEntry {
            service: ServiceDefinition::decode(r)?,
            create_index: r.u64()?,
            modify_index: r.u64()?,
        })
    }
}

impl CheckEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_string(&self.node);
        self.check.encode_into(out);
        out.put_u64(self.create_index);
        out.put_u64(self.modify_index);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<CheckEntry, WireError> {
        Ok(CheckEntry {
            node: r.string(
                "check_entry.node",
                super::catalog_registration::MAX_IDENTIFIER_BYTES,
            )?,
            check: CheckDefinition::decode(r)?,
            create_index: r.u64()?,
            modify_index: r.u64()?,
        })
    }
}

impl ServiceInstance {
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.node.encode(out);
        self.service.encode(out);
        out.put_count(self.checks.len());
        for check in &self.checks {
            check.encode(out);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<ServiceInstance, WireError> {
        let node = NodeView::decode(r)?;
        let service = ServiceEntry::decode(r)?;
        let count = r.count_at_most(
            MIN_CHECK_ENTRY_BYTES,
            MAX_CHECKS_PER_INSTANCE,
            "instance.checks",
        )?;
        let mut checks = Vec::with_capacity(count);
        for _ in 0..count {
            checks.push(CheckEntry::decode(r)?);
        }
        Ok(ServiceInstance {
            node,
            service,
            checks,
        })
    }
}

impl NodeWithServices {
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.node.encode(out);
        out.put_count(self.services.len());
        for service in &self.services {
            service.encode(out);
        }
        out.put_count(self.checks.len());
        for check in &self.checks {
            check.encode(out);
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<NodeWithServices, WireError> {
        let node = NodeView::decode(r)?;
        let count = r.count(MIN_SERVICE_ENTRY_BYTES)?;
        let mut services = Vec::with_capacity(count);
        for _ in 0..count {
            services.push(ServiceEntry::decode(r)?);
        }
        let count = r.count(MIN_CHECK_ENTRY_BYTES)?;
        let mut checks = Vec::with_capacity(count);
        for _ in 0..count {
            checks.push(CheckEntry::decode(r)?);
        }
        Ok(NodeWithServices {
            node,
            services,
            checks,
        })
    }
}
