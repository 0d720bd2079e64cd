//! What the Raft host adds to the agent's metrics: role changes as
//! hashicorp/raft counts them, a client write's commit and apply timings
//! on the leader, and the gauges read from its state when the metrics are
//! asked for. Timings use the seam's clock (`ctx.clock()` within a turn,
//! `ctx.now()` for the proposal), never a clock of their own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::raft::RaftEvent;
use crate::wire::command::Command;
use crate::wire::raft_message::NodeId;

use crate::agent::metrics::Registry;
use crate::agent::metrics::names::{
    CATALOG_DEREGISTER, CATALOG_REGISTER, KVS_APPLY, RAFT_COMMIT_TIME, RAFT_LEADER_LAST_CONTACT,
    RAFT_STATE_CANDIDATE, RAFT_STATE_FOLLOWER, RAFT_STATE_LEADER, RPC_QUERIES_BLOCKING,
    SERVER_IS_LEADER, STATE_KV_ENTRIES, TXN_APPLY,
};
use crate::agent::server::RaftServer;
use crate::agent::server::pending_writes::PendingWrite;

/// How often the leader samples its followers' last contact
/// (hashicorp/raft's `checkLeaderLease` runs every leader lease timeout,
/// 500 ms by default).
pub const LAST_CONTACT_SAMPLE_INTERVAL: Duration = Duration::from_millis(500);

/// When the leader last heard each follower, for
/// `consul.raft.leader.lastContact`; one entry per server of the
/// configuration at most.
#[derive(Debug, Default)]
pub(crate) struct FollowerContact {
    last_heard: HashMap<NodeId, Instant>,
    next_sample: Option<Instant>,
}

/// The metric a write's proposal-to-apply time goes to, by what it does
/// (Consul times each endpoint's Apply RPC under its own name).
pub(super) fn write_timing_name(command: &Command) -> &'static str {
    match command {
        Command::Txn { .. } => TXN_APPLY,
        Command::CatalogRegister(_) => CATALOG_REGISTER,
        Command::CatalogDeregister { .. } => CATALOG_DEREGISTER,
        _ => KVS_APPLY,
    }
}

impl RaftServer {
    /// hashicorp/raft counts each state it enters.
    pub(super) fn note_event(&mut self, event: &RaftEvent) {
        let counter = match event {
            RaftEvent::EnteringLeaderState { .. } => RAFT_STATE_LEADER,
            RaftEvent::EnteringCandidateState { .. } => RAFT_STATE_CANDIDATE,
            RaftEvent::EnteringFollowerState { .. } => RAFT_STATE_FOLLOWER,
            _ => return,
        };
        self.metrics.incr_counter(counter, &[], 1.0);
    }

    /// A client's write reached the state machine: its entry had committed
    /// when the apply started, and its answer is ready once it ended.
    pub(super) fn note_applied_write(
        &mut self,
        write: &PendingWrite,
        apply_started: Instant,
        applied: Instant,
    ) {
        self.metrics
            .measure(RAFT_COMMIT_TIME, &[], write.proposed_at, apply_started);
        self.metrics
            .measure(write.timing, &[], write.proposed_at, applied);
    }

    /// A message from `from` arrived: if we lead and it is a server of our
    /// configuration, it was in contact.
    pub(super) fn note_contact(&mut self, from: NodeId, now: Instant) {
        if self.is_leader() && self.address_of(from).is_some() {
            self.follower_contact.last_heard.insert(from, now);
        }
    }

    /// On the leader, every [`LAST_CONTACT_SAMPLE_INTERVAL`]: one sample per
    /// follower of the time since it was last heard (as hashicorp/raft
    /// samples in `checkLeaderLease`).
    pub(super) fn sample_last_contact(&mut self, now: Instant) {
        if !self.is_leader() {
            self.follower_contact = FollowerContact::default();
            return;
        }
        let due = self.follower_contact.next_sample.get_or_insert(now);
        if now < *due {
            return;
        }
        *due = now + LAST_CONTACT_SAMPLE_INTERVAL;
        let me = self.id();
        let followers: Vec<NodeId> = self
            .node
            .latest_configuration()
            .servers
            .iter()
            .map(|server| server.id)
            .filter(|id| *id != me)
            .collect();
        let contact = &mut self.follower_contact.last_heard;
        contact.retain(|id, _| followers.contains(id));
        for heard in contact.values() {
            self.metrics
                .measure(RAFT_LEADER_LAST_CONTACT, &[], *heard, now);
        }
    }

    /// The Raft host's metrics with its gauges read now.
    pub fn metrics(&self) -> Registry {
        let mut metrics = self.metrics.clone();
        let is_leader = if self.is_leader() { 1.0 } else { 0.0 };
        metrics.set_gauge(SERVER_IS_LEADER, &[], is_leader);
        metrics.set_gauge(RPC_QUERIES_BLOCKING, &[], self.blocked.len() as f64);
        metrics.set_gauge(STATE_KV_ENTRIES, &[], self.state.kv().len() as f64);
        metrics
    }
}
