//! The leader role: proposals, pipelined replication with fast backtracking,
//! heartbeats, CheckQuorum and the commit rule.

use bytes::Bytes;

use crate::wire::raft_message::{Entry, EntryKind, NodeId, RaftBody, RaftMessage};

use super::error::ProposeError;
use super::event::RaftEvent;
use super::node::{RaftNode, Role};
use super::progress::{ReplicationState, SnapshotTransfer};
use super::ready::SnapshotChunkRequest;

impl RaftNode {
    /// Appends a command to the leader's log; returns its index. The entry
    /// is not committed yet: the agent learns that when it is applied.
    pub fn propose(&mut self, data: Bytes) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader,
            });
        }
        if self.lead_transferee.is_some() {
            return Err(ProposeError::TransferInProgress);
        }
        if self.log.last_index() - self.log.commit >= self.config.max_uncommitted_entries {
            return Err(ProposeError::QueueFull);
        }
        let size = data.len() as u64;
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes.saturating_add(size) > self.config.max_uncommitted_bytes
        {
            return Err(ProposeError::QueueFull);
        }
        self.uncommitted_bytes = self.uncommitted_bytes.saturating_add(size);
        Ok(self.append_own_entry(EntryKind::Command, data))
    }

    pub(crate) fn append_own_entry(&mut self, kind: EntryKind, data: Bytes) -> u64 {
        assert_eq!(self.role, Role::Leader);
        let index = self.log.last_index() + 1;
        self.log.append(vec![Entry {
            term: self.term,
            index,
            kind,
            data,
        }]);
        self.broadcast_pending = true;
        index
    }

    pub(crate) fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.config.election_timeout_ticks {
            self.election_elapsed_ticks = 0;
            if self.config.check_quorum && !self.check_quorum_active() {
                return;
            }
        }
        if let Some(target) = self.lead_transferee {
            self.transfer_elapsed_ticks += 1;
            if self.transfer_elapsed_ticks >= self.config.election_timeout_ticks {
                self.lead_transferee = None;
                self.event(RaftEvent::LeadershipTransferTimedOut { to: target });
            }
        }
        // A server that caught up while another configuration change was
        // uncommitted acknowledges nothing new afterwards, so promotion is
        // retried here, not only when its match index moves (found by the
        // agent's process tests: the joiner stayed a non-voter).
        // Only a server that acknowledged the latest configuration (so it
        // holds the entry that added it) and was heard from recently: a
        // short log must not make a silent server look caught up.
        let (config_index, _) = self.log.latest_configuration();
        let waiting: Vec<NodeId> = self
            .pending_promotions
            .iter()
            .copied()
            .filter(|id| {
                self.progress
                    .get(id)
                    .is_some_and(|p| p.recent_active && p.match_index >= config_index)
            })
            .collect();
        for id in waiting {
            self.maybe_promote(id);
        }
        let stall_limit = 2 * self.config.heartbeat_interval_ticks;
        let wait_limit = self.config.election_timeout_ticks;
        let mut rerequests = Vec::new();
        for (&id, progress) in self.progress.iter_mut() {
            match &mut progress.state {
                ReplicationState::Replicate if !progress.inflight.is_empty() => {
                    progress.stalled_ticks += 1;
                    if progress.stalled_ticks >= stall_limit {
                        // An append was probably lost: re-probe from the match index.
                        progress.become_probe();
                        progress.next_index = progress.match_index + 1;
                        self.broadcast_pending = true;
                    }
                }
                ReplicationState::Probe if progress.probe_sent => {
                    progress.stalled_ticks += 1;
                    if progress.stalled_ticks >= stall_limit {
                        progress.probe_sent = false;
                        progress.stalled_ticks = 0;
                        self.broadcast_pending = true;
                    }
                }
                ReplicationState::Snapshot(transfer) => {
                    transfer.waiting_ticks += 1;
                    if transfer.waiting_ticks >= wait_limit {
                        transfer.waiting_ticks = 0;
                        rerequests.push((id, transfer.snapshot_index, transfer.next_offset));
                    }
                }
                _ => {}
            }
        }
        for (to, snapshot_index, offset) in rerequests {
            self.request_chunk(to, snapshot_index, offset);
        }
        if self.heartbeat_elapsed_ticks >= self.config.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Dissertation §6.2: a leader cut off from a quorum steps down, so
    /// clients find the real leader and lease reads stay safe. Returns false
    /// when it stepped down.
    fn check_quorum_active(&mut self) -> bool {
        let voters = self.voters();
        let mut active = usize::from(voters.contains(&self.id));
        for (id, progress) in self.progress.iter_mut() {
            if voters.contains(id) && progress.recent_active {
                active += 1;
            }
            progress.recent_active = false;
        }
        let quorum = self.quorum();
        if active < quorum {
            self.event(RaftEvent::QuorumLost {
                active_voters: active,
                quorum,
            });
            let term = self.term;
            self.become_follower(term, None);
            return false;
        }
        true
    }

    /// Heartbeats carry the current ReadIndex round; they point at the
    /// follower's match index, which it is known to hold.
    pub(crate) fn broadcast_heartbeat(&mut self) {
        if self.config.lease_reads {
            // Every heartbeat is a round of its own, so each renews the lease.
            self.read_round += 1;
            self.lease.round_sent(self.read_round, self.clock_ms);
        }
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for to in peers {
            self.send_heartbeat(to);
        }
        self.read_heartbeat_pending = false;
    }

    fn send_heartbeat(&mut self, to: NodeId) {
        let match_index = self.progress[&to].match_index;
        let (prev_log_index, prev_log_term) = match self.log.term(match_index) {
            Some(term) => (match_index, term),
            // Compacted: index 0 always matches (the follower answers with
            // what it has committed, which every leader holds).
            None => (0, 0),
        };
        let body = RaftBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            leader_commit: self.log.commit,
            read_round: self.read_round,
            entries: Vec::new(),
        };
        self.send(to, body);
    }

    /// Sends whatever each follower lacks, within its in-flight window.
    pub(crate) fn flush_appends(&mut self) {
        if self.read_heartbeat_pending {
            self.broadcast_heartbeat();
        }
        if !self.broadcast_pending {
            return;
        }
        self.broadcast_pending = false;
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for to in peers {
            self.send_append(to);
        }
    }

    /// Paper §5.3 with etcd's flow control: Probe sends one append at a
    /// time; Replicate pipelines up to `max_inflight_appends`.
    pub(crate) fn send_append(&mut self, to: NodeId) {
        let commit = self.log.commit;
        loop {
            let Some(progress) = self.progress.get(&to) else {
                return;
            };
            match progress.state {
                ReplicationState::Snapshot(_) => return,
                ReplicationState::Probe if progress.probe_sent => return,
                ReplicationState::Replicate
                    if progress.inflight.len() >= self.config.max_inflight_appends
                        || progress.inflight_bytes() >= self.config.max_inflight_bytes =>
                {
                    return;
                }
                _ => {}
            }
            let next = progress.next_index;
            let prev_log_index = next - 1;
            let Some(prev_log_term) = self.log.term(prev_log_index) else {
                self.start_snapshot_transfer(to);
                return;
            };
            let entries = self.log.slice(
                next,
                self.config.max_entries_per_append,
                self.config.max_append_bytes,
            );
            let probing = progress.state == ReplicationState::Probe;
            if entries.is_empty() && !probing {
                return;
            }
            let last = prev_log_index + entries.len() as u64;
            let progress = self.progress.get_mut(&to).expect("checked above");
            if probing {
                progress.probe_sent = true;
                progress.stalled_ticks = 0;
            } else {
                progress.next_index = last + 1;
                let bytes = entries.iter().map(|e| e.data.len() as u64).sum();
                progress.add_inflight(last, bytes);
            }
            let body = RaftBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                leader_commit: commit,
                read_round: 0,
                entries,
            };
            self.send(to, body);
            if probing || last == self.log.last_index() {
                return;
            }
        }
    }

    fn start_snapshot_transfer(&mut self, to: NodeId) {
        let snapshot_index = self.log.snapshot.index;
        let progress = self.progress.get_mut(&to).expect("a known peer");
        progress.state = ReplicationState::Snapshot(SnapshotTransfer {
            snapshot_index,
            total_size_bytes: None,
            next_offset: 0,
            waiting_ticks: 0,
        });
        progress.clear_inflight();
        self.request_chunk(to, snapshot_index, 0);
    }

    pub(crate) fn request_chunk(&mut self, to: NodeId, snapshot_index: u64, offset: u64) {
        self.chunk_requests.push(SnapshotChunkRequest {
            to,
            snapshot_index,
            offset,
            max_bytes: self.config.snapshot_chunk_bytes,
        });
    }

    pub(crate) fn step_leader(&mut self, msg: RaftMessage) {
        let from = msg.from;
        if let Some(progress) = self.progress.get_mut(&from) {
            progress.recent_active = true;
        }
        match msg.body {
            RaftBody::AppendEntriesResponse {
                success,
                last_log_index,
                conflict_term,
                conflict_index,
                read_round,
            } => {
                if !self.progress.contains_key(&from) {
                    return;
                }
                if read_round > self.read_round {
                    // Acknowledging a round never started would confirm
                    // future reads without a quorum (§6.4).
                    self.event(RaftEvent::InvalidMessage {
                        from,
                        reason: "acknowledged a read round never sent",
                    });
                    return;
                }
                if read_round > 0 {
                    let progress = self.progress.get_mut(&from).expect("checked");
                    progress.read_round_acked = progress.read_round_acked.max(read_round);
                    self.confirm_reads();
                }
                if success {
                    self.handle_append_success(from, last_log_index);
                } else {
                    self.handle_append_rejection(
                        from,
                        last_log_index,
                        conflict_term,
                        conflict_index,
                    );
                }
            }
            RaftBody::InstallSnapshotResponse {
                last_included_index,
                next_offset,
                success,
            } => self.handle_snapshot_response(from, last_included_index, next_offset, success),
            RaftBody::AppendEntries { .. } | RaftBody::InstallSnapshot { .. } => {
                // Two leaders in one term would be a protocol violation by
                // the peer; the bytes came from the network, so drop them.
                self.event(RaftEvent::InvalidMessage {
                    from,
                    reason: "append from another leader of our term",
                });
            }
            _ => {}
        }
    }

    fn handle_append_success(&mut self, from: NodeId, last_log_index: u64) {
        if last_log_index > self.log.last_index() {
            self.event(RaftEvent::InvalidMessage {
                from,
                reason: "acknowledged an index beyond the leader's log",
            });
            return;
        }
        let progress = self.progress.get_mut(&from).expect("checked by caller");
        let moved = progress.acknowledge(last_log_index);
        match progress.state {
            ReplicationState::Probe => progress.become_replicate(),
            ReplicationState::Snapshot(_) if progress.match_index >= self.log.snapshot.index => {
                progress.become_replicate();
            }
            _ => {}
        }
        if moved {
            self.maybe_commit();
            self.maybe_promote(from);
        }
        if self.role != Role::Leader {
            return;
        }
        if self.lead_transferee == Some(from)
            && self.progress[&from].match_index == self.log.last_index()
        {
            self.send(from, RaftBody::TimeoutNow);
        }
        self.send_append(from);
    }

    /// Fast backtracking (dissertation §5.3): jump over a whole conflicting
    /// term instead of one entry per round trip.
    fn handle_append_rejection(
        &mut self,
        from: NodeId,
        follower_last_index: u64,
        conflict_term: u64,
        conflict_index: u64,
    ) {
        // The follower's claim is bytes from the network: a last index
        // beyond our log says nothing more than "at our last index", and
        // clamping it keeps `+ 1` below from overflowing on u64::MAX.
        let follower_last_index = follower_last_index.min(self.log.last_index());
        let mut next = if conflict_term == 0 {
            follower_last_index + 1
        } else {
            match self
                .log
                .last_index_of_term(conflict_term, follower_last_index)
            {
                Some(index) => index + 1,
                None => conflict_index.max(1),
            }
        };
        next = next
            .min(follower_last_index + 1)
            .min(self.log.last_index() + 1);
        let progress = self.progress.get_mut(&from).expect("checked by caller");
        if matches!(progress.state, ReplicationState::Snapshot(_)) {
            return;
        }
        progress.become_probe();
        progress.next_index = next.max(progress.match_index + 1);
        self.send_append(from);
    }

    /// Paper §5.3/§5.4.2: an index is committed once a quorum of voters
    /// stores it, but only an entry of the leader's own term is committed
    /// by counting replicas (Figure 8); earlier ones commit with it.
    pub(crate) fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let voters = self.voters();
        if voters.is_empty() {
            return;
        }
        let mut matched: Vec<u64> = voters
            .iter()
            .map(|id| {
                if *id == self.id {
                    // The leader counts itself only for what is durable.
                    self.log.stable.min(self.log.last_index())
                } else {
                    self.progress.get(id).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[voters.len() / 2];
        if candidate <= self.log.commit || self.log.term(candidate) != Some(self.term) {
            return;
        }
        self.log.set_commit(candidate);
        self.broadcast_pending = true;
        self.commit_advanced();
    }

    /// Follow-ups of a commit on the leader: its own removal, pending reads.
    fn commit_advanced(&mut self) {
        self.assign_read_indexes();
        let (config_index, _) = self.log.latest_configuration();
        if config_index <= self.log.commit
            && !self
                .latest_configuration()
                .servers
                .iter()
                .any(|s| s.id == self.id)
        {
            // Dissertation §4.2.2: a removed leader steps down once the
            // configuration without it is committed.
            self.event(RaftEvent::RemovedSelf);
            let term = self.term;
            self.become_follower(term, None);
        }
    }
}
