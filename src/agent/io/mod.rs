//! The only part of the agent that touches sockets, clocks and threads: the
//! mio loop, the peer transport, connections with bounded write queues, and
//! the reconnect backoff.

pub mod backoff;
pub mod connection;
pub mod event_loop;
pub mod loop_context;
pub mod run;
pub mod transport;
