//! The router from a decoded request to a typed [`ApiRequest`]. Paths match
//! as Go's `ServeMux` matches Consul's registrations: exact paths, and
//! subtrees (a pattern ending in `/`) by longest prefix. Each endpoint lists
//! its methods as Consul's `registerEndpoint` does; `OPTIONS` is answered
//! with them and any other method is a 405.

mod agent_local;
mod catalog_register;
mod cluster;
mod health;
mod kv;
mod txn;

use super::api_request::ApiRequest;
use super::error::HttpError;
use super::kv_json::{TxnErrorJson, TxnResponseJson};
use super::limits::HttpLimits;
use super::query::Query;
use super::request::HttpRequest;
use super::response::HttpResponse;
use crate::wire::catalog_registration::CheckStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Kv,
    Txn,
    StatusLeader,
    StatusPeers,
    AgentSelf,
    AgentMembers,
    AgentJoin,
    AgentLeave,
    AgentForceLeave,
    AgentReload,
    AgentMetrics,
    AgentServiceRegister,
    AgentServiceDeregister,
    AgentServices,
    AgentService,
    AgentServiceMaintenance,
    AgentMaintenance,
    AgentChecks,
    AgentCheckRegister,
    AgentCheckDeregister,
    AgentCheckPass,
    AgentCheckWarn,
    AgentCheckFail,
    AgentCheckUpdate,
    CatalogNodes,
    CatalogNode,
    CatalogDatacenters,
    CatalogServices,
    CatalogService,
    HealthService,
    HealthChecks,
    HealthNode,
    HealthState,
    CatalogRegister,
    CatalogDeregister,
    OperatorRaftConfiguration,
    OperatorRaftPeer,
    OperatorRaftTransferLeader,
    OperatorAutopilotHealth,
}

struct Registration {
    pattern: &'static str,
    endpoint: Endpoint,
    /// OPTIONS first, then the endpoint's methods: the `Allow` header's
    /// value in Consul's order.
    allow: &'static [&'static str],
}

const GET: &[&str] = &["OPTIONS", "GET"];
const PUT: &[&str] = &["OPTIONS", "PUT"];
const POST: &[&str] = &["OPTIONS", "POST"];
const DELETE: &[&str] = &["OPTIONS", "DELETE"];
const GET_PUT_DELETE: &[&str] = &["OPTIONS", "GET", "PUT", "DELETE"];

/// From Consul's `agent/http_register.go`.
const REGISTRATIONS: &[Registration] = &[
    reg("/v1/kv/", Endpoint::Kv, GET_PUT_DELETE),
    reg("/v1/txn", Endpoint::Txn, PUT),
    reg("/v1/status/leader", Endpoint::StatusLeader, GET),
    reg("/v1/status/peers", Endpoint::StatusPeers, GET),
    reg("/v1/agent/self", Endpoint::AgentSelf, GET),
    reg("/v1/agent/members", Endpoint::AgentMembers, GET),
    reg("/v1/agent/join/", Endpoint::AgentJoin, PUT),
    reg("/v1/agent/leave", Endpoint::AgentLeave, PUT),
    reg("/v1/agent/force-leave/", Endpoint::AgentForceLeave, PUT),
    reg("/v1/agent/reload", Endpoint::AgentReload, PUT),
    reg("/v1/agent/metrics", Endpoint::AgentMetrics, GET),
    reg(
        "/v1/agent/service/register",
        Endpoint::AgentServiceRegister,
        PUT,
    ),
    reg(
        "/v1/agent/service/deregister/",
        Endpoint::AgentServiceDeregister,
        PUT,
    ),
    reg("/v1/agent/services", Endpoint::AgentServices, GET),
    reg("/v1/agent/service/", Endpoint::AgentService, GET),
    reg(
        "/v1/agent/service/maintenance/",
        Endpoint::AgentServiceMaintenance,
        PUT,
    ),
    reg("/v1/agent/maintenance", Endpoint::AgentMaintenance, PUT),
    reg("/v1/agent/checks", Endpoint::AgentChecks, GET),
    reg(
        "/v1/agent/check/register",
        Endpoint::AgentCheckRegister,
        PUT,
    ),
    reg(
        "/v1/agent/check/deregister/",
        Endpoint::AgentCheckDeregister,
        PUT,
    ),
    reg("/v1/agent/check/pass/", Endpoint::AgentCheckPass, PUT),
    reg("/v1/agent/check/warn/", Endpoint::AgentCheckWarn, PUT),
    reg("/v1/agent/check/fail/", Endpoint::AgentCheckFail, PUT),
    reg("/v1/agent/check/update/", Endpoint::AgentCheckUpdate, PUT),
    reg("/v1/catalog/nodes", Endpoint::CatalogNodes, GET),
    reg("/v1/catalog/node/", Endpoint::CatalogNode, GET),
    reg("/v1/catalog/datacenters", Endpoint::CatalogDatacenters, GET),
    reg("/v1/catalog/services", Endpoint::CatalogServices, GET),
    reg("/v1/catalog/service/", Endpoint::CatalogService, GET),
    reg("/v1/health/service/", Endpoint::HealthService, GET),
    reg("/v1/health/checks/", Endpoint::HealthChecks, GET),
    reg("/v1/health/node/", Endpoint::HealthNode, GET),
    reg("/v1/health/state/", Endpoint::HealthState, GET),
    reg("/v1/catalog/register", Endpoint::CatalogRegister, PUT),
    reg("/v1/catalog/deregister", Endpoint::CatalogDeregister, PUT),
    reg(
        "/v1/operator/raft/configuration",
        Endpoint::OperatorRaftConfiguration,
        GET,
    ),
    reg("/v1/operator/raft/peer", Endpoint::OperatorRaftPeer, DELETE),
    reg(
        "/v1/operator/raft/transfer-leader",
        Endpoint::OperatorRaftTransferLeader,
        POST,
    ),
    reg(
        "/v1/operator/autopilot/health",
        Endpoint::OperatorAutopilotHealth,
        GET,
    ),
];

const fn reg(
    pattern: &'static str,
    endpoint: Endpoint,
    allow: &'static [&'static str],
) -> Registration {
    Registration {
        pattern,
        endpoint,
        allow,
    }
}

/// A request the agent can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedRequest {
    pub request: ApiRequest,
    /// `?pretty`: indent the JSON answer.
    pub pretty: bool,
}

/// A request answered without reaching the agent. None of these closes the
/// connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// A `text/plain` one-line answer in Consul's words.
    Http(HttpError),
    /// No endpoint has this path: Consul's index handler answers an empty
    /// 404.
    NotFound,
    /// The path names a subtree without its trailing slash; Go's ServeMux
    /// redirects to the subtree.
    Redirect { location: String },
    MethodNotAllowed {
        method: String,
        allow: &'static [&'static str],
    },
    /// A transaction refused before it runs, with one error per failed op.
    /// `read_only` transactions are answered by Consul with the read's
    /// query metadata too, which only the agent knows; see
    /// [`TxnResponseJson`].
    TxnRejected {
        errors: Vec<TxnErrorJson>,
        read_only: bool,
        pretty: bool,
    },
}

impl From<HttpError> for RouteError {
    fn from(error: HttpError) -> Self {
        RouteError::Http(error)
    }
}

impl RouteError {
    pub fn to_response(&self) -> HttpResponse {
        match self {
            RouteError::Http(error) => HttpResponse::from_error(error),
            RouteError::NotFound => HttpResponse::new(404),
            RouteError::Redirect { location } => {
                HttpResponse::new(301).with_header("Location", location.clone())
            }
            RouteError::MethodNotAllowed { method, allow } => {
                HttpResponse::text(405, &format!("method {method} not allowed"))
                    .with_header("Allow", allow.join(","))
            }
            RouteError::TxnRejected { errors, pretty, .. } => {
                HttpResponse::json(409, &TxnResponseJson::rejected(errors.clone()), *pretty)
            }
        }
    }
}

/// The router's entry point: which endpoint, with which parameters.
pub fn route(request: &HttpRequest, limits: &HttpLimits) -> Result<RoutedRequest, RouteError> {
    // Consul wraps its mux in go-cleanhttp's PrintablePathCheckHandler: a
    // path with control characters (a decoded %00, say) is an empty 400.
    if request.path.chars().any(char::is_control) {
        return Err(HttpError::bad_request("").into());
    }
    let registration = find_registration(&request.path, &request.raw_query)?;
    let query = Query::parse(&request.raw_query).map_err(HttpError::bad_request)?;
    let pretty = query.has("pretty");
    if request.method == "OPTIONS" {
        let allow = registration.allow;
        return Ok(RoutedRequest {
            request: ApiRequest::Options { allow },
            pretty,
        });
    }
    if !registration.allow[1..].contains(&request.method.as_str()) {
        return Err(RouteError::MethodNotAllowed {
            method: request.method.clone(),
            allow: registration.allow,
        });
    }
    let suffix = &request.path[registration.pattern.len()..];
    let call = EndpointCall {
        request,
        query: &query,
        limits,
        suffix,
        pretty,
    };
    let api_request = dispatch(registration.endpoint, &call)?;
    Ok(RoutedRequest {
        request: api_request,
        pretty,
    })
}

/// What an endpoint's parser gets: the request, its parsed query, and the
/// path after the endpoint's pattern (a key, a node, an address).
pub(super) struct EndpointCall<'a> {
    pub request: &'a HttpRequest,
    pub query: &'a Query,
    pub limits: &'a HttpLimits,
    pub suffix: &'a str,
    pub pretty: bool,
}

fn dispatch(endpoint: Endpoint, call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    match endpoint {
        Endpoint::Kv => kv::route_kv(call),
        Endpoint::Txn => txn::route_txn(call),
        Endpoint::StatusLeader => cluster::status_leader(call),
        Endpoint::StatusPeers => cluster::status_peers(call),
        Endpoint::AgentSelf => Ok(ApiRequest::AgentSelf),
        Endpoint::AgentMembers => cluster::agent_members(call),
        Endpoint::AgentJoin => cluster::agent_join(call),
        Endpoint::AgentLeave => Ok(ApiRequest::AgentLeave),
        Endpoint::AgentForceLeave => cluster::agent_force_leave(call),
        Endpoint::AgentReload => Ok(ApiRequest::AgentReload),
        Endpoint::AgentMetrics => Ok(cluster::agent_metrics(call)),
        Endpoint::AgentServiceRegister => agent_local::service_register(call),
        Endpoint::AgentServiceDeregister => agent_local::service_deregister(call),
        Endpoint::AgentServices => agent_local::services(call),
        Endpoint::AgentService => agent_local::service(call),
        Endpoint::AgentServiceMaintenance => agent_local::service_maintenance(call),
        Endpoint::AgentMaintenance => agent_local::node_maintenance(call),
        Endpoint::AgentChecks => agent_local::checks(call),
        Endpoint::AgentCheckRegister => agent_local::check_register(call),
        Endpoint::AgentCheckDeregister => agent_local::check_deregister(call),
        Endpoint::AgentCheckPass => agent_local::check_ttl(call, CheckStatus::Passing),
        Endpoint::AgentCheckWarn => agent_local::check_ttl(call, CheckStatus::Warning),
        Endpoint::AgentCheckFail => agent_local::check_ttl(call, CheckStatus::Critical),
        Endpoint::AgentCheckUpdate => agent_local::check_update(call),
        Endpoint::CatalogNodes => cluster::catalog_nodes(call),
        Endpoint::CatalogNode => cluster::catalog_node(call),
        Endpoint::CatalogDatacenters => Ok(ApiRequest::CatalogDatacenters),
        Endpoint::CatalogServices => cluster::catalog_services(call),
        Endpoint::CatalogService => health::catalog_service(call),
        Endpoint::HealthService => health::health_service(call),
        Endpoint::HealthChecks => health::health_checks(call),
        Endpoint::HealthNode => health::health_node(call),
        Endpoint::HealthState => health::health_state(call),
        Endpoint::CatalogRegister => catalog_register::catalog_register(call),
        Endpoint::CatalogDeregister => catalog_register::catalog_deregister(call),
        Endpoint::OperatorRaftConfiguration => cluster::raft_configuration(call),
        Endpoint::OperatorRaftPeer => cluster::raft_remove_peer(call),
        Endpoint::OperatorRaftTransferLeader => Ok(cluster::raft_transfer_leader(call)),
        Endpoint::OperatorAutopilotHealth => cluster::autopilot_health(call),
    }
}

/// The pattern of the endpoint `path` is routed to (`/v1/kv/`), `None`
/// when no endpoint has it: a fixed set, so metrics labelled with it stay
/// bounded whatever paths clients send.
pub fn endpoint_pattern(path: &str) -> Option<&'static str> {
    find_registration(path, "")
        .ok()
        .map(|registration| registration.pattern)
}

/// Longest matching pattern wins, as in Go's ServeMux.
fn find_registration(path: &str, raw_query: &str) -> Result<&'static Registration, RouteError> {
    let matched = REGISTRATIONS
        .iter()
        .filter(|registration| {
            if registration.pattern.ends_with('/') {
                path.starts_with(registration.pattern)
            } else {
                path == registration.pattern
            }
        })
        .max_by_key(|registration| registration.pattern.len());
    if let Some(registration) = matched {
        return Ok(registration);
    }
    let subtree_root = REGISTRATIONS.iter().find(|registration| {
        registration
            .pattern
            .strip_suffix('/')
            .is_some_and(|root| root == path)
    });
    match subtree_root {
        Some(registration) => {
            let mut location = registration.pattern.to_string();
            if !raw_query.is_empty() {
                location.push('?');
                location.push_str(raw_query);
            }
            Err(RouteError::Redirect { location })
        }
        None => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests;
