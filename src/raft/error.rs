//! Why a request to the core was refused.

use std::fmt;

use crate::wire::raft_message::NodeId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposeError {
    /// Only the leader accepts proposals; `leader` is the last known one.
    NotLeader { leader: Option<NodeId> },
    /// The leader holds `max_uncommitted_entries` beyond its commit index.
    QueueFull,
    /// A leadership transfer is in progress: the target is catching up.
    TransferInProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    NotLeader {
        leader: Option<NodeId>,
    },
    /// `max_pending_reads` reads are waiting already.
    TooManyReads,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipError {
    NotLeader {
        leader: Option<NodeId>,
    },
    /// Dissertation §4.1: one change at a time, and a new leader first
    /// commits an entry of its own term (the bug fixed in §4.1's erratum).
    ChangeInProgress,
    AlreadyMember,
    NotMember,
    /// The change would leave the cluster without a voter.
    LastVoter,
    TransferInProgress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    NotLeader {
        leader: Option<NodeId>,
    },
    /// No other voter to hand leadership to.
    NoTarget,
    /// The requested target is not a voter in the latest configuration.
    TargetNotVoter,
    AlreadyTransferring,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The state machine has not applied the index yet.
    NotApplied { index: u64, applied: u64 },
    /// The log is already compacted through the index.
    AlreadyCompacted { index: u64, snapshot_index: u64 },
    /// A chunk that answers no outstanding request.
    UnexpectedChunk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreError {
    /// Entries handed in do not follow the snapshot one by one.
    NonContiguousEntries { expected: u64, found: u64 },
    /// An entry's term is lower than its predecessor's.
    BadEntryTerm { index: u64, term: u64 },
    /// A configuration entry whose bytes do not decode.
    BadConfigurationEntry { index: u64 },
    /// The commit index points past the recovered log.
    CommitBeyondLog { commit: u64, last_index: u64 },
    /// A term above `MAX_TERM` (in the hard state, snapshot or log).
    TermTooLarge { term: u64 },
    /// A snapshot index above `MAX_LOG_INDEX`.
    IndexTooLarge { index: u64 },
}

macro_rules! display_via_debug {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
        impl std::error::Error for $ty {}
    )*};
}

display_via_debug!(
    ProposeError,
    ReadError,
    MembershipError,
    TransferError,
    SnapshotError,
    RestoreError
);
