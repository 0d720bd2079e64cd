//! Catalog answers as Consul shows them: `api.Node` for `/v1/catalog/nodes`,
//! `structs.NodeServices` for `/v1/catalog/node/<node>` (`null` for an
//! unknown node, as Consul answers), and a map of service names to tags
//! for `/v1/catalog/services`. Struct fields keep Consul's order; maps are
//! sorted, as Go marshals them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::http::HttpResponse;
use crate::wire::client_catalog::{CatalogAnswer, CatalogNodeEntry};
use crate::wire::client_kv::ReadMeta;

use crate::agent::http_api::render::{Rendering, with_meta};
use crate::agent::http_api::render_health;
use crate::agent::http_api::translate::AnswerShape;

/// The meta every node carries: Consul's servers add the network segment
/// (empty outside Enterprise) to each node they register.
const NETWORK_SEGMENT_META: &str = "consul-network-segment";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NodeJson {
    /// Consul's node ID; this catalog does not hold node IDs yet.
    #[serde(rename = "ID")]
    pub(super) id: String,
    pub(super) node: String,
    pub(super) address: String,
    pub(super) datacenter: String,
    pub(super) tagged_addresses: BTreeMap<String, String>,
    pub(super) meta: BTreeMap<String, String>,
    pub(super) create_index: u64,
    pub(super) modify_index: u64,
}

/// The catalog holds `IP:port` (the server port); Consul's node address
/// is the IP alone.
pub(super) fn split_address(address: &str) -> (String, u16) {
    match address.parse::<std::net::SocketAddr>() {
        Ok(socket) => (socket.ip().to_string(), socket.port()),
        Err(_) => (address.to_string(), 0),
    }
}

fn segment_meta() -> BTreeMap<String, String> {
    BTreeMap::from([(NETWORK_SEGMENT_META.to_string(), String::new())])
}

/// Whether a node's meta has every pair `?node-meta` asks for.
pub(super) fn meta_matches(
    meta: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> bool {
    wanted
        .iter()
        .all(|(key, value)| meta.get(key.as_str()) == Some(value))
}

fn node_json(entry: &CatalogNodeEntry) -> NodeJson {
    node_view_json(entry, &BTreeMap::new(), &BTreeMap::new())
}

/// A node as Consul shows it: its IP, the tagged addresses Consul's
/// agents register (the node's IP) under those a registration gave, and
/// the network segment meta under the registration's.
pub(super) fn node_view_json(
    entry: &CatalogNodeEntry,
    meta: &BTreeMap<String, String>,
    tagged_addresses: &BTreeMap<String, String>,
) -> NodeJson {
    let (ip, _) = split_address(&entry.node.address);
    let mut tagged: BTreeMap<String, String> = ["lan", "lan_ipv4", "wan", "wan_ipv4"]
        .into_iter()
        .map(|tag| (tag.to_string(), ip.clone()))
        .collect();
    tagged.extend(tagged_addresses.clone());
    let mut all_meta = segment_meta();
    all_meta.extend(meta.clone());
    NodeJson {
        id: String::new(),
        node: entry.node.name.clone(),
        address: ip,
        datacenter: entry.node.datacenter.clone(),
        tagged_addresses: tagged,
        meta: all_meta,
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}

/// The response for a catalog answer, or `None` when the answer does not
/// fit the shape.
pub fn render_catalog(
    meta: ReadMeta,
    answer: CatalogAnswer,
    how: Rendering<'_>,
) -> Option<HttpResponse> {
    let response = match (how.shape, answer) {
        (AnswerShape::CatalogNodes { node_meta, filter }, CatalogAnswer::Nodes(nodes)) => {
            let nodes: Vec<NodeJson> = match meta_matches(&segment_meta(), node_meta) {
                true => nodes.iter().map(node_json).collect(),
                false => Vec::new(),
            };
            let nodes = render_health::filtered(nodes, filter.as_ref());
            HttpResponse::json(200, &nodes, how.pretty)
        }
        (AnswerShape::CatalogNode, CatalogAnswer::NodeServices(found)) => {
            let body = found.as_ref().map(render_health::node_services_json);
            HttpResponse::json(200, &body, how.pretty)
        }
        (AnswerShape::ServiceRead { .. }, answer) => {
            return render_health::render_service_read(meta, answer, how);
        }
        (AnswerShape::CatalogServices { node_meta }, CatalogAnswer::Services(services)) => {
            let services: BTreeMap<String, Vec<String>> =
                match meta_matches(&segment_meta(), node_meta) {
                    true => services.into_iter().map(|s| (s.name, s.tags)).collect(),
                    false => BTreeMap::new(),
                };
            HttpResponse::json(200, &services, how.pretty)
        }
        _ => return None,
    };
    Some(with_meta(response, &meta, how.consistency))
}
