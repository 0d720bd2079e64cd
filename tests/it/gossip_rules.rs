//! The membership rules of one gossip state machine, driven by hand.

use concord::gossip::packing::{MAX_DATAGRAM_BYTES, MAX_DATAGRAM_MESSAGES, datagram_len};
use concord::gossip::{
    Gossip, GossipConfig, GossipMessage, JoinRefusal, MemberEvent, MemberStatus, Outputs, PushPull,
    Tags,
};

use crate::support::gossip_fixture::{self, tags};

fn address(i: usize) -> String {
    format!("10.0.0.{i}:8300")
}

fn name(i: usize) -> String {
    format!("n{i}")
}

fn config() -> GossipConfig {
    GossipConfig::lan(&name(0), &address(0), tags())
}

fn alive(i: usize, incarnation: u64) -> GossipMessage {
    gossip_fixture::alive(&name(i), &address(i), incarnation)
}

/// n0 knowing members n1..=others, all alive at incarnation 1.
fn with_members(config: GossipConfig, others: usize) -> Gossip {
    let mut g = Gossip::new(config, 7, 0);
    let messages = (1..=others).map(|i| alive(i, 1)).collect();
    g.receive_datagram(&address(1), messages, 0);
    g.take_outputs();
    g
}

fn sent(outputs: &Outputs) -> Vec<&GossipMessage> {
    outputs.datagrams.iter().flat_map(|(_, m)| m).collect()
}

#[test]
fn a_suspected_member_refutes_with_a_higher_incarnation() {
    let mut g = with_members(config(), 3);
    let before = g.local_member().incarnation;
    g.receive_datagram(
        &address(1),
        vec![GossipMessage::Suspect {
            incarnation: before,
            name: name(0),
            from: name(1),
        }],
        10,
    );
    assert!(g.local_member().incarnation > before);
    assert_eq!(g.local_member().status, MemberStatus::Alive);
    g.tick(10_000);
    let out = g.take_outputs();
    assert!(
        out.log_lines
            .iter()
            .any(|l| l.message == "Refuting a suspect message (from: n1)")
    );
    assert!(sent(&out).iter().any(|m| matches!(m,
        GossipMessage::Alive { name, incarnation, .. } if name == "n0" && *incarnation > before)));
}

#[test]
fn an_unanswered_probe_asks_others_then_suspects_the_target() {
    let mut g = with_members(config(), 5);
    // Tick until a probe goes out.
    let mut now = 0;
    let (target, seq_no) = loop {
        now += 50;
        g.tick(now);
        let out = g.take_outputs();
        if let Some(GossipMessage::Ping {
            target_name,
            seq_no,
            ..
        }) = sent(&out)
            .into_iter()
            .find(|m| matches!(m, GossipMessage::Ping { .. }))
        {
            break (target_name.clone(), *seq_no);
        }
    };
    let started = now;
    let mut indirect = 0;
    let mut suspected = false;
    while now < started + 1_000 {
        now += 50;
        g.tick(now);
        let out = g.take_outputs();
        indirect += sent(&out)
            .iter()
            .filter(|m| {
                matches!(m, GossipMessage::IndirectPing { seq_no: s, target_name, .. }
                if *s == seq_no && *target_name == target)
            })
            .count();
        suspected |= out
            .log_lines
            .iter()
            .any(|l| l.message == format!("Suspect {target} has failed, no acks received"));
    }
    assert_eq!(indirect, 3, "k = 3 indirect probes");
    assert!(suspected);
    assert_eq!(g.member(&target).unwrap().status, MemberStatus::Suspect);
    assert!(
        g.health_score() > 0,
        "missing nacks count against our health"
    );
}

#[test]
fn an_acked_probe_suspects_nobody_and_improves_health() {
    let mut g = with_members(config(), 5);
    let mut now = 0;
    for _ in 0..200 {
        now += 50;
        g.tick(now);
        let out = g.take_outputs();
        for (to, messages) in &out.datagrams {
            for m in messages {
                if let GossipMessage::Ping { seq_no, .. } = m {
                    g.receive_datagram(to, vec![GossipMessage::Ack { seq_no: *seq_no }], now);
                }
            }
        }
    }
    assert!(g.members().all(|m| m.status == MemberStatus::Alive));
    assert_eq!(g.health_score(), 0);
}

#[test]
fn a_suspect_unrefuted_past_the_maximum_timeout_becomes_dead() {
    let mut config = config();
    config.suspicion_mult = 4;
    let mut g = with_members(config.clone(), 3);
    g.receive_datagram(
        &address(1),
        vec![GossipMessage::Suspect {
            incarnation: 1,
            name: name(2),
            from: name(1),
        }],
        1_000,
    );
    let max_ms = config.suspicion_max_ms(4);
    g.tick(1_000 + max_ms - 1);
    assert_eq!(g.member(&name(2)).unwrap().status, MemberStatus::Suspect);
    g.tick(1_000 + max_ms);
    assert_eq!(g.member(&name(2)).unwrap().status, MemberStatus::Dead);
    let out = g.take_outputs();
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, MemberEvent::Failed(m) if m.name == "n2"))
    );
    assert!(
        out.log_lines
            .iter()
            .any(|l| l.message == "EventMemberFailed: n2 10.0.0.2:8300")
    );
}

#[test]
fn independent_confirmations_shorten_the_suspicion() {
    let config = config();
    let mut g = with_members(config.clone(), 9);
    let suspect = |from: usize| GossipMessage::Suspect {
        incarnation: 1,
        name: name(9),
        from: name(from),
    };
    g.receive_datagram(&address(1), vec![suspect(1)], 0);
    g.receive_datagram(&address(2), vec![suspect(2)], 0);
    g.receive_datagram(&address(3), vec![suspect(3)], 0);
    // k = suspicion_mult - 2 = 2 confirmations reach the minimum.
    let min_ms = config.suspicion_min_ms(10);
    g.tick(min_ms);
    assert_eq!(g.member(&name(9)).unwrap().status, MemberStatus::Dead);
}

#[test]
fn stale_alive_gossip_never_resurrects_a_left_member() {
    let mut g = with_members(config(), 3);
    g.receive_datagram(
        &address(2),
        vec![GossipMessage::Left {
            incarnation: 1,
            name: name(2),
        }],
        10,
    );
    assert_eq!(g.member(&name(2)).unwrap().status, MemberStatus::Left);
    g.receive_datagram(&address(1), vec![alive(2, 1)], 20);
    assert_eq!(g.member(&name(2)).unwrap().status, MemberStatus::Left);
    // Only the member itself, refuting with a new incarnation, brings it back.
    g.receive_datagram(&address(2), vec![alive(2, 2)], 30);
    assert_eq!(g.member(&name(2)).unwrap().status, MemberStatus::Alive);
}

fn left(i: usize) -> GossipMessage {
    GossipMessage::Left {
        incarnation: 1,
        name: name(i),
    }
}

fn indirect_ping_of(i: usize) -> GossipMessage {
    GossipMessage::IndirectPing {
        seq_no: 9,
        target_name: name(i),
        target_address: address(i),
        source_name: name(3),
        want_nack: true,
    }
}

/// Gossip can miss a member; a helper that knows of the leave tells the
/// member whose probe shows it does not.
#[test]
fn a_helper_asked_to_probe_a_left_member_tells_the_requester_of_the_leave() {
    let mut g = with_members(config(), 3);
    g.receive_datagram(&address(2), vec![left(2)], 10);
    g.take_outputs();
    g.receive_datagram(&address(3), vec![indirect_ping_of(2)], 20);
    let out = g.take_outputs();
    let to_requester: Vec<_> = out
        .datagrams
        .iter()
        .filter(|(to, _)| *to == address(3))
        .map(|(_, messages)| messages.clone())
        .collect();
    // Alone in its datagram: no larger than the ping-req that prompted it.
    assert_eq!(to_requester, vec![vec![left(2)]]);
    // Still relayed, for a requester that knows of a rejoin we missed.
    assert!(out.datagrams.iter().any(
        |(to, messages)| *to == address(2) && matches!(messages[0], GossipMessage::Ping { .. })
    ));
    assert_eq!(g.member(&name(2)).unwrap().status, MemberStatus::Left);
}

#[test]
fn a_helper_asked_to_probe_a_dead_or_live_member_does_not_call_it_left() {
    let mut g = with_members(config(), 3);
    let dead = GossipMessage::Dead {
        incarnation: 1,
        name: name(2),
        from: name(1),
    };
    g.receive_datagram(&address(1), vec![dead], 10);
    g.take_outputs();
    g.receive_datagram(
        &address(3),
        vec![indirect_ping_of(2), indirect_ping_of(1)],
        20,
    );
    let out = g.take_outputs();
    assert!(
        !sent(&out)
            .iter()
            .any(|m| matches!(m, GossipMessage::Left { .. }))
    );
}

/// The helper n1 holds n2 and n3 as left, its own broadcasts long spent.
fn helper_that_knows_of_two_leaves() -> Gossip {
    let config = GossipConfig::lan(&name(1), &address(1), tags());
    let mut helper = Gossip::new(config, 8, 0);
    helper.receive_datagram(&address(0), vec![alive(0, 1), alive(2, 1), alive(3, 1)], 0);
    helper.receive_datagram(&address(2), vec![left(2), left(3)], 0);
    let mut now = 0;
    while now < 10_000 {
        now += 50;
        helper.tick(now);
        for (_, messages) in helper.take_outputs().datagrams {
            // n0 answers every probe: no suspicion re-fills the queue.
            for m in messages {
                if let GossipMessage::Ping { seq_no, .. } = m {
                    helper.receive_datagram(&address(0), vec![GossipMessage::Ack { seq_no }], now);
                }
            }
        }
    }
    assert_eq!(
        helper.pending_broadcasts(),
        0,
        "gossip about the leaves ran out"
    );
    helper
}

/// Seed 98373171 of the gossip simulator, by hand: the requester n0 never
/// got the leave, the helper's gossip about it has run out, and the
/// requester probes the leaver. It hears of the leave from the helper
/// before its probe fails, instead of suspecting the leaver.
#[test]
fn a_member_that_missed_a_leave_learns_it_from_the_helpers_of_its_probe_of_the_leaver() {
    let mut helper = helper_that_knows_of_two_leaves();
    let mut requester = with_members(config(), 3);
    let mut now = 10_000;
    // The first probe of a leaver (probes of the helper acked).
    let (target, seq_no) = loop {
        now += 50;
        requester.tick(now);
        let out = requester.take_outputs();
        let Some((target, seq_no)) = sent(&out).iter().find_map(|m| match m {
            GossipMessage::Ping {
                target_name,
                seq_no,
                ..
            } => Some((target_name.clone(), *seq_no)),
            _ => None,
        }) else {
            continue;
        };
        if target != name(1) {
            break (target, seq_no);
        }
        requester.receive_datagram(&address(1), vec![GossipMessage::Ack { seq_no }], now);
    };
    let probe_end = now + config().probe_interval_ms;
    let mut asked_helper = false;
    let mut events = Vec::new();
    let mut log_lines = Vec::new();
    while now <= probe_end + 500 {
        now += 50;
        requester.tick(now);
        helper.tick(now);
        let out = requester.take_outputs();
        events.extend(out.events);
        log_lines.extend(out.log_lines.into_iter().map(|l| l.message));
        for (to, messages) in out.datagrams {
            if to == address(1) {
                asked_helper |= messages.iter().any(
                    |m| matches!(m, GossipMessage::IndirectPing { seq_no: s, .. } if *s == seq_no),
                );
                helper.receive_datagram(&address(0), messages, now);
            }
        }
        for (to, messages) in helper.take_outputs().datagrams {
            if to == address(0) {
                requester.receive_datagram(&address(1), messages, now);
            }
        }
    }
    assert!(
        asked_helper,
        "the probe of {target} went indirect through n1"
    );
    assert_eq!(
        requester.member(&target).unwrap().status,
        MemberStatus::Left
    );
    assert!(
        !log_lines.iter().any(|l| l.starts_with("Suspect")),
        "{log_lines:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, MemberEvent::Failed(_))),
        "{events:?}"
    );
}

#[test]
fn a_live_name_at_another_address_is_refused_at_join() {
    let mut g = with_members(config(), 3);
    let push_pull = PushPull {
        join: true,
        from_name: name(2),
        members: vec![concord::gossip::MemberState {
            name: name(2),
            address: "10.9.9.9:8300".into(),
            incarnation: 1,
            status: MemberStatus::Alive,
            tags: tags(),
        }],
    };
    let refusal = g
        .receive_push_pull("10.9.9.9:8300", push_pull, 10)
        .unwrap_err();
    assert_eq!(
        refusal,
        JoinRefusal::NameConflict {
            name: name(2),
            existing_address: address(2),
            joining_address: "10.9.9.9:8300".into(),
        }
    );
    assert_eq!(g.member(&name(2)).unwrap().address, address(2));
}

#[test]
fn a_join_exchanges_full_state_both_ways() {
    let mut a = with_members(config(), 3);
    let mut b = Gossip::new(GossipConfig::lan("b", "10.0.1.1:8300", tags()), 1, 0);
    b.join(&[address(0)]);
    let (to, push) = b.take_outputs().push_pulls.remove(0);
    assert_eq!(to, address(0));
    let reply = a.receive_push_pull("10.0.1.1:8300", push, 5).unwrap();
    assert!(a.member("b").is_some());
    b.receive_push_pull_reply(&address(0), reply, 10).unwrap();
    assert_eq!(b.num_alive(), 5);
}

/// A lone member's answer to a push/pull: itself only.
fn lone_answer(i: usize) -> PushPull {
    PushPull {
        join: false,
        from_name: name(i),
        members: vec![concord::gossip::MemberState {
            name: name(i),
            address: address(i),
            incarnation: 1,
            status: MemberStatus::Alive,
            tags: tags(),
        }],
    }
}

#[test]
fn an_answer_to_a_push_pull_sent_before_members_were_learned_is_followed_by_our_state() {
    let mut a = Gossip::new(config(), 7, 0);
    a.join(&[address(1), address(2)]);
    let joins = a.take_outputs().push_pulls;
    assert!(joins.iter().all(|(_, p)| p.join && p.members.len() == 1));

    // n1 answers first: nothing was learned while its push/pull was out.
    a.receive_push_pull_reply(&address(1), lone_answer(1), 5)
        .unwrap();
    assert!(a.take_outputs().push_pulls.is_empty());

    // n2's push/pull left before we knew n1: n2 gets our state again.
    a.receive_push_pull_reply(&address(2), lone_answer(2), 9)
        .unwrap();
    let follow_ups = a.take_outputs().push_pulls;
    assert_eq!(follow_ups.len(), 1, "{follow_ups:?}");
    let (to, push_pull) = &follow_ups[0];
    assert_eq!(to, &address(2));
    assert!(!push_pull.join);
    assert!(push_pull.members.iter().any(|m| m.name == name(1)));

    // Its answer brings nothing learned since: no further push/pull.
    a.receive_push_pull_reply(&address(2), lone_answer(2), 12)
        .unwrap();
    assert!(a.take_outputs().push_pulls.is_empty());
}

#[test]
fn a_failed_push_pull_is_not_matched_with_a_later_answer() {
    let mut a = Gossip::new(config(), 7, 0);
    a.join(&[address(2)]);
    a.push_pull_failed(&address(2));
    a.join(&[address(1)]);
    a.receive_push_pull_reply(&address(1), lone_answer(1), 5)
        .unwrap();
    // A new push/pull to n2 after n1 was learned: its answer needs nothing.
    a.join(&[address(2)]);
    a.take_outputs();
    a.receive_push_pull_reply(&address(2), lone_answer(2), 9)
        .unwrap();
    assert!(a.take_outputs().push_pulls.is_empty());
}

#[test]
fn datagrams_never_exceed_the_size_limit() {
    let mut g = with_members(config(), 300);
    for now in (0..5_000).step_by(50) {
        g.tick(now);
        for (_, messages) in g.take_outputs().datagrams {
            assert!(datagram_len(&messages) <= MAX_DATAGRAM_BYTES);
            assert!(messages.len() <= MAX_DATAGRAM_MESSAGES);
            let encoded = concord::wire::datagram::encode_datagram(&messages).unwrap();
            assert_eq!(encoded.len(), datagram_len(&messages));
        }
    }
}

#[test]
fn a_gossip_round_reaches_every_member_when_there_are_no_more_than_its_fanout() {
    let config = config();
    assert!(config.gossip_nodes >= 2);
    let mut g = with_members(config.clone(), 2);
    let mut now = 0;
    for round in 0..100u32 {
        // A fresh broadcast each round, so every round has news to gossip.
        let tags = Tags {
            build_version: format!("0.1.{round}"),
            ..tags()
        };
        g.set_local_tags(tags, now);
        g.take_outputs();
        now += config.gossip_interval_ms;
        g.tick(now);
        let mut gossiped_to: Vec<String> = g
            .take_outputs()
            .datagrams
            .into_iter()
            .filter(|(_, messages)| !messages.iter().any(GossipMessage::is_probe))
            .map(|(to, _)| to)
            .collect();
        gossiped_to.sort();
        gossiped_to.dedup();
        assert_eq!(gossiped_to, vec![address(1), address(2)], "round {round}");
    }
}

#[test]
fn a_broadcast_is_retransmitted_a_bounded_number_of_times() {
    let config = config();
    let mut g = with_members(config.clone(), 3);
    let mut now = 0;
    for _ in 0..400 {
        now += 50;
        g.tick(now);
        g.take_outputs();
    }
    g.receive_datagram(
        &address(3),
        vec![GossipMessage::Left {
            incarnation: 1,
            name: name(3),
        }],
        now,
    );
    let mut copies = 0;
    for _ in 0..400 {
        now += 50;
        g.tick(now);
        copies += sent(&g.take_outputs())
            .iter()
            .filter(|m| matches!(m, GossipMessage::Left { name, .. } if name == "n3"))
            .count();
    }
    assert_eq!(copies as u32, config.retransmit_limit(4));
}

#[test]
fn a_graceful_leave_is_broadcast_and_stops_probing() {
    let mut g = with_members(config(), 3);
    g.leave(100);
    assert_eq!(g.local_member().status, MemberStatus::Left);
    assert!(!g.is_leave_complete(100));
    let mut left_sent = false;
    let mut now = 100;
    while !g.is_leave_complete(now) {
        now += 50;
        g.tick(now);
        let out = g.take_outputs();
        assert!(
            !sent(&out)
                .iter()
                .any(|m| matches!(m, GossipMessage::Ping { .. }))
        );
        left_sent |= sent(&out)
            .iter()
            .any(|m| matches!(m, GossipMessage::Left { name, .. } if name == "n0"));
    }
    assert!(left_sent);
    assert!(now - 100 <= config().leave_propagate_ms);
}

#[test]
fn left_members_are_reaped_before_dead_ones() {
    let mut config = config();
    config.reap_left_ms = 10_000;
    config.reap_dead_ms = 30_000;
    let mut g = with_members(config, 3);
    g.receive_datagram(
        &address(1),
        vec![
            GossipMessage::Left {
                incarnation: 1,
                name: name(1),
            },
            GossipMessage::Dead {
                incarnation: 1,
                name: name(2),
                from: name(3),
            },
        ],
        0,
    );
    g.tick(12_000);
    assert!(g.member(&name(1)).is_none());
    assert!(g.member(&name(2)).is_some());
    g.tick(32_000);
    assert!(g.member(&name(2)).is_none());
    let reaped = g
        .take_outputs()
        .events
        .iter()
        .filter(|e| matches!(e, MemberEvent::Reaped(_)))
        .count();
    assert_eq!(reaped, 2);
}

#[test]
fn new_local_tags_are_announced_with_a_new_incarnation() {
    let mut g = with_members(config(), 2);
    let before = g.local_member().incarnation;
    g.set_local_tags(
        Tags {
            cluster_id: 42,
            ..tags()
        },
        10,
    );
    assert_eq!(g.local_member().incarnation, before + 1);
    let out = g.take_outputs();
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, MemberEvent::Updated(m) if m.tags.cluster_id == 42))
    );
}

#[test]
fn the_member_table_is_bounded() {
    let mut config = config();
    config.max_members = 4;
    let g = with_members(config, 10);
    assert_eq!(g.members().count(), 4);
}

#[test]
fn a_member_whose_probes_go_unanswered_slows_its_own_probing() {
    let config = config();
    let mut g = with_members(config.clone(), 8);
    let mut ping_times = Vec::new();
    let mut now = 0;
    while now < 30_000 && ping_times.len() < 5 {
        now += 10;
        g.tick(now);
        // Nothing answers: no acks, and the helpers send no nacks either.
        let out = g.take_outputs();
        if sent(&out)
            .iter()
            .any(|m| matches!(m, GossipMessage::Ping { .. }))
        {
            ping_times.push(now);
        }
    }
    assert_eq!(ping_times.len(), 5);
    assert_eq!(ping_times[1] - ping_times[0], config.probe_interval_ms);
    assert_eq!(g.health_score(), config.awareness_max_multiplier - 1);
    let last_gap = ping_times[4] - ping_times[3];
    assert_eq!(
        last_gap,
        config.probe_interval_ms * u64::from(config.awareness_max_multiplier),
        "the probe interval is scaled by health score + 1"
    );
}

#[test]
fn nacks_from_helpers_spare_our_health_when_the_target_is_silent() {
    let run = |helpers_nack: bool| {
        let mut g = with_members(config(), 6);
        let mut now = 0;
        let mut probe_seq = None;
        while now < 10_000 {
            now += 10;
            g.tick(now);
            let out = g.take_outputs();
            for (to, messages) in &out.datagrams {
                for m in messages {
                    match m {
                        GossipMessage::Ping { seq_no, .. } if probe_seq.is_none() => {
                            probe_seq = Some(*seq_no)
                        }
                        GossipMessage::IndirectPing { seq_no, .. } if helpers_nack => g
                            .receive_datagram(
                                to,
                                vec![GossipMessage::Nack { seq_no: *seq_no }],
                                now,
                            ),
                        _ => {}
                    }
                }
            }
            if g.members().any(|m| m.status == MemberStatus::Suspect) {
                break;
            }
        }
        assert!(probe_seq.is_some());
        g.health_score()
    };
    assert_eq!(run(true), 0, "helpers answered: the target is the problem");
    assert_eq!(run(false), 3, "three silent helpers: we are the problem");
}

#[test]
fn a_restarted_member_refutes_its_old_left_record_and_rejoins() {
    let mut a = with_members(config(), 3);
    a.receive_datagram(
        &address(2),
        vec![GossipMessage::Left {
            incarnation: 1,
            name: name(2),
        }],
        10,
    );
    let mut b = Gossip::new(GossipConfig::lan(&name(2), &address(2), tags()), 3, 20);
    b.join(&[address(0)]);
    let (_, push) = b.take_outputs().push_pulls.remove(0);
    let reply = a.receive_push_pull(&address(2), push, 30).unwrap();
    assert_eq!(
        a.member(&name(2)).unwrap().status,
        MemberStatus::Left,
        "the restarted member's first claim is no newer than its left record"
    );
    b.receive_push_pull_reply(&address(0), reply, 40).unwrap();
    assert_eq!(b.local_member().incarnation, 2, "refuted the left record");
    let mut now = 40;
    while a.member(&name(2)).unwrap().status != MemberStatus::Alive && now < 5_000 {
        now += 50;
        b.tick(now);
        for (to, messages) in b.take_outputs().datagrams {
            if to == address(0) {
                a.receive_datagram(&address(2), messages, now);
            }
        }
    }
    assert_eq!(a.member(&name(2)).unwrap().status, MemberStatus::Alive);
    assert!(
        a.take_outputs()
            .events
            .iter()
            .any(|e| matches!(e, MemberEvent::Joined(m) if m.name == "n2" && m.incarnation == 2))
    );
}

/// A restarted member learns of its own old failure from its seed's
/// push/pull answer and refutes it above the dead incarnation. A push/pull
/// record names no accuser, so the receiver raises the suspicion in its own
/// name (memberlist's mergeState does the same): "Refuting a suspect
/// message (from: n0)" logged by n0 is this, not n0 suspecting itself.
#[test]
fn a_restarted_member_refutes_its_old_dead_record_from_the_push_pull_answer() {
    let mut seed = Gossip::new(GossipConfig::lan(&name(1), &address(1), tags()), 5, 0);
    seed.receive_datagram(&address(0), vec![alive(0, 3)], 0);
    seed.receive_datagram(
        &address(2),
        vec![GossipMessage::Dead {
            incarnation: 3,
            name: name(0),
            from: name(2),
        }],
        10,
    );
    assert_eq!(seed.member(&name(0)).unwrap().status, MemberStatus::Dead);

    let mut restarted = Gossip::new(config(), 7, 20);
    assert!(restarted.local_member().incarnation < 3);
    restarted.join(&[address(1)]);
    let (_, push) = restarted.take_outputs().push_pulls.remove(0);
    let reply = seed.receive_push_pull(&address(0), push, 30).unwrap();
    restarted
        .receive_push_pull_reply(&address(1), reply, 40)
        .unwrap();

    assert_eq!(restarted.local_member().incarnation, 4);
    assert_eq!(restarted.local_member().status, MemberStatus::Alive);
    let out = restarted.take_outputs();
    let refutations: Vec<&str> = out
        .log_lines
        .iter()
        .map(|l| l.message.as_str())
        .filter(|m| m.starts_with("Refuting"))
        .collect();
    assert_eq!(refutations, ["Refuting a suspect message (from: n0)"]);
}
