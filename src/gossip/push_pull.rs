//! Full state exchange over TCP (purpose gossip-sync): joining, and the
//! periodic anti-entropy that repairs whatever datagram gossip missed.
//! Also the graceful leave. The refusals at join live here: two
//! bootstrapped clusters must never merge, and a live member's name cannot
//! be taken by another address.
//!
//! A push/pull carries the state of the moment it was sent. When members
//! were learned while it waited for its answer (`node join B C` sends both
//! at once; B's answer teaches us B before C has answered), the answering
//! member may know none of them, and gossip alone may never tell it: our
//! alive broadcast about B can run out its retransmissions before C is in
//! our table. memberlist avoids this by joining one address after another;
//! we keep the joins concurrent (a dead address must not delay the others)
//! and follow such an answer with one more push/pull carrying what we
//! learned meanwhile.

use super::claim_checks::{Claim, claim_problem};
use super::membership::{Departure, Gossip};
use crate::wire::gossip_message::{JoinRefusal, MemberState, MemberStatus, PushPull};

/// Bound on sent push/pulls remembered until their answer; past it the
/// oldest is forgotten (its answer then merges without a follow-up).
const MAX_PUSH_PULLS_AWAITING_ANSWER: usize = 1024;

impl Gossip {
    /// Starts joining through the given `IP:PORT` addresses: one push/pull
    /// per address appears in the outputs; each answer goes to
    /// [`Gossip::receive_push_pull_reply`], each failure to
    /// [`Gossip::push_pull_failed`].
    pub fn join(&mut self, addresses: &[String]) {
        for address in addresses {
            self.send_push_pull(address, true);
        }
    }

    /// A push/pull we sent to `address` got no answer (connection failed or
    /// timed out): forgets it, so a later answer from the same address is
    /// not taken for its.
    pub fn push_pull_failed(&mut self, address: &str) {
        self.take_awaiting_answer(address);
    }

    /// Answers a push/pull received over TCP from `from`: merges its state
    /// and returns ours, or refuses the join.
    pub fn receive_push_pull(
        &mut self,
        from: &str,
        push_pull: PushPull,
        now_ms: u64,
    ) -> Result<PushPull, JoinRefusal> {
        if let Err(refusal) = self.check_remote(from, &push_pull) {
            self.log(
                log::Level::Warn,
                format!(
                    "Refused push/pull from {} ({from}): {refusal}",
                    push_pull.from_name
                ),
            );
            return Err(refusal);
        }
        if push_pull.join {
            self.log_info(format!(
                "Join request from {} ({from})",
                push_pull.from_name
            ));
        }
        let reply = self.local_push_pull(false);
        self.merge_remote_state(from, push_pull.members, now_ms);
        Ok(reply)
    }

    /// Merges the answer to a push/pull we started. The joiner checks the
    /// cluster ID too, so the refusal holds whichever side is bootstrapped.
    pub fn receive_push_pull_reply(
        &mut self,
        from: &str,
        push_pull: PushPull,
        now_ms: u64,
    ) -> Result<(), JoinRefusal> {
        let sent_with_members_learned = self.take_awaiting_answer(from);
        if let Some(sender) = push_pull
            .members
            .iter()
            .find(|m| m.name == push_pull.from_name)
            && let Err(refusal) = self.check_cluster_id(sender)
        {
            self.log(
                log::Level::Error,
                format!(
                    "Not merging state from {} ({from}): {refusal}",
                    push_pull.from_name
                ),
            );
            return Err(refusal);
        }
        // Members learned from this answer are known to its sender; those
        // learned from other answers while it was on its way may not be.
        let learned_since_sent =
            sent_with_members_learned.is_some_and(|learned| self.members_learned > learned);
        self.merge_remote_state(from, push_pull.members, now_ms);
        if learned_since_sent && self.leave_started_ms.is_none() {
            self.log(
                log::Level::Debug,
                format!(
                    "Members were learned while the push/pull to {from} was answered: \
                     sending it our state again"
                ),
            );
            self.send_push_pull(from, false);
        }
        Ok(())
    }

    /// Records that a push/pull we sent was refused, for the operator.
    pub fn receive_join_refusal(&mut self, from: &str, refusal: &JoinRefusal) {
        self.take_awaiting_answer(from);
        self.log(
            log::Level::Error,
            format!("Join through {from} failed: {refusal}"),
        );
    }

    /// Announces a graceful leave. The agent keeps the state machine running
    /// until [`Gossip::is_leave_complete`] so the news can spread, then stops.
    /// Leaving is terminal: this node stops probing and never refutes again;
    /// a restarted agent starts a new state machine, which learns of its old
    /// "left" record when it joins and refutes it with a higher incarnation.
    pub fn leave(&mut self, now_ms: u64) {
        if self.leave_started_ms.is_some() {
            return;
        }
        self.leave_started_ms = Some(now_ms);
        let name = self.config.name.clone();
        let incarnation = self.local_member().incarnation;
        self.on_departure(incarnation, &name, &name, Departure::Left, now_ms);
    }

    /// True once the leave broadcast has been sent its full retransmit count,
    /// or `leave_propagate_ms` has passed, or there is nobody to tell.
    pub fn is_leave_complete(&self, now_ms: u64) -> bool {
        let Some(started_ms) = self.leave_started_ms else {
            return false;
        };
        let nobody_to_tell = self
            .members
            .values()
            .all(|m| m.name == self.config.name || !m.is_live());
        nobody_to_tell
            || !self.broadcasts.contains(&self.config.name)
            || now_ms.saturating_sub(started_ms) >= self.config.leave_propagate_ms
    }

    pub(super) fn periodic_push_pull(&mut self) {
        if self.leave_started_ms.is_some() {
            return;
        }
        let peer = self.random_members(1, |m| m.status == MemberStatus::Alive);
        if let Some(peer) = peer.into_iter().next() {
            self.send_push_pull(&peer.address, false);
        }
    }

    /// Queues a push/pull of our whole state to `address` and remembers how
    /// many members we had learned when it left.
    fn send_push_pull(&mut self, address: &str, join: bool) {
        let push_pull = self.local_push_pull(join);
        self.outputs
            .push_pulls
            .push((address.to_owned(), push_pull));
        if self.push_pulls_awaiting_answer.len() >= MAX_PUSH_PULLS_AWAITING_ANSWER {
            self.push_pulls_awaiting_answer.pop_front();
        }
        self.push_pulls_awaiting_answer
            .push_back((address.to_owned(), self.members_learned));
    }

    /// The oldest push/pull to `address` still waiting for its answer:
    /// answers on one connection come back in order.
    fn take_awaiting_answer(&mut self, address: &str) -> Option<u64> {
        let at = self
            .push_pulls_awaiting_answer
            .iter()
            .position(|(to, _)| to == address)?;
        self.push_pulls_awaiting_answer
            .remove(at)
            .map(|(_, learned)| learned)
    }

    fn local_push_pull(&self, join: bool) -> PushPull {
        PushPull {
            join,
            from_name: self.config.name.clone(),
            members: self.members.values().map(|m| m.to_state()).collect(),
        }
    }

    fn check_remote(&self, from: &str, push_pull: &PushPull) -> Result<(), JoinRefusal> {
        let Some(sender) = push_pull
            .members
            .iter()
            .find(|m| m.name == push_pull.from_name)
        else {
            return Ok(());
        };
        self.check_cluster_id(sender)?;
        if let Some(existing) = self.members.get(&sender.name)
            && existing.is_live()
            && existing.address != sender.address
        {
            return Err(JoinRefusal::NameConflict {
                name: sender.name.clone(),
                existing_address: existing.address.clone(),
                joining_address: if sender.address.is_empty() {
                    from.to_owned()
                } else {
                    sender.address.clone()
                },
            });
        }
        Ok(())
    }

    fn check_cluster_id(&self, sender: &MemberState) -> Result<(), JoinRefusal> {
        let ours = self.config.tags.cluster_id;
        let theirs = sender.tags.cluster_id;
        if ours != 0 && theirs != 0 && ours != theirs {
            return Err(JoinRefusal::ClusterIdMismatch { ours, theirs });
        }
        Ok(())
    }

    /// memberlist's mergeState. A remote "dead" only makes us suspect: we
    /// give the member the chance to refute that our own detector would.
    fn merge_remote_state(&mut self, from: &str, members: Vec<MemberState>, now_ms: u64) {
        let local_name = self.config.name.clone();
        // One log line for the whole payload, not one per bad member: a
        // maximum-size push/pull must not turn into 65 536 log lines.
        let mut ignored = 0usize;
        let mut first_problem = None;
        for m in members {
            let claim = match m.status {
                MemberStatus::Alive => Claim::Alive(&m.address),
                _ => Claim::Accusation,
            };
            if let Some(problem) = claim_problem(claim, m.incarnation, &m.name) {
                ignored += 1;
                first_problem.get_or_insert_with(|| format!("'{}': {problem}", m.name));
                continue;
            }
            match m.status {
                MemberStatus::Alive => {
                    self.on_alive(m.incarnation, &m.name, &m.address, &m.tags, now_ms)
                }
                MemberStatus::Left => {
                    self.on_departure(m.incarnation, &m.name, &m.name, Departure::Left, now_ms)
                }
                MemberStatus::Dead | MemberStatus::Suspect => {
                    self.on_suspect(m.incarnation, &m.name, &local_name, now_ms)
                }
            }
        }
        if let Some(problem) = first_problem {
            self.log(
                log::Level::Warn,
                format!(
                    "Ignored {ignored} member records in a push/pull from {from}, first {problem}"
                ),
            );
        }
    }
}
