//! `node agent`: binds the loop, opens the data directory, builds the
//! agent and runs it until it leaves or is stopped.

use std::time::Instant;

use crate::storage::member_list::{MemberList, MemberListStore};

use crate::agent::config::{AgentConfig, ConfigError};
use crate::agent::handler::AgentHandler;
use crate::agent::io::event_loop::{EventLoop, EventLoopConfig, EventLoopError, StopReason};
use crate::agent::io::transport::TransportLimits;
use crate::agent::server::{RaftServer, RaftServerError};

#[derive(Debug)]
pub enum AgentError {
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    Config(ConfigError),
    EventLoop(EventLoopError),
    Raft(RaftServerError),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::DataDir { path, source } => {
                write!(
                    f,
                    "cannot create data directory {}: {source}",
                    path.display()
                )
            }
            AgentError::Config(err) => write!(f, "{err}"),
            AgentError::EventLoop(err) => write!(f, "{err}"),
            AgentError::Raft(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Entropy for a process: the wall clock's nanoseconds and the process ID.
fn process_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// The member list the last run saved, and the store to save it again.
fn open_member_list(config: &AgentConfig) -> (Option<MemberListStore>, MemberList) {
    match MemberListStore::open(&config.data_dir) {
        Ok(store) => {
            let remembered = store.load().unwrap_or_else(|err| {
                log::error!(target: "storage",
                    "ignoring the saved gossip member list: {err}; it will be rewritten");
                MemberList::default()
            });
            (Some(store), remembered)
        }
        Err(err) => {
            log::error!(target: "storage",
                "cannot open the gossip member list: {err}; members will not be remembered");
            (None, MemberList::default())
        }
    }
}

/// Runs the agent until it leaves or is stopped.
pub fn run(config: AgentConfig) -> Result<(), AgentError> {
    config.validate().map_err(AgentError::Config)?;
    // Bind first: an agent that cannot have its port leaves nothing behind.
    let mut event_loop = EventLoop::new(EventLoopConfig {
        bind: config.bind,
        limits: TransportLimits::default(),
        handle_signals: true,
    })
    .map_err(AgentError::EventLoop)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| AgentError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    log::info!(target: "agent",
        "concord agent running: node {} ({}), datacenter {}, bound to {} (TCP and UDP)",
        config.node_name, config.role(), config.datacenter, event_loop.local_addr());
    let (store, remembered) = open_member_list(&config);
    let seed = process_seed();
    let raft = if config.server {
        let opened = RaftServer::open(&config.data_dir, &config.node_name, config.advertise, seed);
        Some(opened.map_err(AgentError::Raft)?)
    } else {
        None
    };
    let now = Instant::now();
    let mut agent = AgentHandler::new(config, store, remembered, now, seed.rotate_left(17));
    if let Some(raft) = raft {
        agent = agent.with_raft(raft, now);
    }
    let reason = event_loop.run(&mut agent).map_err(AgentError::EventLoop)?;
    match reason {
        StopReason::Left => log::info!(target: "agent", "graceful leave complete"),
        StopReason::Terminated | StopReason::Requested => {
            log::info!(target: "agent", "agent stopped")
        }
    }
    Ok(())
}
