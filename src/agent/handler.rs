//! The agent as the loop drives it: [`AgentHandler`] takes each input and
//! hands it to the room that owns it: client requests to the router
//! ([`crate::agent::requests`]), Raft messages and the Ready to the Raft
//! host ([`crate::agent::server`]), datagrams and push/pull frames to the
//! gossip host ([`crate::agent::gossip_host`]), HTTP requests to the HTTP
//! API ([`crate::agent::http_api`]), and leader reconciliation,
//! bootstrap-expect and the graceful leave to [`crate::agent::cluster`].
//! It only dispatches; each concern's code is in its room. Every input runs
//! behind a [`ReplyTap`], so answers to HTTP requests, wherever they are
//! given, become HTTP responses.

use std::net::SocketAddr;
use std::time::Instant;

use crate::dns::DnsConfig;
use crate::http::HttpRequest;
use crate::storage::member_list::{MemberList, MemberListStore};
use crate::wire::client_message::{
    ClientRequest, ClientResponse, ErrorCode, RequestBody, RpcResult,
};
use crate::wire::frame::Frame;
use crate::wire::raft_message::{ClusterId, RaftMessage};

use crate::agent::cluster::leave::Leave;
use crate::agent::cluster::reconciler::Reconciler;
use crate::agent::config::{AgentConfig, Bootstrap};
use crate::agent::dns_api::{DNS_QUERIES, DnsApi};
use crate::agent::gossip_host::Membership;
use crate::agent::gossip_host::joins::Joins;
use crate::agent::http_api::HttpApi;
use crate::agent::http_api::reply_tap::ReplyTap;
use crate::agent::io::connection::ConnectionId;
use crate::agent::local_services::{AGENT_INTERNAL, LocalServices};
use crate::agent::requests::outstanding::{Outstanding, Purpose};
use crate::agent::requests::reply::{reply_error, reply_result, rpc_error};
use crate::agent::requests::router::{AliveServers, NO_LEADER_WAIT, Router};
use crate::agent::seam::{Context, DnsPeer, Handler, Signal, StopReason};
use crate::agent::server::RaftServer;

/// The agent's handler: dispatches every input to its room.
pub struct AgentHandler {
    pub(crate) config: AgentConfig,
    pub(crate) started_at: Instant,
    /// The loop's time at the latest input (for answers that show uptime).
    pub(crate) last_now: Instant,
    pub(crate) membership: Membership,
    pub(crate) joins: Joins,
    pub(crate) leave: Leave,
    pub(crate) raft: Option<RaftServer>,
    announced_cluster_id: ClusterId,
    pub(crate) router: Router,
    pub(crate) reconciler: Reconciler,
    pub(crate) next_bootstrap_check: Option<Instant>,
    storage_failed: bool,
    pub(crate) http: HttpApi,
    pub(crate) local: LocalServices,
    pub(crate) dns: DnsApi,
}

impl AgentHandler {
    /// An agent that saves its members in `store`; `remembered` is what the
    /// last run saved. Unless the last run left gracefully, the remembered
    /// members are rejoined (with `--join`), retrying until one answers.
    /// `now` and `seed` come from the loop (or the simulator).
    pub fn new(
        config: AgentConfig,
        store: Option<MemberListStore>,
        remembered: MemberList,
        now: Instant,
        seed: u64,
    ) -> Self {
        let membership = Membership::new(&config, store, remembered, now, seed);
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
        let local = LocalServices::new(&config, now, seed.rotate_left(41));
        let dns = DnsApi::new(
            DnsConfig {
                datacenter: config.datacenter.clone(),
                ..DnsConfig::default()
            },
            &config.node_name,
        );
        AgentHandler {
            joins: Joins::new(addresses, now),
            local,
            config,
            started_at: now,
            last_now: now,
            membership,
            leave: Leave::default(),
            raft: None,
            announced_cluster_id: 0,
            router: Router::default(),
            reconciler: Reconciler::default(),
            next_bootstrap_check: None,
            storage_failed: false,
            http: HttpApi::new(seed.rotate_left(29)),
            dns,
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

    /// How DNS answers (`--domain`, `--dns-only-passing`); the
    /// datacenter is always this agent's.
    pub fn with_dns(mut self, mut config: DnsConfig, recursor: Option<SocketAddr>) -> Self {
        config.datacenter = self.config.datacenter.clone();
        self.dns.set_config(config, recursor);
        self
    }

    pub fn raft(&self) -> Option<&RaftServer> {
        self.raft.as_ref()
    }

    /// For tests that drive the Raft side directly (invariant checks,
    /// leadership transfers in the agent simulator).
    pub fn raft_mut(&mut self) -> Option<&mut RaftServer> {
        self.raft.as_mut()
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn membership_mut(&mut self) -> &mut Membership {
        &mut self.membership
    }

    fn alive_server_addresses(membership: &Membership) -> Vec<SocketAddr> {
        membership
            .alive_servers()
            .into_iter()
            .map(|(_, address)| address)
            .collect()
    }

    /// Runs one input behind a [`ReplyTap`], then answers the HTTP
    /// requests it answered.
    fn tapped(&mut self, ctx: &mut Context, input: impl FnOnce(&mut Self, &mut Context)) {
        let mut tap = ReplyTap::new(ctx);
        input(self, &mut tap);
        let (ctx, mut answers) = tap.into_parts();
        if answers.iter().any(|(to, _)| to.is_dns()) {
            let (dns, rest): (Vec<_>, Vec<_>) =
                answers.into_iter().partition(|(to, _)| to.is_dns());
            self.dns.take_answers(ctx, dns);
            answers = rest;
        }
        if answers.iter().any(|(to, _)| *to == AGENT_INTERNAL) {
            let (internal, http): (Vec<_>, Vec<_>) = answers
                .into_iter()
                .partition(|(to, _)| *to == AGENT_INTERNAL);
            self.local
                .take_answers(internal.into_iter().map(|(_, answer)| answer));
            answers = http;
        }
        if !answers.is_empty() {
            self.http.deliver(ctx, answers);
        }
    }

    /// A request of the native protocol, or one an HTTP request became:
    /// about the agent (answered here, or a join or leave), or for the
    /// cluster (to the router).
    pub(crate) fn serve_client_request(
        &mut self,
        from: ConnectionId,
        request: ClientRequest,
        ctx: &mut Context,
    ) {
        self.last_now = ctx.now();
        let id = request.request_id;
        match &request.body {
            RequestBody::Join { .. } if self.leave.is_leaving() => {
                let leaving = rpc_error(ErrorCode::Internal, "the agent is leaving".into());
                reply_error(ctx, from, id, leaving);
            }
            RequestBody::Join { addresses } => {
                self.joins
                    .start_client_join(&mut self.membership, addresses, from, id, ctx);
            }
            RequestBody::Leave => self.start_leave(Some((from, id)), ctx),
            RequestBody::ForceLeave { node, prune } => {
                let answer = self
                    .membership
                    .force_leave(node, *prune, ctx)
                    .map(|()| RpcResult::ForcedLeave)
                    .map_err(|refusal| rpc_error(ErrorCode::InvalidRequest, refusal.to_string()));
                reply_result(ctx, from, id, answer);
            }
            body => match self.answer(body) {
                Some(answer) => reply_result(ctx, from, id, answer),
                None => self.route(ctx, from, request),
            },
        }
    }

    /// A DNS query: answered at once, or its catalog read routed.
    fn serve_dns(&mut self, from: DnsPeer, bytes: &[u8], ctx: &mut Context) {
        self.last_now = ctx.now();
        if let Some(read) = self.dns.on_query(from, bytes, ctx) {
            self.route(ctx, DNS_QUERIES, read);
        }
    }

    /// KV and catalog requests: to the router.
    fn route(&mut self, ctx: &mut Context, from: ConnectionId, request: ClientRequest) {
        let membership = &self.membership;
        let read = || Self::alive_server_addresses(membership);
        let servers = AliveServers::new(&read);
        let deadline = ctx.now() + NO_LEADER_WAIT;
        self.router
            .route(ctx, self.raft.as_mut(), &servers, from, request, deadline);
    }

    /// Outstanding requests settled without an answer: a closed link or a
    /// passed deadline.
    fn settle_unanswered(&mut self, ctx: &mut Context, settled: Vec<Outstanding>, lost_link: bool) {
        for outstanding in settled {
            match &outstanding.purpose {
                Purpose::Forwarded { .. } => {
                    self.router
                        .settle_forwarded(ctx, outstanding, None, lost_link);
                }
                Purpose::Identity { address } => self.reconciler.forget_query(address),
                Purpose::RemovalCheck => {}
            }
        }
    }

    /// Every tick: the local services' TTLs and probes, and their
    /// anti-entropy writes, routed like any client's.
    fn sync_local_services(&mut self, ctx: &mut Context) {
        let cluster_size = self.membership.member_count();
        for request in self.local.on_tick(ctx, cluster_size) {
            self.route(ctx, AGENT_INTERNAL, request);
        }
    }

    /// Every tick: retry waiting requests, expire unanswered ones.
    fn retry_requests(&mut self, ctx: &mut Context) {
        let expired = self.router.outstanding().take_expired(ctx.now());
        self.settle_unanswered(ctx, expired, false);
        if self.router.has_waiting() {
            let membership = &self.membership;
            let read = || Self::alive_server_addresses(membership);
            let servers = AliveServers::new(&read);
            self.router.retry_waiting(ctx, self.raft.as_mut(), &servers);
        }
    }
}

impl AgentHandler {
    fn handle_gossip_sync_frame(&mut self, from: ConnectionId, frame: Frame, ctx: &mut Context) {
        self.membership.on_gossip_sync_frame(from, frame, ctx);
        self.joins.finish(&mut self.membership, ctx);
    }

    fn handle_raft_message(&mut self, from: ConnectionId, message: RaftMessage, ctx: &mut Context) {
        if let Some(raft) = self.raft.as_mut() {
            raft.on_raft_message(from, message, ctx.now());
        }
    }

    fn handle_client_response(
        &mut self,
        _from: ConnectionId,
        response: ClientResponse,
        ctx: &mut Context,
    ) {
        let Some(outstanding) = self.router.outstanding().take(response.request_id) else {
            return;
        };
        match outstanding.purpose {
            Purpose::RemovalCheck => self.on_removal_check_answer(&response.body),
            Purpose::Identity { ref address } => {
                let address = address.clone();
                self.on_identity_answer(address, &response.body);
            }
            Purpose::Forwarded { .. } => {
                self.router
                    .settle_forwarded(ctx, outstanding, Some(response.body), false);
            }
        }
    }

    /// Group commit: the Raft Ready of everything this turn brought.
    fn handle_turn_end(&mut self, ctx: &mut Context) {
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

    fn handle_datagram(&mut self, from: SocketAddr, bytes: &[u8], ctx: &mut Context) {
        self.membership.on_datagram(from, bytes, ctx);
    }

    fn handle_tick(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        self.last_now = now;
        if let Some(raft) = self.raft.as_mut() {
            raft.tick(ctx);
        }
        self.check_bootstrap_expect(now);
        if self.reconciler.due(now) {
            self.reconcile(ctx);
        }
        self.retry_requests(ctx);
        self.dns.expire(ctx);
        self.sync_local_services(ctx);
        self.membership.on_tick(ctx);
        self.joins.finish(&mut self.membership, ctx);
        if !self.leave.is_leaving() {
            self.joins.run_startup_join(&mut self.membership, ctx);
            self.joins.finish(&mut self.membership, ctx);
        }
        self.advance_leave(ctx);
    }

    fn handle_connection_closed(&mut self, id: ConnectionId, ctx: &mut Context) {
        if let Some(raft) = self.raft.as_mut() {
            raft.on_connection_closed(id);
        }
        if id.is_dns() {
            self.dns.forget(id);
        }
        if id.is_http() {
            self.http.forget(id);
            // Its forwarded requests' answers would match nothing now; a
            // blocking query would hold its table entry for its whole wait.
            self.router.outstanding().forget_from(id);
        }
        let lost = self.router.outstanding().take_on_link(id);
        self.settle_unanswered(ctx, lost, true);
        self.membership.on_connection_closed(id);
        self.joins.finish(&mut self.membership, ctx);
    }

    /// SIGINT leaves gracefully (a second one stops at once); SIGTERM stops
    /// without leaving, so the others see this agent fail and it rejoins by
    /// itself when restarted; SIGHUP reloads and never stops.
    fn handle_signal(&mut self, signal: Signal, ctx: &mut Context) {
        match signal {
            Signal::Interrupt if self.leave.is_leaving() => ctx.stop(StopReason::Left),
            Signal::Interrupt => self.start_leave(None, ctx),
            Signal::Terminate => {
                self.membership.flush_member_list(ctx.now());
                ctx.stop(StopReason::Terminated);
            }
            Signal::Hangup => {
                if let Err(err) = self.reload_configuration(ctx) {
                    log::error!(target: "agent", "Failed to reload configs: {err}");
                }
            }
        }
    }

    /// SIGHUP and `PUT /v1/agent/reload`: the files' services and checks,
    /// and their log level (the other options need a restart, as most of
    /// Consul's do).
    pub(crate) fn reload_configuration(&mut self, ctx: &mut Context) -> Result<(), String> {
        log::info!(target: "agent", "Reloading configuration...");
        if let Some(level) = self.local.reload(ctx.now())? {
            ctx.set_log_level(level);
            log::info!(target: "agent", "Log level set to {level}");
        }
        Ok(())
    }
}

impl Handler for AgentHandler {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| {
            agent.serve_client_request(from, request, ctx)
        });
    }

    fn on_http_request(&mut self, from: ConnectionId, request: HttpRequest, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.serve_http(from, request, ctx));
    }

    fn on_dns_query(&mut self, from: DnsPeer, bytes: &[u8], ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.serve_dns(from, bytes, ctx));
    }

    fn on_gossip_sync_frame(&mut self, from: ConnectionId, frame: Frame, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| {
            agent.handle_gossip_sync_frame(from, frame, ctx)
        });
    }

    fn on_raft_message(&mut self, from: ConnectionId, message: RaftMessage, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| {
            agent.handle_raft_message(from, message, ctx)
        });
    }

    fn on_client_response(
        &mut self,
        from: ConnectionId,
        response: ClientResponse,
        ctx: &mut Context,
    ) {
        self.tapped(ctx, |agent, ctx| {
            agent.handle_client_response(from, response, ctx)
        });
    }

    fn on_turn_end(&mut self, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.handle_turn_end(ctx));
    }

    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8], ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.handle_datagram(from, bytes, ctx));
    }

    fn on_tick(&mut self, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.handle_tick(ctx));
    }

    fn on_connection_closed(&mut self, id: ConnectionId, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.handle_connection_closed(id, ctx));
    }

    fn on_signal(&mut self, signal: Signal, ctx: &mut Context) {
        self.tapped(ctx, |agent, ctx| agent.handle_signal(signal, ctx));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent() -> AgentHandler {
        let bind = "127.0.0.1:8300".parse().unwrap();
        let config = AgentConfig {
            server: true,
            bootstrap: Bootstrap::Single,
            data_dir: "./node-data".into(),
            bind,
            advertise: bind,
            node_name: "n1".into(),
            datacenter: "dc1".into(),
            join: vec![],
        };
        AgentHandler::new(config, None, MemberList::default(), Instant::now(), 1)
    }

    #[test]
    fn kv_requests_are_routed_not_answered_by_the_agent() {
        assert!(
            agent()
                .answer(&RequestBody::KvPut {
                    key: "k".into(),
                    value: vec![].into(),
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
