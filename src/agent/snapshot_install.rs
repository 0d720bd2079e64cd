//! A follower's install of a snapshot received from the leader, off the
//! loop: the staged file is finished (fsynced, renamed) and the state
//! machine rebuilt from it by a thread of its own, because with hundreds of
//! thousands of keys both take far longer than the loop may stall (the
//! issue's bound is 1 ms). Meanwhile the loop keeps serving gossip, stale
//! reads and forwarding, and the core holds the Ready that asked for the
//! install (no later Ready before it is advanced), so nothing is appended
//! or applied on top of a state machine that is not there yet.

use std::io::BufReader;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::raft::SnapshotMeta as CoreSnapshotMeta;
use crate::storage::snapshot_store::snapshot_file_name;
use crate::storage::{SnapshotReader, SnapshotWriter};

use super::state_machine::StateMachine;

/// What the install thread hands back: the restored state machine and a
/// reader over the stored snapshot (to serve it to other followers), or why
/// it failed.
type InstallOutcome = Result<(StateMachine, SnapshotReader), String>;

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
    pub took: Duration,
}

impl SnapshotInstall {
    /// Starts finishing `staged` and restoring the state machine from it.
    /// `dir` is the snapshots directory the writer stores into.
    pub fn start(
        staged: SnapshotWriter,
        dir: PathBuf,
        meta: CoreSnapshotMeta,
    ) -> std::io::Result<SnapshotInstall> {
        let index = meta.index;
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
                    Ok(done) => Ok(done),
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
        let (state, reader) = self
            .handle
            .join()
            .unwrap_or_else(|_| Err("the snapshot install thread panicked".into()))?;
        Ok(InstalledSnapshot {
            meta: self.meta,
            state,
            reader,
            took,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{SnapshotMeta, SnapshotStore};
    use crate::wire::command::Command;
    use crate::wire::raft_message::Configuration;

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
            cas: None,
        };
        source.apply(1, &put.to_bytes());
        let mut data = Vec::new();
        source.write_snapshot(&mut data).unwrap();
        let install =
            SnapshotInstall::start(staged(&store, 1, &data), dir.clone(), meta(1)).unwrap();
        let done = install.join().unwrap();
        assert_eq!(done.state, source);
        assert!(done.reader.path().exists());
        assert_eq!(done.reader.meta().last_included_index, 1);
        assert_eq!(store.latest().unwrap().unwrap().0.last_included_index, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn snapshot_that_does_not_restore_is_not_kept() {
        let dir = fresh_dir("bad");
        let store = SnapshotStore::open(&dir).unwrap();
        let install = SnapshotInstall::start(
            staged(&store, 5, b"not a state machine"),
            dir.clone(),
            meta(5),
        )
        .unwrap();
        let err = install.join().err().expect("garbage must not restore");
        assert!(err.contains("received snapshot"), "{err}");
        assert!(store.latest().unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
