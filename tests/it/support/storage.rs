//! Helpers shared by the storage tests: deterministic entries and surgery
//! on the files of a log directory.

use std::fs;
use std::path::{Path, PathBuf};

use concord::wire::raft_message::{Entry, EntryKind};

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
