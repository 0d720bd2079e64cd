//! Writes on the leader: a client's command becomes a Raft proposal here,
//! and waits in [`PendingWrites`] until it is applied (or its fate becomes
//! unknown).

use std::time::Instant;

use crate::raft::ProposeError;
use crate::wire::client_message::ErrorCode;
use crate::wire::command::Command;

use crate::agent::io::connection::ConnectionId;
use crate::agent::metrics::names::RAFT_APPLY;
use crate::agent::requests::reply::rpc_error;
use crate::agent::server::pending_writes::{PendingWrite, WriteAnswer};
use crate::agent::server::raft_metrics::write_timing_name;
use crate::agent::server::{MAX_PENDING_WRITES, ProposalRefused, RaftServer, WRITE_TIMEOUT};

impl RaftServer {
    /// Proposes a write on the leader; the client is answered when it is
    /// applied. A server that is not leading at this moment (deposed, or
    /// handing leadership over) refuses with [`ProposalRefused::NotLeading`]
    /// so the request waits for the leader instead of failing.
    pub fn propose(
        &mut self,
        command: &Command,
        answer: WriteAnswer,
        connection: ConnectionId,
        request_id: u64,
        now: Instant,
    ) -> Result<(), ProposalRefused> {
        if !self.pending_writes.has_room() {
            return Err(ProposalRefused::Answer(rpc_error(
                ErrorCode::Internal,
                format!(
                    "too many writes in flight (limit {MAX_PENDING_WRITES}); the write was not applied, retry"
                ),
            )));
        }
        let index = self
            .node
            .propose(command.to_bytes())
            .map_err(|err| match err {
                ProposeError::NotLeader { .. } | ProposeError::TransferInProgress => {
                    ProposalRefused::NotLeading
                }
                ProposeError::QueueFull => ProposalRefused::Answer(rpc_error(
                    ErrorCode::Internal,
                    "too many uncommitted writes; the write was not applied, retry".into(),
                )),
            })?;
        let term = self.node.term();
        self.metrics.incr_counter(RAFT_APPLY, &[], 1.0);
        self.pending_writes
            .insert(
                index,
                PendingWrite {
                    term,
                    connection,
                    request_id,
                    deadline: now + WRITE_TIMEOUT,
                    answer,
                    proposed_at: now,
                    timing: write_timing_name(command),
                },
            )
            .map_err(|err| ProposalRefused::Answer(rpc_error(ErrorCode::Internal, err.to_string())))
    }

    /// A proposal nobody waits for (catalog changes from reconciliation).
    pub fn propose_unanswered(&mut self, command: &Command) -> bool {
        self.node.propose(command.to_bytes()).is_ok()
    }
}
