//! A follower's side of InstallSnapshot: the leader's chunks are streamed
//! into a storage [`SnapshotWriter`] (a temporary file in the snapshots
//! directory) as they arrive, so a large snapshot is never held in memory,
//! let alone twice. When the core says the transfer is complete, the file is
//! finished (fsynced, renamed) and becomes the current snapshot.
//!
//! The core's chunks ([`ReceivedSnapshotChunk`]) carry only the index; the
//! file header needs the term and configuration before the first byte of
//! data, so the InstallSnapshot message that starts a transfer is
//! remembered ([`SnapshotReceiver::on_install_snapshot`]). A snapshot's term
//! and configuration are fixed by its index (the entries through it are
//! committed, Raft's Log Matching property), so the index is the key.

use std::path::PathBuf;

use crate::raft::{ReceivedSnapshotChunk, SnapshotMeta as CoreSnapshotMeta};
use crate::storage::snapshot_store::snapshot_file_name;
use crate::storage::{SnapshotHeader, SnapshotStore, SnapshotWriter, StorageError};
use crate::wire::raft_message::{RaftBody, RaftMessage};

/// The largest snapshot a follower accepts from a leader. A larger one is
/// refused before the core sees it (so the core and the staging file never
/// disagree about what was received).
pub const MAX_RECEIVED_SNAPSHOT_BYTES: u64 = 1 << 30;
/// Transfers started (offset 0) whose first chunk the core has not yet
/// handed over; one per leader is the normal case.
pub const MAX_ANNOUNCED_SNAPSHOTS: usize = 4;

#[derive(Debug)]
pub enum ReceiveError {
    Storage(StorageError),
    /// The core asked to install a snapshot whose bytes are not staged.
    NotStaged(String),
}

impl std::fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiveError::Storage(err) => write!(f, "{err}"),
            ReceiveError::NotStaged(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for ReceiveError {}

impl From<StorageError> for ReceiveError {
    fn from(err: StorageError) -> Self {
        ReceiveError::Storage(err)
    }
}

/// The snapshot being received, written to its staging file.
#[derive(Debug)]
struct Staging {
    meta: SnapshotHeader,
    /// Dropping it unfinished deletes the staging file.
    writer: SnapshotWriter,
}

#[derive(Debug, Default)]
pub struct SnapshotReceiver {
    announced: Vec<SnapshotHeader>,
    staging: Option<Staging>,
}

impl SnapshotReceiver {
    pub fn new() -> SnapshotReceiver {
        SnapshotReceiver::default()
    }

    /// Looks at a Raft message before the core steps it. Returns false when
    /// the message must be dropped: a snapshot larger than
    /// [`MAX_RECEIVED_SNAPSHOT_BYTES`].
    pub fn on_install_snapshot(&mut self, message: &RaftMessage) -> bool {
        let RaftBody::InstallSnapshot {
            last_included_index,
            last_included_term,
            configuration,
            total_size_bytes,
            offset,
            ..
        } = &message.body
        else {
            return true;
        };
        if *total_size_bytes > MAX_RECEIVED_SNAPSHOT_BYTES {
            log::warn!(target: "raft",
                "refusing snapshot {last_included_index} from {:016x}: {total_size_bytes} bytes exceed the limit of {MAX_RECEIVED_SNAPSHOT_BYTES}",
                message.from);
            return false;
        }
        if *offset == 0 {
            self.announced
                .retain(|m| m.last_included_index != *last_included_index);
            if self.announced.len() == MAX_ANNOUNCED_SNAPSHOTS {
                self.announced.remove(0);
            }
            self.announced.push(SnapshotHeader {
                last_included_index: *last_included_index,
                last_included_term: *last_included_term,
                configuration: configuration.clone(),
                size_bytes: *total_size_bytes,
            });
        }
        true
    }

    /// Index of the snapshot being staged, if any.
    pub fn staging_index(&self) -> Option<u64> {
        self.staging.as_ref().map(|s| s.meta.last_included_index)
    }

    /// Drops the transfer in progress and its staging file.
    pub fn abort(&mut self) {
        if let Some(staging) = self.staging.take() {
            log::info!(target: "raft",
                "snapshot {} transfer abandoned after {} bytes",
                staging.meta.last_included_index, staging.writer.written_bytes());
        }
    }

    /// Writes one chunk the core accepted. Offset 0 starts a new staging
    /// file (discarding any other); a chunk that does not continue the
    /// staged one (another snapshot, a gap) abandons the transfer.
    pub fn receive(
        &mut self,
        store: &SnapshotStore,
        chunk: &ReceivedSnapshotChunk,
    ) -> Result<(), ReceiveError> {
        if chunk.offset == 0 {
            // Drop first: the old writer's drop deletes its temporary file,
            // which has the same name when the index is the same.
            self.abort();
            let Some(meta) = self
                .announced
                .iter()
                .find(|m| m.last_included_index == chunk.snapshot_index)
                .cloned()
            else {
                log::warn!(target: "raft",
                    "snapshot {} started without its InstallSnapshot being seen", chunk.snapshot_index);
                return Ok(());
            };
            self.announced
                .retain(|m| m.last_included_index != chunk.snapshot_index);
            let writer = store.create(meta.clone())?;
            self.staging = Some(Staging { meta, writer });
        }
        let Some(staging) = self.staging.as_mut() else {
            return Ok(());
        };
        let written = staging.writer.written_bytes();
        let continues = staging.meta.last_included_index == chunk.snapshot_index
            && written == chunk.offset
            && written
                .checked_add(chunk.data.len() as u64)
                .is_some_and(|end| end <= staging.meta.size_bytes);
        if !continues {
            log::warn!(target: "raft",
                "snapshot chunk at offset {} of snapshot {} does not continue the staged one",
                chunk.offset, chunk.snapshot_index);
            self.abort();
            return Ok(());
        }
        let dir = store.dir().to_path_buf();
        std::io::Write::write_all(&mut staging.writer, &chunk.data)
            .and_then(|()| std::io::Write::flush(&mut staging.writer))
            .map_err(|err| StorageError::io(&dir, err))?;
        Ok(())
    }

    /// Finishes the staged snapshot the core says is complete: fsynced and
    /// renamed into place. Returns the path of the stored snapshot.
    pub fn finish(
        &mut self,
        store: &SnapshotStore,
        meta: &CoreSnapshotMeta,
    ) -> Result<PathBuf, ReceiveError> {
        let writer = self.take_staged(meta)?;
        writer.finish()?;
        Ok(store.dir().join(snapshot_file_name(meta.index, meta.term)))
    }

    /// Hands over the staged snapshot the core says is complete, unfinished,
    /// so its fsync and rename can happen off the loop; fails when what is
    /// staged is not that snapshot.
    pub fn take_staged(&mut self, meta: &CoreSnapshotMeta) -> Result<SnapshotWriter, ReceiveError> {
        let Some(staging) = self.staging.take() else {
            return Err(ReceiveError::NotStaged(format!(
                "asked to install snapshot {} that was not received",
                meta.index
            )));
        };
        let staged = &staging.meta;
        if staged.last_included_index != meta.index
            || staged.last_included_term != meta.term
            || staged.configuration != meta.configuration
        {
            return Err(ReceiveError::NotStaged(format!(
                "asked to install snapshot {} (term {}) but snapshot {} (term {}) is staged",
                meta.index, meta.term, staged.last_included_index, staged.last_included_term
            )));
        }
        Ok(staging.writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state_machine::StateMachine;
    use crate::storage::SnapshotReader;
    use crate::storage::durable_file::temporary_path;
    use crate::wire::command::Command;
    use crate::wire::raft_message::{Configuration, ServerEntry, Suffrage};
    use std::path::Path;

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "concord-snapshot-receiver-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn configuration() -> Configuration {
        Configuration {
            servers: vec![ServerEntry {
                id: 7,
                name: "s1".into(),
                address: "127.0.0.1:1".into(),
                suffrage: Suffrage::Voter,
            }],
        }
    }

    fn install_message(index: u64, total: u64, offset: u64) -> RaftMessage {
        RaftMessage {
            from: 7,
            to: 8,
            term: 3,
            cluster_id: 1,
            body: RaftBody::InstallSnapshot {
                last_included_index: index,
                last_included_term: 2,
                configuration: configuration(),
                total_size_bytes: total,
                offset,
                data: Vec::new(),
                done: false,
            },
        }
    }

    fn chunk(index: u64, offset: u64, data: &[u8]) -> ReceivedSnapshotChunk {
        ReceivedSnapshotChunk {
            snapshot_index: index,
            offset,
            data: data.to_vec(),
        }
    }

    fn staging_file(dir: &Path, index: u64) -> PathBuf {
        temporary_path(&dir.join(snapshot_file_name(index, 2)))
    }

    fn snapshot_bytes(index: u64) -> Vec<u8> {
        let mut state = StateMachine::new();
        for i in 1..=index {
            let data = Command::KvPut {
                key: format!("k{i}"),
                value: vec![i as u8; 100].into(),
                flags: 0,
                cas: None,
            }
            .to_bytes();
            state.apply(i, &data);
        }
        let mut out = Vec::new();
        state.write_snapshot(&mut out).unwrap();
        out
    }

    #[test]
    fn received_chunks_go_to_a_staging_file_as_they_arrive() {
        let dir = fresh_dir("staging");
        let store = SnapshotStore::open(&dir).unwrap();
        let mut receiver = SnapshotReceiver::new();
        assert!(receiver.on_install_snapshot(&install_message(10, 3000, 0)));
        receiver
            .receive(&store, &chunk(10, 0, &[1u8; 1000]))
            .unwrap();
        let header_len = std::fs::metadata(staging_file(&dir, 10)).unwrap().len() - 1000;
        receiver
            .receive(&store, &chunk(10, 1000, &[2u8; 1000]))
            .unwrap();
        let len = std::fs::metadata(staging_file(&dir, 10)).unwrap().len();
        assert_eq!(len, header_len + 2000);
        assert_eq!(receiver.staging_index(), Some(10));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_chunk_out_of_order_discards_the_staging_file() {
        let dir = fresh_dir("gap");
        let store = SnapshotStore::open(&dir).unwrap();
        let mut receiver = SnapshotReceiver::new();
        receiver.on_install_snapshot(&install_message(10, 3000, 0));
        receiver
            .receive(&store, &chunk(10, 0, &[1u8; 100]))
            .unwrap();
        assert!(staging_file(&dir, 10).exists());
        receiver
            .receive(&store, &chunk(10, 500, &[1u8; 100]))
            .unwrap();
        assert!(!staging_file(&dir, 10).exists());
        assert_eq!(receiver.staging_index(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_transfer_replaces_the_abandoned_one() {
        let dir = fresh_dir("replace");
        let store = SnapshotStore::open(&dir).unwrap();
        let mut receiver = SnapshotReceiver::new();
        receiver.on_install_snapshot(&install_message(10, 3000, 0));
        receiver
            .receive(&store, &chunk(10, 0, &[1u8; 100]))
            .unwrap();
        receiver.on_install_snapshot(&install_message(20, 3000, 0));
        receiver
            .receive(&store, &chunk(20, 0, &[1u8; 100]))
            .unwrap();
        assert!(!staging_file(&dir, 10).exists());
        assert!(staging_file(&dir, 20).exists());
        receiver.abort();
        assert!(!staging_file(&dir, 20).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_snapshot_over_the_limit_is_refused_before_the_core_sees_it() {
        let mut receiver = SnapshotReceiver::new();
        assert!(!receiver.on_install_snapshot(&install_message(
            10,
            MAX_RECEIVED_SNAPSHOT_BYTES + 1,
            0
        )));
        assert!(receiver.on_install_snapshot(&install_message(10, MAX_RECEIVED_SNAPSHOT_BYTES, 0)));
    }

    #[test]
    fn a_finished_transfer_is_stored_and_restores_the_state_machine() {
        let dir = fresh_dir("finish");
        let store = SnapshotStore::open(&dir).unwrap();
        let bytes = snapshot_bytes(5);
        let mut receiver = SnapshotReceiver::new();
        receiver.on_install_snapshot(&install_message(5, bytes.len() as u64, 0));
        let (first, second) = bytes.split_at(bytes.len() / 2);
        receiver.receive(&store, &chunk(5, 0, first)).unwrap();
        receiver
            .receive(&store, &chunk(5, first.len() as u64, second))
            .unwrap();
        let meta = CoreSnapshotMeta {
            index: 5,
            term: 2,
            configuration: configuration(),
        };
        let path = receiver.finish(&store, &meta).unwrap();
        assert!(!staging_file(&dir, 5).exists());
        let reader = SnapshotReader::open(&path).unwrap();
        assert_eq!(reader.meta().configuration, configuration());
        let state = StateMachine::restore_snapshot_at(std::io::BufReader::new(reader), 5).unwrap();
        assert_eq!(state.applied_index(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finishing_a_snapshot_that_was_not_staged_is_an_error() {
        let dir = fresh_dir("unstaged");
        let store = SnapshotStore::open(&dir).unwrap();
        let mut receiver = SnapshotReceiver::new();
        let meta = CoreSnapshotMeta {
            index: 5,
            term: 2,
            configuration: configuration(),
        };
        assert!(receiver.finish(&store, &meta).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
