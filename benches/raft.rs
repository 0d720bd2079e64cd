//! Core-only throughput: three Raft nodes in memory, no I/O. The benchmark
//! loop delivers messages and acknowledges every Ready at once; proposals
//! are batched. Reports committed entries per second on the leader.
//!
//! Run: `cargo bench --bench raft` (optionally `RAFT_BENCH_ENTRIES`,
//! `RAFT_BENCH_BATCH`, `RAFT_BENCH_PAYLOAD_BYTES`).

use std::collections::VecDeque;
use std::time::Instant;

use concord::raft::{RaftConfig, RaftNode, RestoredState, Role};
use concord::wire::raft_message::{RaftMessage, ServerEntry, Suffrage};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    nodes: Vec<RaftNode>,
    queue: VecDeque<RaftMessage>,
    applied: [u64; 3],
}

impl Bench {
    fn node_index(id: u64) -> usize {
        (id - 1) as usize
    }

    fn process(&mut self, i: usize) {
        while self.nodes[i].has_ready() {
            let node = &mut self.nodes[i];
            let mut ready = node.ready();
            self.queue.extend(ready.messages.drain(..));
            self.queue.extend(ready.messages_after_persist.drain(..));
            if let Some(last) = ready.committed_entries.last() {
                self.applied[i] = last.index;
            }
            node.advance(&ready);
        }
    }

    fn run_until_quiet(&mut self) {
        loop {
            for i in 0..self.nodes.len() {
                self.process(i);
            }
            if self.queue.is_empty() {
                return;
            }
            while let Some(msg) = self.queue.pop_front() {
                let to = Self::node_index(msg.to);
                self.nodes[to].step(msg);
            }
        }
    }
}

fn config(id: u64) -> RaftConfig {
    let mut config = RaftConfig::new(id, format!("n{id}"), format!("10.0.0.{id}:8300"));
    config.max_entries_per_append = 4096;
    config.max_uncommitted_entries = 1 << 20;
    config.max_committed_entries_per_ready = 1 << 16;
    config
}

fn main() {
    let total = env_usize("RAFT_BENCH_ENTRIES", 3_000_000) as u64;
    let batch = env_usize("RAFT_BENCH_BATCH", 4096);
    let payload = env_usize("RAFT_BENCH_PAYLOAD_BYTES", 16);
    let mut bench = Bench {
        nodes: (1..=3)
            .map(|id| RaftNode::new(config(id), RestoredState::default(), id).unwrap())
            .collect(),
        queue: VecDeque::new(),
        applied: [0; 3],
    };
    bench.nodes[0].bootstrap();
    bench.run_until_quiet();
    for id in [2, 3] {
        bench.nodes[0]
            .add_server(ServerEntry {
                id,
                name: format!("n{id}"),
                address: format!("10.0.0.{id}:8300"),
                suffrage: Suffrage::Voter,
            })
            .unwrap();
        while bench.nodes[0].latest_configuration().servers.len() < id as usize
            || bench.nodes[0]
                .latest_configuration()
                .servers
                .iter()
                .any(|s| s.suffrage != Suffrage::Voter)
            || bench.nodes[0].commit_index() < bench.nodes[0].status().last_log_index
        {
            bench.run_until_quiet();
            for node in bench.nodes.iter_mut() {
                node.tick();
            }
        }
    }
    assert_eq!(bench.nodes[0].role(), Role::Leader);

    let data = bytes::Bytes::from(vec![0xAB; payload]);
    let start_commit = bench.nodes[0].commit_index();
    let target = start_commit + total;
    let started = Instant::now();
    let mut last_snapshot = 0u64;
    while bench.nodes[0].commit_index() < target {
        for _ in 0..batch {
            bench.nodes[0].propose(data.clone()).unwrap();
        }
        bench.run_until_quiet();
        // Keep memory flat: each node snapshots what it applied.
        let applied = bench.applied;
        if applied[0] - last_snapshot > 200_000 {
            for (i, node) in bench.nodes.iter_mut().enumerate() {
                if applied[i] > node.snapshot_index() {
                    node.snapshot_taken(applied[i]).unwrap();
                }
            }
            last_snapshot = applied[0];
        }
    }
    let elapsed = started.elapsed();
    let committed = bench.nodes[0].commit_index() - start_commit;
    let rate = committed as f64 / elapsed.as_secs_f64();
    println!(
        "raft core, 3 nodes in memory: {committed} entries of {payload} B committed in {:.3} s \
         = {:.0} entries/s (batch {batch})",
        elapsed.as_secs_f64(),
        rate
    );
}
