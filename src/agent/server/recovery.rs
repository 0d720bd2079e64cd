//! Recovery: a server's Raft side rebuilt from its data directory at start
//! (log, hard state, newest snapshot), and rebuilt in place from the same
//! durable image when a received snapshot cannot be installed: that is
//! handled like a crash of the Raft host, without the process exiting.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::SocketAddr;

use crate::deterministic_rng::SplitMix64;
use crate::raft::{
    HardState, RaftConfig, RaftNode, RestoredState, Role, SnapshotMeta as CoreSnapshotMeta,
};
use crate::state_machine::StateMachine;
use crate::storage::node_id_file::load_or_create_node_id;
use crate::storage::{DataDir, HardStateStore, LogOptions, RaftLog, SnapshotReader, SnapshotStore};
use crate::wire::raft_message::NodeId;

use crate::agent::metrics::Registry;
use crate::agent::seam::Context;
use crate::agent::server::blocked_queries::BlockedQueries;
use crate::agent::server::pending_writes::PendingWrites;
use crate::agent::server::snapshot::receiver::SnapshotReceiver;
use crate::agent::server::snapshot::schedule::SnapshotSchedule;
use crate::agent::server::{
    ELECTION_TIMEOUT_TICKS, HEARTBEAT_INTERVAL_TICKS, LEASE_DURATION_MS, MAX_PENDING_WRITES,
    RaftServer, RaftServerError,
};

impl RaftServer {
    /// Opens `data_dir` (taking its lock), recovers the log, hard state and
    /// latest snapshot, and rebuilds the core and the state machine. `seed`
    /// is the entropy for a new node ID and the core's election jitter.
    pub fn open(
        data_dir: &std::path::Path,
        name: &str,
        advertise: SocketAddr,
        seed: u64,
    ) -> Result<RaftServer, RaftServerError> {
        Self::open_with_log_options(data_dir, name, advertise, seed, LogOptions::default())
    }

    /// [`Self::open`] with the log's options given: a test knob, so that a
    /// simulator starting hundreds of servers need not zero-fill a 64 MiB
    /// segment for each.
    pub fn open_with_log_options(
        data_dir: &std::path::Path,
        name: &str,
        advertise: SocketAddr,
        seed: u64,
        log_options: LogOptions,
    ) -> Result<RaftServer, RaftServerError> {
        let mut seeds = SplitMix64::new(seed);
        let data_dir = DataDir::open(data_dir)?;
        let id = load_or_create_node_id(data_dir.path(), nonzero(&mut seeds))?;
        let raft_dir = data_dir.raft_dir();
        let mut log = RaftLog::open(&raft_dir, log_options)?;
        let (hard_state_store, hard_state) = HardStateStore::open(&raft_dir)?;
        let snapshots = SnapshotStore::open(&data_dir.snapshots_dir())?;
        let (state, snapshot, snapshot_reader) = match snapshots.latest()? {
            Some((meta, reader)) => {
                let state = StateMachine::restore_snapshot(BufReader::new(SnapshotReader::open(
                    reader.path(),
                )?))
                .map_err(|err| RaftServerError::Restore(err.to_string()))?;
                let core_meta = CoreSnapshotMeta {
                    index: meta.last_included_index,
                    term: meta.last_included_term,
                    configuration: meta.configuration.clone(),
                };
                trim_log_behind(&mut log, &core_meta)?;
                (state, Some(core_meta), Some(reader))
            }
            None => (StateMachine::new(), None, None),
        };
        let config = raft_config(id, name, advertise);
        let (node, had_data_at_start) =
            rebuild_core(&config, &log, hard_state, snapshot, nonzero(&mut seeds))?;
        log::info!(target: "raft",
            "raft node {id:016x} restored: last_index={} snapshot_index={} term={}",
            log.last_index(), node.snapshot_index(), node.term());
        Ok(RaftServer {
            _data_dir: data_dir,
            config,
            log: Some(log),
            hard_state_store,
            saved_hard_state: hard_state.unwrap_or_default(),
            snapshots,
            snapshot_reader,
            highest_commit_seen: node.commit_index(),
            node,
            state,
            pending_writes: PendingWrites::new(MAX_PENDING_WRITES),
            reads_in_flight: HashMap::new(),
            reads_to_serve: Vec::new(),
            blocked: BlockedQueries::default(),
            woken: Vec::new(),
            last_leader_contact: None,
            first_tick: None,
            clock_origin: None,
            next_read_id: 1,
            receiver: SnapshotReceiver::new(),
            snapshot_schedule: SnapshotSchedule::new(),
            had_data_at_start,
            last_role: Role::Follower,
            metrics: Registry::new(),
            follower_contact: Default::default(),
            inbound_links: HashMap::new(),
            last_snapshot_stall: None,
            snapshot_in_progress: None,
            parked_install: None,
            pending_transfer: None,
            pending_removal: None,
        })
    }

    /// After a snapshot from the leader could not be staged or installed:
    /// the transfer is dropped, and the core is rebuilt from the durable
    /// image, as a restart would (the Ready that asked for the install is
    /// abandoned: what it had not yet persisted is lost as in a crash, and
    /// none of the messages that promise it were sent). The state machine
    /// stays as applied: every entry it applied was committed and is in the
    /// log or a snapshot, so the commit hint is raised to it, and no entry
    /// is applied twice. The follower keeps serving stale reads and the
    /// leader sends a snapshot again.
    pub(super) fn recover_in_place(
        &mut self,
        ctx: &mut Context,
        mut log: RaftLog,
        why: &str,
    ) -> Result<(), RaftServerError> {
        log::error!(target: "raft",
            "{why}; snapshot transfer aborted, keeping the log and state at index {}",
            self.state.applied_index());
        self.receiver.abort();
        self.parked_install = None;
        let snapshot = self.snapshot_reader.as_ref().map(|reader| {
            let meta = reader.meta();
            CoreSnapshotMeta {
                index: meta.last_included_index,
                term: meta.last_included_term,
                configuration: meta.configuration.clone(),
            }
        });
        // Our own snapshot may have finished while the install was parked,
        // unused by the core (which had moved to the received one), so the
        // log was not compacted behind it: trim it as a restart would, or
        // the core refuses a log that does not start after the snapshot
        // (found by the agent simulator, seed 15658).
        if let Some(snapshot) = &snapshot {
            trim_log_behind(&mut log, snapshot)?;
        }
        let mut hard_state = self.saved_hard_state;
        hard_state.commit_index = hard_state.commit_index.max(self.state.applied_index());
        let (node, _) = rebuild_core(
            &self.config,
            &log,
            Some(hard_state),
            snapshot,
            nonzero(&mut SplitMix64::new(ctx.random_seed())),
        )?;
        self.log = Some(log);
        self.highest_commit_seen = node.commit_index();
        self.node = node;
        Ok(())
    }
}

/// A crash between writing a snapshot and compacting the log (or
/// installing a received one) leaves the log behind: finish now.
fn trim_log_behind(log: &mut RaftLog, snapshot: &CoreSnapshotMeta) -> Result<(), RaftServerError> {
    let (index, term) = (snapshot.index, snapshot.term);
    if log.term(index)? == Some(term) {
        if log.first_index() <= index {
            log.compact_through(index)?;
        }
    } else if log.last_index() != index || log.first_index() != index + 1 {
        log.reset_to_snapshot(index, term)?;
    }
    Ok(())
}

fn raft_config(id: NodeId, name: &str, advertise: SocketAddr) -> RaftConfig {
    RaftConfig {
        heartbeat_interval_ticks: HEARTBEAT_INTERVAL_TICKS,
        election_timeout_ticks: ELECTION_TIMEOUT_TICKS,
        lease_reads: true,
        lease_duration_ms: LEASE_DURATION_MS,
        ..RaftConfig::new(id, name, advertise.to_string())
    }
}

/// The core from the durable image; also whether that image held any Raft
/// state.
fn rebuild_core(
    config: &RaftConfig,
    log: &RaftLog,
    hard_state: Option<HardState>,
    snapshot: Option<CoreSnapshotMeta>,
    seed: u64,
) -> Result<(RaftNode, bool), RaftServerError> {
    let (first, last) = (log.first_index(), log.last_index());
    let entries = if last >= first {
        log.entries(first, last + 1, u64::MAX)?
    } else {
        Vec::new()
    };
    let restored = RestoredState {
        hard_state,
        snapshot,
        entries,
    };
    let had_data = !restored.is_empty();
    let node = RaftNode::new(config.clone(), restored, seed)
        .map_err(|err| RaftServerError::Restore(err.to_string()))?;
    Ok((node, had_data))
}

fn nonzero(rng: &mut SplitMix64) -> u64 {
    loop {
        let value = rng.next_u64();
        if value != 0 {
            return value;
        }
    }
}
