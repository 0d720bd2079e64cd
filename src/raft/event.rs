//! What the core reports for the agent to log. Each event's Display is the
//! operator's line, worded as hashicorp/raft words it so Consul operators
//! recognise it.

use std::fmt;

use crate::wire::raft_message::{ClusterId, NodeId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaftEvent {
    /// `bootstrap()` on a node that already has Raft state.
    BootstrapIgnored,
    /// Election timeout on a node that has no configuration at all.
    NoKnownPeers,
    ElectionTimeout {
        term: u64,
    },
    EnteringCandidateState {
        term: u64,
    },
    EnteringFollowerState {
        term: u64,
        leader: Option<NodeId>,
    },
    ElectionWon {
        tally: usize,
    },
    EnteringLeaderState {
        term: u64,
    },
    LeadershipAcquired,
    LeadershipLost,
    /// CheckQuorum: the leader heard from too few voters.
    QuorumLost {
        active_voters: usize,
        quorum: usize,
    },
    PeerAdded {
        id: NodeId,
        address: String,
    },
    PeerRemoved {
        id: NodeId,
        address: String,
    },
    PromotedToVoter {
        id: NodeId,
        address: String,
    },
    /// The leader's own removal committed.
    RemovedSelf,
    ClusterIdRefused {
        from: NodeId,
        theirs: ClusterId,
        ours: ClusterId,
    },
    ClusterIdAdopted {
        cluster_id: ClusterId,
        leader: NodeId,
    },
    LeadershipTransferStarted {
        to: NodeId,
    },
    LeadershipTransferTimedOut {
        to: NodeId,
    },
    TimeoutNowReceived {
        from: NodeId,
    },
    SnapshotInstalled {
        index: u64,
        term: u64,
    },
    LogCompacted {
        through: u64,
    },
    /// The node reached MAX_TERM and will not campaign again.
    TermExhausted {
        term: u64,
    },
    /// A peer's message broke a protocol rule (malformed entries, an attempt
    /// to overwrite a committed entry); it was dropped.
    InvalidMessage {
        from: NodeId,
        reason: &'static str,
    },
}

impl RaftEvent {
    pub fn level(&self) -> log::Level {
        use RaftEvent::*;
        match self {
            NoKnownPeers
            | ElectionTimeout { .. }
            | QuorumLost { .. }
            | ClusterIdRefused { .. }
            | LeadershipTransferTimedOut { .. } => log::Level::Warn,
            InvalidMessage { .. } | TermExhausted { .. } => log::Level::Error,
            _ => log::Level::Info,
        }
    }
}

impl fmt::Display for RaftEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RaftEvent::*;
        match self {
            BootstrapIgnored => write!(f, "Raft data found, disabling bootstrap mode"),
            NoKnownPeers => write!(
                f,
                "EnableSingleNode disabled, and no known peers. Aborting election."
            ),
            ElectionTimeout { term } => {
                write!(
                    f,
                    "heartbeat timeout reached, starting election: term={term}"
                )
            }
            EnteringCandidateState { term } => write!(f, "entering candidate state: term={term}"),
            EnteringFollowerState { term, leader } => match leader {
                Some(leader) => write!(
                    f,
                    "entering follower state: term={term} leader={leader:016x}"
                ),
                None => write!(f, "entering follower state: term={term} leader="),
            },
            ElectionWon { tally } => write!(f, "Election won. Tally: {tally}"),
            EnteringLeaderState { term } => write!(f, "entering leader state: term={term}"),
            LeadershipAcquired => write!(f, "cluster leadership acquired"),
            LeadershipLost => write!(f, "cluster leadership lost"),
            QuorumLost {
                active_voters,
                quorum,
            } => write!(
                f,
                "failed to contact quorum of nodes, stepping down: active={active_voters} quorum={quorum}"
            ),
            PeerAdded { address, .. } => write!(f, "Added peer {address}, starting replication"),
            PeerRemoved { address, .. } => {
                write!(f, "Removed peer {address}, stopping replication")
            }
            PromotedToVoter { address, .. } => write!(f, "promoting non-voter {address} to voter"),
            RemovedSelf => write!(f, "removed ourself, transitioning to follower"),
            ClusterIdRefused { from, theirs, ours } => write!(
                f,
                "refused message from {from:016x}: cluster ID {theirs:032x} is not ours ({ours:032x})"
            ),
            ClusterIdAdopted { cluster_id, leader } => write!(
                f,
                "joined cluster {cluster_id:032x} through leader {leader:016x}"
            ),
            LeadershipTransferStarted { to } => {
                write!(f, "starting leadership transfer: target={to:016x}")
            }
            LeadershipTransferTimedOut { to } => {
                write!(f, "leadership transfer timed out: target={to:016x}")
            }
            TimeoutNowReceived { from } => {
                write!(f, "received TimeoutNow from {from:016x}, starting election")
            }
            SnapshotInstalled { index, term } => {
                write!(f, "Installed remote snapshot: index={index} term={term}")
            }
            LogCompacted { through } => write!(f, "compacting logs: through={through}"),
            TermExhausted { term } => {
                write!(f, "term {term} is the highest allowed, not campaigning")
            }
            InvalidMessage { from, reason } => {
                write!(f, "dropped message from {from:016x}: {reason}")
            }
        }
    }
}
