//! Raft peer messages (connection purpose `RAFT`). Every message carries the
//! sender's cluster ID so two clusters can never merge by accident.
//!
//! The layout of each message is defined here and in `wire-spec.md`; the
//! encode/decode functions live beside the types.

use bytes::Bytes;

use super::configuration::{decode_configuration, encode_configuration};
use super::error::WireError;
use super::frame::DEFAULT_MAX_FRAME_BYTES;
use super::message::Message;
use super::reader::Reader;
use super::writer::WriteExt;

/// A server's Raft identity: random, created once per data directory.
pub type NodeId = u64;

/// Random 128-bit ID created at bootstrap; 0 means "none yet" (a server that
/// has never been bootstrapped nor added).
pub type ClusterId = u128;

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct RaftMessage {
    pub cluster_id: ClusterId,
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's current term.
    pub term: u64,
    pub body: RaftBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum RaftBody {
    /// RequestVote, or a Pre-Vote (dissertation §9.6) when `pre_vote` is set:
    /// `term` is then the term the candidate would campaign in.
    RequestVote {
        pre_vote: bool,
        last_log_index: u64,
        last_log_term: u64,
        /// Set when the election follows a TimeoutNow, so voters skip the
        /// "I heard from a leader recently" check.
        leadership_transfer: bool,
    },
    RequestVoteResponse {
        pre_vote: bool,
        granted: bool,
    },
    AppendEntries {
        prev_log_index: u64,
        prev_log_term: u64,
        leader_commit: u64,
        /// ReadIndex round the leader is confirming, echoed in the response;
        /// 0 when none.
        read_round: u64,
        entries: Vec<Entry>,
    },
    AppendEntriesResponse {
        success: bool,
        /// On success, the index of the last entry the follower now matches.
        /// On failure, the follower's last log index.
        last_log_index: u64,
        /// Fast backtracking: on failure, the term of the conflicting entry
        /// (0 if the follower's log is too short) and the first index the
        /// follower holds for that term.
        conflict_term: u64,
        conflict_index: u64,
        read_round: u64,
    },
    /// One chunk of a snapshot. The receiver reassembles chunks by offset.
    InstallSnapshot {
        last_included_index: u64,
        last_included_term: u64,
        configuration: Configuration,
        total_size_bytes: u64,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    },
    InstallSnapshotResponse {
        last_included_index: u64,
        /// The offset the follower expects next (the sum of what it holds).
        next_offset: u64,
        /// False when the chunk was refused (wrong offset, stale snapshot).
        success: bool,
    },
    /// Leadership transfer: campaign now, without waiting for a timeout.
    TimeoutNow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum EntryKind {
    /// A state machine command; `data` is opaque to Raft.
    Command,
    /// The entry a new leader appends at the start of its term.
    Noop,
    /// `data` is an encoded [`Configuration`]; takes effect when appended.
    Configuration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub kind: EntryKind,
    /// Shared, not copied, by the log, the disk staging, the AppendEntries
    /// frames and the state machine: cloning an entry is a reference count.
    #[cfg_attr(feature = "fuzzing", arbitrary(with = super::arbitrary_bytes))]
    pub data: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Suffrage {
    Voter,
    /// Receives the log but neither votes nor counts toward commit: a joining
    /// server until it has caught up.
    NonVoter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct ServerEntry {
    pub id: NodeId,
    /// Node name, as shown by `node peers`.
    pub name: String,
    /// `IP:PORT` of the server's peer port.
    pub address: String,
    pub suffrage: Suffrage,
}

/// The cluster membership at some log index.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub struct Configuration {
    pub servers: Vec<ServerEntry>,
}

/// Message type bytes of the Raft family (range 0x01-0x1F).
pub const TYPE_REQUEST_VOTE: u8 = 0x01;
pub const TYPE_REQUEST_VOTE_RESPONSE: u8 = 0x02;
pub const TYPE_APPEND_ENTRIES: u8 = 0x03;
pub const TYPE_APPEND_ENTRIES_RESPONSE: u8 = 0x04;
pub const TYPE_INSTALL_SNAPSHOT: u8 = 0x05;
pub const TYPE_INSTALL_SNAPSHOT_RESPONSE: u8 = 0x06;
pub const TYPE_TIMEOUT_NOW: u8 = 0x07;

/// An entry's data: a KV command holds at most a 512 KiB value and a 512 byte
/// key, so 1 MiB leaves room for the command header while keeping one entry
/// far below the frame limit. The leader must refuse larger proposals:
/// followers would reject every AppendEntries that carries one.
pub const MAX_ENTRY_DATA_BYTES: usize = 1024 * 1024;
/// A snapshot chunk can be as large as a frame allows; the sender picks a
/// smaller chunk size so the frame (headers + configuration) still fits.
pub const MAX_SNAPSHOT_CHUNK_BYTES: usize = DEFAULT_MAX_FRAME_BYTES as usize;
/// The fixed header every Raft message starts with: cluster_id, from, to, term.
pub const RAFT_HEADER_BYTES: usize = 16 + 8 + 8 + 8;
/// One entry's minimum encoding: term (8) + index (8) + kind (1) + data length (4).
const MIN_ENTRY_BYTES: usize = 21;

impl EntryKind {
    pub fn to_byte(self) -> u8 {
        match self {
            EntryKind::Command => 0,
            EntryKind::Noop => 1,
            EntryKind::Configuration => 2,
        }
    }

    pub fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            0 => Ok(EntryKind::Command),
            1 => Ok(EntryKind::Noop),
            2 => Ok(EntryKind::Configuration),
            other => Err(WireError::InvalidValue {
                field: "entry.kind",
                value: u64::from(other),
            }),
        }
    }
}

/// One log entry: `term u64 | index u64 | kind u8 | data (u32 length + bytes)`.
/// Public so every place that writes an entry (AppendEntries, the log on
/// disk) can share one layout.
pub fn encode_entry(entry: &Entry, out: &mut Vec<u8>) {
    out.put_u64(entry.term);
    out.put_u64(entry.index);
    out.put_u8(entry.kind.to_byte());
    out.put_bytes(&entry.data);
}

pub fn decode_entry(reader: &mut Reader<'_>) -> Result<Entry, WireError> {
    let term = reader.u64()?;
    let index = reader.u64()?;
    let kind = EntryKind::from_byte(reader.u8()?)?;
    // A single entry shares the AppendEntries frame; each entry of a batch
    // gets its own copy, so a value the KV store keeps does not hold the
    // whole batch's memory (`MAX_SHARED_BUFFER_RATIO`).
    let data = reader.shared_bytes("entry.data", MAX_ENTRY_DATA_BYTES)?;
    Ok(Entry {
        term,
        index,
        kind,
        data,
    })
}

impl RaftBody {
    pub fn message_type(&self) -> u8 {
        match self {
            RaftBody::RequestVote { .. } => TYPE_REQUEST_VOTE,
            RaftBody::RequestVoteResponse { .. } => TYPE_REQUEST_VOTE_RESPONSE,
            RaftBody::AppendEntries { .. } => TYPE_APPEND_ENTRIES,
            RaftBody::AppendEntriesResponse { .. } => TYPE_APPEND_ENTRIES_RESPONSE,
            RaftBody::InstallSnapshot { .. } => TYPE_INSTALL_SNAPSHOT,
            RaftBody::InstallSnapshotResponse { .. } => TYPE_INSTALL_SNAPSHOT_RESPONSE,
            RaftBody::TimeoutNow => TYPE_TIMEOUT_NOW,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            RaftBody::RequestVote {
                pre_vote,
                last_log_index,
                last_log_term,
                leadership_transfer,
            } => {
                out.put_bool(*pre_vote);
                out.put_u64(*last_log_index);
                out.put_u64(*last_log_term);
                out.put_bool(*leadership_transfer);
            }
            RaftBody::RequestVoteResponse { pre_vote, granted } => {
                out.put_bool(*pre_vote);
                out.put_bool(*granted);
            }
            RaftBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                leader_commit,
                read_round,
                entries,
            } => {
                out.put_u64(*prev_log_index);
                out.put_u64(*prev_log_term);
                out.put_u64(*leader_commit);
                out.put_u64(*read_round);
                out.put_count(entries.len());
                for entry in entries {
                    encode_entry(entry, out);
                }
            }
            RaftBody::AppendEntriesResponse {
                success,
                last_log_index,
                conflict_term,
                conflict_index,
                read_round,
            } => {
                out.put_bool(*success);
                out.put_u64(*last_log_index);
                out.put_u64(*conflict_term);
                out.put_u64(*conflict_index);
                out.put_u64(*read_round);
            }
            RaftBody::InstallSnapshot {
                last_included_index,
                last_included_term,
                configuration,
                total_size_bytes,
                offset,
                data,
                done,
            } => {
                out.put_u64(*last_included_index);
                out.put_u64(*last_included_term);
                encode_configuration(configuration, out);
                out.put_u64(*total_size_bytes);
                out.put_u64(*offset);
                out.put_bytes(data);
                out.put_bool(*done);
            }
            RaftBody::InstallSnapshotResponse {
                last_included_index,
                next_offset,
                success,
            } => {
                out.put_u64(*last_included_index);
                out.put_u64(*next_offset);
                out.put_bool(*success);
            }
            RaftBody::TimeoutNow => {}
        }
    }

    fn decode(message_type: u8, r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(match message_type {
            TYPE_REQUEST_VOTE => RaftBody::RequestVote {
                pre_vote: r.bool("request_vote.pre_vote")?,
                last_log_index: r.u64()?,
                last_log_term: r.u64()?,
                leadership_transfer: r.bool("request_vote.leadership_transfer")?,
            },
            TYPE_REQUEST_VOTE_RESPONSE => RaftBody::RequestVoteResponse {
                pre_vote: r.bool("request_vote_response.pre_vote")?,
                granted: r.bool("request_vote_response.granted")?,
            },
            TYPE_APPEND_ENTRIES => {
                let prev_log_index = r.u64()?;
                let prev_log_term = r.u64()?;
                let leader_commit = r.u64()?;
                let read_round = r.u64()?;
                let count = r.count(MIN_ENTRY_BYTES)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push(decode_entry(r)?);
                }
                RaftBody::AppendEntries {
                    prev_log_index,
                    prev_log_term,
                    leader_commit,
                    read_round,
                    entries,
                }
            }
            TYPE_APPEND_ENTRIES_RESPONSE => RaftBody::AppendEntriesResponse {
                success: r.bool("append_entries_response.success")?,
                last_log_index: r.u64()?,
                conflict_term: r.u64()?,
                conflict_index: r.u64()?,
                read_round: r.u64()?,
            },
            TYPE_INSTALL_SNAPSHOT => RaftBody::InstallSnapshot {
                last_included_index: r.u64()?,
                last_included_term: r.u64()?,
                configuration: decode_configuration(r)?,
                total_size_bytes: r.u64()?,
                offset: r.u64()?,
                data: r
                    .bytes("install_snapshot.data", MAX_SNAPSHOT_CHUNK_BYTES)?
                    .to_vec(),
                done: r.bool("install_snapshot.done")?,
            },
            TYPE_INSTALL_SNAPSHOT_RESPONSE => RaftBody::InstallSnapshotResponse {
                last_included_index: r.u64()?,
                next_offset: r.u64()?,
                success: r.bool("install_snapshot_response.success")?,
            },
            TYPE_TIMEOUT_NOW => RaftBody::TimeoutNow,
            other => return Err(WireError::UnknownMessageType(other)),
        })
    }
}

/// Layout: `cluster_id u128 | from u64 | to u64 | term u64 | body`, the body
/// chosen by the message type byte.
impl Message for RaftMessage {
    fn message_type(&self) -> u8 {
        self.body.message_type()
    }

    fn encode_payload(&self, out: &mut Vec<u8>) {
        out.put_u128(self.cluster_id);
        out.put_u64(self.from);
        out.put_u64(self.to);
        out.put_u64(self.term);
        self.body.encode(out);
    }

    fn decode(message_type: u8, payload: &[u8]) -> Result<Self, WireError> {
        RaftMessage::decode_from(message_type, Reader::new(payload))
    }

    fn decode_shared(message_type: u8, payload: &Bytes) -> Result<Self, WireError> {
        RaftMessage::decode_from(message_type, Reader::shared(payload))
    }
}

impl RaftMessage {
    fn decode_from(message_type: u8, mut r: Reader<'_>) -> Result<Self, WireError> {
        // Check the type first so a message of another family is reported as
        // such, not as whatever its bytes fail on.
        if !(TYPE_REQUEST_VOTE..=TYPE_TIMEOUT_NOW).contains(&message_type) {
            return Err(WireError::UnknownMessageType(message_type));
        }
        let cluster_id = r.u128()?;
        let from = r.u64()?;
        let to = r.u64()?;
        let term = r.u64()?;
        let body = RaftBody::decode(message_type, &mut r)?;
        r.finish()?;
        Ok(RaftMessage {
            cluster_id,
            from,
            to,
            term,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_body() -> Vec<RaftBody> {
        vec![
            RaftBody::RequestVote {
                pre_vote: true,
                last_log_index: 10,
                last_log_term: 3,
                leadership_transfer: false,
            },
            RaftBody::RequestVoteResponse {
                pre_vote: false,
                granted: true,
            },
            RaftBody::AppendEntries {
                prev_log_index: 4,
                prev_log_term: 2,
                leader_commit: 3,
                read_round: 9,
                entries: vec![
                    Entry {
                        term: 2,
                        index: 5,
                        kind: EntryKind::Command,
                        data: Bytes::from_static(b"put k v"),
                    },
                    Entry {
                        term: 3,
                        index: 6,
                        kind: EntryKind::Noop,
                        data: Bytes::new(),
                    },
                ],
            },
            RaftBody::AppendEntriesResponse {
                success: false,
                last_log_index: 7,
                conflict_term: 2,
                conflict_index: 4,
                read_round: 0,
            },
            RaftBody::InstallSnapshot {
                last_included_index: 100,
                last_included_term: 5,
                configuration: Configuration {
                    servers: vec![ServerEntry {
                        id: 1,
                        name: "s1".into(),
                        address: "10.0.0.1:8300".into(),
                        suffrage: Suffrage::Voter,
                    }],
                },
                total_size_bytes: 4096,
                offset: 1024,
                data: vec![0xab; 16],
                done: false,
            },
            RaftBody::InstallSnapshotResponse {
                last_included_index: 100,
                next_offset: 2048,
                success: true,
            },
            RaftBody::TimeoutNow,
        ]
    }

    #[test]
    fn every_raft_body_round_trips() {
        for body in every_body() {
            let message = RaftMessage {
                cluster_id: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
                from: 1,
                to: 2,
                term: 3,
                body,
            };
            let mut payload = Vec::new();
            message.encode_payload(&mut payload);
            let decoded = RaftMessage::decode(message.message_type(), &payload).unwrap();
            assert_eq!(decoded, message);
        }
    }

    fn append_of(entries: Vec<Entry>) -> Bytes {
        let message = RaftMessage {
            cluster_id: 1,
            from: 1,
            to: 2,
            term: 1,
            body: RaftBody::AppendEntries {
                prev_log_index: 0,
                prev_log_term: 0,
                leader_commit: 0,
                read_round: 0,
                entries,
            },
        };
        let mut payload = Vec::new();
        message.encode_payload(&mut payload);
        Bytes::from(payload)
    }

    fn decoded_entries(payload: &Bytes) -> Vec<Entry> {
        match RaftMessage::decode_shared(TYPE_APPEND_ENTRIES, payload)
            .unwrap()
            .body
        {
            RaftBody::AppendEntries { entries, .. } => entries,
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn a_lone_entry_shares_its_frame_and_a_batch_entry_gets_its_own_buffer() {
        let entry = |index| Entry {
            term: 1,
            index,
            kind: EntryKind::Command,
            data: Bytes::from(vec![index as u8; 4096]),
        };
        let lone = append_of(vec![entry(1)]);
        let decoded = decoded_entries(&lone);
        assert_eq!(decoded, vec![entry(1)]);
        assert!(lone.as_ptr_range().contains(&decoded[0].data.as_ptr()));
        let batch = append_of((1..=4).map(entry).collect());
        let decoded = decoded_entries(&batch);
        assert_eq!(decoded, (1..=4).map(entry).collect::<Vec<_>>());
        for entry in &decoded {
            assert!(!batch.as_ptr_range().contains(&entry.data.as_ptr()));
        }
    }

    #[test]
    fn client_type_bytes_are_unknown_to_the_raft_family() {
        assert_eq!(
            RaftMessage::decode(0x20, &[0; 64]),
            Err(WireError::UnknownMessageType(0x20))
        );
    }
}
