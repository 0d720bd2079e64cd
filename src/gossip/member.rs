//! A member as this node sees it.

use crate::wire::gossip_message::{MemberState, MemberStatus, Tags};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub address: String,
    pub incarnation: u64,
    pub status: MemberStatus,
    pub tags: Tags,
    /// When `status` last changed, in the caller's `now_ms` clock.
    pub status_changed_ms: u64,
}

impl Member {
    /// Alive or suspect: still counted as a member of the cluster.
    pub fn is_live(&self) -> bool {
        matches!(self.status, MemberStatus::Alive | MemberStatus::Suspect)
    }

    pub fn to_state(&self) -> MemberState {
        MemberState {
            name: self.name.clone(),
            address: self.address.clone(),
            incarnation: self.incarnation,
            status: self.status,
            tags: self.tags.clone(),
        }
    }
}
