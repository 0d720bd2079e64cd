//! The Raft log's appends and their fdatasync, off the event loop.
//!
//! The loop hands a Ready's truncation and entries to this thread together
//! with the log itself, keeps polling (the leader's AppendEntries leave
//! while its own fdatasync runs, Raft dissertation §10.2.1), and gets the
//! log back when the write is durable; the thread wakes the loop then.
//! Only after that does the server send `messages_after_persist` and
//! `advance` the core, so vote grants and append acknowledgements still
//! promise durable state and the leader counts itself toward a commit only
//! for entries on its disk (the contract in `src/raft/ready.rs`).
//!
//! The log moves between the loop and the thread rather than being shared:
//! [`LogHome`] says where it is, and touching it on the loop while a write
//! is in flight is a bug (asserted).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use mio::Waker;

use crate::storage::{RaftLog, StorageError};
use crate::wire::raft_message::Entry;

/// Writes handed to the thread and not yet reported back. The core allows
/// one outstanding Ready, so one write is in flight at a time; the entries
/// proposed meanwhile form the next (larger) batch.
pub const MAX_LOG_WRITES_IN_FLIGHT: usize = 1;

/// One Ready's log changes: drop entries after `truncate_after`, then
/// append `entries`, with one fdatasync.
#[derive(Debug, Default)]
pub struct LogWrite {
    pub truncate_after: Option<u64>,
    pub entries: Vec<Entry>,
}

impl LogWrite {
    pub fn is_empty(&self) -> bool {
        self.truncate_after.is_none() && self.entries.is_empty()
    }
}

/// What the thread reports: the log, and whether the write is durable.
type Finished = (RaftLog, Result<(), StorageError>);

/// The storage thread failed without reporting (it panicked): the log and
/// whatever it held are gone, so the node must stop.
#[derive(Debug)]
pub struct StorageThreadLost;

impl std::fmt::Display for StorageThreadLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the log storage thread stopped without reporting")
    }
}

impl std::error::Error for StorageThreadLost {}

pub struct StorageThread {
    jobs: Option<SyncSender<(RaftLog, LogWrite)>>,
    finished: Receiver<Finished>,
    handle: Option<JoinHandle<()>>,
}

impl StorageThread {
    /// Starts the thread; `waker` wakes the loop after every write.
    pub fn spawn(waker: Arc<Waker>) -> std::io::Result<StorageThread> {
        let (jobs, job_queue) = sync_channel::<(RaftLog, LogWrite)>(MAX_LOG_WRITES_IN_FLIGHT);
        let (report, finished) = sync_channel::<Finished>(MAX_LOG_WRITES_IN_FLIGHT);
        let handle = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                while let Ok((mut log, write)) = job_queue.recv() {
                    let result = write_durably(&mut log, &write);
                    if report.send((log, result)).is_err() {
                        return;
                    }
                    if let Err(err) = waker.wake() {
                        log::error!(target: "storage", "cannot wake the loop: {err}");
                    }
                }
            })?;
        Ok(StorageThread {
            jobs: Some(jobs),
            finished,
            handle: Some(handle),
        })
    }

    /// Hands the log and one write to the thread. The caller holds at most
    /// [`MAX_LOG_WRITES_IN_FLIGHT`] writes (it has given the log away), so
    /// this never blocks.
    pub fn submit(&self, log: RaftLog, write: LogWrite) -> Result<(), StorageThreadLost> {
        let jobs = self.jobs.as_ref().ok_or(StorageThreadLost)?;
        jobs.try_send((log, write)).map_err(|_| StorageThreadLost)
    }

    /// The finished write, if the thread reported one.
    pub fn try_finish(&self) -> Result<Option<Finished>, StorageThreadLost> {
        match self.finished.try_recv() {
            Ok(finished) => Ok(Some(finished)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(StorageThreadLost),
        }
    }
}

impl Drop for StorageThread {
    /// A write in flight at shutdown completes (the thread then finds the
    /// queue closed and exits), so the data directory lock outlives it.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn write_durably(log: &mut RaftLog, write: &LogWrite) -> Result<(), StorageError> {
    if let Some(index) = write.truncate_after {
        log.truncate_after(index)?;
    }
    if !write.entries.is_empty() {
        log.append(&write.entries)?;
    }
    Ok(())
}

/// Where the Raft log is: on the loop, or away with a write on the
/// [`StorageThread`]. Dereferences to the log on the loop.
pub struct LogHome {
    log: Option<RaftLog>,
}

impl LogHome {
    pub fn new(log: RaftLog) -> LogHome {
        LogHome { log: Some(log) }
    }

    /// Gives the log to the storage thread.
    pub fn take(&mut self) -> RaftLog {
        self.log
            .take()
            .expect("the log was given to the storage thread twice")
    }

    /// The storage thread gave it back.
    pub fn put_back(&mut self, log: RaftLog) {
        assert!(self.log.is_none(), "the log came back while at home");
        self.log = Some(log);
    }
}

impl Deref for LogHome {
    type Target = RaftLog;

    fn deref(&self) -> &RaftLog {
        self.log
            .as_ref()
            .expect("the log is used on the loop only while no write is in flight")
    }
}

impl DerefMut for LogHome {
    fn deref_mut(&mut self) -> &mut RaftLog {
        self.log
            .as_mut()
            .expect("the log is used on the loop only while no write is in flight")
    }
}
