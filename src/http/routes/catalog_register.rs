//! `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`, following
//! Consul's `agent/catalog_endpoint.go`: the body is a `RegisterRequest`
//! or `DeregisterRequest` decoded as Go's `encoding/json` decodes it (an
//! exact key first, else one that matches case-insensitively; unknown keys
//! ignored), into the wire types the leader applies. What the catalog
//! refuses (a missing node, bad meta) the leader answers in Consul's words.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{EndpointCall, RouteError};
use crate::http::api_request::ApiRequest;
use crate::http::error::HttpError;
use crate::http::go_json::{
    Decoded, array, boolean, duration_ms, object, parse_json, present, string, string_map, strings,
    unsigned,
};
use crate::wire::catalog_registration::{
    CheckDefinition, CheckDefinitionFields, CheckStatus, DeregisterRequest, DeregisterTarget,
    RegisterRequest, ServiceAddress, ServiceDefinition, Weights,
};

pub(super) fn catalog_register(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let parsed = parse_body(call)?;
    let body = object(&parsed, "request")?;
    let mut checks = Vec::new();
    if let Some(check) = present(body, "Check") {
        checks.push(check_definition(object(check, "Check")?)?);
    }
    if let Some(list) = present(body, "Checks") {
        for check in array(list, "Checks")? {
            checks.push(check_definition(object(check, "Checks")?)?);
        }
    }
    let service = match present(body, "Service") {
        Some(service) => Some(service_definition(object(service, "Service")?)?),
        None => None,
    };
    let request = RegisterRequest {
        node: string(body, "Node")?,
        address: string(body, "Address")?,
        datacenter: string(body, "Datacenter")?,
        node_meta: string_map(body, "NodeMeta")?,
        tagged_addresses: string_map(body, "TaggedAddresses")?,
        service,
        checks,
    };
    Ok(ApiRequest::CatalogRegister(Box::new(request)))
}

pub(super) fn catalog_deregister(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let parsed = parse_body(call)?;
    let body = object(&parsed, "request")?;
    let (service_id, check_id) = (string(body, "ServiceID")?, string(body, "CheckID")?);
    // Consul removes the service when both are given, as its state store
    // checks ServiceID first.
    let target = match (service_id.is_empty(), check_id.is_empty()) {
        (false, _) => DeregisterTarget::Service(service_id),
        (true, false) => DeregisterTarget::Check(check_id),
        (true, true) => DeregisterTarget::Node,
    };
    let node = string(body, "Node")?;
    if node.is_empty() {
        return Err(HttpError::bad_request("Must provide node").into());
    }
    Ok(ApiRequest::CatalogDeregister(DeregisterRequest {
        node,
        target,
    }))
}

fn parse_body(call: &EndpointCall<'_>) -> Decoded<Value> {
    let body = &call.request.body;
    let limit = call.limits.body_limit("PUT", "/v1/catalog/register");
    if body.len() > limit.max_bytes {
        return Err(limit.too_large(Some(body.len() as u64)));
    }
    parse_json(body)
}

fn service_definition(service: &Map<String, Value>) -> Decoded<ServiceDefinition> {
    let name = string(service, "Service")?;
    let id = match string(service, "ID")? {
        id if id.is_empty() => name.clone(),
        id => id,
    };
    let weights = match present(service, "Weights") {
        Some(weights) => {
            let weights = object(weights, "Weights")?;
            Weights {
                passing: unsigned(weights, "Passing")?.unwrap_or(1),
                warning: unsigned(weights, "Warning")?.unwrap_or(1),
            }
        }
        None => Weights::default(),
    };
    let mut tagged_addresses = BTreeMap::new();
    if let Some(map) = present(service, "TaggedAddresses") {
        for (tag, address) in object(map, "TaggedAddresses")? {
            let address = object(address, "TaggedAddresses")?;
            let port = unsigned(address, "Port")?.unwrap_or(0);
            let address = string(address, "Address")?;
            tagged_addresses.insert(tag.clone(), ServiceAddress { address, port });
        }
    }
    Ok(ServiceDefinition {
        id,
        service: name,
        tags: strings(service, "Tags")?,
        address: string(service, "Address")?,
        port: unsigned(service, "Port")?.unwrap_or(0),
        meta: string_map(service, "Meta")?,
        weights,
        enable_tag_override: boolean(service, "EnableTagOverride")?,
        tagged_addresses,
    })
}

fn check_definition(check: &Map<String, Value>) -> Decoded<CheckDefinition> {
    // Consul's state store: a check registered without a status is critical.
    let status = match string(check, "Status")? {
        status if status.is_empty() => CheckStatus::Critical,
        status => CheckStatus::parse(&status)
            .ok_or_else(|| HttpError::bad_request(format!("Invalid check status: \"{status}\"")))?,
    };
    let definition = match present(check, "Definition") {
        Some(definition) => {
            let definition = object(definition, "Definition")?;
            CheckDefinitionFields {
                http: string(definition, "HTTP")?,
                method: string(definition, "Method")?,
                tcp: string(definition, "TCP")?,
                interval_ms: duration_ms(definition, "Interval")?,
                timeout_ms: duration_ms(definition, "Timeout")?,
                deregister_critical_service_after_ms: duration_ms(
                    definition,
                    "DeregisterCriticalServiceAfter",
                )?,
            }
        }
        None => CheckDefinitionFields::default(),
    };
    let name = string(check, "Name")?;
    // Consul's Catalog.Register names an unnamed check's ID after it.
    let check_id = match string(check, "CheckID")? {
        id if id.is_empty() => name.clone(),
        id => id,
    };
    Ok(CheckDefinition {
        check_id,
        name,
        status,
        notes: string(check, "Notes")?,
        output: string(check, "Output")?,
        service_id: string(check, "ServiceID")?,
        service_name: string(check, "ServiceName")?,
        service_tags: strings(check, "ServiceTags")?,
        check_type: string(check, "Type")?,
        definition,
    })
}
