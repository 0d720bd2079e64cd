//! The only part of concord that does I/O: the command-line implementations,
//! the RPC client, the event loop over the peer port, and the replicated
//! state machine the Raft log is applied to.

pub mod address;
pub mod backoff;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod connection;
pub mod event_loop;
pub mod kv_store;
pub mod latency_histogram;
pub mod local_agent;
pub mod rpc_client;
pub mod state_machine;
pub mod state_machine_snapshot;
pub mod transport;
