//! Membership changes one server at a time (dissertation §4.1): a change
//! takes effect when appended; a joining server starts as a non-voter and is
//! promoted once caught up (§4.2.1).

use crate::wire::configuration::configuration_to_bytes;
use crate::wire::raft_message::{Configuration, EntryKind, NodeId, ServerEntry, Suffrage};

use super::error::MembershipError;
use super::event::RaftEvent;
use super::node::{RaftNode, Role};
use super::progress::Progress;

impl RaftNode {
    /// Adds a server. It joins as a non-voter; if `server.suffrage` is
    /// Voter it is promoted once its log is within
    /// `promotion_threshold_entries` of the leader's. Returns the index of
    /// the configuration entry.
    pub fn add_server(&mut self, server: ServerEntry) -> Result<u64, MembershipError> {
        self.check_can_change_configuration()?;
        let mut configuration = self.latest_configuration().clone();
        if let Some(existing) = configuration.servers.iter().find(|s| s.id == server.id) {
            if existing.suffrage == Suffrage::NonVoter && server.suffrage == Suffrage::Voter {
                self.pending_promotions.insert(server.id);
                let (index, _) = self.log.latest_configuration();
                return Ok(index);
            }
            return Err(MembershipError::AlreadyMember);
        }
        if server.id == 0 {
            return Err(MembershipError::NotMember);
        }
        if server.suffrage == Suffrage::Voter {
            self.pending_promotions.insert(server.id);
        }
        configuration.servers.push(ServerEntry {
            suffrage: Suffrage::NonVoter,
            ..server
        });
        Ok(self.append_configuration(configuration))
    }

    /// Removes a server (possibly the leader itself: it keeps leading until
    /// the change commits, then steps down, dissertation §4.2.2).
    pub fn remove_server(&mut self, id: NodeId) -> Result<u64, MembershipError> {
        self.check_can_change_configuration()?;
        let mut configuration = self.latest_configuration().clone();
        let before = configuration.servers.len();
        configuration.servers.retain(|s| s.id != id);
        if configuration.servers.len() == before {
            return Err(MembershipError::NotMember);
        }
        if !configuration
            .servers
            .iter()
            .any(|s| s.suffrage == Suffrage::Voter)
        {
            return Err(MembershipError::LastVoter);
        }
        self.pending_promotions.remove(&id);
        Ok(self.append_configuration(configuration))
    }

    fn check_can_change_configuration(&self) -> Result<(), MembershipError> {
        if self.role != Role::Leader {
            return Err(MembershipError::NotLeader {
                leader: self.leader,
            });
        }
        if self.lead_transferee.is_some() {
            return Err(MembershipError::TransferInProgress);
        }
        if !self.configuration_change_allowed() {
            return Err(MembershipError::ChangeInProgress);
        }
        Ok(())
    }

    /// One change at a time, and never before the leader committed an
    /// entry of its own term (the single-server-change bug, dissertation
    /// §4.1 erratum: an older uncommitted change could otherwise come back).
    fn configuration_change_allowed(&self) -> bool {
        let (config_index, _) = self.log.latest_configuration();
        self.log.commit >= self.term_start_index && config_index <= self.log.commit
    }

    fn append_configuration(&mut self, configuration: Configuration) -> u64 {
        let index = self.append_own_entry(
            EntryKind::Configuration,
            configuration_to_bytes(&configuration).into(),
        );
        self.configuration_changed();
        index
    }

    /// Promotes a caught-up non-voter that asked to be a voter.
    pub(crate) fn maybe_promote(&mut self, id: NodeId) {
        if self.role != Role::Leader || !self.pending_promotions.contains(&id) {
            return;
        }
        let Some(progress) = self.progress.get(&id) else {
            return;
        };
        let behind = self.log.last_index().saturating_sub(progress.match_index);
        if behind > self.config.promotion_threshold_entries
            || !self.configuration_change_allowed()
            || self.lead_transferee.is_some()
        {
            return;
        }
        let mut configuration = self.latest_configuration().clone();
        let Some(server) = configuration.servers.iter_mut().find(|s| s.id == id) else {
            self.pending_promotions.remove(&id);
            return;
        };
        server.suffrage = Suffrage::Voter;
        let address = server.address.clone();
        self.pending_promotions.remove(&id);
        self.event(RaftEvent::PromotedToVoter { id, address });
        self.append_configuration(configuration);
    }

    /// The leader replicates to exactly the other servers of its latest
    /// configuration.
    pub(crate) fn sync_progress_with_configuration(&mut self) {
        let servers = self.latest_configuration().servers.clone();
        let next = self.log.last_index() + 1;
        for server in &servers {
            if server.id != self.id && !self.progress.contains_key(&server.id) {
                self.progress
                    .insert(server.id, Progress::new(next, server.address.clone()));
                self.event(RaftEvent::PeerAdded {
                    id: server.id,
                    address: server.address.clone(),
                });
                self.broadcast_pending = true;
            }
        }
        let removed: Vec<NodeId> = self
            .progress
            .keys()
            .copied()
            .filter(|id| !servers.iter().any(|s| s.id == *id))
            .collect();
        for id in removed {
            let address = self
                .progress
                .remove(&id)
                .map(|p| p.address)
                .unwrap_or_default();
            self.event(RaftEvent::PeerRemoved { id, address });
            if self.lead_transferee == Some(id) {
                self.lead_transferee = None;
            }
        }
        // Fewer voters can mean a smaller quorum that is already reached.
        self.maybe_commit();
    }
}
