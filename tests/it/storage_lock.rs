//! One process per data directory: a second open gets a typed error. flock
//! locks belong to an open file description, so two opens in one process
//! contend exactly like two processes.

use crate::support::scratch::ScratchDir;
use concord::storage::{DataDir, StorageError};

#[test]
fn second_open_of_a_locked_data_dir_fails_with_locked() {
    let dir = ScratchDir::new("lock");
    let first = DataDir::open(dir.path()).unwrap();
    match DataDir::open(dir.path()) {
        Err(StorageError::Locked { path }) => {
            assert_eq!(path, dir.path().join("LOCK"));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(first.raft_dir().is_dir());
    assert!(first.snapshots_dir().is_dir());
    drop(first);
    // Released with the file: the next open succeeds.
    DataDir::open(dir.path()).unwrap();
}
