//! The command line of `node`: clap's definitions of every subcommand
//! and flag, and the parsers of their values.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use concord::agent::address::{DEFAULT_DNS_PORT, DEFAULT_HTTP_PORT, DEFAULT_PORT, parse_address};
use concord::agent::config::{DnsAddr, HttpAddr};
use concord::wire::client_message::Consistency;

/// concord agent: a Consul-style cluster agent (Raft servers, gossiping
/// clients, a replicated key/value store).
///
/// Without a subcommand, `node` runs the agent (`node agent`).
//
// The agent's flags and a subcommand exclude each other (checked by
// `refuse_agent_flags_with_subcommand`, not by clap's
// `args_conflicts_with_subcommands`, which would also refuse the global
// options in `node --log-level debug info`).
#[derive(Parser, Debug)]
#[command(name = "node", version, about, disable_help_subcommand = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    #[command(flatten)]
    pub(crate) agent: AgentArgs,

    /// Log level: trace, debug, info, warn or err (overrides RUST_LOG).
    #[arg(long, value_name = "LEVEL", global = true)]
    pub(crate) log_level: Option<String>,

    /// Agent a client subcommand talks to: IP or IP:PORT [env: NODE_RPC_ADDR]
    /// [default: 127.0.0.1:8300]. Not used by the agent itself.
    #[arg(long, value_name = "IP[:PORT]", global = true, value_parser = parse_peer_address)]
    pub(crate) rpc_addr: Option<SocketAddr>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Run the agent (the default when no subcommand is given).
    Agent(Box<AgentArgs>),
    /// Ask the agent to join a cluster through one or more existing members.
    Join {
        /// Addresses of members to contact: IP or IP:PORT (port 8300 when omitted).
        #[arg(value_name = "ADDR", required = true, value_parser = parse_peer_address)]
        addresses: Vec<SocketAddr>,
    },
    /// Gracefully leave the cluster; the agent then exits.
    Leave,
    /// Force a failed member into the left state: the leader then removes
    /// it from the catalog and, for a server, from Raft at once.
    ForceLeave {
        /// The failed member's node name.
        #[arg(value_name = "NODE")]
        node: String,
        /// Also remove it from this agent's member list at once.
        #[arg(long)]
        prune: bool,
    },
    /// List the members of the gossip pool the agent knows.
    Members,
    /// Show the Raft configuration: every server, its state and whether it votes.
    Peers,
    /// Show the agent's state: agent, raft and gossip sections.
    Info,
    /// Read and write the replicated key/value store.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Query the replicated node catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Register and deregister the agent's own services.
    #[command(subcommand)]
    Services(ServicesCommand),
    /// The operator's tools (Consul's `operator`).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Measure KV throughput and latency against a running cluster.
    Bench(BenchArgs),
}

/// Settings of a running agent.
#[derive(Args, Debug, Clone)]
pub(crate) struct AgentArgs {
    /// Run as a server: a Raft voter holding the KV store and catalog.
    #[arg(long)]
    pub(crate) server: bool,
    /// Bootstrap a new single-server cluster with this server as leader (implies --server).
    #[arg(long, conflicts_with = "bootstrap_expect")]
    pub(crate) bootstrap: bool,
    /// Wait for N servers to join, then bootstrap the cluster together (implies --server).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) bootstrap_expect: Option<u32>,
    /// Directory for the Raft log, snapshots and node identity.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Address to bind for TCP (Raft, RPC) and UDP (gossip): IP or IP:PORT.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_peer_address)]
    pub(crate) bind: Option<SocketAddr>,
    /// Address other nodes use to reach this one (default: the bind address).
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_peer_address)]
    pub(crate) advertise: Option<SocketAddr>,
    /// Node name, unique in the cluster (default: the host name).
    #[arg(long = "node", value_name = "NAME")]
    pub(crate) node_name: Option<String>,
    /// Datacenter of this agent.
    #[arg(long, value_name = "DC")]
    pub(crate) datacenter: Option<String>,
    /// Address of a member to join at start; repeat for several.
    #[arg(long, value_name = "ADDR", value_parser = parse_peer_address)]
    pub(crate) join: Vec<SocketAddr>,
    /// Address of Consul's HTTP API: IP or IP:PORT (port 8500 when omitted);
    /// "" serves no HTTP. By default 127.0.0.1:8500, or no HTTP (with a
    /// warning) when another agent on the machine already has it.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_http_address)]
    pub(crate) http_addr: Option<HttpAddr>,
    /// Address of the DNS interface (UDP and TCP): IP or IP:PORT (port 8600
    /// when omitted); "" serves no DNS. By default 127.0.0.1:8600, or no
    /// DNS (with a warning) when another agent on the machine has it.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_dns_address)]
    pub(crate) dns_addr: Option<DnsAddr>,
    /// The DNS zone answered (default "consul.").
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: Option<String>,
    /// DNS answers leave out instances with a warning check too.
    #[arg(long)]
    pub(crate) dns_only_passing: bool,
    /// A DNS server that names outside the domain are forwarded to (UDP):
    /// IP or IP:PORT (port 53 when omitted). Without it they are REFUSED.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_recursor_address)]
    pub(crate) recursor: Option<SocketAddr>,
    /// Development mode: a bootstrapped server with its data in a fresh
    /// temporary directory (removed at exit) and HTTP on 127.0.0.1:8500.
    #[arg(long, conflicts_with_all = ["data_dir", "bootstrap_expect"])]
    pub(crate) dev: bool,
    /// Run script checks (`Args`) registered through the HTTP API; off by
    /// default, as Consul's `enable_script_checks`.
    #[arg(long)]
    pub(crate) enable_script_checks: bool,
    /// A JSON configuration file in Consul's agent format; repeat for
    /// several (later ones override earlier ones; flags override files).
    #[arg(long, value_name = "FILE")]
    pub(crate) config_file: Vec<PathBuf>,
    /// A directory whose `*.json` files are read, in name order, after
    /// the `--config-file`s.
    #[arg(long, value_name = "DIR")]
    pub(crate) config_dir: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum KvCommand {
    /// Write VALUE at KEY.
    Put {
        /// The key (at most 512 bytes).
        key: String,
        /// The value (at most 512 KiB); `-` reads it from standard input, `@FILE` from a file.
        value: String,
        /// Write only if the key's ModifyIndex is INDEX; 0 writes only if the key is absent.
        #[arg(long, value_name = "INDEX")]
        cas: Option<u64>,
    },
    /// Print the value at KEY.
    Get {
        /// The key, or the prefix with --recurse.
        key: String,
        #[command(flatten)]
        consistency: ConsistencyArgs,
        /// Print every key under the prefix KEY as key:value lines.
        #[arg(long)]
        recurse: bool,
        /// Print the entry's CreateIndex, Flags, LockIndex, ModifyIndex
        /// (what `kv put --cas` takes) and Session with its value.
        #[arg(long)]
        detailed: bool,
    },
    /// Delete KEY.
    Delete {
        /// The key, or the prefix with --recurse.
        key: String,
        /// Delete every key under the prefix KEY.
        #[arg(long)]
        recurse: bool,
    },
}

#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct ConsistencyArgs {
    /// Allow any server to answer from its local state, possibly stale.
    #[arg(long, conflicts_with = "consistent")]
    pub(crate) stale: bool,
    /// Linearizable read: the leader confirms its leadership with a quorum first.
    #[arg(long)]
    pub(crate) consistent: bool,
}

impl ConsistencyArgs {
    pub(crate) fn mode(self) -> Consistency {
        if self.stale {
            Consistency::Stale
        } else if self.consistent {
            Consistency::Consistent
        } else {
            Consistency::Default
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum CatalogCommand {
    /// List the nodes registered in the replicated catalog.
    Nodes {
        /// Only the nodes running this service.
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
    },
    /// List the services registered in the catalog.
    Services {
        /// Show each service's tags too.
        #[arg(long)]
        tags: bool,
    },
}

/// The agent's own services, through its HTTP API (as Consul's CLI).
#[derive(Subcommand, Debug)]
pub(crate) enum ServicesCommand {
    /// Register the services a definition file describes.
    Register {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The agent's HTTP API.
        #[arg(long, value_name = "IP[:PORT]", env = "CONSUL_HTTP_ADDR",
              default_value = "127.0.0.1:8500", value_parser = parse_http_bench_address)]
        http_addr: SocketAddr,
    },
    /// Deregister a service of the agent by its ID.
    Deregister {
        #[arg(value_name = "ID")]
        id: String,
        /// The agent's HTTP API.
        #[arg(long, value_name = "IP[:PORT]", env = "CONSUL_HTTP_ADDR",
              default_value = "127.0.0.1:8500", value_parser = parse_http_bench_address)]
        http_addr: SocketAddr,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum OperatorCommand {
    /// Inspect the Raft configuration.
    #[command(subcommand)]
    Raft(OperatorRaftCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum OperatorRaftCommand {
    /// List the Raft servers as the leader sees them.
    ListPeers {
        /// Ask the agent's server for its own view instead of the leader's
        /// (works without a leader; other servers' indexes are unknown).
        #[arg(long)]
        stale: bool,
    },
    /// Remove a failed or gone server from the Raft configuration (a live
    /// one is refused: the leader would add it back).
    RemovePeer {
        /// The server's ID, as list-peers shows it.
        #[arg(long, value_name = "ID", value_parser = parse_server_id,
              required_unless_present = "address", conflicts_with = "address")]
        id: Option<u64>,
        /// The server's Raft address (IP:PORT), as list-peers shows it.
        #[arg(long, value_name = "IP:PORT")]
        address: Option<String>,
    },
    /// Hand leadership to another voting server and wait until it leads.
    TransferLeader {
        /// The server's ID, as list-peers shows it (default: the most
        /// up-to-date other voter).
        #[arg(long, value_name = "ID", value_parser = parse_server_id)]
        id: Option<u64>,
    },
}

pub(crate) fn parse_server_id(id: &str) -> Result<u64, String> {
    u64::from_str_radix(id, 16).map_err(|_| format!("{id:?} is not a server ID (16 hex digits)"))
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub(crate) enum BenchOp {
    /// Timed KV writes.
    Put,
    /// Timed KV reads (100 keys are written first, untimed).
    Get,
    /// Blocking queries held on many connections, woken by writes one at a
    /// time (needs --http).
    Watch,
}

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Operation to measure.
    #[arg(value_enum)]
    pub(crate) operation: BenchOp,
    /// Concurrent clients, each with its own connection.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub(crate) clients: usize,
    /// Total requests, shared among the clients.
    #[arg(long, value_name = "M", default_value_t = 10_000)]
    pub(crate) requests: u64,
    /// Size of each written value in bytes.
    #[arg(long, value_name = "B", default_value_t = 128)]
    pub(crate) value_size: usize,
    /// Requests each client keeps in flight (pipelining), 1 to 64. Over
    /// HTTP they are pipelined on the keep-alive connection, answered in
    /// order; the agent works on one request of a connection at a time.
    #[arg(long, value_name = "W", default_value_t = 8)]
    pub(crate) window: usize,
    #[command(flatten)]
    pub(crate) consistency: ConsistencyArgs,
    /// Speak Consul's HTTP API (one keep-alive connection per client)
    /// instead of the native protocol.
    #[arg(long)]
    pub(crate) http: bool,
    /// The agent's HTTP API address, with --http.
    #[arg(long, value_name = "IP[:PORT]", default_value = "127.0.0.1:8500",
          value_parser = parse_http_bench_address)]
    pub(crate) http_addr: SocketAddr,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
}

/// `bench watch` only.
#[derive(Args, Debug)]
pub(crate) struct WatchArgs {
    /// Blocking queries held, each on its own connection.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub(crate) watchers: usize,
    /// How many of the watchers watch a prefix (`?recurse`); the others
    /// watch one key each.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub(crate) prefix_watchers: usize,
    /// Distinct keys watched (written once before the watchers arm).
    #[arg(long, value_name = "K", default_value_t = 1_000)]
    pub(crate) keys: usize,
    /// Prefixes the keys are spread under.
    #[arg(long, value_name = "P", default_value_t = 100)]
    pub(crate) prefixes: usize,
    /// Writes, one at a time, each to a random watched key.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub(crate) writes: u64,
    /// Threads polling the watchers' connections.
    #[arg(long, value_name = "T", default_value_t = 2)]
    pub(crate) threads: usize,
    /// The agent's process ID, to report its resident memory.
    #[arg(long, value_name = "PID")]
    pub(crate) pid: Option<u32>,
}

pub(crate) fn parse_peer_address(input: &str) -> Result<SocketAddr, String> {
    parse_address(input, DEFAULT_PORT).map_err(|e| e.to_string())
}

pub(crate) fn parse_http_bench_address(input: &str) -> Result<SocketAddr, String> {
    parse_address(input, DEFAULT_HTTP_PORT).map_err(|e| e.to_string())
}

pub(crate) fn parse_http_address(input: &str) -> Result<HttpAddr, String> {
    if input.trim().is_empty() {
        return Ok(HttpAddr::Off);
    }
    parse_address(input, DEFAULT_HTTP_PORT)
        .map(HttpAddr::At)
        .map_err(|e| e.to_string())
}

pub(crate) fn parse_recursor_address(input: &str) -> Result<SocketAddr, String> {
    parse_address(input, 53).map_err(|e| e.to_string())
}

pub(crate) fn parse_dns_address(input: &str) -> Result<DnsAddr, String> {
    if input.trim().is_empty() {
        return Ok(DnsAddr::Off);
    }
    parse_address(input, DEFAULT_DNS_PORT)
        .map(DnsAddr::At)
        .map_err(|e| e.to_string())
}
