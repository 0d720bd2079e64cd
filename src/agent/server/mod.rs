//! A server's Raft side: the core ([`RaftNode`]), its storage (log, hard
//! state, snapshots under `DATA_DIR/raft/`) and the replicated
//! [`StateMachine`], driven from the event loop. The Ready of a whole loop
//! turn is handled at once in [`RaftServer::handle_ready`] (group commit:
//! one fsync for everything the turn appended), in the order
//! `src/raft/ready.rs` gives.

pub mod committed_configuration;
pub mod pending_writes;
pub mod snapshot;

use std::collections::HashMap;
use std::io::BufReader;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::raft::{
    HardState, RaftConfig, RaftEvent, RaftNode, ReadState, Ready, RestoredState, Role,
    SnapshotChunk, SnapshotMeta as CoreSnapshotMeta,
};
use crate::storage::node_id_file::load_or_create_node_id;
use crate::storage::snapshot_store::snapshot_file_name;
use crate::storage::{
    DataDir, HardStateStore, LogOptions, RaftLog, SnapshotMeta, SnapshotReader, SnapshotStore,
    StorageError,
};
use crate::wire::client_message::{ClientResponse, ErrorCode, RequestBody, ResponseBody, RpcError};
use crate::wire::command::Command;
use crate::wire::raft_message::{ClusterId, EntryKind, NodeId, RaftMessage, Suffrage};

use crate::agent::cluster::info::RaftInfo;
use crate::agent::io::connection::ConnectionId;
use crate::agent::io::event_loop::Context;
use crate::agent::requests::routing::answer_read;
use crate::agent::server::committed_configuration::{
    COMMITTED_CONFIGURATION_FIELD, committed_configuration, committed_configuration_field,
};
use crate::agent::server::pending_writes::{Outcome, PendingWrite, PendingWrites};
use crate::agent::server::snapshot::install::SnapshotInstall;
use crate::agent::server::snapshot::receiver::SnapshotReceiver;
use crate::agent::server::snapshot::schedule::SnapshotSchedule;
use crate::state_machine::StateMachine;

/// Writes proposed and not yet applied; past it writes are refused.
pub const MAX_PENDING_WRITES: usize = 65_536;
/// A write not applied in this long is answered `Timeout`.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Consistent reads waiting for leadership confirmation or for the state
/// machine to reach their index.
pub const MAX_WAITING_READS: usize = 4096;
/// Ticks of the loop (10 ms each) between heartbeats, and the base election
/// timeout (randomized in [base, 2 base)). Loopback is fast but an fsync under
/// load can take milliseconds, and a 2-core machine runs several agents:
/// 100 ms heartbeats and a 500 ms election timeout keep elections quiet.
pub const HEARTBEAT_INTERVAL_TICKS: u32 = 10;
pub const ELECTION_TIMEOUT_TICKS: u32 = 50;
/// Ready rounds handled in one loop turn, so a turn stays short.
pub const MAX_READY_ROUNDS_PER_TURN: usize = 4;

#[derive(Debug)]
pub enum RaftServerError {
    Storage(StorageError),
    Restore(String),
}

impl std::fmt::Display for RaftServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RaftServerError::Storage(err) => write!(f, "raft storage: {err}"),
            RaftServerError::Restore(err) => write!(f, "cannot restore raft state: {err}"),
        }
    }
}

impl std::error::Error for RaftServerError {}

impl From<StorageError> for RaftServerError {
    fn from(err: StorageError) -> Self {
        RaftServerError::Storage(err)
    }
}

/// A consistent read waiting for its ReadIndex confirmation.
#[derive(Debug, Clone)]
struct WaitingRead {
    connection: ConnectionId,
    request_id: u64,
    body: RequestBody,
}

pub struct RaftServer {
    _data_dir: DataDir,
    /// Lent to the install thread while a received snapshot is installed
    /// (no Ready is handled then, so nothing else writes the log).
    log: Option<RaftLog>,
    hard_state_store: HardStateStore,
    saved_hard_state: HardState,
    snapshots: SnapshotStore,
    /// The newest snapshot, open for the chunks a follower asks for.
    snapshot_reader: Option<SnapshotReader>,
    node: RaftNode,
    state: StateMachine,
    pending_writes: PendingWrites,
    /// Reads given to the core, by read id.
    reads_in_flight: HashMap<u64, WaitingRead>,
    /// Confirmed reads waiting for the state machine to reach their index.
    reads_to_serve: Vec<(u64, WaitingRead)>,
    next_read_id: u64,
    /// The snapshot arriving from the leader, streamed to its staging file.
    receiver: SnapshotReceiver,
    snapshot_schedule: SnapshotSchedule,
    /// The store held Raft state at start-up (`--bootstrap-expect` counts
    /// only servers without it).
    had_data_at_start: bool,
    last_role: Role,
    /// Last connection each peer's messages came in on: the answer route to
    /// a peer whose address is not in our configuration yet.
    inbound_links: HashMap<NodeId, ConnectionId>,
    /// How long the latest snapshot stalled the loop.
    last_snapshot_stall: Option<Duration>,
    /// The snapshot being written by its own thread.
    snapshot_in_progress: Option<SnapshotInProgress>,
    /// A received snapshot being installed off the loop, with the Ready that
    /// asked for it: the rest of that Ready waits for the install.
    parked_install: Option<ParkedInstall>,
}

/// The Ready whose `snapshot_to_install` is being carried out; its later
/// steps (append, persist, apply, advance) run once the install is done.
struct ParkedInstall {
    ready: Ready,
    meta: CoreSnapshotMeta,
    /// `None` until our own snapshot writer is done: one writer at a time in
    /// the snapshots directory (each prunes).
    install: Option<SnapshotInstall>,
}

/// A snapshot of a copy of the state machine, written and fsynced off the
/// loop; the core is told and the log compacted when it is durable.
struct SnapshotInProgress {
    index: u64,
    term: u64,
    started: Instant,
    /// Hands back a reader over the finished snapshot (opening it is I/O
    /// too, kept off the loop).
    handle: std::thread::JoinHandle<Result<SnapshotReader, String>>,
}

impl RaftServer {
    fn log(&mut self) -> &mut RaftLog {
        self.log
            .as_mut()
            .expect("the log is away only while a snapshot installs, when no Ready is handled")
    }
}

/// Freeing a state machine of hundreds of thousands of keys, or the 8,192
/// entries a snapshot compacts, takes milliseconds; a thread of its own
/// does it (inline only if none starts).
fn drop_off_the_loop<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("deferred-free".into())
        .spawn(move || drop(value));
}

fn random_u64() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = crate::raft::SplitMix64::new(nanos ^ (u64::from(std::process::id()) << 32));
    loop {
        let value = rng.next_u64();
        if value != 0 {
            return value;
        }
    }
}

impl RaftServer {
    /// Opens `data_dir` (taking its lock), recovers the log, hard state and
    /// latest snapshot, and rebuilds the core and the state machine.
    pub fn open(
        data_dir: &std::path::Path,
        name: &str,
        advertise: SocketAddr,
    ) -> Result<RaftServer, RaftServerError> {
        let data_dir = DataDir::open(data_dir)?;
        let id = load_or_create_node_id(data_dir.path(), random_u64())?;
        let raft_dir = data_dir.raft_dir();
        let mut log = RaftLog::open(&raft_dir, LogOptions::default())?;
        let (hard_state_store, hard_state) = HardStateStore::open(&raft_dir)?;
        let snapshots = SnapshotStore::open(&data_dir.snapshots_dir())?;
        let mut state = StateMachine::new();
        let mut snapshot = None;
        let mut snapshot_reader = None;
        if let Some((meta, reader)) = snapshots.latest()? {
            state = StateMachine::restore_snapshot(BufReader::new(SnapshotReader::open(
                reader.path(),
            )?))
            .map_err(|err| RaftServerError::Restore(err.to_string()))?;
            let (index, term) = (meta.last_included_index, meta.last_included_term);
            // A crash between writing a snapshot and compacting the log (or
            // installing a received one) leaves the log behind: finish now.
            if log.term(index)? == Some(term) {
                if log.first_index() <= index {
                    log.compact_through(index)?;
                }
            } else if log.last_index() != index || log.first_index() != index + 1 {
                log.reset_to_snapshot(index, term)?;
            }
            snapshot = Some(CoreSnapshotMeta {
                index,
                term,
                configuration: meta.configuration.clone(),
            });
            snapshot_reader = Some(reader);
        }
        let first = log.first_index();
        let last = log.last_index();
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
        let had_data_at_start = !restored.is_empty();
        let config = RaftConfig {
            heartbeat_interval_ticks: HEARTBEAT_INTERVAL_TICKS,
            election_timeout_ticks: ELECTION_TIMEOUT_TICKS,
            ..RaftConfig::new(id, name, advertise.to_string())
        };
        let node = RaftNode::new(config, restored, random_u64())
            .map_err(|err| RaftServerError::Restore(err.to_string()))?;
        log::info!(target: "raft",
            "raft node {id:016x} restored: last_index={last} snapshot_index={} term={}",
            node.snapshot_index(), node.term());
        Ok(RaftServer {
            _data_dir: data_dir,
            log: Some(log),
            hard_state_store,
            saved_hard_state: hard_state.unwrap_or_default(),
            snapshots,
            snapshot_reader,
            node,
            state,
            pending_writes: PendingWrites::new(MAX_PENDING_WRITES),
            reads_in_flight: HashMap::new(),
            reads_to_serve: Vec::new(),
            next_read_id: 1,
            receiver: SnapshotReceiver::new(),
            snapshot_schedule: SnapshotSchedule::new(),
            had_data_at_start,
            last_role: Role::Follower,
            inbound_links: HashMap::new(),
            last_snapshot_stall: None,
            snapshot_in_progress: None,
            parked_install: None,
        })
    }

    pub fn node(&self) -> &RaftNode {
        &self.node
    }

    pub fn node_mut(&mut self) -> &mut RaftNode {
        &mut self.node
    }

    pub fn state(&self) -> &StateMachine {
        &self.state
    }

    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    pub fn cluster_id(&self) -> ClusterId {
        self.node.cluster_id()
    }

    pub fn had_data_at_start(&self) -> bool {
        self.had_data_at_start
    }

    pub fn is_leader(&self) -> bool {
        self.node.role() == Role::Leader
    }

    /// The leader's ID and peer address, when known.
    pub fn leader(&self) -> Option<(NodeId, SocketAddr)> {
        let leader = self.node.leader()?;
        let address = self.address_of(leader)?;
        Some((leader, address))
    }

    fn address_of(&self, id: NodeId) -> Option<SocketAddr> {
        self.node
            .latest_configuration()
            .servers
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.address.parse().ok())
    }

    pub fn on_raft_message(&mut self, from: ConnectionId, message: RaftMessage) {
        self.inbound_links.insert(message.from, from);
        if !self.receiver.on_install_snapshot(&message) {
            return;
        }
        self.node.step(message);
    }

    pub fn on_connection_closed(&mut self, id: ConnectionId) {
        self.inbound_links.retain(|_, link| *link != id);
        let reads: Vec<u64> = self
            .reads_in_flight
            .iter()
            .filter(|(_, r)| r.connection == id)
            .map(|(k, _)| *k)
            .collect();
        for read in reads {
            self.reads_in_flight.remove(&read);
        }
        self.reads_to_serve.retain(|(_, r)| r.connection != id);
    }

    pub fn tick(&mut self, ctx: &mut Context) {
        self.node.tick();
        for (_, write) in self.pending_writes.expire(ctx.now()) {
            reply_error(
                ctx,
                write.connection,
                write.request_id,
                ErrorCode::Timeout,
                "the write was not applied in time".into(),
            );
        }
    }

    /// Proposes a write on the leader; the client is answered when it is
    /// applied. `Err` when this server cannot take it (not leader, full).
    pub fn propose(
        &mut self,
        command: &Command,
        connection: ConnectionId,
        request_id: u64,
        now: Instant,
    ) -> Result<(), RpcError> {
        if !self.pending_writes.has_room() {
            return Err(rpc_error(
                ErrorCode::Internal,
                format!("too many writes in flight (limit {MAX_PENDING_WRITES})"),
            ));
        }
        let mut data = Vec::with_capacity(64);
        command.encode(&mut data);
        let index = self
            .node
            .propose(data)
            .map_err(|err| rpc_error(ErrorCode::NotLeader, format!("cannot propose: {err}")))?;
        self.pending_writes
            .insert(
                index,
                PendingWrite {
                    term: self.node.term(),
                    connection,
                    request_id,
                    deadline: now + WRITE_TIMEOUT,
                },
            )
            .map_err(|err| rpc_error(ErrorCode::Internal, err.to_string()))
    }

    /// A proposal nobody waits for (catalog changes from reconciliation).
    pub fn propose_unanswered(&mut self, command: &Command) -> bool {
        let mut data = Vec::with_capacity(64);
        command.encode(&mut data);
        self.node.propose(data).is_ok()
    }

    /// A linearizable read on the leader (ReadIndex).
    pub fn read_consistent(
        &mut self,
        connection: ConnectionId,
        request_id: u64,
        body: RequestBody,
    ) -> Result<(), RpcError> {
        if self.reads_in_flight.len() + self.reads_to_serve.len() >= MAX_WAITING_READS {
            return Err(rpc_error(
                ErrorCode::Internal,
                format!("too many reads waiting (limit {MAX_WAITING_READS})"),
            ));
        }
        let read_id = self.next_read_id;
        self.next_read_id += 1;
        self.node
            .read_index(read_id)
            .map_err(|err| rpc_error(ErrorCode::NotLeader, format!("cannot read: {err}")))?;
        self.reads_in_flight.insert(
            read_id,
            WaitingRead {
                connection,
                request_id,
                body,
            },
        );
        Ok(())
    }

    /// Sends one message to its peer: at the address in our configuration,
    /// or back on the connection the peer last wrote on.
    fn send(&self, ctx: &mut Context, message: &RaftMessage) {
        let result = match self.address_of(message.to) {
            Some(address) => ctx.send_raft(message.to, address, message),
            None => match self.inbound_links.get(&message.to) {
                Some(link) => ctx.send_frame(*link, message),
                None => {
                    log::debug!(target: "raft",
                        "no route to {:016x}; message dropped", message.to);
                    return;
                }
            },
        };
        if let Err(err) = result {
            log::debug!(target: "raft", "cannot send to {:016x}: {err}", message.to);
        }
    }

    /// Handles everything the core produced since the last call, in the
    /// order `src/raft/ready.rs` gives, then advances the core. Returns
    /// `Err` only when storage failed: the node must stop (a log whose
    /// write failed can no longer be trusted, see the durability contract).
    pub fn handle_ready(&mut self, ctx: &mut Context) -> Result<(), RaftServerError> {
        // `advance` can make more work ready at once (the leader's own
        // persist may commit entries, which are applied by the next Ready):
        // without waiting for the next event or tick, a few rounds go now.
        self.finish_snapshot()?;
        if !self.continue_install(ctx)? {
            self.check_role(ctx);
            return Ok(());
        }
        for _ in 0..MAX_READY_ROUNDS_PER_TURN {
            if !self.node.has_ready() {
                break;
            }
            self.handle_one_ready(ctx)?;
        }
        self.check_role(ctx);
        Ok(())
    }

    fn handle_one_ready(&mut self, ctx: &mut Context) -> Result<(), RaftServerError> {
        if !self.node.has_ready() {
            self.check_role(ctx);
            return Ok(());
        }
        let mut ready: Ready = self.node.ready();
        for message in &ready.messages {
            self.send(ctx, message);
        }
        self.receive_chunks(&ready)?;
        if let Some(meta) = ready.snapshot_to_install.take() {
            self.parked_install = Some(ParkedInstall {
                ready,
                meta,
                install: None,
            });
            self.continue_install(ctx)?;
            return Ok(());
        }
        if self
            .receiver
            .staging_index()
            .is_some_and(|index| index <= self.node.commit_index())
        {
            // The core forgets a transfer once its log has caught up past
            // it (a new leader may replicate entries instead): so does the
            // disk.
            self.receiver.abort();
        }
        self.persist_and_apply(ctx, ready)
    }

    /// Steps 4-6 of a Ready (`src/raft/ready.rs`), then `advance`.
    fn persist_and_apply(
        &mut self,
        ctx: &mut Context,
        mut ready: Ready,
    ) -> Result<(), RaftServerError> {
        // The messages may go before the disk write (`src/raft/ready.rs`
        // step 1); waiting for the turn's end would serialize the leader's
        // fsync and the followers'. Measured in README "Cluster benchmark".
        if !ready.messages.is_empty() && !ready.entries.is_empty() {
            ctx.flush_now();
        }
        if let Some(index) = ready.truncate_after {
            self.log().truncate_after(index)?;
        }
        if !ready.entries.is_empty() {
            self.log().append(&ready.entries)?;
        }
        if let Some(hard_state) = ready.hard_state {
            // Term, vote and cluster ID must be durable before any message
            // that announces them; the commit index is only a hint for the
            // restart (the leader re-establishes it), so it is written with
            // them rather than costing a file rename per turn.
            //
            // Why a restart never applies past what is durable and
            // committed: the commit index saved here is the core's commit
            // at this moment, so it names entries that were committed then
            // (a follower's commit never passes the entries it matched with
            // the leader, paper §5.3), and every entry through it is already
            // fsynced: they were appended in this or an earlier Ready, and
            // `RaftLog::append` fsyncs before returning. Committed entries
            // are never truncated (Leader Completeness, §5.4) and the log is
            // compacted only behind a durable snapshot, so at restart each
            // of them is in the log or covered by the snapshot, and the core
            // refuses a commit index beyond the log (`CommitBeyondLog`).
            // A saved commit index that lags only means re-applying fewer
            // entries until the leader's next heartbeat carries its own.
            let saved = self.saved_hard_state;
            if hard_state.current_term != saved.current_term
                || hard_state.voted_for != saved.voted_for
                || hard_state.cluster_id != saved.cluster_id
            {
                self.hard_state_store.save(&hard_state)?;
                self.saved_hard_state = hard_state;
            }
        }
        for message in &ready.messages_after_persist {
            self.send(ctx, message);
        }
        for entry in &ready.committed_entries {
            if entry.index <= self.state.applied_index() {
                continue;
            }
            self.snapshot_schedule.on_applied();
            if entry.kind != EntryKind::Command {
                self.state.skip(entry.index);
                if let Some(outcome) = self.pending_writes.on_applied(entry.index, entry.term) {
                    answer_superseded(ctx, outcome);
                }
                continue;
            }
            let result = self.state.apply(entry.index, &entry.data);
            match self.pending_writes.on_applied(entry.index, entry.term) {
                Some(Outcome::Applied(write)) => {
                    let body = match result.to_rpc() {
                        Ok(result) => ResponseBody::Ok(result),
                        Err(err) => ResponseBody::Err(err),
                    };
                    reply(ctx, write.connection, write.request_id, body);
                }
                Some(outcome) => answer_superseded(ctx, outcome),
                None => {}
            }
        }
        for ReadState { request_id, index } in ready.reads.drain(..) {
            if let Some(read) = self.reads_in_flight.remove(&request_id) {
                self.reads_to_serve.push((index, read));
            }
        }
        for request_id in ready.failed_reads.drain(..) {
            if let Some(read) = self.reads_in_flight.remove(&request_id) {
                reply_error(
                    ctx,
                    read.connection,
                    read.request_id,
                    ErrorCode::NoLeader,
                    "leadership lost before the read was confirmed".into(),
                );
            }
        }
        self.serve_reads(ctx);
        for request in &ready.snapshot_chunk_requests {
            self.serve_chunk(
                request.to,
                request.snapshot_index,
                request.offset,
                request.max_bytes,
            );
        }
        for event in &ready.events {
            log::log!(target: "raft", event.level(), "{event}");
            if let RaftEvent::SnapshotInstalled { .. } = event {
                self.snapshot_schedule.on_snapshot_installed();
            }
        }
        self.node.advance(&ready);
        self.check_role(ctx);
        if self.snapshot_in_progress.is_none() && self.snapshot_schedule.is_due(Instant::now()) {
            self.start_snapshot()?;
        }
        Ok(())
    }

    fn serve_reads(&mut self, ctx: &mut Context) {
        let applied = self.state.applied_index();
        let mut i = 0;
        while i < self.reads_to_serve.len() {
            if self.reads_to_serve[i].0 <= applied {
                let (_, read) = self.reads_to_serve.swap_remove(i);
                let body = match answer_read(&self.state, &read.body) {
                    Ok(result) => ResponseBody::Ok(result),
                    Err(err) => ResponseBody::Err(err),
                };
                reply(ctx, read.connection, read.request_id, body);
            } else {
                i += 1;
            }
        }
    }

    /// A deposed leader answers every write it still holds: their fate is
    /// unknown to it (hashicorp/raft fails its futures the same way).
    fn check_role(&mut self, ctx: &mut Context) {
        let role = self.node.role();
        if self.last_role == Role::Leader && role != Role::Leader {
            for (_, write) in self.pending_writes.drain_all() {
                reply_error(
                    ctx,
                    write.connection,
                    write.request_id,
                    ErrorCode::NoLeader,
                    "leadership lost; the write may or may not have been applied".into(),
                );
            }
            for (_, read) in std::mem::take(&mut self.reads_in_flight) {
                reply_error(
                    ctx,
                    read.connection,
                    read.request_id,
                    ErrorCode::NoLeader,
                    "leadership lost before the read was confirmed".into(),
                );
            }
        }
        self.last_role = role;
    }

    fn receive_chunks(&mut self, ready: &Ready) -> Result<(), RaftServerError> {
        for chunk in &ready.snapshot_chunks {
            self.receiver
                .receive(&self.snapshots, chunk)
                .map_err(|err| RaftServerError::Restore(format!("received snapshot: {err}")))?;
        }
        Ok(())
    }

    /// Moves the parked install on: starts its thread once our own
    /// snapshot writer is done, and when the thread is done makes the
    /// snapshot current and carries out the rest of its Ready. Returns
    /// whether no install is parked any more (new Readies may be handled).
    /// The log is reset only after the restore succeeded, so a failed
    /// restore leaves the log and the previous snapshot as they were.
    fn continue_install(&mut self, ctx: &mut Context) -> Result<bool, RaftServerError> {
        let Some(parked) = self.parked_install.as_mut() else {
            return Ok(true);
        };
        if parked.install.is_none() {
            if self.snapshot_in_progress.is_some() {
                return Ok(false);
            }
            let staged = self
                .receiver
                .take_staged(&parked.meta)
                .map_err(|err| RaftServerError::Restore(format!("received snapshot: {err}")))?;
            let dir = self.snapshots.dir().to_path_buf();
            let log = self.log.take().expect("only one install at a time");
            let install = SnapshotInstall::start(staged, dir.clone(), parked.meta.clone(), log)
                .map_err(|err| StorageError::io(&dir, err))?;
            log::info!(target: "raft",
                "installing snapshot at index {} (term {})", parked.meta.index, parked.meta.term);
            parked.install = Some(install);
        }
        if !parked
            .install
            .as_ref()
            .is_some_and(SnapshotInstall::is_finished)
        {
            return Ok(false);
        }
        let swapping = Instant::now();
        let parked = self.parked_install.take().expect("checked above");
        let install = parked.install.expect("checked above");
        let index = install.index();
        let installed = install.join().map_err(RaftServerError::Restore)?;
        self.log = Some(installed.log);
        let replaced = std::mem::replace(&mut self.state, installed.state);
        drop_off_the_loop(replaced);
        self.snapshot_reader = Some(installed.reader);
        log::info!(target: "raft",
            "snapshot at index {index} installed in {} ms ({} keys); the loop stalled {} us",
            installed.took.as_millis(), self.state.kv().len(), swapping.elapsed().as_micros());
        self.persist_and_apply(ctx, parked.ready)?;
        Ok(true)
    }

    fn serve_chunk(&mut self, to: NodeId, snapshot_index: u64, offset: u64, max_bytes: u64) {
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

    /// Starts a snapshot at the applied index: the state machine is cloned
    /// on the loop (O(1): its maps are persistent, so the clone shares
    /// them), then written and fsynced by its own thread. The loop's share
    /// (here and in [`Self::finish_snapshot`]) is logged and shown by
    /// `node info` as `last_snapshot_stall_us`. It is wall time: on a
    /// loaded machine it includes whatever the scheduler ran instead.
    fn start_snapshot(&mut self) -> Result<(), RaftServerError> {
        let started = Instant::now();
        let index = self.state.applied_index();
        let Some(meta) = self.node.snapshot_meta(index) else {
            return Ok(());
        };
        self.snapshot_schedule.on_started();
        let writer = self.snapshots.create(SnapshotMeta {
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
        let stall = started.elapsed();
        self.last_snapshot_stall = Some(stall);
        let handle = std::thread::Builder::new()
            .name("snapshot".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::with_capacity(256 * 1024, writer);
                state
                    .write_snapshot(&mut out)
                    .map_err(|err| format!("writing snapshot: {err}"))?;
                let writer = out
                    .into_inner()
                    .map_err(|err| format!("writing snapshot: {}", err.into_error()))?;
                writer.finish().map_err(|err| err.to_string())?;
                SnapshotReader::open(&path).map_err(|err| err.to_string())
            })
            .map_err(|err| StorageError::io(self.snapshots.dir(), err))?;
        log::debug!(target: "raft",
            "snapshot at index {index} started; cloning the state took {} us",
            stall.as_micros());
        self.snapshot_in_progress = Some(SnapshotInProgress {
            index,
            term: meta.term,
            started,
            handle,
        });
        Ok(())
    }

    /// When the snapshot thread is done: tell the core and compact the log.
    /// A failed snapshot is logged and retried when the schedule says so
    /// again (`src/agent/snapshot_schedule.rs`); the log stays whole.
    fn finish_snapshot(&mut self) -> Result<(), RaftServerError> {
        if !self
            .snapshot_in_progress
            .as_ref()
            .is_some_and(|in_progress| in_progress.handle.is_finished())
        {
            return Ok(());
        }
        let finishing = Instant::now();
        let in_progress = self.snapshot_in_progress.take().expect("checked above");
        self.snapshot_schedule
            .on_finished(finishing, in_progress.started.elapsed());
        let index = in_progress.index;
        let result = in_progress
            .handle
            .join()
            .unwrap_or_else(|_| Err("the snapshot thread panicked".into()));
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
                drop_off_the_loop(compacted);
                let log = self.log();
                if log.first_index() <= index {
                    log.compact_through(index)?;
                }
            }
        }
        self.snapshot_reader = Some(reader);
        let stall = self.last_snapshot_stall.unwrap_or_default() + finishing.elapsed();
        self.last_snapshot_stall = Some(stall);
        log::info!(target: "raft",
            "snapshot taken at index {index} (term {}) in {} ms; the loop stalled {} us",
            in_progress.term,
            in_progress.started.elapsed().as_millis(),
            stall.as_micros());
        Ok(())
    }

    pub fn info(&self) -> RaftInfo {
        let status = self.node.status();
        let state = match status.role {
            Role::Leader => "leader",
            Role::Candidate | Role::PreCandidate => "candidate",
            Role::Follower
                if !self
                    .node
                    .latest_configuration()
                    .servers
                    .iter()
                    .any(|s| s.id == status.id && s.suffrage == Suffrage::Voter) =>
            {
                "non-voter"
            }
            Role::Follower => "follower",
        };
        RaftInfo {
            state: state.into(),
            term: status.term,
            commit_index: status.commit_index,
            applied_index: self.state.applied_index(),
            last_log_index: status.last_log_index,
            last_snapshot_index: status.snapshot_index,
            num_peers: status.configuration.servers.len().saturating_sub(1),
        }
    }

    /// Extra `node info` fields the leader's reconciliation reads from other
    /// servers (their ID, cluster and whether they hold Raft data).
    pub fn identity_fields(&self) -> Vec<(String, String)> {
        vec![
            ("id".into(), format!("{:016x}", self.id())),
            ("cluster_id".into(), format!("{:032x}", self.cluster_id())),
            (
                "has_data".into(),
                (self.had_data_at_start || self.node.term() > 0).to_string(),
            ),
            (
                "leader".into(),
                self.node
                    .leader()
                    .map(|l| format!("{l:016x}"))
                    .unwrap_or_default(),
            ),
            (
                COMMITTED_CONFIGURATION_FIELD.into(),
                committed_configuration_field(committed_configuration(&self.node).as_ref()),
            ),
            (
                "last_snapshot_stall_us".into(),
                self.last_snapshot_stall
                    .map(|stall| stall.as_micros().to_string())
                    .unwrap_or_default(),
            ),
        ]
    }
}

pub fn rpc_error(code: ErrorCode, message: String) -> RpcError {
    RpcError {
        code,
        message,
        leader_hint: None,
    }
}

fn reply(ctx: &mut Context, to: ConnectionId, request_id: u64, body: ResponseBody) {
    if let Err(err) = ctx.reply(to, &ClientResponse { request_id, body }) {
        log::debug!(target: "agent", "cannot answer request {request_id}: {err}");
    }
}

pub fn reply_error(
    ctx: &mut Context,
    to: ConnectionId,
    request_id: u64,
    code: ErrorCode,
    message: String,
) {
    reply(
        ctx,
        to,
        request_id,
        ResponseBody::Err(rpc_error(code, message)),
    );
}

fn answer_superseded(ctx: &mut Context, outcome: Outcome) {
    let write = match outcome {
        Outcome::Applied(write) | Outcome::Superseded(write) => write,
    };
    reply_error(
        ctx,
        write.connection,
        write.request_id,
        ErrorCode::NoLeader,
        "the write was replaced by a new leader's log and did not happen".into(),
    );
}
