//! The segmented, memory-mapped Raft log: append with one fsync per batch
//! (group commit), read by index without copying, truncate the tail on a
//! conflict, drop the head after a snapshot.
//!
//! Durability contract: when `append` returns Ok, every entry of the batch is
//! on stable storage (one pwrite of the encoded batch and one fdatasync of
//! the segment, plus the fsyncs that create a segment on the way). When it returns Err,
//! any prefix of the batch may or may not survive a crash, never a partial
//! entry. `truncate_after`, `compact_through` and `reset_to_snapshot` are
//! durable when they return.
//!
//! The snapshot boundary lives here, in `log_start` (first index and the
//! term before it), so an empty or compacted log still answers
//! `last_index()` and `term(snapshot_index)`.

use std::fs;
use std::path::{Path, PathBuf};

use super::durable_file::{fsync_dir, remove_temporary_files};
use super::error::{IoContext, Result, StorageError};
use super::log_compaction::LogCompactor;
use super::log_record::{EntryRef, MAX_LOG_INDEX, record_bytes};
use super::log_start::{LOG_START_FILE_NAME, LogStart, read_log_start, write_log_start};
use super::segment::{
    SEGMENT_FILE_PREFIX, Segment, TailRecovery, index_path_for, parse_index_file_name,
    parse_segment_file_name, remove_if_exists,
};
use super::segment_header::SEGMENT_HEADER_BYTES;
use super::segment_preallocator::SegmentPreallocator;
use crate::wire::raft_message::Entry;

pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;
/// Small segments are allowed so tests can exercise many segment boundaries.
pub const MIN_SEGMENT_SIZE_BYTES: u64 = 256;
/// Record offsets inside a segment are u32.
pub const MAX_SEGMENT_SIZE_BYTES: u64 = u32::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    /// Size each new segment file is preallocated to. An entry's record
    /// (33 bytes + data) must fit in one segment after its 32-byte header.
    pub segment_size_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_size_bytes: DEFAULT_SEGMENT_SIZE_BYTES,
        }
    }
}

impl LogOptions {
    /// The largest entry data one record can carry with these options.
    pub fn max_entry_data_bytes(&self) -> u64 {
        self.segment_size_bytes - (SEGMENT_HEADER_BYTES + record_bytes(0)) as u64
    }
}

#[derive(Debug)]
pub struct RaftLog {
    dir: PathBuf,
    options: LogOptions,
    start: LogStart,
    /// Ordered by first index; never empty; the last one is the active
    /// segment appends go to, the others are sealed.
    segments: Vec<Segment>,
    /// Term of `last_index()`, kept in memory because every append checks it.
    last_term: u64,
    recovery: TailRecovery,
    /// Set when a write or fsync failed. After a failed fsync the kernel may
    /// have dropped the dirty pages and a retry can "succeed" without the
    /// data ever reaching disk, so the in-memory view can no longer be
    /// trusted to match the disk: every later change is refused and the
    /// owner must reopen the log (which rescans what is really there).
    failed: bool,
    preallocator: SegmentPreallocator,
    /// Writes the start record and deletes compacted segments off the
    /// caller's thread.
    compactor: LogCompactor,
}

impl RaftLog {
    /// Opens (or creates) the log in `dir`. The caller holds the data
    /// directory lock ([`super::DataDir`]). Sealed segments are trusted
    /// through their index files and verified by CRC on every read; the
    /// active segment is scanned and a torn tail is cut off.
    pub fn open(dir: &Path, options: LogOptions) -> Result<RaftLog> {
        assert!(
            (MIN_SEGMENT_SIZE_BYTES..=MAX_SEGMENT_SIZE_BYTES).contains(&options.segment_size_bytes),
            "segment_size_bytes out of range"
        );
        fs::create_dir_all(dir).at(dir)?;
        remove_temporary_files(dir, &[SEGMENT_FILE_PREFIX, LOG_START_FILE_NAME])?;
        let logged_start = read_log_start(dir)?;
        let found = list_segments(dir)?;

        let start = match (logged_start, found.first()) {
            (Some(start), _) => start,
            (None, None) => LogStart::EMPTY_LOG,
            (None, Some((1, _))) => LogStart::EMPTY_LOG,
            (None, Some((first, _))) => {
                return Err(StorageError::corruption(
                    dir.join(LOG_START_FILE_NAME),
                    0,
                    format!("log start record missing while the first segment begins at {first}"),
                ));
            }
        };
        if logged_start.is_none() {
            write_log_start(dir, start)?;
        }

        let mut log = RaftLog {
            dir: dir.to_path_buf(),
            options,
            start,
            segments: Vec::new(),
            last_term: start.prev_term,
            recovery: TailRecovery::default(),
            failed: false,
            preallocator: SegmentPreallocator::new(dir, options.segment_size_bytes),
            compactor: LogCompactor::default(),
        };
        if found.is_empty() {
            let segment = Segment::create(dir, start.first_index, options.segment_size_bytes)?;
            log.segments.push(segment);
            return Ok(log);
        }
        if found[0].0 > start.first_index {
            return Err(StorageError::corruption(
                &found[0].1,
                0,
                format!(
                    "log starts at index {} but its first segment begins at {}",
                    start.first_index, found[0].0
                ),
            ));
        }
        // Finish a compaction a crash interrupted: segments wholly before the
        // log start are no longer part of the log.
        let mut found = found;
        let obsolete = found
            .windows(2)
            .take_while(|pair| pair[1].0 <= start.first_index)
            .count();
        for (_, path) in found.drain(..obsolete) {
            remove_if_exists(&index_path_for(&path))?;
            fs::remove_file(&path).at(&path)?;
        }
        if obsolete > 0 {
            fsync_dir(dir)?;
        }

        let last = found.len() - 1;
        for (i, (first_index, path)) in found.iter().enumerate() {
            let segment = if i == last {
                let (segment, recovery) = Segment::open_active(path, *first_index)?;
                log.recovery = recovery;
                segment
            } else {
                Segment::open_sealed(path, *first_index)?
            };
            if let Some(previous) = log.segments.last()
                && previous.next_index() != *first_index
            {
                return Err(StorageError::corruption(
                    previous.path(),
                    previous.written_end() as u64,
                    format!(
                        "segment ends before index {} but the next segment begins at {first_index}",
                        previous.next_index()
                    ),
                ));
            }
            log.segments.push(segment);
        }
        let active = log.active();
        if active.next_index() < start.first_index {
            return Err(StorageError::corruption(
                active.path(),
                active.written_end() as u64,
                format!(
                    "log ends before index {} but its start record says {}",
                    active.next_index(),
                    start.first_index
                ),
            ));
        }
        log.last_term = log.read_term(log.last_index())?;
        if let Some(broken) = log.inconsistency() {
            return Err(StorageError::corruption(dir, 0, broken));
        }
        Ok(log)
    }

    /// Panics when the log's view of itself is inconsistent: segments out
    /// of order or with gaps, the start outside them, a cached last term
    /// that is not the last entry's. Runs after truncation and in tests;
    /// O(segments) plus one read.
    pub fn check_invariants(&self) {
        if let Some(broken) = self.inconsistency() {
            panic!("{broken}");
        }
    }

    /// What [`Self::check_invariants`] asserts, as text. `open` turns it into
    /// a corruption error: files that got past validation are still bytes
    /// from disk, never a reason to panic.
    fn inconsistency(&self) -> Option<String> {
        let Some(head) = self.segments.first() else {
            return Some("a log without a segment".into());
        };
        for pair in self.segments.windows(2) {
            if pair[0].next_index() != pair[1].first_index() {
                return Some(format!(
                    "segments are not contiguous: one ends before {}, the next starts at {}",
                    pair[0].next_index(),
                    pair[1].first_index()
                ));
            }
        }
        let (first, last) = (self.first_index(), self.last_index());
        if head.first_index() > first || first > last + 1 {
            return Some(format!(
                "log start {first} outside the segments {}..={last}",
                head.first_index()
            ));
        }
        match self.term(last) {
            Ok(Some(term)) if term != self.last_term => Some(format!(
                "cached last term {} is not the term {term} of entry {last}",
                self.last_term
            )),
            _ => None,
        }
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has a segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has a segment")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn refuse_if_failed(&self) -> Result<()> {
        if self.failed {
            return Err(StorageError::Failed {
                path: self.dir.clone(),
            });
        }
        Ok(())
    }

    /// What open found at the tail: bytes of a torn write that were dropped.
    pub fn tail_recovery(&self) -> TailRecovery {
        self.recovery
    }

    /// The first index held; `last_index() + 1` when the log is empty.
    pub fn first_index(&self) -> u64 {
        self.start.first_index
    }

    /// The last index held, or the snapshot boundary (`first_index() - 1`)
    /// when the log is empty.
    pub fn last_index(&self) -> u64 {
        self.active().next_index() - 1
    }

    pub fn last_term(&self) -> u64 {
        self.last_term
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn segment_for(&self, index: u64) -> &Segment {
        let after = self.segments.partition_point(|s| s.first_index() <= index);
        &self.segments[after - 1]
    }

    fn holds(&self, index: u64) -> bool {
        index >= self.first_index() && index <= self.last_index()
    }

    /// The entry at `index`, borrowed from the memory map (no copy).
    pub fn entry_ref(&self, index: u64) -> Result<Option<EntryRef<'_>>> {
        if !self.holds(index) {
            return Ok(None);
        }
        self.segment_for(index).entry(index).map(Some)
    }

    pub fn entry(&self, index: u64) -> Result<Option<Entry>> {
        Ok(self.entry_ref(index)?.map(|e| e.to_entry()))
    }

    /// Entries from `lo` up to `hi_exclusive` (clamped to the log), stopping
    /// before the data would exceed `max_bytes` but always returning at least
    /// one entry when `lo` is held. Empty when `lo` was compacted away (the
    /// caller then sends a snapshot) or is past the end.
    pub fn entries(&self, lo: u64, hi_exclusive: u64, max_bytes: u64) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        if lo < self.first_index() {
            return Ok(out);
        }
        let hi = hi_exclusive.min(self.last_index() + 1);
        let mut total_bytes = 0u64;
        for index in lo..hi {
            let entry = self.segment_for(index).entry(index)?;
            total_bytes += entry.data.len() as u64;
            if !out.is_empty() && total_bytes > max_bytes {
                break;
            }
            out.push(entry.to_entry());
        }
        Ok(out)
    }

    /// The term of the entry at `index`; for `first_index() - 1` the term
    /// remembered from the last compaction or snapshot; None outside.
    pub fn term(&self, index: u64) -> Result<Option<u64>> {
        if index + 1 == self.first_index() {
            return Ok(Some(self.start.prev_term));
        }
        if !self.holds(index) {
            return Ok(None);
        }
        Ok(Some(self.segment_for(index).entry(index)?.term))
    }

    fn read_term(&self, index: u64) -> Result<u64> {
        Ok(self.term(index)?.expect("term of an index inside the log"))
    }

    /// Appends a contiguous batch (`entries[0].index == last_index() + 1`)
    /// and makes it durable with one flush, or two when the batch crosses
    /// into a new segment: a segment is fsynced before its successor exists,
    /// so only the last segment can ever hold a torn write.
    pub fn append(&mut self, entries: &[Entry]) -> Result<()> {
        self.refuse_if_failed()?;
        // A compaction that failed on its thread fails the next change.
        let result = self
            .compactor
            .poll()
            .and_then(|()| self.append_unguarded(entries));
        self.failed |= result.as_ref().is_err_and(|e| !e.is_refusal());
        result
    }

    fn append_unguarded(&mut self, entries: &[Entry]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        assert_eq!(
            first.index,
            self.last_index() + 1,
            "append must be contiguous"
        );
        assert!(
            first.term >= self.last_term,
            "terms in a log never decrease"
        );
        for pair in entries.windows(2) {
            assert_eq!(
                pair[1].index,
                pair[0].index + 1,
                "append must be contiguous"
            );
            assert!(
                pair[1].term >= pair[0].term,
                "terms in a log never decrease"
            );
        }
        assert!(
            entries[entries.len() - 1].index <= MAX_LOG_INDEX,
            "log index above MAX_LOG_INDEX"
        );
        let max_bytes = self.options.max_entry_data_bytes();
        if let Some(big) = entries.iter().find(|e| e.data.len() as u64 > max_bytes) {
            return Err(StorageError::EntryTooLarge {
                size_bytes: big.data.len() as u64,
                max_bytes,
            });
        }
        let batch_start_index = first.index;
        for entry in entries {
            if !self.active().has_room_for(entry.data.len()) {
                self.active_mut().flush()?;
                self.roll_segment(entry.index)?;
            }
            self.active_mut().append(entry, batch_start_index);
        }
        self.active_mut().flush()?;
        self.last_term = entries[entries.len() - 1].term;
        // Half full: prepare the next segment while this one fills up.
        let active = self.active();
        if !self.preallocator.is_started() && active.written_end() * 2 >= active.capacity_bytes() {
            self.preallocator.start();
        }
        Ok(())
    }

    /// A new active segment at `first_index`, from the preallocated spare
    /// when there is one.
    fn new_segment(&mut self, first_index: u64) -> Result<Segment> {
        match self.preallocator.take()? {
            Some(spare) => Segment::install(&self.dir, &spare, first_index),
            None => Segment::create(&self.dir, first_index, self.options.segment_size_bytes),
        }
    }

    /// Seals the full active segment and starts a new one at `next_index`.
    fn roll_segment(&mut self, next_index: u64) -> Result<()> {
        if self.active().entry_count() == 0 {
            // Nothing to seal (an entry bigger than the space left in a fresh
            // segment cannot happen: sizes were checked against a whole one).
            let empty = self.segments.pop().expect("active segment");
            empty.delete()?;
        } else {
            self.active_mut().seal()?;
        }
        let segment = self.new_segment(next_index)?;
        self.segments.push(segment);
        Ok(())
    }

    /// Removes every entry after `index` (a follower's log conflicts with the
    /// leader's, paper §5.3). Entries up to `first_index() - 1` are in a
    /// snapshot and committed, so truncating below that is a caller bug.
    pub fn truncate_after(&mut self, index: u64) -> Result<()> {
        self.refuse_if_failed()?;
        let result = self
            .compactor
            .poll()
            .and_then(|()| self.truncate_after_unguarded(index));
        self.failed |= result.as_ref().is_err_and(|e| !e.is_refusal());
        result
    }

    fn truncate_after_unguarded(&mut self, index: u64) -> Result<()> {
        assert!(
            index + 1 >= self.first_index(),
            "truncate_after({index}) below the log start {}",
            self.first_index()
        );
        if index >= self.last_index() {
            return Ok(());
        }
        let first_removed = index + 1;
        let mut deleted = false;
        // Newest first, so a crash part-way leaves a log that is a prefix.
        while self.active().first_index() > first_removed {
            let segment = self.segments.pop().expect("segment");
            segment.delete()?;
            deleted = true;
        }
        if deleted {
            fsync_dir(&self.dir)?;
        }
        let active = self.active_mut();
        active.reopen_active()?;
        active.truncate_from(first_removed)?;
        self.last_term = self.read_term(index)?;
        self.check_invariants();
        Ok(())
    }

    /// Drops the entries up to and including `index` once a snapshot covers
    /// them; the term at `index` is kept so `term(index)` still answers.
    /// No-op for an index already compacted. The log's view changes at
    /// once; the start record and the deletion of whole segments follow on
    /// a thread ([`Self::wait_for_compaction`]), safe to lose in a crash
    /// because the covering snapshot is already durable.
    pub fn compact_through(&mut self, index: u64) -> Result<()> {
        self.refuse_if_failed()?;
        let result = self
            .compactor
            .poll()
            .and_then(|()| self.compact_through_unguarded(index));
        self.failed |= result.as_ref().is_err_and(|e| !e.is_refusal());
        result
    }

    /// Waits until the last compaction is on disk.
    pub fn wait_for_compaction(&mut self) -> Result<()> {
        self.refuse_if_failed()?;
        let result = self.compactor.wait();
        self.failed |= result.as_ref().is_err_and(|e| !e.is_refusal());
        result
    }

    fn compact_through_unguarded(&mut self, index: u64) -> Result<()> {
        if index < self.first_index() {
            return Ok(());
        }
        assert!(
            index <= self.last_index(),
            "compact_through({index}) past the last index {}; use reset_to_snapshot",
            self.last_index()
        );
        let start = LogStart {
            first_index: index + 1,
            prev_term: self.read_term(index)?,
        };
        self.start = start;
        let obsolete = self
            .segments
            .windows(2)
            .take_while(|pair| pair[1].first_index() <= start.first_index)
            .count();
        let obsolete: Vec<Segment> = self.segments.drain(..obsolete).collect();
        // The start record is the commit point; the segments are deleted
        // after it, on the compactor's thread (see `log_compaction.rs` for
        // why the disk may lag the log's view).
        self.compactor.start(self.dir.clone(), start, obsolete)
    }

    /// Makes the log start right after a snapshot (paper §7, InstallSnapshot
    /// receiver steps 6-7): if the log holds the snapshot's last entry with
    /// the same term, the entries after it are kept; otherwise the whole log
    /// is discarded and the next append must be `snapshot_index + 1`.
    pub fn reset_to_snapshot(&mut self, snapshot_index: u64, snapshot_term: u64) -> Result<()> {
        self.refuse_if_failed()?;
        let result = self
            .compactor
            .poll()
            .and_then(|()| self.reset_to_snapshot_unguarded(snapshot_index, snapshot_term));
        self.failed |= result.as_ref().is_err_and(|e| !e.is_refusal());
        result
    }

    fn reset_to_snapshot_unguarded(
        &mut self,
        snapshot_index: u64,
        snapshot_term: u64,
    ) -> Result<()> {
        assert!(
            snapshot_index + 1 >= self.first_index(),
            "snapshot {snapshot_index} older than the log start {}",
            self.first_index()
        );
        if self.term(snapshot_index)? == Some(snapshot_term) {
            return self.compact_through_unguarded(snapshot_index);
        }
        // Its start record must not land after ours.
        self.compactor.wait()?;
        // Newest first, so a crash part-way leaves a prefix of the old log
        // (which the snapshot, already durable, supersedes on restart).
        while let Some(segment) = self.segments.pop() {
            segment.delete()?;
        }
        fsync_dir(&self.dir)?;
        let start = LogStart {
            first_index: snapshot_index + 1,
            prev_term: snapshot_term,
        };
        write_log_start(&self.dir, start)?;
        self.start = start;
        let segment = self.new_segment(start.first_index)?;
        self.segments.push(segment);
        self.last_term = snapshot_term;
        Ok(())
    }
}

/// Segment files in `dir`, ordered by first index. Index files whose segment
/// is gone (a crash between deleting the two) are removed.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(first_index) = parse_segment_file_name(&name) {
            segments.push((first_index, entry.path()));
        } else if let Some(first_index) = parse_index_file_name(&name) {
            indexes.push((first_index, entry.path()));
        }
    }
    segments.sort_unstable();
    for (first_index, path) in indexes {
        if segments
            .binary_search_by_key(&first_index, |s| s.0)
            .is_err()
        {
            remove_if_exists(&path)?;
        }
    }
    Ok(segments)
}
