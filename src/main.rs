//! `node`: parses the command line and hands off to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use concord::agent::address::{DEFAULT_DNS_PORT, DEFAULT_HTTP_PORT, DEFAULT_PORT, parse_address};
use concord::agent::config::{DnsAddr, DnsOptions, HttpAddr, default_node_name};
use concord::agent::config_file::ConfigSources;
use concord::agent::config_file::resolve::{AgentFlags, resolve};
use std::io::Write;

use concord::client::bench::{BenchOperation, BenchOptions};
use concord::client::cli::{self, CliError, ClientOptions};
use concord::client::rpc_client::RpcTimeouts;
use concord::client::watch_bench::{WatchBenchOptions, WatchLayout};
use concord::wire::client_message::{Consistency, PeerRef};

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
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    agent: AgentArgs,

    /// Log level: trace, debug, info, warn or err (overrides RUST_LOG).
    #[arg(long, value_name = "LEVEL", global = true)]
    log_level: Option<String>,

    /// Agent a client subcommand talks to: IP or IP:PORT [env: NODE_RPC_ADDR]
    /// [default: 127.0.0.1:8300]. Not used by the agent itself.
    #[arg(long, value_name = "IP[:PORT]", global = true, value_parser = parse_peer_address)]
    rpc_addr: Option<SocketAddr>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the agent (the default when no subcommand is given).
    Agent(AgentArgs),
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
struct AgentArgs {
    /// Run as a server: a Raft voter holding the KV store and catalog.
    #[arg(long)]
    server: bool,
    /// Bootstrap a new single-server cluster with this server as leader (implies --server).
    #[arg(long, conflicts_with = "bootstrap_expect")]
    bootstrap: bool,
    /// Wait for N servers to join, then bootstrap the cluster together (implies --server).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    bootstrap_expect: Option<u32>,
    /// Directory for the Raft log, snapshots and node identity.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to bind for TCP (Raft, RPC) and UDP (gossip): IP or IP:PORT.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_peer_address)]
    bind: Option<SocketAddr>,
    /// Address other nodes use to reach this one (default: the bind address).
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_peer_address)]
    advertise: Option<SocketAddr>,
    /// Node name, unique in the cluster (default: the host name).
    #[arg(long = "node", value_name = "NAME")]
    node_name: Option<String>,
    /// Datacenter of this agent.
    #[arg(long, value_name = "DC")]
    datacenter: Option<String>,
    /// Address of a member to join at start; repeat for several.
    #[arg(long, value_name = "ADDR", value_parser = parse_peer_address)]
    join: Vec<SocketAddr>,
    /// Address of Consul's HTTP API: IP or IP:PORT (port 8500 when omitted);
    /// "" serves no HTTP. By default 127.0.0.1:8500, or no HTTP (with a
    /// warning) when another agent on the machine already has it.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_http_address)]
    http_addr: Option<HttpAddr>,
    /// Address of the DNS interface (UDP and TCP): IP or IP:PORT (port 8600
    /// when omitted); "" serves no DNS. By default 127.0.0.1:8600, or no
    /// DNS (with a warning) when another agent on the machine has it.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_dns_address)]
    dns_addr: Option<DnsAddr>,
    /// The DNS zone answered.
    #[arg(long, value_name = "DOMAIN", default_value = "consul.")]
    domain: String,
    /// DNS answers leave out instances with a warning check too.
    #[arg(long)]
    dns_only_passing: bool,
    /// A DNS server that names outside the domain are forwarded to (UDP):
    /// IP or IP:PORT (port 53 when omitted). Without it they are REFUSED.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_recursor_address)]
    recursor: Option<SocketAddr>,
    /// Development mode: a bootstrapped server with its data in a fresh
    /// temporary directory (removed at exit) and HTTP on 127.0.0.1:8500.
    #[arg(long, conflicts_with_all = ["data_dir", "bootstrap_expect"])]
    dev: bool,
    /// Run script checks (`Args`) registered through the HTTP API; off by
    /// default, as Consul's `enable_script_checks`.
    #[arg(long)]
    enable_script_checks: bool,
    /// A JSON configuration file in Consul's agent format; repeat for
    /// several (later ones override earlier ones; flags override files).
    #[arg(long, value_name = "FILE")]
    config_file: Vec<PathBuf>,
    /// A directory whose `*.json` files are read, in name order, after
    /// the `--config-file`s.
    #[arg(long, value_name = "DIR")]
    config_dir: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum KvCommand {
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
struct ConsistencyArgs {
    /// Allow any server to answer from its local state, possibly stale.
    #[arg(long, conflicts_with = "consistent")]
    stale: bool,
    /// Linearizable read: the leader confirms its leadership with a quorum first.
    #[arg(long)]
    consistent: bool,
}

impl ConsistencyArgs {
    fn mode(self) -> Consistency {
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
enum CatalogCommand {
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
enum ServicesCommand {
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
enum OperatorCommand {
    /// Inspect the Raft configuration.
    #[command(subcommand)]
    Raft(OperatorRaftCommand),
}

#[derive(Subcommand, Debug)]
enum OperatorRaftCommand {
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

fn parse_server_id(id: &str) -> Result<u64, String> {
    u64::from_str_radix(id, 16).map_err(|_| format!("{id:?} is not a server ID (16 hex digits)"))
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum BenchOp {
    /// Timed KV writes.
    Put,
    /// Timed KV reads (100 keys are written first, untimed).
    Get,
    /// Blocking queries held on many connections, woken by writes one at a
    /// time (needs --http).
    Watch,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Operation to measure.
    #[arg(value_enum)]
    operation: BenchOp,
    /// Concurrent clients, each with its own connection.
    #[arg(long, value_name = "N", default_value_t = 8)]
    clients: usize,
    /// Total requests, shared among the clients.
    #[arg(long, value_name = "M", default_value_t = 10_000)]
    requests: u64,
    /// Size of each written value in bytes.
    #[arg(long, value_name = "B", default_value_t = 128)]
    value_size: usize,
    /// Requests each client keeps in flight (pipelining), 1 to 64. Over
    /// HTTP they are pipelined on the keep-alive connection, answered in
    /// order; the agent works on one request of a connection at a time.
    #[arg(long, value_name = "W", default_value_t = 8)]
    window: usize,
    #[command(flatten)]
    consistency: ConsistencyArgs,
    /// Speak Consul's HTTP API (one keep-alive connection per client)
    /// instead of the native protocol.
    #[arg(long)]
    http: bool,
    /// The agent's HTTP API address, with --http.
    #[arg(long, value_name = "IP[:PORT]", default_value = "127.0.0.1:8500",
          value_parser = parse_http_bench_address)]
    http_addr: SocketAddr,
    #[command(flatten)]
    watch: WatchArgs,
}

/// `bench watch` only.
#[derive(Args, Debug)]
struct WatchArgs {
    /// Blocking queries held, each on its own connection.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    watchers: usize,
    /// How many of the watchers watch a prefix (`?recurse`); the others
    /// watch one key each.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    prefix_watchers: usize,
    /// Distinct keys watched (written once before the watchers arm).
    #[arg(long, value_name = "K", default_value_t = 1_000)]
    keys: usize,
    /// Prefixes the keys are spread under.
    #[arg(long, value_name = "P", default_value_t = 100)]
    prefixes: usize,
    /// Writes, one at a time, each to a random watched key.
    #[arg(long, value_name = "N", default_value_t = 200)]
    writes: u64,
    /// Threads polling the watchers' connections.
    #[arg(long, value_name = "T", default_value_t = 2)]
    threads: usize,
    /// The agent's process ID, to report its resident memory.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
}

fn parse_peer_address(input: &str) -> Result<SocketAddr, String> {
    parse_address(input, DEFAULT_PORT).map_err(|e| e.to_string())
}

fn parse_http_bench_address(input: &str) -> Result<SocketAddr, String> {
    parse_address(input, DEFAULT_HTTP_PORT).map_err(|e| e.to_string())
}

fn parse_http_address(input: &str) -> Result<HttpAddr, String> {
    if input.trim().is_empty() {
        return Ok(HttpAddr::Off);
    }
    parse_address(input, DEFAULT_HTTP_PORT)
        .map(HttpAddr::At)
        .map_err(|e| e.to_string())
}

fn parse_recursor_address(input: &str) -> Result<SocketAddr, String> {
    parse_address(input, 53).map_err(|e| e.to_string())
}

fn parse_dns_address(input: &str) -> Result<DnsAddr, String> {
    if input.trim().is_empty() {
        return Ok(DnsAddr::Off);
    }
    parse_address(input, DEFAULT_DNS_PORT)
        .map(DnsAddr::At)
        .map_err(|e| e.to_string())
}

fn client_options(rpc_addr: Option<SocketAddr>) -> Result<ClientOptions, CliError> {
    let rpc_addr = match rpc_addr {
        Some(address) => address,
        None => match std::env::var("NODE_RPC_ADDR") {
            Ok(value) if !value.trim().is_empty() => parse_address(&value, DEFAULT_PORT)
                .map_err(|e| CliError::Message(format!("NODE_RPC_ADDR: {e}")))?,
            _ => SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
        },
    };
    Ok(ClientOptions {
        rpc_addr,
        timeouts: RpcTimeouts::default(),
    })
}

/// The agent's flags as given, for the configuration files to fill in.
/// `--dev` is a bootstrapped server whose HTTP address must bind (a
/// newcomer's first command must not quietly serve nothing).
fn agent_flags(args: AgentArgs, log_level: Option<String>) -> AgentFlags {
    AgentFlags {
        server: args.server,
        bootstrap: args.bootstrap,
        bootstrap_expect: args.bootstrap_expect,
        data_dir: args.data_dir,
        bind: args.bind,
        advertise: args.advertise,
        node_name: args.node_name,
        datacenter: args.datacenter,
        join: args.join,
        http: args.http_addr,
        dev: args.dev,
        enable_script_checks: args.enable_script_checks,
        dns: DnsOptions {
            addr: args.dns_addr.unwrap_or(DnsAddr::Default),
            domain: args.domain,
            only_passing: args.dns_only_passing,
            recursor: args.recursor,
        },
        log_level,
        sources: ConfigSources {
            files: args.config_file,
            dirs: args.config_dir,
        },
    }
}

fn run(command: Command, rpc_addr: Option<SocketAddr>) -> Result<(), CliError> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Agent(_) => unreachable!("the agent runs from run_agent"),
        Command::Join { addresses } => cli::join(&client_options(rpc_addr)?, &addresses, &mut out),
        Command::Leave => cli::leave(&client_options(rpc_addr)?, &mut out),
        Command::ForceLeave { node, prune } => {
            cli::force_leave(&client_options(rpc_addr)?, &node, prune)
        }
        Command::Members => cli::members(&client_options(rpc_addr)?, &mut out),
        Command::Peers => cli::peers(&client_options(rpc_addr)?, &mut out),
        Command::Info => cli::info(&client_options(rpc_addr)?, &mut out),
        Command::Kv(KvCommand::Put { key, value, cas }) => {
            let value = cli::read_value_argument(&value, &mut std::io::stdin().lock())?;
            cli::kv_put(&client_options(rpc_addr)?, &key, &value, cas, &mut out)
        }
        Command::Kv(KvCommand::Get {
            key,
            consistency,
            recurse,
            detailed: false,
        }) => cli::kv_get(
            &client_options(rpc_addr)?,
            &key,
            consistency.mode(),
            recurse,
            &mut out,
        ),
        Command::Kv(KvCommand::Get {
            key,
            consistency,
            recurse,
            detailed: true,
        }) => cli::kv_get_detailed(
            &client_options(rpc_addr)?,
            &key,
            consistency.mode(),
            recurse,
            &mut out,
        ),
        Command::Kv(KvCommand::Delete { key, recurse }) => {
            cli::kv_delete(&client_options(rpc_addr)?, &key, recurse, &mut out)
        }
        Command::Catalog(CatalogCommand::Nodes { service: None }) => {
            cli::catalog_nodes(&client_options(rpc_addr)?, &mut out)
        }
        Command::Catalog(CatalogCommand::Nodes {
            service: Some(service),
        }) => cli::catalog_nodes_for_service(&client_options(rpc_addr)?, &service, &mut out),
        Command::Catalog(CatalogCommand::Services { tags }) => {
            cli::catalog_services(&client_options(rpc_addr)?, tags, &mut out)
        }
        Command::Services(ServicesCommand::Register { file, http_addr }) => {
            cli::services_register(http_addr, &file, &mut out)
        }
        Command::Services(ServicesCommand::Deregister { id, http_addr }) => {
            cli::services_deregister(http_addr, &id, &mut out)
        }
        Command::Operator(OperatorCommand::Raft(OperatorRaftCommand::ListPeers { stale })) => {
            cli::operator_raft_list_peers(&client_options(rpc_addr)?, stale, &mut out)
        }
        Command::Operator(OperatorCommand::Raft(OperatorRaftCommand::RemovePeer {
            id,
            address,
        })) => {
            let peer = match (id, address) {
                (Some(id), _) => PeerRef::Id(id),
                (None, Some(address)) => PeerRef::Address(address),
                (None, None) => return Err(CliError::Message("give --id or --address".into())),
            };
            cli::operator_raft_remove_peer(&client_options(rpc_addr)?, peer, &mut out)
        }
        Command::Operator(OperatorCommand::Raft(OperatorRaftCommand::TransferLeader { id })) => {
            cli::operator_raft_transfer_leader(&client_options(rpc_addr)?, id, &mut out)
        }
        Command::Bench(args) => bench(args, rpc_addr, &mut out),
    }
}

fn bench(
    args: BenchArgs,
    rpc_addr: Option<SocketAddr>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let operation = match args.operation {
        BenchOp::Put => BenchOperation::Put,
        BenchOp::Get => BenchOperation::Get,
        BenchOp::Watch => return bench_watch(args, out),
    };
    let options = BenchOptions {
        operation,
        clients: args.clients,
        requests: args.requests,
        value_size_bytes: args.value_size,
        consistency: args.consistency.mode(),
        window: args.window,
        http_addr: args.http.then_some(args.http_addr),
    };
    let report = concord::client::bench::run(&client_options(rpc_addr)?, &options)?;
    report.write_to(out)?;
    if report.errors > 0 {
        return Err(CliError::Message(format!(
            "{} of {} requests failed",
            report.errors, options.requests
        )));
    }
    Ok(())
}

fn bench_watch(args: BenchArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !args.http {
        return Err(CliError::Message(
            "bench watch holds blocking queries, which only the HTTP API has: add --http".into(),
        ));
    }
    let watch = args.watch;
    let options = WatchBenchOptions {
        http_addr: args.http_addr,
        timeouts: RpcTimeouts::default(),
        layout: WatchLayout {
            key_watchers: watch.watchers.saturating_sub(watch.prefix_watchers),
            prefix_watchers: watch.prefix_watchers.min(watch.watchers),
            keys: watch.keys,
            prefixes: watch.prefixes,
        },
        writes: watch.writes,
        value_size_bytes: args.value_size,
        threads: watch.threads,
        agent_pid: watch.pid,
    };
    let report = concord::client::watch_bench::run(&options)?;
    report.write_to(out)?;
    if report.failed() {
        return Err(CliError::Message(format!(
            "{} missed and {} wrong wake-ups, {} failed watchers, {} failed writes",
            report.missed, report.wrong_wakes, report.failed_watchers, report.write_errors
        )));
    }
    Ok(())
}

/// Parses the command line, then refuses what clap cannot express: an
/// agent flag together with a subcommand (`node --server info` would
/// otherwise drop `--server` silently), and `--rpc-addr` when running the
/// agent, which listens on `--bind` and never uses it.
fn parse_cli() -> Result<Cli, clap::Error> {
    let mut command = Cli::command();
    let matches = command.try_get_matches_from_mut(std::env::args_os())?;
    let subcommand = matches.subcommand_name();
    if let Some(subcommand) = subcommand
        && let Some(flag) = agent_flag_given(&matches)
    {
        return Err(command.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "the agent flag '{flag}' cannot be used with the subcommand '{subcommand}' \
                 (for the agent, put it after 'agent')"
            ),
        ));
    }
    let runs_agent = matches!(subcommand, None | Some("agent"));
    if runs_agent && matches.value_source("rpc_addr") == Some(ValueSource::CommandLine) {
        return Err(command.error(
            clap::error::ErrorKind::ArgumentConflict,
            "'--rpc-addr' is for the client subcommands; the agent listens on '--bind'",
        ));
    }
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

/// The first agent flag (as typed, `--server`) given on the command line
/// before the subcommand, if any.
fn agent_flag_given(matches: &ArgMatches) -> Option<String> {
    let agent_flags = AgentArgs::augment_args(clap::Command::new("agent"));
    agent_flags
        .get_arguments()
        .filter(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|arg| match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => arg.get_id().to_string(),
        })
        .next()
}

/// clap's own usage errors exit 2 with several lines; the house rule is one
/// `Error: ...` line and exit 1. Help and version still print normally.
fn parse_arguments() -> Result<Cli, ExitCode> {
    match parse_cli() {
        Ok(cli) => Ok(cli),
        Err(err) => {
            use clap::error::ErrorKind;
            match err.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = err.print();
                    Err(ExitCode::SUCCESS)
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = err.print();
                    Err(ExitCode::FAILURE)
                }
                _ => {
                    // clap puts details (like the missing arguments) on
                    // the lines after the first, before the usage block.
                    let rendered = err.to_string();
                    let message: Vec<&str> = rendered
                        .lines()
                        .map(str::trim)
                        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
                        .collect();
                    let message = message.join(" ");
                    let message = message.strip_prefix("error: ").unwrap_or(&message);
                    eprintln!("Error: {message}");
                    Err(ExitCode::FAILURE)
                }
            }
        }
    }
}

/// The agent: its configuration files are read first, since they may set
/// the log level.
fn run_agent(args: AgentArgs, log_level: Option<String>) -> Result<(), CliError> {
    let resolved =
        resolve(agent_flags(args, log_level), default_node_name).map_err(CliError::Message)?;
    concord::logging::init(resolved.log_level.as_deref())
        .map_err(|e| CliError::Message(e.to_string()))?;
    concord::agent::io::run::run(resolved).map_err(|e| CliError::Message(e.to_string()))
}

fn main() -> ExitCode {
    let cli = match parse_arguments() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let command = cli.command.unwrap_or(Command::Agent(cli.agent));
    let outcome = match command {
        Command::Agent(args) => run_agent(args, cli.log_level),
        command => match concord::logging::init(cli.log_level.as_deref()) {
            Ok(()) => run(command, cli.rpc_addr),
            Err(err) => Err(CliError::Message(err.to_string())),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{}", err.report());
            ExitCode::FAILURE
        }
    }
}
