//! What the core relies on between any two calls, checked in production
//! after every input (TigerBeetle's rule: a violated invariant is a bug, and
//! stopping loudly beats going on with corrupt state). Input from the
//! network or a file never reaches an assertion: that gets an error or an
//! `InvalidMessage` event first.

use super::node::{RaftNode, Role};

impl RaftNode {
    /// Panics when the core's own bookkeeping is inconsistent.
    pub fn check_invariants(&self) {
        let log = &self.log;
        let last = log.last_index();
        assert!(
            log.applied <= log.apply_emitted && log.apply_emitted <= log.commit,
            "applied {} / handed out {} / commit {} out of order",
            log.applied,
            log.apply_emitted,
            log.commit
        );
        assert!(
            log.commit <= last,
            "commit index {} past the last index {last}",
            log.commit
        );
        assert!(
            log.stable <= last,
            "stable index {} past the last index {last}",
            log.stable
        );
        assert!(
            log.persist_from <= last + 1,
            "persist_from {} past the log's end {last}",
            log.persist_from
        );
        if self.role == Role::Leader {
            for (peer, progress) in &self.progress {
                assert!(
                    progress.match_index < progress.next_index,
                    "peer {peer:016x}: match {} not below next {}",
                    progress.match_index,
                    progress.next_index
                );
                assert!(
                    progress.match_index <= last,
                    "peer {peer:016x}: match {} past our last index {last}",
                    progress.match_index
                );
            }
        }
    }
}
