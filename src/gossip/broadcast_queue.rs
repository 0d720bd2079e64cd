//! The queue of state changes waiting to be piggybacked (memberlist's
//! TransmitLimitedQueue). Each change is sent a bounded number of times
//! (`retransmit_mult * ceil(log10(N + 1))`), least-sent first and newest
//! first among equals, so fresh news spreads before old news is repeated.
//! A newer change about a member replaces the older one still queued: gossip
//! about a superseded incarnation only wastes room.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::packing::packed_len;
use crate::wire::gossip_message::GossipMessage;

/// Smallest packed broadcast (a `Left` with a one-byte name); once less room
/// than this is left, nothing more can fit.
const MIN_PACKED_BROADCAST_BYTES: usize = 3 + 8 + 4 + 1;
/// How many queued entries one `take` may look at that do not fit, so a
/// queue of large entries cannot make every send scan it all.
const MAX_SKIPPED_PER_TAKE: usize = 64;

type Key = (u32, Reverse<u64>);

#[derive(Debug, Clone)]
struct Queued {
    member: String,
    message: GossipMessage,
    packed_len: usize,
}

#[derive(Debug, Clone)]
pub struct BroadcastQueue {
    /// Ordered by (transmissions so far, newest first).
    by_priority: BTreeMap<Key, Queued>,
    by_member: BTreeMap<String, Key>,
    next_id: u64,
    max_queued: usize,
}

impl BroadcastQueue {
    pub fn new(max_queued: usize) -> Self {
        assert!(max_queued > 0, "broadcast queue needs room");
        BroadcastQueue {
            by_priority: BTreeMap::new(),
            by_member: BTreeMap::new(),
            next_id: 0,
            max_queued,
        }
    }

    pub fn len(&self) -> usize {
        self.by_priority.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_priority.is_empty()
    }

    /// Whether a change about `member` is still waiting to be (re)sent.
    pub fn contains(&self, member: &str) -> bool {
        self.by_member.contains_key(member)
    }

    /// Queues `message` about `member`, replacing any older change about it.
    /// Past `max_queued`, the most-sent (then oldest) entry is dropped.
    pub fn push(&mut self, member: &str, message: GossipMessage) {
        if let Some(old) = self.by_member.remove(member) {
            self.by_priority.remove(&old);
        }
        let key = (0, Reverse(self.next_id));
        self.next_id += 1;
        let packed_len = packed_len(&message);
        self.by_priority.insert(
            key,
            Queued {
                member: member.to_owned(),
                message,
                packed_len,
            },
        );
        self.by_member.insert(member.to_owned(), key);
        while self.by_priority.len() > self.max_queued {
            if let Some((_, dropped)) = self.by_priority.pop_last() {
                self.by_member.remove(&dropped.member);
            }
        }
    }

    /// Takes at most `max_count` broadcasts that fit in `budget_bytes`
    /// (packed sizes), counting one transmission for each; entries sent
    /// `retransmit_limit` times are dropped.
    pub fn take(
        &mut self,
        budget_bytes: usize,
        max_count: usize,
        retransmit_limit: u32,
    ) -> Vec<GossipMessage> {
        let mut free = budget_bytes;
        let mut chosen = Vec::new();
        let mut skipped = 0;
        for (key, queued) in &self.by_priority {
            if free < MIN_PACKED_BROADCAST_BYTES
                || skipped >= MAX_SKIPPED_PER_TAKE
                || chosen.len() >= max_count
            {
                break;
            }
            if queued.packed_len <= free {
                free -= queued.packed_len;
                chosen.push(*key);
            } else {
                skipped += 1;
            }
        }
        let mut out = Vec::with_capacity(chosen.len());
        for key in chosen {
            let queued = self.by_priority.remove(&key).expect("chosen key is queued");
            out.push(queued.message.clone());
            let transmits = key.0 + 1;
            if transmits >= retransmit_limit {
                self.by_member.remove(&queued.member);
            } else {
                let new_key = (transmits, key.1);
                self.by_member.insert(queued.member.clone(), new_key);
                self.by_priority.insert(new_key, queued);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(name: &str, incarnation: u64) -> GossipMessage {
        GossipMessage::Left {
            incarnation,
            name: name.into(),
        }
    }

    #[test]
    fn each_broadcast_is_sent_at_most_the_retransmit_limit() {
        let mut q = BroadcastQueue::new(16);
        q.push("a", left("a", 1));
        let mut sent = 0;
        for _ in 0..10 {
            sent += q.take(1000, 64, 3).len();
        }
        assert_eq!(sent, 3);
        assert!(q.is_empty());
    }

    #[test]
    fn a_newer_change_replaces_the_queued_one_about_the_same_member() {
        let mut q = BroadcastQueue::new(16);
        q.push("a", left("a", 1));
        q.push("a", left("a", 2));
        assert_eq!(q.len(), 1);
        assert_eq!(q.take(1000, 64, 3), vec![left("a", 2)]);
    }

    #[test]
    fn least_sent_broadcasts_go_first_and_the_budget_is_respected() {
        let mut q = BroadcastQueue::new(16);
        q.push("a", left("a", 1));
        assert_eq!(q.take(1000, 64, 5).len(), 1);
        q.push("b", left("b", 1));
        let one = packed_len(&left("b", 1));
        assert_eq!(q.take(one, 64, 5), vec![left("b", 1)]);
    }

    #[test]
    fn at_most_max_count_broadcasts_are_taken() {
        let mut q = BroadcastQueue::new(16);
        for name in ["a", "b", "c"] {
            q.push(name, left(name, 1));
        }
        assert_eq!(q.take(1000, 2, 5).len(), 2);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut q = BroadcastQueue::new(2);
        q.push("a", left("a", 1));
        q.push("b", left("b", 1));
        q.push("c", left("c", 1));
        assert_eq!(q.len(), 2);
        assert!(!q.contains("a"), "the oldest entry is dropped");
    }
}
