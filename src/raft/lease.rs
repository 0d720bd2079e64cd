//! The leader lease (dissertation §6.4.1): a read is served at the commit
//! index without its own heartbeat round while a quorum acknowledged a
//! round sent less than `lease_duration_ms` ago.
//!
//! Why it holds. A voter that acknowledged round R heard the leader at or
//! after R was first sent, and ignores vote requests for an election
//! timeout of ticks after that (§4.2.3), which spans more than
//! `election_timeout_ticks - 1` tick intervals; a voter restarted in that
//! time ignores them too for its first election timeout. Every quorum that
//! could elect another leader holds such a voter, so none can be elected
//! before R's send time plus that span, of which the lease is at most half.
//! The send time is the agent's clock when the round left (never later
//! than the real send), and the lease is checked against the clock read
//! just before, so a slow loop only shortens it. What it cannot see is a
//! pause longer than the margin between reading the clock and serving the
//! read, which is why the lease is half the election timeout.
//!
//! The ways around §4.2.3 void it: a leadership transfer's vote ignores
//! the lease, so once a transfer started the lease is off for the rest of
//! the term (a delayed TimeoutNow can still elect its target); and a
//! configuration change moves the quorum, so rounds sent before it no
//! longer count.

use std::collections::VecDeque;

/// Rounds remembered while waiting for their acknowledgement; an older one
/// that is acknowledged late extends nothing (the safe direction).
pub const MAX_REMEMBERED_ROUNDS: usize = 64;

#[derive(Debug, Clone, Default)]
pub(crate) struct LeaderLease {
    /// (round, the clock when it was first sent), oldest first.
    rounds_sent: VecDeque<(u64, u64)>,
    /// Reads are served by the lease while the clock is below this.
    expiry_ms: u64,
    /// A transfer was started in this term.
    voided_for_term: bool,
}

impl LeaderLease {
    /// Forgets everything: on becoming leader, on losing leadership, and
    /// when the configuration changes.
    pub(crate) fn clear(&mut self) {
        self.rounds_sent.clear();
        self.expiry_ms = 0;
    }

    /// A new term: a transfer of the last one no longer voids this one.
    pub(crate) fn new_term(&mut self) {
        self.clear();
        self.voided_for_term = false;
    }

    pub(crate) fn void_for_term(&mut self) {
        self.clear();
        self.voided_for_term = true;
    }

    pub(crate) fn round_sent(&mut self, round: u64, now_ms: u64) {
        if self
            .rounds_sent
            .back()
            .is_some_and(|&(last, _)| last >= round)
        {
            // Resent: the first send is the one the lease counts from.
            return;
        }
        if self.rounds_sent.len() == MAX_REMEMBERED_ROUNDS {
            self.rounds_sent.pop_front();
        }
        self.rounds_sent.push_back((round, now_ms));
    }

    /// A quorum acknowledged every round up to `round`.
    pub(crate) fn quorum_acknowledged(&mut self, round: u64, duration_ms: u64) {
        if self.voided_for_term {
            return;
        }
        let mut newest_sent_ms = None;
        while let Some(&(sent_round, sent_ms)) = self.rounds_sent.front() {
            if sent_round > round {
                break;
            }
            newest_sent_ms = Some(sent_ms);
            self.rounds_sent.pop_front();
        }
        if let Some(sent_ms) = newest_sent_ms {
            self.expiry_ms = self.expiry_ms.max(sent_ms.saturating_add(duration_ms));
        }
    }

    pub(crate) fn holds_at(&self, now_ms: u64) -> bool {
        !self.voided_for_term && now_ms < self.expiry_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledged_round_extends_the_lease_from_its_first_send() {
        let mut lease = LeaderLease::default();
        assert!(!lease.holds_at(0), "no lease before a quorum round");
        lease.round_sent(1, 100);
        lease.round_sent(1, 150);
        lease.round_sent(2, 200);
        lease.quorum_acknowledged(1, 250);
        assert!(lease.holds_at(349) && !lease.holds_at(350));
        lease.quorum_acknowledged(2, 250);
        assert!(lease.holds_at(449) && !lease.holds_at(450));
        lease.quorum_acknowledged(2, 250);
        assert!(!lease.holds_at(450), "an old round extends nothing");
    }

    #[test]
    fn a_transfer_voids_the_lease_until_the_next_term() {
        let mut lease = LeaderLease::default();
        lease.round_sent(1, 0);
        lease.quorum_acknowledged(1, 250);
        lease.void_for_term();
        assert!(!lease.holds_at(1));
        lease.round_sent(2, 10);
        lease.quorum_acknowledged(2, 250);
        assert!(!lease.holds_at(11), "still this term");
        lease.new_term();
        lease.round_sent(3, 20);
        lease.quorum_acknowledged(3, 250);
        assert!(lease.holds_at(21));
    }

    #[test]
    fn remembered_rounds_are_bounded_and_clearing_forgets_them() {
        let mut lease = LeaderLease::default();
        for round in 1..=(MAX_REMEMBERED_ROUNDS as u64 + 10) {
            lease.round_sent(round, round);
        }
        assert_eq!(lease.rounds_sent.len(), MAX_REMEMBERED_ROUNDS);
        lease.clear();
        lease.quorum_acknowledged(u64::MAX, 250);
        assert!(!lease.holds_at(0));
    }
}
