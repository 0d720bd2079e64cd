//! A seeded discrete-event simulation of a Raft cluster running the real
//! core: a simulated network (delay, loss, duplication, reordering,
//! symmetric and one-way partitions), simulated disks (a volatile write in
//! progress plus a durable image: a crash loses what was not yet durable),
//! clients, membership changes, leadership transfers and snapshots. Safety
//! invariants are checked after every tick.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use concord::raft::{
    EntryChunks, HardState, RaftConfig, RaftEvent, RaftNode, Ready, RestoredState, Role,
    SnapshotChunk, SnapshotMeta, SplitMix64,
};
use concord::wire::raft_message::{
    Entry, EntryKind, NodeId, RaftBody, RaftMessage, ServerEntry, Suffrage,
};

use super::linearizability::{KvInput, KvOperation, KvOutput, NEVER_RETURNED};

pub struct SimOptions {
    pub nodes: usize,
    pub chaos_ticks: u64,
    pub heal_bound_ticks: u64,
    pub crash_per_mille: u64,
    /// Chance per tick to crash a node whose write is still in progress:
    /// the moment a lost write matters most.
    pub crash_during_write_per_mille: u64,
    pub restart_per_mille: u64,
    pub partition_per_mille: u64,
    pub loss_percent: u64,
    pub duplicate_percent: u64,
    pub max_delay_ticks: u64,
    pub max_disk_delay_ticks: u64,
    pub election_timeout_ticks: u32,
    /// Small batches make followers acknowledge part of a backlog, which
    /// exposes commit-rule mistakes (Figure 8).
    pub max_entries_per_append: usize,
    /// Clock drift: each node's ticks per thousand simulated ticks.
    pub tick_rate_per_mille: Vec<u64>,
    pub pre_vote: bool,
    pub check_quorum: bool,
    /// Chance that a new leader crashes within a few ticks of winning: its
    /// log then holds entries that reached only some followers (Figure 8).
    pub crash_new_leader_per_mille: u64,
}

impl SimOptions {
    pub fn from_seed(rng: &mut SplitMix64) -> Self {
        let mut opts = Self::draw(rng);
        // Raft's timing requirement (paper §5.6): a round trip must fit
        // well within an election timeout, or elections never finish.
        opts.election_timeout_ticks = opts
            .election_timeout_ticks
            .max((3 * opts.max_delay_ticks + opts.max_disk_delay_ticks) as u32 + 2);
        opts
    }

    fn draw(rng: &mut SplitMix64) -> Self {
        SimOptions {
            nodes: rng.range(1, 8) as usize,
            chaos_ticks: 1500,
            heal_bound_ticks: 600,
            crash_per_mille: rng.range(0, 21),
            crash_during_write_per_mille: rng.range(0, 60),
            restart_per_mille: rng.range(20, 500),
            partition_per_mille: rng.range(0, 30),
            loss_percent: rng.range(0, 15),
            duplicate_percent: rng.range(0, 5),
            max_delay_ticks: rng.range(1, 6),
            max_disk_delay_ticks: rng.range(1, 5),
            election_timeout_ticks: rng.range(4, 16) as u32,
            max_entries_per_append: rng.range(1, 9) as usize,
            crash_new_leader_per_mille: rng.range(0, 400),
            pre_vote: rng.range(0, 2) > 0,
            check_quorum: rng.range(0, 5) > 0,
            tick_rate_per_mille: (0..7)
                .map(|_| {
                    if rng.range(0, 2) == 0 {
                        1000
                    } else {
                        rng.range(300, 1000)
                    }
                })
                .collect(),
        }
    }
}

#[derive(Default, Clone)]
struct DiskImage {
    hard_state: Option<HardState>,
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
    entries: Vec<Entry>,
    staging: Option<(u64, Vec<u8>)>,
}

struct SimNode {
    core: Option<RaftNode>,
    disk: DiskImage,
    /// A Ready whose writes are in progress, durable at the given tick.
    pending: Option<(Ready, u64)>,
    kv: BTreeMap<String, String>,
    applied_index: u64,
    /// Terms in which this node was seen leading and checked for completeness.
    checked_leadership: BTreeSet<u64>,
    /// Entries through this index were compared with the committed record.
    commit_checked: u64,
}

#[derive(Clone)]
enum ClientOp {
    Put { index: u64, op_id: u64 },
    Get { request_id: u64 },
}

struct PendingClientOp {
    node: NodeId,
    call_time: u64,
    issued_tick: u64,
    input: KvInput,
    op: ClientOp,
}

pub struct Sim {
    pub seed: u64,
    rng: SplitMix64,
    opts: SimOptions,
    now: u64,
    /// Logical clock for client histories: every call and return is an event.
    clock: u64,
    seq: u64,
    nodes: BTreeMap<NodeId, SimNode>,
    network: BinaryHeap<std::cmp::Reverse<(u64, u64, MessageSlot)>>,
    slots: BTreeMap<u64, RaftMessage>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    chaos: bool,
    leaders_by_term: BTreeMap<u64, NodeId>,
    /// Index → (term, data) of every entry any node applied.
    committed: BTreeMap<u64, (u64, Vec<u8>)>,
    clients: BTreeMap<u64, Option<PendingClientOp>>,
    pub history: Vec<KvOperation>,
    next_op_id: u64,
    /// New leaders scheduled to crash, with the tick.
    doomed: BTreeMap<NodeId, u64>,
    pub stats: SimStats,
}

#[derive(Default, Debug, Clone)]
pub struct SimStats {
    pub crashes: u64,
    pub elections: u64,
    pub puts_ok: u64,
    pub gets_ok: u64,
    pub snapshots_installed: u64,
    pub transfers: u64,
    pub membership_changes: u64,
    /// Reads answered by a leader while a newer leader existed.
    pub reads_by_deposed_leaders: u64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
struct MessageSlot(u64);

const KEYS: [&str; 3] = ["a", "b", "c"];
const CLIENTS: u64 = 5;
const CLIENT_TIMEOUT_TICKS: u64 = 150;
const SNAPSHOT_EVERY_ENTRIES: u64 = 40;

fn server(id: NodeId) -> ServerEntry {
    ServerEntry {
        id,
        name: format!("node{id}"),
        address: format!("10.0.0.{id}:8300"),
        suffrage: Suffrage::Voter,
    }
}

fn raft_config(id: NodeId, opts: &SimOptions) -> RaftConfig {
    let election_timeout_ticks = opts.election_timeout_ticks;
    let mut config = RaftConfig::new(id, format!("node{id}"), format!("10.0.0.{id}:8300"));
    config.election_timeout_ticks = election_timeout_ticks;
    config.heartbeat_interval_ticks = (election_timeout_ticks / 4).max(1);
    config.max_entries_per_append = opts.max_entries_per_append;
    config.pre_vote = opts.pre_vote;
    config.check_quorum = opts.check_quorum;
    config.max_inflight_appends = 4;
    config.snapshot_chunk_bytes = 16;
    config.promotion_threshold_entries = 4;
    config.max_uncommitted_entries = 256;
    config
}

fn encode_kv(kv: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = String::new();
    for (k, v) in kv {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    out.into_bytes()
}

fn decode_kv(bytes: &[u8]) -> BTreeMap<String, String> {
    let text = std::str::from_utf8(bytes).expect("snapshot text");
    text.lines()
        .map(|line| {
            let (k, v) = line.split_once('=').expect("k=v");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Command layout: `op_id|key|value`.
fn decode_command(data: &[u8]) -> (u64, String, String) {
    let text = std::str::from_utf8(data).expect("command text");
    let mut parts = text.splitn(3, '|');
    let op_id = parts.next().unwrap().parse().unwrap();
    let key = parts.next().unwrap().to_string();
    let value = parts.next().unwrap().to_string();
    (op_id, key, value)
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let opts = SimOptions::from_seed(&mut rng);
        let mut sim = Sim {
            seed,
            rng,
            now: 0,
            clock: 0,
            seq: 0,
            nodes: BTreeMap::new(),
            network: BinaryHeap::new(),
            slots: BTreeMap::new(),
            blocked: BTreeSet::new(),
            chaos: true,
            leaders_by_term: BTreeMap::new(),
            committed: BTreeMap::new(),
            clients: (0..CLIENTS).map(|c| (c, None)).collect(),
            history: Vec::new(),
            next_op_id: 1,
            doomed: BTreeMap::new(),
            stats: SimStats::default(),
            opts,
        };
        for id in 1..=sim.opts.nodes as NodeId {
            sim.nodes.insert(
                id,
                SimNode {
                    core: None,
                    disk: DiskImage::default(),
                    pending: None,
                    kv: BTreeMap::new(),
                    applied_index: 0,
                    checked_leadership: BTreeSet::new(),
                    commit_checked: 0,
                },
            );
            sim.start(id);
        }
        sim
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "seed {}: tick {}: {what}\nreplay: SIM_SEED_START={} SIM_SEEDS=1 cargo test --release --test raft_sim",
            self.seed, self.now, self.seed
        );
    }

    fn start(&mut self, id: NodeId) {
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!("t{} n{id}: START", self.now);
        }
        let seed = self.rng.next_u64();
        let node = self.nodes.get_mut(&id).unwrap();
        let restored = RestoredState {
            hard_state: node.disk.hard_state,
            snapshot: node.disk.snapshot.as_ref().map(|(m, _)| m.clone()),
            entries: node.disk.entries.clone(),
        };
        let (kv, applied) = match &node.disk.snapshot {
            Some((meta, data)) => (decode_kv(data), meta.index),
            None => (BTreeMap::new(), 0),
        };
        node.kv = kv;
        node.applied_index = applied;
        node.pending = None;
        node.commit_checked = 0;
        let mut core = RaftNode::new(raft_config(id, &self.opts), restored, seed).expect("restore");
        // Node 1 runs with the bootstrap flag, as an operator would start
        // the first server: on every start, ignored once data exists.
        if id == 1 {
            core.bootstrap();
        }
        node.core = Some(core);
    }

    /// Half the time a crashed node is back at once, before the cluster
    /// moved on, with only what was durable (a lost vote matters here).
    fn maybe_quick_reboot(&mut self, id: NodeId) {
        if self.chance(500) {
            self.start(id);
        }
    }

    fn crash(&mut self, id: NodeId) {
        if std::env::var("SIM_TRACE").is_ok() {
            eprintln!("t{} n{id}: CRASH", self.now);
        }
        let node = self.nodes.get_mut(&id).unwrap();
        node.core = None;
        node.pending = None;
        self.stats.crashes += 1;
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.range(0, 1000) < per_mille
    }

    fn send(&mut self, msg: RaftMessage) {
        if self.chaos && self.chance(self.opts.loss_percent * 10) {
            return;
        }
        let copies = if self.chaos && self.chance(self.opts.duplicate_percent * 10) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.range(1, self.opts.max_delay_ticks + 1);
            self.seq += 1;
            self.slots.insert(self.seq, msg.clone());
            self.network.push(std::cmp::Reverse((
                self.now + delay,
                self.seq,
                MessageSlot(self.seq),
            )));
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.core.as_ref().map(|c| (id, c)))
            .filter(|(_, c)| c.role() == Role::Leader)
            .max_by_key(|(_, c)| c.term())
            .map(|(id, _)| *id)
    }

    pub fn run(&mut self) {
        for _ in 0..self.opts.chaos_ticks {
            self.chaos_step();
            self.tick();
        }
        self.heal_and_check_liveness();
        self.check_history();
    }

    fn chaos_step(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let due: Vec<NodeId> = self
            .doomed
            .iter()
            .filter(|(_, at)| **at <= self.now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.doomed.remove(&id);
            if self.nodes[&id].core.is_some() {
                self.crash(id);
                self.maybe_quick_reboot(id);
            }
        }
        if self.chance(self.opts.crash_per_mille) {
            let id = ids[self.rng.range(0, ids.len() as u64) as usize];
            if self.nodes[&id].core.is_some() {
                self.crash(id);
            }
        }
        for &id in &ids {
            let node = &self.nodes[&id];
            if node.core.is_none() {
                if self.chance(self.opts.restart_per_mille) {
                    self.start(id);
                }
            } else if node.pending.is_some() && self.chance(self.opts.crash_during_write_per_mille)
            {
                self.crash(id);
            }
        }
        if self.chance(self.opts.partition_per_mille) {
            self.blocked.clear();
            match self.rng.range(0, 3) {
                0 => {
                    // Symmetric split into two groups.
                    let side: BTreeMap<NodeId, bool> = ids
                        .iter()
                        .map(|&id| (id, self.rng.range(0, 2) == 0))
                        .collect();
                    for &a in &ids {
                        for &b in &ids {
                            if side[&a] != side[&b] {
                                self.blocked.insert((a, b));
                            }
                        }
                    }
                }
                1 => {
                    // One-way: a node cannot reach one other.
                    let a = ids[self.rng.range(0, ids.len() as u64) as usize];
                    let b = ids[self.rng.range(0, ids.len() as u64) as usize];
                    self.blocked.insert((a, b));
                }
                _ => {}
            }
        }
        let Some(leader) = self.leader() else {
            return;
        };
        if self.chance(15) {
            let core = self.nodes.get_mut(&leader).unwrap().core.as_mut().unwrap();
            let members: BTreeSet<NodeId> = core
                .latest_configuration()
                .servers
                .iter()
                .map(|s| s.id)
                .collect();
            let outside: Vec<NodeId> = ids
                .iter()
                .copied()
                .filter(|id| !members.contains(id))
                .collect();
            let add = !outside.is_empty() && (members.len() < 3 || self.rng.range(0, 3) > 0);
            let core = self.nodes.get_mut(&leader).unwrap().core.as_mut().unwrap();
            let result = if add {
                let id = outside[(self.rng.next_u64() % outside.len() as u64) as usize];
                core.add_server(server(id))
            } else {
                let members: Vec<NodeId> = members.into_iter().collect();
                let id = members[(self.rng.next_u64() % members.len() as u64) as usize];
                core.remove_server(id)
            };
            if result.is_ok() {
                self.stats.membership_changes += 1;
            }
        }
        if self.chance(3) {
            let core = self.nodes.get_mut(&leader).unwrap().core.as_mut().unwrap();
            if core.transfer_leadership(None).is_ok() {
                self.stats.transfers += 1;
            }
        }
    }

    fn tick(&mut self) {
        self.now += 1;
        self.issue_client_ops();
        // Deliver what is due, in delivery-time order (random delays reorder).
        while let Some(std::cmp::Reverse((at, _, slot))) = self.network.peek().copied() {
            if at > self.now {
                break;
            }
            self.network.pop();
            let msg = self.slots.remove(&slot.0).unwrap();
            if self.blocked.contains(&(msg.from, msg.to)) {
                continue;
            }
            let to = msg.to;
            if let Some(core) = self.nodes.get_mut(&to).and_then(|n| n.core.as_mut()) {
                core.step(msg);
            }
            self.process(to);
        }
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &id in &ids {
            let rate = self.opts.tick_rate_per_mille[(id - 1) as usize];
            let ticks = !self.chaos || self.chance(rate);
            if let Some(core) = self.nodes.get_mut(&id).unwrap().core.as_mut()
                && ticks
            {
                core.tick();
            }
            self.maybe_snapshot(id);
            self.process(id);
        }
        self.expire_client_ops();
        if std::env::var("SIM_TRACE").is_ok() {
            for (id, node) in &self.nodes {
                if let Some(c) = &node.core {
                    eprintln!(
                        "t{} n{id}: status {:?} term {} vote {:?} last {} commit {}",
                        self.now,
                        c.role(),
                        c.term(),
                        c.hard_state().voted_for,
                        c.status().last_log_index,
                        c.commit_index()
                    );
                }
            }
        }
        self.check_invariants();
    }

    fn maybe_snapshot(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).unwrap();
        let Some(core) = node.core.as_mut() else {
            return;
        };
        if node.pending.is_some()
            || node.applied_index < core.snapshot_index() + SNAPSHOT_EVERY_ENTRIES
        {
            return;
        }
        let index = node.applied_index;
        let meta = core.snapshot_meta(index).expect("meta of an applied index");
        let data = encode_kv(&node.kv);
        node.disk.snapshot = Some((meta, data));
        node.disk.entries.retain(|e| e.index > index);
        core.snapshot_taken(index)
            .expect("snapshot of an applied index");
    }

    /// Runs the node's Ready loop: a new Ready once the previous write is durable.
    fn process(&mut self, id: NodeId) {
        for _ in 0..64 {
            let node = self.nodes.get_mut(&id).unwrap();
            let Some(core) = node.core.as_mut() else {
                return;
            };
            if let Some((_, done_at)) = &node.pending {
                if *done_at > self.now {
                    return;
                }
                let (ready, _) = node.pending.take().unwrap();
                self.complete(id, ready);
                continue;
            }
            if !core.has_ready() {
                return;
            }
            let ready = core.ready();
            for msg in ready.messages.clone() {
                self.send(msg);
            }
            // The worst moment to lose power: the messages that may go
            // before the fsync are out, the write is not durable.
            // Votes are where a lost write hurts most: crash there often.
            let grants_vote = ready
                .messages
                .iter()
                .chain(&ready.messages_after_persist)
                .any(|m| {
                    matches!(
                        m.body,
                        RaftBody::RequestVoteResponse {
                            pre_vote: false,
                            granted: true
                        }
                    )
                });
            let per_mille = if grants_vote {
                150
            } else {
                self.opts.crash_during_write_per_mille / 4
            };
            if self.chaos && self.chance(per_mille) {
                self.crash(id);
                self.maybe_quick_reboot(id);
                return;
            }
            let delay = if self.chaos {
                self.rng.range(0, self.opts.max_disk_delay_ticks + 1)
            } else {
                0
            };
            self.nodes.get_mut(&id).unwrap().pending = Some((ready, self.now + delay));
        }
    }

    /// The Ready's writes become durable; then acknowledgements go out and
    /// committed entries are applied.
    fn complete(&mut self, id: NodeId, ready: Ready) {
        let node = self.nodes.get_mut(&id).unwrap();
        let disk = &mut node.disk;
        for chunk in &ready.snapshot_chunks {
            if chunk.offset == 0 {
                disk.staging = Some((chunk.snapshot_index, Vec::new()));
            }
            let (index, data) = disk.staging.as_mut().expect("staging started at offset 0");
            assert_eq!(*index, chunk.snapshot_index);
            assert_eq!(data.len() as u64, chunk.offset);
            data.extend_from_slice(&chunk.data);
        }
        if let Some(meta) = &ready.snapshot_to_install {
            let (index, data) = disk.staging.take().expect("a staged snapshot to install");
            assert_eq!(index, meta.index);
            node.kv = decode_kv(&data);
            node.applied_index = meta.index;
            disk.snapshot = Some((meta.clone(), data));
            disk.entries.retain(|e| e.index > meta.index);
            self.stats.snapshots_installed += 1;
        }
        if let Some(after) = ready.truncate_after {
            disk.entries.retain(|e| e.index <= after);
        }
        for entry in &ready.entries {
            let expected = disk.entries.last().map_or_else(
                || disk.snapshot.as_ref().map_or(0, |(m, _)| m.index),
                |e| e.index,
            ) + 1;
            if entry.index != expected {
                let msg = format!(
                    "node {id}: storage append at {} but expected {expected}",
                    entry.index
                );
                self.fail(msg);
            }
            disk.entries.push(entry.clone());
        }
        if let Some(hs) = ready.hard_state {
            if let Some(old) = disk.hard_state {
                let backwards = hs.current_term < old.current_term
                    || (hs.current_term == old.current_term
                        && old.voted_for.is_some()
                        && hs.voted_for != old.voted_for)
                    || hs.commit_index < old.commit_index
                    || (old.cluster_id != 0 && hs.cluster_id != old.cluster_id);
                if backwards {
                    self.fail(format!(
                        "node {id}: hard state went backwards on disk: {old:?} -> {hs:?}"
                    ));
                }
            }
            let node = self.nodes.get_mut(&id).unwrap();
            node.disk.hard_state = Some(hs);
        }
        for msg in ready.messages_after_persist.clone() {
            self.send(msg);
        }
        for entry in &ready.committed_entries {
            self.apply(id, entry);
        }
        for read in &ready.reads {
            self.complete_read(id, read.request_id);
        }
        for request_id in &ready.failed_reads {
            self.fail_read(id, *request_id);
        }
        let trace = std::env::var("SIM_TRACE").is_ok();
        if trace {
            let hs = ready.hard_state;
            for event in &ready.events {
                eprintln!("t{} n{id}: {event}", self.now);
            }
            if let Some(hs) = hs {
                eprintln!("t{} n{id}: durable {hs:?}", self.now);
            }
            for m in ready.messages_after_persist.iter().chain(&ready.messages) {
                match &m.body {
                    concord::wire::raft_message::RaftBody::AppendEntries { entries, .. }
                        if entries.is_empty() => {}
                    concord::wire::raft_message::RaftBody::AppendEntries {
                        prev_log_index,
                        prev_log_term,
                        entries,
                        ..
                    } => {
                        eprintln!(
                            "t{} n{id}: -> n{} append prev {prev_log_index}@{prev_log_term} n={} last@{}",
                            self.now,
                            m.to,
                            entries.len(),
                            entries.last().unwrap().term
                        );
                    }
                    _ => eprintln!("t{} n{id}: -> n{} t{} {:?}", self.now, m.to, m.term, m.body),
                }
            }
            if ready.truncate_after.is_some() || !ready.entries.is_empty() {
                eprintln!(
                    "t{} n{id}: write truncate {:?} entries {:?}",
                    self.now,
                    ready.truncate_after,
                    ready
                        .entries
                        .iter()
                        .map(|e| (e.index, e.term))
                        .collect::<Vec<_>>()
                );
            }
        }
        for event in &ready.events {
            match event {
                RaftEvent::InvalidMessage { reason, .. } if reason.contains("committed") => {
                    self.fail(format!("node {id}: {event}"));
                }
                RaftEvent::ElectionWon { .. } => self.stats.elections += 1,
                _ => {}
            }
        }
        let node = self.nodes.get_mut(&id).unwrap();
        let core = node.core.as_mut().unwrap();
        for request in &ready.snapshot_chunk_requests {
            let Some((meta, data)) = &node.disk.snapshot else {
                continue;
            };
            if meta.index != request.snapshot_index {
                continue;
            }
            let start = (request.offset as usize).min(data.len());
            let end = (start + request.max_bytes as usize).min(data.len());
            let _ = core.send_snapshot_chunk(SnapshotChunk {
                to: request.to,
                snapshot_index: meta.index,
                offset: start as u64,
                total_size_bytes: data.len() as u64,
                data: data[start..end].to_vec(),
                done: end == data.len(),
            });
        }
        core.advance(&ready);
    }

    fn apply(&mut self, id: NodeId, entry: &Entry) {
        let node = self.nodes.get_mut(&id).unwrap();
        if entry.index != node.applied_index + 1 {
            let msg = format!(
                "node {id}: applied index {} after {}",
                entry.index, node.applied_index
            );
            self.fail(msg);
        }
        node.applied_index = entry.index;
        if entry.kind == EntryKind::Command {
            let (_, key, value) = decode_command(&entry.data);
            node.kv.insert(key, value);
        }
        match self.committed.get(&entry.index) {
            Some((term, data)) if *term != entry.term || *data != entry.data => {
                self.fail(format!(
                    "node {id}: committed entry {} changed: term {term} -> {}",
                    entry.index, entry.term
                ));
            }
            Some(_) => {}
            None => {
                self.committed
                    .insert(entry.index, (entry.term, entry.data.to_vec()));
            }
        }
        self.complete_put(id, entry);
    }

    fn check_invariants(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        // The core's own bookkeeping (panics on a violation: a bug, with
        // the seed printed by the harness).
        for node in self.nodes.values() {
            if let Some(core) = node.core.as_ref() {
                core.check_invariants();
            }
        }
        // Election safety: at most one leader per term.
        for &id in &ids {
            let Some(core) = self.nodes[&id].core.as_ref() else {
                continue;
            };
            if core.role() != Role::Leader {
                continue;
            }
            let term = core.term();
            // A node may win alone before its vote is durable (a single
            // voter); until the term and self-vote are on disk nothing it
            // does leaves the node, and a crash erases that leadership.
            let durable = self.nodes[&id]
                .disk
                .hard_state
                .is_some_and(|hs| hs.current_term == term && hs.voted_for == Some(id));
            if !durable {
                continue;
            }
            match self.leaders_by_term.get(&term) {
                Some(&other) if other != id => {
                    self.fail(format!("two leaders in term {term}: {other} and {id}"));
                }
                _ => {
                    self.leaders_by_term.insert(term, id);
                }
            }
            // Leader completeness: a new leader holds every committed entry.
            if !self.nodes[&id].checked_leadership.contains(&term) {
                let snapshot_index = core.snapshot_index();
                for (&index, (t, data)) in self.committed.range(snapshot_index + 1..) {
                    let held = core
                        .log_entries()
                        .get((index - snapshot_index - 1) as usize)
                        .is_some_and(|e| e.term == *t && e.data == *data);
                    if !held {
                        self.fail(format!(
                            "leader {id} of term {term} lacks committed entry {index}"
                        ));
                    }
                }
                self.nodes
                    .get_mut(&id)
                    .unwrap()
                    .checked_leadership
                    .insert(term);
                if self.chaos && self.chance(self.opts.crash_new_leader_per_mille) {
                    let at = self.now + self.rng.range(0, 6);
                    self.doomed.insert(id, at);
                }
            }
        }
        // Every entry at or below a node's commit index is committed: it
        // must never change, whoever applied it or not.
        for &id in &ids {
            let Some(core) = self.nodes[&id].core.as_ref() else {
                continue;
            };
            let base = core.snapshot_index();
            let from = self.nodes[&id].commit_checked.max(base) + 1;
            for index in from..=core.commit_index() {
                let entry = &core.log_entries()[(index - base - 1) as usize];
                match self.committed.get(&index) {
                    Some((term, data)) if *term != entry.term || *data != entry.data => {
                        let msg = format!(
                            "node {id}: committed entry {index} differs: term {term} vs {}",
                            entry.term
                        );
                        self.fail(msg);
                    }
                    Some(_) => {}
                    None => {
                        self.committed
                            .insert(index, (entry.term, entry.data.to_vec()));
                    }
                }
            }
            let commit = core.commit_index();
            self.nodes.get_mut(&id).unwrap().commit_checked = commit;
        }
        // A leader's match index for a follower of its term is never more
        // than the follower holds: acknowledgements promise durable entries.
        for &id in &ids {
            let Some(core) = self.nodes[&id].core.as_ref() else {
                continue;
            };
            if core.role() != Role::Leader {
                continue;
            }
            let term = core.term();
            for peer in core.status().peers {
                let Some(follower) = self.nodes.get(&peer.id).and_then(|n| n.core.as_ref()) else {
                    continue;
                };
                if follower.term() != term {
                    continue;
                }
                let holds = follower.status().last_log_index;
                if peer.match_index > holds {
                    let msg = format!(
                        "leader {id} believes {} matches through {} but it holds {holds}",
                        peer.id, peer.match_index
                    );
                    self.fail(msg);
                }
            }
        }
        // Log matching: two logs that hold an entry with the same index and
        // term are identical up to it.
        let logs: Vec<(NodeId, u64, &EntryChunks)> = ids
            .iter()
            .filter_map(|id| {
                self.nodes[id]
                    .core
                    .as_ref()
                    .map(|c| (*id, c.snapshot_index(), c.log_entries()))
            })
            .collect();
        for (i, (a, a_base, a_log)) in logs.iter().enumerate() {
            for (b, b_base, b_log) in &logs[i + 1..] {
                let start = a_base.max(b_base) + 1;
                let end = (a_base + a_log.len() as u64).min(b_base + b_log.len() as u64);
                let mut matched_from_here = false;
                for index in (start..=end).rev() {
                    let ea = &a_log[(index - a_base - 1) as usize];
                    let eb = &b_log[(index - b_base - 1) as usize];
                    if ea.term == eb.term {
                        matched_from_here = true;
                    }
                    if matched_from_here && ea != eb {
                        let msg = format!("log matching violated between {a} and {b} at {index}");
                        self.fail(msg);
                    }
                }
            }
        }
    }

    fn issue_client_ops(&mut self) {
        if !self.chaos {
            return;
        }
        for client in 0..CLIENTS {
            if self.clients[&client].is_some() || !self.chance(200) {
                continue;
            }
            // A client talks to any node that believes it leads, as a
            // client with a stale leader cache would: a deposed leader
            // must not answer from stale state.
            let leaders: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|(_, n)| n.core.as_ref().is_some_and(|c| c.role() == Role::Leader))
                .map(|(id, _)| *id)
                .collect();
            if leaders.is_empty() {
                continue;
            }
            let leader = leaders[self.rng.range(0, leaders.len() as u64) as usize];
            let key = KEYS[self.rng.range(0, KEYS.len() as u64) as usize].to_string();
            let op_id = self.next_op_id;
            self.next_op_id += 1;
            let core = self.nodes.get_mut(&leader).unwrap().core.as_mut().unwrap();
            let is_put = self.rng.range(0, 2) == 0;
            let (input, op) = if is_put {
                let value = format!("v{op_id}");
                let data = format!("{op_id}|{key}|{value}").into_bytes();
                let Ok(index) = core.propose(data.into()) else {
                    continue;
                };
                (KvInput::Put { key, value }, ClientOp::Put { index, op_id })
            } else {
                if core.read_index(op_id).is_err() {
                    continue;
                }
                (KvInput::Get { key }, ClientOp::Get { request_id: op_id })
            };
            self.clock += 1;
            let pending = PendingClientOp {
                node: leader,
                call_time: self.clock,
                issued_tick: self.now,
                input,
                op,
            };
            self.clients.insert(client, Some(pending));
            self.process(leader);
        }
    }

    fn finish(&mut self, client: u64, output: Option<KvOutput>) {
        let pending = self.clients.insert(client, None).unwrap().unwrap();
        let (return_time, output) = match output {
            Some(output) => {
                self.clock += 1;
                (self.clock, output)
            }
            None => match pending.op {
                // A Get with no answer had no effect: leave it out.
                ClientOp::Get { .. } => return,
                ClientOp::Put { .. } => (NEVER_RETURNED, KvOutput::PutOk),
            },
        };
        self.history.push(KvOperation {
            client_id: client,
            call_time: pending.call_time,
            return_time,
            input: pending.input,
            output,
        });
    }

    fn complete_put(&mut self, id: NodeId, entry: &Entry) {
        let found = self.clients.iter().find_map(|(&client, p)| match p {
            Some(PendingClientOp {
                node,
                op: ClientOp::Put { index, op_id },
                ..
            }) if *node == id && *index == entry.index => Some((client, *op_id)),
            _ => None,
        });
        let Some((client, op_id)) = found else {
            return;
        };
        if entry.kind == EntryKind::Command && decode_command(&entry.data).0 == op_id {
            self.stats.puts_ok += 1;
            self.finish(client, Some(KvOutput::PutOk));
        } else {
            self.finish(client, None);
        }
    }

    fn complete_read(&mut self, id: NodeId, request_id: u64) {
        let found = self.clients.iter().find_map(|(&client, p)| match p {
            Some(PendingClientOp {
                node,
                op: ClientOp::Get { request_id: r },
                input: KvInput::Get { key },
                ..
            }) if *node == id && *r == request_id => Some((client, key.clone())),
            _ => None,
        });
        let Some((client, key)) = found else {
            return;
        };
        let term = self.nodes[&id].core.as_ref().map_or(0, |c| c.term());
        if self.leaders_by_term.range(term + 1..).next().is_some() {
            self.stats.reads_by_deposed_leaders += 1;
        }
        let value = self.nodes[&id].kv.get(&key).cloned();
        self.stats.gets_ok += 1;
        self.finish(client, Some(KvOutput::GetValue(value)));
    }

    fn fail_read(&mut self, id: NodeId, request_id: u64) {
        let found = self.clients.iter().find_map(|(&client, p)| match p {
            Some(PendingClientOp {
                node,
                op: ClientOp::Get { request_id: r },
                ..
            }) if *node == id && *r == request_id => Some(client),
            _ => None,
        });
        if let Some(client) = found {
            self.finish(client, None);
        }
    }

    fn expire_client_ops(&mut self) {
        let expired: Vec<u64> = self
            .clients
            .iter()
            .filter_map(|(&client, p)| {
                p.as_ref().and_then(|p| {
                    let down = self.nodes[&p.node].core.is_none();
                    (down || self.now - p.issued_tick > CLIENT_TIMEOUT_TICKS).then_some(client)
                })
            })
            .collect();
        for client in expired {
            self.finish(client, None);
        }
    }

    /// Once faults stop, a leader must emerge and a new proposal must
    /// commit on every member within a bound.
    fn heal_and_check_liveness(&mut self) {
        self.chaos = false;
        self.blocked.clear();
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for &id in &ids {
            if self.nodes[&id].core.is_none() {
                self.start(id);
            }
        }
        let clients: Vec<u64> = self.clients.keys().copied().collect();
        for client in clients {
            if self.clients[&client].is_some() {
                self.finish(client, None);
            }
        }
        let deadline = self.now + self.opts.heal_bound_ticks;
        let marker = format!("0|final|{}", self.seed).into_bytes();
        let mut proposed: Option<(NodeId, u64)> = None;
        while self.now < deadline {
            self.tick();
            if let Some(leader) = self.leader() {
                let core = self.nodes.get_mut(&leader).unwrap().core.as_mut().unwrap();
                let still_valid =
                    proposed.is_some_and(|(l, term)| l == leader && term == core.term());
                if !still_valid && let Ok(_) = core.propose(marker.clone().into()) {
                    proposed = Some((leader, core.term()));
                }
            }
            if proposed.is_some() && self.marker_applied_everywhere(&marker) {
                return;
            }
        }
        let roles: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, n)| match &n.core {
                Some(c) => {
                    let st = c.status();
                    let voters: Vec<String> = st
                        .configuration
                        .servers
                        .iter()
                        .map(|s| format!("{}{:?}", s.id, s.suffrage))
                        .collect();
                    format!(
                        "{id}:{:?}/t{}/c{}/a{}/last{}@{}/leader{:?}/cfg{voters:?}",
                        st.role,
                        st.term,
                        st.commit_index,
                        n.applied_index,
                        st.last_log_index,
                        st.last_log_term,
                        st.leader
                    )
                }
                None => format!("{id}:down"),
            })
            .collect();
        let peers = self
            .leader()
            .map(|l| format!("{:?}", self.nodes[&l].core.as_ref().unwrap().status().peers));
        self.fail(format!(
            "no progress within {} ticks after the faults healed: {roles:?}\nleader's peers: {peers:?}",
            self.opts.heal_bound_ticks
        ));
    }

    fn marker_applied_everywhere(&self, marker: &[u8]) -> bool {
        let Some(leader) = self.leader() else {
            return false;
        };
        let core = self.nodes[&leader].core.as_ref().unwrap();
        let Some(index) = self
            .committed
            .iter()
            .find(|(_, (_, data))| data == marker)
            .map(|(i, _)| *i)
        else {
            return false;
        };
        core.latest_configuration().servers.iter().all(|s| {
            self.nodes
                .get(&s.id)
                .is_some_and(|n| n.applied_index >= index)
        })
    }

    fn check_history(&self) {
        use super::linearizability::{CheckResult, check_kv_history};
        match check_kv_history(&self.history) {
            CheckResult::Linearizable | CheckResult::Timeout => {}
            CheckResult::NotLinearizable { key, detail } => {
                self.fail(format!(
                    "client history is not linearizable on key {key}:\n{detail}"
                ));
            }
        }
    }
}
