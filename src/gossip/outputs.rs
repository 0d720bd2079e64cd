//! What the state machine hands the agent after each batch of inputs.

use super::member::Member;
use crate::wire::gossip_message::{GossipMessage, PushPull};

/// Membership changes, for the agent's leader to turn into Raft membership
/// and catalog changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    /// New, or back from dead/left.
    Joined(Member),
    /// Address or tags changed.
    Updated(Member),
    Failed(Member),
    Left(Member),
    /// Forgotten after the reap timeout.
    Reaped(Member),
}

impl MemberEvent {
    pub fn member(&self) -> &Member {
        match self {
            MemberEvent::Joined(m)
            | MemberEvent::Updated(m)
            | MemberEvent::Failed(m)
            | MemberEvent::Left(m)
            | MemberEvent::Reaped(m) => m,
        }
    }
}

/// A line for the agent to log under target `gossip`, worded like
/// memberlist/serf so operators recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: log::Level,
    pub message: String,
}

#[derive(Debug, Default, Clone)]
pub struct Outputs {
    /// `(to address, messages)`; each batch encodes with
    /// `wire::datagram::encode_datagram` within its byte and message limits.
    pub datagrams: Vec<(String, Vec<GossipMessage>)>,
    /// Full state exchanges to open over TCP (purpose gossip-sync); the
    /// answer goes to [`super::Gossip::receive_push_pull_reply`].
    pub push_pulls: Vec<(String, PushPull)>,
    pub events: Vec<MemberEvent>,
    pub log_lines: Vec<LogLine>,
    /// Probes finished since the outputs were last taken (at most one per
    /// probe interval), for the agent's metrics.
    pub probes: Vec<ProbeResult>,
}

/// Probe results kept until the host takes the outputs; past it, newer
/// results are dropped (a host that never takes them costs no memory).
pub const MAX_QUEUED_PROBE_RESULTS: usize = 64;

impl Outputs {
    pub(super) fn note_probe(&mut self, result: ProbeResult) {
        if self.probes.len() < MAX_QUEUED_PROBE_RESULTS {
            self.probes.push(result);
        }
    }
}

/// How one of our probes ended: acked (directly or through a helper) after
/// `duration_ms`, or given up at the end of its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeResult {
    pub duration_ms: u64,
    pub acked: bool,
}
