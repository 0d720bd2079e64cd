//! The agent's side of gossip: drives the [`Gossip`] state machine from the
//! event loop (datagrams, push/pull connections, ticks), turns its outputs
//! into sends and log lines, remembers the members across restarts, and
//! answers what the rest of the agent asks about the pool (members, alive
//! servers). Member events wait in a bounded queue for the server side
//! ([`Membership::take_member_events`]).

pub mod join_batch;
pub mod joins;
mod member_addresses;
pub mod member_list_writes;
mod probe_metrics;
pub mod retry_join;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::gossip::{
    ClusterId, ForceLeaveRefusal, Gossip, GossipConfig, GossipMessage, MemberEvent, MemberStatus,
    PushPull, Role, Tags,
};
use crate::storage::member_list::{MAX_REMEMBERED_MEMBERS, MemberList, MemberListStore};
use crate::wire::client_message::MemberInfo;
use crate::wire::datagram::{decode_datagram, encode_datagram};
use crate::wire::frame::{Frame, PROTOCOL_VERSION};

use crate::agent::cluster::info::GossipInfo;
use crate::agent::config::AgentConfig;
use crate::agent::gossip_host::join_batch::{JoinBatch, JoinBatchId, JoinOutcome, refusal_text};
use crate::agent::gossip_host::member_addresses::{addresses_of, unique_in_order};
use crate::agent::gossip_host::member_list_writes::MemberListWrites;
use crate::agent::io::connection::ConnectionId;
use crate::agent::metrics::Registry;
use crate::agent::seam::Context;

/// A push/pull not answered in this long fails (and its connection is
/// closed, so a late answer cannot be taken for the next one's).
pub const PUSH_PULL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on push/pulls waiting for an answer; past it new ones fail at once.
pub const MAX_PENDING_PUSH_PULLS: usize = 256;
/// Bound on member events waiting for the server side; the oldest go first.
pub const MAX_QUEUED_MEMBER_EVENTS: usize = 4096;
/// Bound on join batches in progress (each `node join` is one).
pub const MAX_JOIN_BATCHES: usize = 64;
/// Malformed datagrams are reported at most this often, so a flood of junk
/// cannot flood the log.
const MALFORMED_WARN_INTERVAL: Duration = Duration::from_secs(1);

/// A push/pull we sent, waiting for its answer on the connection it went out
/// on (answers come back in order, one per push/pull).
#[derive(Debug)]
struct PendingPushPull {
    address: String,
    batch: Option<JoinBatchId>,
    deadline: Instant,
}

pub struct Membership {
    gossip: Gossip,
    /// `now_ms` for gossip counts from here (monotonic).
    clock_origin: Instant,
    data_dir: PathBuf,
    store: Option<MemberListStore>,
    /// The list as last written (or read at startup).
    remembered: MemberList,
    /// The addresses in `remembered`: a member at another address is news
    /// the list on disk lacks.
    remembered_addresses: HashSet<String>,
    member_list_writes: MemberListWrites,
    pending: HashMap<ConnectionId, VecDeque<PendingPushPull>>,
    pending_count: usize,
    /// Connections we dialled for push/pull: frames on them are answers.
    dialled: HashSet<ConnectionId>,
    batches: BTreeMap<JoinBatchId, JoinBatch>,
    next_batch_id: u64,
    finished_batches: Vec<(JoinBatchId, JoinOutcome)>,
    member_events: VecDeque<MemberEvent>,
    dropped_member_events: u64,
    next_malformed_warn: Instant,
    suppressed_malformed: u64,
    metrics: Registry,
}

/// The gossip tags of this agent.
pub fn local_tags(config: &AgentConfig, cluster_id: ClusterId) -> Tags {
    Tags {
        role: if config.server {
            Role::Server
        } else {
            Role::Client
        },
        datacenter: config.datacenter.clone(),
        cluster_id,
        build_version: env!("CARGO_PKG_VERSION").into(),
        protocol_version: PROTOCOL_VERSION,
    }
}

impl Membership {
    /// A fresh gossip state for this agent. Without a store nothing is
    /// remembered across restarts. `seed` seeds gossip's choices (whom to
    /// probe, whom to gossip to).
    pub fn new(
        config: &AgentConfig,
        store: Option<MemberListStore>,
        remembered: MemberList,
        now: Instant,
        seed: u64,
    ) -> Self {
        let gossip_config = GossipConfig::lan(
            &config.node_name,
            &config.advertise.to_string(),
            local_tags(config, 0),
        );
        let name_hash = u64::from(crc32fast::hash(config.node_name.as_bytes()));
        let gossip = Gossip::new(gossip_config, seed ^ name_hash, 0);
        Membership {
            gossip,
            clock_origin: now,
            data_dir: config.data_dir.clone(),
            store,
            remembered_addresses: addresses_of(&remembered),
            remembered,
            member_list_writes: MemberListWrites::new(),
            pending: HashMap::new(),
            pending_count: 0,
            dialled: HashSet::new(),
            batches: BTreeMap::new(),
            next_batch_id: 1,
            finished_batches: Vec::new(),
            member_events: VecDeque::new(),
            dropped_member_events: 0,
            next_malformed_warn: now,
            suppressed_malformed: 0,
            metrics: Registry::new(),
        }
    }

    fn now_ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.clock_origin).as_millis() as u64
    }

    // ---- queries ----

    /// How many members this agent knows (every status), without copying
    /// them: anti-entropy scales its interval by it every tick.
    pub fn member_count(&self) -> usize {
        self.gossip.members().count()
    }

    /// Every known member, as `node members` prints it. A suspect member is
    /// still "alive" (it may refute); dead is "failed".
    pub fn members(&self) -> Vec<MemberInfo> {
        self.gossip
            .members()
            .map(|m| MemberInfo {
                name: m.name.clone(),
                address: m.address.clone(),
                status: match m.status {
                    MemberStatus::Alive | MemberStatus::Suspect => "alive",
                    MemberStatus::Dead => "failed",
                    MemberStatus::Left => "left",
                }
                .into(),
                role: m.tags.role.to_string(),
                build: m.tags.build_version.clone(),
                protocol: m.tags.protocol_version,
                datacenter: m.tags.datacenter.clone(),
            })
            .collect()
    }

    /// Alive (or suspect) servers, this agent included when it is one, by
    /// name: the candidates a client forwards requests to.
    pub fn alive_servers(&self) -> Vec<(String, SocketAddr)> {
        self.gossip
            .members()
            .filter(|m| m.is_live() && m.tags.role == Role::Server)
            .filter_map(|m| Some((m.name.clone(), m.address.parse().ok()?)))
            .collect()
    }

    /// Every known member with its tags (the leader's reconciliation).
    pub fn member_details(&self) -> Vec<crate::gossip::Member> {
        self.gossip.members().cloned().collect()
    }

    /// How long ago (ms) a member's status last changed, by gossip's clock.
    pub fn ms_since(&self, status_changed_ms: u64, now: Instant) -> u64 {
        self.now_ms(now).saturating_sub(status_changed_ms)
    }

    pub fn info(&self) -> GossipInfo {
        let count =
            |status: MemberStatus| self.gossip.members().filter(|m| m.status == status).count();
        GossipInfo {
            members: self.gossip.members().count(),
            alive: self.gossip.num_alive(),
            failed: count(MemberStatus::Dead),
            left: count(MemberStatus::Left),
            health_score: self.gossip.health_score(),
            incarnation: self.gossip.local_member().incarnation,
            pending_broadcasts: self.gossip.pending_broadcasts(),
        }
    }

    /// Member events since the last call, oldest first (bounded by
    /// [`MAX_QUEUED_MEMBER_EVENTS`]; the Raft side turns them into
    /// configuration and catalog changes).
    pub fn take_member_events(&mut self) -> Vec<MemberEvent> {
        if self.dropped_member_events > 0 {
            log::warn!(target: "gossip",
                "{} member events were dropped before they were consumed", self.dropped_member_events);
            self.dropped_member_events = 0;
        }
        self.member_events.drain(..).collect()
    }

    /// The agent left gracefully before and has not been joined since.
    /// Probe timings and failures (`/v1/agent/metrics`).
    pub fn metrics(&self) -> &Registry {
        &self.metrics
    }

    pub fn left_before(&self) -> bool {
        self.remembered.left
    }

    /// Addresses of the members remembered from the last run.
    pub fn remembered_addresses(&self) -> Vec<String> {
        self.remembered
            .members
            .iter()
            .map(|(_, address)| address.clone())
            .collect()
    }

    // ---- commands from the rest of the agent ----

    /// The Raft side learned its cluster ID (bootstrapped, added to a
    /// cluster, or read back from its hard state at startup): gossip carries
    /// it so two clusters never merge. The announcement goes out on the next
    /// turn of the loop.
    pub fn set_cluster_id(&mut self, cluster_id: ClusterId, now: Instant) {
        let mut tags = self.gossip.local_member().tags.clone();
        tags.cluster_id = cluster_id;
        let now_ms = self.now_ms(now);
        self.gossip.set_local_tags(tags, now_ms);
    }

    /// Push/pulls with every address; the outcome appears in
    /// [`Membership::take_finished_joins`] once each answered or failed.
    pub fn start_join(&mut self, addresses: &[String], ctx: &mut Context) -> JoinBatchId {
        let id = JoinBatchId(self.next_batch_id);
        self.next_batch_id += 1;
        let unique = unique_in_order(addresses);
        let mut batch = JoinBatch::new(unique.len());
        if self.batches.len() >= MAX_JOIN_BATCHES {
            for address in &unique {
                batch.settle(address, Err("too many joins in progress".into()));
            }
        }
        let refused = batch.is_finished();
        self.batches.insert(id, batch);
        if !refused {
            for address in &unique {
                self.gossip.join(std::slice::from_ref(address));
                self.drain(ctx, Some(id));
            }
        }
        self.finish_if_done(id);
        id
    }

    pub fn take_finished_joins(&mut self) -> Vec<(JoinBatchId, JoinOutcome)> {
        std::mem::take(&mut self.finished_batches)
    }

    /// A join succeeded: the agent is a member again, so a restart rejoins.
    /// The list is written before the join is answered when it lacks the
    /// members joined (or still says "left"): an agent killed right after
    /// `node join` returned must still rejoin when restarted.
    pub fn join_succeeded(&mut self, now: Instant) {
        let was_left = std::mem::take(&mut self.remembered.left);
        if was_left {
            self.member_list_writes.changed();
        }
        if was_left || self.member_list_writes.adds_member() {
            self.save_member_list(now);
        }
    }

    /// Broadcasts the graceful leave and marks the agent as left on disk, so
    /// a restart does not rejoin by itself.
    pub fn leave(&mut self, ctx: &mut Context) {
        let now_ms = self.now_ms(ctx.now());
        self.gossip.leave(now_ms);
        self.remembered.left = true;
        self.member_list_writes.changed();
        self.save_member_list(ctx.now());
        self.drain(ctx, None);
    }

    /// Consul's force-leave of a failed member ([`Gossip::force_leave`]).
    pub fn force_leave(
        &mut self,
        node: &str,
        prune: bool,
        ctx: &mut Context,
    ) -> Result<(), ForceLeaveRefusal> {
        log::info!(target: "agent", "Force leaving node: {node}");
        let now_ms = self.now_ms(ctx.now());
        let outcome = self.gossip.force_leave(node, prune, now_ms);
        if let Err(refusal) = &outcome {
            log::warn!(target: "agent", "Failed to remove node: {node}: {refusal}");
        }
        self.drain(ctx, None);
        outcome
    }

    pub fn leave_complete(&self, now: Instant) -> bool {
        self.gossip.is_leave_complete(self.now_ms(now))
    }

    /// Writes the member list now if it changed (SIGTERM: so the restart
    /// rejoins the members known at the end).
    pub fn flush_member_list(&mut self, now: Instant) {
        if self.member_list_writes.is_dirty() {
            self.save_member_list(now);
        }
    }

    // ---- inputs from the event loop ----

    pub fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8], ctx: &mut Context) {
        match decode_datagram::<GossipMessage>(bytes) {
            Ok(messages) => {
                let now_ms = self.now_ms(ctx.now());
                self.gossip
                    .receive_datagram(&from.to_string(), messages, now_ms);
                self.drain(ctx, None);
            }
            Err(err) => {
                let now = ctx.now();
                if now >= self.next_malformed_warn {
                    let suppressed = std::mem::take(&mut self.suppressed_malformed);
                    log::warn!(target: "gossip",
                        "dropping malformed datagram from {from}: {err} ({suppressed} more suppressed)");
                    self.next_malformed_warn = now + MALFORMED_WARN_INTERVAL;
                } else {
                    self.suppressed_malformed += 1;
                }
            }
        }
    }

    pub fn on_tick(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        self.gossip.tick(self.now_ms(now));
        let expired: Vec<ConnectionId> = self
            .pending
            .iter()
            .filter(|(_, queue)| queue.front().is_some_and(|p| now >= p.deadline))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            // Closing fails every push/pull on it; a late answer can then
            // not be matched with the wrong request.
            self.fail_connection(id, "no answer within 5 s");
            ctx.close(id);
        }
        if self.member_list_writes.due(now) {
            self.save_member_list(now);
        }
        self.drain(ctx, None);
    }

    /// A frame on a push/pull connection: an answer on one we dialled, a
    /// push/pull to answer on one we accepted.
    pub fn on_gossip_sync_frame(&mut self, from: ConnectionId, frame: Frame, ctx: &mut Context) {
        let now_ms = self.now_ms(ctx.now());
        let message = match frame.decode::<GossipMessage>() {
            Ok(message) => message,
            Err(err) => {
                self.malformed_sync(from, &err.to_string(), ctx);
                return;
            }
        };
        if self.dialled.contains(&from) {
            let Some(pending) = self.pending.get_mut(&from).and_then(VecDeque::pop_front) else {
                self.malformed_sync(from, "an answer nobody asked for", ctx);
                return;
            };
            self.pending_count -= 1;
            let result = match message {
                GossipMessage::PushPull(push_pull) => self
                    .gossip
                    .receive_push_pull_reply(&pending.address, push_pull, now_ms)
                    .map_err(|refusal| refusal_text(&refusal, &self.data_dir)),
                GossipMessage::JoinRefused(refusal) => {
                    self.gossip.receive_join_refusal(&pending.address, &refusal);
                    Err(refusal_text(&refusal, &self.data_dir))
                }
                _ => {
                    let error = "answered a push/pull with a probe message".to_string();
                    self.gossip.push_pull_failed(&pending.address);
                    self.settle(pending.batch, &pending.address, Err(error.clone()));
                    self.malformed_sync(from, &error, ctx);
                    return;
                }
            };
            self.settle(pending.batch, &pending.address, result);
        } else {
            let remote = ctx
                .remote_addr(from)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let GossipMessage::PushPull(push_pull) = message else {
                self.malformed_sync(from, "expected a push/pull", ctx);
                return;
            };
            let answer = match self.gossip.receive_push_pull(&remote, push_pull, now_ms) {
                Ok(reply) => GossipMessage::PushPull(reply),
                Err(refusal) => GossipMessage::JoinRefused(refusal),
            };
            // A joiner that got our answer may report success at once: the
            // member it brought is written first, so a kill right after the
            // join cannot leave us restarting without it.
            self.drain(ctx, None);
            let now = ctx.now();
            if self.member_list_writes.adds_member() && self.member_list_writes.due(now) {
                self.save_member_list(now);
            }
            if let Err(err) = ctx.send_gossip_sync_on(from, &answer) {
                log::warn!(target: "gossip", "cannot answer push/pull from {remote}: {err}");
            }
        }
        self.drain(ctx, None);
    }

    pub fn on_connection_closed(&mut self, id: ConnectionId) {
        self.dialled.remove(&id);
        self.fail_connection(id, "connection closed before the push/pull was answered");
    }

    // ---- internals ----

    fn malformed_sync(&mut self, id: ConnectionId, error: &str, ctx: &mut Context) {
        let remote = ctx.remote_addr(id);
        log::warn!(target: "gossip",
            "closing push/pull connection from {remote:?}: malformed: {error}");
        self.fail_connection(id, &format!("malformed answer: {error}"));
        ctx.close(id);
    }

    fn fail_connection(&mut self, id: ConnectionId, error: &str) {
        let Some(queue) = self.pending.remove(&id) else {
            return;
        };
        self.pending_count -= queue.len();
        for pending in queue {
            self.gossip.push_pull_failed(&pending.address);
            self.settle(pending.batch, &pending.address, Err(error.to_owned()));
        }
    }

    fn settle(&mut self, batch: Option<JoinBatchId>, address: &str, result: Result<(), String>) {
        if let Err(error) = &result
            && batch.is_none()
        {
            log::debug!(target: "gossip", "push/pull with {address} failed: {error}");
        }
        let Some(id) = batch else {
            return;
        };
        if let Some(batch) = self.batches.get_mut(&id) {
            batch.settle(address, result);
        }
        self.finish_if_done(id);
    }

    fn finish_if_done(&mut self, id: JoinBatchId) {
        if self.batches.get(&id).is_some_and(JoinBatch::is_finished) {
            let batch = self.batches.remove(&id).expect("checked above");
            self.finished_batches.push((id, batch.into_outcome()));
        }
    }

    fn save_member_list(&mut self, now: Instant) {
        self.member_list_writes.written(now);
        let local = self.gossip.local_member().name.clone();
        let members: Vec<(String, String)> = self
            .gossip
            .members()
            .filter(|m| m.name != local && m.status != MemberStatus::Left)
            .take(MAX_REMEMBERED_MEMBERS)
            .map(|m| (m.name.clone(), m.address.clone()))
            .collect();
        // An agent restarted alone (its rejoin still retrying) must not
        // forget the members it is trying to reach; a left agent keeps the
        // addresses for the record, the marker is what stops the rejoin.
        if !members.is_empty() {
            self.remembered.members = members;
            self.remembered_addresses = addresses_of(&self.remembered);
        }
        let Some(store) = &self.store else {
            return;
        };
        if let Err(err) = store.save(&self.remembered) {
            log::warn!(target: "storage", "cannot save the gossip member list: {err}");
        }
    }

    /// Sends everything the state machine produced. `join_batch` tags the
    /// join push/pull just started by [`Membership::start_join`].
    fn drain(&mut self, ctx: &mut Context, join_batch: Option<JoinBatchId>) {
        let outputs = self.gossip.take_outputs();
        probe_metrics::record(&mut self.metrics, &outputs.probes);
        for line in outputs.log_lines {
            log::log!(target: "gossip", line.level, "{}", line.message);
        }
        for (address, messages) in outputs.datagrams {
            let Ok(to) = address.parse::<SocketAddr>() else {
                log::warn!(target: "gossip", "not sending to unparsable address {address:?}");
                continue;
            };
            match encode_datagram(&messages) {
                Ok(bytes) => {
                    if let Err(err) = ctx.send_datagram(to, &bytes) {
                        log::debug!(target: "gossip", "datagram to {to} not sent: {err}");
                    }
                }
                Err(err) => log::warn!(target: "gossip", "cannot encode datagram to {to}: {err}"),
            }
        }
        for (address, push_pull) in outputs.push_pulls {
            let batch = if push_pull.join { join_batch } else { None };
            self.send_push_pull(address, push_pull, batch, ctx);
        }
        for event in outputs.events {
            self.note_member_list_change(&event);
            if self.member_events.len() >= MAX_QUEUED_MEMBER_EVENTS {
                self.member_events.pop_front();
                self.dropped_member_events += 1;
            }
            self.member_events.push_back(event);
        }
    }

    /// Whether `event` adds to the list on disk a member (an address to
    /// rejoin) it does not have, or changes only what it has.
    fn note_member_list_change(&mut self, event: &MemberEvent) {
        let member = event.member();
        let adds_member = matches!(event, MemberEvent::Joined(_) | MemberEvent::Updated(_))
            && member.name != self.gossip.local_member().name
            && self.remembered.members.len() < MAX_REMEMBERED_MEMBERS
            && !self.remembered_addresses.contains(&member.address);
        if adds_member {
            let first_peer = self.remembered.members.is_empty();
            self.member_list_writes.member_added(first_peer);
        } else {
            self.member_list_writes.changed();
        }
    }

    fn send_push_pull(
        &mut self,
        address: String,
        push_pull: PushPull,
        batch: Option<JoinBatchId>,
        ctx: &mut Context,
    ) {
        let to = match address.parse::<SocketAddr>() {
            Ok(to) => to,
            Err(_) => {
                self.gossip.push_pull_failed(&address);
                self.settle(batch, &address, Err("not an IP:PORT address".into()));
                return;
            }
        };
        if self.pending_count >= MAX_PENDING_PUSH_PULLS {
            self.gossip.push_pull_failed(&address);
            self.settle(batch, &address, Err("too many push/pulls in flight".into()));
            return;
        }
        match ctx.send_gossip_sync(to, &GossipMessage::PushPull(push_pull)) {
            Ok(id) => {
                self.dialled.insert(id);
                self.pending
                    .entry(id)
                    .or_default()
                    .push_back(PendingPushPull {
                        address,
                        batch,
                        deadline: ctx.now() + PUSH_PULL_TIMEOUT,
                    });
                self.pending_count += 1;
            }
            Err(err) => {
                self.gossip.push_pull_failed(&address);
                self.settle(batch, &address, Err(err.to_string()));
            }
        }
    }
}
