//! The SWIM probe cycle: one member per (health-scaled) probe interval gets
//! a ping; silence past the probe timeout brings in `indirect_checks` other
//! members with ping-reqs (which nack when they hear nothing, Lifeguard);
//! silence to the end of the interval makes the target suspect. Also the
//! helper side: probing a target on another member's behalf.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::claim_checks::is_member_address;
use super::membership::Gossip;
use super::outputs::ProbeResult;
use crate::deterministic_rng::SplitMix64;
use crate::wire::gossip_message::{GossipMessage, MemberStatus};

#[derive(Debug, Clone)]
pub(super) struct Probe {
    target: String,
    seq_no: u32,
    started_ms: u64,
    /// After this, ask others to probe indirectly.
    ping_deadline_ms: u64,
    /// After this, give up: the target becomes suspect.
    end_ms: u64,
    acked: bool,
    indirect_sent: bool,
    expected_nacks: u32,
    nacks: u32,
}

/// A probe we run for another member (its ping-req).
#[derive(Debug, Clone)]
pub(super) struct Relay {
    requester_address: String,
    requester_seq_no: u32,
    deadline_ms: u64,
    want_nack: bool,
}

#[derive(Debug, Clone)]
pub(super) struct ProbeState {
    /// Round-robin order over every other member, reshuffled each pass
    /// (SWIM §4.3): every member is probed within a bounded time, unlike
    /// picking uniformly at random.
    order: Vec<String>,
    index: usize,
    current: Option<Probe>,
    next_probe_ms: u64,
    relays: BTreeMap<u32, Relay>,
    /// Members that just became suspect, probed before the round-robin
    /// resumes; see [`ProbeState::probe_soon`].
    soon: VecDeque<String>,
}

/// Bound on members queued to be probed out of turn.
const MAX_PROBE_SOON: usize = 16;

impl ProbeState {
    pub(super) fn new(first_probe_ms: u64) -> Self {
        ProbeState {
            order: Vec::new(),
            index: 0,
            current: None,
            next_probe_ms: first_probe_ms,
            relays: BTreeMap::new(),
            soon: VecDeque::new(),
        }
    }

    /// Probes `name` next, out of turn. A member we hear is suspect gets a
    /// direct probe from us carrying the suspicion: if it is alive it learns
    /// of it and its ack carries the refutation straight back, so a
    /// refutation that gossip failed to deliver to us (lossy network) still
    /// reaches us before our suspicion timer runs out; if it is dead our
    /// failed probe is an independent confirmation (Lifeguard §IV-B).
    pub(super) fn probe_soon(&mut self, name: &str) {
        if self.soon.len() < MAX_PROBE_SOON && !self.soon.iter().any(|n| n == name) {
            self.soon.push_back(name.to_owned());
        }
    }

    /// A new member goes to a random place in the order, so it is probed
    /// within this pass with fair odds.
    pub(super) fn insert_target(&mut self, name: &str, rng: &mut SplitMix64) {
        self.order.push(name.to_owned());
        let last = self.order.len() - 1;
        let at = rng.below(self.order.len());
        self.order.swap(at, last);
    }

    /// Removes every member in `names` in one pass over the order: one
    /// linear scan per reaped member would make reaping a table of hostile
    /// members (up to `max_members`) quadratic.
    pub(super) fn remove_targets(&mut self, names: &BTreeSet<String>) {
        if names.is_empty() {
            return;
        }
        let mut position = 0;
        let mut removed_before_index = 0;
        let index = self.index;
        self.order.retain(|n| {
            let keep = !names.contains(n);
            if !keep && position < index {
                removed_before_index += 1;
            }
            position += 1;
            keep
        });
        self.index -= removed_before_index;
    }

    /// Every other member, for random selection.
    pub(super) fn targets(&self) -> &[String] {
        &self.order
    }
}

impl Gossip {
    pub(super) fn tick_probe(&mut self, now_ms: u64) {
        if let Some(probe) = &self.probe.current {
            let target = probe.target.clone();
            let finished = if probe.acked {
                self.probe.current = None;
                true
            } else if now_ms >= probe.end_ms {
                self.fail_probe(now_ms);
                true
            } else {
                if !probe.indirect_sent && now_ms >= probe.ping_deadline_ms {
                    self.send_indirect_probes();
                }
                false
            };
            // Keep probing a member we still hold suspect: each probe carries
            // the suspicion, and each ack from it the refutation, which gossip
            // alone may have failed to bring us on a lossy network.
            if finished
                && self
                    .members
                    .get(&target)
                    .is_some_and(|m| m.status == MemberStatus::Suspect)
            {
                self.probe.probe_soon(&target);
            }
        }
        if self.probe.current.is_none()
            && now_ms >= self.probe.next_probe_ms
            && self.leave_started_ms.is_none()
        {
            let interval_ms = self.awareness.scale_ms(self.config.probe_interval_ms);
            self.probe.next_probe_ms = now_ms + interval_ms;
            self.start_probe(now_ms, interval_ms);
        }
    }

    fn next_probe_target(&mut self) -> Option<String> {
        while let Some(name) = self.probe.soon.pop_front() {
            if self
                .members
                .get(&name)
                .is_some_and(|m| m.status == MemberStatus::Suspect)
            {
                return Some(name);
            }
        }
        for _ in 0..=self.probe.order.len() {
            if self.probe.index >= self.probe.order.len() {
                self.probe.index = 0;
                self.rng.shuffle(&mut self.probe.order);
            }
            let name = self.probe.order.get(self.probe.index).cloned()?;
            self.probe.index += 1;
            if self.members.get(&name).is_some_and(|m| m.is_live()) {
                return Some(name);
            }
        }
        None
    }

    fn start_probe(&mut self, now_ms: u64, interval_ms: u64) {
        let Some(target) = self.next_probe_target() else {
            return;
        };
        let member = self.members[&target].clone();
        let seq_no = self.next_seq_no();
        let timeout_ms = self.awareness.scale_ms(self.config.probe_timeout_ms);
        self.probe.current = Some(Probe {
            target: target.clone(),
            seq_no,
            started_ms: now_ms,
            ping_deadline_ms: now_ms + timeout_ms,
            end_ms: now_ms + interval_ms,
            acked: false,
            indirect_sent: false,
            expected_nacks: 0,
            nacks: 0,
        });
        let mut messages = vec![GossipMessage::Ping {
            seq_no,
            target_name: target.clone(),
            source_name: self.config.name.clone(),
        }];
        // Lifeguard's buddy system: tell a suspect it is suspected directly,
        // so it can refute without waiting for the gossip to reach it.
        if member.status == MemberStatus::Suspect {
            messages.push(GossipMessage::Suspect {
                incarnation: member.incarnation,
                name: target,
                from: self.config.name.clone(),
            });
        }
        self.send_with_piggyback(&member.address, messages);
    }

    fn send_indirect_probes(&mut self) {
        let probe = self.probe.current.as_mut().expect("called with a probe");
        probe.indirect_sent = true;
        let target = probe.target.clone();
        let seq_no = probe.seq_no;
        let Some(target_address) = self.members.get(&target).map(|m| m.address.clone()) else {
            return;
        };
        let helpers = self.random_members(self.config.indirect_checks, |m| {
            m.status == MemberStatus::Alive && m.name != target
        });
        if let Some(probe) = self.probe.current.as_mut() {
            probe.expected_nacks = helpers.len() as u32;
        }
        for helper in helpers {
            let message = GossipMessage::IndirectPing {
                seq_no,
                target_name: target.clone(),
                target_address: target_address.clone(),
                source_name: self.config.name.clone(),
                want_nack: true,
            };
            self.send_with_piggyback(&helper.address, vec![message]);
        }
    }

    fn fail_probe(&mut self, now_ms: u64) {
        let probe = self.probe.current.take().expect("called with a probe");
        self.outputs.note_probe(ProbeResult {
            duration_ms: now_ms.saturating_sub(probe.started_ms),
            acked: false,
        });
        // Lifeguard: helpers that did not even nack point at our own network
        // or process being the problem, not the target. Without helpers,
        // any failed probe counts against us.
        let delta = if probe.expected_nacks > 0 {
            i64::from(probe.expected_nacks.saturating_sub(probe.nacks))
        } else {
            1
        };
        self.awareness.apply_delta(delta);
        let Some(member) = self.members.get(&probe.target) else {
            return;
        };
        if !member.is_live() {
            return;
        }
        let incarnation = member.incarnation;
        self.log_info(format!(
            "Suspect {} has failed, no acks received",
            probe.target
        ));
        let local_name = self.config.name.clone();
        self.on_suspect(incarnation, &probe.target, &local_name, now_ms);
    }

    pub(super) fn handle_ping(&mut self, from: &str, seq_no: u32, target_name: &str, source: &str) {
        if target_name != self.config.name {
            // The address now belongs to someone else; acking would vouch
            // for a member that is gone.
            self.log(
                log::Level::Warn,
                format!("Got ping for unexpected node '{target_name}' from={source} ({from})"),
            );
            return;
        }
        self.send_with_piggyback(from, vec![GossipMessage::Ack { seq_no }]);
    }

    pub(super) fn handle_indirect_ping(
        &mut self,
        from: &str,
        requester_seq_no: u32,
        target_name: String,
        target_address: String,
        want_nack: bool,
        now_ms: u64,
    ) {
        if self.probe.relays.len() >= self.config.max_pending_relays {
            return;
        }
        if !is_member_address(&target_address) {
            // Relaying to whatever string a peer names would let it aim our
            // pings at anything; a member address is always IP:PORT.
            self.log(
                log::Level::Warn,
                format!("Ignoring an indirect ping from {from} for target address {target_address:?} that is not IP:PORT"),
            );
            return;
        }
        // Still relayed: a requester that knows of a rejoin we missed holds
        // a newer incarnation, and its probe must not lose our help.
        self.tell_of_leave(from, &target_name);
        let seq_no = self.next_seq_no();
        self.probe.relays.insert(
            seq_no,
            Relay {
                requester_address: from.to_owned(),
                requester_seq_no,
                deadline_ms: now_ms + self.config.probe_timeout_ms,
                want_nack,
            },
        );
        let ping = GossipMessage::Ping {
            seq_no,
            target_name,
            source_name: self.config.name.clone(),
        };
        self.send_with_piggyback(&target_address, vec![ping]);
    }

    pub(super) fn handle_ack(&mut self, seq_no: u32, now_ms: u64) {
        if let Some(probe) = self.probe.current.as_mut()
            && probe.seq_no == seq_no
        {
            if !probe.acked {
                probe.acked = true;
                self.awareness.apply_delta(-1);
                self.outputs.note_probe(ProbeResult {
                    duration_ms: now_ms.saturating_sub(probe.started_ms),
                    acked: true,
                });
            }
            return;
        }
        if let Some(relay) = self.probe.relays.remove(&seq_no) {
            let ack = GossipMessage::Ack {
                seq_no: relay.requester_seq_no,
            };
            self.send_with_piggyback(&relay.requester_address, vec![ack]);
        }
    }

    pub(super) fn handle_nack(&mut self, seq_no: u32) {
        if let Some(probe) = self.probe.current.as_mut()
            && probe.seq_no == seq_no
        {
            probe.nacks += 1;
        }
    }

    pub(super) fn expire_relays(&mut self, now_ms: u64) {
        let expired: Vec<u32> = self
            .probe
            .relays
            .iter()
            .filter(|(_, r)| now_ms >= r.deadline_ms)
            .map(|(seq, _)| *seq)
            .collect();
        for seq_no in expired {
            let relay = self.probe.relays.remove(&seq_no).expect("collected above");
            if relay.want_nack {
                let nack = GossipMessage::Nack {
                    seq_no: relay.requester_seq_no,
                };
                self.send_with_piggyback(&relay.requester_address, vec![nack]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_many_targets_keeps_the_round_robin_position() {
        let mut state = ProbeState::new(0);
        state.order = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        state.index = 3; // "d" is next
        let gone: BTreeSet<String> = ["a", "c", "e"].map(String::from).into();
        state.remove_targets(&gone);
        assert_eq!(state.order, ["b", "d"]);
        assert_eq!(state.order[state.index], "d");
    }
}
