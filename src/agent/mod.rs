//! The only part of concord that does I/O: the command-line implementations,
//! the RPC client, the event loop over the peer port, and the replicated
//! state machine the Raft log is applied to.

pub mod catalog;
pub mod kv_store;
pub mod state_machine;
pub mod state_machine_snapshot;
