//! When the remembered member list (`DATA_DIR/gossip/members`) is rewritten.
//! Every write is an atomic replace with two fsyncs, so membership churn
//! must not turn into a write per change: ordinary changes (a status, an
//! address) are written at most once per [`MEMBER_LIST_WRITE_INTERVAL`].
//! A member that is not on disk yet is different: until it is written, an
//! agent killed with SIGKILL restarts knowing nobody and never rejoins (the
//! first join after a start used to wait up to a second behind the write of
//! the start). The first peer (the list on disk has none) is written at
//! once; any other member not on disk within [`NEW_MEMBER_WRITE_INTERVAL`]
//! of the previous write, which still bounds the rate when many new members
//! arrive one after another.

use std::time::{Duration, Instant};

/// Ordinary changes are written at most this often.
pub const MEMBER_LIST_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// A change that adds a member not yet on disk is written at most this long
/// after the previous write (at once when that was longer ago).
pub const NEW_MEMBER_WRITE_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
pub struct MemberListWrites {
    /// The list in memory differs from the one on disk.
    dirty: bool,
    /// ... and has a member the one on disk lacks.
    adds_member: bool,
    /// ... while the one on disk has no member but us.
    adds_first_peer: bool,
    last_write: Option<Instant>,
}

impl MemberListWrites {
    pub fn new() -> Self {
        Self::default()
    }

    /// Something changed that the list on disk does not have yet.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// A member not on disk was learned; `first_peer` when the list on
    /// disk has no other member.
    pub fn member_added(&mut self, first_peer: bool) {
        self.dirty = true;
        self.adds_member = true;
        self.adds_first_peer |= first_peer;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn adds_member(&self) -> bool {
        self.adds_member
    }

    /// Whether the list should be written now.
    pub fn due(&self, now: Instant) -> bool {
        if !self.dirty {
            return false;
        }
        let Some(last_write) = self.last_write.filter(|_| !self.adds_first_peer) else {
            return true;
        };
        let since = now.saturating_duration_since(last_write);
        let interval = if self.adds_member {
            NEW_MEMBER_WRITE_INTERVAL
        } else {
            MEMBER_LIST_WRITE_INTERVAL
        };
        since >= interval
    }

    /// The list was written at `now` (or the write was tried and failed:
    /// retrying at once would only fail again).
    pub fn written(&mut self, now: Instant) {
        self.dirty = false;
        self.adds_member = false;
        self.adds_first_peer = false;
        self.last_write = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written_at(now: Instant) -> MemberListWrites {
        let mut writes = MemberListWrites::new();
        writes.written(now);
        writes
    }

    #[test]
    fn nothing_is_written_while_nothing_changed() {
        let t0 = Instant::now();
        let writes = written_at(t0);
        assert!(!writes.due(t0 + Duration::from_secs(60)));
        assert!(!MemberListWrites::new().due(t0));
    }

    #[test]
    fn the_first_change_is_written_at_once() {
        let mut writes = MemberListWrites::new();
        writes.changed();
        assert!(writes.due(Instant::now()));
    }

    #[test]
    fn ordinary_changes_wait_for_the_write_interval() {
        let t0 = Instant::now();
        let mut writes = written_at(t0);
        writes.changed();
        assert!(!writes.due(t0 + NEW_MEMBER_WRITE_INTERVAL));
        assert!(!writes.due(t0 + MEMBER_LIST_WRITE_INTERVAL - Duration::from_millis(1)));
        assert!(writes.due(t0 + MEMBER_LIST_WRITE_INTERVAL));
    }

    #[test]
    fn a_member_not_on_disk_is_written_within_the_short_interval_of_the_last_write() {
        let t0 = Instant::now();
        let mut writes = written_at(t0);
        writes.member_added(false);
        assert!(!writes.due(t0 + Duration::from_millis(10)));
        assert!(writes.due(t0 + NEW_MEMBER_WRITE_INTERVAL));
        // Long after the last write: at once.
        let mut writes = written_at(t0);
        writes.member_added(false);
        assert!(writes.due(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn the_first_peer_is_written_at_once_even_just_after_a_write() {
        let t0 = Instant::now();
        let mut writes = written_at(t0);
        writes.member_added(true);
        assert!(writes.due(t0));
    }

    #[test]
    fn a_write_takes_the_new_member_with_it() {
        let t0 = Instant::now();
        let mut writes = written_at(t0);
        writes.member_added(true);
        writes.written(t0 + NEW_MEMBER_WRITE_INTERVAL);
        writes.changed();
        assert!(!writes.adds_member());
        assert!(!writes.due(t0 + 2 * NEW_MEMBER_WRITE_INTERVAL));
    }
}
