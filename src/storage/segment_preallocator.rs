//! Zero-fills the next segment on a background thread while the active one
//! is still being appended to. Writing 64 MiB of zeros takes long enough
//! (100 ms or more on a busy disk) that doing it inside `append` would stall
//! the Raft core past a heartbeat; done ahead of time, rolling to a new
//! segment costs one header write and two fsyncs.
//!
//! The spare file is named `segment-spare.tmp`, so a crash leaves nothing
//! that open does not clean up.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::error::Result;
use super::segment::create_zero_filled;

pub const SPARE_SEGMENT_FILE_NAME: &str = "segment-spare.tmp";

#[derive(Debug)]
pub struct SegmentPreallocator {
    spare_path: PathBuf,
    size_bytes: u64,
    /// At most one spare is prepared at a time.
    pending: Option<JoinHandle<Result<()>>>,
}

impl SegmentPreallocator {
    pub fn new(dir: &Path, size_bytes: u64) -> SegmentPreallocator {
        SegmentPreallocator {
            spare_path: dir.join(SPARE_SEGMENT_FILE_NAME),
            size_bytes,
            pending: None,
        }
    }

    pub fn is_started(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts zero-filling the spare unless that is already under way.
    pub fn start(&mut self) {
        if self.pending.is_some() {
            return;
        }
        let path = self.spare_path.clone();
        let size_bytes = self.size_bytes;
        let spawned = std::thread::Builder::new()
            .name("segment-prealloc".into())
            .spawn(move || create_zero_filled(&path, size_bytes));
        // If no thread can be started the spare is simply not there and the
        // next roll zero-fills synchronously.
        self.pending = spawned.ok();
    }

    /// The zero-filled spare, waiting for it if it is still being written;
    /// None when none was started.
    pub fn take(&mut self) -> Result<Option<PathBuf>> {
        let Some(handle) = self.pending.take() else {
            return Ok(None);
        };
        match handle.join() {
            Ok(result) => result.map(|()| Some(self.spare_path.clone())),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for SegmentPreallocator {
    fn drop(&mut self) {
        // Never leave a thread writing into a directory its log has let go of.
        if let Some(handle) = self.pending.take() {
            let _ = handle.join();
        }
    }
}
