//! The committed Raft configuration, as `node info` reports it for a leaving
//! server's removal check.
//!
//! A server uses the latest configuration in its log, committed or not
//! (dissertation §4.1); `node peers` shows that one. But a removal that is
//! only appended can still be lost (the leader crashes before committing it
//! and the next leader's log still lists the server), so a leaving server
//! waits until a configuration without it is *committed* before it exits:
//! otherwise it may exit while still counted in a quorum it can no longer
//! join.

use crate::raft::RaftNode;
use crate::wire::client_message::{InfoSection, MAX_TEXT_BYTES};
use crate::wire::raft_message::{Configuration, NodeId};

/// The `raft` section field listing the server IDs (hex, comma-separated)
/// of the committed configuration; empty when not known.
pub const COMMITTED_CONFIGURATION_FIELD: &str = "committed_configuration";

/// The configuration in effect at the core's applied index: every entry
/// through it is committed, so this configuration is too (it may trail the
/// newest committed one by the entries not yet applied, which only delays a
/// confirmation, never makes it wrong).
pub fn committed_configuration(node: &RaftNode) -> Option<Configuration> {
    node.snapshot_meta(node.status().applied_index)
        .map(|meta| meta.configuration)
}

/// The field's value: server IDs in hex, comma-separated. Empty (unknown)
/// when there is no committed configuration or the list would not fit an
/// info field.
pub fn committed_configuration_field(configuration: Option<&Configuration>) -> String {
    let Some(configuration) = configuration else {
        return String::new();
    };
    let ids: Vec<String> = configuration
        .servers
        .iter()
        .map(|s| format!("{:016x}", s.id))
        .collect();
    let value = ids.join(",");
    if value.len() > MAX_TEXT_BYTES {
        return String::new();
    }
    value
}

/// True when a server's `node info` answer shows a committed configuration
/// that does not list `id`. A missing, empty or malformed field proves
/// nothing.
pub fn removal_is_committed(sections: &[InfoSection], id: NodeId) -> bool {
    let Some(value) = sections
        .iter()
        .find(|s| s.name == "raft")
        .and_then(|s| {
            s.fields
                .iter()
                .find(|(k, _)| k == COMMITTED_CONFIGURATION_FIELD)
        })
        .map(|(_, v)| v)
    else {
        return false;
    };
    if value.is_empty() {
        return false;
    }
    let mut listed = false;
    for part in value.split(',') {
        match u64::from_str_radix(part, 16) {
            Ok(server) => listed |= server == id,
            Err(_) => return false,
        }
    }
    !listed
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

    fn info_of(node: &RaftNode) -> Vec<InfoSection> {
        vec![InfoSection {
            name: "raft".into(),
            fields: vec![(
                COMMITTED_CONFIGURATION_FIELD.into(),
                committed_configuration_field(committed_configuration(node).as_ref()),
            )],
        }]
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
    fn a_missing_or_malformed_field_proves_nothing() {
        let section = |value: &str| {
            vec![InfoSection {
                name: "raft".into(),
                fields: vec![(COMMITTED_CONFIGURATION_FIELD.into(), value.into())],
            }]
        };
        assert!(!removal_is_committed(&[], 2));
        assert!(!removal_is_committed(&section(""), 2));
        assert!(!removal_is_committed(&section("0000000000000001,zz"), 2));
        assert!(removal_is_committed(&section("0000000000000001"), 2));
    }
}
