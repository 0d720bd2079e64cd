//! What Raft must have on disk before it answers a vote or an append
//! (paper Figure 2, "persistent state on all servers"), plus the commit index
//! and the cluster ID. `src/storage/` writes it as one atomic record: term and
//! vote are never written separately.

use crate::wire::raft_message::{ClusterId, NodeId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct HardState {
    pub current_term: u64,
    /// The candidate voted for in `current_term`; `None` when no vote was cast.
    pub voted_for: Option<NodeId>,
    pub commit_index: u64,
    /// 0 until the node bootstraps or is added to a cluster.
    pub cluster_id: ClusterId,
}
