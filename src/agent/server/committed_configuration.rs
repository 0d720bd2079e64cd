//! The committed Raft configuration, as a server's identity reports it for
//! a leaving server's removal check.
//!
//! A server uses the latest configuration in its log, committed or not
//! (dissertation §4.1); `node peers` shows that one. But a removal that is
//! only appended can still be lost (the leader crashes before committing it
//! and the next leader's log still lists the server), so a leaving server
//! waits until a configuration without it is *committed* before it exits:
//! otherwise it may exit while still counted in a quorum it can no longer
//! join.

use crate::raft::RaftNode;
use crate::wire::client_message::{MAX_IDENTITY_SERVERS, ServerIdentity};
use crate::wire::raft_message::{Configuration, NodeId};

/// The configuration in effect at the core's applied index: every entry
/// through it is committed, so this configuration is too (it may trail the
/// newest committed one by the entries not yet applied, which only delays a
/// confirmation, never makes it wrong).
pub fn committed_configuration(node: &RaftNode) -> Option<Configuration> {
    node.snapshot_meta(node.status().applied_index)
        .map(|meta| meta.configuration)
}

/// The committed configuration's server IDs, as an identity carries them;
/// `None` when unknown (or too many to carry, which proves nothing).
pub fn committed_servers(node: &RaftNode) -> Option<Vec<NodeId>> {
    let configuration = committed_configuration(node)?;
    let ids: Vec<NodeId> = configuration.servers.iter().map(|s| s.id).collect();
    (ids.len() <= MAX_IDENTITY_SERVERS).then_some(ids)
}

/// True when a server's identity shows a committed configuration that does
/// not list `id`. An unknown configuration proves nothing.
pub fn removal_is_committed(identity: &ServerIdentity, id: NodeId) -> bool {
    identity
        .committed_servers
        .as_ref()
        .is_some_and(|servers| !servers.contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{RaftConfig, RestoredState};
    use crate::wire::raft_message::{ServerEntry, Suffrage};

    fn run_until_quiet(node: &mut RaftNode) {
        for _ in 0..100 {
            if !node.has_ready() {
                return;
            }
            let ready = node.ready();
            node.advance(&ready);
        }
        panic!("the node never went quiet");
    }

    fn info_of(node: &RaftNode) -> ServerIdentity {
        ServerIdentity {
            node_name: "a".into(),
            raft_id: node.id(),
            cluster_id: node.cluster_id(),
            has_raft_data: true,
            committed_servers: committed_servers(node),
        }
    }

    #[test]
    fn a_removal_counts_only_once_its_configuration_is_committed() {
        let mut leader = RaftNode::new(
            RaftConfig::new(1, "a", "127.0.0.1:1"),
            RestoredState::default(),
            7,
        )
        .unwrap();
        leader.bootstrap();
        run_until_quiet(&mut leader);
        let leaver = 2;
        leader
            .add_server(ServerEntry {
                id: leaver,
                name: "b".into(),
                address: "127.0.0.1:2".into(),
                suffrage: Suffrage::NonVoter,
            })
            .unwrap();
        run_until_quiet(&mut leader);
        assert!(!removal_is_committed(&info_of(&leader), leaver));

        leader.remove_server(leaver).unwrap();
        // Appended, not yet persisted nor committed: the latest
        // configuration no longer lists the leaver, the committed one does.
        assert!(
            !leader
                .latest_configuration()
                .servers
                .iter()
                .any(|s| s.id == leaver)
        );
        assert!(!removal_is_committed(&info_of(&leader), leaver));

        run_until_quiet(&mut leader);
        assert!(removal_is_committed(&info_of(&leader), leaver));
        assert!(!removal_is_committed(&info_of(&leader), 1));
    }

    #[test]
    fn an_unknown_configuration_proves_nothing() {
        let identity = |servers: Option<Vec<NodeId>>| ServerIdentity {
            node_name: "a".into(),
            raft_id: 1,
            cluster_id: 0,
            has_raft_data: true,
            committed_servers: servers,
        };
        assert!(!removal_is_committed(&identity(None), 2));
        assert!(!removal_is_committed(&identity(Some(vec![1, 2])), 2));
        assert!(removal_is_committed(&identity(Some(vec![1])), 2));
    }
}
