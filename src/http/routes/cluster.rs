//! The cluster endpoints of this wave (status, agent, catalog, operator),
//! following Consul's `status_endpoint.go`, `agent_endpoint.go`,
//! `catalog_endpoint.go` and `operator_endpoint.go`. Where Consul reads a
//! flag by presence (`_, ok := query["prune"]`) or by a non-empty value
//! (`query.Get("wan") != ""`), so do these.

use std::collections::BTreeMap;

use super::{EndpointCall, RouteError};
use crate::http::api_request::{
    AgentMembers, ApiRequest, CatalogNodes, CatalogServices, MetricsFormat, RaftPeer,
};
use crate::http::blocking::BlockingParams;
use crate::http::error::HttpError;
use crate::http::query::Query;

/// Consul's `api.AllSegments`.
const ALL_SEGMENTS: &str = "_all";

pub(super) fn status_leader(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    Ok(ApiRequest::StatusLeader { blocking })
}

pub(super) fn status_peers(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    Ok(ApiRequest::StatusPeers { blocking })
}

pub(super) fn agent_members(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let wan = call.query.get_non_empty("wan").is_some();
    let segment = call.query.get_non_empty("segment").map(str::to_string);
    if wan && segment.as_deref().is_some_and(|s| s != ALL_SEGMENTS) {
        return Err(HttpError::bad_request("Cannot provide a segment with wan=true").into());
    }
    let filter = call.query.get_non_empty("filter").map(str::to_string);
    Ok(ApiRequest::AgentMembers(AgentMembers {
        wan,
        segment,
        filter,
    }))
}

/// Consul would try to join "" and fail inside serf with a 500; the empty
/// address is the client's mistake, so it is a 400.
pub(super) fn agent_join(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    if call.suffix.is_empty() {
        return Err(HttpError::bad_request("Missing address to join").into());
    }
    Ok(ApiRequest::AgentJoin {
        address: call.suffix.to_string(),
        wan: call.query.get_non_empty("wan").is_some(),
    })
}

pub(super) fn agent_force_leave(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    if call.suffix.is_empty() {
        return Err(HttpError::bad_request("Missing node name").into());
    }
    Ok(ApiRequest::AgentForceLeave {
        node: call.suffix.to_string(),
        prune: call.query.has("prune"),
        wan: call.query.has("wan"),
    })
}

pub(super) fn agent_metrics(call: &EndpointCall<'_>) -> ApiRequest {
    let format = if call.query.get("format") == Some("prometheus") {
        MetricsFormat::Prometheus
    } else {
        MetricsFormat::Json
    };
    ApiRequest::AgentMetrics { format }
}

pub(super) fn catalog_nodes(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    Ok(ApiRequest::CatalogNodes(CatalogNodes {
        blocking,
        near: call.query.get_non_empty("near").map(str::to_string),
        node_meta: node_meta_filters(call.query),
        filter: call.query.get_non_empty("filter").map(str::to_string),
    }))
}

pub(super) fn catalog_node(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    if call.suffix.is_empty() {
        return Err(HttpError::bad_request("Missing node name").into());
    }
    Ok(ApiRequest::CatalogNode {
        node: call.suffix.to_string(),
        blocking,
    })
}

pub(super) fn catalog_services(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    Ok(ApiRequest::CatalogServices(CatalogServices {
        blocking,
        node_meta: node_meta_filters(call.query),
        filter: call.query.get_non_empty("filter").map(str::to_string),
    }))
}

pub(super) fn raft_configuration(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    Ok(ApiRequest::OperatorRaftConfiguration { blocking })
}

pub(super) fn raft_remove_peer(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let id = call.query.get("id");
    let address = call.query.get("address");
    let peer = match (id, address) {
        (Some(id), None) => RaftPeer::Id(id.to_string()),
        (None, Some(address)) => RaftPeer::Address(address.to_string()),
        (None, None) => {
            return Err(HttpError::bad_request(
                "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
            )
            .into());
        }
        (Some(_), Some(_)) => {
            return Err(HttpError::bad_request("Must specify only one of ?id or ?address").into());
        }
    };
    Ok(ApiRequest::OperatorRaftRemovePeer {
        peer,
        datacenter: call.query.get_non_empty("dc").map(str::to_string),
    })
}

pub(super) fn raft_transfer_leader(call: &EndpointCall<'_>) -> ApiRequest {
    ApiRequest::OperatorRaftTransferLeader {
        id: call.query.get_non_empty("id").map(str::to_string),
    }
}

pub(super) fn autopilot_health(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    Ok(ApiRequest::OperatorAutopilotHealth { blocking })
}

/// Consul's `parseMetaFilter` with `ParseMetaPair`: `key:value`, split at
/// the first colon, a missing value empty, a repeated key keeping the last.
pub(super) fn node_meta_filters(query: &Query) -> BTreeMap<String, String> {
    query
        .values("node-meta")
        .map(|pair| {
            let (key, value) = pair.split_once(':').unwrap_or((pair, ""));
            (key.to_string(), value.to_string())
        })
        .collect()
}
