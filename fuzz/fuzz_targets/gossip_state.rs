//! Drives one gossip state machine with arbitrary claims from the network:
//! datagrams and push/pulls about a handful of names (ours included, so
//! refutation is exercised), any incarnation, any address, plus ticks and
//! tag changes. It must never panic, and the member table and broadcast
//! queue must stay within their limits whatever it is told.

#![no_main]

use arbitrary::Arbitrary;
use concord::gossip::{
    Gossip, GossipConfig, GossipMessage, MemberState, MemberStatus, PushPull, Role, Tags,
};
use libfuzzer_sys::fuzz_target;

/// A small name space so claims collide with each other and with us ("n0").
fn name(n: u8) -> String {
    format!("n{}", n % 8)
}

fn tags() -> Tags {
    Tags {
        role: Role::Server,
        datacenter: "dc1".into(),
        cluster_id: 0,
        build_version: "0.1.0".into(),
        protocol_version: 1,
    }
}

#[derive(Debug, Arbitrary)]
enum Address {
    Valid(u8),
    Raw(String),
}

impl Address {
    fn render(&self) -> String {
        match self {
            Address::Valid(i) => format!("10.0.0.{i}:8300"),
            Address::Raw(raw) => raw.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Claim {
    Alive(u8, u64, Address),
    Suspect(u8, u64, u8),
    Dead(u8, u64, u8),
    Left(u8, u64),
    Ping(u32, u8),
    IndirectPing(u32, u8, Address, bool),
    Ack(u32),
    Nack(u32),
}

impl Claim {
    fn message(&self) -> GossipMessage {
        match self {
            Claim::Alive(n, incarnation, address) => GossipMessage::Alive {
                incarnation: *incarnation,
                name: name(*n),
                address: address.render(),
                tags: tags(),
            },
            Claim::Suspect(n, incarnation, from) => GossipMessage::Suspect {
                incarnation: *incarnation,
                name: name(*n),
                from: name(*from),
            },
            Claim::Dead(n, incarnation, from) => GossipMessage::Dead {
                incarnation: *incarnation,
                name: name(*n),
                from: name(*from),
            },
            Claim::Left(n, incarnation) => GossipMessage::Left {
                incarnation: *incarnation,
                name: name(*n),
            },
            Claim::Ping(seq_no, n) => GossipMessage::Ping {
                seq_no: *seq_no,
                target_name: name(*n),
                source_name: name(n.wrapping_add(1)),
            },
            Claim::IndirectPing(seq_no, n, address, want_nack) => GossipMessage::IndirectPing {
                seq_no: *seq_no,
                target_name: name(*n),
                target_address: address.render(),
                source_name: name(n.wrapping_add(1)),
                want_nack: *want_nack,
            },
            Claim::Ack(seq_no) => GossipMessage::Ack { seq_no: *seq_no },
            Claim::Nack(seq_no) => GossipMessage::Nack { seq_no: *seq_no },
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Input {
    Datagram(Vec<Claim>),
    PushPull {
        reply: bool,
        from: u8,
        members: Vec<(u8, u64, u8, Address)>,
    },
    Tick(u16),
    SetClusterId(u8),
    Leave,
}

fn status(code: u8) -> MemberStatus {
    match code % 4 {
        0 => MemberStatus::Alive,
        1 => MemberStatus::Suspect,
        2 => MemberStatus::Dead,
        _ => MemberStatus::Left,
    }
}

fuzz_target!(|inputs: Vec<Input>| {
    let mut config = GossipConfig::lan("n0", "10.0.0.1:8300", tags());
    config.max_members = 4;
    config.max_queued_broadcasts = 3;
    let limits = (config.max_members, config.max_queued_broadcasts);
    let mut gossip = Gossip::new(config, 1, 0);
    let mut now_ms = 0u64;
    for input in inputs {
        match input {
            Input::Datagram(claims) => {
                let messages = claims.iter().map(Claim::message).collect();
                gossip.receive_datagram("10.0.0.200:8300", messages, now_ms);
            }
            Input::PushPull {
                reply,
                from,
                members,
            } => {
                let push_pull = PushPull {
                    join: !reply,
                    from_name: name(from),
                    members: members
                        .iter()
                        .map(|(n, incarnation, code, address)| MemberState {
                            name: name(*n),
                            address: address.render(),
                            incarnation: *incarnation,
                            status: status(*code),
                            tags: tags(),
                        })
                        .collect(),
                };
                if reply {
                    let _ = gossip.receive_push_pull_reply("10.0.0.200:8300", push_pull, now_ms);
                } else {
                    let _ = gossip.receive_push_pull("10.0.0.200:8300", push_pull, now_ms);
                }
            }
            Input::Tick(ms) => {
                now_ms += u64::from(ms);
                gossip.tick(now_ms);
            }
            Input::SetClusterId(id) => {
                let mut tags = tags();
                tags.cluster_id = u128::from(id);
                gossip.set_local_tags(tags, now_ms);
            }
            Input::Leave => gossip.leave(now_ms),
        }
        gossip.take_outputs();
        assert!(gossip.members().count() <= limits.0);
        assert!(gossip.pending_broadcasts() <= limits.1);
        assert_eq!(gossip.local_member().name, "n0");
    }
});
