//! Taking a snapshot of the state machine: cloned on the loop in O(1)
//! (persistent maps), serialized and fsynced off the loop, then the core is
//! told and the log compacted; and serving the newest snapshot's chunks to
//! a follower that is far behind.

use crate::raft::SnapshotChunk;
use crate::storage::snapshot_store::snapshot_file_name;
use crate::storage::{SnapshotHeader, SnapshotReader};
use crate::wire::raft_message::NodeId;

use crate::agent::seam::{Context, OffLoopResult, drop_off_the_loop};
use crate::agent::server::{RaftServer, RaftServerError, SnapshotInProgress};

impl RaftServer {
    /// Starts a snapshot at the applied index: the state machine is cloned
    /// on the loop (O(1): its maps are persistent, so the clone shares
    /// them), then written and fsynced by its own thread. The loop's share
    /// (here and in [`Self::finish_snapshot`]) is logged and shown by
    /// `node info` as `last_snapshot_stall_us`. It is wall time: on a
    /// loaded machine it includes whatever the scheduler ran instead.
    pub(in crate::agent::server) fn start_snapshot(
        &mut self,
        ctx: &mut Context,
    ) -> Result<(), RaftServerError> {
        let started = ctx.clock();
        let index = self.state.applied_index();
        let Some(meta) = self.node.snapshot_meta(index) else {
            return Ok(());
        };
        self.snapshot_schedule.on_started();
        let writer = self.snapshots.create(SnapshotHeader {
            last_included_index: meta.index,
            last_included_term: meta.term,
            configuration: meta.configuration.clone(),
            size_bytes: 0,
        })?;
        let state = self.state.clone();
        let path = self
            .snapshots
            .dir()
            .join(snapshot_file_name(meta.index, meta.term));
        let stall = ctx.clock().saturating_duration_since(started);
        self.last_snapshot_stall = Some(stall);
        let result = OffLoopResult::start(ctx, "snapshot", move || {
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, writer);
            state
                .write_snapshot(&mut out)
                .map_err(|err| format!("writing snapshot: {err}"))?;
            let writer = out
                .into_inner()
                .map_err(|err| format!("writing snapshot: {}", err.into_error()))?;
            writer.finish().map_err(|err| err.to_string())?;
            SnapshotReader::open(&path).map_err(|err| err.to_string())
        });
        log::debug!(target: "raft",
            "snapshot at index {index} started; cloning the state took {} us",
            stall.as_micros());
        self.snapshot_in_progress = Some(SnapshotInProgress {
            index,
            term: meta.term,
            started,
            result,
        });
        Ok(())
    }

    /// When the snapshot thread is done: tell the core and compact the log.
    /// A failed snapshot is logged and retried when the schedule says so
    /// again (`src/agent/snapshot_schedule.rs`); the log stays whole.
    pub(in crate::agent::server) fn finish_snapshot(
        &mut self,
        ctx: &mut Context,
    ) -> Result<(), RaftServerError> {
        if !self
            .snapshot_in_progress
            .as_ref()
            .is_some_and(|in_progress| in_progress.result.is_done())
        {
            return Ok(());
        }
        let finishing = ctx.clock();
        let in_progress = self.snapshot_in_progress.take().expect("checked above");
        let took = finishing.saturating_duration_since(in_progress.started);
        self.snapshot_schedule.on_finished(ctx.now(), took);
        let index = in_progress.index;
        let result = in_progress
            .result
            .take()
            .unwrap_or_else(|| Err("the snapshot result was taken twice".into()))
            .and_then(|written| written);
        let reader = match result {
            Ok(reader) => reader,
            Err(err) => {
                log::error!(target: "storage", "snapshot at index {index} failed: {err}");
                return Ok(());
            }
        };
        match self.node.snapshot_taken(index) {
            Err(err) => log::debug!(target: "raft", "snapshot at {index} not used: {err}"),
            Ok(compacted) => {
                drop_off_the_loop(ctx, compacted);
                let log = self.log();
                if log.first_index() <= index {
                    log.compact_through(index)?;
                }
            }
        }
        self.snapshot_reader = Some(reader);
        let stall = self.last_snapshot_stall.unwrap_or_default()
            + ctx.clock().saturating_duration_since(finishing);
        self.last_snapshot_stall = Some(stall);
        log::info!(target: "raft",
            "snapshot taken at index {index} (term {}) in {} ms; the loop stalled {} us",
            in_progress.term,
            took.as_millis(),
            stall.as_micros());
        Ok(())
    }

    pub(in crate::agent::server) fn serve_chunk(
        &mut self,
        to: NodeId,
        snapshot_index: u64,
        offset: u64,
        max_bytes: u64,
    ) {
        let Some(reader) = self.snapshot_reader.as_ref() else {
            return;
        };
        if reader.meta().last_included_index != snapshot_index {
            return;
        }
        let total = reader.size_bytes();
        let data = match reader.read_chunk_at(offset, max_bytes as usize) {
            Ok(data) => data,
            Err(err) => {
                log::error!(target: "storage", "cannot read snapshot chunk: {err}");
                return;
            }
        };
        let done = offset + data.len() as u64 >= total;
        let chunk = SnapshotChunk {
            to,
            snapshot_index,
            offset,
            total_size_bytes: total,
            data,
            done,
        };
        if let Err(err) = self.node.send_snapshot_chunk(chunk) {
            log::debug!(target: "raft", "snapshot chunk not sent: {err}");
        }
    }
}
