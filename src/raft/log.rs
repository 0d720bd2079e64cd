//! The core's view of the log: a snapshot point plus the entries after it,
//! with the indexes that track what storage holds (`stable`), what is
//! committed and what the state machine applied.

use crate::wire::configuration::configuration_from_bytes;
use crate::wire::raft_message::{Configuration, Entry, EntryKind};

use super::entry_chunks::{CompactedEntries, EntryChunks};
use super::ready::SnapshotMeta;

#[derive(Debug, Clone)]
pub(crate) struct CoreLog {
    pub snapshot: SnapshotMeta,
    /// `entries[i].index == snapshot.index + 1 + i`.
    entries: EntryChunks,
    pub commit: u64,
    /// Applied by the agent (acknowledged through `advance`).
    pub applied: u64,
    /// Handed to the agent to apply.
    pub apply_emitted: u64,
    /// Known durable in storage.
    pub stable: u64,
    /// First index not yet handed to storage.
    pub persist_from: u64,
    /// Pending truncation for storage.
    pub truncate_after: Option<u64>,
    /// Configuration entries after the snapshot: (index, configuration).
    configurations: Vec<(u64, Configuration)>,
}

impl CoreLog {
    pub fn new(snapshot: SnapshotMeta) -> Self {
        let index = snapshot.index;
        CoreLog {
            snapshot,
            entries: EntryChunks::new(),
            commit: index,
            applied: index,
            apply_emitted: index,
            stable: index,
            persist_from: index + 1,
            truncate_after: None,
            configurations: Vec::new(),
        }
    }

    pub fn first_index(&self) -> u64 {
        self.snapshot.index + 1
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.snapshot.term, |e| e.term)
    }

    /// The term of the entry at `index`; `None` when compacted away or beyond the log.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.snapshot.index {
            return Some(self.snapshot.term);
        }
        self.entry(index).map(|e| e.term)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot.index {
            return None;
        }
        self.entries.get((index - self.snapshot.index - 1) as usize)
    }

    pub fn entries(&self) -> &EntryChunks {
        &self.entries
    }

    /// Entries from `from`, at most `max_entries` and about `max_bytes` of
    /// payload (always at least one entry when any exists).
    pub fn slice(&self, from: u64, max_entries: usize, max_bytes: usize) -> Vec<Entry> {
        if from <= self.snapshot.index || from > self.last_index() {
            return Vec::new();
        }
        let start = (from - self.snapshot.index - 1) as usize;
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for entry in self.entries.range(start, usize::MAX).take(max_entries) {
            bytes += entry.data.len();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    /// Appends entries that follow the last one. Callers validated them.
    pub fn append(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            assert_eq!(
                entry.index,
                self.last_index() + 1,
                "log entries must be contiguous"
            );
            assert!(entry.term >= self.last_term(), "log terms never decrease");
            self.push(entry);
        }
    }

    fn push(&mut self, entry: Entry) {
        if entry.kind == EntryKind::Configuration {
            // Undecodable configurations were refused before reaching the log.
            let configuration = configuration_from_bytes(&entry.data)
                .expect("configuration entries are validated before they are appended");
            self.configurations.push((entry.index, configuration));
        }
        self.entries.push_back(entry);
    }

    /// Drops every entry after `index` (a follower resolving a conflict).
    pub fn truncate_after(&mut self, index: u64) {
        assert!(index >= self.commit, "a committed entry is never truncated");
        assert!(index >= self.snapshot.index);
        self.entries
            .truncate((index - self.snapshot.index) as usize);
        self.configurations.retain(|(i, _)| *i <= index);
        if index < self.persist_from - 1 {
            self.truncate_after = Some(self.truncate_after.map_or(index, |t| t.min(index)));
            self.persist_from = index + 1;
        }
        self.stable = self.stable.min(index);
    }

    /// Entries not yet handed to storage, and the pending truncation.
    pub fn take_unpersisted(&mut self) -> (Option<u64>, Vec<Entry>) {
        let entries = if self.persist_from <= self.last_index() {
            let start = (self.persist_from - self.snapshot.index - 1) as usize;
            self.entries.range(start, usize::MAX).cloned().collect()
        } else {
            Vec::new()
        };
        self.persist_from = self.last_index() + 1;
        (self.truncate_after.take(), entries)
    }

    pub fn has_unpersisted(&self) -> bool {
        self.truncate_after.is_some() || self.persist_from <= self.last_index()
    }

    pub fn set_commit(&mut self, index: u64) {
        assert!(index >= self.commit, "the commit index never decreases");
        assert!(index <= self.last_index(), "only entries in the log commit");
        self.commit = index;
    }

    /// Committed entries not yet handed to the agent.
    pub fn take_committed(&mut self, max: usize) -> Vec<Entry> {
        let through = self.commit.min(self.apply_emitted + max as u64);
        if through <= self.apply_emitted {
            return Vec::new();
        }
        let start = (self.apply_emitted + 1 - self.first_index()) as usize;
        let end = (through + 1 - self.first_index()) as usize;
        self.apply_emitted = through;
        self.entries.range(start, end).cloned().collect()
    }

    pub fn has_committed_to_apply(&self) -> bool {
        self.commit > self.apply_emitted
    }

    /// The configuration in effect: the latest one in the log (dissertation
    /// §4.1: a server uses the latest configuration in its log, committed or
    /// not), with its index.
    pub fn latest_configuration(&self) -> (u64, &Configuration) {
        match self.configurations.last() {
            Some((index, configuration)) => (*index, configuration),
            None => (self.snapshot.index, &self.snapshot.configuration),
        }
    }

    /// The configuration in effect at `index` (for a snapshot header).
    pub fn configuration_at(&self, index: u64) -> Configuration {
        self.configurations
            .iter()
            .rev()
            .find(|(i, _)| *i <= index)
            .map_or_else(|| self.snapshot.configuration.clone(), |(_, c)| c.clone())
    }

    /// Forgets entries through `index`, which the state machine's snapshot
    /// covers, and hands them back: freeing thousands of entries is the
    /// caller's choice of where (the agent frees them off its loop).
    pub fn compact_through(&mut self, index: u64) -> CompactedEntries {
        assert!(index > self.snapshot.index && index <= self.applied);
        let term = self.term(index).expect("an applied entry is in the log");
        let configuration = self.configuration_at(index);
        let drop = (index - self.snapshot.index) as usize;
        let compacted = self.entries.compact_front(drop);
        self.configurations.retain(|(i, _)| *i > index);
        self.snapshot = SnapshotMeta {
            index,
            term,
            configuration,
        };
        self.persist_from = self.persist_from.max(index + 1);
        compacted
    }

    /// Installs a snapshot received from the leader (paper §7): entries
    /// after it are kept when the log holds the snapshot's last entry (they
    /// may have been acknowledged already); otherwise the whole log goes.
    pub fn install_snapshot(&mut self, meta: SnapshotMeta) {
        assert!(
            meta.index > self.commit,
            "an installed snapshot moves past the commit index"
        );
        let index = meta.index;
        if self.term(index) == Some(meta.term) {
            let drop = (index - self.snapshot.index) as usize;
            self.entries.compact_front(drop);
            self.configurations.retain(|(i, _)| *i > index);
            self.persist_from = self.persist_from.max(index + 1);
            self.stable = self.stable.max(index);
        } else {
            self.entries.clear();
            self.configurations.clear();
            self.truncate_after = Some(self.truncate_after.map_or(index, |t| t.min(index)));
            self.persist_from = index + 1;
            self.stable = index;
        }
        self.snapshot = meta;
        self.commit = index;
        self.applied = index;
        self.apply_emitted = index;
    }

    /// The last index holding `term` at or below `at_most`, if the log holds
    /// that term there (fast backtracking, dissertation §5.3).
    pub fn last_index_of_term(&self, term: u64, at_most: u64) -> Option<u64> {
        let mut index = at_most.min(self.last_index());
        while index > self.snapshot.index {
            let t = self.term(index)?;
            if t == term {
                return Some(index);
            }
            if t < term {
                return None;
            }
            index -= 1;
        }
        None
    }

    /// The first index holding the same term as `index` (the follower's conflict hint).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let term = self.term(index);
        let mut first = index;
        while first > self.first_index() && self.term(first - 1) == term {
            first -= 1;
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Command,
            data: vec![index as u8].into(),
        }
    }

    #[test]
    fn truncation_reports_the_lowest_point_to_storage() {
        let mut log = CoreLog::new(SnapshotMeta::default());
        log.append((1..=5).map(|i| entry(i, 1)).collect());
        let (_, persisted) = log.take_unpersisted();
        assert_eq!(persisted.len(), 5);
        log.truncate_after(3);
        log.truncate_after(2);
        log.append(vec![entry(3, 2)]);
        let (truncate, entries) = log.take_unpersisted();
        assert_eq!(truncate, Some(2));
        assert_eq!(entries, vec![entry(3, 2)]);
    }

    #[test]
    fn compaction_keeps_the_term_of_the_last_compacted_entry() {
        let mut log = CoreLog::new(SnapshotMeta::default());
        log.append(vec![entry(1, 1), entry(2, 2), entry(3, 2)]);
        log.applied = 2;
        log.compact_through(2);
        assert_eq!(log.term(2), Some(2));
        assert_eq!(log.term(1), None);
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.entry(3).unwrap().term, 2);
    }

    #[test]
    #[should_panic(expected = "committed entry is never truncated")]
    fn a_committed_entry_is_never_truncated() {
        let mut log = CoreLog::new(SnapshotMeta::default());
        log.append(vec![entry(1, 1), entry(2, 1)]);
        log.set_commit(2);
        log.truncate_after(1);
    }
}
