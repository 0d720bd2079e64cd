//! Hostile claims fed to one gossip state machine: absurd incarnations,
//! addresses that are not IP:PORT, empty names, maximum-size push/pulls.
//! The state machine must stay bounded and never panic.

use concord::gossip::{
    Gossip, GossipConfig, GossipMessage, MAX_INCARNATION, MemberState, MemberStatus, PushPull,
};
use concord::wire::gossip_message::MAX_PUSH_PULL_MEMBERS;

use crate::support::gossip_fixture::{alive, tags};

const PEER: &str = "10.0.0.9:8300";

fn gossip() -> Gossip {
    let mut g = Gossip::new(GossipConfig::lan("n0", "10.0.0.1:8300", tags()), 7, 0);
    g.take_outputs();
    g
}

#[test]
fn claims_about_self_at_the_maximum_incarnation_are_ignored_without_overflow() {
    for claim in [
        GossipMessage::Suspect {
            incarnation: u64::MAX,
            name: "n0".into(),
            from: "x".into(),
        },
        GossipMessage::Dead {
            incarnation: u64::MAX,
            name: "n0".into(),
            from: "x".into(),
        },
        alive("n0", "10.0.0.66:8300", u64::MAX),
    ] {
        let mut g = gossip();
        g.receive_datagram(PEER, vec![claim], 0);
        assert_eq!(g.local_member().incarnation, 1);
        assert_eq!(g.local_member().status, MemberStatus::Alive);
        // Our own record can still be advanced afterwards.
        let mut new_tags = tags();
        new_tags.cluster_id = 5;
        g.set_local_tags(new_tags, 1);
        assert_eq!(g.local_member().incarnation, 2);
    }
}

#[test]
fn every_accepted_accusation_leaves_room_for_a_refutation_others_accept() {
    // The highest accusation we act on...
    let mut accused = gossip();
    accused.receive_datagram(
        PEER,
        vec![GossipMessage::Dead {
            incarnation: MAX_INCARNATION - 1,
            name: "n0".into(),
            from: "x".into(),
        }],
        0,
    );
    let refutation = accused.local_member().incarnation;
    assert_eq!(refutation, MAX_INCARNATION);
    // ...is refuted with an incarnation a peer that believed it accepts.
    let mut peer = Gossip::new(GossipConfig::lan("n1", "10.0.0.2:8300", tags()), 3, 0);
    peer.receive_datagram(PEER, vec![alive("n0", "10.0.0.1:8300", 1)], 0);
    peer.receive_datagram(
        PEER,
        vec![GossipMessage::Dead {
            incarnation: MAX_INCARNATION - 1,
            name: "n0".into(),
            from: "x".into(),
        }],
        0,
    );
    assert_eq!(peer.member("n0").unwrap().status, MemberStatus::Dead);
    peer.receive_datagram(PEER, vec![alive("n0", "10.0.0.1:8300", refutation)], 0);
    assert_eq!(peer.member("n0").unwrap().status, MemberStatus::Alive);
    // An accusation at the limit itself is ignored: its refutation would not be.
    let mut g = gossip();
    g.receive_datagram(
        PEER,
        vec![GossipMessage::Suspect {
            incarnation: MAX_INCARNATION,
            name: "n0".into(),
            from: "x".into(),
        }],
        0,
    );
    assert_eq!(g.local_member().incarnation, 1);
}

#[test]
fn a_member_at_an_absurd_incarnation_is_not_added() {
    let mut g = gossip();
    g.receive_datagram(PEER, vec![alive("n1", "10.0.0.2:8300", u64::MAX)], 0);
    assert!(g.member("n1").is_none());
}

#[test]
fn a_member_whose_address_is_not_ip_port_is_not_added() {
    let mut g = gossip();
    for (name, address) in [
        ("a", "not-an-address"),
        ("b", "10.0.0.2"),
        ("c", "10.0.0.2:0"),
        ("d", "example.com:8300"),
        ("e", ""),
    ] {
        g.receive_datagram(PEER, vec![alive(name, address, 1)], 0);
        assert!(g.member(name).is_none(), "{address:?} accepted");
    }
    g.receive_datagram(PEER, vec![alive("f", "[::1]:8300", 1)], 0);
    assert!(g.member("f").is_some());
}

#[test]
fn a_member_with_an_empty_name_is_not_added() {
    let mut g = gossip();
    g.receive_datagram(PEER, vec![alive("", "10.0.0.2:8300", 1)], 0);
    assert!(g.member("").is_none());
}

#[test]
fn an_indirect_ping_to_a_target_that_is_not_ip_port_is_not_relayed() {
    let mut g = gossip();
    g.receive_datagram(
        PEER,
        vec![GossipMessage::IndirectPing {
            seq_no: 1,
            target_name: "n5".into(),
            target_address: "victim.example:53".into(),
            source_name: "n9".into(),
            want_nack: true,
        }],
        0,
    );
    let outputs = g.take_outputs();
    assert!(
        outputs
            .datagrams
            .iter()
            .all(|(to, _)| to != "victim.example:53")
    );
}

fn member_state(i: usize, status: MemberStatus, address: String) -> MemberState {
    MemberState {
        name: format!("m{i}"),
        address,
        incarnation: 1,
        status,
        tags: tags(),
    }
}

/// `count` alive members m0.., each at its own 10.x.y.z address.
fn alive_at_distinct_addresses(count: usize) -> Vec<MemberState> {
    (0..count)
        .map(|i| {
            let address = format!("10.{}.{}.{}:8300", i / 65536 + 1, (i / 256) % 256, i % 256);
            member_state(i, MemberStatus::Alive, address)
        })
        .collect()
}

#[test]
fn a_maximum_size_push_pull_keeps_the_member_table_and_broadcast_queue_bounded() {
    let mut g = gossip();
    let config = g.config().clone();
    let members = alive_at_distinct_addresses(MAX_PUSH_PULL_MEMBERS);
    let push_pull = PushPull {
        join: true,
        from_name: "m0".into(),
        members,
    };
    g.receive_push_pull(PEER, push_pull, 0).unwrap();
    assert_eq!(g.members().count(), config.max_members);
    assert!(g.pending_broadcasts() <= config.max_queued_broadcasts);
}

#[test]
fn a_push_pull_of_bad_records_is_ignored_with_one_log_line() {
    let mut g = gossip();
    let members = (0..1000)
        .map(|i| member_state(i, MemberStatus::Alive, "nowhere".into()))
        .collect();
    let push_pull = PushPull {
        join: false,
        from_name: "m0".into(),
        members,
    };
    g.receive_push_pull(PEER, push_pull, 0).unwrap();
    assert_eq!(g.members().count(), 1);
    let outputs = g.take_outputs();
    assert_eq!(outputs.log_lines.len(), 1, "{:?}", outputs.log_lines);
}

#[test]
fn a_full_table_of_dead_members_is_reaped_in_one_pass() {
    let mut g = gossip();
    let config = g.config().clone();
    let count = config.max_members - 1;
    let members = alive_at_distinct_addresses(count);
    let push_pull = PushPull {
        join: false,
        from_name: "m0".into(),
        members,
    };
    g.receive_push_pull(PEER, push_pull, 0).unwrap();
    assert_eq!(g.members().count(), config.max_members);
    let dead = (0..count)
        .map(|i| member_state(i, MemberStatus::Left, String::new()))
        .collect();
    let push_pull = PushPull {
        join: false,
        from_name: "outsider".into(),
        members: dead,
    };
    g.receive_push_pull(PEER, push_pull, 1).unwrap();
    g.tick(1 + config.reap_left_ms + config.probe_interval_ms);
    assert_eq!(g.members().count(), 1);
    // Probing goes on over the emptied order without panicking.
    g.tick(2 + config.reap_left_ms + 10 * config.probe_interval_ms);
}
