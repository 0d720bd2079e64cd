//! The graceful leave as the agent drives it through the phases of
//! [`LeaveSequence`]: a leader hands leadership over, gossip announces the
//! leave, and a server waits (bounded) until the leader's committed
//! configuration no longer lists it, so a voter never exits while still
//! counted toward a quorum it can no longer join.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::client_message::{ErrorCode, ResponseBody, RpcResult};
use crate::wire::raft_message::Suffrage;

use crate::agent::cluster::leave_sequence::{LeavePhase, LeaveSequence, LeaveStep};
use crate::agent::handler::AgentHandler;
use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::outstanding::Purpose;
use crate::agent::requests::reply::{reply, reply_error, rpc_error};
use crate::agent::seam::{Context, StopReason};
use crate::agent::server::committed_configuration::removal_is_committed;

/// A leader hands leadership over for at most this long before leaving.
pub const LEAVE_TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// Leaving: how often the leader is asked whether it removed us.
pub const REMOVAL_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The leave's state beside its phases.
#[derive(Debug, Default)]
pub struct Leave {
    pub sequence: LeaveSequence,
    transfer_deadline: Option<Instant>,
    /// The leader's committed configuration no longer lists this server.
    removal_confirmed: bool,
    next_removal_poll: Option<Instant>,
}

impl Leave {
    pub fn is_leaving(&self) -> bool {
        self.sequence.is_leaving()
    }
}

impl AgentHandler {
    pub(crate) fn start_leave(&mut self, waiter: Option<(ConnectionId, u64)>, ctx: &mut Context) {
        self.joins.cancel_startup_join();
        if !self.leave.sequence.begin(waiter)
            && let Some((connection, request_id)) = waiter
        {
            let busy = rpc_error(
                ErrorCode::Internal,
                "too many leave requests waiting".into(),
            );
            reply_error(ctx, connection, request_id, busy);
        }
        self.advance_leave(ctx);
    }

    pub(crate) fn advance_leave(&mut self, ctx: &mut Context) {
        let now = ctx.now();
        let gossip_done = self.membership.leave_complete(now) && self.removal_confirmed(ctx);
        let raft_done = self.leave.is_leaving() && self.raft_leave_done(now);
        match self.leave.sequence.advance(now, raft_done, gossip_done) {
            LeaveStep::Nothing => {}
            LeaveStep::StartGossipLeave => {
                self.membership.leave(ctx);
                // With nobody to tell, the gossip phase is already done.
                self.advance_leave(ctx);
            }
            LeaveStep::Finish => {
                log::info!(target: "agent", "graceful leave: done, shutting down");
                for (connection, request_id) in self.leave.sequence.take_waiters() {
                    reply(
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

    /// The answer to our removal check.
    pub(crate) fn on_removal_check_answer(&mut self, body: &ResponseBody) {
        // The committed configuration, not the latest: an appended removal
        // can still be lost with its leader.
        if let (ResponseBody::Ok(RpcResult::Identity(identity)), Some(raft)) =
            (body, self.raft.as_ref())
            && removal_is_committed(identity, raft.id())
        {
            log::info!(target: "agent",
                "graceful leave: removed from the Raft configuration by the leader (the removal is committed)");
            self.leave.removal_confirmed = true;
        }
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
        match self.leave.transfer_deadline {
            None => {
                self.leave.transfer_deadline = Some(now + LEAVE_TRANSFER_TIMEOUT);
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
    /// the leader's *committed* configuration no longer lists it, asking
    /// every [`REMOVAL_POLL_INTERVAL`] (bounded by the leave sequence's
    /// deadline).
    fn removal_confirmed(&mut self, ctx: &mut Context) -> bool {
        if !matches!(self.leave.sequence.phase(), LeavePhase::GossipLeave { .. }) {
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
        if self.leave.removal_confirmed || raft.is_leader() || !listed {
            return true;
        }
        let now = ctx.now();
        let polled_recently = self.leave.next_removal_poll.is_some_and(|next| now < next);
        let asking = self
            .router
            .outstanding()
            .any(|p| matches!(p, Purpose::RemovalCheck));
        if polled_recently || asking {
            return false;
        }
        self.leave.next_removal_poll = Some(now + REMOVAL_POLL_INTERVAL);
        if let Some(target) = self.removal_check_target() {
            self.send_removal_check(ctx, target);
        }
        false
    }

    /// The leader when known; else any other live server (a follower's
    /// configuration lists the removal once replicated to it). A removed
    /// leaver hears no more heartbeats, so it often knows no leader.
    fn removal_check_target(&mut self) -> Option<SocketAddr> {
        let own_address = self.config.advertise;
        let leader = self.raft.as_ref().and_then(|raft| raft.leader());
        if let Some((_, leader)) = leader
            && leader != own_address
        {
            return Some(leader);
        }
        let others: Vec<SocketAddr> = self
            .membership
            .alive_servers()
            .into_iter()
            .map(|(_, address)| address)
            .filter(|address| *address != own_address)
            .collect();
        self.router.pick(&others)
    }

    fn send_removal_check(&mut self, ctx: &mut Context, target: SocketAddr) {
        let timeout = REMOVAL_POLL_INTERVAL * 20;
        self.router
            .ask_identity(ctx, target, Purpose::RemovalCheck, timeout);
    }
}
