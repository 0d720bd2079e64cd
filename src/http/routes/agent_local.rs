//! The agent's own services and checks, following Consul's
//! `agent_endpoint.go`: bodies decoded by `agent_services.rs` and
//! `agent_checks.rs`, the ID from the path's rest, `enable` a required Go
//! bool.

use super::{EndpointCall, RouteError};
use crate::http::agent_checks::{decode_check_register, decode_check_update};
use crate::http::agent_local_request::AgentLocalRequest;
use crate::http::agent_services::{decode_service_register, replace_existing_checks};
use crate::http::api_request::ApiRequest;
use crate::http::error::HttpError;
use crate::wire::catalog_registration::CheckStatus;

fn local(request: AgentLocalRequest) -> Result<ApiRequest, RouteError> {
    Ok(ApiRequest::AgentLocal(request))
}

fn id(call: &EndpointCall<'_>, missing: &str) -> Result<String, RouteError> {
    match call.suffix {
        "" => Err(HttpError::bad_request(missing).into()),
        id => Ok(id.to_string()),
    }
}

/// The body the decoder took, as JSON, to be kept across restarts (Go's
/// decoder reads the first value; so does this).
fn body_value(call: &EndpointCall<'_>) -> serde_json::Value {
    let mut values = serde_json::Deserializer::from_slice(&call.request.body).into_iter();
    values.next().and_then(Result::ok).unwrap_or_default()
}

fn filter(call: &EndpointCall<'_>) -> Option<String> {
    call.query.get_non_empty("filter").map(str::to_string)
}

/// Consul's `enable` parameter: required, a Go bool.
fn enable(call: &EndpointCall<'_>) -> Result<bool, RouteError> {
    let Some(value) = call.query.get("enable") else {
        return Err(HttpError::bad_request("Missing value for enable").into());
    };
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(HttpError::bad_request(format!("Invalid value for enable: {other:?}")).into()),
    }
}

fn reason(call: &EndpointCall<'_>) -> String {
    call.query.get("reason").unwrap_or_default().to_string()
}

pub(super) fn service_register(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let replace = replace_existing_checks(call.query.get("replace-existing-checks"));
    let registration = decode_service_register(&call.request.body, replace)?;
    local(AgentLocalRequest::RegisterService {
        registration: Box::new(registration),
        body: body_value(call),
    })
}

pub(super) fn service_deregister(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let id = id(call, "Missing service ID")?;
    local(AgentLocalRequest::DeregisterService { id })
}

pub(super) fn services(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    local(AgentLocalRequest::Services {
        filter: filter(call),
    })
}

pub(super) fn service(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let id = id(call, "Missing service ID")?;
    local(AgentLocalRequest::Service { id })
}

pub(super) fn service_maintenance(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let id = id(call, "Missing service ID")?;
    let enable = enable(call)?;
    let reason = reason(call);
    local(AgentLocalRequest::ServiceMaintenance { id, enable, reason })
}

pub(super) fn node_maintenance(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let enable = enable(call)?;
    let reason = reason(call);
    local(AgentLocalRequest::NodeMaintenance { enable, reason })
}

pub(super) fn checks(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    local(AgentLocalRequest::Checks {
        filter: filter(call),
    })
}

pub(super) fn check_register(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let spec = decode_check_register(&call.request.body)?;
    local(AgentLocalRequest::RegisterCheck {
        spec: Box::new(spec),
        body: body_value(call),
    })
}

pub(super) fn check_deregister(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let id = id(call, "Missing check ID")?;
    local(AgentLocalRequest::DeregisterCheck { id })
}

/// `/pass`, `/warn` and `/fail`: the status from the path, `?note` the
/// output.
pub(super) fn check_ttl(
    call: &EndpointCall<'_>,
    status: CheckStatus,
) -> Result<ApiRequest, RouteError> {
    let id = id(call, "Missing check ID")?;
    let output = call.query.get("note").unwrap_or_default().to_string();
    local(AgentLocalRequest::UpdateTtl { id, status, output })
}

pub(super) fn check_update(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let id = id(call, "Missing check ID")?;
    let (status, output) = decode_check_update(&call.request.body)?;
    local(AgentLocalRequest::UpdateTtl { id, status, output })
}
