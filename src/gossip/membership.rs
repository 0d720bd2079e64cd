//! The member table and the rules that change it: which alive, suspect,
//! dead and left claims win (memberlist's aliveNode/suspectNode/deadNode).
//! The incarnation number orders claims about one member; only the member
//! itself raises it, to refute.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::awareness::Awareness;
use super::broadcast_queue::BroadcastQueue;
use super::claim_checks::Claim;
use super::config::GossipConfig;
use super::member::Member;
use super::outputs::{LogLine, MemberEvent, Outputs};
use super::probe::ProbeState;
use super::suspicion::Suspicion;
use crate::deterministic_rng::SplitMix64;
use crate::wire::gossip_message::{GossipMessage, MemberStatus, Tags};

/// Cloneable so a simulator can fork a converged cluster.
#[derive(Debug, Clone)]
pub struct Gossip {
    pub(super) config: GossipConfig,
    pub(super) rng: SplitMix64,
    /// Every known member, this node included, until reaped.
    pub(super) members: BTreeMap<String, Member>,
    pub(super) suspicions: BTreeMap<String, Suspicion>,
    pub(super) awareness: Awareness,
    pub(super) broadcasts: BroadcastQueue,
    pub(super) probe: ProbeState,
    pub(super) next_seq_no: u32,
    pub(super) next_gossip_ms: u64,
    pub(super) next_push_pull_ms: u64,
    pub(super) next_reap_check_ms: u64,
    /// When `leave` was called.
    pub(super) leave_started_ms: Option<u64>,
    /// How many times a member was added to the table or came back from
    /// dead or left: push/pulls remember it when sent, so an answer can tell
    /// whether members were learned after the request went out.
    pub(super) members_learned: u64,
    /// Push/pulls we sent, oldest first: `(address, members_learned when
    /// sent)`; bounded by `MAX_PUSH_PULLS_AWAITING_ANSWER`.
    pub(super) push_pulls_awaiting_answer: VecDeque<(String, u64)>,
    pub(super) outputs: Outputs,
}

/// A claim that a member is dead or has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Departure {
    Dead,
    Left,
}

impl Gossip {
    pub fn new(config: GossipConfig, rng_seed: u64, now_ms: u64) -> Self {
        assert!(
            config.probe_interval_ms > 0,
            "probe interval must be positive"
        );
        assert!(
            config.gossip_interval_ms > 0,
            "gossip interval must be positive"
        );
        assert!(
            config.probe_timeout_ms <= config.probe_interval_ms,
            "probe timeout must fit in the probe interval"
        );
        let mut rng = SplitMix64::new(rng_seed);
        // Spread the periodic work so members started together do not probe
        // and gossip in lockstep.
        let probe_offset = rng.below(config.probe_interval_ms as usize) as u64;
        let gossip_offset = rng.below(config.gossip_interval_ms as usize) as u64;
        let push_pull_offset = rng.below(config.push_pull_interval_ms.max(1) as usize) as u64;
        let local = Member {
            name: config.name.clone(),
            address: config.address.clone(),
            incarnation: 1,
            status: MemberStatus::Alive,
            tags: config.tags.clone(),
            status_changed_ms: now_ms,
        };
        let mut gossip = Gossip {
            awareness: Awareness::new(config.awareness_max_multiplier),
            broadcasts: BroadcastQueue::new(config.max_queued_broadcasts),
            rng,
            members: BTreeMap::new(),
            suspicions: BTreeMap::new(),
            probe: ProbeState::new(now_ms + probe_offset),
            next_seq_no: 1,
            next_gossip_ms: now_ms + gossip_offset,
            next_push_pull_ms: now_ms + config.push_pull_interval_ms + push_pull_offset,
            next_reap_check_ms: now_ms + config.probe_interval_ms,
            leave_started_ms: None,
            members_learned: 0,
            push_pulls_awaiting_answer: VecDeque::new(),
            outputs: Outputs::default(),
            config,
        };
        gossip.members.insert(local.name.clone(), local.clone());
        gossip.broadcast_alive_of(&local);
        gossip
            .outputs
            .events
            .push(MemberEvent::Joined(local.clone()));
        gossip.log_info(format!("EventMemberJoin: {} {}", local.name, local.address));
        gossip
    }

    // ---- queries ----

    pub fn config(&self) -> &GossipConfig {
        &self.config
    }

    /// Every known member, this node included, ordered by name.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.get(name)
    }

    pub fn local_member(&self) -> &Member {
        self.members
            .get(&self.config.name)
            .expect("the local member is never removed")
    }

    /// Alive or suspect members, this node included.
    pub fn num_alive(&self) -> usize {
        self.members.values().filter(|m| m.is_live()).count()
    }

    /// Lifeguard local health score: 0 is healthy, higher means our own
    /// probes are going unanswered and we are slowing down.
    pub fn health_score(&self) -> u32 {
        self.awareness.score()
    }

    /// State changes still waiting to be piggybacked or gossiped.
    pub fn pending_broadcasts(&self) -> usize {
        self.broadcasts.len()
    }

    /// Drains everything produced since the last call.
    pub fn take_outputs(&mut self) -> Outputs {
        std::mem::take(&mut self.outputs)
    }

    // ---- inputs ----

    /// Advances timers: probes, suspicion timeouts, gossip rounds, push/pull
    /// and reaping.
    pub fn tick(&mut self, now_ms: u64) {
        self.expire_suspicions(now_ms);
        self.tick_probe(now_ms);
        self.expire_relays(now_ms);
        if now_ms >= self.next_gossip_ms {
            self.next_gossip_ms = now_ms + self.config.gossip_interval_ms;
            self.gossip_round(now_ms);
        }
        if now_ms >= self.next_push_pull_ms {
            self.next_push_pull_ms = now_ms + self.config.push_pull_period_ms(self.members.len());
            self.periodic_push_pull();
        }
        if now_ms >= self.next_reap_check_ms {
            self.next_reap_check_ms = now_ms + self.config.probe_interval_ms;
            self.reap(now_ms);
        }
    }

    /// Handles every message of one datagram received from `from` (`IP:PORT`).
    pub fn receive_datagram(&mut self, from: &str, messages: Vec<GossipMessage>, now_ms: u64) {
        // State changes first, probes second: a ping that carries a
        // suspicion about us is then answered by an ack that already carries
        // our refutation.
        let (probes, changes): (Vec<_>, Vec<_>) =
            messages.into_iter().partition(GossipMessage::is_probe);
        for message in changes.into_iter().chain(probes) {
            self.receive_message(from, message, now_ms);
        }
    }

    fn receive_message(&mut self, from: &str, message: GossipMessage, now_ms: u64) {
        match message {
            GossipMessage::Ping {
                seq_no,
                target_name,
                source_name,
            } => self.handle_ping(from, seq_no, &target_name, &source_name),
            GossipMessage::IndirectPing {
                seq_no,
                target_name,
                target_address,
                source_name: _,
                want_nack,
            } => self.handle_indirect_ping(
                from,
                seq_no,
                target_name,
                target_address,
                want_nack,
                now_ms,
            ),
            GossipMessage::Ack { seq_no } => self.handle_ack(seq_no, now_ms),
            GossipMessage::Nack { seq_no } => self.handle_nack(seq_no),
            GossipMessage::Alive {
                incarnation,
                name,
                address,
                tags,
            } => {
                if self.claim_is_sane(from, Claim::Alive(&address), incarnation, &name) {
                    self.on_alive(incarnation, &name, &address, &tags, now_ms)
                }
            }
            GossipMessage::Suspect {
                incarnation,
                name,
                from: accuser,
            } => {
                if self.claim_is_sane(from, Claim::Accusation, incarnation, &name) {
                    self.on_suspect(incarnation, &name, &accuser, now_ms)
                }
            }
            GossipMessage::Dead {
                incarnation,
                name,
                from: accuser,
            } => {
                if self.claim_is_sane(from, Claim::Accusation, incarnation, &name) {
                    self.on_departure(incarnation, &name, &accuser, Departure::Dead, now_ms)
                }
            }
            GossipMessage::Left { incarnation, name } => {
                if self.claim_is_sane(from, Claim::Accusation, incarnation, &name) {
                    let accuser = name.clone();
                    self.on_departure(incarnation, &name, &accuser, Departure::Left, now_ms)
                }
            }
            // Push/pull and refusals travel over TCP, never in a datagram.
            GossipMessage::PushPull(_) | GossipMessage::JoinRefused(_) => self.log(
                log::Level::Warn,
                format!("Ignoring a TCP-only gossip message in a datagram from {from}"),
            ),
        }
    }

    /// Changes this node's tags (a server that was bootstrapped or added
    /// learns its cluster ID) and announces them with a new incarnation.
    pub fn set_local_tags(&mut self, tags: Tags, now_ms: u64) {
        let local = self.local_mut();
        if local.tags == tags {
            return;
        }
        local.tags = tags.clone();
        // Saturating: claims above MAX_INCARNATION are refused, so this
        // never reaches the top in practice, but it must not panic if it did.
        local.incarnation = local.incarnation.saturating_add(1);
        local.status_changed_ms = now_ms;
        let local = local.clone();
        self.config.tags = tags;
        self.broadcast_alive_of(&local);
        self.log_info(format!("EventMemberUpdate: {}", local.name));
        self.outputs.events.push(MemberEvent::Updated(local));
    }

    // ---- the rules ----

    /// memberlist's aliveNode.
    pub(super) fn on_alive(
        &mut self,
        incarnation: u64,
        name: &str,
        address: &str,
        tags: &Tags,
        now_ms: u64,
    ) {
        if name == self.config.name {
            self.on_alive_about_self(incarnation, address, tags);
            return;
        }
        let Some(existing) = self.members.get(name) else {
            if self.members.len() >= self.config.max_members {
                self.log(
                    log::Level::Warn,
                    format!(
                        "Not adding member {name} ({address}): the member table is full ({} members)",
                        self.members.len()
                    ),
                );
                return;
            }
            let member = Member {
                name: name.to_owned(),
                address: address.to_owned(),
                incarnation,
                status: MemberStatus::Alive,
                tags: tags.clone(),
                status_changed_ms: now_ms,
            };
            self.members.insert(name.to_owned(), member.clone());
            self.members_learned += 1;
            self.probe.insert_target(name, &mut self.rng);
            self.broadcast_alive_of(&member);
            self.log_info(format!(
                "EventMemberJoin: {} {}",
                member.name, member.address
            ));
            self.outputs.events.push(MemberEvent::Joined(member));
            return;
        };
        if existing.address != address && existing.is_live() {
            // Two live processes claim one name: keep the one we know rather
            // than flap between them (memberlist: "Conflicting address").
            self.log(
                log::Level::Error,
                format!(
                    "Conflicting address for {name}. Mine: {} Theirs: {address}",
                    existing.address
                ),
            );
            return;
        }
        // Equal incarnation is stale: in particular a dead or left claim at
        // incarnation i beats an alive one at i, so a departed member is
        // never resurrected by old gossip, only by its own refutation.
        if incarnation <= existing.incarnation {
            return;
        }
        let was_live = existing.is_live();
        let changed = existing.address != address || existing.tags != *tags;
        let member = Member {
            name: name.to_owned(),
            address: address.to_owned(),
            incarnation,
            status: MemberStatus::Alive,
            tags: tags.clone(),
            status_changed_ms: if existing.status == MemberStatus::Alive {
                existing.status_changed_ms
            } else {
                now_ms
            },
        };
        self.members.insert(name.to_owned(), member.clone());
        self.suspicions.remove(name);
        self.broadcast_alive_of(&member);
        if !was_live {
            self.members_learned += 1;
            self.log_info(format!(
                "EventMemberJoin: {} {}",
                member.name, member.address
            ));
            self.outputs.events.push(MemberEvent::Joined(member));
        } else if changed {
            self.log_info(format!("EventMemberUpdate: {}", member.name));
            self.outputs.events.push(MemberEvent::Updated(member));
        }
    }

    fn on_alive_about_self(&mut self, incarnation: u64, address: &str, tags: &Tags) {
        if self.leave_started_ms.is_some() {
            return;
        }
        let local = self.local_member();
        if incarnation < local.incarnation {
            return;
        }
        if incarnation == local.incarnation && local.address == address && local.tags == *tags {
            return;
        }
        // Someone claims to be us with a newer or different record: a stale
        // view of a previous run of this node, or a conflict. Re-assert.
        self.log(
            log::Level::Warn,
            format!(
                "Refuting an alive message for '{}' ({address}) incarnation {incarnation}",
                self.config.name
            ),
        );
        self.refute(incarnation);
    }

    /// memberlist's suspectNode.
    pub(super) fn on_suspect(&mut self, incarnation: u64, name: &str, accuser: &str, now_ms: u64) {
        let Some(existing) = self.members.get(name) else {
            return;
        };
        if incarnation < existing.incarnation {
            if name == self.config.name
                && self.leave_started_ms.is_none()
                && !self.broadcasts.contains(name)
            {
                // The accuser has not heard our refutation yet (it was lost,
                // or its retransmissions ran out): send it again.
                let local = self.local_member().clone();
                self.broadcast_alive_of(&local);
            }
            return;
        }
        if existing.status == MemberStatus::Suspect {
            // Lifeguard: an independent accuser shortens the timer; gossip
            // the new confirmation so others' timers shrink too.
            if let Some(suspicion) = self.suspicions.get_mut(name)
                && suspicion.confirm(accuser)
            {
                let message = GossipMessage::Suspect {
                    incarnation,
                    name: name.to_owned(),
                    from: accuser.to_owned(),
                };
                self.broadcasts.push(name, message);
            }
            return;
        }
        if !existing.is_live() {
            return;
        }
        if name == self.config.name {
            if self.leave_started_ms.is_some() {
                return;
            }
            self.log(
                log::Level::Warn,
                format!("Refuting a suspect message (from: {accuser})"),
            );
            self.refute(incarnation);
            return;
        }
        let members = self.members.len();
        let member = self.members.get_mut(name).expect("looked up above");
        member.status = MemberStatus::Suspect;
        member.incarnation = incarnation;
        member.status_changed_ms = now_ms;
        // Wanting more confirmations than there are members to give them
        // would keep the timer at its maximum forever.
        let mut k = self.config.suspicion_mult.saturating_sub(2);
        if members.saturating_sub(2) < k as usize {
            k = 0;
        }
        let min_ms = self.config.suspicion_min_ms(members);
        let max_ms = self.config.suspicion_max_ms(members);
        self.suspicions.insert(
            name.to_owned(),
            Suspicion::new(accuser, k, min_ms, max_ms, now_ms),
        );
        self.probe.probe_soon(name);
        self.broadcasts.push(
            name,
            GossipMessage::Suspect {
                incarnation,
                name: name.to_owned(),
                from: accuser.to_owned(),
            },
        );
    }

    /// memberlist's deadNode, for both failure and graceful leave.
    pub(super) fn on_departure(
        &mut self,
        incarnation: u64,
        name: &str,
        accuser: &str,
        departure: Departure,
        now_ms: u64,
    ) {
        let Some(existing) = self.members.get(name) else {
            return;
        };
        if incarnation < existing.incarnation {
            return;
        }
        match (existing.status, departure) {
            (MemberStatus::Left, _) | (MemberStatus::Dead, Departure::Dead) => return,
            _ => {}
        }
        if name == self.config.name && self.leave_started_ms.is_none() {
            self.log(
                log::Level::Warn,
                format!("Refuting a dead message (from: {accuser})"),
            );
            self.refute(incarnation);
            return;
        }
        let member = self.members.get_mut(name).expect("looked up above");
        member.incarnation = incarnation;
        member.status = match departure {
            Departure::Dead => MemberStatus::Dead,
            Departure::Left => MemberStatus::Left,
        };
        member.status_changed_ms = now_ms;
        let member = member.clone();
        self.suspicions.remove(name);
        let message = match departure {
            Departure::Dead => GossipMessage::Dead {
                incarnation,
                name: name.to_owned(),
                from: accuser.to_owned(),
            },
            Departure::Left => GossipMessage::Left {
                incarnation,
                name: name.to_owned(),
            },
        };
        self.broadcasts.push(name, message);
        match departure {
            Departure::Dead => {
                self.log_info(format!(
                    "EventMemberFailed: {} {}",
                    member.name, member.address
                ));
                self.outputs.events.push(MemberEvent::Failed(member));
            }
            Departure::Left => {
                self.log_info(format!(
                    "EventMemberLeave: {} {}",
                    member.name, member.address
                ));
                self.outputs.events.push(MemberEvent::Left(member));
            }
        }
    }

    /// Re-asserts that we are alive with an incarnation above the accused
    /// one. Having to refute is a sign others cannot hear us: Lifeguard
    /// counts it against our health.
    fn refute(&mut self, accused_incarnation: u64) {
        let local = self.local_mut();
        local.incarnation = local.incarnation.max(accused_incarnation).saturating_add(1);
        let local = local.clone();
        self.awareness.apply_delta(1);
        self.broadcast_alive_of(&local);
    }

    fn expire_suspicions(&mut self, now_ms: u64) {
        let expired: Vec<(String, u32)> = self
            .suspicions
            .iter()
            .filter(|(_, s)| now_ms >= s.deadline_ms())
            .map(|(name, s)| (name.clone(), s.confirmations()))
            .collect();
        for (name, confirmations) in expired {
            self.suspicions.remove(&name);
            let Some(member) = self.members.get(&name) else {
                continue;
            };
            if member.status != MemberStatus::Suspect {
                continue;
            }
            let incarnation = member.incarnation;
            self.log_info(format!(
                "Marking {name} as failed, suspect timeout reached ({confirmations} peer confirmations)"
            ));
            let local_name = self.config.name.clone();
            self.on_departure(incarnation, &name, &local_name, Departure::Dead, now_ms);
        }
    }

    fn reap(&mut self, now_ms: u64) {
        let reaped: Vec<String> = self
            .members
            .values()
            .filter(|m| m.name != self.config.name)
            .filter(|m| match m.status {
                MemberStatus::Left => {
                    now_ms.saturating_sub(m.status_changed_ms) >= self.config.reap_left_ms
                }
                MemberStatus::Dead => {
                    now_ms.saturating_sub(m.status_changed_ms) >= self.config.reap_dead_ms
                }
                _ => false,
            })
            .map(|m| m.name.clone())
            .collect();
        for name in reaped {
            self.reap_member(&name);
        }
    }

    /// Forgets a dead or left member.
    pub(super) fn reap_member(&mut self, name: &str) {
        debug_assert_ne!(name, self.config.name, "the local member is never reaped");
        let Some(member) = self.members.remove(name) else {
            return;
        };
        self.probe
            .remove_targets(&BTreeSet::from([name.to_owned()]));
        self.log_info(format!("EventMemberReap: {name}"));
        self.outputs.events.push(MemberEvent::Reaped(member));
    }

    // ---- helpers ----

    pub(super) fn local_mut(&mut self) -> &mut Member {
        self.members
            .get_mut(&self.config.name)
            .expect("the local member is never removed")
    }

    pub(super) fn broadcast_alive_of(&mut self, member: &Member) {
        let message = GossipMessage::Alive {
            incarnation: member.incarnation,
            name: member.name.clone(),
            address: member.address.clone(),
            tags: member.tags.clone(),
        };
        self.broadcasts.push(&member.name, message);
    }

    pub(super) fn next_seq_no(&mut self) -> u32 {
        let seq_no = self.next_seq_no;
        self.next_seq_no = self.next_seq_no.wrapping_add(1);
        seq_no
    }

    pub(super) fn retransmit_limit(&self) -> u32 {
        self.config.retransmit_limit(self.members.len())
    }

    pub(super) fn log(&mut self, level: log::Level, message: String) {
        self.outputs.log_lines.push(LogLine { level, message });
    }

    pub(super) fn log_info(&mut self, message: String) {
        self.log(log::Level::Info, message);
    }
}
