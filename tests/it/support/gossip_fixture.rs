//! Building blocks for tests that drive one gossip state machine by hand:
//! the tags every test member carries and the alive claim about a member.

use concord::gossip::{GossipMessage, Role, Tags};

/// A server of `dc1` in no cluster yet, at the current build and protocol.
pub fn tags() -> Tags {
    Tags {
        role: Role::Server,
        datacenter: "dc1".into(),
        cluster_id: 0,
        build_version: "0.1.0".into(),
        protocol_version: 1,
    }
}

/// The claim that `name` at `address` is alive at `incarnation`.
pub fn alive(name: &str, address: &str, incarnation: u64) -> GossipMessage {
    GossipMessage::Alive {
        incarnation,
        name: name.into(),
        address: address.into(),
        tags: tags(),
    }
}
