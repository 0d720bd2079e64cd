//! The Lifeguard suspicion timer (Lifeguard §IV-B, memberlist's suspicion.go):
//! it starts at its maximum and shrinks toward the minimum as independent
//! members confirm the suspicion, so a member suspected by many is declared
//! dead fast, while one suspected by a single (perhaps unhealthy) member gets
//! the full time to refute.

use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct Suspicion {
    /// Independent confirmations wanted to reach `min_ms`.
    k: u32,
    min_ms: u64,
    max_ms: u64,
    started_ms: u64,
    /// Members whose suspicion was counted; holds the first accuser too, so
    /// our own suspicion gossiped back to us is not a confirmation.
    confirmed_by: BTreeSet<String>,
    confirmations: u32,
}

impl Suspicion {
    pub fn new(first_accuser: &str, k: u32, min_ms: u64, max_ms: u64, now_ms: u64) -> Self {
        assert!(min_ms <= max_ms, "suspicion minimum above maximum");
        let mut confirmed_by = BTreeSet::new();
        confirmed_by.insert(first_accuser.to_owned());
        Suspicion {
            k,
            min_ms,
            max_ms,
            started_ms: now_ms,
            confirmed_by,
            confirmations: 0,
        }
    }

    /// Records an independent confirmation; true when it was new (and so is
    /// worth re-gossiping), false for a duplicate or once `k` are in.
    pub fn confirm(&mut self, from: &str) -> bool {
        if self.confirmations >= self.k || self.confirmed_by.contains(from) {
            return false;
        }
        self.confirmed_by.insert(from.to_owned());
        self.confirmations += 1;
        true
    }

    pub fn confirmations(&self) -> u32 {
        self.confirmations
    }

    /// Total time from the start of the suspicion to the dead declaration:
    /// `max - (max - min) * log(c + 1) / log(k + 1)`, never below `min`.
    pub fn timeout_ms(&self) -> u64 {
        if self.k == 0 {
            return self.min_ms;
        }
        let fraction = (f64::from(self.confirmations) + 1.0).ln() / (f64::from(self.k) + 1.0).ln();
        let raw = self.max_ms as f64 - fraction * (self.max_ms - self.min_ms) as f64;
        (raw.floor() as u64).max(self.min_ms)
    }

    pub fn deadline_ms(&self) -> u64 {
        self.started_ms.saturating_add(self.timeout_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_starts_at_maximum_and_reaches_minimum_after_k_confirmations() {
        let mut s = Suspicion::new("a", 3, 4000, 24000, 100);
        assert_eq!(s.deadline_ms(), 24100);
        assert!(s.confirm("b"));
        let after_one = s.timeout_ms();
        assert!(after_one < 24000 && after_one > 4000);
        assert!(s.confirm("c"));
        assert!(s.confirm("d"));
        assert_eq!(s.timeout_ms(), 4000);
        assert!(!s.confirm("e"), "confirmations beyond k are not counted");
    }

    #[test]
    fn the_first_accuser_and_repeats_are_not_confirmations() {
        let mut s = Suspicion::new("a", 3, 4000, 24000, 0);
        assert!(!s.confirm("a"));
        assert!(s.confirm("b"));
        assert!(!s.confirm("b"));
        assert_eq!(s.confirmations(), 1);
    }

    #[test]
    fn without_wanted_confirmations_the_minimum_applies() {
        let s = Suspicion::new("a", 0, 4000, 24000, 0);
        assert_eq!(s.timeout_ms(), 4000);
    }
}
