//! Elections (paper §5.2) with Pre-Vote (dissertation §9.6): how a node
//! campaigns, grants a vote, counts votes and becomes leader.

use crate::wire::raft_message::{Entry, EntryKind, NodeId, RaftBody, RaftMessage};

use super::event::RaftEvent;
use super::node::{MAX_TERM, RaftNode, Role};

impl RaftNode {
    /// Election timeout: poll first when Pre-Vote is on.
    pub(crate) fn start_election(&mut self) {
        if self.config.pre_vote {
            self.pre_campaign();
        } else {
            self.campaign(false);
        }
    }

    /// Dissertation §9.6: ask whether we could win before bumping the term,
    /// so a node that was partitioned away cannot force a healthy leader out.
    fn pre_campaign(&mut self) {
        let Some(term) = self.next_term() else {
            self.event(RaftEvent::TermExhausted { term: self.term });
            return;
        };
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.id, true);
        if self.tally().0 >= self.quorum() {
            self.campaign(false);
            return;
        }
        for voter in self.voters() {
            if voter == self.id {
                continue;
            }
            let mut msg = self.message(voter, self.vote_request(true, false));
            msg.term = term;
            self.messages.push(msg);
        }
    }

    /// The term a campaign would use; `None` once MAX_TERM is reached (a
    /// node never goes past it, so terms never wrap).
    fn next_term(&self) -> Option<u64> {
        assert!(self.term <= MAX_TERM, "terms stay within MAX_TERM");
        (self.term < MAX_TERM).then(|| self.term + 1)
    }

    fn vote_request(&self, pre_vote: bool, leadership_transfer: bool) -> RaftBody {
        RaftBody::RequestVote {
            pre_vote,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            leadership_transfer,
        }
    }

    /// Paper §5.2: new term, vote for ourselves, ask every other voter.
    pub(crate) fn campaign(&mut self, leadership_transfer: bool) {
        assert!(self.promotable(), "only a voter campaigns");
        let Some(term) = self.next_term() else {
            self.event(RaftEvent::TermExhausted { term: self.term });
            return;
        };
        self.term = term;
        self.voted_for = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.reset_election_timer();
        self.votes.clear();
        self.votes.insert(self.id, true);
        self.event(RaftEvent::EnteringCandidateState { term: self.term });
        if self.tally().0 >= self.quorum() {
            self.become_leader();
            return;
        }
        let body = self.vote_request(false, leadership_transfer);
        for voter in self.voters() {
            if voter != self.id {
                self.send(voter, body.clone());
            }
        }
    }

    /// (granted, refused) among the voters of the latest configuration.
    fn tally(&self) -> (usize, usize) {
        let voters = self.voters();
        let granted = self
            .votes
            .iter()
            .filter(|(id, granted)| **granted && voters.contains(id))
            .count();
        let refused = self
            .votes
            .iter()
            .filter(|(id, granted)| !**granted && voters.contains(id))
            .count();
        (granted, refused)
    }

    /// Paper Figure 2, RequestVote receiver: one vote per term, only for a
    /// candidate whose log is at least as up-to-date as ours (§5.4.1).
    pub(crate) fn handle_vote_request(
        &mut self,
        from: NodeId,
        msg_term: u64,
        pre_vote: bool,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        let can_vote = self.voted_for == Some(from)
            || (self.voted_for.is_none() && self.leader.is_none())
            || (pre_vote && msg_term > self.term);
        let up_to_date = last_log_term > self.log.last_term()
            || (last_log_term == self.log.last_term() && last_log_index >= self.log.last_index());
        if can_vote && up_to_date {
            if pre_vote {
                // Granted pre-votes carry the term asked for, so the
                // pre-candidate recognises them; nothing here changes.
                let mut msg = self.message(
                    from,
                    RaftBody::RequestVoteResponse {
                        pre_vote: true,
                        granted: true,
                    },
                );
                msg.term = msg_term;
                self.messages.push(msg);
            } else {
                self.voted_for = Some(from);
                self.reset_election_timer();
                // The vote goes out only once it is durable (Figure 2):
                // otherwise a crash could let us vote twice in this term.
                self.send_after_persist(
                    from,
                    RaftBody::RequestVoteResponse {
                        pre_vote: false,
                        granted: true,
                    },
                );
            }
        } else {
            self.send(
                from,
                RaftBody::RequestVoteResponse {
                    pre_vote,
                    granted: false,
                },
            );
        }
    }

    pub(crate) fn step_candidate(&mut self, msg: RaftMessage) {
        match msg.body {
            RaftBody::AppendEntries { .. } | RaftBody::InstallSnapshot { .. } => {
                // Paper §5.2: a leader of our term exists; yield to it.
                self.become_follower(msg.term, Some(msg.from));
                self.step_follower(msg);
            }
            RaftBody::RequestVoteResponse { pre_vote, granted } => {
                let expected = self.role == Role::PreCandidate;
                if pre_vote != expected {
                    return;
                }
                // A pre-vote is for term + 1; a real vote for this term.
                let wanted_term = if pre_vote {
                    match self.next_term() {
                        Some(term) => term,
                        None => return,
                    }
                } else {
                    self.term
                };
                if msg.term != wanted_term && granted {
                    return;
                }
                self.votes.entry(msg.from).or_insert(granted);
                let (yes, no) = self.tally();
                let quorum = self.quorum();
                if yes >= quorum {
                    if pre_vote {
                        self.campaign(false);
                    } else {
                        self.become_leader();
                    }
                } else if no >= quorum {
                    let term = self.term;
                    self.become_follower(term, None);
                }
            }
            _ => {}
        }
    }

    /// Paper §5.2 and §8: a new leader appends a no-op so that an entry of
    /// its term commits, which commits everything before it (Figure 8).
    pub(crate) fn become_leader(&mut self) {
        assert_eq!(
            self.role,
            Role::Candidate,
            "only a candidate becomes leader"
        );
        let tally = self.tally().0;
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.lead_transferee = None;
        self.lease.new_term();
        self.heartbeat_elapsed_ticks = 0;
        self.election_elapsed_ticks = 0;
        self.progress.clear();
        self.uncommitted_bytes = 0;
        self.event(RaftEvent::ElectionWon { tally });
        self.event(RaftEvent::EnteringLeaderState { term: self.term });
        self.event(RaftEvent::LeadershipAcquired);
        let index = self.log.last_index() + 1;
        self.term_start_index = index;
        self.log.append(vec![Entry {
            term: self.term,
            index,
            kind: EntryKind::Noop,
            data: bytes::Bytes::new(),
        }]);
        self.sync_progress_with_configuration();
        self.broadcast_pending = true;
    }
}
