//! The agent: what a running `node` is, server or client. Its rooms:
//! - [`io`]: the one mio loop over the peer port (TCP listener and UDP
//!   socket on one port, one bounded connection per socket, dialled peer
//!   connections with backoff); the only place that touches sockets, clocks
//!   and threads. It calls the [`io::event_loop::Handler`] for every input.
//! - [`handler`]: the type the loop calls; it dispatches each input to the
//!   room that owns it.
//! - [`http_api`]: Consul's HTTP API: an HTTP request becomes the same
//!   internal request a native client sends, and its answer an HTTP
//!   response.
//! - [`requests`]: how a client request is routed (served here, forwarded to
//!   the leader or to a server, or held until there is a leader).
//! - [`server`]: the Raft host of a server agent: recovery from its data
//!   directory, the Ready driver, apply, pending writes and reads, and
//!   [`server::snapshot`] (schedule, install, receive).
//! - [`gossip_host`]: the gossip state machine's host: datagrams and
//!   push/pull, join batches, retry-join, member-list writes.
//! - [`cluster`]: what the leader and a leaving server do about membership:
//!   reconciliation of gossip into Raft and the catalog, the leave sequence,
//!   the operator's `info` view.
//! - [`config`] and [`address`]: the agent's options and address parsing.

pub mod address;
pub mod cluster;
pub mod config;
pub mod config_file;
pub mod dns_api;
pub mod gossip_host;
pub mod handler;
pub mod http_api;
pub mod io;
pub mod local_services;
pub mod local_state;
pub mod metrics;
pub mod requests;
pub mod seam;
pub mod server;
