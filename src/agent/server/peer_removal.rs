//! An operator's removal of a server from the Raft configuration
//! (`DELETE /v1/operator/raft/peer`, `node operator raft remove-peer`): the
//! leader appends the change and answers once it commits, as Consul answers
//! when raft's `RemoveServer` future completes. A server alive in gossip is
//! refused: the leader's reconciliation would add it straight back, so
//! removing it would only churn the configuration (stop it or let it leave).

use std::net::SocketAddr;

use crate::raft::MembershipError;
use crate::wire::client_message::{ErrorCode, PeerRef, RpcResult};
use crate::wire::raft_message::NodeId;

use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::reply::{reply_error, reply_result, rpc_error};
use crate::agent::seam::Context;
use crate::agent::server::{ProposalRefused, RaftServer};

/// The client waiting for a removal this leader appended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingRemoval {
    connection: ConnectionId,
    request_id: u64,
    id: NodeId,
    /// The configuration entry's index and the term it was appended in:
    /// the removal is done when that entry commits.
    index: u64,
    term: u64,
}

fn refused(message: String) -> ProposalRefused {
    ProposalRefused::Answer(rpc_error(ErrorCode::InvalidRequest, message))
}

fn describe(peer: &PeerRef) -> String {
    match peer {
        PeerRef::Id(id) => format!("id {id:016x}"),
        PeerRef::Address(address) => format!("address {address:?}"),
    }
}

impl RaftServer {
    /// Appends the removal of `peer` unless it is unknown or alive in
    /// gossip (`alive_servers`), and holds the request until it commits.
    pub(crate) fn start_removal(
        &mut self,
        connection: ConnectionId,
        request_id: u64,
        peer: &PeerRef,
        alive_servers: &[SocketAddr],
    ) -> Result<(), ProposalRefused> {
        if self.pending_removal.is_some() {
            return Err(refused("a peer removal is already in progress".into()));
        }
        let configuration = self.node.latest_configuration();
        let found = configuration.servers.iter().find(|s| match peer {
            PeerRef::Id(id) => s.id == *id,
            PeerRef::Address(address) => &s.address == address,
        });
        let Some(server) = found else {
            return Err(refused(format!(
                "{} was not found in the Raft configuration",
                describe(peer)
            )));
        };
        let alive = server
            .address
            .parse::<SocketAddr>()
            .is_ok_and(|address| alive_servers.contains(&address));
        if alive && server.id != self.id() {
            return Err(refused(format!(
                "server {} ({:016x}) at {} is alive: it would be added back; \
                 stop it or make it leave first",
                server.name, server.id, server.address
            )));
        }
        let id = server.id;
        let index = match self.node.remove_server(id) {
            Ok(index) => index,
            Err(MembershipError::NotLeader { .. }) => return Err(ProposalRefused::NotLeading),
            Err(MembershipError::LastVoter) => {
                return Err(refused("cannot remove the last voting server".into()));
            }
            Err(other) => {
                return Err(ProposalRefused::Answer(rpc_error(
                    ErrorCode::TooManyRequests,
                    format!("the configuration cannot change now ({other:?}); try again"),
                )));
            }
        };
        log::info!(target: "raft", "operator: removing server {id:016x} (configuration entry {index})");
        self.pending_removal = Some(PendingRemoval {
            connection,
            request_id,
            id,
            index,
            term: self.node.term(),
        });
        Ok(())
    }

    /// Answers the waiting removal once its entry commits, or when this
    /// server stops leading first (its fate is then unknown here). Runs
    /// after every turn's Ready.
    pub(super) fn settle_removal(&mut self, ctx: &mut Context) {
        let Some(pending) = self.pending_removal else {
            return;
        };
        // Committed in the term it was appended in, the entry is ours (a
        // later leader could have replaced an uncommitted one).
        let same_term = self.node.term() == pending.term;
        let answer = if self.node.commit_index() >= pending.index && same_term {
            Ok(RpcResult::PeerRemoved {
                id: pending.id,
                index: pending.index,
            })
        } else if !self.is_leader() || !same_term {
            Err(rpc_error(
                ErrorCode::NoLeader,
                "leadership lost; the removal may or may not have been applied".into(),
            ))
        } else {
            return;
        };
        self.pending_removal = None;
        match answer {
            Ok(result) => reply_result(ctx, pending.connection, pending.request_id, Ok(result)),
            Err(error) => reply_error(ctx, pending.connection, pending.request_id, error),
        }
    }
}
