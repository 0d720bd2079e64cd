//! The Raft core: a pure, deterministic state machine. No sockets, files,
//! clocks, threads or global randomness: inputs in, a batch of effects out
//! (etcd's Ready pattern, see [`ready`]).
//!
//! Inputs: [`RaftNode::step`] (a peer's message), [`RaftNode::tick`],
//! [`RaftNode::propose`], [`RaftNode::read_index`], membership changes,
//! [`RaftNode::transfer_leadership`], [`RaftNode::advance`] (the previous
//! Ready is durable and applied), [`RaftNode::snapshot_taken`] and
//! [`RaftNode::send_snapshot_chunk`].

pub mod config;
mod election;
pub mod entry_chunks;
pub mod error;
pub mod event;
mod follower;
pub mod hard_state;
mod invariants;
mod leader;
mod lease;
mod log;
mod membership;
pub mod node;
pub mod progress;
mod read_index;
pub mod ready;
mod snapshot;
pub mod status;
mod transfer;

#[cfg(test)]
mod tests;

pub use crate::deterministic_rng::SplitMix64;
pub use config::RaftConfig;
pub use entry_chunks::{CompactedEntries, EntryChunks};
pub use error::{
    MembershipError, ProposeError, ReadError, RestoreError, SnapshotError, TransferError,
};
pub use event::RaftEvent;
pub use hard_state::HardState;
pub use node::{MAX_LOG_INDEX, MAX_TERM, RaftNode, Role};
pub use progress::ReplicationState;
pub use ready::{
    ReadState, Ready, ReceivedSnapshotChunk, RestoredState, SnapshotChunk, SnapshotChunkRequest,
    SnapshotMeta,
};
pub use status::{PeerStatus, Status};
