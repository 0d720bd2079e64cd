//! A read-only summary of the node for `node peers`, metrics and tests.

use crate::wire::raft_message::{ClusterId, Configuration, NodeId};

use super::node::Role;
use super::progress::ReplicationState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub id: NodeId,
    pub match_index: u64,
    pub next_index: u64,
    pub state: ReplicationState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub cluster_id: ClusterId,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub last_log_term: u64,
    pub snapshot_index: u64,
    pub configuration: Configuration,
    /// Leader only: replication progress of each other server.
    pub peers: Vec<PeerStatus>,
}

impl super::node::RaftNode {
    /// The log index of the latest configuration's entry.
    pub fn latest_configuration_index(&self) -> u64 {
        self.log.latest_configuration().0
    }

    /// The last log index this node knows `id` to hold: its own last index
    /// for itself, a follower's match index on the leader, 0 otherwise.
    pub fn known_last_index(&self, id: NodeId) -> u64 {
        if id == self.id {
            return self.log.last_index();
        }
        match self.role {
            Role::Leader => self.progress.get(&id).map_or(0, |p| p.match_index),
            _ => 0,
        }
    }
}
