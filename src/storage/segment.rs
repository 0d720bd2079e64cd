//! One log segment file: a 32-byte header, then records back to back, then
//! zeros to the end of the preallocated file. Every segment is memory-mapped
//! read-only, and reads borrow straight from the map. The active (last)
//! segment also keeps a write handle: a batch is encoded into one buffer and
//! written with a single pwrite + fdatasync, which measured faster than
//! storing through a writable map and msync-ing it.
//!
//! Recovery rules (see wire-spec.md, section 10):
//! - sealed segments were fsynced before the next segment was created, so
//!   any bad record in them is corruption; their index file spares the scan;
//! - only the active segment can end in a torn write; it is scanned, and the
//!   first bad record ends the log *unless* a whole record of a later append
//!   batch follows it, which proves bit rot and is a hard error.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use super::durable_file::{fsync_dir, read_bounded, replace_atomically, temporary_path};
use super::error::{IoContext, Result, StorageError};
use super::log_record::{
    DecodedRecord, EntryRef, KIND_OFFSET, MAX_LOG_INDEX, RECORD_HEADER_BYTES, decode_record,
    encode_record_into, kind_from_code, next_nonzero_byte, record_bytes,
};
use super::segment_header::{
    SEGMENT_HEADER_BYTES, SegmentHeaderError, decode_segment_header, encode_segment_header,
};
use super::segment_index::{
    SegmentIndex, decode_segment_index, encode_segment_index, max_segment_index_bytes,
};
use crate::wire::raft_message::Entry;

pub const SEGMENT_FILE_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".log";
const INDEX_SUFFIX: &str = ".idx";

#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    first_index: u64,
    /// The whole file, read-only.
    map: Mmap,
    /// The write handle; Some only while this is the active segment.
    file: Option<File>,
    /// Byte offset of the record of index `first_index + i`.
    offsets: Vec<u32>,
    /// Byte offset just past the last record.
    written_end: usize,
    /// Records appended but not yet written (see `append` / `flush`).
    staged: Vec<u8>,
}

/// What opening the active segment found and repaired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TailRecovery {
    /// Bytes of a torn tail that were zeroed.
    pub dropped_bytes: u64,
}

pub fn segment_file_name(first_index: u64) -> String {
    format!("{SEGMENT_FILE_PREFIX}{first_index:020}{SEGMENT_SUFFIX}")
}

/// The first index encoded in a segment's file name, or None for any other file.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_FILE_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment log file an index file belongs to, if `name` is an index file.
pub fn parse_index_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(INDEX_SUFFIX)?;
    parse_segment_file_name(&format!("{stem}{SEGMENT_SUFFIX}"))
}

pub fn index_path_for(segment_path: &Path) -> PathBuf {
    segment_path.with_extension("idx")
}

fn open_read_write(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .at(path)
}

fn map_read_only(path: &Path, file: &File) -> Result<Mmap> {
    // SAFETY: segment files are only written by the RaftLog that owns the
    // data directory (the DataDir lock keeps other processes out). That log
    // writes a segment only through its `&mut Segment` methods, and only at
    // offsets at or past `written_end` (appends) or in a range it is removing
    // (truncation, torn-tail repair), so no `EntryRef` borrowed from the map
    // (which needs `&Segment`) can ever see its bytes change.
    unsafe { MmapOptions::new().map(file) }.at(path)
}

fn check_header(path: &Path, bytes: &[u8], first_index: u64) -> Result<()> {
    match decode_segment_header(bytes) {
        Ok(found) if found == first_index && (1..=MAX_LOG_INDEX).contains(&found) => Ok(()),
        Ok(found) => Err(StorageError::corruption(
            path,
            8,
            format!("segment header first index {found} does not match the file name"),
        )),
        Err(SegmentHeaderError::UnsupportedVersion(version)) => {
            Err(StorageError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            })
        }
        Err(e) => Err(StorageError::corruption(
            path,
            0,
            format!("bad segment header: {e:?}"),
        )),
    }
}

/// Fills the file with real zero blocks rather than a sparse hole: an
/// append then overwrites blocks that already exist, so its fdatasync writes
/// data only, with no block allocation to commit through the file-system
/// journal (on ext4 that is the difference between ~0.2 ms and ~4 ms).
fn write_zeros(file: &File, size_bytes: u64) -> std::io::Result<()> {
    const CHUNK_BYTES: u64 = 1024 * 1024;
    let zeros = vec![0u8; CHUNK_BYTES.min(size_bytes) as usize];
    let mut offset = 0;
    while offset < size_bytes {
        let len = (size_bytes - offset).min(CHUNK_BYTES) as usize;
        file.write_all_at(&zeros[..len], offset)?;
        offset += len as u64;
    }
    Ok(())
}

/// Record offsets are u32, so a segment is at most 4 GiB.
fn check_file_len(path: &Path, len: u64) -> Result<()> {
    if len < SEGMENT_HEADER_BYTES as u64 {
        return Err(StorageError::corruption(
            path,
            0,
            "segment shorter than its header",
        ));
    }
    if len > u64::from(u32::MAX) {
        return Err(StorageError::corruption(
            path,
            0,
            "segment larger than 4 GiB",
        ));
    }
    Ok(())
}

/// Creates (or replaces) `path` as `size_bytes` of durable zero blocks.
pub fn create_zero_filled(path: &Path, size_bytes: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .at(path)?;
    write_zeros(&file, size_bytes).at(path)?;
    file.sync_all().at(path)
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path).at(path)?.len())
}

impl Segment {
    /// Creates a preallocated, zero-filled segment synchronously.
    pub fn create(dir: &Path, first_index: u64, size_bytes: u64) -> Result<Segment> {
        let temporary = temporary_path(&dir.join(segment_file_name(first_index)));
        create_zero_filled(&temporary, size_bytes)?;
        Segment::install(dir, &temporary, first_index)
    }

    /// Turns a zero-filled file (made by [`create_zero_filled`], possibly
    /// ahead of time) into the segment starting at `first_index`. The header
    /// is written and fsynced before the rename, so a segment that exists
    /// under its real name always has a whole header.
    pub fn install(dir: &Path, zero_filled: &Path, first_index: u64) -> Result<Segment> {
        assert!(first_index > 0, "log indexes start at 1");
        let path = dir.join(segment_file_name(first_index));
        {
            let file = OpenOptions::new()
                .write(true)
                .open(zero_filled)
                .at(zero_filled)?;
            file.write_all_at(&encode_segment_header(first_index), 0)
                .at(zero_filled)?;
            file.sync_data().at(zero_filled)?;
        }
        fs::rename(zero_filled, &path).at(&path)?;
        fsync_dir(dir)?;
        let file = open_read_write(&path)?;
        let map = map_read_only(&path, &file)?;
        Ok(Segment {
            path,
            first_index,
            map,
            file: Some(file),
            offsets: Vec::new(),
            written_end: SEGMENT_HEADER_BYTES,
            staged: Vec::new(),
        })
    }

    /// Opens a segment that is not the last one. Uses its index file when it
    /// is valid; otherwise scans the segment strictly (any bad record is
    /// corruption) and rewrites the index.
    pub fn open_sealed(path: &Path, first_index: u64) -> Result<Segment> {
        let len = file_len(path)?;
        check_file_len(path, len)?;
        let map = map_read_only(path, &File::open(path).at(path)?)?;
        check_header(path, &map, first_index)?;
        let index_path = index_path_for(path);
        let loaded = match read_bounded(&index_path, max_segment_index_bytes(len)) {
            Ok(Some(bytes)) => match decode_segment_index(&bytes, first_index, len) {
                Ok(index) => Some(index),
                Err(reason) => {
                    log::warn!(target: "storage", "rebuilding {}: {reason}", index_path.display());
                    None
                }
            },
            Ok(None) => None,
            Err(StorageError::Corruption { reason, .. }) => {
                log::warn!(target: "storage", "rebuilding {}: {reason}", index_path.display());
                None
            }
            Err(e) => return Err(e),
        };
        let mut segment = Segment {
            path: path.to_path_buf(),
            first_index,
            map,
            file: None,
            offsets: Vec::new(),
            written_end: SEGMENT_HEADER_BYTES,
            staged: Vec::new(),
        };
        match loaded {
            Some(index) => {
                segment.offsets = index.offsets;
                segment.written_end = index.written_end as usize;
                // Spot-check the ends so an index that does not describe this
                // segment is caught at open rather than at a later read.
                if let Some(last) = segment.last_index() {
                    segment.entry(first_index)?;
                    segment.entry(last)?;
                }
            }
            None => {
                segment.scan_strict()?;
                segment.write_index()?;
            }
        }
        Ok(segment)
    }

    /// Opens the last segment with a write handle, scanning every record and
    /// repairing a torn tail.
    pub fn open_active(path: &Path, first_index: u64) -> Result<(Segment, TailRecovery)> {
        let len = file_len(path)?;
        check_file_len(path, len)?;
        let file = open_read_write(path)?;
        let map = map_read_only(path, &file)?;
        check_header(path, &map, first_index)?;
        // An index beside the last segment is stale: the segment is written again.
        remove_if_exists(&index_path_for(path))?;
        let mut segment = Segment {
            path: path.to_path_buf(),
            first_index,
            map,
            file: Some(file),
            offsets: Vec::new(),
            written_end: SEGMENT_HEADER_BYTES,
            staged: Vec::new(),
        };
        let recovery = segment.scan_and_repair_tail()?;
        Ok((segment, recovery))
    }

    fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Reads whole records from the header on; stops at the first position
    /// that does not hold the next expected record.
    fn scan_valid_prefix(&mut self) {
        let mut position = SEGMENT_HEADER_BYTES;
        let mut offsets = Vec::new();
        let mut expected = self.first_index;
        let bytes = self.bytes();
        while let Ok(record) = decode_record(&bytes[position..]) {
            if record.entry.index != expected {
                break;
            }
            offsets.push(position as u32);
            position += record.record_bytes;
            expected += 1;
        }
        self.offsets = offsets;
        self.written_end = position;
    }

    fn scan_strict(&mut self) -> Result<()> {
        self.scan_valid_prefix();
        if next_nonzero_byte(self.bytes(), self.written_end).is_some() {
            return Err(self.bad_record_error(self.written_end));
        }
        Ok(())
    }

    fn bad_record_error(&self, offset: usize) -> StorageError {
        let reason = match decode_record(&self.bytes()[offset..]) {
            Ok(record) => format!(
                "record holds index {}, expected {}",
                record.entry.index,
                self.next_index()
            ),
            Err(reason) => reason.to_string(),
        };
        StorageError::corruption(&self.path, offset as u64, reason)
    }

    /// Finds the torn tail, if any, and decides whether it really is one.
    fn scan_and_repair_tail(&mut self) -> Result<TailRecovery> {
        self.scan_valid_prefix();
        let bad_offset = self.written_end;
        let bad_index = self.next_index();
        let bytes = self.bytes();
        let Some(first_nonzero) = next_nonzero_byte(bytes, bad_offset) else {
            return Ok(TailRecovery::default());
        };
        // A whole record with a valid CRC in the bad slot but the wrong index
        // cannot come from a torn write: space is zeroed before it is reused.
        if let Ok(record) = decode_record(&bytes[bad_offset..]) {
            return Err(StorageError::corruption(
                &self.path,
                bad_offset as u64,
                format!(
                    "record holds index {}, expected {bad_index}",
                    record.entry.index
                ),
            ));
        }
        // Look for whole records after the bad one. Each record's kind byte
        // (offset 32) is non-zero, so only positions 32 bytes before a
        // non-zero byte can start one.
        let mut probe = bad_offset + 1 + KIND_OFFSET;
        let head_end = probe.min(bytes.len());
        let mut last_nonzero = bytes[bad_offset..head_end]
            .iter()
            .rposition(|&b| b != 0)
            .map_or(first_nonzero, |p| (bad_offset + p).max(first_nonzero));
        while let Some(nonzero) = next_nonzero_byte(bytes, probe) {
            last_nonzero = nonzero;
            probe = nonzero + 1;
            let start = nonzero - KIND_OFFSET;
            if kind_from_code(bytes[nonzero]).is_none() {
                continue;
            }
            let Ok(record) = decode_record(&bytes[start..]) else {
                continue;
            };
            if !plausible_successor(&record, bad_index, start - bad_offset) {
                continue;
            }
            if record.batch_start_index > bad_index {
                return Err(StorageError::corruption(
                    &self.path,
                    bad_offset as u64,
                    format!(
                        "bad record for index {bad_index} is followed by a whole record \
                         (index {}, offset {start}) of a later append batch",
                        record.entry.index
                    ),
                ));
            }
            // Part of the same unfinished batch: skip over it.
            let end = start + record.record_bytes;
            if let Some(last) = bytes[start..end].iter().rposition(|&b| b != 0) {
                last_nonzero = last_nonzero.max(start + last);
            }
            probe = end.max(probe);
        }
        let garbage_end = last_nonzero + 1;
        let dropped_bytes = (garbage_end - bad_offset) as u64;
        log::warn!(
            target: "storage",
            "{}: torn write at the end of the log; dropping {dropped_bytes} bytes from offset {bad_offset} (entries from index {bad_index} on)",
            self.path.display()
        );
        self.zero_range(bad_offset, garbage_end)?;
        Ok(TailRecovery { dropped_bytes })
    }

    fn write_handle(&self) -> &File {
        self.file
            .as_ref()
            .unwrap_or_else(|| panic!("write to a sealed segment {}", self.path.display()))
    }

    /// Zeroes `[from, to)` and makes it durable, so stale bytes can never be
    /// mistaken for records after the space is reused.
    fn zero_range(&mut self, from: usize, to: usize) -> Result<()> {
        if to <= from {
            return Ok(());
        }
        const CHUNK_BYTES: usize = 1024 * 1024;
        let zeros = vec![0u8; (to - from).min(CHUNK_BYTES)];
        let file = self.write_handle();
        let mut offset = from;
        while offset < to {
            let len = (to - offset).min(CHUNK_BYTES);
            file.write_all_at(&zeros[..len], offset as u64)
                .at(&self.path)?;
            offset += len;
        }
        file.sync_data().at(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    pub fn entry_count(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// The index the next appended record must have.
    pub fn next_index(&self) -> u64 {
        self.first_index + self.entry_count()
    }

    pub fn last_index(&self) -> Option<u64> {
        (!self.offsets.is_empty()).then(|| self.next_index() - 1)
    }

    pub fn written_end(&self) -> usize {
        self.written_end
    }

    pub fn is_active(&self) -> bool {
        self.file.is_some()
    }

    /// Reads the record of `index` straight from the map, re-checking its
    /// CRC: sealed segments are not re-verified at open, so this is where
    /// bit rot in them is caught.
    pub fn entry(&self, index: u64) -> Result<EntryRef<'_>> {
        assert!(
            index >= self.first_index && index < self.next_index(),
            "index {index} outside segment {}",
            self.path.display()
        );
        let offset = self.offsets[(index - self.first_index) as usize] as usize;
        let bytes = &self.bytes()[offset..self.written_end];
        let record: DecodedRecord<'_> = decode_record(bytes)
            .map_err(|reason| StorageError::corruption(&self.path, offset as u64, reason))?;
        if record.entry.index != index {
            return Err(StorageError::corruption(
                &self.path,
                offset as u64,
                format!(
                    "record holds index {}, expected {index}",
                    record.entry.index
                ),
            ));
        }
        Ok(record.entry)
    }

    pub fn capacity_bytes(&self) -> usize {
        self.bytes().len()
    }

    pub fn has_room_for(&self, data_len: usize) -> bool {
        self.written_end + record_bytes(data_len) <= self.bytes().len()
    }

    /// Stages one record. Not readable nor durable until [`Self::flush`].
    pub fn append(&mut self, entry: &Entry, batch_start_index: u64) {
        assert_eq!(entry.index, self.next_index(), "non-contiguous append");
        assert!(self.has_room_for(entry.data.len()), "segment full");
        assert!(self.is_active(), "append to a sealed segment");
        let start = self.staged.len();
        self.staged
            .resize(start + record_bytes(entry.data.len()), 0);
        let written = encode_record_into(entry, batch_start_index, &mut self.staged[start..]);
        self.offsets.push(self.written_end as u32);
        self.written_end += written;
    }

    /// Writes the staged records with one pwrite and makes them durable
    /// with one fdatasync.
    pub fn flush(&mut self) -> Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let offset = (self.written_end - self.staged.len()) as u64;
        let file = self.write_handle();
        file.write_all_at(&self.staged, offset).at(&self.path)?;
        file.sync_data().at(&self.path)?;
        self.staged.clear();
        Ok(())
    }

    fn write_index(&self) -> Result<()> {
        let index = SegmentIndex {
            first_index: self.first_index,
            written_end: self.written_end as u32,
            offsets: self.offsets.clone(),
        };
        replace_atomically(&index_path_for(&self.path), &encode_segment_index(&index))
    }

    /// Seals a full segment: its records must already be flushed. Writes the
    /// index and drops the write handle.
    pub fn seal(&mut self) -> Result<()> {
        assert!(self.is_active(), "segment sealed twice");
        assert!(
            self.staged.is_empty(),
            "sealing a segment with unflushed records"
        );
        self.write_index()?;
        self.file = None;
        Ok(())
    }

    /// Makes a sealed segment writable again (before truncating into it).
    /// The index goes first, so a crash leaves no index describing records
    /// that are about to be zeroed.
    pub fn reopen_active(&mut self) -> Result<()> {
        if self.is_active() {
            return Ok(());
        }
        let index_path = index_path_for(&self.path);
        remove_if_exists(&index_path)?;
        fsync_dir(self.path.parent().unwrap_or(Path::new(".")))?;
        self.file = Some(open_read_write(&self.path)?);
        Ok(())
    }

    /// Removes the records from `index` on (zeroed and flushed).
    pub fn truncate_from(&mut self, index: u64) -> Result<()> {
        assert!(index >= self.first_index && index <= self.next_index());
        assert!(self.is_active(), "truncating a sealed segment");
        let keep = (index - self.first_index) as usize;
        let from = self
            .offsets
            .get(keep)
            .map_or(self.written_end, |&o| o as usize);
        let to = self.written_end;
        self.zero_range(from, to)?;
        self.offsets.truncate(keep);
        self.written_end = from;
        Ok(())
    }

    /// Deletes the segment file and its index.
    pub fn delete(self) -> Result<()> {
        let index_path = index_path_for(&self.path);
        drop(self.map);
        drop(self.file);
        remove_if_exists(&index_path)?;
        fs::remove_file(&self.path).at(&self.path)
    }
}

/// A record found after a bad slot can only belong to the log if its index
/// is not below the bad slot's and the records between could fit in the
/// bytes between. This rejects almost all garbage before its CRC is computed
/// twice.
fn plausible_successor(record: &DecodedRecord<'_>, bad_index: u64, distance: usize) -> bool {
    let index = record.entry.index;
    index >= bad_index && (index - bad_index) <= (distance / RECORD_HEADER_BYTES) as u64
}

pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_file_names_sort_by_first_index() {
        assert_eq!(segment_file_name(42), "segment-00000000000000000042.log");
        assert_eq!(parse_segment_file_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_file_name("segment-42.log"), None);
        assert_eq!(
            parse_segment_file_name("segment-0000000000000000004x.log"),
            None
        );
        assert_eq!(
            parse_index_file_name("segment-00000000000000000042.idx"),
            Some(42)
        );
    }
}
