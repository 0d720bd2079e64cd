//! Gossip messages: the SWIM probe traffic and state broadcasts carried in UDP
//! datagrams, and the full-state push/pull (and its refusal) carried in
//! frames on a TCP connection of purpose `GOSSIP_SYNC`.
//!
//! Type bytes live in 0x80-0xBF, the range reserved for the gossip family.
//! The byte-exact layout is in `wire-spec.md` (section 8, "Gossip messages").

use std::fmt;

use super::error::WireError;
use super::message::Message;
use super::reader::Reader;
use super::writer::WriteExt;

/// Random 128-bit Raft cluster ID; 0 means "none yet".
pub type ClusterId = u128;

/// Longest member name accepted from the network, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest `IP:PORT` address accepted from the network, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 64;
/// Longest datacenter or build version tag accepted from the network, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Longest refusal message text accepted from the network, in bytes.
pub const MAX_REFUSAL_TEXT_BYTES: usize = 1024;
/// Most members one push/pull may carry: far above any cluster we run, and a
/// bound on what a hostile peer can make us decode.
pub const MAX_PUSH_PULL_MEMBERS: usize = 65_536;

pub const TYPE_PING: u8 = 0x80;
pub const TYPE_INDIRECT_PING: u8 = 0x81;
pub const TYPE_ACK: u8 = 0x82;
pub const TYPE_NACK: u8 = 0x83;
pub const TYPE_ALIVE: u8 = 0x84;
pub const TYPE_SUSPECT: u8 = 0x85;
pub const TYPE_DEAD: u8 = 0x86;
pub const TYPE_LEFT: u8 = 0x87;
pub const TYPE_PUSH_PULL: u8 = 0x88;
pub const TYPE_JOIN_REFUSED: u8 = 0x89;

/// What an agent is: a Raft server or a stateless client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Role {
    Server,
    Client,
}

impl Role {
    fn to_byte(self) -> u8 {
        match self {
            Role::Server => 0,
            Role::Client => 1,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            0 => Ok(Role::Server),
            1 => Ok(Role::Client),
            other => Err(WireError::InvalidValue {
                field: "role",
                value: u64::from(other),
            }),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Server => "server",
            Role::Client => "client",
        })
    }
}

/// What a member says about itself; gossiped with every alive message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Tags {
    pub role: Role,
    pub datacenter: String,
    /// The Raft cluster this member belongs to; 0 until bootstrapped/added.
    pub cluster_id: ClusterId,
    pub build_version: String,
    pub protocol_version: u8,
}

/// A member's liveness as one node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum MemberStatus {
    Alive,
    Suspect,
    Dead,
    Left,
}

impl MemberStatus {
    fn to_byte(self) -> u8 {
        match self {
            MemberStatus::Alive => 0,
            MemberStatus::Suspect => 1,
            MemberStatus::Dead => 2,
            MemberStatus::Left => 3,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            0 => Ok(MemberStatus::Alive),
            1 => Ok(MemberStatus::Suspect),
            2 => Ok(MemberStatus::Dead),
            3 => Ok(MemberStatus::Left),
            other => Err(WireError::InvalidValue {
                field: "member_status",
                value: u64::from(other),
            }),
        }
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemberStatus::Alive => "alive",
            MemberStatus::Suspect => "suspect",
            MemberStatus::Dead => "failed",
            MemberStatus::Left => "left",
        })
    }
}

/// One member's full record, as carried in a push/pull.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct MemberState {
    pub name: String,
    pub address: String,
    pub incarnation: u64,
    pub status: MemberStatus,
    pub tags: Tags,
}

/// A full-state exchange over TCP: the initiator sends one, the receiver
/// answers with its own (or a [`JoinRefusal`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct PushPull {
    /// Set on the first exchange of a join, so the receiver logs it as one.
    pub join: bool,
    /// The sender's own member name; its record is among `members`.
    pub from_name: String,
    pub members: Vec<MemberState>,
}

/// Why a member refused a join, sent back so the joiner can report it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum JoinRefusal {
    /// The name is held by a live member at another address.
    NameConflict {
        name: String,
        existing_address: String,
        joining_address: String,
    },
    /// Both sides are bootstrapped into different Raft clusters.
    ClusterIdMismatch {
        /// The refusing member's cluster ID.
        ours: ClusterId,
        /// The joiner's cluster ID.
        theirs: ClusterId,
    },
}

impl fmt::Display for JoinRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinRefusal::NameConflict {
                name,
                existing_address,
                joining_address,
            } => write!(
                f,
                "join refused: member name {name:?} is already held by a live member at \
                 {existing_address} (joining from {joining_address})"
            ),
            JoinRefusal::ClusterIdMismatch { ours, theirs } => write!(
                f,
                "join refused: cluster ID mismatch: the member joined belongs to cluster \
                 {ours:032x}, the joiner to cluster {theirs:032x}; two bootstrapped clusters \
                 cannot merge"
            ),
        }
    }
}

impl std::error::Error for JoinRefusal {}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum GossipMessage {
    /// A direct probe. `target_name` lets a member that took over an address
    /// ignore probes meant for its predecessor.
    Ping {
        seq_no: u32,
        target_name: String,
        source_name: String,
    },
    /// Ask the receiver to probe `target` on the sender's behalf and forward
    /// the ack (SWIM's ping-req). With `want_nack` the receiver answers a
    /// [`GossipMessage::Nack`] when the target stays silent (Lifeguard).
    IndirectPing {
        seq_no: u32,
        target_name: String,
        target_address: String,
        source_name: String,
        want_nack: bool,
    },
    Ack {
        seq_no: u32,
    },
    Nack {
        seq_no: u32,
    },
    Alive {
        incarnation: u64,
        name: String,
        address: String,
        tags: Tags,
    },
    Suspect {
        incarnation: u64,
        name: String,
        /// The member that suspects it.
        from: String,
    },
    Dead {
        incarnation: u64,
        name: String,
        /// The member that declared it dead.
        from: String,
    },
    /// The member left gracefully; only ever sent about oneself.
    Left {
        incarnation: u64,
        name: String,
    },
    PushPull(PushPull),
    JoinRefused(JoinRefusal),
}

const REFUSAL_NAME_CONFLICT: u8 = 0;
const REFUSAL_CLUSTER_ID_MISMATCH: u8 = 1;

/// Smallest encoding of a [`MemberState`]: four empty strings (4 bytes each),
/// incarnation 8, status 1, role 1, cluster ID 16, protocol version 1.
const MIN_MEMBER_STATE_BYTES: usize = 4 * 4 + 8 + 1 + 1 + 16 + 1;

fn put_tags(out: &mut Vec<u8>, tags: &Tags) {
    out.put_u8(tags.role.to_byte());
    out.put_string(&tags.datacenter);
    out.put_u128(tags.cluster_id);
    out.put_string(&tags.build_version);
    out.put_u8(tags.protocol_version);
}

fn read_tags(r: &mut Reader<'_>) -> Result<Tags, WireError> {
    Ok(Tags {
        role: Role::from_byte(r.u8()?)?,
        datacenter: r.string("datacenter", MAX_TAG_BYTES)?,
        cluster_id: r.u128()?,
        build_version: r.string("build_version", MAX_TAG_BYTES)?,
        protocol_version: r.u8()?,
    })
}

fn put_member_state(out: &mut Vec<u8>, m: &MemberState) {
    out.put_string(&m.name);
    out.put_string(&m.address);
    out.put_u64(m.incarnation);
    out.put_u8(m.status.to_byte());
    put_tags(out, &m.tags);
}

fn read_member_state(r: &mut Reader<'_>) -> Result<MemberState, WireError> {
    Ok(MemberState {
        name: r.string("name", MAX_NAME_BYTES)?,
        address: r.string("address", MAX_ADDRESS_BYTES)?,
        incarnation: r.u64()?,
        status: MemberStatus::from_byte(r.u8()?)?,
        tags: read_tags(r)?,
    })
}

fn read_name(r: &mut Reader<'_>, field: &'static str) -> Result<String, WireError> {
    r.string(field, MAX_NAME_BYTES)
}

impl Message for GossipMessage {
    fn message_type(&self) -> u8 {
        match self {
            GossipMessage::Ping { .. } => TYPE_PING,
            GossipMessage::IndirectPing { .. } => TYPE_INDIRECT_PING,
            GossipMessage::Ack { .. } => TYPE_ACK,
            GossipMessage::Nack { .. } => TYPE_NACK,
            GossipMessage::Alive { .. } => TYPE_ALIVE,
            GossipMessage::Suspect { .. } => TYPE_SUSPECT,
            GossipMessage::Dead { .. } => TYPE_DEAD,
            GossipMessage::Left { .. } => TYPE_LEFT,
            GossipMessage::PushPull(_) => TYPE_PUSH_PULL,
            GossipMessage::JoinRefused(_) => TYPE_JOIN_REFUSED,
        }
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            GossipMessage::Ping {
                seq_no,
                target_name,
                source_name,
            } => {
                out.put_u32(*seq_no);
                out.put_string(target_name);
                out.put_string(source_name);
            }
            GossipMessage::IndirectPing {
                seq_no,
                target_name,
                target_address,
                source_name,
                want_nack,
            } => {
                out.put_u32(*seq_no);
                out.put_string(target_name);
                out.put_string(target_address);
                out.put_string(source_name);
                out.put_bool(*want_nack);
            }
            GossipMessage::Ack { seq_no } | GossipMessage::Nack { seq_no } => {
                out.put_u32(*seq_no);
            }
            GossipMessage::Alive {
                incarnation,
                name,
                address,
                tags,
            } => {
                out.put_u64(*incarnation);
                out.put_string(name);
                out.put_string(address);
                put_tags(out, tags);
            }
            GossipMessage::Suspect {
                incarnation,
                name,
                from,
            }
            | GossipMessage::Dead {
                incarnation,
                name,
                from,
            } => {
                out.put_u64(*incarnation);
                out.put_string(name);
                out.put_string(from);
            }
            GossipMessage::Left { incarnation, name } => {
                out.put_u64(*incarnation);
                out.put_string(name);
            }
            GossipMessage::PushPull(push_pull) => {
                out.put_bool(push_pull.join);
                out.put_string(&push_pull.from_name);
                out.put_count(push_pull.members.len());
                for member in &push_pull.members {
                    put_member_state(out, member);
                }
            }
            GossipMessage::JoinRefused(refusal) => match refusal {
                JoinRefusal::NameConflict {
                    name,
                    existing_address,
                    joining_address,
                } => {
                    out.put_u8(REFUSAL_NAME_CONFLICT);
                    out.put_string(name);
                    out.put_string(existing_address);
                    out.put_string(joining_address);
                }
                JoinRefusal::ClusterIdMismatch { ours, theirs } => {
                    out.put_u8(REFUSAL_CLUSTER_ID_MISMATCH);
                    out.put_u128(*ours);
                    out.put_u128(*theirs);
                }
            },
        }
    }

    fn decode(message_type: u8, payload: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(payload);
        let message = match message_type {
            TYPE_PING => GossipMessage::Ping {
                seq_no: r.u32()?,
                target_name: read_name(&mut r, "target_name")?,
                source_name: read_name(&mut r, "source_name")?,
            },
            TYPE_INDIRECT_PING => GossipMessage::IndirectPing {
                seq_no: r.u32()?,
                target_name: read_name(&mut r, "target_name")?,
                target_address: r.string("target_address", MAX_ADDRESS_BYTES)?,
                source_name: read_name(&mut r, "source_name")?,
                want_nack: r.bool("want_nack")?,
            },
            TYPE_ACK => GossipMessage::Ack { seq_no: r.u32()? },
            TYPE_NACK => GossipMessage::Nack { seq_no: r.u32()? },
            TYPE_ALIVE => GossipMessage::Alive {
                incarnation: r.u64()?,
                name: read_name(&mut r, "name")?,
                address: r.string("address", MAX_ADDRESS_BYTES)?,
                tags: read_tags(&mut r)?,
            },
            TYPE_SUSPECT => GossipMessage::Suspect {
                incarnation: r.u64()?,
                name: read_name(&mut r, "name")?,
                from: read_name(&mut r, "from")?,
            },
            TYPE_DEAD => GossipMessage::Dead {
                incarnation: r.u64()?,
                name: read_name(&mut r, "name")?,
                from: read_name(&mut r, "from")?,
            },
            TYPE_LEFT => GossipMessage::Left {
                incarnation: r.u64()?,
                name: read_name(&mut r, "name")?,
            },
            TYPE_PUSH_PULL => {
                let join = r.bool("join")?;
                let from_name = read_name(&mut r, "from_name")?;
                let count = r.count(MIN_MEMBER_STATE_BYTES)?;
                if count > MAX_PUSH_PULL_MEMBERS {
                    return Err(WireError::FieldTooLong {
                        field: "members",
                        len: count,
                        max: MAX_PUSH_PULL_MEMBERS,
                    });
                }
                let mut members = Vec::with_capacity(count);
                for _ in 0..count {
                    members.push(read_member_state(&mut r)?);
                }
                GossipMessage::PushPull(PushPull {
                    join,
                    from_name,
                    members,
                })
            }
            TYPE_JOIN_REFUSED => match r.u8()? {
                REFUSAL_NAME_CONFLICT => GossipMessage::JoinRefused(JoinRefusal::NameConflict {
                    name: read_name(&mut r, "name")?,
                    existing_address: r.string("existing_address", MAX_ADDRESS_BYTES)?,
                    joining_address: r.string("joining_address", MAX_ADDRESS_BYTES)?,
                }),
                REFUSAL_CLUSTER_ID_MISMATCH => {
                    GossipMessage::JoinRefused(JoinRefusal::ClusterIdMismatch {
                        ours: r.u128()?,
                        theirs: r.u128()?,
                    })
                }
                other => {
                    return Err(WireError::InvalidValue {
                        field: "refusal_kind",
                        value: u64::from(other),
                    });
                }
            },
            other => return Err(WireError::UnknownMessageType(other)),
        };
        r.finish()?;
        Ok(message)
    }
}

impl GossipMessage {
    /// Probe traffic (ping, ping-req, ack, nack) as opposed to state.
    pub fn is_probe(&self) -> bool {
        matches!(
            self,
            GossipMessage::Ping { .. }
                | GossipMessage::IndirectPing { .. }
                | GossipMessage::Ack { .. }
                | GossipMessage::Nack { .. }
        )
    }

    /// Length of the payload [`Message::encode_payload`] writes; used to
    /// pack datagrams within their size limit.
    pub fn encoded_payload_len(&self) -> usize {
        let mut out = Vec::new();
        self.encode_payload(&mut out);
        out.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Tags {
        Tags {
            role: Role::Server,
            datacenter: "dc1".into(),
            cluster_id: 7,
            build_version: "0.1.0".into(),
            protocol_version: 1,
        }
    }

    #[test]
    fn every_type_byte_is_in_the_gossip_range() {
        let messages = [
            GossipMessage::Ack { seq_no: 1 },
            GossipMessage::JoinRefused(JoinRefusal::ClusterIdMismatch { ours: 1, theirs: 2 }),
            GossipMessage::Left {
                incarnation: 1,
                name: "a".into(),
            },
        ];
        for m in messages {
            assert!((0x80..=0xBF).contains(&m.message_type()));
        }
    }

    #[test]
    fn ack_layout_is_big_endian_sequence_number() {
        let mut out = Vec::new();
        GossipMessage::Ack {
            seq_no: 0x0102_0304,
        }
        .encode_payload(&mut out);
        assert_eq!(out, [1, 2, 3, 4]);
    }

    #[test]
    fn alive_round_trips() {
        let m = GossipMessage::Alive {
            incarnation: 3,
            name: "n1".into(),
            address: "127.0.0.1:8300".into(),
            tags: tags(),
        };
        let mut out = Vec::new();
        m.encode_payload(&mut out);
        assert_eq!(GossipMessage::decode(TYPE_ALIVE, &out), Ok(m));
    }

    #[test]
    fn member_status_out_of_range_is_an_error() {
        let m = GossipMessage::PushPull(PushPull {
            join: true,
            from_name: "a".into(),
            members: vec![MemberState {
                name: "a".into(),
                address: "x".into(),
                incarnation: 0,
                status: MemberStatus::Left,
                tags: tags(),
            }],
        });
        let mut out = Vec::new();
        m.encode_payload(&mut out);
        // join(1) from_name(4+1) count(4) name(4+1) address(4+1) incarnation(8) -> status
        let status_at = 1 + 5 + 4 + 5 + 5 + 8;
        assert_eq!(out[status_at], 3);
        out[status_at] = 9;
        assert!(matches!(
            GossipMessage::decode(TYPE_PUSH_PULL, &out),
            Err(WireError::InvalidValue {
                field: "member_status",
                ..
            })
        ));
    }

    #[test]
    fn join_refusal_names_both_cluster_ids() {
        let text = JoinRefusal::ClusterIdMismatch {
            ours: 0xabc,
            theirs: 0xdef,
        }
        .to_string();
        assert!(text.contains("00000000000000000000000000000abc"));
        assert!(text.contains("00000000000000000000000000000def"));
    }
}
