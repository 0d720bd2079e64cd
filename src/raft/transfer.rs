//! Leadership transfer (dissertation §3.10): the leader stops taking
//! proposals, brings the target up to date, then tells it to campaign now.

use crate::wire::raft_message::{NodeId, RaftBody};

use super::error::TransferError;
use super::event::RaftEvent;
use super::node::{RaftNode, Role};

impl RaftNode {
    /// Hands leadership to `target`, or to the most up-to-date other voter.
    /// Returns the chosen target. The transfer is abandoned after an
    /// election timeout.
    pub fn transfer_leadership(&mut self, target: Option<NodeId>) -> Result<NodeId, TransferError> {
        if self.role != Role::Leader {
            return Err(TransferError::NotLeader {
                leader: self.leader,
            });
        }
        if self.lead_transferee.is_some() {
            return Err(TransferError::AlreadyTransferring);
        }
        let target = match target {
            Some(id) if id == self.id || !self.is_voter(id) || !self.progress.contains_key(&id) => {
                return Err(TransferError::TargetNotVoter);
            }
            Some(id) => id,
            None => self
                .voters()
                .into_iter()
                .filter(|id| *id != self.id)
                .filter_map(|id| self.progress.get(&id).map(|p| (p.match_index, id)))
                .max()
                .map(|(_, id)| id)
                .ok_or(TransferError::NoTarget)?,
        };
        self.lead_transferee = Some(target);
        self.lease.void_for_term();
        self.transfer_elapsed_ticks = 0;
        self.event(RaftEvent::LeadershipTransferStarted { to: target });
        if self.progress[&target].match_index == self.log.last_index() {
            self.send(target, RaftBody::TimeoutNow);
        } else {
            self.send_append(target);
        }
        Ok(target)
    }
}
