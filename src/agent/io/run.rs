//! `node agent`: binds the loop (peer port and HTTP API), opens the data
//! directory (a temporary one with `--dev`), builds the agent and runs it
//! until it leaves or is stopped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::storage::LogOptions;
use crate::storage::member_list::{MemberList, MemberListStore};

use crate::agent::config::{
    AgentConfig, ConfigError, DEFAULT_DNS_ADDR, DEFAULT_HTTP_ADDR, DnsAddr, DnsOptions, HttpAddr,
};
use crate::agent::config_file::resolve::Resolved;
use crate::agent::handler::AgentHandler;
use crate::agent::io::dns_server::DnsServerLimits;
use crate::agent::io::event_loop::DnsListen;
use crate::agent::io::event_loop::{
    EventLoop, EventLoopConfig, EventLoopError, HttpListen, StopReason,
};
use crate::agent::io::http_server::HttpServerLimits;
use crate::agent::io::transport::TransportLimits;
use crate::agent::local_state::ScriptChecks;
use crate::agent::server::{RaftServer, RaftServerError};
use crate::dns::DnsConfig;
use crate::storage::agent_definitions::AgentDefinitionsStore;

#[derive(Debug)]
pub enum AgentError {
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    Config(ConfigError),
    EventLoop(EventLoopError),
    Raft(RaftServerError),
    /// A configuration file's service or check the agent refused.
    Definitions(String),
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
            AgentError::Definitions(err) => write!(f, "{err}"),
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

/// Log segments of a `--dev` agent: room for the largest entry (a 512 KiB
/// value, or a transaction body of 512 KiB) several times over.
pub const DEV_SEGMENT_SIZE_BYTES: u64 = 4 * 1024 * 1024;

fn http_listen(http: HttpAddr) -> Option<HttpListen> {
    let (address, required) = match http {
        HttpAddr::Default => (DEFAULT_HTTP_ADDR, false),
        HttpAddr::At(address) => (address, true),
        HttpAddr::Off => return None,
    };
    Some(HttpListen {
        address,
        required,
        limits: HttpServerLimits::default(),
    })
}

fn dns_listen(dns: DnsAddr) -> Option<DnsListen> {
    let (address, required) = match dns {
        DnsAddr::Default => (DEFAULT_DNS_ADDR, false),
        DnsAddr::At(address) => (address, true),
        DnsAddr::Off => return None,
    };
    Some(DnsListen {
        address,
        required,
        limits: DnsServerLimits::default(),
    })
}

fn dns_config(options: &DnsOptions) -> DnsConfig {
    let mut domain = options.domain.trim().to_ascii_lowercase();
    if !domain.ends_with('.') {
        domain.push('.');
    }
    DnsConfig {
        domain,
        only_passing: options.only_passing,
        node_ttl_s: options.node_ttl_s,
        service_ttls_s: options.service_ttls_s.clone(),
        ..DnsConfig::default()
    }
}

/// A `--dev` data directory: created fresh, removed when dropped (the agent
/// returns from its loop on every stop, so this runs at every exit but a
/// kill -9).
struct TemporaryDataDir(PathBuf);

impl TemporaryDataDir {
    fn create() -> Result<TemporaryDataDir, AgentError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("concord-dev-{}-{nanos:09}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).map_err(|source| AgentError::DataDir {
            path: path.clone(),
            source,
        })?;
        Ok(TemporaryDataDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TemporaryDataDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.0) {
            Ok(()) => log::info!(target: "agent",
                "dev mode: removed the data directory {}", self.0.display()),
            Err(err) => log::warn!(target: "agent",
                "dev mode: cannot remove the data directory {}: {err}", self.0.display()),
        }
    }
}

/// Runs the agent until it leaves or is stopped.
pub fn run(resolved: Resolved) -> Result<(), AgentError> {
    let Resolved {
        mut config,
        options,
        definitions,
        log_level_pinned,
        ..
    } = resolved;
    config.validate().map_err(AgentError::Config)?;
    // Bind first: an agent that cannot have its port leaves nothing behind.
    let mut event_loop = EventLoop::new(EventLoopConfig {
        bind: config.bind,
        limits: TransportLimits::default(),
        handle_signals: true,
        http: http_listen(options.http),
        dns: dns_listen(options.dns.addr),
    })
    .map_err(AgentError::EventLoop)?;
    let temporary = match options.temporary_data_dir {
        true => Some(TemporaryDataDir::create()?),
        false => None,
    };
    if let Some(temporary) = &temporary {
        config.data_dir = temporary.path().to_path_buf();
        log::info!(target: "agent",
            "dev mode: data in {} (removed at exit)", config.data_dir.display());
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|source| AgentError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    log::info!(target: "agent",
        "concord agent running: node {} ({}), datacenter {}, bound to {} (TCP and UDP)",
        config.node_name, config.role(), config.datacenter, event_loop.local_addr());
    if let Some(http) = event_loop.http_addr() {
        log::info!(target: "agent", "Started HTTP server on {http} (tcp)");
    }
    if let Some(dns) = event_loop.dns_addr() {
        log::info!(target: "agent", "Started DNS server on {dns} (udp and tcp)");
    }
    let (store, remembered) = open_member_list(&config);
    let seed = process_seed();
    let raft = if config.server {
        // A dev agent starts in well under a second: a full segment is 64
        // MiB of zeros written and fsynced before the first entry.
        let log = match options.temporary_data_dir {
            true => LogOptions {
                segment_size_bytes: DEV_SEGMENT_SIZE_BYTES,
            },
            false => LogOptions::default(),
        };
        let opened = RaftServer::open_with_log_options(
            &config.data_dir,
            &config.node_name,
            config.advertise,
            seed,
            log,
        );
        Some(opened.map_err(AgentError::Raft)?)
    } else {
        None
    };
    let now = Instant::now();
    let config_data_dir = config.data_dir.clone();
    let mut agent = AgentHandler::new(config, store, remembered, now, seed.rotate_left(17))
        .with_dns(dns_config(&options.dns), options.dns.recursor);
    if let Some(raft) = raft {
        agent = agent.with_raft(raft, now);
    }
    agent.local.state.set_script_checks(ScriptChecks {
        // Consul's `enable_local_script_checks` defaults to what a file
        // may say; files are the operator's own.
        from_local: true,
        from_remote: options.enable_script_checks,
    });
    if log_level_pinned {
        agent.local.pin_log_level();
    }
    agent
        .local
        .register_definitions(definitions, &options.config_sources, now)
        .map_err(AgentError::Definitions)?;
    match AgentDefinitionsStore::open(&config_data_dir) {
        Ok(store) => agent.local.restore(store, now),
        Err(err) => log::error!(target: "agent",
            "cannot keep HTTP-registered services across restarts: {err}"),
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
