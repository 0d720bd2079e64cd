//! The agent's check endpoints, pure: the bodies of
//! `PUT /v1/agent/check/register` and `PUT /v1/agent/check/update/<id>`
//! decoded as Consul's `agent_endpoint.go` decodes them (keys matched as Go
//! does, Consul's snake_case aliases, durations as Go text or
//! nanoseconds), and `GET /v1/agent/checks` shaped as Consul's
//! `structs.HealthCheck`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::agent::local_state::{
    CheckRunner, CheckSpec, CheckTypeFields, LocalCheck, LocalState, LocalStateError,
};
use crate::http::duration::check_duration_text;
use crate::http::error::HttpError;
use crate::http::go_json::{
    Decoded, array, duration_ms, mistyped, object, parse_json, present, string, strings,
};
use crate::wire::catalog_registration::CheckStatus;

/// Check kinds Consul has and this agent does not run: named, so such a
/// registration is refused instead of being mistaken for another kind.
const UNSUPPORTED_KINDS: [&str; 7] = [
    "GRPC",
    "UDP",
    "H2PING",
    "OSService",
    "DockerContainerID",
    "AliasNode",
    "AliasService",
];

/// The first of `names` the object has (Consul accepts snake_case aliases
/// of some fields), else the first.
pub(crate) fn key<'a>(object: &Map<String, Value>, names: &[&'a str]) -> &'a str {
    names
        .iter()
        .find(|name| present(object, name).is_some())
        .unwrap_or(&names[0])
}

fn header(object: &Map<String, Value>) -> Decoded<BTreeMap<String, Vec<String>>> {
    let Some(value) = present(object, "Header") else {
        return Ok(BTreeMap::new());
    };
    let mut headers = BTreeMap::new();
    for (name, values) in self::object(value, "Header")? {
        let values = array(values, "Header")?
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| mistyped("Header", "map[string][]string"))?;
        headers.insert(name.clone(), values);
    }
    Ok(headers)
}

/// Consul's `CheckType` fields of a check object.
fn check_type_fields(check: &Map<String, Value>) -> Decoded<CheckTypeFields> {
    let args_key = key(check, &["ScriptArgs", "Args", "script_args"]);
    Ok(CheckTypeFields {
        script_args: strings(check, args_key)?,
        http: string(check, "HTTP")?,
        header: header(check)?,
        method: string(check, "Method")?,
        tcp: string(check, "TCP")?,
        interval_ms: duration_ms(check, "Interval")?,
        timeout_ms: duration_ms(check, "Timeout")?,
        ttl_ms: duration_ms(check, "TTL")?,
    })
}

/// A check object of either endpoint, its runner and status still to be
/// checked in that endpoint's order and words.
pub(crate) struct CheckObject {
    pub spec_without_runner: CheckSpec,
    pub fields: CheckTypeFields,
    /// The raw status text, checked by the caller in its endpoint's order.
    pub status_text: String,
}

/// `id_keys`: the spellings of the check's ID at this endpoint.
pub(crate) fn check_object(check: &Map<String, Value>, id_keys: &[&str]) -> Decoded<CheckObject> {
    if let Some(kind) = UNSUPPORTED_KINDS
        .iter()
        .find(|kind| present(check, kind).is_some_and(|v| v != &Value::from("")))
    {
        return Err(HttpError::bad_request(format!(
            "Invalid check: {kind} checks are not supported by this agent"
        )));
    }
    let after_key = key(
        check,
        &[
            "DeregisterCriticalServiceAfter",
            "deregister_critical_service_after",
        ],
    );
    let spec = CheckSpec {
        check_id: string(check, key(check, id_keys))?,
        name: string(check, "Name")?,
        status: None,
        notes: string(check, "Notes")?,
        service_id: string(check, key(check, &["ServiceID", "service_id"]))?,
        runner: CheckRunner::None,
        deregister_critical_service_after_ms: duration_ms(check, after_key)?,
    };
    Ok(CheckObject {
        spec_without_runner: spec,
        fields: check_type_fields(check)?,
        status_text: string(check, "Status")?,
    })
}

/// Consul's answer to a check that fails `CheckType.Validate` at the HTTP
/// layer: "Invalid check: <reason>".
pub(crate) fn invalid_check(err: LocalStateError) -> HttpError {
    match err {
        LocalStateError::InvalidCheck(reason) => {
            HttpError::bad_request(format!("Invalid check: {reason}"))
        }
        other => HttpError::bad_request(other.to_string()),
    }
}

/// `PUT /v1/agent/check/register`: the check to hand to
/// [`LocalState::add_check`] (source remote).
pub fn decode_check_register(body: &[u8]) -> Decoded<CheckSpec> {
    let parsed = parse_json(body)?;
    let check = object(&parsed, "request")?;
    let decoded = check_object(check, &["ID", "CheckID", "check_id"])?;
    let mut spec = decoded.spec_without_runner;
    if spec.name.is_empty() {
        return Err(HttpError::bad_request("Missing check name"));
    }
    if !decoded.status_text.is_empty() {
        let status = CheckStatus::parse(&decoded.status_text)
            .ok_or_else(|| HttpError::bad_request("Bad check status"))?;
        spec.status = Some(status);
    }
    spec.runner = decoded.fields.runner().map_err(invalid_check)?;
    Ok(spec)
}

/// `PUT /v1/agent/check/update/<id>`: `{Status, Output}`.
pub fn decode_check_update(body: &[u8]) -> Decoded<(CheckStatus, String)> {
    let parsed = parse_json(body)?;
    let update = object(&parsed, "request")?;
    let status = string(update, "Status")?;
    let status = CheckStatus::parse(&status)
        .ok_or_else(|| HttpError::bad_request(format!("Invalid check status: '{status}'")))?;
    Ok((status, string(update, "Output")?))
}

/// How a refused change to the local state is answered: Consul's status
/// where its endpoint sets one, else 500 as Consul answers a plain error.
pub fn local_state_error(err: &LocalStateError) -> HttpError {
    let status = match err {
        LocalStateError::UnknownService(_) | LocalStateError::NoServiceForMaintenance(_) => 404,
        LocalStateError::NotTtlCheck(_) | LocalStateError::ScriptsDisabled(_) => 500,
        LocalStateError::MissingServiceId | LocalStateError::MissingCheckId => 500,
        LocalStateError::MissingServiceName
        | LocalStateError::InvalidCheck(_)
        | LocalStateError::InvalidTaggedAddress { .. }
        | LocalStateError::Limit(_) => 400,
    };
    HttpError::new(status, err.to_string())
}

/// Consul's `HealthCheckDefinition` of an agent's check: empty, as the
/// agent keeps the definition to itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EmptyDefinition {}

/// Consul's `structs.HealthCheck`, fields in its order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct AgentCheckJson {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub status: &'static str,
    pub notes: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub r#type: String,
    pub interval: String,
    pub timeout: String,
    pub exposed_port: u16,
    pub definition: EmptyDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

fn agent_check(local: &LocalCheck, node_name: &str) -> AgentCheckJson {
    let check = &local.check;
    AgentCheckJson {
        node: node_name.to_owned(),
        check_id: check.check_id.clone(),
        name: check.name.clone(),
        status: check.status.as_str(),
        notes: check.notes.clone(),
        output: check.output.clone(),
        service_id: check.service_id.clone(),
        service_name: check.service_name.clone(),
        service_tags: check.service_tags.clone(),
        r#type: check.check_type.clone(),
        interval: check_duration_text(local.runner.interval_ms().unwrap_or(0)),
        timeout: check_duration_text(local.runner.timeout_ms()),
        exposed_port: 0,
        definition: EmptyDefinition {},
        create_index: 0,
        modify_index: 0,
    }
}

/// `GET /v1/agent/checks`: check ID → check, sorted as Go sorts map keys.
pub fn agent_checks(local: &LocalState, node_name: &str) -> BTreeMap<String, AgentCheckJson> {
    local
        .checks()
        .map(|c| (c.check.check_id.clone(), agent_check(c, node_name)))
        .collect()
}

#[cfg(test)]
#[path = "agent_checks_tests.rs"]
mod tests;
