//! Linearizable reads without a log write (dissertation §6.4, ReadIndex):
//! record the commit index, confirm leadership with a quorum heartbeat
//! round, serve once the state machine applied that index.

use super::error::ReadError;
use super::node::{RaftNode, Role};
use super::ready::ReadState;
use crate::wire::raft_message::NodeId;

#[derive(Debug, Clone)]
pub(crate) struct PendingRead {
    pub request_id: u64,
    /// Assigned once the leader committed an entry of its term: before
    /// that its commit index may trail the cluster's (§6.4 step 1).
    pub index: Option<u64>,
    /// The heartbeat round whose quorum acknowledgement confirms leadership.
    pub round: u64,
    pub confirmed: bool,
}

impl RaftNode {
    pub fn read_index(&mut self, request_id: u64) -> Result<(), ReadError> {
        if self.role != Role::Leader {
            return Err(ReadError::NotLeader {
                leader: self.leader,
            });
        }
        if self.pending_reads.len() >= self.config.max_pending_reads {
            return Err(ReadError::TooManyReads);
        }
        self.read_round += 1;
        let index = (self.log.commit >= self.term_start_index).then_some(self.log.commit);
        // A single voter is its own quorum.
        let confirmed = self.voters() == [self.id] || self.lease_holds();
        self.pending_reads.push_back(PendingRead {
            request_id,
            index,
            round: self.read_round,
            confirmed,
        });
        if !confirmed {
            self.read_heartbeat_pending = true;
        }
        Ok(())
    }

    pub(crate) fn assign_read_indexes(&mut self) {
        if self.log.commit < self.term_start_index {
            return;
        }
        let commit = self.log.commit;
        for read in self.pending_reads.iter_mut() {
            if read.index.is_none() {
                read.index = Some(commit);
            }
        }
    }

    /// The agent's clock, read just before a read is asked for (see
    /// `lease.rs`). A clock that goes back is taken as standing still.
    pub fn set_clock_ms(&mut self, now_ms: u64) {
        self.clock_ms = self.clock_ms.max(now_ms);
    }

    fn lease_holds(&self) -> bool {
        self.config.lease_reads
            && self.lead_transferee.is_none()
            && self.lease.holds_at(self.clock_ms)
    }

    /// The newest round a quorum of voters acknowledged (this leader
    /// acknowledges every round it sent).
    fn quorum_acknowledged_round(&self, voters: &[NodeId]) -> u64 {
        let mut acked: Vec<u64> = voters
            .iter()
            .map(|id| match *id == self.id {
                true => self.read_round,
                false => self.progress.get(id).map_or(0, |p| p.read_round_acked),
            })
            .collect();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked.get(self.quorum() - 1).copied().unwrap_or(0)
    }

    /// Marks reads whose round a quorum of voters acknowledged, and
    /// extends the lease.
    pub(crate) fn confirm_reads(&mut self) {
        let voters = self.voters();
        let quorum = self.quorum();
        if self.config.lease_reads {
            let round = self.quorum_acknowledged_round(&voters);
            self.lease
                .quorum_acknowledged(round, self.config.lease_duration_ms);
        }
        let self_counts = usize::from(voters.contains(&self.id));
        for read in self.pending_reads.iter_mut().filter(|r| !r.confirmed) {
            let acks = voters
                .iter()
                .filter(|id| {
                    self.progress
                        .get(id)
                        .is_some_and(|p| p.read_round_acked >= read.round)
                })
                .count();
            if acks + self_counts >= quorum {
                read.confirmed = true;
            }
        }
    }

    fn servable(read: &PendingRead, applied: u64) -> bool {
        read.confirmed && read.index.is_some_and(|index| index <= applied)
    }

    pub(crate) fn has_servable_reads(&self) -> bool {
        let applied = self.log.applied;
        self.pending_reads
            .iter()
            .any(|r| Self::servable(r, applied))
    }

    pub(crate) fn take_servable_reads(&mut self) -> Vec<ReadState> {
        let applied = self.log.applied;
        let mut out = Vec::new();
        self.pending_reads.retain(|read| {
            if Self::servable(read, applied) {
                out.push(ReadState {
                    request_id: read.request_id,
                    index: read.index.expect("servable reads have an index"),
                });
                false
            } else {
                true
            }
        });
        out
    }
}
