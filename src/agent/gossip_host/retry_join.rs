//! Joining at startup (`--join`, and the rejoin of remembered members after
//! a restart) is retried until one address answers, as Consul's
//! retry-join: the seed may start after us. The delay doubles up to a cap so
//! a long-absent seed is not hammered and a returning one is found quickly.

use std::time::{Duration, Instant};

use crate::agent::gossip_host::join_batch::{JoinBatchId, JoinOutcome};
use crate::agent::io::backoff::Backoff;

pub const RETRY_JOIN_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(10),
};

#[derive(Debug)]
pub struct RetryJoin {
    addresses: Vec<String>,
    failures: u32,
    /// `None` once joined (or when there is nothing to join).
    next_attempt_at: Option<Instant>,
    in_flight: Option<JoinBatchId>,
}

impl RetryJoin {
    /// The first attempt is due at once.
    pub fn new(addresses: Vec<String>, now: Instant) -> Self {
        let next_attempt_at = (!addresses.is_empty()).then_some(now);
        RetryJoin {
            addresses,
            failures: 0,
            next_attempt_at,
            in_flight: None,
        }
    }

    /// The addresses to try now, if an attempt is due.
    pub fn due(&self, now: Instant) -> Option<&[String]> {
        match self.next_attempt_at {
            Some(at) if self.in_flight.is_none() && now >= at => Some(&self.addresses),
            _ => None,
        }
    }

    pub fn started(&mut self, batch: JoinBatchId) {
        self.in_flight = Some(batch);
    }

    /// Takes the outcome of `batch` if it is ours; true when it was.
    pub fn finished(&mut self, batch: JoinBatchId, outcome: &JoinOutcome, now: Instant) -> bool {
        if self.in_flight != Some(batch) {
            return false;
        }
        self.in_flight = None;
        if outcome.contacted > 0 {
            log::info!(target: "agent",
                "Join completed. Synced with {} initial agents", outcome.contacted);
            self.next_attempt_at = None;
        } else {
            self.failures = self.failures.saturating_add(1);
            let delay = RETRY_JOIN_BACKOFF.delay(self.failures);
            for (address, error) in &outcome.errors {
                log::warn!(target: "agent", "Join failed: {address}: {error}");
            }
            log::warn!(target: "agent",
                "Join failed (attempt {}), retrying in {} ms", self.failures, delay.as_millis());
            self.next_attempt_at = Some(now + delay);
        }
        true
    }

    /// Stops retrying (the agent is leaving).
    pub fn cancel(&mut self) {
        self.next_attempt_at = None;
    }

    pub fn is_pending(&self) -> bool {
        self.next_attempt_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_attempts_back_off_and_a_success_stops_retrying() {
        let t0 = Instant::now();
        let mut retry = RetryJoin::new(vec!["a".into()], t0);
        assert!(retry.due(t0).is_some());
        retry.started(JoinBatchId(1));
        assert!(retry.due(t0).is_none(), "one attempt at a time");
        let failed = JoinOutcome {
            contacted: 0,
            errors: vec![("a".into(), "refused".into())],
        };
        assert!(retry.finished(JoinBatchId(1), &failed, t0));
        assert!(retry.due(t0).is_none());
        assert!(retry.due(t0 + RETRY_JOIN_BACKOFF.base).is_some());
        retry.started(JoinBatchId(2));
        assert!(retry.finished(JoinBatchId(2), &failed, t0));
        assert!(
            retry.due(t0 + RETRY_JOIN_BACKOFF.base).is_none(),
            "delay doubled"
        );
        retry.started(JoinBatchId(3));
        let joined = JoinOutcome {
            contacted: 1,
            errors: vec![],
        };
        assert!(!retry.finished(JoinBatchId(9), &joined, t0), "not ours");
        assert!(retry.finished(JoinBatchId(3), &joined, t0));
        assert!(!retry.is_pending());
        assert!(retry.due(t0 + Duration::from_secs(3600)).is_none());
    }

    #[test]
    fn nothing_to_join_is_never_due() {
        let t0 = Instant::now();
        assert!(RetryJoin::new(vec![], t0).due(t0).is_none());
    }
}
