//! Hostile files in the data directory: files far longer than their format
//! allows, offsets from the network, and arbitrary bytes fed to every
//! on-disk decoder. Each must be a typed error (or an ignored accelerator),
//! never a panic or an allocation the size of whatever the file claims.

use std::fs::{self, File};
use std::io::{Cursor, Write};
use std::path::Path;

use crate::support::scratch::ScratchDir;
use crate::support::storage::entry;
use concord::storage::hard_state_store::{HARD_STATE_FILE_NAME, decode_hard_state};
use concord::storage::log_start::{LOG_START_FILE_NAME, decode_log_start};
use concord::storage::member_list::{MEMBER_LIST_DIR_NAME, MEMBER_LIST_FILE_NAME, MemberListStore};
use concord::storage::segment_header::decode_segment_header;
use concord::storage::segment_index::decode_segment_index;
use concord::storage::snapshot_header::read_snapshot_header;
use concord::storage::{
    HardStateStore, LogOptions, RaftLog, SnapshotHeader, SnapshotStore, StorageError,
};
use proptest::prelude::*;

/// A sparse file claiming a terabyte: reading it whole would allocate (or
/// fail to allocate) a terabyte before any check could run.
const HUGE_FILE_BYTES: u64 = 1 << 40;

fn make_huge_sparse_file(path: &Path) {
    File::create(path)
        .unwrap()
        .set_len(HUGE_FILE_BYTES)
        .unwrap();
}

fn is_corruption(err: &StorageError) -> bool {
    matches!(err, StorageError::Corruption { .. })
}

#[test]
fn a_hard_state_file_longer_than_its_format_is_corruption_without_reading_it() {
    let dir = ScratchDir::new("hostile-hard-state");
    make_huge_sparse_file(&dir.path().join(HARD_STATE_FILE_NAME));
    let err = HardStateStore::open(dir.path()).unwrap_err();
    assert!(is_corruption(&err), "{err}");
}

#[test]
fn a_hard_state_file_one_byte_too_long_is_corruption() {
    let dir = ScratchDir::new("hostile-hard-state-long");
    fs::write(dir.path().join(HARD_STATE_FILE_NAME), [0u8; 54]).unwrap();
    let err = HardStateStore::open(dir.path()).unwrap_err();
    assert!(is_corruption(&err), "{err}");
}

#[test]
fn a_log_start_file_longer_than_its_format_is_corruption_without_reading_it() {
    let dir = ScratchDir::new("hostile-log-start");
    make_huge_sparse_file(&dir.path().join(LOG_START_FILE_NAME));
    let err = RaftLog::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(is_corruption(&err), "{err}");
}

#[test]
fn a_member_list_file_longer_than_its_format_is_corruption_without_reading_it() {
    let dir = ScratchDir::new("hostile-member-list");
    let store = MemberListStore::open(dir.path()).unwrap();
    make_huge_sparse_file(
        &dir.path()
            .join(MEMBER_LIST_DIR_NAME)
            .join(MEMBER_LIST_FILE_NAME),
    );
    let err = store.load().unwrap_err();
    assert!(is_corruption(&err), "{err}");
}

#[test]
fn a_segment_index_longer_than_its_segment_allows_is_rebuilt_without_reading_it() {
    let dir = ScratchDir::new("hostile-segment-index");
    let options = LogOptions {
        segment_size_bytes: 64 * 1024,
    };
    {
        let mut log = RaftLog::open(dir.path(), options).unwrap();
        for index in 1..=100 {
            log.append(&[entry(index, 1, 2000)]).unwrap();
        }
        assert!(log.segment_count() > 1);
    }
    let mut indexes: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    indexes.sort();
    assert!(!indexes.is_empty(), "sealed segments have index files");
    make_huge_sparse_file(&indexes[0]);
    let log = RaftLog::open(dir.path(), options).unwrap();
    assert_eq!(log.last_index(), 100);
    assert_eq!(log.entry(1).unwrap().unwrap(), entry(1, 1, 2000));
    assert!(fs::metadata(&indexes[0]).unwrap().len() < HUGE_FILE_BYTES);
}

#[test]
fn a_snapshot_chunk_requested_past_the_end_is_empty_not_an_overflow() {
    let dir = ScratchDir::new("hostile-snapshot-offset");
    let store = SnapshotStore::open(dir.path()).unwrap();
    let mut writer = store
        .create(SnapshotHeader {
            last_included_index: 5,
            last_included_term: 1,
            ..SnapshotHeader::default()
        })
        .unwrap();
    writer.write_all(&[7u8; 1000]).unwrap();
    writer.finish().unwrap();
    let (_, reader) = store.latest().unwrap().unwrap();
    for offset in [1000, 1001, u64::MAX - 10, u64::MAX] {
        assert!(reader.read_chunk_at(offset, 4096).unwrap().is_empty());
    }
    assert_eq!(reader.read_chunk_at(999, 4096).unwrap(), [7]);
}

/// Puts a valid CRC32 of everything before it at the end, so arbitrary
/// bodies get past the checksum and reach the field checks.
fn with_trailing_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hard_state_decoder_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..80),
        fix_crc in any::<bool>(),
    ) {
        let bytes = if fix_crc && bytes.len() >= 4 {
            with_trailing_crc(bytes[..bytes.len() - 4].to_vec())
        } else {
            bytes
        };
        let _ = decode_hard_state(Path::new("hard_state"), &bytes);
    }

    #[test]
    fn log_start_decoder_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        fix_crc in any::<bool>(),
    ) {
        let bytes = if fix_crc && bytes.len() >= 4 {
            with_trailing_crc(bytes[..bytes.len() - 4].to_vec())
        } else {
            bytes
        };
        let _ = decode_log_start(Path::new("log_start"), &bytes);
    }

    #[test]
    fn segment_header_decoder_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = decode_segment_header(&bytes);
    }

    #[test]
    fn segment_index_decoder_never_panics_on_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..256),
        first_index in any::<u64>(),
        segment_len in any::<u64>(),
    ) {
        let _ = decode_segment_index(&body, first_index, segment_len);
        let _ = decode_segment_index(&with_trailing_crc(body), first_index, segment_len);
    }

    #[test]
    fn segment_index_decoder_never_panics_behind_a_valid_header(
        count in any::<u32>(),
        written_end in any::<u32>(),
        offsets in prop::collection::vec(any::<u32>(), 0..32),
        segment_len in any::<u64>(),
    ) {
        let mut body = b"CCIX".to_vec();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&7u64.to_be_bytes());
        body.extend_from_slice(&count.to_be_bytes());
        body.extend_from_slice(&written_end.to_be_bytes());
        for offset in &offsets {
            body.extend_from_slice(&offset.to_be_bytes());
        }
        if let Ok(index) = decode_segment_index(&with_trailing_crc(body), 7, segment_len) {
            prop_assert!(u64::from(index.written_end) <= segment_len);
            prop_assert!(index.offsets.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn snapshot_header_decoder_never_panics_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = read_snapshot_header(Path::new("snapshot"), &mut Cursor::new(bytes));
    }

    #[test]
    fn snapshot_header_decoder_never_panics_behind_a_valid_header(
        fixed in prop::collection::vec(any::<u8>(), 24..=24),
        configuration in prop::collection::vec(any::<u8>(), 0..128),
        claimed_configuration_len in prop::option::of(any::<u32>()),
    ) {
        let mut header = b"CCSN".to_vec();
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(&fixed[..24]);
        let len = claimed_configuration_len.unwrap_or(configuration.len() as u32);
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(&configuration);
        let bytes = with_trailing_crc(header);
        let _ = read_snapshot_header(Path::new("snapshot"), &mut Cursor::new(bytes));
    }
}
