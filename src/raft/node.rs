//! The Raft node: state, the shared rules every message passes through, role
//! transitions and the Ready/advance exchange with the agent. Each role's
//! message handling lives in its own file (`election.rs`, `leader.rs`,
//! `follower.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::wire::configuration::configuration_from_bytes;
use crate::wire::raft_message::{
    ClusterId, Configuration, Entry, EntryKind, NodeId, RaftBody, RaftMessage, Suffrage,
};

use super::config::RaftConfig;
use super::error::RestoreError;
use super::event::RaftEvent;
use super::hard_state::HardState;
use super::lease::LeaderLease;
use super::log::CoreLog;
use super::progress::Progress;
use super::read_index::PendingRead;
use super::ready::{
    Ready, ReceivedSnapshotChunk, RestoredState, SnapshotChunkRequest, SnapshotMeta,
};
use super::status::{PeerStatus, Status};
use crate::deterministic_rng::SplitMix64;

/// The highest term a node adopts or reaches. A peer's term is bytes from
/// the network: one claiming u64::MAX would otherwise be adopted and the
/// next campaign would overflow (and wrap the persisted term to 0 in a
/// release build, undoing every vote). Half the range is more terms than a
/// cluster can ever use; a message above it is dropped with an event.
pub const MAX_TERM: u64 = u64::MAX / 2;

/// The highest log index a node accepts from a peer or from disk: index
/// arithmetic (`index + 1`) on anything at or below it cannot overflow.
pub const MAX_LOG_INDEX: u64 = u64::MAX / 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Dissertation §9.6: polling for votes without bumping the term.
    PreCandidate,
    Candidate,
    Leader,
}

/// A snapshot being received from the leader, chunk by chunk.
#[derive(Debug, Clone)]
pub(crate) struct StagingSnapshot {
    pub meta: SnapshotMeta,
    pub total_size_bytes: u64,
    pub next_offset: u64,
}

pub struct RaftNode {
    pub(crate) config: RaftConfig,
    pub(crate) id: NodeId,
    pub(crate) rng: SplitMix64,
    pub(crate) term: u64,
    pub(crate) voted_for: Option<NodeId>,
    pub(crate) cluster_id: ClusterId,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: CoreLog,
    /// Payload bytes this leader proposed and has not seen committed
    /// (bounded by `max_uncommitted_bytes`).
    pub(crate) uncommitted_bytes: u64,
    pub(crate) election_elapsed_ticks: u32,
    pub(crate) heartbeat_elapsed_ticks: u32,
    pub(crate) randomized_election_timeout_ticks: u32,
    /// Votes received in the current (pre-)election.
    pub(crate) votes: BTreeMap<NodeId, bool>,
    /// Leader only: one entry per other server in the latest configuration.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// Leader only: index of the no-op that opened this term.
    pub(crate) term_start_index: u64,
    pub(crate) lead_transferee: Option<NodeId>,
    pub(crate) transfer_elapsed_ticks: u32,
    /// Joining servers to promote to voter once caught up.
    pub(crate) pending_promotions: BTreeSet<NodeId>,
    pub(crate) pending_reads: VecDeque<PendingRead>,
    pub(crate) read_round: u64,
    pub(crate) read_heartbeat_pending: bool,
    /// Leader: the lease that serves reads without a round (`lease.rs`).
    pub(crate) lease: LeaderLease,
    /// The agent's clock, in ms from any origin; only the lease reads it.
    pub(crate) clock_ms: u64,
    /// Ticks since this node was built, up to an election timeout: a voter
    /// that restarted ignores vote requests until then when leases are on.
    pub(crate) boot_elapsed_ticks: u32,
    pub(crate) warned_no_known_peers: bool,
    pub(crate) staging_snapshot: Option<StagingSnapshot>,
    // Effects waiting for the next Ready.
    pub(crate) messages: Vec<RaftMessage>,
    pub(crate) messages_after_persist: Vec<RaftMessage>,
    pub(crate) events: Vec<RaftEvent>,
    pub(crate) chunk_requests: Vec<SnapshotChunkRequest>,
    pub(crate) received_chunks: Vec<ReceivedSnapshotChunk>,
    pub(crate) snapshot_to_install: Option<SnapshotMeta>,
    pub(crate) failed_reads: Vec<u64>,
    /// The hard state handed to storage last.
    pub(crate) emitted_hard_state: HardState,
    pub(crate) ready_outstanding: bool,
    /// Leader: new entries or a new commit index wait to be sent.
    pub(crate) broadcast_pending: bool,
}

impl RaftNode {
    /// Rebuilds a node from what storage recovered. Bytes from disk are not
    /// trusted: an inconsistent log is a typed error.
    pub fn new(
        config: RaftConfig,
        restored: RestoredState,
        rng_seed: u64,
    ) -> Result<Self, RestoreError> {
        config.assert_valid();
        let hard_state = restored.hard_state.unwrap_or_default();
        let hard_state_on_disk = hard_state;
        let snapshot = restored.snapshot.unwrap_or_default();
        if snapshot.index > MAX_LOG_INDEX {
            return Err(RestoreError::IndexTooLarge {
                index: snapshot.index,
            });
        }
        let mut previous_term = snapshot.term;
        for (expected, entry) in (snapshot.index + 1..).zip(restored.entries.iter()) {
            if entry.index != expected {
                return Err(RestoreError::NonContiguousEntries {
                    expected,
                    found: entry.index,
                });
            }
            if entry.term < previous_term {
                return Err(RestoreError::BadEntryTerm {
                    index: entry.index,
                    term: entry.term,
                });
            }
            if entry.kind == EntryKind::Configuration
                && configuration_from_bytes(&entry.data).is_err()
            {
                return Err(RestoreError::BadConfigurationEntry { index: entry.index });
            }
            previous_term = entry.term;
        }
        // Storage may make the log durable before the hard state: a log
        // entry of a newer term then proves the node reached that term. It
        // cannot have voted in it (a vote is durable before it is sent, and
        // would have carried the term to disk), so no vote is restored.
        let mut hard_state = hard_state;
        let log_term = restored.entries.last().map_or(snapshot.term, |e| e.term);
        if log_term > hard_state.current_term {
            hard_state.current_term = log_term;
            hard_state.voted_for = None;
        }
        if hard_state.current_term > MAX_TERM {
            return Err(RestoreError::TermTooLarge {
                term: hard_state.current_term,
            });
        }
        let mut log = CoreLog::new(snapshot);
        log.append(restored.entries);
        log.persist_from = log.last_index() + 1;
        log.stable = log.last_index();
        if hard_state.commit_index > log.last_index() {
            return Err(RestoreError::CommitBeyondLog {
                commit: hard_state.commit_index,
                last_index: log.last_index(),
            });
        }
        // The commit index on disk may trail the snapshot; both are committed.
        if hard_state.commit_index > log.commit {
            log.set_commit(hard_state.commit_index);
        }
        let mut rng = SplitMix64::new(rng_seed ^ config.id.rotate_left(17));
        let timeout = Self::random_timeout(&mut rng, config.election_timeout_ticks);
        let mut node = RaftNode {
            id: config.id,
            config,
            rng,
            term: hard_state.current_term,
            voted_for: hard_state.voted_for,
            cluster_id: hard_state.cluster_id,
            role: Role::Follower,
            leader: None,
            log,
            uncommitted_bytes: 0,
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            randomized_election_timeout_ticks: timeout,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            term_start_index: 0,
            lead_transferee: None,
            transfer_elapsed_ticks: 0,
            pending_promotions: BTreeSet::new(),
            pending_reads: VecDeque::new(),
            read_round: 0,
            read_heartbeat_pending: false,
            lease: LeaderLease::default(),
            clock_ms: 0,
            boot_elapsed_ticks: 0,
            warned_no_known_peers: false,
            staging_snapshot: None,
            messages: Vec::new(),
            messages_after_persist: Vec::new(),
            events: Vec::new(),
            chunk_requests: Vec::new(),
            received_chunks: Vec::new(),
            snapshot_to_install: None,
            failed_reads: Vec::new(),
            emitted_hard_state: HardState::default(),
            ready_outstanding: false,
            broadcast_pending: false,
        };
        // Anything the restore corrected is written back with the first Ready.
        node.emitted_hard_state = hard_state_on_disk;
        Ok(node)
    }

    fn random_timeout(rng: &mut SplitMix64, base: u32) -> u32 {
        rng.range(u64::from(base), 2 * u64::from(base)) as u32
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> u64 {
        self.term
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    pub fn cluster_id(&self) -> ClusterId {
        self.cluster_id
    }

    pub fn commit_index(&self) -> u64 {
        self.log.commit
    }

    /// The in-memory log tail (after the last snapshot), for inspection.
    pub fn log_entries(&self) -> &super::entry_chunks::EntryChunks {
        self.log.entries()
    }

    pub fn snapshot_index(&self) -> u64 {
        self.log.snapshot.index
    }

    pub fn last_log_index(&self) -> u64 {
        self.log.last_index()
    }

    pub fn hard_state(&self) -> HardState {
        HardState {
            current_term: self.term,
            voted_for: self.voted_for,
            commit_index: self.log.commit,
            cluster_id: self.cluster_id,
        }
    }

    pub fn latest_configuration(&self) -> &Configuration {
        self.log.latest_configuration().1
    }

    pub(crate) fn is_voter(&self, id: NodeId) -> bool {
        self.latest_configuration()
            .servers
            .iter()
            .any(|s| s.id == id && s.suffrage == Suffrage::Voter)
    }

    pub(crate) fn voters(&self) -> Vec<NodeId> {
        self.latest_configuration()
            .servers
            .iter()
            .filter(|s| s.suffrage == Suffrage::Voter)
            .map(|s| s.id)
            .collect()
    }

    pub(crate) fn quorum(&self) -> usize {
        self.voters().len() / 2 + 1
    }

    /// A node campaigns only when it is a voter in its latest configuration,
    /// or (as hashicorp/raft allows) when that configuration is not yet
    /// committed and the node is a voter in the committed one: a leader
    /// that appended its own removal and then lost leadership may hold the
    /// only copy of that entry, and without it the remaining voters could
    /// never elect anyone (found by the simulator).
    pub(crate) fn promotable(&self) -> bool {
        if self.is_voter(self.id) {
            return true;
        }
        let (config_index, _) = self.log.latest_configuration();
        config_index > self.log.commit
            && self
                .log
                .configuration_at(self.log.commit)
                .servers
                .iter()
                .any(|s| s.id == self.id && s.suffrage == Suffrage::Voter)
    }

    pub(crate) fn event(&mut self, event: RaftEvent) {
        if self.events.len() < self.config.max_pending_events {
            self.events.push(event);
        }
    }

    pub(crate) fn message(&self, to: NodeId, body: RaftBody) -> RaftMessage {
        RaftMessage {
            cluster_id: self.cluster_id,
            from: self.id,
            to,
            term: self.term,
            body,
        }
    }

    pub(crate) fn send(&mut self, to: NodeId, body: RaftBody) {
        let message = self.message(to, body);
        self.messages.push(message);
    }

    /// A reply that promises durable state (a vote, an acknowledgement):
    /// the agent sends it only after the Ready's writes are fsynced.
    pub(crate) fn send_after_persist(&mut self, to: NodeId, body: RaftBody) {
        let message = self.message(to, body);
        self.messages_after_persist.push(message);
    }

    /// Bootstraps a brand-new cluster of one: on empty state only.
    pub fn bootstrap(&mut self) {
        let empty = self.term == 0
            && self.cluster_id == 0
            && self.log.last_index() == 0
            && self.voted_for.is_none();
        if !empty {
            self.event(RaftEvent::BootstrapIgnored);
            return;
        }
        self.cluster_id = self.rng.nonzero_u128();
        self.term = 1;
        let configuration = Configuration {
            servers: vec![crate::wire::raft_message::ServerEntry {
                id: self.id,
                name: self.config.name.clone(),
                address: self.config.address.clone(),
                suffrage: Suffrage::Voter,
            }],
        };
        self.log.append(vec![Entry {
            term: 1,
            index: 1,
            kind: EntryKind::Configuration,
            data: crate::wire::configuration::configuration_to_bytes(&configuration).into(),
        }]);
        // Alone in the configuration, the node wins at once: no reason to
        // wait for an election timeout.
        self.campaign(false);
    }

    pub fn tick(&mut self) {
        self.boot_elapsed_ticks = self
            .boot_elapsed_ticks
            .saturating_add(1)
            .min(self.config.election_timeout_ticks);
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    fn tick_election(&mut self) {
        // Keeps counting on a node that cannot campaign: the count also
        // measures how long ago a leader was heard (the vote lease), and a
        // non-voter must not stay "in lease" forever.
        self.election_elapsed_ticks = self.election_elapsed_ticks.saturating_add(1);
        if self.election_elapsed_ticks < self.randomized_election_timeout_ticks {
            return;
        }
        if self.latest_configuration().servers.is_empty() {
            if !self.warned_no_known_peers {
                self.warned_no_known_peers = true;
                self.event(RaftEvent::NoKnownPeers);
            }
            return;
        }
        if !self.promotable() {
            return;
        }
        self.reset_election_timer();
        self.event(RaftEvent::ElectionTimeout { term: self.term });
        self.start_election();
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed_ticks = 0;
        self.randomized_election_timeout_ticks =
            Self::random_timeout(&mut self.rng, self.config.election_timeout_ticks);
    }

    /// Handles a message from a peer. Bytes from the network are never an
    /// invariant: anything malformed is dropped with an event.
    pub fn step(&mut self, msg: RaftMessage) {
        if msg.to != self.id || msg.from == self.id {
            return;
        }
        if msg.term > MAX_TERM {
            self.event(RaftEvent::InvalidMessage {
                from: msg.from,
                reason: "term above MAX_TERM",
            });
            return;
        }
        if !self.accept_cluster_id(&msg) {
            return;
        }
        if msg.term > self.term {
            if !self.step_higher_term(&msg) {
                return;
            }
        } else if msg.term < self.term {
            self.step_lower_term(&msg);
            return;
        }
        if let RaftBody::RequestVote {
            pre_vote,
            last_log_index,
            last_log_term,
            ..
        } = msg.body
        {
            self.handle_vote_request(msg.from, msg.term, pre_vote, last_log_index, last_log_term);
            return;
        }
        match self.role {
            Role::Leader => self.step_leader(msg),
            Role::Candidate | Role::PreCandidate => self.step_candidate(msg),
            Role::Follower => self.step_follower(msg),
        }
    }

    /// Two clusters never merge by accident: a message from another cluster
    /// is refused, except that a node with no cluster yet joins the cluster
    /// of the first leader that replicates to it.
    fn accept_cluster_id(&mut self, msg: &RaftMessage) -> bool {
        if msg.cluster_id == self.cluster_id {
            return true;
        }
        let from_leader = matches!(
            msg.body,
            RaftBody::AppendEntries { .. } | RaftBody::InstallSnapshot { .. }
        );
        if self.cluster_id == 0 && msg.cluster_id != 0 && from_leader && msg.term >= self.term {
            self.cluster_id = msg.cluster_id;
            self.event(RaftEvent::ClusterIdAdopted {
                cluster_id: msg.cluster_id,
                leader: msg.from,
            });
            return true;
        }
        self.event(RaftEvent::ClusterIdRefused {
            from: msg.from,
            theirs: msg.cluster_id,
            ours: self.cluster_id,
        });
        false
    }

    /// Paper §5.1: a higher term makes any server a follower, with two
    /// exceptions: vote requests inside a leader lease are ignored
    /// (dissertation §4.2.3), and Pre-Vote traffic does not change terms.
    /// Returns false when the message is to be dropped.
    fn step_higher_term(&mut self, msg: &RaftMessage) -> bool {
        match msg.body {
            RaftBody::RequestVote {
                pre_vote,
                leadership_transfer,
                ..
            } => {
                // Always on, not only with CheckQuorum: without it a removed
                // server that never learns of its removal keeps bumping
                // terms and can starve the cluster (found by the simulator).
                let timeout = self.config.election_timeout_ticks;
                let booting = self.config.lease_reads && self.boot_elapsed_ticks < timeout;
                let in_lease =
                    booting || (self.leader.is_some() && self.election_elapsed_ticks < timeout);
                if in_lease && !leadership_transfer {
                    return false;
                }
                if !pre_vote {
                    self.become_follower(msg.term, None);
                }
                true
            }
            RaftBody::RequestVoteResponse {
                pre_vote: true,
                granted: true,
            } => true,
            RaftBody::AppendEntries { .. } | RaftBody::InstallSnapshot { .. } => {
                self.become_follower(msg.term, Some(msg.from));
                true
            }
            _ => {
                self.become_follower(msg.term, None);
                true
            }
        }
    }

    fn step_lower_term(&mut self, msg: &RaftMessage) {
        match msg.body {
            // A stale leader learns the new term from the reply and steps
            // down; without it, CheckQuorum and Pre-Vote could leave it stuck.
            RaftBody::AppendEntries { .. } | RaftBody::InstallSnapshot { .. } => {
                self.send(
                    msg.from,
                    RaftBody::AppendEntriesResponse {
                        success: false,
                        last_log_index: self.log.last_index(),
                        conflict_term: 0,
                        conflict_index: 0,
                        read_round: 0,
                    },
                );
            }
            RaftBody::RequestVote { pre_vote: true, .. } => {
                self.send(
                    msg.from,
                    RaftBody::RequestVoteResponse {
                        pre_vote: true,
                        granted: false,
                    },
                );
            }
            _ => {}
        }
    }

    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never go backwards");
        let was = self.role;
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_timer();
        if was == Role::Leader {
            self.leave_leadership();
        }
        if was != Role::Follower || leader.is_some() {
            self.event(RaftEvent::EnteringFollowerState { term, leader });
        }
    }

    fn leave_leadership(&mut self) {
        self.lease.clear();
        self.progress.clear();
        self.lead_transferee = None;
        self.pending_promotions.clear();
        self.broadcast_pending = false;
        self.read_heartbeat_pending = false;
        let failed: Vec<u64> = self.pending_reads.drain(..).map(|r| r.request_id).collect();
        self.failed_reads.extend(failed);
        self.event(RaftEvent::LeadershipLost);
    }

    /// Called whenever the latest configuration may have changed (append,
    /// truncation, snapshot): configurations take effect when appended.
    pub(crate) fn configuration_changed(&mut self) {
        if self.role == Role::Leader {
            self.lease.clear();
            self.sync_progress_with_configuration();
        } else if matches!(self.role, Role::Candidate | Role::PreCandidate) && !self.promotable() {
            let term = self.term;
            self.become_follower(term, None);
        }
    }

    pub fn has_ready(&self) -> bool {
        if self.ready_outstanding {
            return false;
        }
        !self.messages.is_empty()
            || !self.messages_after_persist.is_empty()
            || !self.events.is_empty()
            || self.log.has_unpersisted()
            || self.hard_state() != self.emitted_hard_state
            || self.log.has_committed_to_apply()
            || self.broadcast_pending
            || self.read_heartbeat_pending
            || !self.chunk_requests.is_empty()
            || !self.received_chunks.is_empty()
            || self.snapshot_to_install.is_some()
            || !self.failed_reads.is_empty()
            || self.has_servable_reads()
    }

    /// Collects the effects to carry out. Call [`Self::advance`] once they
    /// are done before asking for the next Ready.
    pub fn ready(&mut self) -> Ready {
        assert!(
            !self.ready_outstanding,
            "advance() the previous Ready before asking for another"
        );
        if self.role == Role::Leader {
            self.flush_appends();
        }
        let hard_state = self.hard_state();
        // Messages carrying a term or vote that is not durable yet wait for
        // the fsync: a crash must not let a node reuse a term it announced.
        let term_or_vote_changed = hard_state.current_term != self.emitted_hard_state.current_term
            || hard_state.voted_for != self.emitted_hard_state.voted_for;
        let mut ready = Ready {
            hard_state: (hard_state != self.emitted_hard_state).then_some(hard_state),
            ..Ready::default()
        };
        self.emitted_hard_state = hard_state;
        ready.snapshot_to_install = self.snapshot_to_install.take();
        let (truncate_after, entries) = self.log.take_unpersisted();
        if truncate_after.is_some() || !entries.is_empty() || ready.snapshot_to_install.is_some() {
            ready.persisted_through = Some((self.log.last_index(), self.log.last_term()));
        }
        ready.truncate_after = truncate_after;
        ready.entries = entries;
        ready.snapshot_chunks = std::mem::take(&mut self.received_chunks);
        if term_or_vote_changed {
            self.messages_after_persist.append(&mut self.messages);
        }
        ready.messages = std::mem::take(&mut self.messages);
        ready.messages_after_persist = std::mem::take(&mut self.messages_after_persist);
        ready.committed_entries = self
            .log
            .take_committed(self.config.max_committed_entries_per_ready);
        ready.applied_through = self.log.apply_emitted;
        ready.snapshot_chunk_requests = std::mem::take(&mut self.chunk_requests);
        ready.reads = self.take_servable_reads();
        ready.failed_reads = std::mem::take(&mut self.failed_reads);
        ready.events = std::mem::take(&mut self.events);
        self.ready_outstanding = true;
        ready
    }

    /// The agent made `ready`'s writes durable, sent its messages and
    /// applied its committed entries.
    pub fn advance(&mut self, ready: &Ready) {
        assert!(
            self.ready_outstanding,
            "advance() without an outstanding Ready"
        );
        self.ready_outstanding = false;
        if let Some((index, term)) = ready.persisted_through {
            // A later truncation may have replaced the entry: only a
            // matching term proves the durable entry is still ours.
            if self.log.term(index) == Some(term) && index >= self.log.stable {
                self.log.stable = index.min(self.log.persist_from - 1);
            }
        }
        if ready.applied_through > self.log.applied {
            self.log.applied = ready.applied_through;
        }
        if self.role == Role::Leader {
            let committed: u64 = ready
                .committed_entries
                .iter()
                .map(|e| e.data.len() as u64)
                .sum();
            // Entries of earlier terms are not counted when proposed here:
            // hence saturating (etcd resets the count the same way).
            self.uncommitted_bytes = self.uncommitted_bytes.saturating_sub(committed);
        }
        if self.role == Role::Leader {
            self.maybe_commit();
        }
        self.check_invariants();
    }

    pub fn status(&self) -> Status {
        Status {
            id: self.id,
            role: self.role,
            term: self.term,
            leader: self.leader,
            cluster_id: self.cluster_id,
            commit_index: self.log.commit,
            applied_index: self.log.applied,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            snapshot_index: self.log.snapshot.index,
            configuration: self.latest_configuration().clone(),
            peers: self
                .progress
                .iter()
                .map(|(&id, p)| PeerStatus {
                    id,
                    match_index: p.match_index,
                    next_index: p.next_index,
                    state: p.state.clone(),
                })
                .collect(),
        }
    }
}
