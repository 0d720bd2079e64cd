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
