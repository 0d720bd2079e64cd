//! The leader's view of one follower's replication (etcd's Progress).

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationState {
    /// Next index unknown: one AppendEntries at a time until one succeeds.
    Probe,
    /// Pipelining: up to `max_inflight_appends` unacknowledged appends.
    Replicate,
    /// The follower needs entries the leader compacted: send the snapshot.
    Snapshot(SnapshotTransfer),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTransfer {
    pub snapshot_index: u64,
    /// Known once the agent answered the first chunk request.
    pub total_size_bytes: Option<u64>,
    /// The offset requested from the agent or awaited from the follower.
    pub next_offset: u64,
    /// Ticks since the last request or acknowledgement; a lost chunk is
    /// re-requested after an election timeout.
    pub waiting_ticks: u32,
}

#[derive(Debug, Clone)]
pub struct Progress {
    /// The peer's address, for the operator's log lines.
    pub address: String,
    pub match_index: u64,
    pub next_index: u64,
    pub state: ReplicationState,
    /// Last index carried by each unacknowledged append, oldest first, with
    /// the entry payload bytes it carried.
    pub inflight: VecDeque<(u64, u64)>,
    /// The sum of the bytes in `inflight`.
    inflight_bytes: u64,
    /// In Probe: an append is outstanding.
    pub probe_sent: bool,
    /// Heard from since the last CheckQuorum round.
    pub recent_active: bool,
    /// Ticks with appends in flight and no acknowledgement: a lost append
    /// leaves a gap the follower never reports, so the leader re-probes.
    pub stalled_ticks: u32,
    /// Highest ReadIndex round the follower acknowledged in this term.
    pub read_round_acked: u64,
}

impl Progress {
    pub fn new(next_index: u64, address: String) -> Self {
        Progress {
            address,
            match_index: 0,
            next_index,
            state: ReplicationState::Probe,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            probe_sent: false,
            recent_active: true,
            stalled_ticks: 0,
            read_round_acked: 0,
        }
    }

    /// An append carrying entries through `last`, `bytes` of payload.
    pub fn add_inflight(&mut self, last: u64, bytes: u64) {
        self.inflight.push_back((last, bytes));
        self.inflight_bytes += bytes;
    }

    pub fn inflight_bytes(&self) -> u64 {
        self.inflight_bytes
    }

    pub fn clear_inflight(&mut self) {
        self.inflight.clear();
        self.inflight_bytes = 0;
    }

    pub fn become_probe(&mut self) {
        self.state = ReplicationState::Probe;
        self.next_index = self.next_index.max(self.match_index + 1);
        self.clear_inflight();
        self.probe_sent = false;
        self.stalled_ticks = 0;
    }

    pub fn become_replicate(&mut self) {
        self.state = ReplicationState::Replicate;
        self.next_index = self.match_index + 1;
        self.clear_inflight();
        self.probe_sent = false;
        self.stalled_ticks = 0;
    }

    /// Records an acknowledgement that the follower matches through `index`;
    /// true when the match index moved.
    pub fn acknowledge(&mut self, index: u64) -> bool {
        while let Some(&(last, bytes)) = self.inflight.front()
            && last <= index
        {
            self.inflight.pop_front();
            self.inflight_bytes -= bytes;
        }
        if index > self.match_index {
            self.match_index = index;
            self.next_index = self.next_index.max(index + 1);
            self.stalled_ticks = 0;
            true
        } else {
            false
        }
    }
}
