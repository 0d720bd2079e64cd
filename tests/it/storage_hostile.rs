//! Opening a log whose bytes are hostile never panics: it is an error or a
//! valid (possibly truncated) log that can be read and appended to. The same
//! check as `fuzz/fuzz_targets/storage_open.rs`, run on every `cargo test`.

use std::fs;
use std::path::Path;

use crate::support::scratch::ScratchDir;
use crate::support::storage::entry;
use concord::storage::segment_header::encode_segment_header;
use concord::storage::{LogOptions, RaftLog};
use proptest::prelude::*;

const OPTIONS: LogOptions = LogOptions {
    segment_size_bytes: 4096,
};
const SEGMENT_NAME: &str = "segment-00000000000000000001.log";

/// Writes `bytes` as the only segment and opens the log. Panics only if the
/// log misbehaves: open may fail, but an opened log must be usable.
fn open_hostile_segment(dir: &Path, bytes: &[u8]) {
    for file in fs::read_dir(dir).unwrap() {
        fs::remove_file(file.unwrap().path()).unwrap();
    }
    fs::write(dir.join(SEGMENT_NAME), bytes).unwrap();
    let Ok(mut log) = RaftLog::open(dir, OPTIONS) else {
        return;
    };
    log.check_invariants();
    for index in log.first_index()..=log.last_index() {
        let read = log
            .entry(index)
            .unwrap()
            .expect("an opened log holds its range");
        assert_eq!(read.index, index);
    }
    let next = entry(log.last_index() + 1, log.last_term(), 10);
    log.append(std::slice::from_ref(&next)).unwrap();
    log.check_invariants();
    let last = log.last_index();
    drop(log);
    let log = RaftLog::open(dir, OPTIONS).unwrap();
    assert_eq!(log.last_index(), last);
    assert_eq!(log.entry(last).unwrap(), Some(next));
}

/// The bytes of a real segment with `count` entries, to mutate.
fn valid_segment_bytes(count: u64) -> Vec<u8> {
    let dir = ScratchDir::in_memory("hostile-seed");
    let mut log = RaftLog::open(dir.path(), OPTIONS).unwrap();
    for index in 1..=count {
        let batch_end = (index % 3 == 0) as u64;
        let batch: Vec<_> = (index..=index + batch_end)
            .filter(|&i| i <= count && i > log.last_index())
            .map(|i| entry(i, 1 + i / 5, (i * 13 % 70) as usize))
            .collect();
        log.append(&batch).unwrap();
    }
    drop(log);
    fs::read(dir.path().join(SEGMENT_NAME)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_segment_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let dir = ScratchDir::in_memory("hostile-raw");
        open_hostile_segment(dir.path(), &bytes);
    }

    #[test]
    fn arbitrary_records_after_a_valid_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let dir = ScratchDir::in_memory("hostile-header");
        let mut bytes = encode_segment_header(1).to_vec();
        bytes.extend_from_slice(&tail);
        open_hostile_segment(dir.path(), &bytes);
    }

    #[test]
    fn mutated_valid_segments_never_panic(
        count in 1u64..30,
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let dir = ScratchDir::in_memory("hostile-mutated");
        let mut bytes = valid_segment_bytes(count);
        let written = bytes.iter().rposition(|&b| b != 0).unwrap_or(0) + 1;
        for (position, value) in mutations {
            // Mostly inside the written records, where damage is interesting.
            let at = position.index(written + 64).min(bytes.len() - 1);
            bytes[at] = value;
        }
        open_hostile_segment(dir.path(), &bytes);
    }
}
