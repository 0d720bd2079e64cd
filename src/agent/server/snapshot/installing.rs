//! A follower's side of InstallSnapshot on the loop: chunks from the leader
//! go to the staging file, and the Ready that asks for the install is
//! parked until the install thread ([`super::install`]) is done. Nothing a
//! peer sends can stop the agent here: a transfer that cannot be staged or
//! a snapshot that does not restore is aborted, the log and state are kept,
//! and the leader retries ([`RaftServer::recover_in_place`]).

use crate::raft::Ready;

use crate::agent::seam::{Context, drop_off_the_loop};
use crate::agent::server::snapshot::install::{FailedInstall, SnapshotInstall};
use crate::agent::server::{RaftServer, RaftServerError};

impl RaftServer {
    /// Stages the Ready's snapshot chunks. Returns whether the Ready goes
    /// on; when a chunk cannot be stored the transfer is aborted and the
    /// Ready abandoned.
    pub(in crate::agent::server) fn receive_chunks(
        &mut self,
        ctx: &mut Context,
        ready: &Ready,
    ) -> Result<bool, RaftServerError> {
        for chunk in &ready.snapshot_chunks {
            if let Err(err) = self.receiver.receive(&self.snapshots, chunk) {
                let log = self
                    .log
                    .take()
                    .expect("the log is here while no install runs");
                self.recover_in_place(
                    ctx,
                    log,
                    &format!("cannot stage the received snapshot: {err}"),
                )?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Moves the parked install on: starts its thread once our own
    /// snapshot writer is done, and when the thread is done makes the
    /// snapshot current and carries out the rest of its Ready. Returns
    /// whether no install is parked any more (new Readies may be handled).
    pub(in crate::agent::server) fn continue_install(
        &mut self,
        ctx: &mut Context,
    ) -> Result<bool, RaftServerError> {
        let Some(parked) = self.parked_install.as_mut() else {
            return Ok(true);
        };
        if parked.install.is_none() {
            if self.snapshot_in_progress.is_some() {
                return Ok(false);
            }
            let staged = match self.receiver.take_staged(&parked.meta) {
                Ok(staged) => staged,
                Err(err) => {
                    let log = self
                        .log
                        .take()
                        .expect("the log is here while no install runs");
                    self.recover_in_place(ctx, log, &format!("received snapshot: {err}"))?;
                    return Ok(true);
                }
            };
            let dir = self.snapshots.dir().to_path_buf();
            let log = self.log.take().expect("only one install at a time");
            log::info!(target: "raft",
                "installing snapshot at index {} (term {})", parked.meta.index, parked.meta.term);
            parked.install = Some(SnapshotInstall::start(
                ctx,
                staged,
                dir,
                parked.meta.clone(),
                log,
            ));
        }
        if !parked
            .install
            .as_ref()
            .is_some_and(SnapshotInstall::is_finished)
        {
            return Ok(false);
        }
        let swapping = ctx.clock();
        let parked = self.parked_install.take().expect("checked above");
        let install = parked.install.expect("checked above");
        let index = install.index();
        let installed = match install.finish(ctx.now()) {
            Ok(installed) => installed,
            Err(FailedInstall {
                error,
                log: Some(log),
            }) => {
                self.recover_in_place(ctx, *log, &error)?;
                return Ok(true);
            }
            Err(FailedInstall { error, log: None }) => {
                return Err(RaftServerError::Restore(error));
            }
        };
        self.log = Some(installed.log);
        let replaced = std::mem::replace(&mut self.state, installed.state);
        drop_off_the_loop(ctx, replaced);
        self.wake_all_blocked();
        self.snapshot_reader = Some(installed.reader);
        log::info!(target: "raft",
            "snapshot at index {index} installed in {} ms ({} keys); the loop stalled {} us",
            installed.took.as_millis(), self.state.kv().len(),
            ctx.clock().saturating_duration_since(swapping).as_micros());
        self.persist_and_apply(ctx, parked.ready)?;
        Ok(true)
    }
}
