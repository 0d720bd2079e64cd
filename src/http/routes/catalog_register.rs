//! `PUT /v1/catalog/register` and `PUT /v1/catalog/deregister`, following
//! Consul's `agent/catalog_endpoint.go`: the body is a `RegisterRequest`
//! or `DeregisterRequest` decoded as Go's `encoding/json` decodes it (an
//! exact key first, else one that matches case-insensitively; unknown keys
//! ignored), into the wire types the leader applies. What the catalog
//! refuses (a missing node, bad meta) the leader answers in Consul's words.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{EndpointCall, RouteError};
use crate::http::api_request::ApiRequest;
use crate::http::duration::parse_duration;
use crate::http::error::HttpError;
use crate::wire::catalog_registration::{
    CheckDefinition, CheckDefinitionFields, CheckStatus, DeregisterRequest, DeregisterTarget,
    RegisterRequest, ServiceAddress, ServiceDefinition, Weights,
};

type Decoded<T> = Result<T, HttpError>;

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
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(err)) => Err(HttpError::bad_request(format!(
            "Request decode failed: {err}"
        ))),
        None => Err(HttpError::bad_request("Request decode failed: EOF")),
    }
}

/// Go's field match: the exact key, else the first case-insensitive one.
fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A field that is there and not `null` (Go leaves a nil pointer nil).
fn present<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    field(object, name).filter(|value| !value.is_null())
}

fn mistyped(name: &str, expected: &str) -> HttpError {
    HttpError::bad_request(format!(
        "Request decode failed: json: cannot unmarshal into field {name} of type {expected}"
    ))
}

fn object<'a>(value: &'a Value, name: &str) -> Decoded<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| mistyped(name, "object"))
}

fn array<'a>(value: &'a Value, name: &str) -> Decoded<&'a Vec<Value>> {
    value.as_array().ok_or_else(|| mistyped(name, "array"))
}

fn string(object: &Map<String, Value>, name: &str) -> Decoded<String> {
    match present(object, name) {
        None => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(mistyped(name, "string")),
    }
}

fn boolean(object: &Map<String, Value>, name: &str) -> Decoded<bool> {
    match present(object, name) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(mistyped(name, "bool")),
    }
}

fn unsigned<T: TryFrom<u64>>(object: &Map<String, Value>, name: &str) -> Decoded<Option<T>> {
    match present(object, name) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| mistyped(name, "unsigned integer")),
    }
}

fn strings(object: &Map<String, Value>, name: &str) -> Decoded<Vec<String>> {
    let Some(list) = present(object, name) else {
        return Ok(Vec::new());
    };
    array(list, name)?
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| mistyped(name, "[]string"))
        })
        .collect()
}

fn string_map(object: &Map<String, Value>, name: &str) -> Decoded<BTreeMap<String, String>> {
    let Some(map) = present(object, name) else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (key, value) in self::object(map, name)? {
        let value = value
            .as_str()
            .ok_or_else(|| mistyped(name, "map[string]string"))?;
        out.insert(key.clone(), value.to_owned());
    }
    Ok(out)
}

/// Go duration text (`"10s"`) or nanoseconds, as Consul's `api.ReadableDuration`.
fn duration_ms(object: &Map<String, Value>, name: &str) -> Decoded<u64> {
    let duration = match present(object, name) {
        None => return Ok(0),
        Some(Value::String(text)) if text.is_empty() => Duration::ZERO,
        Some(Value::String(text)) => parse_duration(text).map_err(|err| {
            HttpError::bad_request(format!("Request decode failed: {name}: {err}"))
        })?,
        Some(Value::Number(nanos)) => {
            Duration::from_nanos(nanos.as_u64().ok_or_else(|| mistyped(name, "duration"))?)
        }
        Some(_) => return Err(mistyped(name, "duration")),
    };
    Ok(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
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
