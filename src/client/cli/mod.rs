//! What each `node` subcommand does once the arguments are parsed: one RPC
//! to the local agent, then Consul-shaped output. Every function writes its
//! normal output to `out` and returns a [`CliError`] whose
//! [`CliError::report`] is what the operator sees on stderr (exit code 1).

mod catalog;
pub mod format;
mod kv_detailed;
mod services;

pub use catalog::{catalog_nodes_for_service, catalog_services};
pub use services::{services_deregister, services_register};

pub use kv_detailed::kv_get_detailed;

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use crate::wire::client_message::{
    Consistency, ErrorCode, MAX_KEY_BYTES, MAX_VALUE_BYTES, PeerRef, RequestBody, RpcResult,
};

use crate::client::rpc_client::{RpcClient, RpcClientError, RpcTimeouts};

/// Where the client subcommands find their agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    pub rpc_addr: SocketAddr,
    pub timeouts: RpcTimeouts,
}

#[derive(Debug)]
pub enum CliError {
    Rpc(RpcClientError),
    /// `kv get` of a key that does not exist.
    KeyNotFound {
        key: String,
    },
    /// `kv put --cas` refused.
    CasFailed {
        key: String,
    },
    /// `join`: no address could be contacted; each address with its error.
    JoinFailed {
        errors: Vec<(String, String)>,
    },
    Output(io::Error),
    /// Anything else, as one line.
    Message(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Rpc(err) => write!(f, "{err}"),
            CliError::KeyNotFound { key } => write!(f, "No key exists at: {key}"),
            CliError::CasFailed { key } => write!(f, "Did not write to {key}: CAS failed"),
            CliError::JoinFailed { .. } => write!(f, "Failed to join any nodes."),
            CliError::Output(err) => write!(f, "cannot write output: {err}"),
            CliError::Message(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {}

impl From<RpcClientError> for CliError {
    fn from(err: RpcClientError) -> Self {
        CliError::Rpc(err)
    }
}

impl From<io::Error> for CliError {
    fn from(err: io::Error) -> Self {
        CliError::Output(err)
    }
}

impl CliError {
    /// The text for stderr, in Consul's wording where Consul has one.
    pub fn report(&self) -> String {
        match self {
            CliError::KeyNotFound { .. } | CliError::CasFailed { .. } => format!("Error! {self}"),
            CliError::JoinFailed { errors } => {
                let mut text = String::new();
                for (address, error) in errors {
                    text.push_str(&format!("Error joining address '{address}': {error}\n"));
                }
                text.push_str("Failed to join any nodes.");
                text
            }
            _ => format!("Error: {self}"),
        }
    }
}

/// Refuses keys the agent would refuse, before any connection: the operator
/// gets the reason instead of a closed connection.
fn check_key(key: &str, allow_empty: bool) -> Result<(), CliError> {
    if key.is_empty() && !allow_empty {
        return Err(CliError::Message("key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(CliError::Message(format!(
            "key is {} bytes, limit {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// Consul's value conventions for `kv put`: `-` reads standard input,
/// `@PATH` reads a file, anything else is the value itself. Reads at most
/// one byte past the value limit, so a huge file is refused, not loaded.
pub fn read_value_argument(argument: &str, stdin: &mut dyn Read) -> Result<Vec<u8>, CliError> {
    let limit = MAX_VALUE_BYTES as u64 + 1;
    let mut value = Vec::new();
    let source = if argument == "-" {
        stdin.take(limit).read_to_end(&mut value).map(|_| ())
    } else if let Some(path) = argument.strip_prefix('@') {
        std::fs::File::open(path)
            .and_then(|file| file.take(limit).read_to_end(&mut value))
            .map(|_| ())
            .map_err(|err| io::Error::new(err.kind(), format!("{path}: {err}")))
    } else {
        value.extend_from_slice(argument.as_bytes());
        Ok(())
    };
    source.map_err(|err| CliError::Message(format!("cannot read the value: {err}")))?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(CliError::Message(format!(
            "value is more than {MAX_VALUE_BYTES} bytes"
        )));
    }
    Ok(value)
}

fn connect(options: &ClientOptions) -> Result<RpcClient, CliError> {
    Ok(RpcClient::connect(options.rpc_addr, options.timeouts)?)
}

fn unexpected(request: &'static str) -> CliError {
    CliError::Rpc(RpcClientError::UnexpectedResult { request })
}

pub fn join(
    options: &ClientOptions,
    addresses: &[SocketAddr],
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut client = connect(options)?;
    let addresses = addresses.iter().map(|a| a.to_string()).collect();
    match client.call(RequestBody::Join { addresses })? {
        RpcResult::Joined { contacted, errors } => {
            if contacted == 0 {
                return Err(CliError::JoinFailed { errors });
            }
            writeln!(
                out,
                "Successfully joined cluster by contacting {contacted} nodes."
            )?;
            Ok(())
        }
        _ => Err(unexpected("join")),
    }
}

pub fn leave(options: &ClientOptions, out: &mut dyn Write) -> Result<(), CliError> {
    let mut client = connect(options)?;
    match client.call(RequestBody::Leave)? {
        RpcResult::Left => {
            writeln!(out, "Graceful leave complete")?;
            Ok(())
        }
        _ => Err(unexpected("leave")),
    }
}

/// Consul's `force-leave`: prints nothing when done, as Consul does.
pub fn force_leave(options: &ClientOptions, node: &str, prune: bool) -> Result<(), CliError> {
    let mut client = connect(options)?;
    let node = node.to_owned();
    match client.call(RequestBody::ForceLeave { node, prune })? {
        RpcResult::ForcedLeave => Ok(()),
        _ => Err(unexpected("force-leave")),
    }
}

pub fn members(options: &ClientOptions, out: &mut dyn Write) -> Result<(), CliError> {
    let mut client = connect(options)?;
    match client.call(RequestBody::Members)? {
        RpcResult::Members(members) => {
            out.write_all(format::members_table(&members).as_bytes())?;
            Ok(())
        }
        _ => Err(unexpected("members")),
    }
}

pub fn peers(options: &ClientOptions, out: &mut dyn Write) -> Result<(), CliError> {
    let mut client = connect(options)?;
    match client.call(RequestBody::Peers)? {
        RpcResult::Peers(peers) => {
            out.write_all(format::peers_table(&peers).as_bytes())?;
            Ok(())
        }
        _ => Err(unexpected("peers")),
    }
}

pub fn info(options: &ClientOptions, out: &mut dyn Write) -> Result<(), CliError> {
    let mut client = connect(options)?;
    match client.call(RequestBody::Info)? {
        RpcResult::Info(sections) => {
            out.write_all(format::info_sections(&sections).as_bytes())?;
            Ok(())
        }
        _ => Err(unexpected("info")),
    }
}

pub fn catalog_nodes(options: &ClientOptions, out: &mut dyn Write) -> Result<(), CliError> {
    let mut client = connect(options)?;
    match client.call(RequestBody::CatalogNodes)? {
        RpcResult::CatalogNodes(nodes) => {
            out.write_all(format::catalog_table(&nodes).as_bytes())?;
            Ok(())
        }
        _ => Err(unexpected("catalog nodes")),
    }
}

/// `operator raft list-peers`: the leader's view, or with `stale` the
/// agent's server's own (said so on standard error, as its indexes of
/// the other servers are unknown there).
pub fn operator_raft_list_peers(
    options: &ClientOptions,
    stale: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut client = connect(options)?;
    let consistency = match stale {
        true => Consistency::Stale,
        false => Consistency::Default,
    };
    match client.call(RequestBody::RaftConfiguration { consistency })? {
        RpcResult::RaftConfiguration(view) => {
            if stale {
                eprintln!("(stale: one server's own view of the configuration, not the leader's)");
            }
            out.write_all(format::raft_servers_table(&view).as_bytes())?;
            Ok(())
        }
        _ => Err(unexpected("operator raft list-peers")),
    }
}

/// `operator raft remove-peer`, answered once the removal commits, in
/// Consul's words.
pub fn operator_raft_remove_peer(
    options: &ClientOptions,
    peer: PeerRef,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut client = connect(options)?;
    let named = match &peer {
        PeerRef::Id(id) => format!("id \"{id:016x}\""),
        PeerRef::Address(address) => format!("address \"{address}\""),
    };
    match client.call(RequestBody::RaftRemovePeer { peer })? {
        RpcResult::PeerRemoved { .. } => {
            writeln!(out, "Removed peer with {named}")?;
            Ok(())
        }
        _ => Err(unexpected("operator raft remove-peer")),
    }
}

/// `operator raft transfer-leader`: answered by the old leader once another
/// server leads.
pub fn operator_raft_transfer_leader(
    options: &ClientOptions,
    target: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut client = connect(options)?;
    match client.call(RequestBody::RaftTransferLeader { target })? {
        RpcResult::LeadershipTransferred { leader } => {
            writeln!(out, "Success: leadership transferred to {leader:016x}")?;
            Ok(())
        }
        _ => Err(unexpected("operator raft transfer-leader")),
    }
}

pub fn kv_put(
    options: &ClientOptions,
    key: &str,
    value: &[u8],
    cas: Option<u64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_key(key, false)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(CliError::Message(format!(
            "value is {} bytes, limit {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    let mut client = connect(options)?;
    let request = RequestBody::KvPut {
        key: key.to_owned(),
        value: bytes::Bytes::copy_from_slice(value),
        cas,
    };
    match client.call(request) {
        Ok(RpcResult::KvWritten { .. }) => {
            writeln!(out, "Success! Data written to: {key}")?;
            Ok(())
        }
        Ok(_) => Err(unexpected("kv put")),
        Err(RpcClientError::Rpc(err)) if err.code == ErrorCode::CasFailed => {
            Err(CliError::CasFailed {
                key: key.to_owned(),
            })
        }
        Err(err) => Err(err.into()),
    }
}

pub fn kv_get(
    options: &ClientOptions,
    key: &str,
    consistency: Consistency,
    recurse: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_key(key, recurse)?;
    let mut client = connect(options)?;
    if recurse {
        let request = RequestBody::KvList {
            prefix: key.to_owned(),
            consistency,
        };
        return match client.call(request)? {
            RpcResult::KvEntries(entries) => {
                format::write_recurse(out, &entries)?;
                Ok(())
            }
            _ => Err(unexpected("kv get -recurse")),
        };
    }
    let request = RequestBody::KvGet {
        key: key.to_owned(),
        consistency,
    };
    match client.call(request) {
        Ok(RpcResult::KvValue(Some(entry))) => {
            format::write_value(out, &entry.value)?;
            Ok(())
        }
        Ok(RpcResult::KvValue(None)) => Err(CliError::KeyNotFound {
            key: key.to_owned(),
        }),
        Ok(_) => Err(unexpected("kv get")),
        Err(RpcClientError::Rpc(err)) if err.code == ErrorCode::KeyNotFound => {
            Err(CliError::KeyNotFound {
                key: key.to_owned(),
            })
        }
        Err(err) => Err(err.into()),
    }
}

pub fn kv_delete(
    options: &ClientOptions,
    key: &str,
    recurse: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_key(key, recurse)?;
    let mut client = connect(options)?;
    let request = RequestBody::KvDelete {
        key: key.to_owned(),
        recurse,
    };
    match client.call(request)? {
        RpcResult::KvDeleted { .. } => {
            if recurse {
                writeln!(out, "Success! Deleted keys with prefix: {key}")?;
            } else {
                writeln!(out, "Success! Deleted key: {key}")?;
            }
            Ok(())
        }
        _ => Err(unexpected("kv delete")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_value_is_taken_as_written() {
        let value = read_value_argument("hello", &mut io::empty()).unwrap();
        assert_eq!(value, b"hello");
    }

    #[test]
    fn dash_reads_stdin_and_at_reads_a_file() {
        let mut stdin: &[u8] = &[0, 1, 2, 255];
        assert_eq!(
            read_value_argument("-", &mut stdin).unwrap(),
            [0, 1, 2, 255]
        );
        let path = std::env::temp_dir().join(format!("concord-cli-value-{}", std::process::id()));
        std::fs::write(&path, b"from file").unwrap();
        let value = read_value_argument(&format!("@{}", path.display()), &mut io::empty());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(value.unwrap(), b"from file");
    }

    #[test]
    fn a_missing_file_or_an_oversized_value_is_an_error() {
        assert!(read_value_argument("@/nonexistent/concord", &mut io::empty()).is_err());
        let big = vec![b'x'; MAX_VALUE_BYTES + 10];
        let mut stdin: &[u8] = &big;
        assert!(matches!(
            read_value_argument("-", &mut stdin),
            Err(CliError::Message(m)) if m.contains("more than")
        ));
    }
}
