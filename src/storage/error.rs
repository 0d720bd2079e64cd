//! The one error type of `src/storage/`. Corruption errors name the file and
//! the byte offset so an operator can find the bad bytes; I/O errors keep the
//! path they happened on.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum StorageError {
    /// An operating-system error on `path`.
    Io { path: PathBuf, source: io::Error },
    /// Bytes on disk that are not what this build wrote: a bad CRC that is not
    /// a torn tail, a bad magic, an impossible length or index.
    Corruption {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A file written by a format version this build does not read.
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// Another process (or another open in this process) holds the data
    /// directory's lock file.
    Locked { path: PathBuf },
    /// An earlier write or fsync of this log failed; it must be reopened
    /// before it is changed again.
    Failed { path: PathBuf },
    /// An entry whose record would not fit in one segment.
    EntryTooLarge { size_bytes: u64, max_bytes: u64 },
    /// A snapshot declared one size up front and a different number of bytes
    /// was written.
    SnapshotSizeMismatch {
        expected_bytes: u64,
        written_bytes: u64,
    },
}

pub type Result<T> = std::result::Result<T, StorageError>;

impl StorageError {
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        StorageError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn corruption(path: impl AsRef<Path>, offset: u64, reason: impl Into<String>) -> Self {
        StorageError::Corruption {
            path: path.as_ref().to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// An error returned before anything was written (the request itself
    /// was refused), which leaves the store as it was.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StorageError::EntryTooLarge { .. } | StorageError::Failed { .. }
        )
    }

    pub fn is_corruption(&self) -> bool {
        matches!(self, StorageError::Corruption { .. })
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            StorageError::Corruption {
                path,
                offset,
                reason,
            } => write!(
                f,
                "corrupt data in {} at byte offset {offset}: {reason}",
                path.display()
            ),
            StorageError::UnsupportedVersion { path, version } => write!(
                f,
                "{}: unsupported format version {version}",
                path.display()
            ),
            StorageError::Locked { path } => write!(
                f,
                "data directory is in use by another process (lock file {} is held)",
                path.display()
            ),
            StorageError::Failed { path } => write!(
                f,
                "{}: an earlier write failed; the log must be reopened",
                path.display()
            ),
            StorageError::EntryTooLarge {
                size_bytes,
                max_bytes,
            } => write!(
                f,
                "entry record of {size_bytes} bytes exceeds the per-segment limit of {max_bytes}"
            ),
            StorageError::SnapshotSizeMismatch {
                expected_bytes,
                written_bytes,
            } => write!(
                f,
                "snapshot declared {expected_bytes} bytes but {written_bytes} were written"
            ),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Attaches a path to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| StorageError::io(path, source))
    }
}
