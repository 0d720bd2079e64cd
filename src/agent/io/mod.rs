//! The only part of the agent that touches sockets, clocks and threads: the
//! mio loop, the peer transport, connections with bounded write queues, the
//! reconnect backoff, and the HTTP API listener with its connections.

mod accept;
pub mod backoff;
pub mod check_probe;
pub mod connection;
pub mod dns_connection;
pub mod dns_server;
pub mod event_loop;
pub mod http_connection;
pub mod http_server;
pub mod loop_context;
pub mod process_memory;
pub mod run;
pub mod transport;
pub mod write_queue;
