//! A test's scratch directory: fresh, unique within the run, and removed
//! when it drops, unless the test failed or `KEEP_TEST_DIRS` is set, when it
//! is kept for a post-mortem and its path is printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Set (to anything) to keep every scratch directory, passed or failed.
pub const KEEP_ENV: &str = "KEEP_TEST_DIRS";

pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Under the system temp dir, named after `label`.
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
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let path = base.join(format!("concord-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path()/relative`, which need not exist yet.
    pub fn join(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test failed: kept {}", self.path.display());
        } else if std::env::var_os(KEEP_ENV).is_some() {
            eprintln!("{KEEP_ENV}: kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
