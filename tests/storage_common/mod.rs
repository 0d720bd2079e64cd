//! Helpers shared by the storage integration tests: a self-deleting scratch
//! directory and deterministic entries.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use concord::wire::raft_message::{Entry, EntryKind};

/// A fresh directory under the system temp dir, removed on drop.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(label: &str) -> ScratchDir {
        ScratchDir::under(&std::env::temp_dir(), label)
    }

    /// On tmpfs when the machine has one (fsync is free there): for tests
    /// about decoding hostile bytes, not about durability.
    pub fn in_memory(label: &str) -> ScratchDir {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            ScratchDir::under(shm, label)
        } else {
            ScratchDir::new(label)
        }
    }

    fn under(base: &Path, label: &str) -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!(
            "concord-storage-{label}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// An entry whose data is derived from its index, so a read can be checked.
pub fn entry(index: u64, term: u64, data_len: usize) -> Entry {
    Entry {
        term,
        index,
        kind: match index % 3 {
            0 => EntryKind::Command,
            1 => EntryKind::Noop,
            _ => EntryKind::Configuration,
        },
        data: (0..data_len)
            .map(|i| (index as usize * 31 + i * 7) as u8)
            .collect(),
    }
}

/// Copies every file of `from` (one level) into a fresh `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for file in fs::read_dir(from).unwrap() {
        let file = file.unwrap();
        if file.file_type().unwrap().is_file() {
            fs::copy(file.path(), to.join(file.file_name())).unwrap();
        }
    }
}

/// Segment files of a log directory, ordered by first index.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

pub fn index_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    files.sort();
    files
}

/// Overwrites `bytes.len()` bytes of `path` at `offset`.
pub fn patch_file(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
    file.sync_all().unwrap();
}

pub fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let bytes = fs::read(path).unwrap();
    bytes[offset as usize..offset as usize + len].to_vec()
}
