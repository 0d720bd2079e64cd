//! How long to wait before redialling a peer after a failed or lost
//! connection: exponential, so a dead server is not hammered, and capped, so
//! a server that comes back is found again within `max` (hashicorp/raft
//! backs off the same way in its network transport).

use std::time::Duration;

/// Beyond this many failures the delay is `max` anyway; the cap keeps the
/// shift from overflowing.
const MAX_DOUBLINGS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait after `consecutive_failures` failed attempts in a row:
    /// none after 0, then base, 2·base, 4·base, … up to `max`.
    pub fn delay(&self, consecutive_failures: u32) -> Duration {
        if consecutive_failures == 0 {
            return Duration::ZERO;
        }
        let doublings = (consecutive_failures - 1).min(MAX_DOUBLINGS);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_base_and_is_capped() {
        let backoff = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(1),
        };
        let delays: Vec<u64> = (0..9)
            .map(|n| backoff.delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 50, 100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(u32::MAX), backoff.max);
        assert_eq!(backoff.delay(40), backoff.max);
    }
}
