//! `node agent` as it runs today: the event loop on the peer port with
//! gossip membership ([`Membership`]) wired in: members, join, leave,
//! restart rules. The Raft node and storage of the log are not wired in yet,
//! so KV, peers and catalog requests get a clear `Internal` error instead of
//! an invented answer.
//!
//! Where the Raft integration plugs in:
//! - [`LocalAgent::membership`] gives [`Membership::take_member_events`]
//!   (joins, failures, leaves to turn into configuration/catalog changes),
//!   [`Membership::alive_servers`] (where a client forwards) and
//!   [`Membership::set_cluster_id`] (once bootstrapped or added).
//! - The leave runs through [`LeaveSequence`]: its `RaftLeave` phase is
//!   complete at once today (`LocalAgent::raft_leave_done`); the Raft side
//!   makes that return false until its leadership transfer and removal are
//!   done.

use std::time::Instant;

use crate::storage::member_list::{MemberList, MemberListStore};
use crate::wire::client_message::{
    ClientRequest, ClientResponse, ErrorCode, InfoSection, RequestBody, ResponseBody, RpcError,
    RpcResult,
};

use super::config::{AgentConfig, Bootstrap};
use super::connection::ConnectionId;
use super::event_loop::{Context, EventLoop, EventLoopConfig, Handler, Signal, StopReason};
use super::join_batch::{JoinBatchId, JoinOutcome};
use super::leave_sequence::{LeaveSequence, LeaveStep};
use super::membership::Membership;
use super::retry_join::RetryJoin;
use super::transport::TransportLimits;

pub const RAFT_NOT_WIRED: &str = "raft not yet wired into the agent";

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

/// Who waits for a join batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinWaiter {
    /// `node join`: answer this request on this connection.
    Client {
        connection: ConnectionId,
        request_id: u64,
    },
    /// `--join` or the rejoin after a restart ([`RetryJoin`]).
    Startup,
}

/// The agent's handler: answers for itself and drives gossip.
pub struct LocalAgent {
    config: AgentConfig,
    started_at: Instant,
    membership: Membership,
    join_waiters: std::collections::HashMap<JoinBatchId, JoinWaiter>,
    startup_join: RetryJoin,
    leave: LeaveSequence,
}

impl LocalAgent {
    /// An agent that remembers nothing across restarts (tests).
    pub fn new(config: AgentConfig) -> Self {
        Self::with_member_list(config, None, MemberList::default())
    }

    /// An agent that saves its members in `store`; `remembered` is what the
    /// last run saved. Unless the last run left gracefully, the remembered
    /// members are rejoined (with `--join`), retrying until one answers.
    pub fn with_member_list(
        config: AgentConfig,
        store: Option<MemberListStore>,
        remembered: MemberList,
    ) -> Self {
        let now = Instant::now();
        let membership = Membership::new(&config, store, remembered, now);
        let mut addresses: Vec<String> = config.join.iter().map(|a| a.to_string()).collect();
        if membership.left_before() {
            log::info!(target: "agent",
                "this agent left the cluster gracefully; not rejoining the members it knew (run `node join`)");
        } else {
            let remembered = membership.remembered_addresses();
            if !remembered.is_empty() {
                log::info!(target: "agent",
                    "rejoining {} members known before the restart", remembered.len());
            }
            for address in remembered {
                if !addresses.contains(&address) && address != config.advertise.to_string() {
                    addresses.push(address);
                }
            }
        }
        LocalAgent {
            startup_join: RetryJoin::new(addresses, now),
            config,
            started_at: now,
            membership,
            join_waiters: std::collections::HashMap::new(),
            leave: LeaveSequence::default(),
        }
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn membership_mut(&mut self) -> &mut Membership {
        &mut self.membership
    }

    /// The hook for the Raft side of a graceful leave (leadership transfer,
    /// removal from the configuration). Nothing to hand off until Raft is
    /// wired in, so the phase is complete at once.
    fn raft_leave_done(&self) -> bool {
        true
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
            self.membership.info().section(),
        ]
    }

    /// The answer to a request that needs no waiting, without I/O (so it is
    /// testable alone). `None` for join and leave, which are answered when
    /// they finish.
    pub fn answer(&self, body: &RequestBody) -> Option<Result<RpcResult, RpcError>> {
        let not_wired = |message: &str| RpcError {
            code: ErrorCode::Internal,
            message: message.to_string(),
            leader_hint: None,
        };
        Some(match body {
            RequestBody::Info => Ok(RpcResult::Info(self.info())),
            RequestBody::Members => Ok(RpcResult::Members(self.membership.members())),
            RequestBody::Leave | RequestBody::Join { .. } => return None,
            RequestBody::KvGet { .. }
            | RequestBody::KvPut { .. }
            | RequestBody::KvDelete { .. }
            | RequestBody::KvList { .. }
            | RequestBody::Peers
            | RequestBody::CatalogNodes => Err(not_wired(RAFT_NOT_WIRED)),
        })
    }

    fn reply(&self, ctx: &mut Context, to: ConnectionId, request_id: u64, body: ResponseBody) {
        let response = ClientResponse { request_id, body };
        if let Err(err) = ctx.reply(to, &response) {
            log::warn!(target: "agent", "cannot answer request {request_id}: {err}");
        }
    }

    fn start_leave(&mut self, waiter: Option<(ConnectionId, u64)>, ctx: &mut Context) {
        self.startup_join.cancel();
        if !self.leave.begin(waiter)
            && let Some((connection, request_id)) = waiter
        {
            let busy = RpcError {
                code: ErrorCode::Internal,
                message: "too many leave requests waiting".into(),
                leader_hint: None,
            };
            self.reply(ctx, connection, request_id, ResponseBody::Err(busy));
        }
        self.advance_leave(ctx);
    }

    fn advance_leave(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        let gossip_done = self.membership.leave_complete(now);
        match self.leave.advance(now, self.raft_leave_done(), gossip_done) {
            LeaveStep::Nothing => {}
            LeaveStep::StartGossipLeave => {
                self.membership.leave(ctx);
                // With nobody to tell, the gossip phase is already done.
                self.advance_leave(ctx);
            }
            LeaveStep::Finish => {
                log::info!(target: "agent", "graceful leave: done, shutting down");
                for (connection, request_id) in self.leave.take_waiters() {
                    self.reply(
                        ctx,
                        connection,
                        request_id,
                        ResponseBody::Ok(RpcResult::Left),
                    );
                }
                ctx.stop(StopReason::Left);
            }
        }
    }

    fn run_startup_join(&mut self, ctx: &mut Context) {
        if self.leave.is_leaving() {
            return;
        }
        if let Some(addresses) = self.startup_join.due(ctx.now()) {
            let addresses = addresses.to_vec();
            log::info!(target: "agent", "joining: {}", addresses.join(", "));
            let id = self.membership.start_join(&addresses, ctx);
            self.startup_join.started(id);
            self.join_waiters.insert(id, JoinWaiter::Startup);
        }
    }

    /// Answers joins that finished.
    fn finish_joins(&mut self, ctx: &mut Context) {
        for (id, outcome) in self.membership.take_finished_joins() {
            let Some(waiter) = self.join_waiters.remove(&id) else {
                continue;
            };
            if outcome.contacted > 0 {
                self.membership.clear_left_marker();
            }
            match waiter {
                JoinWaiter::Client {
                    connection,
                    request_id,
                } => {
                    let JoinOutcome { contacted, errors } = outcome;
                    let result = RpcResult::Joined { contacted, errors };
                    self.reply(ctx, connection, request_id, ResponseBody::Ok(result));
                }
                JoinWaiter::Startup => {
                    self.startup_join.finished(id, &outcome, ctx.now());
                }
            }
        }
    }
}

impl Handler for LocalAgent {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context) {
        match &request.body {
            RequestBody::Join { addresses } => {
                if self.leave.is_leaving() {
                    let leaving = RpcError {
                        code: ErrorCode::Internal,
                        message: "the agent is leaving".into(),
                        leader_hint: None,
                    };
                    self.reply(ctx, from, request.request_id, ResponseBody::Err(leaving));
                    return;
                }
                let id = self.membership.start_join(addresses, ctx);
                self.join_waiters.insert(
                    id,
                    JoinWaiter::Client {
                        connection: from,
                        request_id: request.request_id,
                    },
                );
                self.finish_joins(ctx);
            }
            RequestBody::Leave => {
                self.start_leave(Some((from, request.request_id)), ctx);
            }
            body => {
                let body = match self.answer(body).expect("join and leave handled above") {
                    Ok(result) => ResponseBody::Ok(result),
                    Err(err) => ResponseBody::Err(err),
                };
                self.reply(ctx, from, request.request_id, body);
            }
        }
    }

    fn on_gossip_sync_frame(
        &mut self,
        from: ConnectionId,
        frame: crate::wire::frame::Frame,
        ctx: &mut Context,
    ) {
        self.membership.on_gossip_sync_frame(from, frame, ctx);
        self.finish_joins(ctx);
    }

    fn on_datagram(&mut self, from: std::net::SocketAddr, bytes: &[u8], ctx: &mut Context) {
        self.membership.on_datagram(from, bytes, ctx);
    }

    fn on_tick(&mut self, ctx: &mut Context) {
        self.membership.on_tick(ctx);
        self.finish_joins(ctx);
        self.run_startup_join(ctx);
        self.finish_joins(ctx);
        self.advance_leave(ctx);
    }

    fn on_connection_closed(&mut self, id: ConnectionId, ctx: &mut Context) {
        self.membership.on_connection_closed(id);
        self.finish_joins(ctx);
    }

    /// SIGINT leaves gracefully (a second one stops at once); SIGTERM stops
    /// without leaving, so the others see this agent fail and it rejoins by
    /// itself when restarted.
    fn on_signal(&mut self, signal: Signal, ctx: &mut Context) {
        match signal {
            Signal::Interrupt if self.leave.is_leaving() => ctx.stop(StopReason::Left),
            Signal::Interrupt => self.start_leave(None, ctx),
            Signal::Terminate => {
                self.membership.flush_member_list(ctx.now());
                ctx.stop(StopReason::Terminated);
            }
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
    log::warn!(target: "agent", "{RAFT_NOT_WIRED}: KV, catalog and peers requests are refused");
    let (store, remembered) = match MemberListStore::open(&config.data_dir) {
        Ok(store) => {
            let remembered = store.load().unwrap_or_else(|err| {
                log::error!(target: "storage",
                    "ignoring the saved gossip member list: {err}; it will be rewritten");
                MemberList::default()
            });
            (Some(store), remembered)
        }
        Err(err) => {
            log::error!(target: "storage",
                "cannot open the gossip member list: {err}; members will not be remembered");
            (None, MemberList::default())
        }
    };
    let mut agent = LocalAgent::with_member_list(config, store, remembered);
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
            .unwrap()
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        assert_eq!(err.message, RAFT_NOT_WIRED);
    }

    #[test]
    fn a_lone_agent_lists_itself_alive_with_its_role() {
        let Some(Ok(RpcResult::Members(members))) = agent().answer(&RequestBody::Members) else {
            panic!("members must succeed");
        };
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].name, "n1");
        assert_eq!(members[0].role, "server");
        assert_eq!(members[0].status, "alive");
    }

    #[test]
    fn info_has_agent_raft_and_gossip_sections() {
        let Some(Ok(RpcResult::Info(sections))) = agent().answer(&RequestBody::Info) else {
            panic!("info must succeed");
        };
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["agent", "raft", "gossip"]);
    }
}
