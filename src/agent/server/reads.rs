//! Reads on a server. Default and consistent reads on the leader go
//! through ReadIndex (Raft dissertation §6.4): the core confirms
//! leadership, the state machine reaches the confirmed index, and the read
//! is answered from the state there. Stale reads are answered from this
//! server's state at once.
//!
//! A blocking query (a Consul KV read with `?index`) whose result's index
//! has not passed the client's is held here, in [`BlockedQueries`], on the
//! server that serves it: the leader for default and consistent reads
//! (after the confirmation, as Consul's `blockingQuery` re-checks
//! leadership before each run), any server for stale ones. A change that
//! concerns it (or its deadline) wakes it; it is then read again the same
//! way: a stale one from the state, the leader's with one ReadIndex for
//! every query the turn woke.

use std::time::{Duration, Instant};

use crate::raft::{ReadError, ReadState};
use crate::wire::client_message::{Consistency, ErrorCode, RequestBody, RpcError, RpcResult};

use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::kv_answers::ServingView;
use crate::agent::requests::reply::{reply_error, reply_result, rpc_error};
use crate::agent::requests::routing::answer_read;
use crate::agent::seam::Context;
use crate::agent::server::blocked_queries::MAX_BLOCKED_QUERIES;
use crate::agent::server::{MAX_WAITING_READS, ProposalRefused, RaftServer, WaitingRead};

/// The longest a forwarded blocking query is held, whatever it asks:
/// Consul's 10 minute maximum wait plus its 1/16 of jitter.
pub const MAX_HELD_WAIT: Duration = Duration::from_millis(600_000 + 600_000 / 16);

impl WaitingRead {
    pub(crate) fn new(
        connection: ConnectionId,
        request_id: u64,
        body: RequestBody,
        now: Instant,
    ) -> Self {
        let deadline = body
            .blocking()
            .map(|blocking| now + Duration::from_millis(blocking.wait_ms).min(MAX_HELD_WAIT));
        WaitingRead {
            connection,
            request_id,
            body,
            deadline,
        }
    }

    fn is_stale(&self) -> bool {
        self.body.read_consistency() == Consistency::Stale
    }

    /// Whether `answer` leaves this query blocked at `now`: it blocks, its
    /// wait is not over, and the result's index has not passed the client's.
    fn still_blocks(&self, answer: &Result<RpcResult, RpcError>, now: Instant) -> bool {
        let (Some(blocking), Some(deadline)) = (self.body.blocking(), self.deadline) else {
            return false;
        };
        match answer.as_ref().ok().and_then(RpcResult::read_meta) {
            Some(meta) => now < deadline && meta.index <= blocking.min_index,
            None => false,
        }
    }
}

impl RaftServer {
    /// What this server tells about itself with each read it serves.
    pub(crate) fn serving_view(&self, now: Instant) -> ServingView {
        let last_contact = if self.is_leader() {
            Duration::ZERO
        } else {
            self.last_leader_contact
                .or(self.first_tick)
                .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
        };
        ServingView {
            known_leader: self.node.leader().is_some(),
            last_contact_ms: u64::try_from(last_contact.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A linearizable read on the leader (ReadIndex, or the lease). `now`
    /// is the loop's time, `clock` a fresh reading for the lease.
    pub fn read_consistent(
        &mut self,
        connection: ConnectionId,
        request_id: u64,
        body: RequestBody,
        (now, clock): (Instant, Instant),
    ) -> Result<(), ProposalRefused> {
        if self.reads_in_flight.len() + self.reads_to_serve.len() >= MAX_WAITING_READS {
            return Err(ProposalRefused::Answer(rpc_error(
                ErrorCode::Internal,
                format!("too many reads waiting (limit {MAX_WAITING_READS}), retry"),
            )));
        }
        let read = WaitingRead::new(connection, request_id, body, now);
        self.confirm(vec![read], clock)
            .map_err(|(err, _)| match err {
                ReadError::NotLeader { .. } => ProposalRefused::NotLeading,
                ReadError::TooManyReads => ProposalRefused::Answer(rpc_error(
                    ErrorCode::Internal,
                    "too many reads waiting, retry".into(),
                )),
            })
    }

    /// A stale read: answered from this server's state now, or held when
    /// it is a blocking query with nothing new yet.
    pub fn read_stale(
        &mut self,
        ctx: &mut Context,
        connection: ConnectionId,
        request_id: u64,
        body: RequestBody,
    ) {
        let read = WaitingRead::new(connection, request_id, body, ctx.now());
        self.finish_read(ctx, read);
    }

    /// One ReadIndex for `reads`; they come back with the error if the
    /// core refuses.
    fn confirm(
        &mut self,
        reads: Vec<WaitingRead>,
        clock: Instant,
    ) -> Result<(), (ReadError, Vec<WaitingRead>)> {
        self.sync_clock(clock);
        let read_id = self.next_read_id;
        self.next_read_id += 1;
        match self.node.read_index(read_id) {
            Ok(()) => {
                self.reads_in_flight.insert(read_id, reads);
                Ok(())
            }
            Err(err) => Err((err, reads)),
        }
    }

    /// Answers `read` from the state as it is, or holds it while it blocks.
    fn finish_read(&mut self, ctx: &mut Context, read: WaitingRead) {
        let answer = answer_read(&self.state, &read.body, self.serving_view(ctx.now()));
        if !read.still_blocks(&answer, ctx.now()) {
            return reply_result(ctx, read.connection, read.request_id, answer);
        }
        let deadline = read.deadline.unwrap_or(ctx.now());
        if let Err(read) = self.blocked.hold(read, deadline) {
            let error = rpc_error(
                ErrorCode::TooManyRequests,
                format!("too many blocking queries (limit {MAX_BLOCKED_QUERIES}), retry"),
            );
            reply_error(ctx, read.connection, read.request_id, error);
        }
    }

    /// Step 6 of a Ready: confirmed reads wait for their index, failed ones
    /// are answered.
    pub(super) fn take_read_states(
        &mut self,
        ctx: &mut Context,
        reads: Vec<ReadState>,
        failed: Vec<u64>,
    ) {
        for ReadState { request_id, index } in reads {
            for read in self.reads_in_flight.remove(&request_id).unwrap_or_default() {
                self.reads_to_serve.push((index, read));
            }
        }
        for request_id in failed {
            for read in self.reads_in_flight.remove(&request_id).unwrap_or_default() {
                answer_unconfirmed(ctx, &read);
            }
        }
    }

    pub(super) fn serve_reads(&mut self, ctx: &mut Context) {
        let applied = self.state.applied_index();
        let mut i = 0;
        while i < self.reads_to_serve.len() {
            if self.reads_to_serve[i].0 <= applied {
                let (_, read) = self.reads_to_serve.swap_remove(i);
                self.finish_read(ctx, read);
            } else {
                i += 1;
            }
        }
    }

    /// Reads the woken blocking queries again: stale ones from the state,
    /// the leader's after one shared confirmation.
    pub(super) fn serve_woken(&mut self, ctx: &mut Context) {
        let woken = std::mem::take(&mut self.woken);
        let (stale, confirmed): (Vec<_>, Vec<_>) = woken.into_iter().partition(|r| r.is_stale());
        for read in stale {
            self.finish_read(ctx, read);
        }
        if confirmed.is_empty() {
            return;
        }
        if let Err((_, reads)) = self.confirm(confirmed, ctx.clock()) {
            for read in reads {
                answer_unconfirmed(ctx, &read);
            }
        }
    }

    /// A snapshot replaced the state: every held query may have changed.
    pub(super) fn wake_all_blocked(&mut self) {
        let all = self.blocked.take_where(|_| true);
        self.woken.extend(all);
    }

    /// Leadership was lost: the reads this server confirmed as leader can
    /// no longer be, and are answered with an error (the client retries on
    /// the new leader).
    pub(super) fn fail_leader_reads(&mut self, ctx: &mut Context) {
        for (_, reads) in std::mem::take(&mut self.reads_in_flight) {
            for read in reads {
                answer_unconfirmed(ctx, &read);
            }
        }
        let mut held = self.blocked.take_where(|read| !read.is_stale());
        let (stale, confirmed): (Vec<_>, Vec<_>) = std::mem::take(&mut self.woken)
            .into_iter()
            .partition(WaitingRead::is_stale);
        self.woken = stale;
        held.extend(confirmed);
        for read in held {
            answer_unconfirmed(ctx, &read);
        }
    }
}

fn answer_unconfirmed(ctx: &mut Context, read: &WaitingRead) {
    reply_error(
        ctx,
        read.connection,
        read.request_id,
        read_lost_with_leadership(),
    );
}

/// A read this server took as leader and can no longer confirm: the client
/// retries it with the next leader.
pub(super) fn read_lost_with_leadership() -> RpcError {
    rpc_error(
        ErrorCode::NoLeader,
        "leadership lost before the read was confirmed".into(),
    )
}
