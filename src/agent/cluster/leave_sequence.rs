//! The graceful leave, in phases, so each subsystem hands off before the
//! next one goes:
//!
//! 1. `RaftLeave`: a server transfers leadership and asks to be removed from
//!    the Raft configuration, so the cluster does not lose a voter it still
//!    counts on for quorum (Raft dissertation §4.2.2). Raft is not wired into
//!    the agent yet, so today this phase is complete as soon as it starts; the
//!    Raft integration keeps the sequence here until its removal commits (or
//!    its timeout passes) by answering [`LeaveSequence::advance`]'s
//!    `raft_leave_done` with false.
//! 2. `GossipLeave`: the "left" message is broadcast and the agent waits,
//!    bounded, for it to spread, so others record "left", not "failed".
//! 3. `Done`: waiting `node leave` callers get "Left" and the loop stops.

use std::time::{Duration, Instant};

use crate::agent::io::connection::ConnectionId;

/// Gossip's own bound is `leave_propagate_ms`; this is the agent's backstop
/// beyond it.
pub const GOSSIP_LEAVE_TIMEOUT: Duration = Duration::from_secs(7);
/// Bound on `node leave` callers waiting at once.
pub const MAX_LEAVE_WAITERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeavePhase {
    Serving,
    RaftLeave,
    GossipLeave { deadline: Instant },
    Done,
}

/// What the handler must do after [`LeaveSequence::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveStep {
    Nothing,
    /// Broadcast the gossip leave now.
    StartGossipLeave,
    /// Answer the waiters and stop the loop.
    Finish,
}

#[derive(Debug)]
pub struct LeaveSequence {
    phase: LeavePhase,
    /// `node leave` requests to answer when done: (connection, request id).
    waiters: Vec<(ConnectionId, u64)>,
}

impl Default for LeaveSequence {
    fn default() -> Self {
        LeaveSequence {
            phase: LeavePhase::Serving,
            waiters: Vec::new(),
        }
    }
}

impl LeaveSequence {
    pub fn phase(&self) -> LeavePhase {
        self.phase
    }

    pub fn is_leaving(&self) -> bool {
        self.phase != LeavePhase::Serving
    }

    /// Starts the leave (idempotent); `waiter` is answered when it is done.
    /// Returns false when the waiter could not be queued.
    pub fn begin(&mut self, waiter: Option<(ConnectionId, u64)>) -> bool {
        if self.phase == LeavePhase::Serving {
            log::info!(target: "agent", "graceful leave: starting");
            self.phase = LeavePhase::RaftLeave;
        }
        match waiter {
            Some(_) if self.waiters.len() >= MAX_LEAVE_WAITERS => false,
            Some(waiter) => {
                self.waiters.push(waiter);
                true
            }
            None => true,
        }
    }

    /// Moves to the next phase when the current one is done.
    pub fn advance(
        &mut self,
        now: Instant,
        raft_leave_done: bool,
        gossip_leave_done: bool,
    ) -> LeaveStep {
        match self.phase {
            LeavePhase::Serving | LeavePhase::Done => LeaveStep::Nothing,
            LeavePhase::RaftLeave if raft_leave_done => {
                self.phase = LeavePhase::GossipLeave {
                    deadline: now + GOSSIP_LEAVE_TIMEOUT,
                };
                LeaveStep::StartGossipLeave
            }
            LeavePhase::RaftLeave => LeaveStep::Nothing,
            LeavePhase::GossipLeave { deadline } => {
                if !gossip_leave_done && now < deadline {
                    return LeaveStep::Nothing;
                }
                if !gossip_leave_done {
                    log::warn!(target: "agent",
                        "graceful leave: the leave broadcast did not finish spreading in time");
                }
                self.phase = LeavePhase::Done;
                LeaveStep::Finish
            }
        }
    }

    pub fn take_waiters(&mut self) -> Vec<(ConnectionId, u64)> {
        std::mem::take(&mut self.waiters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gossip_leave_starts_only_after_the_raft_phase_is_done() {
        let t0 = Instant::now();
        let mut leave = LeaveSequence::default();
        assert_eq!(leave.advance(t0, true, true), LeaveStep::Nothing);
        assert!(leave.begin(Some((ConnectionId(3), 7))));
        assert_eq!(leave.advance(t0, false, false), LeaveStep::Nothing);
        assert_eq!(leave.advance(t0, true, false), LeaveStep::StartGossipLeave);
        assert_eq!(leave.advance(t0, true, false), LeaveStep::Nothing);
        assert_eq!(leave.advance(t0, true, true), LeaveStep::Finish);
        assert_eq!(leave.take_waiters(), vec![(ConnectionId(3), 7)]);
        assert_eq!(leave.phase(), LeavePhase::Done);
    }

    #[test]
    fn gossip_leave_finishes_at_its_deadline_even_if_not_spread() {
        let t0 = Instant::now();
        let mut leave = LeaveSequence::default();
        leave.begin(None);
        assert_eq!(leave.advance(t0, true, false), LeaveStep::StartGossipLeave);
        assert_eq!(
            leave.advance(t0 + GOSSIP_LEAVE_TIMEOUT, true, false),
            LeaveStep::Finish
        );
    }
}
