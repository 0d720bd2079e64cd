//! The Raft log checked against a plain in-memory model over random sequences
//! of appends, truncations, compactions, snapshot resets and reopens. Small
//! segments make every sequence cross many segment boundaries.

use std::collections::BTreeMap;

use crate::support::scratch::ScratchDir;
use crate::support::storage::entry;
use concord::storage::{LogOptions, RaftLog};
use concord::wire::raft_message::Entry;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append {
        data_lens: Vec<usize>,
        new_term: bool,
    },
    TruncateAfter {
        back: u64,
    },
    CompactThrough {
        forward: u64,
    },
    ResetToSnapshot {
        ahead: u64,
        keep_term: bool,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec(0usize..150, 1..10), any::<bool>())
            .prop_map(|(data_lens, new_term)| Op::Append { data_lens, new_term }),
        2 => (0u64..12).prop_map(|back| Op::TruncateAfter { back }),
        2 => (0u64..12).prop_map(|forward| Op::CompactThrough { forward }),
        1 => (0u64..6, any::<bool>()).prop_map(|(ahead, keep_term)| Op::ResetToSnapshot { ahead, keep_term }),
        1 => Just(Op::Reopen),
    ]
}

/// What the log must hold: entries by index, plus the boundary.
struct Model {
    first_index: u64,
    prev_term: u64,
    entries: BTreeMap<u64, Entry>,
}

impl Model {
    fn last_index(&self) -> u64 {
        self.entries
            .keys()
            .next_back()
            .copied()
            .unwrap_or(self.first_index - 1)
    }
    fn last_term(&self) -> u64 {
        self.entries
            .values()
            .next_back()
            .map_or(self.prev_term, |e| e.term)
    }
    fn term(&self, index: u64) -> Option<u64> {
        if index + 1 == self.first_index {
            return Some(self.prev_term);
        }
        self.entries.get(&index).map(|e| e.term)
    }
}

fn check(log: &RaftLog, model: &Model) {
    log.check_invariants();
    assert_eq!(log.first_index(), model.first_index);
    assert_eq!(log.last_index(), model.last_index());
    assert_eq!(log.last_term(), model.last_term());
    let lo = model.first_index.saturating_sub(2);
    for index in lo..=model.last_index() + 2 {
        assert_eq!(log.term(index).unwrap(), model.term(index), "term({index})");
        assert_eq!(
            log.entry(index).unwrap().as_ref(),
            model.entries.get(&index),
            "entry({index})"
        );
    }
    let all: Vec<Entry> = model.entries.values().cloned().collect();
    assert_eq!(
        log.entries(model.first_index, u64::MAX, u64::MAX).unwrap(),
        all
    );
    // A byte budget stops early but always yields at least one entry.
    let limited = log.entries(model.first_index, u64::MAX, 200).unwrap();
    if all.is_empty() {
        assert!(limited.is_empty());
    } else {
        assert!(!limited.is_empty());
        assert_eq!(limited[..], all[..limited.len()]);
        let data: usize = limited.iter().map(|e| e.data.len()).sum();
        assert!(limited.len() == 1 || data <= 200);
        if limited.len() < all.len() {
            assert!(data + all[limited.len()].data.len() > 200);
        }
    }
}

const OPTIONS: LogOptions = LogOptions {
    segment_size_bytes: 512,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_an_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = ScratchDir::new("model");
        let mut log = RaftLog::open(dir.path(), OPTIONS).unwrap();
        let mut model = Model { first_index: 1, prev_term: 0, entries: BTreeMap::new() };
        check(&log, &model);
        for op in ops {
            match op {
                Op::Append { data_lens, new_term } => {
                    let term = model.last_term() + u64::from(new_term);
                    let start = model.last_index() + 1;
                    let batch: Vec<Entry> = data_lens
                        .iter()
                        .enumerate()
                        .map(|(i, &len)| entry(start + i as u64, term, len))
                        .collect();
                    log.append(&batch).unwrap();
                    for e in batch {
                        model.entries.insert(e.index, e);
                    }
                }
                Op::TruncateAfter { back } => {
                    let index = model
                        .last_index()
                        .saturating_sub(back)
                        .max(model.first_index - 1);
                    log.truncate_after(index).unwrap();
                    model.entries.retain(|&i, _| i <= index);
                }
                Op::CompactThrough { forward } => {
                    let index = (model.first_index - 1 + forward).min(model.last_index());
                    log.compact_through(index).unwrap();
                    if index >= model.first_index {
                        model.prev_term = model.term(index).unwrap();
                        model.first_index = index + 1;
                        model.entries.retain(|&i, _| i > index);
                    }
                }
                Op::ResetToSnapshot { ahead, keep_term } => {
                    // A snapshot at or past the log start, matching the log
                    // (suffix kept) or not (log discarded).
                    let index = (model.first_index - 1).max(model.last_index().saturating_sub(3)) + ahead;
                    let term = match (keep_term, model.term(index)) {
                        (true, Some(term)) => term,
                        _ => model.last_term() + 1,
                    };
                    log.reset_to_snapshot(index, term).unwrap();
                    if model.term(index) == Some(term) {
                        model.entries.retain(|&i, _| i > index);
                    } else {
                        model.entries.clear();
                    }
                    model.first_index = index + 1;
                    model.prev_term = term;
                }
                Op::Reopen => {
                    drop(log);
                    log = RaftLog::open(dir.path(), OPTIONS).unwrap();
                    prop_assert_eq!(log.tail_recovery().dropped_bytes, 0);
                }
            }
            check(&log, &model);
        }
        drop(log);
        let log = RaftLog::open(dir.path(), OPTIONS).unwrap();
        check(&log, &model);
    }
}
