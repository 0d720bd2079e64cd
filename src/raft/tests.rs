//! Rule-by-rule tests of the core on a tiny synchronous in-memory cluster
//! (each message delivered at once, each Ready persisted at once). The
//! seeded fault-injecting simulator is `tests/raft_sim.rs`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::wire::raft_message::{
    Entry, EntryKind, NodeId, RaftBody, RaftMessage, ServerEntry, Suffrage,
};

use super::*;

fn config(id: NodeId) -> RaftConfig {
    RaftConfig::new(id, format!("n{id}"), format!("10.0.0.{id}:8300"))
}

fn server(id: NodeId, suffrage: Suffrage) -> ServerEntry {
    ServerEntry {
        id,
        name: format!("n{id}"),
        address: format!("10.0.0.{id}:8300"),
        suffrage,
    }
}

struct Cluster {
    nodes: BTreeMap<NodeId, RaftNode>,
    queue: VecDeque<RaftMessage>,
    /// Directed links that drop everything.
    cut: BTreeSet<(NodeId, NodeId)>,
    applied: BTreeMap<NodeId, Vec<Entry>>,
    events: BTreeMap<NodeId, Vec<RaftEvent>>,
    reads: BTreeMap<NodeId, Vec<ReadState>>,
}

impl Cluster {
    fn new(ids: &[NodeId]) -> Self {
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            applied: BTreeMap::new(),
            events: BTreeMap::new(),
            reads: BTreeMap::new(),
        };
        for &id in ids {
            let node = RaftNode::new(config(id), RestoredState::default(), 7).unwrap();
            cluster.nodes.insert(id, node);
        }
        cluster
    }

    /// Node 1 bootstraps, every other node is added as a voter.
    fn formed(ids: &[NodeId]) -> Self {
        let mut cluster = Cluster::new(ids);
        cluster.node(1).bootstrap();
        cluster.settle();
        for &id in &ids[1..] {
            cluster
                .node(1)
                .add_server(server(id, Suffrage::Voter))
                .unwrap();
            cluster.settle();
            cluster.ticks(20);
        }
        cluster
    }

    fn node(&mut self, id: NodeId) -> &mut RaftNode {
        self.nodes.get_mut(&id).unwrap()
    }

    fn process(&mut self, id: NodeId) {
        while self.nodes[&id].has_ready() {
            let node = self.nodes.get_mut(&id).unwrap();
            let ready = node.ready();
            self.queue.extend(ready.messages.iter().cloned());
            self.queue
                .extend(ready.messages_after_persist.iter().cloned());
            self.applied
                .entry(id)
                .or_default()
                .extend(ready.committed_entries.iter().cloned());
            self.events
                .entry(id)
                .or_default()
                .extend(ready.events.iter().cloned());
            self.reads
                .entry(id)
                .or_default()
                .extend(ready.reads.iter().copied());
            node.advance(&ready);
            for request in &ready.snapshot_chunk_requests {
                // A 10-byte snapshot file served in 4-byte chunks.
                let end = (request.offset + 4).min(10);
                let _ = node.send_snapshot_chunk(SnapshotChunk {
                    to: request.to,
                    snapshot_index: request.snapshot_index,
                    offset: request.offset,
                    total_size_bytes: 10,
                    data: vec![0; (end - request.offset) as usize],
                    done: end == 10,
                });
            }
        }
    }

    fn settle(&mut self) {
        for _ in 0..100_000 {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.process(id);
            }
            let Some(msg) = self.queue.pop_front() else {
                return;
            };
            if self.cut.contains(&(msg.from, msg.to)) {
                continue;
            }
            if let Some(node) = self.nodes.get_mut(&msg.to) {
                node.step(msg);
            }
        }
        panic!("the cluster did not settle");
    }

    fn ticks(&mut self, n: usize) {
        for _ in 0..n {
            for node in self.nodes.values_mut() {
                node.tick();
            }
            self.settle();
        }
    }

    fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in ids {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    fn leader(&self) -> Option<NodeId> {
        let leaders: Vec<NodeId> = self
            .nodes
            .values()
            .filter(|n| n.role() == Role::Leader)
            .map(|n| n.id())
            .collect();
        match leaders.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                // Several may think so transiently; the highest term wins.
                leaders.into_iter().max_by_key(|id| self.nodes[id].term())
            }
        }
    }

    fn has_event(&self, id: NodeId, wanted: &RaftEvent) -> bool {
        self.events.get(&id).is_some_and(|e| e.contains(wanted))
    }

    fn commands_applied(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.applied
            .get(&id)
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e.kind == EntryKind::Command)
                    .map(|e| e.data.to_vec())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[test]
fn bootstrap_on_empty_state_elects_itself_at_once() {
    let mut cluster = Cluster::new(&[1]);
    cluster.node(1).bootstrap();
    cluster.settle();
    let node = &cluster.nodes[&1];
    assert_eq!(node.role(), Role::Leader);
    assert_ne!(node.cluster_id(), 0);
    assert!(cluster.has_event(1, &RaftEvent::LeadershipAcquired));
    assert!(cluster.has_event(1, &RaftEvent::ElectionWon { tally: 1 }));
    assert_eq!(
        cluster.events[&1]
            .iter()
            .find(|e| **e == RaftEvent::LeadershipAcquired)
            .unwrap()
            .to_string(),
        "cluster leadership acquired"
    );
}

#[test]
fn bootstrap_on_existing_state_is_ignored() {
    let mut cluster = Cluster::new(&[1]);
    cluster.node(1).bootstrap();
    cluster.settle();
    let term = cluster.nodes[&1].term();
    cluster.node(1).bootstrap();
    cluster.settle();
    assert_eq!(cluster.nodes[&1].term(), term);
    let event = RaftEvent::BootstrapIgnored;
    assert!(cluster.has_event(1, &event));
    assert_eq!(
        event.to_string(),
        "Raft data found, disabling bootstrap mode"
    );
    assert_eq!(event.level(), ::log::Level::Info);
}

#[test]
fn node_without_configuration_never_campaigns_and_warns_once() {
    let mut cluster = Cluster::new(&[1]);
    cluster.ticks(200);
    assert_eq!(cluster.nodes[&1].role(), Role::Follower);
    assert_eq!(cluster.nodes[&1].term(), 0);
    let warnings = cluster.events[&1]
        .iter()
        .filter(|e| **e == RaftEvent::NoKnownPeers)
        .count();
    assert_eq!(warnings, 1);
    assert_eq!(
        RaftEvent::NoKnownPeers.to_string(),
        "EnableSingleNode disabled, and no known peers. Aborting election."
    );
    assert_eq!(RaftEvent::NoKnownPeers.level(), ::log::Level::Warn);
}

#[test]
fn leader_counts_itself_toward_commit_only_once_durable() {
    let mut node = RaftNode::new(config(1), RestoredState::default(), 1).unwrap();
    node.bootstrap();
    let ready = node.ready();
    assert_eq!(node.commit_index(), 0, "nothing is durable before advance");
    node.advance(&ready);
    assert_eq!(
        node.commit_index(),
        2,
        "config and no-op commit once durable"
    );
    let index = node.propose(bytes::Bytes::from_static(b"x")).unwrap();
    assert_eq!(node.commit_index(), 2);
    let ready = node.ready();
    node.advance(&ready);
    assert_eq!(node.commit_index(), index);
}

#[test]
fn joining_server_starts_as_non_voter_and_is_promoted_when_caught_up() {
    let mut cluster = Cluster::new(&[1, 2]);
    cluster.node(1).bootstrap();
    cluster.settle();
    for i in 0..10u8 {
        cluster.node(1).propose(vec![i].into()).unwrap();
    }
    cluster
        .node(1)
        .add_server(server(2, Suffrage::Voter))
        .unwrap();
    let added = cluster.nodes[&1].latest_configuration().clone();
    assert_eq!(added.servers[1].suffrage, Suffrage::NonVoter);
    cluster.settle();
    cluster.ticks(10);
    let configuration = cluster.nodes[&1].latest_configuration().clone();
    assert_eq!(configuration.servers[1].suffrage, Suffrage::Voter);
    assert_eq!(
        cluster.nodes[&2].cluster_id(),
        cluster.nodes[&1].cluster_id()
    );
    assert_eq!(cluster.commands_applied(2).len(), 10);
    assert!(cluster.has_event(
        1,
        &RaftEvent::PeerAdded {
            id: 2,
            address: "10.0.0.2:8300".into()
        }
    ));
}

#[test]
fn a_server_caught_up_during_another_change_is_promoted_once_that_change_commits() {
    let mut cluster = Cluster::formed(&[1, 2]);
    cluster.nodes.insert(
        3,
        RaftNode::new(config(3), RestoredState::default(), 7).unwrap(),
    );
    // Without node 2 the add cannot commit: node 3 catches up while the
    // change is still uncommitted, so its promotion must wait.
    cluster.isolate(2);
    cluster
        .node(1)
        .add_server(server(3, Suffrage::Voter))
        .unwrap();
    cluster.settle();
    cluster.ticks(2);
    let suffrage = |cluster: &Cluster| cluster.nodes[&1].latest_configuration().servers[2].suffrage;
    assert_eq!(suffrage(&cluster), Suffrage::NonVoter);
    cluster.heal();
    cluster.ticks(20);
    assert_eq!(suffrage(&cluster), Suffrage::Voter);
}

#[test]
fn three_servers_replicate_and_apply_in_the_same_order() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    for i in 0..50u8 {
        cluster.node(leader).propose(vec![i].into()).unwrap();
    }
    cluster.settle();
    cluster.ticks(10);
    let expected: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i]).collect();
    for id in [1, 2, 3] {
        assert_eq!(cluster.commands_applied(id), expected);
    }
}

#[test]
fn leader_only_commits_entries_of_its_own_term() {
    // Figure 8: an entry of term 2 stored on a majority must not commit by
    // counting replicas in term 4; it commits with the term-4 no-op.
    let configuration = crate::wire::raft_message::Configuration {
        servers: (1..=3).map(|id| server(id, Suffrage::Voter)).collect(),
    };
    let entries = vec![
        Entry {
            term: 1,
            index: 1,
            kind: EntryKind::Configuration,
            data: crate::wire::configuration::configuration_to_bytes(&configuration).into(),
        },
        Entry {
            term: 2,
            index: 2,
            kind: EntryKind::Command,
            data: bytes::Bytes::from_static(b"old"),
        },
    ];
    let restored = RestoredState {
        hard_state: Some(HardState {
            current_term: 3,
            voted_for: None,
            commit_index: 1,
            cluster_id: 9,
        }),
        snapshot: None,
        entries,
    };
    let mut cfg = config(1);
    cfg.pre_vote = false;
    let mut node = RaftNode::new(cfg, restored, 1).unwrap();
    for _ in 0..40 {
        node.tick();
    }
    assert_eq!(node.role(), Role::Candidate);
    let term = node.term();
    node.step(RaftMessage {
        cluster_id: 9,
        from: 2,
        to: 1,
        term,
        body: RaftBody::RequestVoteResponse {
            pre_vote: false,
            granted: true,
        },
    });
    assert_eq!(node.role(), Role::Leader);
    let ready = node.ready();
    node.advance(&ready);
    let ack = |last_log_index| RaftMessage {
        cluster_id: 9,
        from: 2,
        to: 1,
        term,
        body: RaftBody::AppendEntriesResponse {
            success: true,
            last_log_index,
            conflict_term: 0,
            conflict_index: 0,
            read_round: 0,
        },
    };
    node.step(ack(2));
    assert_eq!(
        node.commit_index(),
        1,
        "an older term's entry is not committed by counting"
    );
    node.step(ack(3));
    assert_eq!(node.commit_index(), 3);
}

#[test]
fn vote_is_granted_only_after_it_is_durable() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let cluster_id = cluster.nodes[&1].cluster_id();
    let follower = cluster.node(2);
    let term = follower.term() + 1;
    follower.step(RaftMessage {
        cluster_id,
        from: 3,
        to: 2,
        term,
        body: RaftBody::RequestVote {
            pre_vote: false,
            last_log_index: 1000,
            last_log_term: term,
            leadership_transfer: true,
        },
    });
    let ready = follower.ready();
    assert_eq!(ready.hard_state.unwrap().voted_for, Some(3));
    assert!(ready.messages.is_empty());
    assert!(matches!(
        ready.messages_after_persist[0].body,
        RaftBody::RequestVoteResponse { granted: true, .. }
    ));
}

#[test]
fn a_server_votes_for_at_most_one_candidate_per_term() {
    let mut node = RaftNode::new(config(1), RestoredState::default(), 1).unwrap();
    let request = |from| RaftMessage {
        cluster_id: 0,
        from,
        to: 1,
        term: 5,
        body: RaftBody::RequestVote {
            pre_vote: false,
            last_log_index: 0,
            last_log_term: 0,
            leadership_transfer: false,
        },
    };
    node.step(request(2));
    node.step(request(3));
    let ready = node.ready();
    let grants: Vec<(NodeId, bool)> = ready
        .messages
        .iter()
        .chain(&ready.messages_after_persist)
        .map(|m| match m.body {
            RaftBody::RequestVoteResponse { granted, .. } => (m.to, granted),
            _ => panic!("unexpected message"),
        })
        .collect();
    assert!(grants.contains(&(2, true)));
    assert!(grants.contains(&(3, false)));
}

#[test]
fn candidate_with_a_less_up_to_date_log_is_refused() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let cluster_id = cluster.nodes[&1].cluster_id();
    let follower = cluster.node(2);
    let term = follower.term() + 1;
    follower.step(RaftMessage {
        cluster_id,
        from: 3,
        to: 2,
        term,
        body: RaftBody::RequestVote {
            pre_vote: false,
            last_log_index: 1,
            last_log_term: 1,
            leadership_transfer: true,
        },
    });
    let ready = follower.ready();
    assert!(
        ready
            .messages
            .iter()
            .chain(&ready.messages_after_persist)
            .any(|m| matches!(m.body, RaftBody::RequestVoteResponse { granted: false, .. }))
    );
}

#[test]
fn pre_vote_keeps_a_partitioned_node_from_disrupting_the_leader() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let term = cluster.nodes[&leader].term();
    let other = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    cluster.isolate(other);
    cluster.ticks(300);
    assert_eq!(
        cluster.nodes[&other].term(),
        term,
        "pre-vote does not bump the term"
    );
    cluster.heal();
    cluster.ticks(50);
    assert_eq!(cluster.leader(), Some(leader));
    assert_eq!(cluster.nodes[&leader].term(), term);
}

#[test]
fn check_quorum_makes_an_isolated_leader_step_down() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    cluster.isolate(leader);
    cluster.ticks(40);
    assert_ne!(cluster.nodes[&leader].role(), Role::Leader);
    assert!(
        cluster.events[&leader]
            .iter()
            .any(|e| matches!(e, RaftEvent::QuorumLost { .. }))
    );
}

#[test]
fn rejection_carries_the_conflict_term_for_fast_backtracking() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let cluster_id = cluster.nodes[&1].cluster_id();
    let follower = cluster.node(2);
    let last = follower.status().last_log_index;
    let term = follower.term();
    follower.step(RaftMessage {
        cluster_id,
        from: 1,
        to: 2,
        term,
        body: RaftBody::AppendEntries {
            prev_log_index: last,
            prev_log_term: term - 1,
            leader_commit: 0,
            read_round: 0,
            entries: vec![],
        },
    });
    let ready = follower.ready();
    let reply = &ready.messages_after_persist[0];
    match reply.body {
        RaftBody::AppendEntriesResponse {
            success,
            conflict_term,
            conflict_index,
            ..
        } => {
            assert!(!success);
            assert_eq!(conflict_term, term);
            assert!(conflict_index <= last && conflict_index > 0);
        }
        _ => panic!("expected a rejection"),
    }
}

#[test]
fn leadership_transfer_hands_leadership_to_the_target() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let target = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    assert_eq!(
        cluster.node(leader).transfer_leadership(Some(target)),
        Ok(target)
    );
    assert_eq!(
        cluster.node(leader).propose(vec![1].into()),
        Err(ProposeError::TransferInProgress)
    );
    cluster.settle();
    assert_eq!(cluster.leader(), Some(target));
}

#[test]
fn removed_leader_steps_down_once_its_removal_commits() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    cluster.node(leader).remove_server(leader).unwrap();
    assert_eq!(
        cluster.nodes[&leader].role(),
        Role::Leader,
        "leads until committed"
    );
    cluster.settle();
    assert_ne!(cluster.nodes[&leader].role(), Role::Leader);
    assert!(cluster.has_event(leader, &RaftEvent::RemovedSelf));
    cluster.ticks(60);
    let new_leader = cluster.leader().unwrap();
    assert_ne!(new_leader, leader);
    assert!(
        !cluster.nodes[&new_leader]
            .latest_configuration()
            .servers
            .iter()
            .any(|s| s.id == leader)
    );
}

#[test]
fn a_new_leader_accepts_no_membership_change_before_committing_in_its_term() {
    let mut node = RaftNode::new(config(1), RestoredState::default(), 1).unwrap();
    node.bootstrap();
    assert_eq!(
        node.add_server(server(2, Suffrage::Voter)),
        Err(MembershipError::ChangeInProgress)
    );
    let ready = node.ready();
    node.advance(&ready);
    assert!(node.add_server(server(2, Suffrage::Voter)).is_ok());
    assert_eq!(
        node.add_server(server(3, Suffrage::Voter)),
        Err(MembershipError::ChangeInProgress),
        "one change at a time"
    );
}

#[test]
fn messages_from_another_cluster_are_refused() {
    let mut a = Cluster::formed(&[1, 2]);
    let node = a.node(2);
    let term = node.term();
    let before = node.status();
    node.step(RaftMessage {
        cluster_id: 12345,
        from: 1,
        to: 2,
        term: term + 10,
        body: RaftBody::AppendEntries {
            prev_log_index: 0,
            prev_log_term: 0,
            leader_commit: 0,
            read_round: 0,
            entries: vec![],
        },
    });
    assert_eq!(node.status().term, before.term);
    let ready = node.ready();
    assert!(
        ready
            .events
            .iter()
            .any(|e| matches!(e, RaftEvent::ClusterIdRefused { theirs: 12345, .. }))
    );
}

#[test]
fn read_index_is_served_only_after_a_quorum_round_and_own_term_commit() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let followers: Vec<NodeId> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
    for f in &followers {
        cluster.isolate(*f);
    }
    cluster.node(leader).read_index(77).unwrap();
    cluster.settle();
    assert!(cluster.reads.get(&leader).is_none_or(|r| r.is_empty()));
    cluster.heal();
    cluster.ticks(6);
    let reads = &cluster.reads[&leader];
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].request_id, 77);
    assert_eq!(
        cluster.node(followers[0]).read_index(1),
        Err(ReadError::NotLeader {
            leader: Some(leader)
        })
    );
}

#[test]
fn lagging_follower_catches_up_through_a_chunked_snapshot() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let lagging = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    cluster.isolate(lagging);
    for i in 0..30u8 {
        cluster.node(leader).propose(vec![i].into()).unwrap();
    }
    cluster.settle();
    let applied = cluster.nodes[&leader].status().applied_index;
    cluster.node(leader).snapshot_taken(applied).unwrap();
    cluster.heal();
    cluster.ticks(30);
    let status = cluster.nodes[&lagging].status();
    assert_eq!(status.snapshot_index, applied);
    assert!(cluster.has_event(
        lagging,
        &RaftEvent::SnapshotInstalled {
            index: applied,
            term: cluster.nodes[&leader].term()
        }
    ));
    cluster.node(leader).propose(vec![99].into()).unwrap();
    cluster.settle();
    cluster.ticks(10);
    assert_eq!(cluster.commands_applied(lagging).last(), Some(&vec![99]));
}

#[test]
fn proposals_beyond_the_uncommitted_bound_are_refused() {
    let mut cfg = config(1);
    cfg.max_uncommitted_entries = 3;
    let mut node = RaftNode::new(cfg, RestoredState::default(), 1).unwrap();
    node.bootstrap();
    // Nothing is durable yet: config + no-op are uncommitted.
    node.propose(vec![1].into()).unwrap();
    assert_eq!(node.propose(vec![2].into()), Err(ProposeError::QueueFull));
}

fn follower_with_log(terms: &[u64], commit: u64) -> RaftNode {
    let configuration = crate::wire::raft_message::Configuration {
        servers: (1..=3).map(|id| server(id, Suffrage::Voter)).collect(),
    };
    let mut entries = vec![Entry {
        term: 1,
        index: 1,
        kind: EntryKind::Configuration,
        data: crate::wire::configuration::configuration_to_bytes(&configuration).into(),
    }];
    for (offset, term) in terms.iter().enumerate() {
        entries.push(Entry {
            term: *term,
            index: 2 + offset as u64,
            kind: EntryKind::Command,
            data: vec![offset as u8].into(),
        });
    }
    let restored = RestoredState {
        hard_state: Some(HardState {
            current_term: *terms.last().unwrap_or(&1),
            voted_for: None,
            commit_index: commit,
            cluster_id: 9,
        }),
        snapshot: None,
        entries,
    };
    RaftNode::new(config(2), restored, 1).unwrap()
}

fn snapshot_message(index: u64, term: u64, leader_term: u64) -> RaftMessage {
    RaftMessage {
        cluster_id: 9,
        from: 1,
        to: 2,
        term: leader_term,
        body: RaftBody::InstallSnapshot {
            last_included_index: index,
            last_included_term: term,
            configuration: crate::wire::raft_message::Configuration {
                servers: (1..=3).map(|id| server(id, Suffrage::Voter)).collect(),
            },
            total_size_bytes: 1,
            offset: 0,
            data: vec![7],
            done: true,
        },
    }
}

#[test]
fn installing_a_snapshot_keeps_matching_entries_after_it() {
    // Paper §7: if the follower holds the snapshot's last entry, the
    // entries after it stay (they may have been acknowledged already).
    let mut node = follower_with_log(&[2, 2], 1);
    node.step(snapshot_message(2, 2, 2));
    assert_eq!(node.snapshot_index(), 2);
    assert_eq!(
        node.status().last_log_index,
        3,
        "the entry after the snapshot stays"
    );
    let ready = node.ready();
    assert_eq!(ready.snapshot_to_install.map(|m| m.index), Some(2));
    assert_eq!(ready.truncate_after, None);
}

#[test]
fn installing_a_snapshot_that_conflicts_discards_the_log() {
    let mut node = follower_with_log(&[1, 2], 1);
    node.step(snapshot_message(2, 3, 3));
    let ready = node.ready();
    assert_eq!(ready.snapshot_to_install.as_ref().map(|m| m.index), Some(2));
    assert_eq!(
        ready.truncate_after,
        Some(2),
        "storage drops the conflicting tail"
    );
    assert_eq!(node.status().last_log_index, 2);
    assert_eq!(node.commit_index(), 2);
}

fn lease_config(node: &mut RaftNode) {
    node.config.lease_reads = true;
    node.config.lease_duration_ms = 250;
}

fn served(cluster: &Cluster, leader: NodeId, request_id: u64) -> bool {
    cluster
        .reads
        .get(&leader)
        .is_some_and(|reads| reads.iter().any(|r| r.request_id == request_id))
}

#[test]
fn lease_reads_skip_the_round_only_while_a_recent_round_was_acknowledged() {
    // Dissertation §6.4.1, with the lease counted from the round's send.
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    for node in cluster.nodes.values_mut() {
        lease_config(node);
    }
    cluster.node(leader).set_clock_ms(1_000);
    cluster.node(leader).read_index(8).unwrap();
    cluster.settle();
    assert!(served(&cluster, leader, 8), "a read's own round");
    cluster.node(leader).broadcast_heartbeat();
    cluster.settle();
    for id in [1, 2, 3].into_iter().filter(|id| *id != leader) {
        cluster.isolate(id);
    }
    cluster.node(leader).set_clock_ms(1_249);
    cluster.node(leader).read_index(9).unwrap();
    cluster.settle();
    assert!(
        served(&cluster, leader, 9),
        "inside the lease, cut off or not"
    );
    cluster.node(leader).set_clock_ms(1_250);
    cluster.node(leader).read_index(10).unwrap();
    cluster.settle();
    assert!(!served(&cluster, leader, 10), "the lease ran out");
    cluster.heal();
    cluster.node(leader).broadcast_heartbeat();
    cluster.settle();
    assert!(served(&cluster, leader, 10), "a quorum round serves it");
}

#[test]
fn a_leadership_transfer_voids_the_lease() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let target = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    for node in cluster.nodes.values_mut() {
        lease_config(node);
    }
    cluster.node(leader).set_clock_ms(1_000);
    cluster.node(leader).broadcast_heartbeat();
    cluster.settle();
    for id in [1, 2, 3].into_iter().filter(|id| *id != leader) {
        cluster.isolate(id);
    }
    cluster
        .node(leader)
        .transfer_leadership(Some(target))
        .unwrap();
    cluster.node(leader).read_index(11).unwrap();
    cluster.settle();
    assert!(
        !served(&cluster, leader, 11),
        "a TimeoutNow may elect the target at any time"
    );
}

#[test]
fn with_leases_a_restarted_voter_ignores_vote_requests_for_an_election_timeout() {
    let mut cfg = config(2);
    cfg.lease_reads = true;
    cfg.lease_duration_ms = 250;
    let timeout = cfg.election_timeout_ticks;
    let mut node = RaftNode::new(cfg, RestoredState::default(), 3).unwrap();
    let request = |term| RaftMessage {
        cluster_id: 0,
        from: 3,
        to: 2,
        term,
        body: RaftBody::RequestVote {
            pre_vote: false,
            last_log_index: 10,
            last_log_term: 1,
            leadership_transfer: false,
        },
    };
    node.step(request(5));
    assert_eq!(
        node.term(),
        0,
        "it may have acknowledged a lease before its restart"
    );
    for _ in 0..timeout {
        node.tick();
    }
    node.step(request(6));
    assert_eq!(node.term(), 6);
}

#[test]
fn operator_lines_match_hashicorp_wording() {
    assert_eq!(
        RaftEvent::PeerAdded {
            id: 2,
            address: "10.0.0.2:8300".into()
        }
        .to_string(),
        "Added peer 10.0.0.2:8300, starting replication"
    );
    assert_eq!(
        RaftEvent::PeerRemoved {
            id: 2,
            address: "10.0.0.2:8300".into()
        }
        .to_string(),
        "Removed peer 10.0.0.2:8300, stopping replication"
    );
    assert_eq!(
        RaftEvent::ElectionWon { tally: 2 }.to_string(),
        "Election won. Tally: 2"
    );
    assert!(
        RaftEvent::ElectionTimeout { term: 3 }
            .to_string()
            .starts_with("heartbeat timeout reached, starting election")
    );
    assert!(
        RaftEvent::EnteringLeaderState { term: 3 }
            .to_string()
            .starts_with("entering leader state")
    );
}

#[test]
fn removed_peer_is_reported_and_no_longer_replicated_to() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let victim = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    cluster.node(leader).remove_server(victim).unwrap();
    cluster.settle();
    assert!(cluster.has_event(
        leader,
        &RaftEvent::PeerRemoved {
            id: victim,
            address: format!("10.0.0.{victim}:8300")
        }
    ));
    assert!(
        !cluster.nodes[&leader]
            .status()
            .peers
            .iter()
            .any(|p| p.id == victim)
    );
}

#[test]
fn restore_refuses_a_log_with_a_gap() {
    let restored = RestoredState {
        hard_state: Some(HardState {
            current_term: 1,
            voted_for: None,
            commit_index: 0,
            cluster_id: 1,
        }),
        snapshot: None,
        entries: vec![Entry {
            term: 1,
            index: 2,
            kind: EntryKind::Noop,
            data: vec![].into(),
        }],
    };
    assert!(matches!(
        RaftNode::new(config(1), restored, 1),
        Err(RestoreError::NonContiguousEntries {
            expected: 1,
            found: 2
        })
    ));
}

#[test]
fn non_voter_never_campaigns() {
    let mut cluster = Cluster::new(&[1, 2]);
    cluster.node(1).bootstrap();
    cluster.settle();
    cluster
        .node(1)
        .add_server(server(2, Suffrage::NonVoter))
        .unwrap();
    cluster.settle();
    cluster.isolate(1);
    cluster.ticks(200);
    assert_eq!(cluster.nodes[&2].role(), Role::Follower);
    assert!(!cluster.events.get(&2).is_some_and(|e| {
        e.iter()
            .any(|e| matches!(e, RaftEvent::ElectionTimeout { .. }))
    }));
}

/// Bytes from the network are never an invariant: arbitrary messages from
/// a peer must not panic the core, whatever its role.
#[test]
fn hostile_messages_never_panic_the_core() {
    let mut rng = SplitMix64::new(99);
    for round in 0..40u64 {
        let mut cluster = Cluster::formed(&[1, 2, 3]);
        let cluster_id = cluster.nodes[&1].cluster_id();
        for _ in 0..300 {
            let to = rng.range(1, 4);
            let from = rng.range(1, 5);
            let base = cluster.nodes[&to].status().last_log_index;
            let term = cluster.nodes[&to].term() + rng.range(0, 3) - 1 + round % 2;
            let index = |rng: &mut SplitMix64| base.saturating_sub(3) + rng.range(0, 8);
            let body = match rng.range(0, 7) {
                0 => RaftBody::RequestVote {
                    pre_vote: rng.range(0, 2) == 0,
                    last_log_index: index(&mut rng),
                    last_log_term: rng.range(0, term + 2),
                    leadership_transfer: rng.range(0, 2) == 0,
                },
                1 => RaftBody::RequestVoteResponse {
                    pre_vote: rng.range(0, 2) == 0,
                    granted: rng.range(0, 2) == 0,
                },
                2 => {
                    let prev = index(&mut rng);
                    let count = rng.range(0, 4);
                    let entries = (0..count)
                        .map(|i| Entry {
                            term: rng.range(0, term + 2),
                            index: prev + 1 + i + rng.range(0, 2),
                            kind: match rng.range(0, 3) {
                                0 => EntryKind::Command,
                                1 => EntryKind::Noop,
                                _ => EntryKind::Configuration,
                            },
                            data: vec![rng.range(0, 256) as u8; rng.range(0, 4) as usize].into(),
                        })
                        .collect();
                    RaftBody::AppendEntries {
                        prev_log_index: prev,
                        prev_log_term: rng.range(0, term + 2),
                        leader_commit: index(&mut rng),
                        read_round: rng.range(0, 3),
                        entries,
                    }
                }
                3 => RaftBody::AppendEntriesResponse {
                    success: rng.range(0, 2) == 0,
                    last_log_index: index(&mut rng),
                    conflict_term: rng.range(0, term + 2),
                    conflict_index: index(&mut rng),
                    read_round: rng.range(0, 5),
                },
                4 => RaftBody::InstallSnapshot {
                    last_included_index: index(&mut rng),
                    last_included_term: rng.range(0, term + 2),
                    configuration: crate::wire::raft_message::Configuration {
                        servers: (1..=rng.range(0, 4))
                            .map(|id| server(id, Suffrage::Voter))
                            .collect(),
                    },
                    total_size_bytes: rng.range(0, 10),
                    offset: rng.range(0, 10),
                    data: vec![0; rng.range(0, 5) as usize],
                    done: rng.range(0, 2) == 0,
                },
                5 => RaftBody::InstallSnapshotResponse {
                    last_included_index: index(&mut rng),
                    next_offset: rng.range(0, 12),
                    success: rng.range(0, 2) == 0,
                },
                _ => RaftBody::TimeoutNow,
            };
            let cluster_id = if rng.range(0, 20) == 0 { 5 } else { cluster_id };
            cluster.node(to).step(RaftMessage {
                cluster_id,
                from,
                to,
                term,
                body,
            });
            cluster.process(to);
            if rng.range(0, 10) == 0 {
                cluster.ticks(1);
            }
        }
    }
}

#[test]
fn follower_that_hears_from_a_leader_ignores_disruptive_vote_requests() {
    // Dissertation §4.2.3: within the minimum election timeout of hearing
    // from a leader, a server neither updates its term nor grants a vote.
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let leader = cluster.leader().unwrap();
    let follower = [1, 2, 3].into_iter().find(|id| *id != leader).unwrap();
    let other = 6 - leader - follower;
    let cluster_id = cluster.nodes[&leader].cluster_id();
    let term = cluster.nodes[&follower].term();
    let request = |leadership_transfer| RaftMessage {
        cluster_id,
        from: other,
        to: follower,
        term: term + 1,
        body: RaftBody::RequestVote {
            pre_vote: false,
            last_log_index: 1000,
            last_log_term: term,
            leadership_transfer,
        },
    };
    cluster.node(follower).step(request(false));
    assert_eq!(cluster.nodes[&follower].term(), term);
    cluster.node(follower).step(request(true));
    assert_eq!(
        cluster.nodes[&follower].term(),
        term + 1,
        "a leadership transfer overrides the lease"
    );
}

#[test]
fn a_log_durable_before_the_hard_state_raises_the_term_without_a_vote() {
    let restored = RestoredState {
        hard_state: Some(HardState {
            current_term: 2,
            voted_for: Some(3),
            commit_index: 0,
            cluster_id: 9,
        }),
        snapshot: None,
        entries: vec![Entry {
            term: 4,
            index: 1,
            kind: EntryKind::Noop,
            data: vec![].into(),
        }],
    };
    let node = RaftNode::new(config(1), restored, 1).unwrap();
    assert_eq!(node.term(), 4);
    assert_eq!(node.hard_state().voted_for, None);
}

fn leader_and_followers(cluster: &Cluster) -> (NodeId, NodeId, NodeId) {
    let leader = cluster.leader().unwrap();
    let others: Vec<NodeId> = [1, 2, 3].into_iter().filter(|id| *id != leader).collect();
    (leader, others[0], others[1])
}

fn message_to(cluster: &Cluster, from: NodeId, to: NodeId, body: RaftBody) -> RaftMessage {
    RaftMessage {
        cluster_id: cluster.nodes[&to].cluster_id(),
        from,
        to,
        term: cluster.nodes[&to].term(),
        body,
    }
}

fn invalid_message_reported(events: &[RaftEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, RaftEvent::InvalidMessage { .. }))
}

#[test]
fn a_rejection_claiming_a_huge_follower_log_keeps_next_index_within_the_leader_log() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let (leader, follower, _) = leader_and_followers(&cluster);
    for conflict_term in [0, 1, u64::MAX] {
        let msg = message_to(
            &cluster,
            follower,
            leader,
            RaftBody::AppendEntriesResponse {
                success: false,
                last_log_index: u64::MAX,
                conflict_term,
                conflict_index: u64::MAX,
                read_round: 0,
            },
        );
        cluster.node(leader).step(msg);
        let node = &cluster.nodes[&leader];
        let progress = &node.progress[&follower];
        assert!(progress.next_index >= 1);
        assert!(progress.next_index <= node.status().last_log_index + 1);
    }
    // Replication still works afterwards.
    cluster.settle();
    cluster.node(leader).propose(vec![42].into()).unwrap();
    cluster.settle();
    cluster.ticks(10);
    assert_eq!(cluster.commands_applied(follower).last(), Some(&vec![42]));
}

fn append_message(prev_log_index: u64, prev_log_term: u64, entries: Vec<Entry>) -> RaftMessage {
    RaftMessage {
        cluster_id: 9,
        from: 1,
        to: 2,
        term: 2,
        body: RaftBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            leader_commit: 0,
            read_round: 0,
            entries,
        },
    }
}

fn command(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        kind: EntryKind::Command,
        data: vec![1].into(),
    }
}

#[test]
fn append_entries_whose_indexes_wrap_past_u64_max_are_refused() {
    let mut node = follower_with_log(&[2, 2], 1);
    for entries in [
        vec![command(0, 2)],
        vec![command(u64::MAX, 2)],
        vec![command(0, 2), command(1, 2)],
    ] {
        node.step(append_message(u64::MAX, 2, entries));
        let ready = node.ready();
        assert!(invalid_message_reported(&ready.events));
        assert!(ready.entries.is_empty());
        node.advance(&ready);
        assert_eq!(node.status().last_log_index, 3);
    }
}

#[test]
fn append_entries_must_follow_prev_log_index_with_terms_not_above_the_message_term() {
    let cases = [
        // A gap after prev_log_index.
        append_message(3, 2, vec![command(5, 2)]),
        // Not contiguous with each other.
        append_message(3, 2, vec![command(4, 2), command(6, 2)]),
        // A term newer than the sender's.
        append_message(3, 2, vec![command(4, 3)]),
        // Terms going backwards.
        append_message(3, 2, vec![command(4, 2), command(5, 1)]),
        // An entry older than prev_log_term.
        append_message(3, 2, vec![command(4, 1)]),
    ];
    for msg in cases {
        let mut node = follower_with_log(&[2, 2], 1);
        node.step(msg);
        let ready = node.ready();
        assert!(invalid_message_reported(&ready.events));
        assert!(ready.entries.is_empty());
        assert_eq!(node.status().last_log_index, 3);
    }
}

#[test]
fn a_message_with_a_term_above_max_term_is_dropped_and_terms_never_wrap() {
    let mut node = follower_with_log(&[2, 2], 1);
    for term in [MAX_TERM + 1, u64::MAX] {
        let mut msg = append_message(3, 2, Vec::new());
        msg.term = term;
        node.step(msg);
        assert_eq!(node.term(), 2, "the hostile term is not adopted");
        let ready = node.ready();
        assert!(invalid_message_reported(&ready.events));
        node.advance(&ready);
    }
    // The next campaign moves one term on, as usual.
    for _ in 0..100 {
        node.tick();
    }
    assert!(node.term() >= 2 && node.term() <= 3);
}

#[test]
fn a_node_at_max_term_stops_campaigning_instead_of_overflowing() {
    let mut node = follower_with_log(&[2, 2], 1);
    // Without Pre-Vote a timeout bumps the term directly.
    node.config.pre_vote = false;
    let mut msg = append_message(3, 2, Vec::new());
    msg.term = MAX_TERM;
    node.step(msg);
    assert_eq!(node.term(), MAX_TERM, "MAX_TERM itself is a valid term");
    for _ in 0..200 {
        node.tick();
        if node.has_ready() {
            let ready = node.ready();
            node.advance(&ready);
        }
    }
    assert_eq!(node.term(), MAX_TERM);
    assert_ne!(node.role(), Role::Leader);
    // A leadership transfer cannot push it past the bound either.
    let mut msg = append_message(3, 2, Vec::new());
    msg.term = MAX_TERM;
    msg.body = RaftBody::TimeoutNow;
    node.step(msg);
    assert_eq!(node.term(), MAX_TERM);
}

#[test]
fn restore_refuses_a_term_above_max_term() {
    let restored = RestoredState {
        hard_state: Some(HardState {
            current_term: MAX_TERM + 1,
            voted_for: None,
            commit_index: 0,
            cluster_id: 9,
        }),
        snapshot: None,
        entries: Vec::new(),
    };
    assert!(matches!(
        RaftNode::new(config(1), restored, 1),
        Err(RestoreError::TermTooLarge { .. })
    ));
    let restored = RestoredState {
        hard_state: None,
        snapshot: None,
        entries: vec![command(1, u64::MAX)],
    };
    assert!(matches!(
        RaftNode::new(config(1), restored, 1),
        Err(RestoreError::TermTooLarge { .. })
    ));
}

#[test]
fn restore_refuses_a_snapshot_index_above_max_log_index() {
    let restored = RestoredState {
        hard_state: None,
        snapshot: Some(SnapshotMeta {
            index: u64::MAX,
            term: 1,
            configuration: Default::default(),
        }),
        entries: vec![command(0, 1)],
    };
    assert!(matches!(
        RaftNode::new(config(1), restored, 1),
        Err(RestoreError::IndexTooLarge { .. })
    ));
}

#[test]
fn a_snapshot_beyond_max_log_index_is_refused() {
    let mut node = follower_with_log(&[2, 2], 1);
    for index in [MAX_LOG_INDEX + 1, u64::MAX] {
        node.step(snapshot_message(index, 2, 2));
        assert_eq!(node.snapshot_index(), 0);
        let ready = node.ready();
        assert!(invalid_message_reported(&ready.events));
        assert!(ready.snapshot_to_install.is_none());
        assert!(ready.snapshot_chunks.is_empty());
        node.advance(&ready);
    }
}

#[test]
fn a_snapshot_offset_is_not_requested_before_the_snapshot_size_is_known() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let (leader, follower, _) = leader_and_followers(&cluster);
    let snapshot_index = cluster.nodes[&leader].snapshot_index();
    let node = cluster.node(leader);
    node.progress.get_mut(&follower).unwrap().state =
        ReplicationState::Snapshot(progress::SnapshotTransfer {
            snapshot_index,
            total_size_bytes: None,
            next_offset: 0,
            waiting_ticks: 0,
        });
    let msg = message_to(
        &cluster,
        follower,
        leader,
        RaftBody::InstallSnapshotResponse {
            last_included_index: snapshot_index,
            next_offset: u64::MAX - 5,
            success: false,
        },
    );
    let node = cluster.node(leader);
    node.step(msg);
    let ready = node.ready();
    assert!(
        ready.snapshot_chunk_requests.iter().all(|r| r.offset == 0),
        "no chunk beyond the snapshot is requested: {:?}",
        ready.snapshot_chunk_requests
    );
    node.advance(&ready);
    let ReplicationState::Snapshot(transfer) = &node.progress[&follower].state else {
        panic!("still transferring");
    };
    assert_eq!(transfer.next_offset, 0);
}

#[test]
fn a_read_round_the_leader_never_started_does_not_confirm_reads() {
    let mut cluster = Cluster::formed(&[1, 2, 3]);
    let (leader, hostile, other) = leader_and_followers(&cluster);
    cluster.node(leader).read_index(6).unwrap();
    cluster.settle();
    assert!(cluster.reads[&leader].iter().any(|r| r.request_id == 6));
    let round = cluster.nodes[&leader].read_round;
    let msg = message_to(
        &cluster,
        hostile,
        leader,
        RaftBody::AppendEntriesResponse {
            success: true,
            last_log_index: 0,
            conflict_term: 0,
            conflict_index: 0,
            read_round: u64::MAX,
        },
    );
    cluster.node(leader).step(msg);
    cluster.process(leader);
    cluster.isolate(hostile);
    cluster.isolate(other);
    cluster.node(leader).read_index(7).unwrap();
    cluster.settle();
    // A genuine but old acknowledgement makes the leader count again.
    let msg = message_to(
        &cluster,
        other,
        leader,
        RaftBody::AppendEntriesResponse {
            success: true,
            last_log_index: 0,
            conflict_term: 0,
            conflict_index: 0,
            read_round: round,
        },
    );
    cluster.node(leader).step(msg);
    cluster.process(leader);
    assert!(
        !cluster.reads[&leader].iter().any(|r| r.request_id == 7),
        "only the leader and an old round acknowledged the read"
    );
}

/// Proposes and persists nothing: every proposal stays uncommitted.
fn lone_leader_with_byte_bound(max_uncommitted_bytes: u64) -> RaftNode {
    let mut cfg = config(1);
    cfg.max_uncommitted_bytes = max_uncommitted_bytes;
    let mut node = RaftNode::new(cfg, RestoredState::default(), 1).unwrap();
    node.bootstrap();
    node
}

fn run_readies(node: &mut RaftNode) {
    while node.has_ready() {
        let ready = node.ready();
        node.advance(&ready);
    }
}

#[test]
fn proposals_beyond_the_uncommitted_byte_bound_are_refused_until_they_commit() {
    let mut node = lone_leader_with_byte_bound(100);
    run_readies(&mut node);
    assert_eq!(node.role(), Role::Leader);
    node.propose(vec![0; 60].into()).unwrap();
    assert_eq!(
        node.propose(vec![0; 60].into()),
        Err(ProposeError::QueueFull)
    );
    run_readies(&mut node);
    node.propose(vec![0; 60].into())
        .expect("once the first commits, its bytes no longer count");
}

#[test]
fn a_proposal_into_an_empty_queue_is_taken_whatever_its_size() {
    let mut node = lone_leader_with_byte_bound(100);
    run_readies(&mut node);
    node.propose(vec![0; 500].into())
        .expect("one large value must not wedge the leader");
    assert_eq!(node.propose(vec![1].into()), Err(ProposeError::QueueFull));
}

#[test]
fn appends_to_a_follower_that_does_not_answer_stop_at_the_inflight_byte_bound() {
    let mut cluster = Cluster::formed(&[1, 2]);
    cluster.node(1).config.max_inflight_bytes = 100;
    cluster.cut.insert((2, 1));
    for i in 0..10u8 {
        cluster.node(1).propose(vec![i; 60].into()).unwrap();
        cluster.settle();
    }
    let progress = &cluster.nodes[&1].progress[&2];
    assert!(
        progress.inflight_bytes() <= 100 + 60,
        "in flight: {} bytes",
        progress.inflight_bytes()
    );
    let (leader_last, follower_last) = (
        cluster.nodes[&1].log.last_index(),
        cluster.nodes[&2].log.last_index(),
    );
    assert!(
        follower_last + 7 <= leader_last,
        "the follower got {follower_last} of {leader_last}"
    );
    cluster.heal();
    cluster.ticks(20);
    assert_eq!(cluster.nodes[&2].log.last_index(), leader_last);
}
