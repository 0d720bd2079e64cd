//! The sections of `node info`, built from plain status structs so the
//! integration only has to fill in numbers the Raft node and gossip report.

use crate::wire::client_message::InfoSection;

/// What `node info` shows under `raft:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftInfo {
    /// leader, follower, candidate or non-voter.
    pub state: String,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub last_snapshot_index: u64,
    pub num_peers: usize,
}

/// What `node info` shows under `gossip:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipInfo {
    pub members: usize,
    pub alive: usize,
    pub failed: usize,
    pub left: usize,
    /// Lifeguard local health: 0 is healthy.
    pub health_score: u32,
    /// This agent's own incarnation number.
    pub incarnation: u64,
    /// State changes still to be gossiped.
    pub pending_broadcasts: usize,
}

impl RaftInfo {
    pub fn section(&self) -> InfoSection {
        InfoSection {
            name: "raft".into(),
            fields: vec![
                ("state".into(), self.state.clone()),
                ("term".into(), self.term.to_string()),
                ("commit_index".into(), self.commit_index.to_string()),
                ("applied_index".into(), self.applied_index.to_string()),
                ("last_log_index".into(), self.last_log_index.to_string()),
                (
                    "last_snapshot_index".into(),
                    self.last_snapshot_index.to_string(),
                ),
                ("num_peers".into(), self.num_peers.to_string()),
            ],
        }
    }
}

impl GossipInfo {
    pub fn section(&self) -> InfoSection {
        InfoSection {
            name: "gossip".into(),
            fields: vec![
                ("members".into(), self.members.to_string()),
                ("alive".into(), self.alive.to_string()),
                ("failed".into(), self.failed.to_string()),
                ("left".into(), self.left.to_string()),
                ("health_score".into(), self.health_score.to_string()),
                ("incarnation".into(), self.incarnation.to_string()),
                (
                    "pending_broadcasts".into(),
                    self.pending_broadcasts.to_string(),
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_section_lists_the_documented_fields_in_order() {
        let section = RaftInfo {
            state: "leader".into(),
            term: 3,
            commit_index: 10,
            applied_index: 9,
            last_log_index: 11,
            last_snapshot_index: 0,
            num_peers: 2,
        }
        .section();
        let keys: Vec<&str> = section.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "state",
                "term",
                "commit_index",
                "applied_index",
                "last_log_index",
                "last_snapshot_index",
                "num_peers"
            ]
        );
        assert_eq!(section.fields[1].1, "3");
    }
}
