//! Client writes the leader has proposed and not yet answered, keyed by the
//! log index Raft gave their entry. A write is answered when its entry is
//! applied — but only if the applied entry is still the one proposed (same
//! term): a new leader may have overwritten it, and then the write never
//! happened (Raft §5.3, §8: a client must not be told a replaced entry
//! succeeded).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::agent::io::connection::ConnectionId;

/// Which protocol's answer a write gets once applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAnswer {
    /// The native CLI's (`KvWritten`, a failed CAS as an error).
    Native,
    /// Consul's HTTP API's (`KvApplied` true or false, transaction results).
    Consul,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingWrite {
    /// The term the entry was proposed in.
    pub term: u64,
    pub connection: ConnectionId,
    pub request_id: u64,
    /// When to give up and answer `Timeout`.
    pub deadline: Instant,
    pub answer: WriteAnswer,
    /// When the leader proposed it (the seam's clock), for commit and apply
    /// timings.
    pub proposed_at: Instant,
    /// The metric its proposal-to-apply time goes to (`consul.kvs.apply`).
    pub timing: &'static str,
}

/// What became of a pending write when its index was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Our entry was applied: answer with the apply result.
    Applied(PendingWrite),
    /// Another entry took the index: the write did not happen.
    Superseded(PendingWrite),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPendingWrites {
    pub max_pending_writes: usize,
}

impl std::fmt::Display for TooManyPendingWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "too many writes in flight (limit {})",
            self.max_pending_writes
        )
    }
}

impl std::error::Error for TooManyPendingWrites {}

#[derive(Debug)]
pub struct PendingWrites {
    by_index: BTreeMap<u64, PendingWrite>,
    max_pending_writes: usize,
}

impl PendingWrites {
    pub fn new(max_pending_writes: usize) -> Self {
        PendingWrites {
            by_index: BTreeMap::new(),
            max_pending_writes,
        }
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    /// Checked before proposing, so a refused write never enters the log.
    pub fn has_room(&self) -> bool {
        self.by_index.len() < self.max_pending_writes
    }

    /// Records the write proposed at `index`. Raft gives each proposal a
    /// fresh index, so a second write at a pending index is a bug.
    pub fn insert(&mut self, index: u64, write: PendingWrite) -> Result<(), TooManyPendingWrites> {
        if !self.has_room() {
            return Err(TooManyPendingWrites {
                max_pending_writes: self.max_pending_writes,
            });
        }
        let previous = self.by_index.insert(index, write);
        assert!(
            previous.is_none(),
            "two proposals at log index {index}: Raft must assign fresh indexes"
        );
        Ok(())
    }

    /// The entry at `index`, of term `entry_term`, was applied.
    pub fn on_applied(&mut self, index: u64, entry_term: u64) -> Option<Outcome> {
        let write = self.by_index.remove(&index)?;
        Some(if write.term == entry_term {
            Outcome::Applied(write)
        } else {
            Outcome::Superseded(write)
        })
    }

    /// Leadership was lost: every pending write's fate is unknown to us, so
    /// each is answered with an error (the client retries against the new
    /// leader; hashicorp/raft fails its futures the same way).
    pub fn drain_all(&mut self) -> Vec<(u64, PendingWrite)> {
        std::mem::take(&mut self.by_index).into_iter().collect()
    }

    /// A write waits under the term it was proposed in, which the leader
    /// holding it is still in or has left: never a later one. Terms grow
    /// with the index in a leader's log, so the newest write has the
    /// highest (checked in O(log n), after every Ready).
    pub fn check_invariants(&self, current_term: u64) {
        assert!(self.by_index.len() <= self.max_pending_writes);
        if let Some((index, write)) = self.by_index.iter().next_back() {
            assert!(
                write.term <= current_term,
                "pending write at index {index} has term {} above the current term {current_term}",
                write.term
            );
        }
    }

    /// Writes whose deadline has passed, removed.
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, PendingWrite)> {
        let expired: Vec<u64> = self
            .by_index
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(index, _)| *index)
            .collect();
        expired
            .into_iter()
            .filter_map(|index| self.by_index.remove(&index).map(|w| (index, w)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn write(term: u64, request_id: u64, deadline: Instant) -> PendingWrite {
        PendingWrite {
            term,
            connection: ConnectionId(16),
            request_id,
            deadline,
            answer: WriteAnswer::Native,
            proposed_at: deadline,
            timing: crate::agent::metrics::names::KVS_APPLY,
        }
    }

    #[test]
    fn an_applied_entry_of_the_proposed_term_answers_the_write() {
        let now = Instant::now();
        let mut pending = PendingWrites::new(8);
        pending.insert(5, write(2, 1, now)).unwrap();
        assert_eq!(
            pending.on_applied(5, 2),
            Some(Outcome::Applied(write(2, 1, now)))
        );
        assert!(pending.is_empty());
        assert_eq!(pending.on_applied(5, 2), None);
    }

    #[test]
    fn an_entry_replaced_by_a_later_leader_is_not_reported_as_success() {
        let now = Instant::now();
        let mut pending = PendingWrites::new(8);
        pending.insert(5, write(2, 1, now)).unwrap();
        assert_eq!(
            pending.on_applied(5, 3),
            Some(Outcome::Superseded(write(2, 1, now)))
        );
    }

    #[test]
    fn the_number_of_pending_writes_is_bounded() {
        let now = Instant::now();
        let mut pending = PendingWrites::new(2);
        pending.insert(1, write(1, 1, now)).unwrap();
        pending.insert(2, write(1, 2, now)).unwrap();
        assert!(!pending.has_room());
        assert_eq!(
            pending.insert(3, write(1, 3, now)),
            Err(TooManyPendingWrites {
                max_pending_writes: 2
            })
        );
    }

    #[test]
    fn only_writes_past_their_deadline_expire() {
        let now = Instant::now();
        let mut pending = PendingWrites::new(8);
        pending.insert(1, write(1, 1, now)).unwrap();
        pending
            .insert(2, write(1, 2, now + Duration::from_secs(60)))
            .unwrap();
        let expired = pending.expire(now + Duration::from_millis(1));
        assert_eq!(expired, [(1, write(1, 1, now))]);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending.drain_all().len(), 1);
        assert!(pending.is_empty());
    }

    #[test]
    #[should_panic(expected = "fresh indexes")]
    fn two_proposals_at_one_index_is_a_bug() {
        let now = Instant::now();
        let mut pending = PendingWrites::new(8);
        pending.insert(1, write(1, 1, now)).unwrap();
        let _ = pending.insert(1, write(1, 2, now));
    }
}
