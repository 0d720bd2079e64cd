//! `node agent` as it runs: the event loop on the peer port with gossip
//! membership ([`Membership`]) and, on servers, the Raft side
//! ([`RaftServer`]: core, storage, state machine) wired in.
//!
//! Routing: a server proposes writes and serves default/consistent reads
//! when it leads, forwards them to the leader otherwise
//! (`Context::forward_client_request`, the answer goes back to the original
//! connection), and serves stale reads locally. A client agent keeps no
//! Raft state and forwards every KV/catalog/peers request to a live server.
//! With no leader (or no server) a request waits up to
//! [`NO_LEADER_WAIT`], retried every tick, then fails `No cluster leader`.
//!
//! On the leader, gossip members become Raft servers and catalog entries
//! ([`crate::agent::cluster::leader_reconciliation`]). A graceful leave on the leader first
//! hands leadership over; the leader removes the server when gossip reports
//! it left, and the leaving server waits (bounded) until the leader's
//! configuration no longer lists it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::gossip::{Member, Role as GossipRole};
use crate::wire::client_message::{Consistency, PeerInfo};
use crate::wire::raft_message::{ClusterId, Suffrage};

use crate::agent::cluster::leader_reconciliation::{
    RECONCILE_INTERVAL, add_identified_server, parse_identity, reconcile,
};
use crate::agent::requests::routing::{RequestKind, answer_read, classify};
use crate::agent::server::committed_configuration::removal_is_committed;
use crate::agent::server::{RaftServer, reply_error};

use crate::storage::member_list::{MemberList, MemberListStore};
use crate::wire::client_message::{
    ClientRequest, ClientResponse, ErrorCode, InfoSection, RequestBody, ResponseBody, RpcError,
    RpcResult,
};

use crate::agent::cluster::leave_sequence::{LeavePhase, LeaveSequence, LeaveStep};
use crate::agent::config::{AgentConfig, Bootstrap};
use crate::agent::gossip_host::Membership;
use crate::agent::gossip_host::join_batch::{JoinBatchId, JoinOutcome};
use crate::agent::gossip_host::retry_join::RetryJoin;
use crate::agent::io::connection::ConnectionId;
use crate::agent::io::event_loop::{
    Context, EventLoop, EventLoopConfig, Handler, Signal, StopReason,
};
use crate::agent::io::transport::TransportLimits;

/// How long a request waits for a leader (or, on a client agent, for a
/// server) before failing `No cluster leader`.
pub const NO_LEADER_WAIT: Duration = Duration::from_secs(7);
/// A forwarded request not answered in this long fails with `Timeout`.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests waiting for a leader; past it new ones fail at once.
pub const MAX_WAITING_REQUESTS: usize = 16_384;
/// Requests forwarded and not yet answered.
pub const MAX_FORWARDED_REQUESTS: usize = 65_536;
/// A leader hands leadership over for at most this long before leaving.
pub const LEAVE_TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// `--bootstrap-expect`: how often the expected servers are counted.
const BOOTSTRAP_EXPECT_CHECK_INTERVAL: Duration = Duration::from_millis(200);
pub const NO_LEADER_MESSAGE: &str = "No cluster leader";
/// Leaving: how often the leader is asked whether it removed us.
pub const REMOVAL_POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub enum AgentError {
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    Config(crate::agent::config::ConfigError),
    EventLoop(crate::agent::io::event_loop::EventLoopError),
    Raft(crate::agent::server::RaftServerError),
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
            AgentError::Raft(err) => write!(f, "{err}"),
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

/// A client request this agent passed on and waits to answer.
#[derive(Debug, Clone)]
struct Forwarded {
    from: ConnectionId,
    request: ClientRequest,
    /// The connection it went out on.
    link: ConnectionId,
    /// When it stops waiting for a leader if it has to be retried.
    wait_deadline: Instant,
    deadline: Instant,
}

/// A client request waiting for a leader (or a server) to appear.
#[derive(Debug, Clone)]
struct Waiting {
    from: ConnectionId,
    request: ClientRequest,
    deadline: Instant,
}

/// The agent's handler: answers for itself, drives gossip and, on servers,
/// the Raft side.
pub struct AgentHandler {
    config: AgentConfig,
    started_at: Instant,
    membership: Membership,
    join_waiters: HashMap<JoinBatchId, JoinWaiter>,
    startup_join: RetryJoin,
    leave: LeaveSequence,
    raft: Option<RaftServer>,
    announced_cluster_id: ClusterId,
    /// Our request IDs on forwarding links, to the request they carry.
    forwarded: HashMap<u64, Forwarded>,
    /// Identity queries the leader sent: our request ID to the address.
    identity_queries: HashMap<u64, (ConnectionId, String)>,
    identifying: HashSet<String>,
    waiting: VecDeque<Waiting>,
    next_forward_id: u64,
    next_server_pick: usize,
    next_reconcile: Instant,
    next_bootstrap_check: Instant,
    leave_transfer_deadline: Option<Instant>,
    warned_foreign: HashSet<String>,
    /// Servers whose removal the last reconciliation refused for quorum;
    /// each is logged once when the refusal starts, not every pass.
    kept_for_quorum: HashSet<String>,
    storage_failed: bool,
    /// Leaving: the leader's configuration no longer lists this server.
    removal_confirmed: bool,
    removal_query: Option<(u64, ConnectionId)>,
    next_removal_poll: Instant,
}

impl AgentHandler {
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
        AgentHandler {
            startup_join: RetryJoin::new(addresses, now),
            config,
            started_at: now,
            membership,
            join_waiters: HashMap::new(),
            leave: LeaveSequence::default(),
            raft: None,
            announced_cluster_id: 0,
            forwarded: HashMap::new(),
            identity_queries: HashMap::new(),
            identifying: HashSet::new(),
            waiting: VecDeque::new(),
            next_forward_id: 1,
            next_server_pick: 0,
            next_reconcile: now,
            next_bootstrap_check: now,
            leave_transfer_deadline: None,
            warned_foreign: HashSet::new(),
            kept_for_quorum: HashSet::new(),
            storage_failed: false,
            removal_confirmed: false,
            removal_query: None,
            next_removal_poll: now,
        }
    }

    /// Wires the Raft side in (servers). `--bootstrap` bootstraps now (the
    /// core ignores it, with its INFO line, when Raft data exists).
    pub fn with_raft(mut self, mut raft: RaftServer, now: Instant) -> Self {
        if self.config.bootstrap == Bootstrap::Single {
            raft.node_mut().bootstrap();
        } else if raft.had_data_at_start() && matches!(self.config.bootstrap, Bootstrap::Expect(_))
        {
            log::info!(target: "raft", "Raft data found, disabling bootstrap mode");
        }
        if raft.cluster_id() != 0 {
            self.announced_cluster_id = raft.cluster_id();
            self.membership.set_cluster_id(raft.cluster_id(), now);
        }
        self.raft = Some(raft);
        self
    }

    pub fn raft(&self) -> Option<&RaftServer> {
        self.raft.as_ref()
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn membership_mut(&mut self) -> &mut Membership {
        &mut self.membership
    }

    /// The Raft side of a graceful leave: a leader hands leadership to
    /// another voter first (bounded by [`LEAVE_TRANSFER_TIMEOUT`]), so the
    /// cluster keeps a leader; the new leader removes this server from the
    /// configuration when gossip reports it left.
    fn raft_leave_done(&mut self, now: Instant) -> bool {
        let Some(raft) = self.raft.as_mut() else {
            return true;
        };
        if !raft.is_leader() {
            return true;
        }
        let other_voters = raft
            .node()
            .latest_configuration()
            .servers
            .iter()
            .any(|s| s.id != raft.id() && s.suffrage == Suffrage::Voter);
        if !other_voters {
            return true;
        }
        match self.leave_transfer_deadline {
            None => {
                self.leave_transfer_deadline = Some(now + LEAVE_TRANSFER_TIMEOUT);
                if let Err(err) = raft.node_mut().transfer_leadership(None) {
                    log::warn!(target: "agent", "graceful leave: cannot transfer leadership: {err}");
                    return true;
                }
                false
            }
            Some(deadline) if now >= deadline => {
                log::warn!(target: "agent", "graceful leave: leadership transfer did not finish in time");
                true
            }
            Some(_) => false,
        }
    }

    /// While the gossip leave spreads, the leader removes this server from
    /// the Raft configuration (it sees the leave). The server stays until
    /// the leader's *committed* configuration no longer lists it, asking the
    /// leader's `node info` every [`REMOVAL_POLL_INTERVAL`] (bounded by the leave
    /// sequence's deadline): a voter that exits before its removal would
    /// count toward a quorum it can no longer join.
    fn removal_confirmed(&mut self, ctx: &mut Context) -> bool {
        if !matches!(self.leave.phase(), LeavePhase::GossipLeave { .. }) {
            return true;
        }
        let Some(raft) = self.raft.as_ref() else {
            return true;
        };
        // A leader still leading here is the last voter (it transferred
        // leadership otherwise): nobody removes it. A server outside its
        // own configuration has nothing to wait for.
        let listed = raft
            .node()
            .latest_configuration()
            .servers
            .iter()
            .any(|s| s.id == raft.id());
        if self.removal_confirmed || raft.is_leader() || !listed {
            return true;
        }
        let now = ctx.now();
        if now < self.next_removal_poll || self.removal_query.is_some() {
            return false;
        }
        self.next_removal_poll = now + REMOVAL_POLL_INTERVAL;
        // The leader when known; else any other live server (a follower's
        // configuration lists the removal once replicated to it). A removed
        // leaver hears no more heartbeats, so it often knows no leader.
        let own_address = self.config.advertise;
        let others: Vec<SocketAddr> = self
            .membership
            .alive_servers()
            .into_iter()
            .map(|(_, address)| address)
            .filter(|address| *address != own_address)
            .collect();
        let target = match raft.leader() {
            Some((_, leader)) if leader != own_address => Some(leader),
            _ if others.is_empty() => None,
            _ => {
                self.next_server_pick = self.next_server_pick.wrapping_add(1);
                Some(others[self.next_server_pick % others.len()])
            }
        };
        let Some(leader) = target else {
            return false;
        };
        let id = self.next_forward_id;
        self.next_forward_id += 1;
        let query = ClientRequest {
            request_id: id,
            body: RequestBody::Info,
        };
        match ctx.forward_client_request(leader, &query) {
            Ok(link) => self.removal_query = Some((id, link)),
            Err(err) => log::debug!(target: "agent", "cannot ask {leader} for info: {err}"),
        }
        false
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
            match &self.raft {
                Some(raft) => {
                    let mut section = raft.info().section();
                    section.fields.extend(raft.identity_fields());
                    section
                }
                None => InfoSection {
                    name: "raft".into(),
                    fields: vec![pair("state", "client agent: no Raft state".into())],
                },
            },
            self.membership.info().section(),
        ]
    }

    /// The answer to an agent-level request that needs no waiting, without
    /// I/O (so it is testable alone). `None` for requests that are routed
    /// (KV, catalog; peers on a client agent) and for join and leave, which
    /// are answered when they finish.
    pub fn answer(&self, body: &RequestBody) -> Option<Result<RpcResult, RpcError>> {
        Some(match body {
            RequestBody::Info => Ok(RpcResult::Info(self.info())),
            RequestBody::Members => Ok(RpcResult::Members(self.membership.members())),
            RequestBody::Peers => Ok(RpcResult::Peers(self.peers()?)),
            _ => return None,
        })
    }

    /// `node peers` from this server's latest configuration.
    fn peers(&self) -> Option<Vec<PeerInfo>> {
        let raft = self.raft.as_ref()?;
        let leader = raft.node().leader();
        Some(
            raft.node()
                .latest_configuration()
                .servers
                .iter()
                .map(|s| PeerInfo {
                    name: s.name.clone(),
                    id: s.id,
                    address: s.address.clone(),
                    state: if Some(s.id) == leader {
                        "leader"
                    } else if s.suffrage == Suffrage::Voter {
                        "follower"
                    } else {
                        "non-voter"
                    }
                    .into(),
                    voter: s.suffrage == Suffrage::Voter,
                })
                .collect(),
        )
    }

    /// Routes a KV/catalog/peers request: served here when this server can,
    /// forwarded to the leader (or, from a client agent, to a server), or
    /// kept waiting for one until `deadline`.
    fn route(
        &mut self,
        from: ConnectionId,
        request: ClientRequest,
        deadline: Instant,
        ctx: &mut Context,
    ) {
        let kind = match classify(&request.body) {
            Ok(kind) => kind,
            Err(err) => {
                self.reply(ctx, from, request.request_id, ResponseBody::Err(err));
                return;
            }
        };
        if let Some(raft) = self.raft.as_mut() {
            let leader = raft.is_leader();
            let served = match (&kind, &request.body) {
                (RequestKind::Write(command), _) if leader => Some(
                    raft.propose(command, from, request.request_id, ctx.now())
                        .map(|()| None),
                ),
                (RequestKind::Read, body) => {
                    let consistency = match body {
                        RequestBody::KvGet { consistency, .. }
                        | RequestBody::KvList { consistency, .. } => *consistency,
                        _ => Consistency::Default,
                    };
                    match consistency {
                        Consistency::Stale => Some(answer_read(raft.state(), body).map(Some)),
                        Consistency::Default if leader => {
                            Some(answer_read(raft.state(), body).map(Some))
                        }
                        Consistency::Consistent if leader => Some(
                            raft.read_consistent(from, request.request_id, body.clone())
                                .map(|()| None),
                        ),
                        _ => None,
                    }
                }
                _ => None,
            };
            match served {
                Some(Ok(Some(result))) => {
                    self.reply(ctx, from, request.request_id, ResponseBody::Ok(result));
                    return;
                }
                Some(Ok(None)) => return,
                Some(Err(err)) => {
                    self.reply(ctx, from, request.request_id, ResponseBody::Err(err));
                    return;
                }
                None => {}
            }
        }
        let target = match self.raft.as_ref() {
            Some(raft) => raft
                .leader()
                .map(|(_, address)| address)
                .filter(|_| !raft.is_leader()),
            None => {
                let servers = self.membership.alive_servers();
                if servers.is_empty() {
                    None
                } else {
                    self.next_server_pick = self.next_server_pick.wrapping_add(1);
                    Some(servers[self.next_server_pick % servers.len()].1)
                }
            }
        };
        if let Some(target) = target
            && self.forwarded.len() < MAX_FORWARDED_REQUESTS
            && self.forward(from, request.clone(), target, deadline, ctx)
        {
            return;
        }
        if ctx.now() >= deadline || self.waiting.len() >= MAX_WAITING_REQUESTS {
            reply_error(
                ctx,
                from,
                request.request_id,
                ErrorCode::NoLeader,
                NO_LEADER_MESSAGE.into(),
            );
            return;
        }
        self.waiting.push_back(Waiting {
            from,
            request,
            deadline,
        });
    }

    fn forward(
        &mut self,
        from: ConnectionId,
        request: ClientRequest,
        target: SocketAddr,
        wait_deadline: Instant,
        ctx: &mut Context,
    ) -> bool {
        let id = self.next_forward_id;
        self.next_forward_id += 1;
        let outgoing = ClientRequest {
            request_id: id,
            body: request.body.clone(),
        };
        match ctx.forward_client_request(target, &outgoing) {
            Ok(link) => {
                self.forwarded.insert(
                    id,
                    Forwarded {
                        from,
                        request,
                        link,
                        wait_deadline,
                        deadline: ctx.now() + FORWARD_TIMEOUT,
                    },
                );
                true
            }
            Err(err) => {
                log::debug!(target: "agent", "cannot forward to {target}: {err}");
                false
            }
        }
    }

    /// Retries waiting requests; expires forwarded ones nobody answered.
    fn retry_waiting(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            self.route(w.from, w.request, w.deadline, ctx);
        }
        let expired: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(f) = self.forwarded.remove(&id) {
                reply_error(
                    ctx,
                    f.from,
                    f.request.request_id,
                    ErrorCode::Timeout,
                    "the server did not answer in time".into(),
                );
            }
        }
    }

    /// Leader: reconcile gossip members with the Raft configuration and the
    /// catalog, and ask new servers for their Raft identity.
    fn reconcile(&mut self, ctx: &mut Context) {
        let Some(raft) = self.raft.as_mut() else {
            return;
        };
        if !raft.is_leader() || self.leave.is_leaving() {
            self.kept_for_quorum.clear();
            return;
        }
        let now = ctx.now();
        let members = self.membership.member_details();
        let membership = &self.membership;
        let warned = &mut self.warned_foreign;
        let actions = reconcile(
            raft,
            &members,
            &self.config.datacenter,
            &self.config.node_name,
            |changed_ms| membership.ms_since(changed_ms, now),
            &mut |member: &Member, ours| {
                if warned.insert(member.name.clone()) {
                    log::error!(target: "agent",
                        "cannot add server {} ({}): it belongs to cluster {:032x}, this cluster is {ours:032x}; \
                         remove its raft/ directory and restart it without --bootstrap",
                        member.name, member.address, member.tags.cluster_id);
                }
            },
        );
        let mut kept = HashSet::with_capacity(actions.kept_for_quorum.len());
        for server in actions.kept_for_quorum {
            if !self.kept_for_quorum.contains(&server.name) {
                log::warn!(target: "agent",
                    "not removing server {} ({}) from the Raft configuration, {} past the grace period: \
                     the remaining voters would lose their quorum ({} of {} live)",
                    server.name, server.address,
                    if server.unknown_to_gossip { "unknown to gossip" } else { "failed" },
                    server.live_remaining_voters, server.remaining_voters);
            }
            kept.insert(server.name);
        }
        self.kept_for_quorum = kept;
        for (_, address) in actions.identify {
            if self.identifying.contains(&address) {
                continue;
            }
            let Ok(target) = address.parse::<SocketAddr>() else {
                continue;
            };
            let id = self.next_forward_id;
            self.next_forward_id += 1;
            let query = ClientRequest {
                request_id: id,
                body: RequestBody::Info,
            };
            if let Ok(link) = ctx.forward_client_request(target, &query) {
                self.identifying.insert(address.clone());
                self.identity_queries.insert(id, (link, address));
            }
        }
    }

    /// `--bootstrap-expect N`: once N servers (this one included) are alive
    /// in gossip, none of them in a cluster yet, the one whose name sorts
    /// first bootstraps a cluster of one and the leader's reconciliation
    /// adds the others. Exactly one server creates the cluster, so two
    /// clusters cannot form; the others stay empty until added.
    fn check_bootstrap_expect(&mut self, now: Instant) {
        let Bootstrap::Expect(expected) = self.config.bootstrap else {
            return;
        };
        if now < self.next_bootstrap_check {
            return;
        }
        self.next_bootstrap_check = now + BOOTSTRAP_EXPECT_CHECK_INTERVAL;
        let Some(raft) = self.raft.as_mut() else {
            return;
        };
        if raft.had_data_at_start() || raft.node().term() != 0 || raft.cluster_id() != 0 {
            return;
        }
        let servers: Vec<Member> = self
            .membership
            .member_details()
            .into_iter()
            .filter(|m| {
                m.is_live()
                    && m.tags.role == GossipRole::Server
                    && m.tags.datacenter == self.config.datacenter
            })
            .collect();
        if servers.iter().any(|m| m.tags.cluster_id != 0) {
            return;
        }
        if (servers.len() as u64) < u64::from(expected) {
            return;
        }
        let first = servers.iter().map(|m| m.name.as_str()).min();
        if first == Some(self.config.node_name.as_str()) {
            log::info!(target: "agent",
                "{} servers are alive, as --bootstrap-expect asks: bootstrapping the cluster", servers.len());
            raft.node_mut().bootstrap();
        }
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
        let gossip_done = self.membership.leave_complete(now) && self.removal_confirmed(ctx);
        let raft_done = self.leave.is_leaving() && self.raft_leave_done(now);
        match self.leave.advance(now, raft_done, gossip_done) {
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
                self.membership.join_succeeded(ctx.now());
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

impl Handler for AgentHandler {
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
            body => match self.answer(body) {
                Some(answer) => {
                    let body = match answer {
                        Ok(result) => ResponseBody::Ok(result),
                        Err(err) => ResponseBody::Err(err),
                    };
                    self.reply(ctx, from, request.request_id, body);
                }
                None => {
                    let deadline = ctx.now() + NO_LEADER_WAIT;
                    self.route(from, request, deadline, ctx);
                }
            },
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

    fn on_raft_message(
        &mut self,
        from: ConnectionId,
        message: crate::wire::raft_message::RaftMessage,
        _ctx: &mut Context,
    ) {
        if let Some(raft) = self.raft.as_mut() {
            raft.on_raft_message(from, message);
        }
    }

    fn on_client_response(
        &mut self,
        _from: ConnectionId,
        response: ClientResponse,
        ctx: &mut Context,
    ) {
        if let Some((id, _)) = self.removal_query
            && id == response.request_id
        {
            self.removal_query = None;
            // The committed configuration, not the latest: an appended
            // removal can still be lost with its leader.
            if let (ResponseBody::Ok(RpcResult::Info(sections)), Some(raft)) =
                (&response.body, self.raft.as_ref())
                && removal_is_committed(sections, raft.id())
            {
                log::info!(target: "agent",
                    "graceful leave: removed from the Raft configuration by the leader (the removal is committed)");
                self.removal_confirmed = true;
            }
            return;
        }
        if let Some((_, address)) = self.identity_queries.remove(&response.request_id) {
            self.identifying.remove(&address);
            if let ResponseBody::Ok(RpcResult::Info(sections)) = &response.body
                && let Some((name, id, cluster_id)) = parse_identity(sections)
                && let Some(raft) = self.raft.as_mut()
            {
                add_identified_server(raft, name, address, id, cluster_id);
            }
            return;
        }
        if let Some(f) = self.forwarded.remove(&response.request_id) {
            self.reply(ctx, f.from, f.request.request_id, response.body);
        }
    }

    /// Group commit: the Raft Ready of everything this turn brought.
    fn on_turn_end(&mut self, ctx: &mut Context) {
        let Some(raft) = self.raft.as_mut() else {
            return;
        };
        if self.storage_failed {
            return;
        }
        if let Err(err) = raft.handle_ready(ctx) {
            log::error!(target: "storage", "{err}; stopping the agent");
            self.storage_failed = true;
            ctx.stop(StopReason::Terminated);
            return;
        }
        let cluster_id = raft.cluster_id();
        if cluster_id != self.announced_cluster_id {
            self.announced_cluster_id = cluster_id;
            self.membership.set_cluster_id(cluster_id, ctx.now());
        }
        if !self.membership.take_member_events().is_empty() {
            self.reconcile(ctx);
        }
    }

    fn on_datagram(&mut self, from: std::net::SocketAddr, bytes: &[u8], ctx: &mut Context) {
        self.membership.on_datagram(from, bytes, ctx);
    }

    fn on_tick(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        if let Some(raft) = self.raft.as_mut() {
            raft.tick(ctx);
        }
        self.check_bootstrap_expect(now);
        if now >= self.next_reconcile {
            self.next_reconcile = now + RECONCILE_INTERVAL;
            self.reconcile(ctx);
        }
        if !self.waiting.is_empty() || !self.forwarded.is_empty() {
            self.retry_waiting(ctx);
        }
        self.membership.on_tick(ctx);
        self.finish_joins(ctx);
        self.run_startup_join(ctx);
        self.finish_joins(ctx);
        self.advance_leave(ctx);
    }

    fn on_connection_closed(&mut self, id: ConnectionId, ctx: &mut Context) {
        if let Some(raft) = self.raft.as_mut() {
            raft.on_connection_closed(id);
        }
        if self.removal_query.is_some_and(|(_, link)| link == id) {
            self.removal_query = None;
        }
        self.identity_queries.retain(|_, (link, address)| {
            if *link == id {
                self.identifying.remove(address);
            }
            *link != id
        });
        // Requests lost with a forwarding link are routed again (to the
        // leader that may have changed meanwhile).
        let lost: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, f)| f.link == id)
            .map(|(k, _)| *k)
            .collect();
        for key in lost {
            if let Some(f) = self.forwarded.remove(&key) {
                self.waiting.push_back(Waiting {
                    from: f.from,
                    request: f.request,
                    deadline: f.wait_deadline.max(ctx.now() + Duration::from_secs(1)),
                });
            }
        }
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
    let raft = if config.server {
        Some(
            RaftServer::open(&config.data_dir, &config.node_name, config.advertise)
                .map_err(AgentError::Raft)?,
        )
    } else {
        None
    };
    let mut agent = AgentHandler::with_member_list(config, store, remembered);
    if let Some(raft) = raft {
        agent = agent.with_raft(raft, Instant::now());
    }
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

    fn agent() -> AgentHandler {
        let bind = "127.0.0.1:8300".parse().unwrap();
        AgentHandler::new(AgentConfig {
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
    fn kv_requests_are_routed_not_answered_by_the_agent() {
        assert!(
            agent()
                .answer(&RequestBody::KvPut {
                    key: "k".into(),
                    value: vec![],
                    cas: None,
                })
                .is_none()
        );
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
