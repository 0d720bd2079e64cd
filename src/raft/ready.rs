//! The batch of effects the agent carries out (etcd's Ready pattern).
//!
//! The agent handles a `Ready` in this order, then calls
//! [`super::RaftNode::advance`]:
//! 1. send `messages` (they may go before the disk write);
//! 2. write `snapshot_chunks` into the staging file;
//! 3. if `snapshot_to_install` is set, make the staged snapshot file the
//!    current snapshot, drop the log entries through its index (later ones
//!    stay unless `truncate_after` drops them) and restore the state
//!    machine from it;
//! 4. truncate the log after `truncate_after`, append `entries`, write
//!    `hard_state`, and fsync (one fsync for the batch);
//! 5. only then send `messages_after_persist` (vote grants and
//!    acknowledgements promise durable state, paper Figure 2);
//! 6. apply `committed_entries`, answer `reads` and `failed_reads`, serve
//!    `snapshot_chunk_requests` with `send_snapshot_chunk`, log `events`.

use crate::wire::raft_message::{Configuration, Entry, NodeId, RaftMessage};

use super::event::RaftEvent;
use super::hard_state::HardState;

/// What a snapshot file's header holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    pub index: u64,
    pub term: u64,
    pub configuration: Configuration,
}

/// What storage recovered at start-up.
#[derive(Debug, Clone, Default)]
pub struct RestoredState {
    pub hard_state: Option<HardState>,
    pub snapshot: Option<SnapshotMeta>,
    /// The log entries after the snapshot, in order.
    pub entries: Vec<Entry>,
}

impl RestoredState {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.entries.is_empty()
            && self
                .hard_state
                .is_none_or(|hs| hs.current_term == 0 && hs.cluster_id == 0)
    }
}

/// A read that is now linearizable to serve from the local state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadState {
    pub request_id: u64,
    pub index: u64,
}

/// The leader asks the agent for bytes of its current snapshot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotChunkRequest {
    pub to: NodeId,
    pub snapshot_index: u64,
    pub offset: u64,
    pub max_bytes: u64,
}

/// The agent's answer to a [`SnapshotChunkRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotChunk {
    pub to: NodeId,
    pub snapshot_index: u64,
    pub offset: u64,
    pub total_size_bytes: u64,
    pub data: Vec<u8>,
    pub done: bool,
}

/// A chunk a follower received: write `data` at `offset` of the staging file
/// for `snapshot_index` (offset 0 starts a new staging file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedSnapshotChunk {
    pub snapshot_index: u64,
    pub offset: u64,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Ready {
    pub hard_state: Option<HardState>,
    /// Drop every log entry after this index before appending `entries`.
    pub truncate_after: Option<u64>,
    pub entries: Vec<Entry>,
    pub snapshot_to_install: Option<SnapshotMeta>,
    pub snapshot_chunks: Vec<ReceivedSnapshotChunk>,
    pub messages: Vec<RaftMessage>,
    pub messages_after_persist: Vec<RaftMessage>,
    pub committed_entries: Vec<Entry>,
    pub snapshot_chunk_requests: Vec<SnapshotChunkRequest>,
    pub reads: Vec<ReadState>,
    /// Reads that will never be confirmed (leadership lost): retry elsewhere.
    pub failed_reads: Vec<u64>,
    pub events: Vec<RaftEvent>,
    /// (index, term) of the last log entry this Ready makes durable.
    pub(crate) persisted_through: Option<(u64, u64)>,
    pub(crate) applied_through: u64,
}
