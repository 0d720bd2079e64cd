//! Crash recovery of the Raft log: torn tails are cut back to the last whole
//! record; corruption that is not a torn tail is a hard error naming the
//! file and the offset; sealed-segment indexes are only an accelerator.

use std::fs;
use std::path::Path;

use crate::support::scratch::ScratchDir;
use crate::support::storage::{copy_dir, entry, index_files, patch_file, read_at, segment_files};
use concord::storage::log_record::record_bytes;
use concord::storage::log_start::LOG_START_FILE_NAME;
use concord::storage::segment_header::SEGMENT_HEADER_BYTES;
use concord::storage::{LogOptions, RaftLog, StorageError};

const DATA_LEN: usize = 40;
const ONE_SEGMENT: LogOptions = LogOptions {
    segment_size_bytes: 64 * 1024,
};

/// Offset of record `index` in a single-segment log of equal-size entries.
fn offset_of(index: u64) -> u64 {
    (SEGMENT_HEADER_BYTES + (index as usize - 1) * record_bytes(DATA_LEN)) as u64
}

/// A log of `count` entries, each appended as its own batch.
fn log_of_single_batches(dir: &Path, count: u64, options: LogOptions) {
    let mut log = RaftLog::open(dir, options).unwrap();
    for index in 1..=count {
        log.append(&[entry(index, 1, DATA_LEN)]).unwrap();
    }
}

fn assert_log_holds(log: &RaftLog, count: u64) {
    assert_eq!(log.last_index(), count);
    for index in 1..=count {
        assert_eq!(log.entry(index).unwrap(), Some(entry(index, 1, DATA_LEN)));
    }
}

#[test]
fn torn_tail_at_every_byte_offset_of_the_last_record_is_cut_to_the_last_whole_record() {
    let pristine = ScratchDir::new("torn-pristine");
    log_of_single_batches(pristine.path(), 5, ONE_SEGMENT);
    let last = offset_of(5);
    let record_len = record_bytes(DATA_LEN) as u64;
    let work = ScratchDir::new("torn-work");
    for filler in [0x00u8, 0xa5] {
        for written in 0..record_len {
            copy_dir(pristine.path(), work.path());
            let segment = &segment_files(work.path())[0];
            // The power cut wrote only the first `written` bytes of the last
            // record; the rest is what was there before (zeros) or garbage.
            let unwritten = vec![filler; (record_len - written) as usize];
            patch_file(segment, last + written, &unwritten);

            let mut log = RaftLog::open(work.path(), ONE_SEGMENT)
                .unwrap_or_else(|e| panic!("cut at {written}, filler {filler:#x}: {e}"));
            assert_log_holds(&log, 4);
            let dropped = log.tail_recovery().dropped_bytes;
            assert!(dropped <= record_len, "dropped {dropped}");
            if filler != 0 {
                assert!(dropped > 0);
            }
            // The space is clean again: the entry can be appended and survives.
            log.append(&[entry(5, 1, DATA_LEN)]).unwrap();
            drop(log);
            let log = RaftLog::open(work.path(), ONE_SEGMENT).unwrap();
            assert_log_holds(&log, 5);
            assert_eq!(log.tail_recovery().dropped_bytes, 0);
        }
    }
}

#[test]
fn torn_batch_whose_later_record_reached_disk_first_is_a_torn_tail() {
    // Page write-back order is not append order: the last record of an
    // unfinished batch can be whole while an earlier one is not.
    let dir = ScratchDir::new("torn-batch");
    {
        let mut log = RaftLog::open(dir.path(), ONE_SEGMENT).unwrap();
        for index in 1..=4 {
            log.append(&[entry(index, 1, DATA_LEN)]).unwrap();
        }
        let batch: Vec<_> = (5..=7).map(|i| entry(i, 1, DATA_LEN)).collect();
        log.append(&batch).unwrap();
    }
    let segment = &segment_files(dir.path())[0];
    patch_file(segment, offset_of(5), &vec![0; record_bytes(DATA_LEN)]);
    let log = RaftLog::open(dir.path(), ONE_SEGMENT).unwrap();
    assert_log_holds(&log, 4);
    assert!(log.tail_recovery().dropped_bytes > 0);
}

#[test]
fn corrupt_record_followed_by_a_later_batch_is_an_error_naming_file_and_offset() {
    let dir = ScratchDir::new("bitrot");
    log_of_single_batches(dir.path(), 6, ONE_SEGMENT);
    let segment = segment_files(dir.path())[0].clone();
    let target = offset_of(3) + 40;
    let mut byte = read_at(&segment, target, 1);
    byte[0] ^= 0x08;
    patch_file(&segment, target, &byte);
    match RaftLog::open(dir.path(), ONE_SEGMENT) {
        Err(StorageError::Corruption { path, offset, .. }) => {
            assert_eq!(path, segment);
            assert_eq!(offset, offset_of(3));
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("a corrupt record in the middle of the log was accepted"),
    }
}

#[test]
fn zeroed_record_followed_by_a_later_batch_is_an_error() {
    let dir = ScratchDir::new("zeroed-middle");
    log_of_single_batches(dir.path(), 6, ONE_SEGMENT);
    let segment = segment_files(dir.path())[0].clone();
    patch_file(&segment, offset_of(2), &vec![0; record_bytes(DATA_LEN)]);
    let error = RaftLog::open(dir.path(), ONE_SEGMENT)
        .expect_err("a zeroed record before acknowledged ones was accepted");
    assert!(error.is_corruption(), "{error}");
}

/// Exactly 4 records of 40-byte entries per segment (32 + 4 * 73 bytes).
const SMALL_SEGMENTS: LogOptions = LogOptions {
    segment_size_bytes: 324,
};

#[test]
fn corrupt_record_in_a_sealed_segment_is_an_error_when_read() {
    let dir = ScratchDir::new("sealed-bitrot");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    let segments = segment_files(dir.path());
    assert_eq!(segments.len(), 3);
    // Index 2 is the second record of the first (sealed) segment.
    let target = offset_of(2) + 50;
    let mut byte = read_at(&segments[0], target, 1);
    byte[0] ^= 0x80;
    patch_file(&segments[0], target, &byte);
    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    match log.entry(2) {
        Err(StorageError::Corruption { path, offset, .. }) => {
            assert_eq!(path, segments[0]);
            assert_eq!(offset, offset_of(2));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    assert!(log.term(2).is_err());
    assert_eq!(log.entry(3).unwrap(), Some(entry(3, 1, DATA_LEN)));
}

#[test]
fn sealed_segments_get_an_index_and_a_lost_or_damaged_one_is_rebuilt() {
    let dir = ScratchDir::new("index-rebuild");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    let indexes = index_files(dir.path());
    assert_eq!(indexes.len(), 2, "one index per sealed segment");
    fs::remove_file(&indexes[0]).unwrap();
    let mut damaged = fs::read(&indexes[1]).unwrap();
    damaged[30] ^= 1;
    fs::write(&indexes[1], damaged).unwrap();

    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    for index in 1..=12 {
        assert_eq!(log.entry(index).unwrap(), Some(entry(index, 1, DATA_LEN)));
    }
    drop(log);
    assert_eq!(index_files(dir.path()), indexes);
    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert_eq!(log.last_index(), 12);
}

#[test]
fn missing_entries_between_segments_are_corruption() {
    let dir = ScratchDir::new("segment-gap");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    let segments = segment_files(dir.path());
    fs::remove_file(&segments[1]).unwrap();
    let error = RaftLog::open(dir.path(), SMALL_SEGMENTS)
        .expect_err("a missing middle segment was accepted");
    assert!(error.is_corruption(), "{error}");
}

#[test]
fn batch_crossing_segments_survives_reopen() {
    let dir = ScratchDir::new("batch-cross");
    {
        let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
        let batch: Vec<_> = (1..=10).map(|i| entry(i, 1, DATA_LEN)).collect();
        log.append(&batch).unwrap();
        assert_eq!(log.segment_count(), 3);
    }
    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert_log_holds(&log, 10);
}

#[test]
fn compacted_log_still_answers_the_term_at_the_snapshot_boundary_after_reopen() {
    let dir = ScratchDir::new("compact-boundary");
    {
        let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
        for index in 1..=12 {
            log.append(&[entry(index, index / 4 + 1, DATA_LEN)])
                .unwrap();
        }
        log.compact_through(12).unwrap();
        log.wait_for_compaction().unwrap();
        assert_eq!(segment_files(dir.path()).len(), 1, "old segments deleted");
    }
    let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert_eq!(log.first_index(), 13);
    assert_eq!(log.last_index(), 12);
    assert_eq!(log.term(12).unwrap(), Some(4));
    assert_eq!(log.term(11).unwrap(), None);
    assert_eq!(log.entry(12).unwrap(), None);
    log.append(&[entry(13, 5, DATA_LEN)]).unwrap();
    assert_eq!(log.term(13).unwrap(), Some(5));
}

#[test]
fn interrupted_compaction_is_finished_at_open() {
    let dir = ScratchDir::new("compact-crash");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    let before = ScratchDir::new("compact-crash-before");
    copy_dir(dir.path(), before.path());
    {
        let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
        log.compact_through(9).unwrap();
    }
    // Simulate the crash after the start record was written but before the
    // old segments were deleted: put them back.
    for segment in segment_files(before.path()) {
        let name = segment.file_name().unwrap();
        if !dir.path().join(name).exists() {
            fs::copy(&segment, dir.path().join(name)).unwrap();
        }
    }
    assert_eq!(segment_files(dir.path()).len(), 3);
    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert_eq!(log.first_index(), 10);
    assert_eq!(log.entry(10).unwrap(), Some(entry(10, 1, DATA_LEN)));
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[test]
fn truncating_into_a_sealed_segment_makes_it_the_active_one() {
    let dir = ScratchDir::new("truncate-sealed");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    {
        let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
        log.truncate_after(2).unwrap();
        assert_eq!(log.last_index(), 2);
        assert_eq!(segment_files(dir.path()).len(), 1);
        assert!(index_files(dir.path()).is_empty());
        log.append(&[entry(3, 2, DATA_LEN)]).unwrap();
    }
    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert_eq!(log.last_index(), 3);
    assert_eq!(log.term(3).unwrap(), Some(2));
    assert_eq!(log.tail_recovery().dropped_bytes, 0);
}

#[test]
fn entry_larger_than_a_segment_is_refused_with_a_typed_error() {
    let dir = ScratchDir::new("too-large");
    let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    let big = entry(1, 1, SMALL_SEGMENTS.max_entry_data_bytes() as usize + 1);
    assert!(matches!(
        log.append(&[big]),
        Err(StorageError::EntryTooLarge { .. })
    ));
    let fits = entry(1, 1, SMALL_SEGMENTS.max_entry_data_bytes() as usize);
    log.append(std::slice::from_ref(&fits)).unwrap();
    assert_eq!(log.entry(1).unwrap(), Some(fits));
}

#[test]
fn leftover_temporary_files_are_removed_at_open() {
    let dir = ScratchDir::new("tmp-leftover");
    log_of_single_batches(dir.path(), 3, ONE_SEGMENT);
    let leftover = dir.path().join("segment-00000000000000000004.log.tmp");
    fs::write(&leftover, b"half a segment").unwrap();
    let log = RaftLog::open(dir.path(), ONE_SEGMENT).unwrap();
    assert_log_holds(&log, 3);
    assert!(!leftover.exists());
}

#[test]
fn zero_copy_read_borrows_the_same_bytes() {
    let dir = ScratchDir::new("zero-copy");
    log_of_single_batches(dir.path(), 3, ONE_SEGMENT);
    let log = RaftLog::open(dir.path(), ONE_SEGMENT).unwrap();
    let view = log.entry_ref(2).unwrap().unwrap();
    assert_eq!(view.to_entry(), entry(2, 1, DATA_LEN));
    assert!(log.entry_ref(4).unwrap().is_none());
}

#[test]
fn corrupt_first_record_of_a_sealed_segment_is_an_error_at_open() {
    let dir = ScratchDir::new("sealed-first-record");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    let segments = segment_files(dir.path());
    let target = offset_of(1) + 36;
    let mut byte = read_at(&segments[0], target, 1);
    byte[0] ^= 0x01;
    patch_file(&segments[0], target, &byte);
    match RaftLog::open(dir.path(), SMALL_SEGMENTS) {
        Err(StorageError::Corruption { path, offset, .. }) => {
            assert_eq!(path, segments[0]);
            assert_eq!(offset, offset_of(1));
        }
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn segments_are_preallocated_with_real_zero_blocks() {
    use std::os::unix::fs::MetadataExt;
    let dir = ScratchDir::new("preallocated");
    let options = LogOptions {
        segment_size_bytes: 1024 * 1024,
    };
    let log = RaftLog::open(dir.path(), options).unwrap();
    let metadata = fs::metadata(&segment_files(dir.path())[0]).unwrap();
    assert_eq!(metadata.len(), options.segment_size_bytes);
    // st_blocks counts 512-byte units actually allocated: a sparse file
    // would have next to none.
    assert!(metadata.blocks() * 512 >= options.segment_size_bytes);
    drop(log);
}

#[test]
fn next_segment_is_prepared_in_the_background_and_a_leftover_spare_is_removed() {
    let dir = ScratchDir::new("spare");
    {
        let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
        // Two of four records: half full, so the spare is being prepared.
        log.append(&[entry(1, 1, DATA_LEN), entry(2, 1, DATA_LEN)])
            .unwrap();
    }
    // Dropping the log waited for the spare; a crash would have left it too.
    let spare = dir.path().join("segment-spare.tmp");
    assert!(spare.exists());
    let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert!(!spare.exists());
    let batch: Vec<_> = (3..=9).map(|i| entry(i, 1, DATA_LEN)).collect();
    log.append(&batch).unwrap();
    assert_eq!(log.segment_count(), 3);
    drop(log);
    let log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    assert_log_holds(&log, 9);
}

/// Compaction's disk work runs on its own thread; if it fails (here the
/// start record cannot replace a directory squatting on its name), the
/// log's next change reports it and every change after that is refused,
/// as after a failed fsync: the disk no longer matches the log's view.
#[test]
fn a_compaction_that_fails_on_its_thread_fails_the_next_change() {
    let dir = ScratchDir::new("compact-fails");
    log_of_single_batches(dir.path(), 12, SMALL_SEGMENTS);
    let mut log = RaftLog::open(dir.path(), SMALL_SEGMENTS).unwrap();
    let start_record = dir.path().join(LOG_START_FILE_NAME);
    fs::remove_file(&start_record).unwrap();
    fs::create_dir(&start_record).unwrap();
    fs::write(start_record.join("squatter"), b"x").unwrap();
    log.compact_through(9).unwrap();
    let err = log.wait_for_compaction().unwrap_err();
    assert!(!matches!(err, StorageError::Failed { .. }), "{err}");
    assert!(matches!(
        log.append(&[entry(13, 1, DATA_LEN)]),
        Err(StorageError::Failed { .. })
    ));
}
