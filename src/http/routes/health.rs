//! The service and health reads, following Consul's
//! `catalog_endpoint.go` (`CatalogServiceNodes`) and `health_endpoint.go`:
//! the name is the path's rest, `?tag` is repeatable, `?passing` is a Go
//! bool where a bare `?passing` means true.

use super::cluster::node_meta_filters;
use super::{EndpointCall, RouteError};
use crate::http::api_request::{ApiRequest, ServiceRead, ServiceReadKind};
use crate::http::blocking::BlockingParams;
use crate::http::error::HttpError;
use crate::wire::catalog_registration::CheckStatus;

fn read(call: &EndpointCall<'_>, kind: ServiceReadKind) -> Result<ApiRequest, RouteError> {
    Ok(ApiRequest::ServiceRead(ServiceRead {
        kind,
        blocking: BlockingParams::parse(call.query)?,
        node_meta: node_meta_filters(call.query),
        filter: call.query.get_non_empty("filter").map(str::to_string),
    }))
}

fn name(call: &EndpointCall<'_>, missing: &str) -> Result<String, RouteError> {
    match call.suffix {
        "" => Err(HttpError::bad_request(missing).into()),
        name => Ok(name.to_string()),
    }
}

fn tags(call: &EndpointCall<'_>) -> Vec<String> {
    call.query.values("tag").map(str::to_string).collect()
}

/// Go's `strconv.ParseBool`, with an empty value true as Consul's
/// `getBoolQueryParam` reads a bare flag.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "" | "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

pub(super) fn catalog_service(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let name = name(call, "Missing service name")?;
    let tags = tags(call);
    read(call, ServiceReadKind::CatalogService { name, tags })
}

pub(super) fn health_service(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let name = name(call, "Missing service name")?;
    let passing = match call.query.get("passing") {
        None => false,
        Some(value) => {
            go_bool(value).ok_or_else(|| HttpError::bad_request("Invalid value for ?passing"))?
        }
    };
    let tags = tags(call);
    read(
        call,
        ServiceReadKind::HealthService {
            name,
            tags,
            passing,
        },
    )
}

pub(super) fn health_checks(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let service = name(call, "Missing service name")?;
    read(call, ServiceReadKind::HealthChecks { service })
}

pub(super) fn health_node(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let node = name(call, "Missing node name")?;
    read(call, ServiceReadKind::HealthNode { node })
}

pub(super) fn health_state(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let state = match name(call, "Missing check state")?.as_str() {
        "any" => None,
        text => Some(
            CheckStatus::parse(text)
                .ok_or_else(|| HttpError::bad_request("Invalid check state"))?,
        ),
    };
    read(call, ServiceReadKind::HealthState { state })
}
