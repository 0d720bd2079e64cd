//! Every client subcommand (`kv`, `join`, `leave`, `peers`, `info`,
//! `bench`, ...): blocking code over the native protocol or the HTTP API
//! that never sees the agent's loop (the watch bench polls sockets of its
//! own).

pub mod bench;
pub mod cli;
pub mod http_bench;
pub mod http_response;
pub mod latency_histogram;
pub mod rpc_client;
pub mod watch_bench;
