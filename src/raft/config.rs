//! Tunables of the Raft core. Times are in ticks: the agent calls
//! [`super::RaftNode::tick`] at a fixed interval (10 ms by default).

use crate::wire::raft_message::NodeId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// This server's Raft identity.
    pub id: NodeId,
    /// Name and peer address written into the configuration at bootstrap.
    pub name: String,
    pub address: String,
    /// A leader sends a heartbeat after this many ticks without one.
    pub heartbeat_interval_ticks: u32,
    /// Base election timeout `T`; each election waits a random time in
    /// `[T, 2T)` (paper §5.2) so split votes resolve quickly.
    pub election_timeout_ticks: u32,
    /// Dissertation §9.6: ask for votes without bumping the term first, so a
    /// partitioned or restarting node cannot unseat a healthy leader.
    pub pre_vote: bool,
    /// Dissertation §6.2: a leader that has not heard from a quorum within an
    /// election timeout steps down. (Followers ignore votes while they hear
    /// from a leader, §4.2.3, whatever this setting.)
    pub check_quorum: bool,
    /// Serve reads at the commit index without a heartbeat round while the
    /// leader lease holds (dissertation §6.4.1; `lease.rs` says why it is
    /// safe). Requires `check_quorum` and a clock (`set_clock_ms`).
    pub lease_reads: bool,
    /// How long a quorum's acknowledgement of a heartbeat round lets reads
    /// skip their own round, from the round's send. At most half the
    /// election timeout in real time.
    pub lease_duration_ms: u64,
    /// Most entries in one AppendEntries.
    pub max_entries_per_append: usize,
    /// Most entry payload bytes in one AppendEntries (at least one entry is sent).
    pub max_append_bytes: usize,
    /// AppendEntries in flight to one follower before the leader waits for acks.
    pub max_inflight_appends: usize,
    /// Entries a leader accepts beyond its commit index before refusing
    /// proposals (the bounded proposal queue).
    pub max_uncommitted_entries: u64,
    /// Payload bytes of the entries this leader proposed and has not yet
    /// committed; past it proposals are refused (etcd's
    /// `MaxUncommittedEntriesSize`). A proposal into an empty queue is taken
    /// whatever its size, so one large value cannot wedge the leader.
    pub max_uncommitted_bytes: u64,
    /// Entry payload bytes in unacknowledged appends to one follower
    /// (etcd's `MaxInflightBytes`): a slow follower holds at most this much
    /// of the leader's memory in flight.
    pub max_inflight_bytes: u64,
    /// Read requests waiting for confirmation or for the apply index.
    pub max_pending_reads: usize,
    /// Committed entries handed to the agent in one `Ready`.
    pub max_committed_entries_per_ready: usize,
    /// A non-voter within this many entries of the leader's last index is
    /// promoted to voter.
    pub promotion_threshold_entries: u64,
    /// Size of one InstallSnapshot chunk.
    pub snapshot_chunk_bytes: u64,
    /// Events buffered between two `Ready`s; more are dropped.
    pub max_pending_events: usize,
}

impl RaftConfig {
    pub fn new(id: NodeId, name: impl Into<String>, address: impl Into<String>) -> Self {
        RaftConfig {
            id,
            name: name.into(),
            address: address.into(),
            heartbeat_interval_ticks: 5,
            election_timeout_ticks: 10,
            pre_vote: true,
            check_quorum: true,
            lease_reads: false,
            lease_duration_ms: 0,
            max_entries_per_append: 1024,
            max_append_bytes: 1 << 20,
            max_inflight_appends: 64,
            max_uncommitted_entries: 65_536,
            max_uncommitted_bytes: 64 << 20,
            max_inflight_bytes: 32 << 20,
            max_pending_reads: 4096,
            max_committed_entries_per_ready: 8192,
            promotion_threshold_entries: 64,
            snapshot_chunk_bytes: 512 * 1024,
            max_pending_events: 1024,
        }
    }

    /// Settings that make no sense together are a programming error of the
    /// caller, not input from the network.
    pub(crate) fn assert_valid(&self) {
        assert!(self.id != 0, "node id 0 is reserved for 'no node'");
        assert!(self.heartbeat_interval_ticks > 0);
        assert!(
            self.election_timeout_ticks > self.heartbeat_interval_ticks,
            "the election timeout must exceed the heartbeat interval"
        );
        assert!(
            !self.lease_reads || self.check_quorum,
            "lease reads are only safe with CheckQuorum"
        );
        assert!(
            !self.lease_reads || self.lease_duration_ms > 0,
            "lease reads need a lease duration"
        );
        assert!(self.max_entries_per_append > 0 && self.max_inflight_appends > 0);
        assert!(self.max_uncommitted_entries > 0 && self.snapshot_chunk_bytes > 0);
    }
}
