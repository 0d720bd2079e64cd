//! A server's Raft side: the core ([`RaftNode`]), its storage (log, hard
//! state, snapshots under `DATA_DIR/raft/`) and the replicated
//! [`StateMachine`], driven from the event loop. The Ready of a whole loop
//! turn is handled at once in [`RaftServer::handle_ready`] (group commit:
//! one fsync for everything the turn appended), in the order
//! `src/raft/ready.rs` gives.

pub mod blocked_queries;
pub mod committed_configuration;
pub mod leadership_transfer;
pub mod peer_removal;
pub mod pending_writes;
mod raft_metrics;
pub mod reads;
mod ready_driver;
mod recovery;
pub mod snapshot;
mod status;
mod writes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::raft::{HardState, RaftConfig, RaftNode, Ready, Role, SnapshotMeta as CoreSnapshotMeta};
use crate::storage::{
    DataDir, HardStateStore, RaftLog, SnapshotReader, SnapshotStore, StorageError,
};
use crate::wire::client_message::{ErrorCode, RequestBody, RpcError};
use crate::wire::raft_message::{ClusterId, NodeId, RaftMessage};

use crate::agent::io::connection::ConnectionId;
use crate::agent::metrics::Registry;
use crate::agent::requests::reply::{reply_error, rpc_error};
use crate::agent::seam::{Context, OffLoopResult};
use crate::agent::server::blocked_queries::BlockedQueries;
use crate::agent::server::pending_writes::PendingWrites;
use crate::agent::server::raft_metrics::FollowerContact;
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
/// The leader lease: half the election timeout of 10 ms ticks, so a
/// quorum's acknowledgement of one heartbeat (every 100 ms) keeps reads off
/// the network until the next, with 250 ms to spare before any other
/// server could be elected.
pub const LEASE_DURATION_MS: u64 = ELECTION_TIMEOUT_TICKS as u64 * 10 / 2;
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

/// A read waiting for its ReadIndex confirmation, for the state machine to
/// reach its index, or (a blocking query) for a change.
#[derive(Debug, Clone)]
pub(crate) struct WaitingRead {
    pub(crate) connection: ConnectionId,
    pub(crate) request_id: u64,
    pub(crate) body: RequestBody,
    /// A blocking query's end: from then on it is answered whatever its
    /// index. `None` for a read that does not block.
    pub(crate) deadline: Option<Instant>,
}

/// Why a server did not take a client's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalRefused {
    /// It is not leading at this moment (deposed, or handing leadership
    /// over): the request waits for the leader and is routed again.
    NotLeading,
    /// Answer the client with this.
    Answer(RpcError),
}

pub struct RaftServer {
    _data_dir: DataDir,
    /// The core's configuration, kept to rebuild the core in place.
    config: RaftConfig,
    /// Lent to the install thread while a received snapshot is installed
    /// (no Ready is handled then, so nothing else writes the log).
    log: Option<RaftLog>,
    hard_state_store: HardStateStore,
    saved_hard_state: HardState,
    snapshots: SnapshotStore,
    /// The newest snapshot, open for the chunks a follower asks for.
    snapshot_reader: Option<SnapshotReader>,
    node: RaftNode,
    /// The highest commit index seen since the core was (re)built: it never
    /// goes back.
    highest_commit_seen: u64,
    state: StateMachine,
    pending_writes: PendingWrites,
    /// Reads given to the core, by read id: one read, or every blocking
    /// query one turn woke (they share a confirmation).
    reads_in_flight: HashMap<u64, Vec<WaitingRead>>,
    /// Confirmed reads waiting for the state machine to reach their index.
    reads_to_serve: Vec<(u64, WaitingRead)>,
    /// Blocking queries held until a change concerns them.
    blocked: BlockedQueries,
    /// Blocking queries woken (or timed out) and not yet read again.
    woken: Vec<WaitingRead>,
    /// When a message from the leader last arrived (`X-Consul-LastContact`).
    last_leader_contact: Option<Instant>,
    /// The loop's time at the first tick: the contact age before any.
    first_tick: Option<Instant>,
    /// Where the core's clock (`RaftNode::set_clock_ms`) counts from.
    clock_origin: Option<Instant>,
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
    /// The operator's leadership transfer waiting for a new leader.
    pending_transfer: Option<leadership_transfer::PendingTransfer>,
    /// The operator's peer removal waiting for its entry to commit.
    pending_removal: Option<peer_removal::PendingRemoval>,
    /// Commit, apply and fsync timings, role changes (`/v1/agent/metrics`).
    metrics: Registry,
    follower_contact: FollowerContact,
}

/// The Ready whose `snapshot_to_install` is being carried out; its later
/// steps (append, persist, apply, advance) run once the install is done.
pub(crate) struct ParkedInstall {
    ready: Ready,
    meta: CoreSnapshotMeta,
    /// `None` until our own snapshot writer is done: one writer at a time in
    /// the snapshots directory (each prunes).
    install: Option<SnapshotInstall>,
}

/// A snapshot of a copy of the state machine, written and fsynced off the
/// loop; the core is told and the log compacted when it is durable.
pub(crate) struct SnapshotInProgress {
    index: u64,
    term: u64,
    started: Instant,
    /// Hands back a reader over the finished snapshot (opening it is I/O
    /// too, kept off the loop).
    result: OffLoopResult<Result<SnapshotReader, String>>,
}

impl RaftServer {
    pub(in crate::agent::server) fn log(&mut self) -> &mut RaftLog {
        self.log
            .as_mut()
            .expect("the log is away only while a snapshot installs, when no Ready is handled")
    }
}

impl RaftServer {
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

    /// A test knob: snapshot every `entries` applied entries instead of
    /// [`snapshot::schedule::SNAPSHOT_EVERY_ENTRIES`], so a short simulated
    /// run takes snapshots and installs them.
    pub fn set_snapshot_every_entries(&mut self, entries: u64) {
        self.snapshot_schedule.set_every_entries(entries);
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

    pub fn on_raft_message(&mut self, from: ConnectionId, message: RaftMessage, now: Instant) {
        self.inbound_links.insert(message.from, from);
        if !self.receiver.on_install_snapshot(&message) {
            return;
        }
        let sender = message.from;
        self.note_contact(sender, now);
        self.sync_clock(now);
        self.node.step(message);
        if self.node.leader() == Some(sender) {
            self.last_leader_contact = Some(now);
        }
    }

    pub fn on_connection_closed(&mut self, id: ConnectionId) {
        self.inbound_links.retain(|_, link| *link != id);
        // A group emptied here stays until its confirmation comes: the
        // core holds its read ID.
        for group in self.reads_in_flight.values_mut() {
            group.retain(|r| r.connection != id);
        }
        self.reads_to_serve.retain(|(_, r)| r.connection != id);
        self.blocked.forget_connection(id);
        self.woken.retain(|r| r.connection != id);
    }

    /// The core's leader lease counts from heartbeats sent at this time
    /// (a time earlier than the real send only shortens it) and is checked
    /// against a fresh reading (`raft/lease.rs`).
    fn sync_clock(&mut self, now: Instant) {
        let origin = *self.clock_origin.get_or_insert(now);
        let elapsed = now.saturating_duration_since(origin).as_millis();
        self.node
            .set_clock_ms(u64::try_from(elapsed).unwrap_or(u64::MAX));
    }

    pub fn tick(&mut self, ctx: &mut Context) {
        self.sync_clock(ctx.now());
        self.node.tick();
        self.first_tick.get_or_insert(ctx.now());
        self.sample_last_contact(ctx.now());
        let expired = self.blocked.take_expired(ctx.now());
        if !expired.is_empty() {
            self.woken.extend(expired);
            self.serve_woken(ctx);
        }
        for (_, write) in self.pending_writes.expire(ctx.now()) {
            reply_error(
                ctx,
                write.connection,
                write.request_id,
                rpc_error(
                    ErrorCode::Timeout,
                    "timed out; the write may or may not have been applied".into(),
                ),
            );
        }
    }

    /// Sends one message to its peer: at the address in our configuration,
    /// or back on the connection the peer last wrote on.
    pub(in crate::agent::server) fn send(&self, ctx: &mut Context, message: &RaftMessage) {
        let result = match self.address_of(message.to) {
            Some(address) => ctx.send_raft(message.to, address, message),
            None => match self.inbound_links.get(&message.to) {
                Some(link) => ctx.send_raft_on(*link, message),
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
}
