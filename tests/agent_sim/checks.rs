//! What must hold. After every step, on every live server: the Raft host's
//! own `check_invariants`; across servers: at most one leader per term,
//! committed entries agree (same term and data at each index), state
//! machines at the same applied index agree, and no client's value is
//! applied at two indexes (a write applied twice). After the run: the
//! clients' history is linearizable and stale reads saw only written values.

use std::collections::BTreeMap;

use concord::raft::Role;
use concord::state_machine::StateMachine;
use concord::wire::raft_message::NodeId;

use crate::linearizability::{CheckResult, check_kv_history};

use super::node::Agent;
use super::workload::{TOMBSTONE, Workload};

#[derive(Debug, Default, Clone, Copy)]
pub struct CheckStats {
    pub leaders_seen: u64,
    pub committed_entries_checked: u64,
    pub state_digests_compared: u64,
    pub checker_timeouts: u64,
}

pub struct Checks {
    leaders_by_term: BTreeMap<u64, NodeId>,
    /// Index → (term, CRC of the data) of every entry seen committed.
    committed: BTreeMap<u64, (u64, u32)>,
    checked_through: Vec<u64>,
    last_applied: Vec<Option<u64>>,
    /// Applied index → digest of the state machine there.
    digests: BTreeMap<u64, u32>,
    /// A client's value → the index that wrote it.
    written_at: BTreeMap<String, u64>,
    pub stats: CheckStats,
}

impl Checks {
    pub fn new(agents: usize) -> Checks {
        Checks {
            leaders_by_term: BTreeMap::new(),
            committed: BTreeMap::new(),
            checked_through: vec![0; agents],
            last_applied: vec![None; agents],
            digests: BTreeMap::new(),
            written_at: BTreeMap::new(),
            stats: CheckStats::default(),
        }
    }

    pub fn agent_started(&mut self, agent: usize) {
        self.checked_through[agent] = 0;
        self.last_applied[agent] = None;
    }

    pub fn after_step(&mut self, agents: &mut [Agent], _workload: &Workload) -> Result<(), String> {
        for (index, agent) in agents.iter_mut().enumerate() {
            let name = agent.name.clone();
            let Some(raft) = agent.handler.as_mut().and_then(|h| h.raft_mut()) else {
                continue;
            };
            raft.check_invariants();
            let node = raft.node();
            if node.role() == Role::Leader {
                let term = node.term();
                let leader = *self.leaders_by_term.entry(term).or_insert_with(|| {
                    self.stats.leaders_seen += 1;
                    node.id()
                });
                if leader != node.id() {
                    return Err(format!(
                        "two leaders in term {term}: {leader:016x} and {name} ({:016x})",
                        node.id()
                    ));
                }
            }
            self.check_committed(index, &name, raft.node())?;
            self.check_state(index, &name, raft.state())?;
        }
        Ok(())
    }

    /// Entries through the commit index are the same on every server.
    fn check_committed(
        &mut self,
        agent: usize,
        name: &str,
        node: &concord::raft::RaftNode,
    ) -> Result<(), String> {
        let commit = node.commit_index();
        let entries = node.log_entries();
        let Some(first) = entries.get(0).map(|e| e.index) else {
            self.checked_through[agent] = commit;
            return Ok(());
        };
        let from = self.checked_through[agent].max(first - 1) + 1;
        for index in from..=commit {
            let Some(entry) = entries.get((index - first) as usize) else {
                break;
            };
            assert_eq!(entry.index, index, "the core's entries are contiguous");
            let seen = (entry.term, crc32fast::hash(&entry.data));
            self.stats.committed_entries_checked += 1;
            match self.committed.get(&index) {
                Some(&recorded) if recorded != seen => {
                    return Err(format!(
                        "committed entry {index} differs: {name} has term {} where another server had term {}",
                        seen.0, recorded.0
                    ));
                }
                Some(_) => {}
                None => {
                    self.committed.insert(index, seen);
                }
            }
        }
        self.checked_through[agent] = commit;
        Ok(())
    }

    /// State machines agree at equal applied indexes, and no value was
    /// written at two indexes.
    fn check_state(
        &mut self,
        agent: usize,
        name: &str,
        state: &StateMachine,
    ) -> Result<(), String> {
        let applied = state.applied_index();
        if self.last_applied[agent] == Some(applied) {
            return Ok(());
        }
        self.last_applied[agent] = Some(applied);
        state.kv().check_invariants();
        state.catalog().check_invariants();
        let mut digest = crc32fast::Hasher::new();
        for entry in state.kv().entries("") {
            digest.update(entry.key.as_bytes());
            digest.update(&entry.value);
            digest.update(&entry.create_index.to_le_bytes());
            digest.update(&entry.modify_index.to_le_bytes());
            let value = String::from_utf8_lossy(&entry.value).into_owned();
            let at = *self
                .written_at
                .entry(value.clone())
                .or_insert(entry.modify_index);
            if at != entry.modify_index {
                return Err(format!(
                    "value {value:?} of {} was applied twice, at {at} and at {} ({name})",
                    entry.key, entry.modify_index
                ));
            }
        }
        let mut nodes: Vec<String> = state.catalog().nodes().map(|n| format!("{n:?}")).collect();
        nodes.sort();
        for node in nodes {
            digest.update(node.as_bytes());
        }
        let digest = digest.finalize();
        self.stats.state_digests_compared += 1;
        let recorded = *self.digests.entry(applied).or_insert(digest);
        if recorded != digest {
            return Err(format!(
                "{name}'s state machine at applied index {applied} differs from another server's there"
            ));
        }
        Ok(())
    }

    /// The history is linearizable; a stale read returned a value some
    /// client wrote (or nothing).
    pub fn after_run(&mut self, workload: &Workload) -> Result<(), String> {
        for read in &workload.stale_reads {
            if read.value != TOMBSTONE && !workload.written_values.contains(&read.value) {
                return Err(format!(
                    "a stale read of {} returned {:?}, which no client wrote",
                    read.key, read.value
                ));
            }
        }
        match check_kv_history(&workload.history) {
            CheckResult::Linearizable => Ok(()),
            CheckResult::Timeout => {
                self.stats.checker_timeouts += 1;
                Ok(())
            }
            CheckResult::NotLinearizable { key, detail } => Err(format!(
                "the client history is not linearizable on key {key}:\n{detail}"
            )),
        }
    }
}
