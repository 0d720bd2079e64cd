//! The few file-system moves every durable write here is built from: fsync a
//! directory (so a create, rename or delete survives a crash) and replace a
//! small file atomically (temporary file, fsync, rename, fsync directory).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::error::{IoContext, Result, StorageError};

/// The suffix of every file written under a temporary name. A file with this
/// suffix found at open is the leftover of a crash before its rename and is
/// deleted: the rename is the commit point, so its content never counted.
pub const TEMPORARY_SUFFIX: &str = ".tmp";

/// Makes the directory's entries (creates, renames, deletes) durable. On
/// Linux a rename is only crash-safe once the directory itself is fsynced.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TEMPORARY_SUFFIX);
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` so that after a crash the file holds either
/// the old or the new bytes, never a mix: write a temporary file, fsync it,
/// rename it over `path`, fsync the directory.
pub fn replace_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temporary = temporary_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .at(&temporary)?;
    file.write_all(bytes).at(&temporary)?;
    file.sync_data().at(&temporary)?;
    drop(file);
    fs::rename(&temporary, path).at(path)?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Deletes the `*.tmp` files in `dir` whose names start with one of
/// `prefixes` (crash leftovers); returns how many. Each store only clears its
/// own, so opening one never deletes a file another is writing.
pub fn remove_temporary_files(dir: &Path, prefixes: &[&str]) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(TEMPORARY_SUFFIX) && prefixes.iter().any(|p| name.starts_with(p)) {
            let path = entry.path();
            log::warn!(target: "storage", "removing {} left by an interrupted write", path.display());
            fs::remove_file(&path).at(&path)?;
            removed += 1;
        }
    }
    if removed > 0 {
        fsync_dir(dir)?;
    }
    Ok(removed)
}

/// Reads a small file whole, or `None` if it does not exist. A file longer
/// than `max_bytes` is corruption, found without reading it: `fs::read`
/// would first allocate whatever length the file claims, and a damaged or
/// replaced file can be any size.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells "too long" from "exactly the limit";
    // the buffer grows with bytes actually read, never with a claimed size.
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .at(path)?;
    if bytes.len() as u64 > max_bytes {
        return Err(StorageError::corruption(
            path,
            max_bytes,
            format!("file is longer than the {max_bytes} bytes its format allows"),
        ));
    }
    Ok(Some(bytes))
}
