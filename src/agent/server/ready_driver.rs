//! The Ready driver: everything the core produced in a loop turn is carried
//! out here, in the order `src/raft/ready.rs` gives (send, stage snapshot
//! chunks, install, persist with one fsync, send what promises durability,
//! apply, answer reads, serve chunks, log events), then the core is
//! advanced. Where an entry is fsynced: [`RaftServer::persist`].

use crate::raft::{RaftEvent, Ready, Role};
use crate::wire::client_message::ErrorCode;
use crate::wire::raft_message::{Entry, EntryKind};

use crate::agent::metrics::names::{RAFT_FSM_APPLY, RAFT_STORE_LOGS};
use crate::agent::requests::kv_answers::consul_write_answer;
use crate::agent::requests::reply::{reply_error, reply_result, rpc_error};
use crate::agent::seam::Context;
use crate::agent::server::pending_writes::{Outcome, WriteAnswer};
use crate::agent::server::{MAX_READY_ROUNDS_PER_TURN, ParkedInstall, RaftServer, RaftServerError};

impl RaftServer {
    /// Handles everything the core produced since the last call, then
    /// advances the core. Returns `Err` only when storage failed: the node
    /// must stop (a log whose write failed can no longer be trusted, see
    /// the durability contract).
    pub fn handle_ready(&mut self, ctx: &mut Context) -> Result<(), RaftServerError> {
        self.finish_snapshot(ctx)?;
        if !self.continue_install(ctx)? {
            self.check_role(ctx);
            self.settle_transfer(ctx);
            self.settle_removal(ctx);
            return Ok(());
        }
        // `advance` can make more work ready at once (the leader's own
        // persist may commit entries, which are applied by the next Ready):
        // without waiting for the next event or tick, a few rounds go now.
        for _ in 0..MAX_READY_ROUNDS_PER_TURN {
            if !self.node.has_ready() || self.parked_install.is_some() {
                break;
            }
            self.handle_one_ready(ctx)?;
        }
        self.check_role(ctx);
        self.settle_transfer(ctx);
        self.settle_removal(ctx);
        Ok(())
    }

    fn handle_one_ready(&mut self, ctx: &mut Context) -> Result<(), RaftServerError> {
        let mut ready: Ready = self.node.ready();
        for message in &ready.messages {
            self.send(ctx, message);
        }
        if !self.receive_chunks(ctx, &ready)? {
            return Ok(());
        }
        if let Some(meta) = ready.snapshot_to_install.take() {
            self.parked_install = Some(ParkedInstall {
                ready,
                meta,
                install: None,
            });
            self.continue_install(ctx)?;
            return Ok(());
        }
        if self
            .receiver
            .staging_index()
            .is_some_and(|index| index <= self.node.commit_index())
        {
            // The core forgets a transfer once its log has caught up past
            // it (a new leader may replicate entries instead): so does the
            // disk.
            self.receiver.abort();
        }
        self.persist_and_apply(ctx, ready)
    }

    /// Steps 4-6 of a Ready (`src/raft/ready.rs`), then `advance`.
    pub(super) fn persist_and_apply(
        &mut self,
        ctx: &mut Context,
        mut ready: Ready,
    ) -> Result<(), RaftServerError> {
        // The messages may go before the disk write (`src/raft/ready.rs`
        // step 1); waiting for the turn's end would serialize the leader's
        // fsync and the followers'. Measured in README "Cluster benchmark".
        if !ready.messages.is_empty() && !ready.entries.is_empty() {
            ctx.flush_now();
        }
        self.persist(ctx, &ready)?;
        for message in &ready.messages_after_persist {
            self.send(ctx, message);
        }
        self.apply_committed(ctx, &ready.committed_entries);
        let (reads, failed) = (
            std::mem::take(&mut ready.reads),
            std::mem::take(&mut ready.failed_reads),
        );
        self.take_read_states(ctx, reads, failed);
        self.serve_reads(ctx);
        self.serve_woken(ctx);
        for request in &ready.snapshot_chunk_requests {
            self.serve_chunk(
                request.to,
                request.snapshot_index,
                request.offset,
                request.max_bytes,
            );
        }
        for event in &ready.events {
            log::log!(target: "raft", event.level(), "{event}");
            self.note_event(event);
            if let RaftEvent::SnapshotInstalled { .. } = event {
                self.snapshot_schedule.on_snapshot_installed();
            }
        }
        self.node.advance(&ready);
        self.check_invariants();
        self.check_role(ctx);
        if self.snapshot_in_progress.is_none() && self.snapshot_schedule.is_due(ctx.now()) {
            self.start_snapshot(ctx)?;
        }
        Ok(())
    }

    /// Steps 4-5: the log's truncation and appends (one fdatasync for the
    /// whole batch, in `RaftLog::append`), then the hard state.
    fn persist(&mut self, ctx: &mut Context, ready: &Ready) -> Result<(), RaftServerError> {
        if let Some(index) = ready.truncate_after {
            self.log().truncate_after(index)?;
        }
        if !ready.entries.is_empty() {
            let started = ctx.clock();
            self.log().append(&ready.entries)?;
            self.metrics
                .measure(RAFT_STORE_LOGS, &[], started, ctx.clock());
        }
        if let Some(hard_state) = ready.hard_state {
            // Term, vote and cluster ID must be durable before any message
            // that announces them; the commit index is only a hint for the
            // restart (the leader re-establishes it), so it is written with
            // them rather than costing a file rename per turn.
            //
            // Why a restart never applies past what is durable and
            // committed: the commit index saved here is the core's commit
            // at this moment, so it names entries that were committed then
            // (a follower's commit never passes the entries it matched with
            // the leader, paper §5.3), and every entry through it is already
            // fsynced: they were appended in this or an earlier Ready, and
            // `RaftLog::append` fsyncs before returning. Committed entries
            // are never truncated (Leader Completeness, §5.4) and the log is
            // compacted only behind a durable snapshot, so at restart each
            // of them is in the log or covered by the snapshot, and the core
            // refuses a commit index beyond the log (`CommitBeyondLog`).
            // A saved commit index that lags only means re-applying fewer
            // entries until the leader's next heartbeat carries its own.
            let saved = self.saved_hard_state;
            if hard_state.current_term != saved.current_term
                || hard_state.voted_for != saved.voted_for
                || hard_state.cluster_id != saved.cluster_id
            {
                self.hard_state_store.save(&hard_state)?;
                self.saved_hard_state = hard_state;
            }
        }
        Ok(())
    }

    /// Where a committed entry reaches the state machine, and the client
    /// that proposed it is answered. An entry at or below the applied index
    /// (already in a snapshot, or re-delivered after an in-place recovery)
    /// is never applied twice.
    fn apply_committed(&mut self, ctx: &mut Context, entries: &[Entry]) {
        for entry in entries {
            if entry.index <= self.state.applied_index() {
                continue;
            }
            self.snapshot_schedule.on_applied();
            if entry.kind != EntryKind::Command {
                self.state.skip(entry.index);
                if let Some(outcome) = self.pending_writes.on_applied(entry.index, entry.term) {
                    answer_superseded(ctx, outcome);
                }
                continue;
            }
            let started = ctx.clock();
            let result = self.state.apply(entry.index, &entry.data);
            let applied = ctx.clock();
            self.metrics.measure(RAFT_FSM_APPLY, &[], started, applied);
            if !result.changes.kv.is_empty() || result.changes.catalog {
                let woken = self.blocked.take_affected(&result.changes);
                self.woken.extend(woken);
            }
            match self.pending_writes.on_applied(entry.index, entry.term) {
                Some(Outcome::Applied(write)) => {
                    self.note_applied_write(&write, started, applied);
                    let answer = match write.answer {
                        WriteAnswer::Native => result.to_rpc(),
                        WriteAnswer::Consul => consul_write_answer(&result.result),
                    };
                    reply_result(ctx, write.connection, write.request_id, answer);
                }
                Some(outcome) => answer_superseded(ctx, outcome),
                None => {}
            }
        }
    }

    /// A deposed leader answers every write it still holds: their fate is
    /// unknown to it (hashicorp/raft fails its futures the same way).
    pub(super) fn check_role(&mut self, ctx: &mut Context) {
        let role = self.node.role();
        if self.last_role == Role::Leader && role != Role::Leader {
            for (_, write) in self.pending_writes.drain_all() {
                reply_error(
                    ctx,
                    write.connection,
                    write.request_id,
                    rpc_error(
                        ErrorCode::NoLeader,
                        "leadership lost; the write may or may not have been applied".into(),
                    ),
                );
            }
            self.fail_leader_reads(ctx);
        }
        self.last_role = role;
    }

    /// What the Raft host relies on, checked after every Ready: the
    /// state machine never runs ahead of the commit index, the commit index
    /// never passes the log, and it never decreases.
    pub fn check_invariants(&mut self) {
        // Runs after every Ready: reads single fields, never `status()`,
        // which clones the configuration.
        self.node.check_invariants();
        let (commit, term) = (self.node.commit_index(), self.node.term());
        let last_log_index = self.node.last_log_index();
        let applied = self.state.applied_index();
        assert!(
            applied <= commit.max(self.node.snapshot_index()),
            "applied index {applied} is past the commit index {commit}"
        );
        assert!(
            commit <= last_log_index,
            "commit index {commit} is past the last log index {last_log_index}"
        );
        assert!(
            commit >= self.highest_commit_seen,
            "the commit index went back from {} to {commit}",
            self.highest_commit_seen
        );
        self.highest_commit_seen = commit;
        self.pending_writes.check_invariants(term);
    }
}

fn answer_superseded(ctx: &mut Context, outcome: Outcome) {
    let write = match outcome {
        Outcome::Applied(write) | Outcome::Superseded(write) => write,
    };
    reply_error(
        ctx,
        write.connection,
        write.request_id,
        rpc_error(
            ErrorCode::NoLeader,
            "the write was replaced by a new leader's log and did not happen".into(),
        ),
    );
}
