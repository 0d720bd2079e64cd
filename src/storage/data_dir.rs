//! The data directory and its lock. Two processes writing one Raft log would
//! each believe its own tail, so a second open fails with
//! [`StorageError::Locked`] instead of corrupting the first.
//!
//! Layout:
//! ```text
//! DATA_DIR/LOCK                      flock'd while a DataDir is open
//! DATA_DIR/raft/segment-*.log        log segments     (raft_log.rs)
//! DATA_DIR/raft/segment-*.idx        sealed-segment indexes
//! DATA_DIR/raft/log_start            first index and the term before it
//! DATA_DIR/raft/hard_state           term, vote, commit index, cluster ID
//! DATA_DIR/raft/snapshots/*.snap     snapshots        (snapshot_store.rs)
//! ```

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use super::error::{IoContext, Result, StorageError};

pub const LOCK_FILE_NAME: &str = "LOCK";
pub const RAFT_DIR_NAME: &str = "raft";
pub const SNAPSHOTS_DIR_NAME: &str = "snapshots";

#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Held for the life of the DataDir; the flock is released when the file
    /// closes (including when the process dies, so a crash never leaves a
    /// stale lock behind).
    _lock_file: File,
}

impl DataDir {
    /// Creates the directory tree if needed and takes the exclusive lock.
    pub fn open(path: impl AsRef<Path>) -> Result<DataDir> {
        let path = path.as_ref().to_path_buf();
        let snapshots = path.join(RAFT_DIR_NAME).join(SNAPSHOTS_DIR_NAME);
        fs::create_dir_all(&snapshots).at(&snapshots)?;
        let lock_path = path.join(LOCK_FILE_NAME);
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .at(&lock_path)?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StorageError::Locked { path: lock_path }),
            Err(TryLockError::Error(source)) => return Err(StorageError::io(&lock_path, source)),
        }
        Ok(DataDir {
            path,
            _lock_file: lock_file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where [`super::RaftLog`] and [`super::HardStateStore`] keep their files.
    pub fn raft_dir(&self) -> PathBuf {
        self.path.join(RAFT_DIR_NAME)
    }

    /// Where [`super::SnapshotStore`] keeps its files.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.raft_dir().join(SNAPSHOTS_DIR_NAME)
    }
}
