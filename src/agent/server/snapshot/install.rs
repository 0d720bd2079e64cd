//! A follower's install of a snapshot received from the leader, off the
//! loop: the staged file is finished (fsynced, renamed), the state machine
//! rebuilt from it and the log reset behind it by a thread of its own,
//! because with hundreds of thousands of keys each of these takes far
//! longer than the loop may stall (measured inline: the log reset alone,
//! deleting old segments and creating a new one, took 40-70 ms). Meanwhile the loop keeps serving gossip, stale
//! reads and forwarding, and the core holds the Ready that asked for the
//! install (no later Ready before it is advanced), so nothing is appended
//! or applied on top of a state machine that is not there yet.

use std::io::BufReader;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::agent::seam::{Io, OffLoopResult};
use crate::raft::SnapshotMeta as CoreSnapshotMeta;
use crate::storage::snapshot_store::snapshot_file_name;
use crate::storage::{RaftLog, SnapshotReader, SnapshotWriter};

use crate::state_machine::StateMachine;

/// What the install thread hands back: the restored state machine, a
/// reader over the stored snapshot (to serve it to other followers) and the
/// log it was lent, or why it failed, with the log whenever it is still
/// whole (a failed restore leaves it untouched, so the follower keeps
/// serving its old state and the leader retries the transfer).
type InstallOutcome = Result<(StateMachine, SnapshotReader, RaftLog), FailedInstall>;

/// An install that did not happen.
pub struct FailedInstall {
    pub error: String,
    /// The lent log, unchanged; `None` only when resetting the log itself
    /// failed (the log then refuses changes and the agent must stop).
    pub log: Option<Box<RaftLog>>,
}

pub struct SnapshotInstall {
    meta: CoreSnapshotMeta,
    started: Instant,
    result: OffLoopResult<InstallOutcome>,
}

/// The finished install: the state machine to swap in.
pub struct InstalledSnapshot {
    pub meta: CoreSnapshotMeta,
    pub state: StateMachine,
    pub reader: SnapshotReader,
    /// The log, now starting right after the snapshot.
    pub log: RaftLog,
    pub took: Duration,
}

impl SnapshotInstall {
    /// Starts finishing `staged`, restoring the state machine from it and
    /// then resetting `log` to start after it (only after the restore
    /// succeeded, so a failed restore leaves the log as it was). `dir` is
    /// the snapshots directory the writer stores into. The caller lends the
    /// log and writes nothing to it until [`Self::finish`] gives it back.
    pub fn start(
        io: &mut dyn Io,
        staged: SnapshotWriter,
        dir: PathBuf,
        meta: CoreSnapshotMeta,
        log: RaftLog,
    ) -> SnapshotInstall {
        let work_meta = meta.clone();
        let result = OffLoopResult::start(io, "snapshot-install", move || {
            install(staged, &dir, &work_meta, log)
        });
        SnapshotInstall {
            meta,
            started: io.clock(),
            result,
        }
    }

    pub fn index(&self) -> u64 {
        self.meta.index
    }

    pub fn is_finished(&self) -> bool {
        self.result.is_done()
    }

    /// The outcome once [`Self::is_finished`]; `now` dates how long it took.
    pub fn finish(self, now: Instant) -> Result<InstalledSnapshot, FailedInstall> {
        let took = now.saturating_duration_since(self.started);
        let outcome = self
            .result
            .take()
            .unwrap_or_else(|| Err("the snapshot install was asked for before it finished".into()));
        let (state, reader, log) = outcome.unwrap_or_else(|panicked| {
            Err(FailedInstall {
                error: panicked,
                log: None,
            })
        })?;
        Ok(InstalledSnapshot {
            meta: self.meta,
            state,
            reader,
            log,
            took,
        })
    }
}

/// The install itself, on its own thread.
fn install(
    staged: SnapshotWriter,
    dir: &std::path::Path,
    meta: &CoreSnapshotMeta,
    mut log: RaftLog,
) -> InstallOutcome {
    let (index, term) = (meta.index, meta.term);
    let path = dir.join(snapshot_file_name(index, term));
    let restored = staged
        .finish()
        .map_err(|err| err.to_string())
        .and_then(|_| SnapshotReader::open(&path).map_err(|err| err.to_string()))
        .and_then(|reader| {
            StateMachine::restore_snapshot_at(BufReader::new(reader), index)
                .map_err(|err| err.to_string())
        })
        .and_then(|state| {
            let reader = SnapshotReader::open(&path).map_err(|err| err.to_string())?;
            Ok((state, reader))
        });
    let (state, reader) = match restored {
        Ok(restored) => restored,
        Err(err) => {
            // Not a snapshot to restart from either.
            if path.exists()
                && let Err(remove) = std::fs::remove_file(&path)
            {
                log::error!(target: "storage",
                    "cannot remove bad snapshot {}: {remove}", path.display());
            }
            return Err(FailedInstall {
                error: format!("received snapshot: {err}"),
                log: Some(Box::new(log)),
            });
        }
    };
    let reset = match log.term(index) {
        Ok(Some(t)) if t == term => log.compact_through(index),
        Ok(_) => log.reset_to_snapshot(index, term),
        Err(err) => Err(err),
    };
    match reset {
        Ok(()) => Ok((state, reader, log)),
        Err(err) => Err(FailedInstall {
            error: format!("resetting the log to the snapshot: {err}"),
            log: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{LogOptions, SnapshotHeader, SnapshotStore};
    use crate::wire::command::Command;
    use crate::wire::raft_message::{Configuration, Entry, EntryKind};

    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "concord-snapshot-install-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn staged(store: &SnapshotStore, index: u64, data: &[u8]) -> SnapshotWriter {
        let mut writer = store
            .create(SnapshotHeader {
                last_included_index: index,
                last_included_term: 2,
                configuration: Configuration::default(),
                size_bytes: data.len() as u64,
            })
            .unwrap();
        std::io::Write::write_all(&mut writer, data).unwrap();
        writer
    }

    /// A log holding entries 1..=3 of term 1, which no snapshot here
    /// matches (the snapshots are of term 2), so an install resets it.
    fn log_of_term_1(dir: &std::path::Path) -> RaftLog {
        let mut log = RaftLog::open(
            &dir.join("raft"),
            LogOptions {
                segment_size_bytes: 64 * 1024,
            },
        )
        .unwrap();
        let entries: Vec<Entry> = (1..=3)
            .map(|index| Entry {
                term: 1,
                index,
                kind: EntryKind::Command,
                data: vec![1; 10].into(),
            })
            .collect();
        log.append(&entries).unwrap();
        log
    }

    fn meta(index: u64) -> CoreSnapshotMeta {
        CoreSnapshotMeta {
            index,
            term: 2,
            configuration: Configuration::default(),
        }
    }

    #[test]
    fn installed_snapshot_restores_the_state_machine_it_carries() {
        let dir = fresh_dir("ok");
        let store = SnapshotStore::open(&dir).unwrap();
        let mut source = StateMachine::new();
        let put = Command::KvPut {
            key: "k".into(),
            value: bytes::Bytes::from_static(b"v"),
            flags: 0,
            cas: None,
        };
        source.apply(1, &put.to_bytes());
        let mut data = Vec::new();
        source.write_snapshot(&mut data).unwrap();
        let log = log_of_term_1(&dir);
        let (state, reader, log) = install(staged(&store, 1, &data), &dir, &meta(1), log)
            .unwrap_or_else(|failed| panic!("{}", failed.error));
        assert_eq!(log.first_index(), 2, "the log starts after the snapshot");
        assert_eq!(log.last_index(), 1, "the conflicting entries are gone");
        assert_eq!(state, source);
        assert!(reader.path().exists());
        assert_eq!(reader.meta().last_included_index, 1);
        assert_eq!(store.latest().unwrap().unwrap().0.last_included_index, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snapshot_that_does_not_restore_is_not_kept_and_leaves_the_log_alone() {
        let dir = fresh_dir("bad");
        let store = SnapshotStore::open(&dir).unwrap();
        let log = log_of_term_1(&dir);
        let Err(failed) = install(
            staged(&store, 5, b"not a state machine"),
            &dir,
            &meta(5),
            log,
        ) else {
            panic!("garbage must not restore");
        };
        assert!(
            failed.error.contains("received snapshot"),
            "{}",
            failed.error
        );
        assert!(store.latest().unwrap().is_none());
        let lent = *failed.log.expect("a failed restore hands the log back");
        assert_eq!((lent.first_index(), lent.last_index()), (1, 3));
        drop(lent);
        let log = RaftLog::open(&dir.join("raft"), LogOptions::default()).unwrap();
        assert_eq!((log.first_index(), log.last_index()), (1, 3));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
