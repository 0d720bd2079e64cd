//! When a server takes its next snapshot: once [`SNAPSHOT_EVERY_ENTRIES`]
//! entries were applied since the last one and the pause after the last
//! one is over (the caller also writes one snapshot at a time).

use std::time::{Duration, Instant};

/// hashicorp/raft's default `SnapshotThreshold`: a snapshot every this many
/// applied entries, then the log before it is dropped.
pub const SNAPSHOT_EVERY_ENTRIES: u64 = 8192;
/// After a snapshot that took T, the next waits until T times this has
/// passed, so writing snapshots takes at most a quarter of the time of
/// one core however large the state grows (hashicorp/raft bounds the same
/// cost with a 120 s `SnapshotInterval`). Measured with 262,144 keys (an
/// 80 MB snapshot, 0.3-0.9 s to write): without it the three servers on 2
/// cores were writing snapshots back to back.
pub const SNAPSHOT_IDLE_FACTOR: u32 = 3;

#[derive(Debug)]
pub struct SnapshotSchedule {
    applied_since_snapshot: u64,
    not_before: Option<Instant>,
    /// [`SNAPSHOT_EVERY_ENTRIES`] except in tests that need snapshots of a
    /// short run (the agent simulator).
    every_entries: u64,
}

impl Default for SnapshotSchedule {
    fn default() -> Self {
        SnapshotSchedule::new()
    }
}

impl SnapshotSchedule {
    pub fn new() -> SnapshotSchedule {
        SnapshotSchedule {
            applied_since_snapshot: 0,
            not_before: None,
            every_entries: SNAPSHOT_EVERY_ENTRIES,
        }
    }

    /// A test knob: snapshot every `entries` applied entries instead.
    pub fn set_every_entries(&mut self, entries: u64) {
        self.every_entries = entries.max(1);
    }

    pub fn on_applied(&mut self) {
        self.applied_since_snapshot += 1;
    }

    /// A snapshot from elsewhere (installed from the leader) covers what
    /// was applied so far.
    pub fn on_snapshot_installed(&mut self) {
        self.applied_since_snapshot = 0;
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.applied_since_snapshot >= self.every_entries
            && self.not_before.is_none_or(|not_before| now >= not_before)
    }

    /// A snapshot starts covering everything applied so far. A snapshot
    /// that fails is retried once as many entries were applied again.
    pub fn on_started(&mut self) {
        self.applied_since_snapshot = 0;
    }

    /// The snapshot started `took` ago is finished (written or failed).
    pub fn on_finished(&mut self, now: Instant, took: Duration) {
        self.not_before = Some(now + took * SNAPSHOT_IDLE_FACTOR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(schedule: &mut SnapshotSchedule, entries: u64) {
        for _ in 0..entries {
            schedule.on_applied();
        }
    }

    #[test]
    fn a_snapshot_is_due_after_the_threshold_of_applied_entries() {
        let now = Instant::now();
        let mut schedule = SnapshotSchedule::new();
        apply(&mut schedule, SNAPSHOT_EVERY_ENTRIES - 1);
        assert!(!schedule.is_due(now));
        apply(&mut schedule, 1);
        assert!(schedule.is_due(now));
    }

    #[test]
    fn starting_a_snapshot_restarts_the_count() {
        let now = Instant::now();
        let mut schedule = SnapshotSchedule::new();
        apply(&mut schedule, SNAPSHOT_EVERY_ENTRIES);
        schedule.on_started();
        apply(&mut schedule, SNAPSHOT_EVERY_ENTRIES - 1);
        assert!(!schedule.is_due(now));
    }

    #[test]
    fn the_next_snapshot_waits_the_idle_factor_times_the_last_ones_duration() {
        let start = Instant::now();
        let took = Duration::from_millis(400);
        let mut schedule = SnapshotSchedule::new();
        apply(&mut schedule, SNAPSHOT_EVERY_ENTRIES);
        schedule.on_started();
        let finished = start + took;
        schedule.on_finished(finished, took);
        apply(&mut schedule, SNAPSHOT_EVERY_ENTRIES);
        let pause = took * SNAPSHOT_IDLE_FACTOR;
        assert!(!schedule.is_due(finished));
        assert!(!schedule.is_due(finished + pause - Duration::from_millis(1)));
        assert!(schedule.is_due(finished + pause));
    }

    #[test]
    fn an_installed_snapshot_restarts_the_count() {
        let now = Instant::now();
        let mut schedule = SnapshotSchedule::new();
        apply(&mut schedule, SNAPSHOT_EVERY_ENTRIES);
        schedule.on_snapshot_installed();
        assert!(!schedule.is_due(now));
    }
}
