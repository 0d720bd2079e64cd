//! Snapshot files: streamed out and back in, chunked reads for
//! InstallSnapshot, atomic publication, pruning to two, and damage detection.

use std::fs;
use std::io::{Read, Write};

use crate::support::scratch::ScratchDir;
use concord::storage::{SnapshotHeader, SnapshotStore, StorageError};
use concord::wire::raft_message::{Configuration, ServerEntry, Suffrage};

fn configuration() -> Configuration {
    Configuration {
        servers: vec![
            ServerEntry {
                id: 1,
                name: "alpha".into(),
                address: "127.0.0.1:8300".into(),
                suffrage: Suffrage::Voter,
            },
            ServerEntry {
                id: 2,
                name: "beta".into(),
                address: "127.0.0.2:8300".into(),
                suffrage: Suffrage::NonVoter,
            },
        ],
    }
}

fn meta(index: u64, term: u64) -> SnapshotHeader {
    SnapshotHeader {
        last_included_index: index,
        last_included_term: term,
        configuration: configuration(),
        size_bytes: 0,
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 % 251) as u8).collect()
}

fn write_snapshot(store: &SnapshotStore, index: u64, term: u64, bytes: &[u8]) -> SnapshotHeader {
    let mut writer = store.create(meta(index, term)).unwrap();
    for piece in bytes.chunks(10_000) {
        writer.write_all(piece).unwrap();
    }
    writer.finish().unwrap()
}

#[test]
fn snapshot_round_trips_as_a_stream_and_by_chunks() {
    let dir = ScratchDir::new("snap-roundtrip");
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(store.latest().unwrap().is_none());
    let bytes = data(1_000_003);
    let written = write_snapshot(&store, 120, 7, &bytes);
    assert_eq!(written.size_bytes, bytes.len() as u64);

    let (loaded, mut reader) = store.latest().unwrap().unwrap();
    assert_eq!(loaded, written);
    assert_eq!(loaded.configuration, configuration());
    let mut chunk = reader.read_chunk_at(999_990, 64 * 1024).unwrap();
    assert_eq!(chunk, bytes[999_990..]);
    chunk = reader.read_chunk_at(5, 100).unwrap();
    assert_eq!(chunk, bytes[5..105]);
    assert!(
        reader
            .read_chunk_at(bytes.len() as u64, 100)
            .unwrap()
            .is_empty()
    );
    let mut streamed = Vec::new();
    reader.read_to_end(&mut streamed).unwrap();
    assert_eq!(streamed, bytes);
    reader.verify().unwrap();
}

#[test]
fn only_the_two_newest_snapshots_are_kept() {
    let dir = ScratchDir::new("snap-prune");
    let store = SnapshotStore::open(dir.path()).unwrap();
    for (index, term) in [(10, 1), (20, 1), (30, 2), (40, 3)] {
        write_snapshot(&store, index, term, &data(100));
    }
    let kept: Vec<(u64, u64)> = store.list().unwrap().iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(kept, vec![(30, 2), (40, 3)]);
    assert_eq!(store.latest().unwrap().unwrap().0.last_included_index, 40);
}

#[test]
fn an_unfinished_snapshot_is_never_visible() {
    let dir = ScratchDir::new("snap-unfinished");
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_snapshot(&store, 10, 1, &data(50));
    let mut writer = store.create(meta(20, 2)).unwrap();
    writer.write_all(&data(5000)).unwrap();
    // A crash before finish: simulate with a leftover temporary file.
    let leftover = dir
        .path()
        .join("snapshot-00000000000000000030-00000000000000000002.snap.tmp");
    fs::write(&leftover, b"partial").unwrap();
    drop(writer);
    assert_eq!(store.latest().unwrap().unwrap().0.last_included_index, 10);
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(!leftover.exists());
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn damaged_snapshot_data_fails_the_stream_and_verify() {
    let dir = ScratchDir::new("snap-damaged");
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_snapshot(&store, 10, 1, &data(4096));
    let path = store.list().unwrap()[0].2.clone();
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let (_, mut reader) = store.latest().unwrap().unwrap();
    assert!(reader.verify().unwrap_err().is_corruption());
    let mut sink = Vec::new();
    let error = reader.read_to_end(&mut sink).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn damaged_or_truncated_snapshot_header_is_corruption() {
    let dir = ScratchDir::new("snap-header");
    let store = SnapshotStore::open(dir.path()).unwrap();
    write_snapshot(&store, 10, 1, &data(4096));
    let path = store.list().unwrap()[0].2.clone();
    let good = fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad[12] ^= 0x20;
    fs::write(&path, &bad).unwrap();
    assert!(store.latest().unwrap_err().is_corruption());
    fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert!(store.latest().unwrap_err().is_corruption());
    fs::write(&path, &good[..30]).unwrap();
    assert!(store.latest().unwrap_err().is_corruption());
}

#[test]
fn a_declared_size_that_was_not_written_is_refused() {
    let dir = ScratchDir::new("snap-size");
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut declared = meta(10, 1);
    declared.size_bytes = 1000;
    let mut writer = store.create(declared).unwrap();
    writer.write_all(&data(999)).unwrap();
    assert!(matches!(
        writer.finish(),
        Err(StorageError::SnapshotSizeMismatch {
            expected_bytes: 1000,
            written_bytes: 999
        })
    ));
    assert!(store.latest().unwrap().is_none());
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
}
