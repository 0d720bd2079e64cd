//! One simulated agent: the real `AgentHandler` (with the real Raft host
//! for a server) over a real data directory, started as `node agent`
//! starts it (`src/agent/io/run.rs`), crashed by dropping it, restarted
//! from its directory only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use concord::agent::config::{AgentConfig, Bootstrap};
use concord::agent::handler::AgentHandler;
use concord::agent::seam::StopReason;
use concord::agent::server::RaftServer;
use concord::deterministic_rng::SplitMix64;
use concord::storage::LogOptions;
use concord::storage::member_list::{MemberList, MemberListStore};

use super::sim_io::Deferred;

/// Segments this small roll and compact often in a short run, and a
/// simulator that starts thousands of servers does not zero-fill 64 MiB
/// for each.
pub const SEGMENT_SIZE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    Up,
    /// Killed (or SIGTERM): a restart rejoins the members it remembers.
    Down,
    /// Left gracefully: a restart needs an operator's join.
    Left,
}

pub struct Agent {
    pub name: String,
    pub address: SocketAddr,
    pub server: bool,
    pub bootstrap: bool,
    pub dir: PathBuf,
    pub handler: Option<AgentHandler>,
    pub status: Status,
    /// `--join` addresses given at every start.
    pub join: Vec<SocketAddr>,
    pub entropy: SplitMix64,
    pub deferred: Vec<Deferred>,
    pub stop: Option<StopReason>,
    pub next_tick_us: u64,
    /// An input arrived in this step: the turn ends with `on_turn_end`.
    pub touched: bool,
    pub snapshot_every_entries: u64,
    pub starts: u64,
}

impl Agent {
    pub fn new(
        name: String,
        address: SocketAddr,
        server: bool,
        dir: PathBuf,
        seed: u64,
        snapshot_every_entries: u64,
    ) -> Agent {
        Agent {
            name,
            address,
            server,
            bootstrap: false,
            dir,
            handler: None,
            status: Status::NotStarted,
            join: Vec::new(),
            entropy: SplitMix64::new(seed),
            deferred: Vec::new(),
            stop: None,
            next_tick_us: 0,
            touched: false,
            snapshot_every_entries,
            starts: 0,
        }
    }

    pub fn is_up(&self) -> bool {
        self.status == Status::Up
    }

    fn config(&self) -> AgentConfig {
        AgentConfig {
            server: self.server,
            bootstrap: if self.bootstrap {
                Bootstrap::Single
            } else {
                Bootstrap::None
            },
            data_dir: self.dir.clone(),
            bind: self.address,
            advertise: self.address,
            node_name: self.name.clone(),
            datacenter: "dc1".into(),
            join: self.join.clone(),
        }
    }

    /// Builds the agent from its directory as `run` does; the first tick
    /// comes at a seeded phase within the tick interval.
    pub fn start(&mut self, now: Instant, now_us: u64, tick_phase_us: u64) {
        let config = self.config();
        config
            .validate()
            .expect("the simulated configuration is valid");
        std::fs::create_dir_all(&self.dir).expect("create the data directory");
        let store = MemberListStore::open(&self.dir).expect("open the member list");
        let remembered = store.load().unwrap_or_else(|_| MemberList::default());
        let seed = self.entropy.next_u64();
        let raft = self.server.then(|| {
            let log = LogOptions {
                segment_size_bytes: SEGMENT_SIZE_BYTES,
            };
            let mut raft =
                RaftServer::open_with_log_options(&self.dir, &self.name, self.address, seed, log)
                    .unwrap_or_else(|err| panic!("{} cannot reopen its data: {err}", self.name));
            raft.set_snapshot_every_entries(self.snapshot_every_entries);
            raft
        });
        let mut handler =
            AgentHandler::new(config, Some(store), remembered, now, seed.rotate_left(17));
        if let Some(raft) = raft {
            handler = handler.with_raft(raft, now);
        }
        self.handler = Some(handler);
        self.status = Status::Up;
        self.stop = None;
        self.next_tick_us = now_us + tick_phase_us;
        self.starts += 1;
    }

    /// The process is gone: its threads' unfinished work with it, then the
    /// agent (which releases the data directory's lock).
    pub fn kill(&mut self, status: Status) {
        self.deferred.clear();
        self.handler = None;
        self.status = status;
        self.stop = None;
        self.touched = false;
    }
}
