//! Full state exchange over TCP (purpose gossip-sync): joining, and the
//! periodic anti-entropy that repairs whatever datagram gossip missed.
//! Also the graceful leave. The refusals at join live here: two
//! bootstrapped clusters must never merge, and a live member's name cannot
//! be taken by another address.

use super::claim_checks::{Claim, claim_problem};
use super::membership::{Departure, Gossip};
use crate::wire::gossip_message::{JoinRefusal, MemberState, MemberStatus, PushPull};

impl Gossip {
    /// Starts joining through the given `IP:PORT` addresses: one push/pull
    /// per address appears in the outputs; each answer goes to
    /// [`Gossip::receive_push_pull_reply`].
    pub fn join(&mut self, addresses: &[String]) {
        for address in addresses {
            let push_pull = self.local_push_pull(true);
            self.outputs.push_pulls.push((address.clone(), push_pull));
        }
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
        self.merge_remote_state(from, push_pull.members, now_ms);
        Ok(())
    }

    /// Records that a push/pull we sent was refused, for the operator.
    pub fn receive_join_refusal(&mut self, from: &str, refusal: &JoinRefusal) {
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
            let push_pull = self.local_push_pull(false);
            self.outputs.push_pulls.push((peer.address, push_pull));
        }
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
