//! What a server tells about its Raft side: the `info` section and the
//! identity fields the leader's reconciliation reads.

use crate::raft::Role;
use crate::wire::raft_message::Suffrage;

use crate::agent::cluster::info::RaftInfo;
use crate::agent::server::RaftServer;
use crate::agent::server::committed_configuration::committed_servers;
use crate::wire::client_message::ServerIdentity;
use crate::wire::client_operator::{RaftConfigurationView, RaftServerView};

impl RaftServer {
    pub fn info(&self) -> RaftInfo {
        let status = self.node.status();
        let state = match status.role {
            Role::Leader => "leader",
            Role::Candidate | Role::PreCandidate => "candidate",
            Role::Follower
                if !self
                    .node
                    .latest_configuration()
                    .servers
                    .iter()
                    .any(|s| s.id == status.id && s.suffrage == Suffrage::Voter) =>
            {
                "non-voter"
            }
            Role::Follower => "follower",
        };
        RaftInfo {
            state: state.into(),
            term: status.term,
            commit_index: status.commit_index,
            applied_index: self.state.applied_index(),
            last_log_index: status.last_log_index,
            last_snapshot_index: status.snapshot_index,
            num_peers: status.configuration.servers.len().saturating_sub(1),
        }
    }

    /// Extra `node info` fields for the operator: the server's ID, cluster,
    /// whether it holds Raft data, the leader it knows.
    pub fn identity_fields(&self) -> Vec<(String, String)> {
        vec![
            ("id".into(), format!("{:016x}", self.id())),
            ("cluster_id".into(), format!("{:032x}", self.cluster_id())),
            (
                "has_data".into(),
                (self.had_data_at_start || self.node.term() > 0).to_string(),
            ),
            (
                "leader".into(),
                self.node
                    .leader()
                    .map(|l| format!("{l:016x}"))
                    .unwrap_or_default(),
            ),
            ("blocked_queries".into(), self.blocked.len().to_string()),
            (
                "last_snapshot_stall_us".into(),
                self.last_snapshot_stall
                    .map(|stall| stall.as_micros().to_string())
                    .unwrap_or_default(),
            ),
        ]
    }

    /// This server's answer to another server's identity query.
    pub fn identity(&self, node_name: &str) -> ServerIdentity {
        ServerIdentity {
            node_name: node_name.to_string(),
            raft_id: self.id(),
            cluster_id: self.cluster_id(),
            has_raft_data: self.had_data_at_start || self.node.term() > 0,
            committed_servers: committed_servers(&self.node),
        }
    }
}

impl RaftServer {
    /// `/v1/operator/raft/configuration` from this server's latest
    /// configuration (the leader's when routed there).
    pub fn configuration_view(&self) -> RaftConfigurationView {
        let node = &self.node;
        let leader = node.leader();
        let servers = node
            .latest_configuration()
            .servers
            .iter()
            .map(|server| RaftServerView {
                id: server.id,
                name: server.name.clone(),
                address: server.address.clone(),
                leader: Some(server.id) == leader,
                voter: server.suffrage == Suffrage::Voter,
                last_index: node.known_last_index(server.id),
            })
            .collect();
        RaftConfigurationView {
            index: node.latest_configuration_index(),
            servers,
        }
    }
}
