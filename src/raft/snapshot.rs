//! Log compaction (paper §7) and the leader's side of InstallSnapshot: the
//! snapshot bytes live in the agent's file, so the core asks for chunks.

use crate::wire::raft_message::{NodeId, RaftBody};

use super::entry_chunks::CompactedEntries;
use super::error::SnapshotError;
use super::event::RaftEvent;
use super::node::{RaftNode, Role};
use super::progress::ReplicationState;
use super::ready::{SnapshotChunk, SnapshotMeta};

impl RaftNode {
    /// The header of a snapshot at `index`: its term and the configuration
    /// in effect there. `None` if the index is not in the log.
    pub fn snapshot_meta(&self, index: u64) -> Option<SnapshotMeta> {
        if index > self.log.applied {
            return None;
        }
        Some(SnapshotMeta {
            index,
            term: self.log.term(index)?,
            configuration: self.log.configuration_at(index),
        })
    }

    /// The agent wrote a state machine snapshot through `index`: forget the
    /// log before it. Transfers of an older snapshot restart with this one.
    /// Returns the forgotten entries, for the caller to free where a pause
    /// does not matter.
    pub fn snapshot_taken(&mut self, index: u64) -> Result<CompactedEntries, SnapshotError> {
        if index > self.log.applied {
            return Err(SnapshotError::NotApplied {
                index,
                applied: self.log.applied,
            });
        }
        if index <= self.log.snapshot.index {
            return Err(SnapshotError::AlreadyCompacted {
                index,
                snapshot_index: self.log.snapshot.index,
            });
        }
        let compacted = self.log.compact_through(index);
        self.event(RaftEvent::LogCompacted { through: index });
        if self.role == Role::Leader {
            let restarting: Vec<NodeId> = self
                .progress
                .iter()
                .filter(|(_, p)| matches!(p.state, ReplicationState::Snapshot(_)))
                .map(|(&id, _)| id)
                .collect();
            for id in restarting {
                if let Some(progress) = self.progress.get_mut(&id) {
                    progress.become_probe();
                }
                self.send_append(id);
            }
        }
        Ok(compacted)
    }

    /// The agent's answer to a chunk request: becomes an InstallSnapshot.
    pub fn send_snapshot_chunk(&mut self, chunk: SnapshotChunk) -> Result<(), SnapshotError> {
        if self.role != Role::Leader || chunk.snapshot_index != self.log.snapshot.index {
            return Err(SnapshotError::UnexpectedChunk);
        }
        let Some(progress) = self.progress.get_mut(&chunk.to) else {
            return Err(SnapshotError::UnexpectedChunk);
        };
        let ReplicationState::Snapshot(transfer) = &mut progress.state else {
            return Err(SnapshotError::UnexpectedChunk);
        };
        if transfer.snapshot_index != chunk.snapshot_index || transfer.next_offset != chunk.offset {
            return Err(SnapshotError::UnexpectedChunk);
        }
        transfer.total_size_bytes = Some(chunk.total_size_bytes);
        transfer.waiting_ticks = 0;
        let body = RaftBody::InstallSnapshot {
            last_included_index: self.log.snapshot.index,
            last_included_term: self.log.snapshot.term,
            configuration: self.log.snapshot.configuration.clone(),
            total_size_bytes: chunk.total_size_bytes,
            offset: chunk.offset,
            data: chunk.data,
            done: chunk.done,
        };
        self.send(chunk.to, body);
        Ok(())
    }

    pub(crate) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        last_included_index: u64,
        next_offset: u64,
        success: bool,
    ) {
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        let ReplicationState::Snapshot(transfer) = &mut progress.state else {
            return;
        };
        if transfer.snapshot_index != last_included_index {
            return;
        }
        let total = transfer.total_size_bytes;
        if success && total.is_some_and(|total| next_offset >= total) {
            // Committed entries through the snapshot are the follower's now.
            progress.acknowledge(last_included_index);
            progress.become_probe();
            self.maybe_commit();
            self.maybe_promote(from);
            self.send_append(from);
            return;
        }
        // An offset is only meaningful against a known size: before the
        // first chunk went out, the follower cannot have received anything,
        // and forwarding its offset would ask the agent for arbitrary bytes.
        // The outstanding request (re-sent on timeout) is still awaited.
        match total {
            None => return,
            Some(total) if next_offset > total => return,
            Some(_) => {}
        }
        transfer.next_offset = next_offset;
        transfer.waiting_ticks = 0;
        let snapshot_index = transfer.snapshot_index;
        self.request_chunk(from, snapshot_index, next_offset);
    }
}
