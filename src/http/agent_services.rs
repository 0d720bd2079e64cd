//! The agent's service endpoints, pure: the body of
//! `PUT /v1/agent/service/register` decoded and checked as Consul's
//! `AgentRegisterService` does, and `GET /v1/agent/services` and
//! `GET /v1/agent/service/<id>` shaped as Consul's `api.AgentService`.
//!
//! `ContentHash` (the single-service answer's hash for blocking) is left
//! out: Consul's value is hashstructure's FNV hash of the Go struct, which
//! a client may compare across agents, and a different hash under the same
//! name would mislead.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Map, Value};

use super::agent_checks::{check_object, invalid_check, key};
use crate::agent::local_state::ServiceRegistration;
use crate::agent::local_state::{CheckSpec, LocalService, LocalState, RegistrationSource};
use crate::http::error::HttpError;
use crate::http::go_json::{
    Decoded, array, boolean, object, parse_json, present, string, string_map, strings, unsigned,
};
use crate::wire::catalog_registration::{
    CheckStatus, ServiceAddress, ServiceDefinition, Weights, meta_error,
};

/// Consul's `ipaddr.IsAny`: `0.0.0.0`, `::` or `[::]`.
fn is_any_address(address: &str) -> bool {
    let bare = address.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

fn weights(service: &Map<String, Value>) -> Decoded<Weights> {
    let Some(given) = present(service, "Weights") else {
        return Ok(Weights::default());
    };
    let given = object(given, "Weights")?;
    let weights = Weights {
        passing: unsigned(given, "Passing")?.unwrap_or(0),
        warning: unsigned(given, "Warning")?.unwrap_or(0),
    };
    // Consul's `ValidateWeights`.
    if weights.passing < 1 {
        return Err(HttpError::bad_request(
            "Invalid Weights: Passing must be greater than 0",
        ));
    }
    if weights.passing > 65535 || weights.warning > 65535 {
        return Err(HttpError::bad_request(
            "Invalid Weights: DNS Weight must be between 0 and 65535",
        ));
    }
    Ok(weights)
}

fn tagged_addresses(service: &Map<String, Value>) -> Decoded<BTreeMap<String, ServiceAddress>> {
    let name = key(service, &["TaggedAddresses", "tagged_addresses"]);
    let mut out = BTreeMap::new();
    if let Some(map) = present(service, name) {
        for (tag, address) in object(map, "TaggedAddresses")? {
            let address = object(address, "TaggedAddresses")?;
            let port = unsigned(address, "Port")?.unwrap_or(0);
            let address = string(address, "Address")?;
            out.insert(tag.clone(), ServiceAddress { address, port });
        }
    }
    Ok(out)
}

/// The service's `Check` and `Checks`, as Consul's
/// `ServiceDefinition.CheckTypes`: an empty `Check` is no check.
fn service_checks(service: &Map<String, Value>) -> Decoded<Vec<CheckSpec>> {
    let mut objects = Vec::new();
    if let Some(check) = present(service, "Check") {
        let check = object(check, "Check")?;
        if !check.values().all(is_zero) {
            objects.push(check);
        }
    }
    if let Some(list) = present(service, "Checks") {
        for check in array(list, "Checks")? {
            objects.push(object(check, "Checks")?);
        }
    }
    let mut decoded = Vec::with_capacity(objects.len());
    for check in objects {
        decoded.push(check_object(check, &["CheckID", "ID", "check_id"])?);
    }
    let mut specs = Vec::with_capacity(decoded.len());
    for check in &decoded {
        let mut spec = check.spec_without_runner.clone();
        spec.runner = check.fields.runner().map_err(invalid_check)?;
        specs.push(spec);
    }
    // Consul checks the statuses after every check's type.
    for (spec, check) in specs.iter_mut().zip(&decoded) {
        if !check.status_text.is_empty() {
            spec.status = Some(CheckStatus::parse(&check.status_text).ok_or_else(|| {
                HttpError::bad_request("Status for checks must 'passing', 'warning', 'critical'")
            })?);
        }
        // A service's check belongs to the service, whatever it says.
        spec.service_id.clear();
    }
    Ok(specs)
}

/// Go's zero value: what an omitted field decodes to.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// `PUT /v1/agent/service/register` (with `?replace-existing-checks`): the
/// registration to hand to [`LocalState::add_service`].
pub fn decode_service_register(
    body: &[u8],
    replace_existing_checks: bool,
) -> Decoded<ServiceRegistration> {
    let parsed = parse_json(body)?;
    let service = object(&parsed, "request")?;
    let name = string(service, "Name")?;
    if name.is_empty() {
        return Err(HttpError::bad_request("Missing service name"));
    }
    let address = string(service, "Address")?;
    if is_any_address(&address) {
        return Err(HttpError::bad_request("Invalid service address"));
    }
    let definition = ServiceDefinition {
        id: string(service, "ID")?,
        service: name,
        tags: strings(service, "Tags")?,
        address,
        port: unsigned(service, "Port")?.unwrap_or(0),
        meta: string_map(service, "Meta")?,
        weights: weights(service)?,
        enable_tag_override: boolean(
            service,
            key(service, &["EnableTagOverride", "enable_tag_override"]),
        )?,
        tagged_addresses: tagged_addresses(service)?,
    };
    if let Some(err) = meta_error(&definition.meta, false) {
        return Err(HttpError::bad_request(format!(
            "Invalid Service Meta: {err}"
        )));
    }
    Ok(ServiceRegistration {
        service: definition,
        checks: service_checks(service)?,
        replace_existing_checks,
        source: RegistrationSource::Remote,
    })
}

/// Consul's reading of `?replace-existing-checks`: present and empty or
/// `true`.
pub fn replace_existing_checks(value: Option<&str>) -> bool {
    matches!(value, Some("") | Some("true"))
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAddressJson {
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct WeightsJson {
    pub passing: u32,
    pub warning: u32,
}

/// Consul's `api.AgentService`, fields in its order; the empty optional
/// ones (Kind, SocketPath, indexes, Proxy, Connect, PeerName, Namespace,
/// Partition) are omitted as Consul omits them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AgentServiceJson {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub address: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tagged_addresses: BTreeMap<String, ServiceAddressJson>,
    pub weights: WeightsJson,
    pub enable_tag_override: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datacenter: String,
}

fn agent_service_json(local: &LocalService, datacenter: &str) -> AgentServiceJson {
    let service = &local.service;
    let tagged_addresses = service
        .tagged_addresses
        .iter()
        .map(|(tag, a)| {
            let json = ServiceAddressJson {
                address: a.address.clone(),
                port: a.port,
            };
            (tag.clone(), json)
        })
        .collect();
    AgentServiceJson {
        id: service.id.clone(),
        service: service.service.clone(),
        tags: service.tags.clone(),
        meta: service.meta.clone(),
        port: service.port,
        address: service.address.clone(),
        tagged_addresses,
        weights: WeightsJson {
            passing: service.weights.passing,
            warning: service.weights.warning,
        },
        enable_tag_override: service.enable_tag_override,
        datacenter: datacenter.to_owned(),
    }
}

/// `GET /v1/agent/services`: service ID → service, sorted as Go sorts map
/// keys.
pub fn agent_services(local: &LocalState, datacenter: &str) -> BTreeMap<String, AgentServiceJson> {
    local
        .services()
        .map(|s| (s.service.id.clone(), agent_service_json(s, datacenter)))
        .collect()
}

/// `GET /v1/agent/service/<id>`; `None` is Consul's 404
/// ([`unknown_service`]).
pub fn agent_service(local: &LocalState, id: &str, datacenter: &str) -> Option<AgentServiceJson> {
    local.service(id).map(|s| agent_service_json(s, datacenter))
}

/// Consul's answer for an unknown ID at `/v1/agent/service/<id>`.
pub fn unknown_service(id: &str) -> HttpError {
    HttpError::new(404, format!("unknown service ID: {id}"))
}

#[cfg(test)]
#[path = "agent_services_tests.rs"]
mod tests;
