//! Snapshot files in `DATA_DIR/raft/snapshots/`, written and read as streams
//! so a large snapshot is never held in memory whole.
//!
//! A snapshot is written under `<name>.tmp`, its header patched with the
//! size and data CRC, fsynced, renamed to
//! `snapshot-<index:020>-<term:020>.snap`, and the directory fsynced. Only
//! then do older snapshots get pruned, keeping [`SNAPSHOTS_KEPT`], so a crash
//! at any point leaves at least one whole snapshot that was complete before.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::durable_file::{fsync_dir, remove_temporary_files, temporary_path};
use super::error::{IoContext, Result, StorageError};
use super::snapshot_header::{SnapshotHeader, encode_snapshot_header, read_snapshot_header};

/// The newest snapshot plus one older, in case the newest turns out damaged.
pub const SNAPSHOTS_KEPT: usize = 2;
/// InstallSnapshot chunks are bounded by the wire frame limit; this bounds
/// what one `read_chunk_at` call allocates.
pub const MAX_SNAPSHOT_CHUNK_BYTES: usize = 16 * 1024 * 1024;
const SNAPSHOT_PREFIX: &str = "snapshot-";
const SNAPSHOT_SUFFIX: &str = ".snap";

pub fn snapshot_file_name(index: u64, term: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{index:020}-{term:020}{SNAPSHOT_SUFFIX}")
}

/// (last included index, term) from a snapshot file name.
pub fn parse_snapshot_file_name(name: &str) -> Option<(u64, u64)> {
    let body = name
        .strip_prefix(SNAPSHOT_PREFIX)?
        .strip_suffix(SNAPSHOT_SUFFIX)?;
    let (index, term) = body.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(term) {
        return None;
    }
    Some((index.parse().ok()?, term.parse().ok()?))
}

#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    /// Opens (or creates) the snapshot directory; removes the temporary file
    /// of a snapshot a crash interrupted.
    pub fn open(dir: &Path) -> Result<SnapshotStore> {
        fs::create_dir_all(dir).at(dir)?;
        remove_temporary_files(dir, &[SNAPSHOT_PREFIX])?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts a snapshot. `meta.size_bytes`, when not 0, is the size the
    /// caller expects to write (an InstallSnapshot's `total_size_bytes`) and
    /// `finish` fails if another number of bytes was written; when 0, the
    /// size is whatever was written.
    pub fn create(&self, meta: SnapshotHeader) -> Result<SnapshotWriter> {
        let final_path = self.dir.join(snapshot_file_name(
            meta.last_included_index,
            meta.last_included_term,
        ));
        let temporary = temporary_path(&final_path);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .at(&temporary)?;
        let expected_size_bytes = meta.size_bytes;
        // Reserve the header; its length does not depend on size or CRC.
        let placeholder = encode_snapshot_header(&meta, 0);
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        out.write_all(&placeholder).at(&temporary)?;
        Ok(SnapshotWriter {
            dir: self.dir.clone(),
            final_path,
            temporary,
            out: Some(out),
            meta,
            expected_size_bytes,
            hasher: crc32fast::Hasher::new(),
            written_bytes: 0,
        })
    }

    /// Snapshot files present, oldest first, as (index, term, path).
    pub fn list(&self) -> Result<Vec<(u64, u64, PathBuf)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).at(&self.dir)? {
            let entry = entry.at(&self.dir)?;
            if let Some((index, term)) =
                parse_snapshot_file_name(&entry.file_name().to_string_lossy())
            {
                found.push((index, term, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The newest snapshot with a reader over its data. The header is checked
    /// here; the data CRC is checked as the reader reaches the end (or by
    /// [`SnapshotReader::verify`]). A damaged newest snapshot is an error,
    /// not a silent fall-back to an older one.
    pub fn latest(&self) -> Result<Option<(SnapshotHeader, SnapshotReader)>> {
        let Some((index, term, path)) = self.list()?.pop() else {
            return Ok(None);
        };
        let reader = SnapshotReader::open(&path)?;
        let meta = reader.meta().clone();
        if (meta.last_included_index, meta.last_included_term) != (index, term) {
            return Err(StorageError::corruption(
                &path,
                8,
                "snapshot header disagrees with the file name",
            ));
        }
        Ok(Some((meta, reader)))
    }

    fn prune(&self) -> Result<()> {
        let found = self.list()?;
        let excess = found.len().saturating_sub(SNAPSHOTS_KEPT);
        for (_, _, path) in &found[..excess] {
            fs::remove_file(path).at(path)?;
        }
        if excess > 0 {
            fsync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// Streams a snapshot to disk; nothing is visible until [`finish`](Self::finish).
/// Dropping it unfinished deletes the temporary file.
#[derive(Debug)]
pub struct SnapshotWriter {
    dir: PathBuf,
    final_path: PathBuf,
    temporary: PathBuf,
    out: Option<BufWriter<File>>,
    meta: SnapshotHeader,
    expected_size_bytes: u64,
    hasher: crc32fast::Hasher,
    written_bytes: u64,
}

impl Write for SnapshotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self.out.as_mut().expect("write after finish");
        let n = out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written_bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("flush after finish").flush()
    }
}

impl SnapshotWriter {
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    /// Makes the snapshot durable and visible, then prunes old ones.
    pub fn finish(mut self) -> Result<SnapshotHeader> {
        let out = self.out.take().expect("finish twice");
        let file = out
            .into_inner()
            .map_err(|e| StorageError::io(&self.temporary, e.into_error()))?;
        if self.expected_size_bytes != 0 && self.expected_size_bytes != self.written_bytes {
            return Err(StorageError::SnapshotSizeMismatch {
                expected_bytes: self.expected_size_bytes,
                written_bytes: self.written_bytes,
            });
        }
        self.meta.size_bytes = self.written_bytes;
        let data_crc = self.hasher.clone().finalize();
        let header = encode_snapshot_header(&self.meta, data_crc);
        file.write_all_at(&header, 0).at(&self.temporary)?;
        file.sync_all().at(&self.temporary)?;
        drop(file);
        fs::rename(&self.temporary, &self.final_path).at(&self.final_path)?;
        fsync_dir(&self.dir)?;
        SnapshotStore {
            dir: self.dir.clone(),
        }
        .prune()?;
        Ok(self.meta.clone())
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if self.out.is_some() || self.temporary.exists() {
            // Unfinished or failed: the temporary file never counted.
            self.out = None;
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// Reads a snapshot's data as a stream ([`Read`]) or by offset
/// ([`read_chunk_at`](Self::read_chunk_at), for InstallSnapshot chunks).
#[derive(Debug)]
pub struct SnapshotReader {
    path: PathBuf,
    file: File,
    meta: SnapshotHeader,
    data_crc: u32,
    data_offset: u64,
    position: u64,
    hasher: crc32fast::Hasher,
}

impl SnapshotReader {
    pub fn open(path: &Path) -> Result<SnapshotReader> {
        let mut file = File::open(path).at(path)?;
        let header = read_snapshot_header(path, &mut file)?;
        let file_len = file.metadata().at(path)?.len();
        let expected_len = header.header_bytes.checked_add(header.meta.size_bytes);
        if expected_len != Some(file_len) {
            return Err(StorageError::corruption(
                path,
                file_len,
                format!(
                    "snapshot file is {file_len} bytes but its header promises {} of data",
                    header.meta.size_bytes
                ),
            ));
        }
        Ok(SnapshotReader {
            path: path.to_path_buf(),
            file,
            meta: header.meta,
            data_crc: header.data_crc,
            data_offset: header.header_bytes,
            position: 0,
            hasher: crc32fast::Hasher::new(),
        })
    }

    pub fn meta(&self) -> &SnapshotHeader {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn size_bytes(&self) -> u64 {
        self.meta.size_bytes
    }

    /// Up to `max_len` bytes of data starting at `offset` (fewer at the end;
    /// empty at or past the end). Does not move the stream position. The
    /// data CRC is not checked here; the receiver's reassembled snapshot is
    /// checked when it is read.
    pub fn read_chunk_at(&self, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        // The offset can come from a follower's InstallSnapshot response, so
        // it may be anything: past the end there is nothing to read, and the
        // file position is only computed for offsets inside the data (where
        // `data_offset + offset` cannot overflow, as `open` checked
        // `data_offset + size_bytes` against the file length).
        if offset >= self.meta.size_bytes {
            return Ok(Vec::new());
        }
        let available = self.meta.size_bytes - offset;
        let len = available.min(max_len.min(MAX_SNAPSHOT_CHUNK_BYTES) as u64) as usize;
        let mut chunk = vec![0u8; len];
        self.file
            .read_exact_at(&mut chunk, self.data_offset + offset)
            .at(&self.path)?;
        Ok(chunk)
    }

    /// Reads the whole data once and checks its CRC.
    pub fn verify(&self) -> Result<()> {
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut offset = 0;
        while offset < self.meta.size_bytes {
            let len = (self.meta.size_bytes - offset).min(buf.len() as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..len], self.data_offset + offset)
                .at(&self.path)?;
            hasher.update(&buf[..len]);
            offset += len as u64;
        }
        self.check_crc(hasher.finalize())
    }

    fn check_crc(&self, computed: u32) -> Result<()> {
        if computed == self.data_crc {
            Ok(())
        } else {
            Err(StorageError::corruption(
                &self.path,
                self.data_offset,
                format!(
                    "snapshot data CRC mismatch: stored {:#010x}, computed {computed:#010x}",
                    self.data_crc
                ),
            ))
        }
    }
}

impl Read for SnapshotReader {
    /// Streams the data; the read that reaches the end fails with
    /// `InvalidData` (wrapping the corruption error) if the CRC is wrong, so a
    /// consumer that reads to the end never applies damaged bytes silently.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.meta.size_bytes - self.position;
        let len = remaining.min(buf.len() as u64) as usize;
        if len == 0 {
            if buf.is_empty() {
                return Ok(0);
            }
            return self
                .check_crc(self.hasher.clone().finalize())
                .map(|()| 0)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let n = self
            .file
            .read_at(&mut buf[..len], self.data_offset + self.position)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                StorageError::corruption(
                    &self.path,
                    self.data_offset + self.position,
                    "snapshot file ends early",
                ),
            ));
        }
        self.hasher.update(&buf[..n]);
        self.position += n as u64;
        Ok(n)
    }
}
