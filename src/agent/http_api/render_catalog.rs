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
use crate::agent::http_api::translate::AnswerShape;
use crate::agent::requests::catalog_answers::SERVER_SERVICE;

/// The meta every node carries: Consul's servers add the network segment
/// (empty outside Enterprise) to each node they register.
const NETWORK_SEGMENT_META: &str = "consul-network-segment";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeJson {
    /// Consul's node ID; this catalog does not hold node IDs yet.
    #[serde(rename = "ID")]
    id: String,
    node: String,
    address: String,
    datacenter: String,
    tagged_addresses: BTreeMap<&'static str, String>,
    meta: BTreeMap<&'static str, String>,
    create_index: u64,
    modify_index: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct WeightsJson {
    passing: u32,
    warning: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeServiceJson {
    #[serde(rename = "ID")]
    id: String,
    service: String,
    tags: Vec<String>,
    address: String,
    meta: BTreeMap<String, String>,
    port: u16,
    weights: WeightsJson,
    enable_tag_override: bool,
    create_index: u64,
    modify_index: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeServicesJson {
    node: NodeJson,
    services: BTreeMap<String, NodeServiceJson>,
}

/// The catalog holds `IP:port` (the server port); Consul's node address
/// is the IP alone.
fn split_address(address: &str) -> (String, u16) {
    match address.parse::<std::net::SocketAddr>() {
        Ok(socket) => (socket.ip().to_string(), socket.port()),
        Err(_) => (address.to_string(), 0),
    }
}

fn node_meta() -> BTreeMap<&'static str, String> {
    BTreeMap::from([(NETWORK_SEGMENT_META, String::new())])
}

/// Whether a node's meta has every pair `?node-meta` asks for.
fn meta_matches(wanted: &BTreeMap<String, String>) -> bool {
    let meta = node_meta();
    wanted
        .iter()
        .all(|(key, value)| meta.get(key.as_str()) == Some(value))
}

fn node_json(entry: &CatalogNodeEntry) -> NodeJson {
    let (ip, _) = split_address(&entry.node.address);
    let tagged = ["lan", "lan_ipv4", "wan", "wan_ipv4"]
        .into_iter()
        .map(|tag| (tag, ip.clone()))
        .collect();
    NodeJson {
        id: String::new(),
        node: entry.node.name.clone(),
        address: ip,
        datacenter: entry.node.datacenter.clone(),
        tagged_addresses: tagged,
        meta: node_meta(),
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}

/// A node's services: a server's own `consul` service on its server port.
fn node_services(entry: &CatalogNodeEntry) -> BTreeMap<String, NodeServiceJson> {
    if entry.node.role != "server" {
        return BTreeMap::new();
    }
    let (_, port) = split_address(&entry.node.address);
    let service = NodeServiceJson {
        id: SERVER_SERVICE.into(),
        service: SERVER_SERVICE.into(),
        tags: Vec::new(),
        address: String::new(),
        meta: BTreeMap::new(),
        port,
        weights: WeightsJson {
            passing: 1,
            warning: 1,
        },
        enable_tag_override: false,
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    };
    BTreeMap::from([(SERVER_SERVICE.to_string(), service)])
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
            let nodes: Vec<NodeJson> = match meta_matches(node_meta) {
                true => nodes.iter().map(node_json).collect(),
                false => Vec::new(),
            };
            match filter {
                None => HttpResponse::json(200, &nodes, how.pretty),
                Some(filter) => {
                    // The filter sees each node as the client would.
                    let mut values: Vec<serde_json::Value> = nodes
                        .iter()
                        .filter_map(|node| serde_json::to_value(node).ok())
                        .collect();
                    filter.retain_json(&mut values);
                    HttpResponse::json(200, &values, how.pretty)
                }
            }
        }
        (AnswerShape::CatalogNode, CatalogAnswer::Node(found)) => {
            let body = found.map(|entry| NodeServicesJson {
                node: node_json(&entry),
                services: node_services(&entry),
            });
            HttpResponse::json(200, &body, how.pretty)
        }
        (AnswerShape::CatalogServices { node_meta }, CatalogAnswer::Services(services)) => {
            let services: BTreeMap<String, Vec<String>> = match meta_matches(node_meta) {
                true => services.into_iter().map(|s| (s.name, s.tags)).collect(),
                false => BTreeMap::new(),
            };
            HttpResponse::json(200, &services, how.pretty)
        }
        _ => return None,
    };
    Some(with_meta(response, &meta, how.consistency))
}
