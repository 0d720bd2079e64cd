//! Raft peer messages (connection purpose `RAFT`). Every message carries the
//! sender's cluster ID so two clusters can never merge by accident.
//!
//! The layout of each message is defined here and in `wire-spec.md`; the
//! encode/decode functions live beside the types.

/// A server's Raft identity: random, created once per data directory.
pub type NodeId = u64;

/// Random 128-bit ID created at bootstrap; 0 means "none yet" (a server that
/// has never been bootstrapped nor added).
pub type ClusterId = u128;

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct RaftMessage {
    pub cluster_id: ClusterId,
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's current term.
    pub term: u64,
    pub body: RaftBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum RaftBody {
    /// RequestVote, or a Pre-Vote (dissertation §9.6) when `pre_vote` is set:
    /// `term` is then the term the candidate would campaign in.
    RequestVote {
        pre_vote: bool,
        last_log_index: u64,
        last_log_term: u64,
        /// Set when the election follows a TimeoutNow, so voters skip the
        /// "I heard from a leader recently" check.
        leadership_transfer: bool,
    },
    RequestVoteResponse {
        pre_vote: bool,
        granted: bool,
    },
    AppendEntries {
        prev_log_index: u64,
        prev_log_term: u64,
        leader_commit: u64,
        /// ReadIndex round the leader is confirming, echoed in the response;
        /// 0 when none.
        read_round: u64,
        entries: Vec<Entry>,
    },
    AppendEntriesResponse {
        success: bool,
        /// On success, the index of the last entry the follower now matches.
        /// On failure, the follower's last log index.
        last_log_index: u64,
        /// Fast backtracking: on failure, the term of the conflicting entry
        /// (0 if the follower's log is too short) and the first index the
        /// follower holds for that term.
        conflict_term: u64,
        conflict_index: u64,
        read_round: u64,
    },
    /// One chunk of a snapshot. The receiver reassembles chunks by offset.
    InstallSnapshot {
        last_included_index: u64,
        last_included_term: u64,
        configuration: Configuration,
        total_size_bytes: u64,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    },
    InstallSnapshotResponse {
        last_included_index: u64,
        /// The offset the follower expects next (the sum of what it holds).
        next_offset: u64,
        /// False when the chunk was refused (wrong offset, stale snapshot).
        success: bool,
    },
    /// Leadership transfer: campaign now, without waiting for a timeout.
    TimeoutNow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum EntryKind {
    /// A state machine command; `data` is opaque to Raft.
    Command,
    /// The entry a new leader appends at the start of its term.
    Noop,
    /// `data` is an encoded [`Configuration`]; takes effect when appended.
    Configuration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub kind: EntryKind,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Suffrage {
    Voter,
    /// Receives the log but neither votes nor counts toward commit: a joining
    /// server until it has caught up.
    NonVoter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServerEntry {
    pub id: NodeId,
    /// Node name, as shown by `node peers`.
    pub name: String,
    /// `IP:PORT` of the server's peer port.
    pub address: String,
    pub suffrage: Suffrage,
}

/// The cluster membership at some log index.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Configuration {
    pub servers: Vec<ServerEntry>,
}
