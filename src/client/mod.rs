//! Every client subcommand (`kv`, `join`, `leave`, `peers`, `info`,
//! `bench`, ...): blocking code over the native protocol that never sees the
//! agent's loop.

pub mod bench;
pub mod cli;
pub mod latency_histogram;
pub mod rpc_client;
