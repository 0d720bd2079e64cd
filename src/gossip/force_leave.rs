//! Consul's `force-leave` (Serf's `RemoveFailedNode`): the operator says a
//! failed member is gone for good, so it moves from failed to left. The
//! leader then deregisters it and, for a server, removes it from Raft at
//! once instead of after the failed-server grace; everybody stops probing
//! it. A member that is in fact alive refutes the claim and comes back, so
//! only a failed member is accepted: forcing out a live one would cost the
//! cluster a server and be undone a moment later.

use super::membership::{Departure, Gossip};
use crate::wire::gossip_message::MemberStatus;

/// Why a force-leave was refused; the text is what the operator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceLeaveRefusal {
    /// Consul's answer for a name it does not know.
    UnknownNode(String),
    LocalNode(String),
    /// Alive or suspect: not (yet) failed.
    NotFailed {
        name: String,
        status: MemberStatus,
    },
}

impl std::fmt::Display for ForceLeaveRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForceLeaveRefusal::UnknownNode(name) => {
                write!(f, "agent: No node found with name '{name}'")
            }
            ForceLeaveRefusal::LocalNode(name) => write!(
                f,
                "agent: '{name}' is this agent; use leave for a graceful leave"
            ),
            ForceLeaveRefusal::NotFailed { name, status } => write!(
                f,
                "agent: node '{name}' is {}, not failed; only a failed node can be forced to leave",
                status_word(*status)
            ),
        }
    }
}

fn status_word(status: MemberStatus) -> &'static str {
    match status {
        MemberStatus::Alive => "alive",
        MemberStatus::Suspect => "suspect",
        MemberStatus::Dead => "failed",
        MemberStatus::Left => "left",
    }
}

impl Gossip {
    /// Marks the failed member `name` as left and spreads the news. With
    /// `prune` it also leaves this agent's member table at once (the others
    /// reap it after their left-member timeout). A member that already left
    /// is a success that changes nothing, unless pruned.
    pub fn force_leave(
        &mut self,
        name: &str,
        prune: bool,
        now_ms: u64,
    ) -> Result<(), ForceLeaveRefusal> {
        if name == self.config.name {
            return Err(ForceLeaveRefusal::LocalNode(name.to_owned()));
        }
        let Some(member) = self.members.get(name) else {
            return Err(ForceLeaveRefusal::UnknownNode(name.to_owned()));
        };
        let (status, incarnation) = (member.status, member.incarnation);
        match status {
            MemberStatus::Alive | MemberStatus::Suspect => {
                return Err(ForceLeaveRefusal::NotFailed {
                    name: name.to_owned(),
                    status,
                });
            }
            MemberStatus::Dead => {
                let local = self.config.name.clone();
                self.on_departure(incarnation, name, &local, Departure::Left, now_ms);
            }
            MemberStatus::Left => {}
        }
        debug_assert_eq!(
            self.members.get(name).map(|m| m.status),
            Some(MemberStatus::Left)
        );
        if prune {
            self.reap_member(name);
        }
        Ok(())
    }
}
