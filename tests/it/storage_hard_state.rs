//! The hard state is one record replaced atomically: a crash at any point of
//! a save leaves the old state or the new one, whole.

use std::fs;

use crate::support::scratch::ScratchDir;
use concord::raft::HardState;
use concord::storage::HardStateStore;
use concord::storage::hard_state_store::encode_hard_state;

fn state(term: u64, vote: Option<u64>) -> HardState {
    HardState {
        current_term: term,
        voted_for: vote,
        commit_index: term * 10,
        cluster_id: 0xabcdef,
    }
}

#[test]
fn a_fresh_directory_has_no_hard_state() {
    let dir = ScratchDir::new("hs-fresh");
    let (_, loaded) = HardStateStore::open(dir.path()).unwrap();
    assert_eq!(loaded, None);
}

#[test]
fn saved_hard_state_survives_reopen() {
    let dir = ScratchDir::new("hs-save");
    let (mut store, _) = HardStateStore::open(dir.path()).unwrap();
    store.save(&state(3, Some(2))).unwrap();
    store.save(&state(4, None)).unwrap();
    drop(store);
    let (_, loaded) = HardStateStore::open(dir.path()).unwrap();
    assert_eq!(loaded, Some(state(4, None)));
}

#[test]
fn crash_between_temporary_write_and_rename_leaves_the_old_state() {
    let dir = ScratchDir::new("hs-crash");
    let (mut store, _) = HardStateStore::open(dir.path()).unwrap();
    store.save(&state(7, Some(1))).unwrap();
    drop(store);
    let temporary = dir.path().join("hard_state.tmp");
    let new = encode_hard_state(&state(8, Some(3)));
    // A crash mid-write (partial temporary file) and a crash after the write
    // but before the rename (whole temporary file) both keep term 7's vote.
    for written in [0, 1, 20, new.len() - 1, new.len()] {
        fs::write(&temporary, &new[..written]).unwrap();
        let (_, loaded) = HardStateStore::open(dir.path()).unwrap();
        assert_eq!(
            loaded,
            Some(state(7, Some(1))),
            "temporary of {written} bytes"
        );
        assert!(!temporary.exists(), "the leftover is removed");
    }
}

#[test]
fn a_damaged_hard_state_is_an_error_not_a_blank_state() {
    let dir = ScratchDir::new("hs-damaged");
    let (mut store, _) = HardStateStore::open(dir.path()).unwrap();
    store.save(&state(5, Some(9))).unwrap();
    let path = store.path().to_path_buf();
    drop(store);
    let mut bytes = fs::read(&path).unwrap();
    bytes[20] ^= 1;
    fs::write(&path, bytes).unwrap();
    let error = HardStateStore::open(dir.path()).expect_err("damaged state accepted");
    assert!(error.is_corruption(), "{error}");
    fs::write(&path, b"short").unwrap();
    assert!(
        HardStateStore::open(dir.path())
            .unwrap_err()
            .is_corruption()
    );
}
