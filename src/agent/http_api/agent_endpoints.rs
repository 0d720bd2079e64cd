//! The agent endpoints answered from the agent's own view (Consul's
//! `agent_endpoint.go`): `/v1/agent/self`, `/v1/agent/members`, and
//! `/v1/catalog/datacenters` (this agent knows its own datacenter only).
//! Go marshals maps with sorted keys, as `serde_json`'s maps are; structs
//! keep Consul's field order.

use crate::http::filter::Filter;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::http::HttpResponse;
use crate::http::api_request::ApiRequest;
use crate::wire::client_message::MemberInfo;

use crate::agent::handler::AgentHandler;

/// Consul's `api.AgentMember`, with the protocol ranges of Consul's serf.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct MemberJson {
    name: String,
    addr: String,
    port: u16,
    tags: Map<String, Value>,
    /// 1 alive, 3 left, 4 failed (serf's `MemberStatus`).
    status: u8,
    protocol_min: u8,
    protocol_max: u8,
    protocol_cur: u8,
    delegate_min: u8,
    delegate_max: u8,
    delegate_cur: u8,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigJson {
    datacenter: String,
    primary_datacenter: String,
    node_name: String,
    #[serde(rename = "NodeID")]
    node_id: String,
    revision: String,
    server: bool,
    version: String,
}

#[derive(Debug, Clone, Serialize)]
struct AgentSelfJson {
    #[serde(rename = "Config")]
    config: ConfigJson,
    #[serde(rename = "DebugConfig")]
    debug_config: Map<String, Value>,
    #[serde(rename = "Coord")]
    coord: Value,
    #[serde(rename = "Member")]
    member: MemberJson,
    #[serde(rename = "Stats")]
    stats: Map<String, Value>,
    #[serde(rename = "Meta")]
    meta: Map<String, Value>,
    #[serde(rename = "xDS")]
    xds: Value,
}

fn member_json(member: &MemberInfo, server_port: u16) -> MemberJson {
    let (addr, port) = match member.address.parse::<std::net::SocketAddr>() {
        Ok(address) => (address.ip().to_string(), address.port()),
        Err(_) => (member.address.clone(), 0),
    };
    let server = member.role == "server";
    let mut tags = Map::new();
    tags.insert("build".into(), json!(member.build));
    tags.insert("dc".into(), json!(member.datacenter));
    // Consul's role tag names a server `consul` and a client `node`.
    tags.insert("role".into(), json!(if server { "consul" } else { "node" }));
    if server {
        tags.insert("port".into(), json!(server_port.to_string()));
    }
    tags.insert("vsn".into(), json!(member.protocol.to_string()));
    let status = match member.status.as_str() {
        "alive" => 1,
        "left" => 3,
        _ => 4,
    };
    MemberJson {
        name: member.name.clone(),
        addr,
        port,
        tags,
        status,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// Consul's stats values are all strings.
fn strings(pairs: &[(&str, String)]) -> Value {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(key, value)| (key.to_string(), Value::String(value.clone())))
        .collect();
    Value::Object(map)
}

impl AgentHandler {
    pub(crate) fn answer_agent_endpoint(&self, request: ApiRequest, pretty: bool) -> HttpResponse {
        match request {
            ApiRequest::AgentMembers(request) => {
                let members: Vec<MemberJson> = self
                    .membership
                    .members()
                    .iter()
                    .map(|m| member_json(m, self.config.advertise.port()))
                    .collect();
                match request.filter.as_deref().map(Filter::parse) {
                    None => HttpResponse::json(200, &members, pretty),
                    Some(Err(err)) => HttpResponse::text(400, &err.to_string()),
                    Some(Ok(filter)) => {
                        let mut values: Vec<serde_json::Value> = members
                            .iter()
                            .filter_map(|m| serde_json::to_value(m).ok())
                            .collect();
                        filter.retain_json(&mut values);
                        HttpResponse::json(200, &values, pretty)
                    }
                }
            }
            ApiRequest::AgentSelf => HttpResponse::json(200, &self.agent_self(), pretty),
            ApiRequest::CatalogDatacenters => {
                HttpResponse::json(200, &[&self.config.datacenter], pretty)
            }
            other => HttpResponse::text(
                501,
                &format!(
                    "{} is not implemented by this agent yet",
                    endpoint_name(&other)
                ),
            ),
        }
    }

    fn agent_self(&self) -> AgentSelfJson {
        let config = &self.config;
        let own = self
            .membership
            .members()
            .into_iter()
            .find(|m| m.name == config.node_name);
        let own = own.unwrap_or_else(|| MemberInfo {
            name: config.node_name.clone(),
            address: config.advertise.to_string(),
            status: "alive".into(),
            role: config.role().into(),
            build: env!("CARGO_PKG_VERSION").into(),
            protocol: 1,
            datacenter: config.datacenter.clone(),
        });
        let mut stats = Map::new();
        stats.insert("consul".into(), self.consul_stats());
        if let Some(raft) = &self.raft {
            let info = raft.info();
            stats.insert(
                "raft".into(),
                strings(&[
                    ("applied_index", info.applied_index.to_string()),
                    ("commit_index", info.commit_index.to_string()),
                    ("last_log_index", info.last_log_index.to_string()),
                    ("last_snapshot_index", info.last_snapshot_index.to_string()),
                    ("num_peers", info.num_peers.to_string()),
                    ("state", info.state.to_uppercase()),
                    ("term", info.term.to_string()),
                ]),
            );
        }
        let node_id = self
            .raft
            .as_ref()
            .map(|raft| format!("{:016x}", raft.id()))
            .unwrap_or_default();
        AgentSelfJson {
            config: ConfigJson {
                datacenter: config.datacenter.clone(),
                primary_datacenter: config.datacenter.clone(),
                node_name: config.node_name.clone(),
                node_id,
                revision: String::new(),
                server: config.server,
                version: env!("CARGO_PKG_VERSION").into(),
            },
            debug_config: Map::new(),
            // Serf's starting coordinate: this agent runs no Vivaldi yet.
            coord: json!({"Vec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Error": 1.5, "Adjustment": 0.0, "Height": 1e-5}),
            member: member_json(&own, config.advertise.port()),
            stats,
            meta: Map::new(),
            xds: json!({"SupportedProxies": {}, "Port": -1, "Ports": {"Plaintext": -1, "TLS": -1}}),
        }
    }

    fn consul_stats(&self) -> Value {
        let server = self.config.server.to_string();
        let Some(raft) = &self.raft else {
            let known = self.membership.alive_servers().len().to_string();
            return strings(&[("known_servers", known), ("server", server)]);
        };
        let leader_addr = raft
            .leader()
            .map(|(_, a)| a.to_string())
            .unwrap_or_default();
        let bootstrap = matches!(
            self.config.bootstrap,
            crate::agent::config::Bootstrap::Single
        );
        strings(&[
            ("bootstrap", bootstrap.to_string()),
            ("known_datacenters", "1".into()),
            ("leader", raft.is_leader().to_string()),
            ("leader_addr", leader_addr),
            ("server", server),
        ])
    }
}

fn endpoint_name(request: &ApiRequest) -> &'static str {
    match request {
        ApiRequest::AgentJoin { .. } => "/v1/agent/join",
        ApiRequest::AgentLeave => "/v1/agent/leave",
        ApiRequest::AgentForceLeave { .. } => "/v1/agent/force-leave",
        ApiRequest::AgentReload => "/v1/agent/reload",
        ApiRequest::AgentMetrics { .. } => "/v1/agent/metrics",
        ApiRequest::OperatorAutopilotHealth { .. } => "/v1/operator/autopilot/health",
        _ => "this endpoint",
    }
}
