//! The follower role: accepting AppendEntries (paper Figure 2, receiver
//! rules), snapshot chunks, and TimeoutNow.

use crate::wire::configuration::configuration_from_bytes;
use crate::wire::raft_message::{Configuration, Entry, EntryKind, NodeId, RaftBody, RaftMessage};

use super::event::RaftEvent;
use super::node::{MAX_LOG_INDEX, RaftNode, Role, StagingSnapshot};
use super::ready::{ReceivedSnapshotChunk, SnapshotMeta};

impl RaftNode {
    pub(crate) fn step_follower(&mut self, msg: RaftMessage) {
        let from = msg.from;
        match msg.body {
            RaftBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                leader_commit,
                read_round,
                entries,
            } => {
                self.heard_from_leader(from);
                self.handle_append(
                    from,
                    msg.term,
                    prev_log_index,
                    prev_log_term,
                    leader_commit,
                    read_round,
                    entries,
                );
            }
            RaftBody::InstallSnapshot {
                last_included_index,
                last_included_term,
                configuration,
                total_size_bytes,
                offset,
                data,
                done,
            } => {
                self.heard_from_leader(from);
                let meta = SnapshotMeta {
                    index: last_included_index,
                    term: last_included_term,
                    configuration,
                };
                self.handle_snapshot_chunk(from, meta, total_size_bytes, offset, data, done);
            }
            // Leadership transfer (dissertation §3.10): campaign at once,
            // skipping Pre-Vote, with the flag that lets voters ignore their
            // leader lease.
            RaftBody::TimeoutNow if self.promotable() => {
                self.event(RaftEvent::TimeoutNowReceived { from });
                self.campaign(true);
            }
            _ => {}
        }
    }

    fn heard_from_leader(&mut self, from: NodeId) {
        self.leader = Some(from);
        self.election_elapsed_ticks = 0;
    }

    /// Entries from the network are checked, not asserted: contiguous,
    /// terms not decreasing and not above the sender's term, configurations
    /// decodable.
    fn valid_entries(
        prev_log_index: u64,
        prev_log_term: u64,
        term: u64,
        entries: &[Entry],
    ) -> bool {
        let mut previous_term = prev_log_term;
        // Checked: `prev_log_index` is the sender's, and u64::MAX + 1 would
        // wrap to index 0 in a release build and pass the check.
        let mut expected_index = prev_log_index;
        for entry in entries {
            expected_index = match expected_index.checked_add(1) {
                Some(index) if index <= MAX_LOG_INDEX => index,
                _ => return false,
            };
            if entry.index != expected_index || entry.term < previous_term || entry.term > term {
                return false;
            }
            if entry.kind == EntryKind::Configuration
                && configuration_from_bytes(&entry.data).is_err()
            {
                return false;
            }
            previous_term = entry.term;
        }
        prev_log_term <= term
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_append(
        &mut self,
        from: NodeId,
        term: u64,
        mut prev_log_index: u64,
        mut prev_log_term: u64,
        leader_commit: u64,
        read_round: u64,
        mut entries: Vec<Entry>,
    ) {
        if !Self::valid_entries(prev_log_index, prev_log_term, term, &entries) {
            self.event(RaftEvent::InvalidMessage {
                from,
                reason: "malformed entries in AppendEntries",
            });
            return;
        }
        // Entries up to our snapshot are committed, hence equal to the
        // leader's: skip them and continue from the snapshot point.
        let snapshot_index = self.log.snapshot.index;
        if prev_log_index < snapshot_index {
            let skip = ((snapshot_index - prev_log_index) as usize).min(entries.len());
            entries.drain(..skip);
            prev_log_index = snapshot_index;
            prev_log_term = self.log.snapshot.term;
            if entries.is_empty() {
                self.reply_append_success(
                    from,
                    snapshot_index,
                    leader_commit,
                    snapshot_index,
                    read_round,
                );
                return;
            }
        }
        match self.log.term(prev_log_index) {
            Some(t) if t == prev_log_term => {}
            found => {
                // Fast backtracking hint (dissertation §5.3).
                let (conflict_term, conflict_index) = match found {
                    Some(t) => (t, self.log.first_index_of_term_at(prev_log_index)),
                    None => (0, self.log.last_index() + 1),
                };
                self.send_after_persist(
                    from,
                    RaftBody::AppendEntriesResponse {
                        success: false,
                        last_log_index: self.log.last_index(),
                        conflict_term,
                        conflict_index,
                        read_round,
                    },
                );
                return;
            }
        }
        let last_new = prev_log_index + entries.len() as u64;
        // Figure 2 step 3: delete an existing entry that conflicts, and all
        // that follow; step 4: append entries not already in the log.
        let mut new_from = entries.len();
        for (offset, entry) in entries.iter().enumerate() {
            match self.log.term(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    if entry.index <= self.log.commit {
                        self.event(RaftEvent::InvalidMessage {
                            from,
                            reason: "attempt to overwrite a committed entry",
                        });
                        return;
                    }
                    assert_ne!(
                        self.role,
                        Role::Leader,
                        "a leader never truncates its own log"
                    );
                    self.log.truncate_after(entry.index - 1);
                    new_from = offset;
                    break;
                }
                None => {
                    new_from = offset;
                    break;
                }
            }
        }
        let changed_configuration = entries[new_from..]
            .iter()
            .any(|e| e.kind == EntryKind::Configuration)
            || new_from < entries.len();
        if new_from < entries.len() {
            let appended: Vec<Entry> = entries.drain(new_from..).collect();
            assert!(
                appended.iter().all(|e| e.term <= self.term),
                "no entry is newer than the current term"
            );
            self.log.append(appended);
        }
        if changed_configuration {
            self.configuration_changed();
        }
        self.reply_append_success(from, last_new, leader_commit, last_new, read_round);
    }

    /// Figure 2 step 5: commit = min(leaderCommit, index of last new entry),
    /// and only forwards.
    fn reply_append_success(
        &mut self,
        to: NodeId,
        acknowledged: u64,
        leader_commit: u64,
        verified_through: u64,
        read_round: u64,
    ) {
        let commit = leader_commit.min(verified_through);
        if commit > self.log.commit {
            self.log.set_commit(commit);
        }
        self.send_after_persist(
            to,
            RaftBody::AppendEntriesResponse {
                success: true,
                last_log_index: acknowledged,
                conflict_term: 0,
                conflict_index: 0,
                read_round,
            },
        );
    }

    /// InstallSnapshot receiver (paper §7), chunked: each chunk in order is
    /// handed to the agent for the staging file; the last one installs.
    fn handle_snapshot_chunk(
        &mut self,
        from: NodeId,
        meta: SnapshotMeta,
        total_size_bytes: u64,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    ) {
        let index = meta.index;
        let reply = |node: &mut Self, next_offset: u64, success: bool| {
            node.send_after_persist(
                from,
                RaftBody::InstallSnapshotResponse {
                    last_included_index: index,
                    next_offset,
                    success,
                },
            );
        };
        if index <= self.log.commit {
            // We already hold everything the snapshot covers.
            self.staging_snapshot = None;
            reply(self, total_size_bytes, true);
            return;
        }
        if self.snapshot_to_install.is_some() {
            // One install per Ready: the agent installs the staging file
            // after writing the Ready's chunks, so a new staging file must
            // not start in the same Ready.
            reply(self, 0, false);
            return;
        }
        // An index above MAX_LOG_INDEX would overflow the log's `index + 1`.
        if meta.term > self.term
            || meta.index > MAX_LOG_INDEX
            || !valid_configuration(&meta.configuration)
        {
            self.event(RaftEvent::InvalidMessage {
                from,
                reason: "malformed InstallSnapshot",
            });
            return;
        }
        if offset == 0 {
            self.staging_snapshot = Some(StagingSnapshot {
                meta: meta.clone(),
                total_size_bytes,
                next_offset: 0,
            });
        }
        let expected = match &self.staging_snapshot {
            Some(staging)
                if staging.meta == meta && staging.total_size_bytes == total_size_bytes =>
            {
                staging.next_offset
            }
            _ => {
                reply(self, 0, false);
                return;
            }
        };
        let end = offset.saturating_add(data.len() as u64);
        if offset != expected || end > total_size_bytes || (done && end != total_size_bytes) {
            reply(self, expected, false);
            return;
        }
        if !data.is_empty() || offset == 0 {
            self.received_chunks.push(ReceivedSnapshotChunk {
                snapshot_index: index,
                offset,
                data,
            });
        }
        if let Some(staging) = self.staging_snapshot.as_mut() {
            staging.next_offset = end;
        }
        if done {
            self.staging_snapshot = None;
            self.event(RaftEvent::SnapshotInstalled {
                index,
                term: meta.term,
            });
            self.log.install_snapshot(meta.clone());
            self.snapshot_to_install = Some(meta);
            self.configuration_changed();
        }
        reply(self, end, true);
    }
}

fn valid_configuration(configuration: &Configuration) -> bool {
    let mut ids: Vec<NodeId> = configuration.servers.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.windows(2).all(|w| w[0] != w[1]) && ids.iter().all(|&id| id != 0)
}
