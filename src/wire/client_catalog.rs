//! The catalog reads Consul's HTTP API needs (`/v1/catalog/nodes`,
//! `/v1/catalog/node/<node>`, `/v1/catalog/services`): each carries a
//! blocking query's index and wait and is answered with Consul's query
//! metadata and the entries' Raft indexes, as KV reads are. An agent that
//! accepted the HTTP request sends it to a server like any client request;
//! layouts in `wire-spec.md` (5.1, 5.2).

use super::catalog_instances::{
    CheckEntry, MIN_CHECK_ENTRY_BYTES, MIN_INSTANCE_BYTES, NodeWithServices, ServiceInstance,
};
use super::catalog_registration::{CheckStatus, MAX_TAGS, put_strings, read_strings};
use super::client_kv::ReadMeta;
use super::client_message::{CatalogNode, Consistency, MAX_ADDRESS_BYTES, MAX_NAME_BYTES};
use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// What a catalog read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum CatalogQuery {
    /// Every node (`/v1/catalog/nodes`).
    Nodes,
    /// One node (`/v1/catalog/node/<name>`).
    Node { name: String },
    /// Every service name with its tags (`/v1/catalog/services`).
    Services,
    /// The instances of a service carrying every tag given
    /// (`/v1/catalog/service/<name>`).
    ServiceNodes { name: String, tags: Vec<String> },
    /// A node with its services (`/v1/catalog/node/<node>`).
    NodeServices { name: String },
    /// The instances of a service with their checks, only those with no
    /// check other than passing when `passing_only`
    /// (`/v1/health/service/<name>`).
    HealthService {
        name: String,
        tags: Vec<String>,
        passing_only: bool,
    },
    /// The checks of a service's instances (`/v1/health/checks/<name>`).
    ServiceChecks { name: String },
    /// A node's checks (`/v1/health/node/<node>`).
    NodeChecks { name: String },
    /// Every check in a state, or every check for `None`
    /// (`/v1/health/state/<state>`, `any`).
    ChecksInState { state: Option<CheckStatus> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CatalogRead {
    pub query: CatalogQuery,
    pub consistency: Consistency,
    /// A blocking query: answer once the result's index passes this. 0
    /// answers at once.
    pub min_index: u64,
    /// How long the server holding a blocking query waits for a change.
    pub wait_ms: u64,
}

impl CatalogRead {
    pub fn is_blocking(&self) -> bool {
        self.min_index > 0
    }
}

/// A registered node with the indexes of its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CatalogNodeEntry {
    pub node: CatalogNode,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A service name and the union of its instances' tags.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct CatalogService {
    pub name: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum CatalogAnswer {
    Nodes(Vec<CatalogNodeEntry>),
    /// `None`: no such node.
    Node(Option<CatalogNodeEntry>),
    Services(Vec<CatalogService>),
    Instances(Vec<ServiceInstance>),
    /// `None`: no such node.
    NodeServices(Option<NodeWithServices>),
    Checks(Vec<CheckEntry>),
}

/// Tags a read may filter on, as many as a service may carry.
pub const MAX_QUERY_TAGS: usize = MAX_TAGS;

/// Four strings and two u64.
const MIN_NODE_ENTRY_BYTES: usize = 4 * 4 + 16;
/// A name and a tag count.
const MIN_SERVICE_BYTES: usize = 8;
const MIN_STRING_BYTES: usize = 4;

impl CatalogRead {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match &self.query {
            CatalogQuery::Nodes => out.put_u8(0),
            CatalogQuery::Node { name } => {
                out.put_u8(1);
                out.put_string(name);
            }
            CatalogQuery::Services => out.put_u8(2),
            CatalogQuery::ServiceNodes { name, tags } => {
                out.put_u8(3);
                out.put_string(name);
                put_strings(out, tags);
            }
            CatalogQuery::NodeServices { name } => {
                out.put_u8(4);
                out.put_string(name);
            }
            CatalogQuery::HealthService {
                name,
                tags,
                passing_only,
            } => {
                out.put_u8(5);
                out.put_string(name);
                put_strings(out, tags);
                out.put_bool(*passing_only);
            }
            CatalogQuery::ServiceChecks { name } => {
                out.put_u8(6);
                out.put_string(name);
            }
            CatalogQuery::NodeChecks { name } => {
                out.put_u8(7);
                out.put_string(name);
            }
            CatalogQuery::ChecksInState { state } => {
                out.put_u8(8);
                out.put_u8(state.map_or(STATE_ANY, CheckStatus::to_byte));
            }
        }
        out.put_u8(self.consistency.to_byte());
        out.put_u64(self.min_index);
        out.put_u64(self.wait_ms);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<CatalogRead, WireError> {
        let query = decode_query(r)?;
        Ok(CatalogRead {
            query,
            consistency: Consistency::from_byte(r.u8()?)?,
            min_index: r.u64()?,
            wait_ms: r.u64()?,
        })
    }
}

/// `ChecksInState`'s byte for every state.
const STATE_ANY: u8 = 0xFF;

fn decode_query(r: &mut Reader<'_>) -> Result<CatalogQuery, WireError> {
    let name = |r: &mut Reader<'_>| r.string("catalog_read.name", MAX_NAME_BYTES);
    let tags = |r: &mut Reader<'_>| read_strings(r, "catalog_read.tag", MAX_QUERY_TAGS);
    Ok(match r.u8()? {
        0 => CatalogQuery::Nodes,
        1 => CatalogQuery::Node { name: name(r)? },
        2 => CatalogQuery::Services,
        3 => CatalogQuery::ServiceNodes {
            name: name(r)?,
            tags: tags(r)?,
        },
        4 => CatalogQuery::NodeServices { name: name(r)? },
        5 => CatalogQuery::HealthService {
            name: name(r)?,
            tags: tags(r)?,
            passing_only: r.bool("catalog_read.passing_only")?,
        },
        6 => CatalogQuery::ServiceChecks { name: name(r)? },
        7 => CatalogQuery::NodeChecks { name: name(r)? },
        8 => CatalogQuery::ChecksInState {
            state: match r.u8()? {
                STATE_ANY => None,
                byte => Some(CheckStatus::from_byte(byte)?),
            },
        },
        other => {
            return Err(WireError::InvalidValue {
                field: "catalog_read.query",
                value: u64::from(other),
            });
        }
    })
}

impl CatalogNodeEntry {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        encode_catalog_node(&self.node, out);
        out.put_u64(self.create_index);
        out.put_u64(self.modify_index);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<CatalogNodeEntry, WireError> {
        Ok(CatalogNodeEntry {
            node: decode_catalog_node(r)?,
            create_index: r.u64()?,
            modify_index: r.u64()?,
        })
    }

    /// Bytes this entry takes in an answer.
    pub fn wire_bytes(&self) -> usize {
        MIN_NODE_ENTRY_BYTES + catalog_node_text_bytes(&self.node)
    }
}

/// The text bytes of a node's four strings.
pub fn catalog_node_text_bytes(node: &CatalogNode) -> usize {
    node.name.len() + node.address.len() + node.role.len() + node.datacenter.len()
}

pub(super) fn encode_catalog_node(node: &CatalogNode, out: &mut Vec<u8>) {
    out.put_string(&node.name);
    out.put_string(&node.address);
    out.put_string(&node.role);
    out.put_string(&node.datacenter);
}

pub(super) fn decode_catalog_node(r: &mut Reader<'_>) -> Result<CatalogNode, WireError> {
    Ok(CatalogNode {
        name: r.string("catalog.name", MAX_NAME_BYTES)?,
        address: r.string("catalog.address", MAX_ADDRESS_BYTES)?,
        role: r.string("catalog.role", MAX_NAME_BYTES)?,
        datacenter: r.string("catalog.datacenter", MAX_NAME_BYTES)?,
    })
}

impl CatalogAnswer {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            CatalogAnswer::Nodes(nodes) => {
                out.put_u8(0);
                out.put_count(nodes.len());
                for node in nodes {
                    node.encode(out);
                }
            }
            CatalogAnswer::Node(node) => {
                out.put_u8(1);
                out.put_bool(node.is_some());
                if let Some(node) = node {
                    node.encode(out);
                }
            }
            CatalogAnswer::Services(services) => {
                out.put_u8(2);
                out.put_count(services.len());
                for service in services {
                    out.put_string(&service.name);
                    out.put_count(service.tags.len());
                    for tag in &service.tags {
                        out.put_string(tag);
                    }
                }
            }
            CatalogAnswer::Instances(instances) => {
                out.put_u8(3);
                out.put_count(instances.len());
                for instance in instances {
                    instance.encode(out);
                }
            }
            CatalogAnswer::NodeServices(node) => {
                out.put_u8(4);
                out.put_bool(node.is_some());
                if let Some(node) = node {
                    node.encode(out);
                }
            }
            CatalogAnswer::Checks(checks) => {
                out.put_u8(5);
                out.put_count(checks.len());
                for check in checks {
                    check.encode(out);
                }
            }
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<CatalogAnswer, WireError> {
        Ok(match r.u8()? {
            0 => {
                let count = r.count(MIN_NODE_ENTRY_BYTES)?;
                let mut nodes = Vec::with_capacity(count);
                for _ in 0..count {
                    nodes.push(CatalogNodeEntry::decode(r)?);
                }
                CatalogAnswer::Nodes(nodes)
            }
            1 => CatalogAnswer::Node(if r.bool("catalog_answer.found")? {
                Some(CatalogNodeEntry::decode(r)?)
            } else {
                None
            }),
            2 => {
                let count = r.count(MIN_SERVICE_BYTES)?;
                let mut services = Vec::with_capacity(count);
                for _ in 0..count {
                    let name = r.string("catalog_service.name", MAX_NAME_BYTES)?;
                    let tag_count = r.count(MIN_STRING_BYTES)?;
                    let mut tags = Vec::with_capacity(tag_count);
                    for _ in 0..tag_count {
                        tags.push(r.string("catalog_service.tag", MAX_NAME_BYTES)?);
                    }
                    services.push(CatalogService { name, tags });
                }
                CatalogAnswer::Services(services)
            }
            3 => {
                let count = r.count(MIN_INSTANCE_BYTES)?;
                let mut instances = Vec::with_capacity(count);
                for _ in 0..count {
                    instances.push(ServiceInstance::decode(r)?);
                }
                CatalogAnswer::Instances(instances)
            }
            4 => CatalogAnswer::NodeServices(if r.bool("catalog_answer.found")? {
                Some(NodeWithServices::decode(r)?)
            } else {
                None
            }),
            5 => {
                let count = r.count(MIN_CHECK_ENTRY_BYTES)?;
                let mut checks = Vec::with_capacity(count);
                for _ in 0..count {
                    checks.push(CheckEntry::decode(r)?);
                }
                CatalogAnswer::Checks(checks)
            }
            other => {
                return Err(WireError::InvalidValue {
                    field: "catalog_answer.kind",
                    value: u64::from(other),
                });
            }
        })
    }
}

/// A catalog read's answer with its query metadata.
pub(super) fn encode_catalog_result(meta: &ReadMeta, answer: &CatalogAnswer, out: &mut Vec<u8>) {
    meta.encode(out);
    answer.encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::{
        ClientRequest, ClientResponse, RequestBody, ResponseBody, RpcResult,
    };
    use crate::wire::message::Message;
    use crate::wire::test_support::round_trip;

    fn node(name: &str) -> CatalogNode {
        CatalogNode {
            name: name.into(),
            address: "127.0.0.1:8300".into(),
            role: "server".into(),
            datacenter: "dc1".into(),
        }
    }

    #[test]
    fn every_catalog_read_round_trips() {
        for query in [
            CatalogQuery::Nodes,
            CatalogQuery::Node { name: "n1".into() },
            CatalogQuery::Services,
            CatalogQuery::ServiceNodes {
                name: "web".into(),
                tags: vec!["v1".into(), "eu".into()],
            },
            CatalogQuery::NodeServices { name: "n1".into() },
            CatalogQuery::HealthService {
                name: "web".into(),
                tags: vec![],
                passing_only: true,
            },
            CatalogQuery::ServiceChecks { name: "web".into() },
            CatalogQuery::NodeChecks { name: "n1".into() },
            CatalogQuery::ChecksInState { state: None },
            CatalogQuery::ChecksInState {
                state: Some(CheckStatus::Warning),
            },
        ] {
            round_trip(&ClientRequest {
                request_id: 3,
                body: RequestBody::CatalogRead(CatalogRead {
                    query,
                    consistency: Consistency::Stale,
                    min_index: 17,
                    wait_ms: 300_000,
                }),
            });
        }
    }

    fn instance(entry: &CatalogNodeEntry) -> ServiceInstance {
        use crate::wire::catalog_instances::{NodeView, ServiceEntry};
        use crate::wire::catalog_registration::{CheckDefinition, ServiceDefinition, Weights};
        let service = ServiceDefinition {
            id: "web-1".into(),
            service: "web".into(),
            tags: vec!["v1".into()],
            address: "10.0.0.1".into(),
            port: 8080,
            meta: [("k".to_string(), "v".to_string())].into(),
            weights: Weights::default(),
            enable_tag_override: false,
            tagged_addresses: Default::default(),
        };
        let check = CheckDefinition::node_check("serfHealth", "Serf", CheckStatus::Passing, "ok");
        ServiceInstance {
            node: NodeView {
                entry: entry.clone(),
                meta: [("rack".to_string(), "r1".to_string())].into(),
                tagged_addresses: [("lan".to_string(), "10.0.0.1".to_string())].into(),
            },
            service: ServiceEntry {
                service,
                create_index: 3,
                modify_index: 4,
            },
            checks: vec![CheckEntry {
                node: "n1".into(),
                check,
                create_index: 5,
                modify_index: 6,
            }],
        }
    }

    #[test]
    fn every_catalog_answer_round_trips() {
        let entry = CatalogNodeEntry {
            node: node("n1"),
            create_index: 4,
            modify_index: 9,
        };
        let meta = ReadMeta {
            index: 9,
            known_leader: true,
            last_contact_ms: 12,
        };
        for answer in [
            CatalogAnswer::Nodes(vec![entry.clone(), entry.clone()]),
            CatalogAnswer::Node(Some(entry.clone())),
            CatalogAnswer::Node(None),
            CatalogAnswer::Services(vec![CatalogService {
                name: "consul".into(),
                tags: vec!["a".into(), "b".into()],
            }]),
            CatalogAnswer::Instances(vec![instance(&entry), instance(&entry)]),
            CatalogAnswer::Instances(vec![]),
            CatalogAnswer::NodeServices(Some(NodeWithServices {
                node: instance(&entry).node,
                services: vec![instance(&entry).service],
                checks: instance(&entry).checks,
            })),
            CatalogAnswer::NodeServices(None),
            CatalogAnswer::Checks(instance(&entry).checks),
        ] {
            round_trip(&ClientResponse {
                request_id: 5,
                body: ResponseBody::Ok(RpcResult::CatalogRead {
                    meta,
                    answer: answer.clone(),
                }),
            });
        }
    }

    #[test]
    fn a_node_count_the_payload_cannot_hold_is_refused_before_allocating() {
        let mut payload = Vec::new();
        ReadMeta {
            index: 1,
            known_leader: true,
            last_contact_ms: 0,
        }
        .encode(&mut payload);
        payload.push(0);
        payload.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut framed = 7u64.to_be_bytes().to_vec();
        framed.extend_from_slice(&payload);
        let decoded = ClientResponse::decode(
            crate::wire::client_message::TYPE_CATALOG_READ_RESULT,
            &framed,
        );
        assert!(decoded.is_err());
    }
}
