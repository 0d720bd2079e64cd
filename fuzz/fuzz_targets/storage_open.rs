//! Opening a Raft log directory whose segment bytes are arbitrary never
//! panics: it is an error or a valid, possibly truncated, log that can be
//! read and appended to. (`tests/storage_hostile.rs` runs the same check as a
//! property test.)
#![no_main]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use concord::storage::segment_header::encode_segment_header;
use concord::storage::{LogOptions, RaftLog};
use concord::wire::raft_message::{Entry, EntryKind};
use libfuzzer_sys::fuzz_target;

const OPTIONS: LogOptions = LogOptions {
    segment_size_bytes: 8 * 1024,
};

/// On tmpfs when there is one: fsync is free there, so the fuzzer spends its
/// time in the decoder rather than waiting for the disk.
fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        };
        base.join(format!("concord-fuzz-storage-open-{}", std::process::id()))
    })
}

/// The raw input as the segment, or (when the first byte is odd) the rest of
/// the input behind a valid header, so the fuzzer also reaches the record
/// decoder without first having to forge the header CRC.
fn segment_bytes(input: &[u8]) -> Vec<u8> {
    match input.split_first() {
        Some((&mode, rest)) if mode & 1 == 1 => {
            let mut bytes = encode_segment_header(1).to_vec();
            bytes.extend_from_slice(rest);
            bytes
        }
        _ => input.to_vec(),
    }
}

fuzz_target!(|bytes: &[u8]| {
    let dir = scratch_dir();
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("segment-00000000000000000001.log"),
        segment_bytes(bytes),
    )
    .unwrap();
    let Ok(mut log) = RaftLog::open(dir, OPTIONS) else {
        return;
    };
    for index in log.first_index()..=log.last_index() {
        let read = log
            .entry(index)
            .unwrap()
            .expect("an opened log holds its range");
        assert_eq!(read.index, index);
    }
    let next = Entry {
        term: log.last_term(),
        index: log.last_index() + 1,
        kind: EntryKind::Command,
        data: bytes::Bytes::from_static(b"fuzz"),
    };
    log.append(std::slice::from_ref(&next)).unwrap();
    let last = log.last_index();
    drop(log);
    let log = RaftLog::open(dir, OPTIONS).unwrap();
    assert_eq!(log.entry(last).unwrap(), Some(next));
});
