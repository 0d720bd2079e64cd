//! `node`: parses the command line and hands off to the library.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};

use concord::agent::address::{DEFAULT_PORT, parse_address};
use concord::agent::config::{DnsFlags, default_node_name};
use concord::agent::config_file::ConfigSources;
use concord::agent::config_file::resolve::{AgentFlags, resolve};
use std::io::Write;

use concord::client::bench::{BenchOperation, BenchOptions};
use concord::client::cli::{self, CliError, ClientOptions};
use concord::client::rpc_client::RpcTimeouts;
use concord::client::watch_bench::{WatchBenchOptions, WatchLayout};
use concord::wire::client_message::PeerRef;

#[path = "main/args.rs"]
mod args;
use args::*;

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
        dns: DnsFlags {
            addr: args.dns_addr,
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
    let command = cli.command.unwrap_or(Command::Agent(Box::new(cli.agent)));
    let outcome = match command {
        Command::Agent(args) => run_agent(*args, cli.log_level),
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
