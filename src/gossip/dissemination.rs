//! Spreading state changes: piggybacked on every ping, ack and nack, and
//! gossiped every gossip interval to a few random members (SWIM §4.4,
//! memberlist's gossip()). Datagrams are packed to the size limit.
//!
//! Gossip reaches every member only with high probability: each member
//! sends a change `retransmit_limit` times to random others, so now and
//! then a member gets no copy (at 20 members and 5% loss, 419 of 100,000
//! simulated leaves reached some member only later). memberlist leaves
//! that to the next push/pull (mergeState), 30 s or more away; meanwhile
//! the member that missed a leave probes the leaver, suspects it, and may
//! declare it failed rather than left. See [`Gossip::tell_of_leave`].

use super::member::Member;
use super::membership::Gossip;
use super::packing::{DATAGRAM_BUDGET_BYTES, MAX_DATAGRAM_MESSAGES, packed_len};
use crate::wire::gossip_message::{GossipMessage, MemberStatus};

impl Gossip {
    /// Queues a datagram to `to` holding `messages` and as many pending
    /// broadcasts as fit in the rest of the datagram.
    pub(super) fn send_with_piggyback(&mut self, to: &str, mut messages: Vec<GossipMessage>) {
        let used: usize = messages.iter().map(packed_len).sum();
        assert!(
            used <= DATAGRAM_BUDGET_BYTES && messages.len() <= MAX_DATAGRAM_MESSAGES,
            "probe messages alone exceed the datagram limits"
        );
        let limit = self.retransmit_limit();
        let room = MAX_DATAGRAM_MESSAGES.saturating_sub(messages.len());
        messages.extend(
            self.broadcasts
                .take(DATAGRAM_BUDGET_BYTES - used, room, limit),
        );
        self.outputs.datagrams.push((to.to_owned(), messages));
    }

    pub(super) fn gossip_round(&mut self, now_ms: u64) {
        if self.broadcasts.is_empty() {
            return;
        }
        let to_the_dead_ms = self.config.gossip_to_the_dead_ms;
        let targets = self.random_members(self.config.gossip_nodes, |m| match m.status {
            MemberStatus::Alive | MemberStatus::Suspect => true,
            // A member declared dead may be alive behind a lossy link:
            // keep telling it for a while so it can refute.
            MemberStatus::Dead => now_ms.saturating_sub(m.status_changed_ms) < to_the_dead_ms,
            MemberStatus::Left => false,
        });
        let limit = self.retransmit_limit();
        for target in targets {
            let messages =
                self.broadcasts
                    .take(DATAGRAM_BUDGET_BYTES, MAX_DATAGRAM_MESSAGES, limit);
            if messages.is_empty() {
                return;
            }
            self.outputs.datagrams.push((target.address, messages));
        }
    }

    /// Tells `to`, which asked us to probe `name` indirectly, that `name`
    /// has left, if we hold it so. memberlist's helper (handleIndirectPing)
    /// only pings and nacks; this is its push/pull's repair of one record
    /// (a left record merged over an alive one), sent at the moment a
    /// ping-req shows the requester never got the leave: that ping-req
    /// comes from its first failed probe of the leaver, before it suspects
    /// it, so it learns of the leave instead of declaring the leaver failed.
    /// Alone in its datagram, so no larger than the ping-req. Not for a
    /// member we hold as dead: it may be alive behind a lossy link, and the
    /// requester's own probe is the better judge. A requester that knows of
    /// a rejoin holds a newer incarnation and ignores the stale leave.
    pub(super) fn tell_of_leave(&mut self, to: &str, name: &str) {
        let Some(member) = self.members.get(name) else {
            return;
        };
        if member.status != MemberStatus::Left {
            return;
        }
        let message = GossipMessage::Left {
            incarnation: member.incarnation,
            name: member.name.clone(),
        };
        self.outputs.datagrams.push((to.to_owned(), vec![message]));
    }

    /// Up to `count` distinct other members passing `eligible`, chosen at
    /// random by rejection sampling (bounded: memberlist's kRandomNodes),
    /// then, if that came up short, by one pass over the rest from a random
    /// start: `min(count, eligible members)` always. Rejection sampling
    /// alone misses one of two members 1 time in 32, and in a cluster of
    /// three that could spend every retransmission of a join on the member
    /// it was about.
    pub(super) fn random_members(
        &mut self,
        count: usize,
        eligible: impl Fn(&Member) -> bool,
    ) -> Vec<Member> {
        let candidates = self.probe.targets().len();
        let mut chosen: Vec<Member> = Vec::with_capacity(count);
        if candidates == 0 {
            return chosen;
        }
        let max_attempts = 3 * candidates;
        for _ in 0..max_attempts {
            if chosen.len() >= count {
                break;
            }
            let at = self.rng.below(candidates);
            self.choose_if_eligible(at, &mut chosen, &eligible);
        }
        if chosen.len() < count {
            let start = self.rng.below(candidates);
            for offset in 0..candidates {
                if chosen.len() >= count {
                    break;
                }
                self.choose_if_eligible((start + offset) % candidates, &mut chosen, &eligible);
            }
        }
        chosen
    }

    fn choose_if_eligible(
        &self,
        at: usize,
        chosen: &mut Vec<Member>,
        eligible: &impl Fn(&Member) -> bool,
    ) {
        let name = &self.probe.targets()[at];
        if chosen.iter().any(|m| &m.name == name) {
            return;
        }
        if let Some(member) = self.members.get(name)
            && eligible(member)
        {
            chosen.push(member.clone());
        }
    }
}
