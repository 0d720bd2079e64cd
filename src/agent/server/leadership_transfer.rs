//! An operator's leadership transfer (`/v1/operator/raft/transfer-leader`,
//! `node operator raft transfer-leader`): the leader asks its core to hand
//! leadership over and answers once another server leads, as Consul
//! answers when raft's transfer future completes. One at a time; a
//! transfer that has not moved leadership within
//! [`TRANSFER_ANSWER_TIMEOUT`] is answered with what is known.

use std::time::{Duration, Instant};

use crate::raft::TransferError;
use crate::wire::client_message::{ErrorCode, RpcResult};
use crate::wire::raft_message::NodeId;

use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::reply::{reply_error, reply_result, rpc_error};
use crate::agent::seam::Context;
use crate::agent::server::{ProposalRefused, RaftServer};

/// Longer than the core's own bound (an election timeout), so the answer
/// reports what the core did rather than guessing.
pub const TRANSFER_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The client waiting for a transfer this leader started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingTransfer {
    connection: ConnectionId,
    request_id: u64,
    target: NodeId,
    deadline: Instant,
}

fn refused(message: String) -> ProposalRefused {
    ProposalRefused::Answer(rpc_error(ErrorCode::InvalidRequest, message))
}

impl RaftServer {
    /// Starts a transfer to `target` (or the most up-to-date other voter)
    /// and holds the client's request until it settles.
    pub(crate) fn start_transfer(
        &mut self,
        connection: ConnectionId,
        request_id: u64,
        target: Option<NodeId>,
        now: Instant,
    ) -> Result<(), ProposalRefused> {
        if self.pending_transfer.is_some() {
            return Err(refused(
                "a leadership transfer is already in progress".into(),
            ));
        }
        let target = match self.node.transfer_leadership(target) {
            Ok(target) => target,
            Err(TransferError::NotLeader { .. }) => return Err(ProposalRefused::NotLeading),
            Err(TransferError::AlreadyTransferring) => {
                return Err(refused(
                    "a leadership transfer is already in progress".into(),
                ));
            }
            Err(TransferError::TargetNotVoter) => {
                let id = target.map_or_else(String::new, |id| format!("{id:016x}"));
                return Err(refused(format!("no other voting server has the ID {id}")));
            }
            Err(TransferError::NoTarget) => {
                return Err(refused(
                    "no other voting server to transfer leadership to".into(),
                ));
            }
        };
        log::info!(target: "raft", "operator: transferring leadership to {target:016x}");
        self.pending_transfer = Some(PendingTransfer {
            connection,
            request_id,
            target,
            deadline: now + TRANSFER_ANSWER_TIMEOUT,
        });
        Ok(())
    }

    /// Answers the waiting transfer once another server leads, or at its
    /// deadline. Runs after every turn's Ready.
    pub(super) fn settle_transfer(&mut self, ctx: &mut Context) {
        let Some(pending) = self.pending_transfer else {
            return;
        };
        let new_leader = self.node.leader().filter(|leader| *leader != self.id());
        let answer = match new_leader {
            Some(leader) => Ok(RpcResult::LeadershipTransferred { leader }),
            None if ctx.now() < pending.deadline => return,
            None if self.is_leader() => Err(rpc_error(
                ErrorCode::Timeout,
                format!(
                    "leadership transfer to {:016x} did not complete; this server still leads",
                    pending.target
                ),
            )),
            None => Err(rpc_error(
                ErrorCode::NoLeader,
                "this server stepped down but no new leader is known yet".into(),
            )),
        };
        self.pending_transfer = None;
        match answer {
            Ok(result) => reply_result(ctx, pending.connection, pending.request_id, Ok(result)),
            Err(error) => reply_error(ctx, pending.connection, pending.request_id, error),
        }
    }
}
