//! What the Raft host adds to the agent's metrics: role changes as
//! hashicorp/raft counts them, a client write's commit and apply timings
//! on the leader, and the gauges read from its state when the metrics are
//! asked for. Timings use the seam's clock (`ctx.clock()` within a turn,
//! `ctx.now()` for the proposal), never a clock of their own.

use std::time::Instant;

use crate::raft::RaftEvent;
use crate::wire::command::Command;

use crate::agent::metrics::Registry;
use crate::agent::metrics::names::{
    CATALOG_DEREGISTER, CATALOG_REGISTER, KVS_APPLY, RAFT_COMMIT_TIME, RAFT_STATE_CANDIDATE,
    RAFT_STATE_FOLLOWER, RAFT_STATE_LEADER, RPC_QUERIES_BLOCKING, SERVER_IS_LEADER,
    STATE_KV_ENTRIES, TXN_APPLY,
};
use crate::agent::server::RaftServer;
use crate::agent::server::pending_writes::PendingWrite;

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
