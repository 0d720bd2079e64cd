//! `node agent` as it runs today: the event loop on the peer port, answering
//! what this process truly knows — itself. The Raft node, storage and
//! gossip are not wired in yet, so requests that need them get a clear
//! `Internal` error instead of an invented answer.

use std::time::Instant;

use crate::wire::client_message::{
    ClientRequest, ClientResponse, ErrorCode, InfoSection, MemberInfo, RequestBody, ResponseBody,
    RpcError, RpcResult,
};
use crate::wire::frame::PROTOCOL_VERSION;

use super::config::{AgentConfig, Bootstrap};
use super::connection::ConnectionId;
use super::event_loop::{Context, EventLoop, EventLoopConfig, Handler, StopReason};
use super::transport::TransportLimits;

pub const RAFT_NOT_WIRED: &str = "raft not yet wired into the agent";
pub const GOSSIP_NOT_WIRED: &str = "gossip not yet wired into the agent";

#[derive(Debug)]
pub enum AgentError {
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    Config(super::config::ConfigError),
    EventLoop(super::event_loop::EventLoopError),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::DataDir { path, source } => {
                write!(
                    f,
                    "cannot create data directory {}: {source}",
                    path.display()
                )
            }
            AgentError::Config(err) => write!(f, "{err}"),
            AgentError::EventLoop(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Answers client requests for the local agent alone.
pub struct LocalAgent {
    config: AgentConfig,
    started_at: Instant,
}

impl LocalAgent {
    pub fn new(config: AgentConfig) -> Self {
        LocalAgent {
            config,
            started_at: Instant::now(),
        }
    }

    fn member(&self) -> MemberInfo {
        MemberInfo {
            name: self.config.node_name.clone(),
            address: self.config.advertise.to_string(),
            status: "alive".into(),
            role: self.config.role().into(),
            build: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION,
            datacenter: self.config.datacenter.clone(),
        }
    }

    fn info(&self) -> Vec<InfoSection> {
        let bootstrap = match self.config.bootstrap {
            Bootstrap::None => "false".to_string(),
            Bootstrap::Single => "true".to_string(),
            Bootstrap::Expect(n) => format!("expect {n}"),
        };
        let pair = |k: &str, v: String| (k.to_string(), v);
        vec![
            InfoSection {
                name: "agent".into(),
                fields: vec![
                    pair("name", self.config.node_name.clone()),
                    pair("datacenter", self.config.datacenter.clone()),
                    pair("server", self.config.server.to_string()),
                    pair("bootstrap", bootstrap),
                    pair("bind", self.config.bind.to_string()),
                    pair("advertise", self.config.advertise.to_string()),
                    pair("data_dir", self.config.data_dir.display().to_string()),
                    pair("version", env!("CARGO_PKG_VERSION").into()),
                    pair(
                        "uptime_seconds",
                        self.started_at.elapsed().as_secs().to_string(),
                    ),
                ],
            },
            InfoSection {
                name: "raft".into(),
                fields: vec![pair("status", RAFT_NOT_WIRED.into())],
            },
            InfoSection {
                name: "gossip".into(),
                fields: vec![pair("status", GOSSIP_NOT_WIRED.into())],
            },
        ]
    }

    /// The answer to one request, without I/O (so it is testable alone).
    pub fn answer(&self, body: &RequestBody) -> Result<RpcResult, RpcError> {
        let not_wired = |message: &str| RpcError {
            code: ErrorCode::Internal,
            message: message.to_string(),
            leader_hint: None,
        };
        match body {
            RequestBody::Info => Ok(RpcResult::Info(self.info())),
            RequestBody::Members => Ok(RpcResult::Members(vec![self.member()])),
            RequestBody::Leave => Ok(RpcResult::Left),
            RequestBody::Join { .. } => Err(not_wired(GOSSIP_NOT_WIRED)),
            RequestBody::KvGet { .. }
            | RequestBody::KvPut { .. }
            | RequestBody::KvDelete { .. }
            | RequestBody::KvList { .. }
            | RequestBody::Peers
            | RequestBody::CatalogNodes => Err(not_wired(RAFT_NOT_WIRED)),
        }
    }
}

impl Handler for LocalAgent {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context) {
        let body = match self.answer(&request.body) {
            Ok(result) => ResponseBody::Ok(result),
            Err(err) => ResponseBody::Err(err),
        };
        let response = ClientResponse {
            request_id: request.request_id,
            body,
        };
        if let Err(err) = ctx.reply(from, &response) {
            log::warn!(target: "agent", "cannot answer request {}: {err}", request.request_id);
        }
        if request.body == RequestBody::Leave {
            // Nothing to hand off until gossip and Raft are wired in; the
            // loop drains the "Left" answer before exiting.
            log::info!(target: "agent", "graceful leave requested; shutting down");
            ctx.stop(StopReason::Left);
        }
    }
}

/// Runs the agent until it leaves or is stopped.
pub fn run(config: AgentConfig) -> Result<(), AgentError> {
    config.validate().map_err(AgentError::Config)?;
    // Bind first: an agent that cannot have its port leaves nothing behind.
    let mut event_loop = EventLoop::new(EventLoopConfig {
        bind: config.bind,
        limits: TransportLimits::default(),
        handle_signals: true,
    })
    .map_err(AgentError::EventLoop)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| AgentError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    log::info!(target: "agent",
        "concord agent running: node {} ({}), datacenter {}, bound to {} (TCP and UDP)",
        config.node_name, config.role(), config.datacenter, event_loop.local_addr());
    log::warn!(target: "agent",
        "{RAFT_NOT_WIRED}; {GOSSIP_NOT_WIRED}: KV, catalog, peers and join requests are refused");
    if !config.join.is_empty() {
        log::warn!(target: "agent",
            "ignoring --join ({} addresses): {GOSSIP_NOT_WIRED}", config.join.len());
    }
    let mut agent = LocalAgent::new(config);
    let reason = event_loop.run(&mut agent).map_err(AgentError::EventLoop)?;
    match reason {
        StopReason::Left => log::info!(target: "agent", "graceful leave complete"),
        StopReason::Terminated | StopReason::Requested => {
            log::info!(target: "agent", "agent stopped")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> LocalAgent {
        let bind = "127.0.0.1:8300".parse().unwrap();
        LocalAgent::new(AgentConfig {
            server: true,
            bootstrap: Bootstrap::Single,
            data_dir: "./node-data".into(),
            bind,
            advertise: bind,
            node_name: "n1".into(),
            datacenter: "dc1".into(),
            join: vec![],
        })
    }

    #[test]
    fn kv_requests_are_refused_until_raft_is_wired() {
        let err = agent()
            .answer(&RequestBody::KvPut {
                key: "k".into(),
                value: vec![],
                cas: None,
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        assert_eq!(err.message, RAFT_NOT_WIRED);
    }

    #[test]
    fn members_lists_only_the_local_agent() {
        let Ok(RpcResult::Members(members)) = agent().answer(&RequestBody::Members) else {
            panic!("members must succeed");
        };
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].name, "n1");
        assert_eq!(members[0].role, "server");
        assert_eq!(members[0].status, "alive");
    }

    #[test]
    fn info_has_agent_raft_and_gossip_sections() {
        let Ok(RpcResult::Info(sections)) = agent().answer(&RequestBody::Info) else {
            panic!("info must succeed");
        };
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["agent", "raft", "gossip"]);
    }
}
