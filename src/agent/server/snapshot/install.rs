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
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::raft::SnapshotMeta as CoreSnapshotMeta;
use crate::storage::snapshot_store::snapshot_file_name;
use crate::storage::{RaftLog, SnapshotReader, SnapshotWriter};

use crate::state_machine::StateMachine;

/// What the install thread hands back: the restored state machine, a
/// reader over the stored snapshot (to serve it to other followers) and the
/// log it was lent, or why it failed.
type InstallOutcome = Result<(StateMachine, SnapshotReader, RaftLog), String>;

pub struct SnapshotInstall {
    meta: CoreSnapshotMeta,
    started: Instant,
    handle: JoinHandle<InstallOutcome>,
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
    /// log and writes nothing to it until [`Self::join`] gives it back.
    pub fn start(
        staged: SnapshotWriter,
        dir: PathBuf,
        meta: CoreSnapshotMeta,
        mut log: RaftLog,
    ) -> std::io::Result<SnapshotInstall> {
        let index = meta.index;
        let term = meta.term;
        let path = dir.join(snapshot_file_name(meta.index, meta.term));
        let handle = std::thread::Builder::new()
            .name("snapshot-install".into())
            .spawn(move || {
                staged
                    .finish()
                    .map_err(|err| format!("received snapshot: {err}"))?;
                let restored = SnapshotReader::open(&path)
                    .map_err(|err| err.to_string())
                    .and_then(|reader| {
                        StateMachine::restore_snapshot_at(BufReader::new(reader), index)
                            .map_err(|err| err.to_string())
                    })
                    .and_then(|state| {
                        let reader = SnapshotReader::open(&path).map_err(|err| err.to_string())?;
                        Ok((state, reader))
                    });
                match restored {
                    Ok((state, reader)) => {
                        let reset = if log.term(index).map_err(|err| err.to_string())? == Some(term)
                        {
                            log.compact_through(index)
                        } else {
                            log.reset_to_snapshot(index, term)
                        };
                        reset.map_err(|err| err.to_string())?;
                        Ok((state, reader, log))
                    }
                    Err(err) => {
                        // Not a snapshot to restart from either.
                        if let Err(remove) = std::fs::remove_file(&path) {
                            log::error!(target: "storage",
                                "cannot remove bad snapshot {}: {remove}", path.display());
                        }
                        Err(format!("received snapshot: {err}"))
                    }
                }
            })?;
        Ok(SnapshotInstall {
            meta,
            started: Instant::now(),
            handle,
        })
    }

    pub fn index(&self) -> u64 {
        self.meta.index
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the thread (at once when [`Self::is_finished`]).
    pub fn join(self) -> Result<InstalledSnapshot, String> {
        let took = self.started.elapsed();
        let (state, reader, log) = self
            .handle
            .join()
            .unwrap_or_else(|_| Err("the snapshot install thread panicked".into()))?;
        Ok(InstalledSnapshot {
            meta: self.meta,
            state,
            reader,
            log,
            took,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{LogOptions, SnapshotMeta, SnapshotStore};
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
            .create(SnapshotMeta {
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
                data: vec![1; 10],
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
            value: b"v".to_vec(),
            flags: 0,
            cas: None,
        };
        source.apply(1, &put.to_bytes());
        let mut data = Vec::new();
        source.write_snapshot(&mut data).unwrap();
        let log = log_of_term_1(&dir);
        let install =
            SnapshotInstall::start(staged(&store, 1, &data), dir.clone(), meta(1), log).unwrap();
        let done = install.join().unwrap();
        assert_eq!(
            done.log.first_index(),
            2,
            "the log starts after the snapshot"
        );
        assert_eq!(done.log.last_index(), 1, "the conflicting entries are gone");
        assert_eq!(done.state, source);
        assert!(done.reader.path().exists());
        assert_eq!(done.reader.meta().last_included_index, 1);
        assert_eq!(store.latest().unwrap().unwrap().0.last_included_index, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snapshot_that_does_not_restore_is_not_kept_and_leaves_the_log_alone() {
        let dir = fresh_dir("bad");
        let store = SnapshotStore::open(&dir).unwrap();
        let log = log_of_term_1(&dir);
        let install = SnapshotInstall::start(
            staged(&store, 5, b"not a state machine"),
            dir.clone(),
            meta(5),
            log,
        )
        .unwrap();
        let err = install.join().err().expect("garbage must not restore");
        assert!(err.contains("received snapshot"), "{err}");
        assert!(store.latest().unwrap().is_none());
        let log = RaftLog::open(&dir.join("raft"), LogOptions::default()).unwrap();
        assert_eq!((log.first_index(), log.last_index()), (1, 3));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
