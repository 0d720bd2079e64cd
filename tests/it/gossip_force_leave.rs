//! `force-leave` in the gossip state machine: only a failed member moves to
//! left, the news spreads, and `prune` forgets it here at once.

use concord::gossip::{
    ForceLeaveRefusal, Gossip, GossipConfig, GossipMessage, MemberEvent, MemberStatus,
};

use crate::support::gossip_fixture::{self, tags};

/// n0 knowing n1 and n2 alive; n2 then declared dead by n1.
fn with_failed_member() -> Gossip {
    let mut g = Gossip::new(GossipConfig::lan("n0", "10.0.0.0:8300", tags()), 7, 0);
    let alive = vec![
        gossip_fixture::alive("n1", "10.0.0.1:8300", 1),
        gossip_fixture::alive("n2", "10.0.0.2:8300", 1),
    ];
    g.receive_datagram("10.0.0.1:8300", alive, 0);
    let dead = GossipMessage::Dead {
        incarnation: 1,
        name: "n2".into(),
        from: "n1".into(),
    };
    g.receive_datagram("10.0.0.1:8300", vec![dead], 10);
    assert_eq!(g.member("n2").unwrap().status, MemberStatus::Dead);
    g.take_outputs();
    g
}

#[test]
fn a_failed_member_forced_to_leave_is_left_and_the_news_is_gossiped() {
    let mut g = with_failed_member();
    g.force_leave("n2", false, 20).unwrap();
    assert_eq!(g.member("n2").unwrap().status, MemberStatus::Left);
    let out = g.take_outputs();
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, MemberEvent::Left(m) if m.name == "n2"))
    );
    // The claim goes out with the next gossip round.
    g.tick(1_000);
    let sent = g.take_outputs();
    let spread = sent
        .datagrams
        .iter()
        .flat_map(|(_, m)| m)
        .any(|m| matches!(m, GossipMessage::Left { name, incarnation: 1 } if name == "n2"));
    assert!(
        spread,
        "the left claim was not gossiped: {:?}",
        sent.datagrams
    );
    // Again: nothing to do, still a success.
    g.force_leave("n2", false, 1_100).unwrap();
    assert!(g.take_outputs().events.is_empty());
}

#[test]
fn prune_forgets_the_member_at_once() {
    let mut g = with_failed_member();
    g.force_leave("n2", true, 20).unwrap();
    assert!(g.member("n2").is_none());
    let out = g.take_outputs();
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, MemberEvent::Reaped(m) if m.name == "n2"))
    );
}

#[test]
fn an_alive_unknown_or_local_member_is_refused() {
    let mut g = with_failed_member();
    assert_eq!(
        g.force_leave("n1", false, 20),
        Err(ForceLeaveRefusal::NotFailed {
            name: "n1".into(),
            status: MemberStatus::Alive
        })
    );
    assert_eq!(g.member("n1").unwrap().status, MemberStatus::Alive);
    let unknown = g.force_leave("n9", false, 20).unwrap_err();
    assert_eq!(unknown.to_string(), "agent: No node found with name 'n9'");
    assert!(matches!(
        g.force_leave("n0", false, 20),
        Err(ForceLeaveRefusal::LocalNode(_))
    ));
}
