//! The service and health answers as Consul shows them:
//! `structs.ServiceNode` for `/v1/catalog/service/<name>`,
//! `structs.CheckServiceNode` (`{Node, Service, Checks}`) for
//! `/v1/health/service/<name>`, `structs.HealthCheck` for the check reads,
//! and `structs.NodeServices` for `/v1/catalog/node/<node>`. Struct fields
//! keep Consul's order; maps are sorted, as Go marshals them. `?node-meta`
//! and `?filter` are applied to what the client would see.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::http::HttpResponse;
use crate::http::duration::check_duration_text;
use crate::http::filter::Filter;
use crate::wire::catalog_instances::{CheckEntry, NodeView, NodeWithServices, ServiceEntry};
use crate::wire::catalog_registration::{ServiceAddress, ServiceDefinition};
use crate::wire::client_catalog::CatalogAnswer;
use crate::wire::client_kv::ReadMeta;

use crate::agent::http_api::render::{Rendering, with_meta};
use crate::agent::http_api::render_catalog::{NodeJson, meta_matches, node_view_json};
use crate::agent::http_api::translate::{AnswerShape, ServiceShape};

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct WeightsJson {
    passing: u32,
    warning: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AddressJson {
    address: String,
    port: u16,
}

/// Consul's empty `ServiceProxy`, as a typical (non-mesh) service has it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProxyJson {
    mode: &'static str,
    mesh_gateway: BTreeMap<String, String>,
    expose: BTreeMap<String, String>,
}

fn empty_proxy() -> ProxyJson {
    ProxyJson {
        mode: "",
        mesh_gateway: BTreeMap::new(),
        expose: BTreeMap::new(),
    }
}

/// `structs.NodeService`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceJson {
    #[serde(rename = "ID")]
    id: String,
    service: String,
    tags: Vec<String>,
    address: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tagged_addresses: BTreeMap<String, AddressJson>,
    meta: BTreeMap<String, String>,
    port: u16,
    weights: WeightsJson,
    enable_tag_override: bool,
    proxy: ProxyJson,
    connect: BTreeMap<String, String>,
    create_index: u64,
    modify_index: u64,
}

/// `structs.ServiceNode`: the node's fields, then the service's prefixed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceNodeJson {
    #[serde(rename = "ID")]
    id: String,
    node: String,
    address: String,
    datacenter: String,
    tagged_addresses: BTreeMap<String, String>,
    node_meta: BTreeMap<String, String>,
    service_kind: &'static str,
    #[serde(rename = "ServiceID")]
    service_id: String,
    service_name: String,
    service_tags: Vec<String>,
    service_address: String,
    service_tagged_addresses: BTreeMap<String, AddressJson>,
    service_weights: WeightsJson,
    service_meta: BTreeMap<String, String>,
    service_port: u16,
    service_socket_path: &'static str,
    service_enable_tag_override: bool,
    service_proxy: ProxyJson,
    service_connect: BTreeMap<String, String>,
    create_index: u64,
    modify_index: u64,
}

/// `structs.HealthCheck`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CheckJson {
    node: String,
    #[serde(rename = "CheckID")]
    check_id: String,
    name: String,
    status: &'static str,
    notes: String,
    output: String,
    #[serde(rename = "ServiceID")]
    service_id: String,
    service_name: String,
    service_tags: Vec<String>,
    #[serde(rename = "Type")]
    check_type: String,
    interval: String,
    timeout: String,
    exposed_port: u16,
    definition: BTreeMap<&'static str, String>,
    create_index: u64,
    modify_index: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct CheckServiceNodeJson {
    node: NodeJson,
    service: ServiceJson,
    checks: Vec<CheckJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NodeServicesJson {
    node: NodeJson,
    services: BTreeMap<String, ServiceJson>,
}

fn node_json(view: &NodeView) -> NodeJson {
    node_view_json(&view.entry, &view.meta, &view.tagged_addresses)
}

fn addresses(tagged: &BTreeMap<String, ServiceAddress>) -> BTreeMap<String, AddressJson> {
    tagged
        .iter()
        .map(|(tag, a)| {
            let json = AddressJson {
                address: a.address.clone(),
                port: a.port,
            };
            (tag.clone(), json)
        })
        .collect()
}

fn weights(service: &ServiceDefinition) -> WeightsJson {
    WeightsJson {
        passing: service.weights.passing,
        warning: service.weights.warning,
    }
}

fn service_json(entry: &ServiceEntry) -> ServiceJson {
    let service = &entry.service;
    ServiceJson {
        id: service.id.clone(),
        service: service.service.clone(),
        tags: service.tags.clone(),
        address: service.address.clone(),
        tagged_addresses: addresses(&service.tagged_addresses),
        meta: service.meta.clone(),
        port: service.port,
        weights: weights(service),
        enable_tag_override: service.enable_tag_override,
        proxy: empty_proxy(),
        connect: BTreeMap::new(),
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}

fn service_node_json(node: &NodeView, entry: &ServiceEntry) -> ServiceNodeJson {
    let node = node_json(node);
    let service = &entry.service;
    ServiceNodeJson {
        id: node.id,
        node: node.node,
        address: node.address,
        datacenter: node.datacenter,
        tagged_addresses: node.tagged_addresses,
        node_meta: node.meta,
        service_kind: "",
        service_id: service.id.clone(),
        service_name: service.service.clone(),
        service_tags: service.tags.clone(),
        service_address: service.address.clone(),
        service_tagged_addresses: addresses(&service.tagged_addresses),
        service_weights: weights(service),
        service_meta: service.meta.clone(),
        service_port: service.port,
        service_socket_path: "",
        service_enable_tag_override: service.enable_tag_override,
        service_proxy: empty_proxy(),
        service_connect: BTreeMap::new(),
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}

fn check_json(entry: &CheckEntry) -> CheckJson {
    let check = &entry.check;
    let d = &check.definition;
    let mut definition = BTreeMap::new();
    for (name, value) in [
        ("HTTP", d.http.clone()),
        ("Method", d.method.clone()),
        ("TCP", d.tcp.clone()),
        ("Interval", check_duration_text(d.interval_ms)),
        ("Timeout", check_duration_text(d.timeout_ms)),
        (
            "DeregisterCriticalServiceAfter",
            check_duration_text(d.deregister_critical_service_after_ms),
        ),
    ] {
        if !value.is_empty() {
            definition.insert(name, value);
        }
    }
    CheckJson {
        node: entry.node.clone(),
        check_id: check.check_id.clone(),
        name: check.name.clone(),
        status: check.status.as_str(),
        notes: check.notes.clone(),
        output: check.output.clone(),
        service_id: check.service_id.clone(),
        service_name: check.service_name.clone(),
        service_tags: check.service_tags.clone(),
        check_type: check.check_type.clone(),
        interval: check_duration_text(d.interval_ms),
        timeout: check_duration_text(d.timeout_ms),
        exposed_port: 0,
        definition,
        create_index: entry.create_index,
        modify_index: entry.modify_index,
    }
}

pub(super) fn node_services_json(node: &NodeWithServices) -> NodeServicesJson {
    NodeServicesJson {
        node: node_json(&node.node),
        services: node
            .services
            .iter()
            .map(|entry| (entry.service.id.clone(), service_json(entry)))
            .collect(),
    }
}

/// The items the filter keeps, judged as the client sees each one. The
/// items themselves are kept, not their `Value`s, whose maps would lose
/// Consul's field order.
pub(super) fn filtered<T: Serialize>(items: Vec<T>, filter: Option<&Filter>) -> Vec<T> {
    let Some(filter) = filter else {
        return items;
    };
    items
        .into_iter()
        .filter(|item| serde_json::to_value(item).is_ok_and(|value: Value| filter.matches(&value)))
        .collect()
}

/// The response for a service or health answer, or `None` when the answer
/// does not fit the shape.
pub fn render_service_read(
    meta: ReadMeta,
    answer: CatalogAnswer,
    how: Rendering<'_>,
) -> Option<HttpResponse> {
    let AnswerShape::ServiceRead {
        shape,
        node_meta,
        filter,
    } = how.shape
    else {
        return None;
    };
    let on_wanted_node = |node: &NodeView| {
        let json = node_json(node);
        meta_matches(&json.meta, node_meta)
    };
    let response = match (shape, answer) {
        (ServiceShape::CatalogService, CatalogAnswer::Instances(instances)) => {
            let items = instances
                .iter()
                .filter(|i| on_wanted_node(&i.node))
                .map(|i| service_node_json(&i.node, &i.service))
                .collect();
            let items = filtered::<ServiceNodeJson>(items, filter.as_ref());
            HttpResponse::json(200, &items, how.pretty)
        }
        (ServiceShape::HealthService, CatalogAnswer::Instances(instances)) => {
            let items = instances
                .iter()
                .filter(|i| on_wanted_node(&i.node))
                .map(|i| CheckServiceNodeJson {
                    node: node_json(&i.node),
                    service: service_json(&i.service),
                    checks: i.checks.iter().map(check_json).collect(),
                })
                .collect();
            let items = filtered::<CheckServiceNodeJson>(items, filter.as_ref());
            HttpResponse::json(200, &items, how.pretty)
        }
        (ServiceShape::Checks, CatalogAnswer::Checks(checks)) => {
            // Checks carry their node's name only; `?node-meta` on them
            // needs the node and is not supported here.
            let items = checks.iter().map(check_json).collect();
            let items = filtered::<CheckJson>(items, filter.as_ref());
            HttpResponse::json(200, &items, how.pretty)
        }
        _ => return None,
    };
    Some(with_meta(response, &meta, how.consistency))
}
