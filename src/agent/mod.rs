//! The only part of concord that does I/O: the command-line implementations,
//! the RPC client, the event loop over the peer port, and the replicated
//! state machine the Raft log is applied to.
//!
//! How the pieces fit (and where the integration plugs in):
//! - `main.rs` parses arguments into [`config::AgentConfig`] or a client
//!   subcommand; client subcommands live in [`cli`] and use
//!   [`rpc_client::RpcClient`]; `node bench` is [`mod@bench`].
//! - [`event_loop::EventLoop`] owns the one mio poll over the peer port
//!   ([`transport::Transport`]: TCP listener + UDP socket on one port, one
//!   [`connection::Connection`] per socket with a bounded write queue, one
//!   dialled connection per Raft peer with [`backoff::Backoff`]) and calls a
//!   [`event_loop::Handler`]: `on_client_request`, `on_raft_message`,
//!   `on_client_response` (answers to requests forwarded with
//!   `Context::forward_client_request`), `on_gossip_sync_frame`,
//!   `on_datagram`, `on_tick` (10 ms),
//!   `on_connection_closed`, `on_signal`.
//! - Today the handler is [`local_agent::LocalAgent`]: it answers for
//!   itself and drives gossip through [`membership::Membership`] (datagrams
//!   in and out, push/pull over gossip-sync connections, ticks, log lines
//!   under target `gossip`, member events in a bounded queue). `node join`
//!   is one [`join_batch::JoinBatch`] answered when every address answered
//!   or failed (5 s each); `--join` and the rejoin of the members remembered
//!   in `DATA_DIR/gossip/members` ([`crate::storage::member_list`]) retry
//!   with backoff ([`retry_join::RetryJoin`]) unless the last run left
//!   gracefully; `node leave` and SIGINT run [`leave_sequence::LeaveSequence`]
//!   (Raft phase, then gossip leave, then exit); SIGTERM stops without
//!   leaving.
//! - The Raft integration extends that handler: it feeds Raft messages and
//!   ticks to the Raft node, persists with storage, applies committed
//!   entries to [`state_machine::StateMachine`], and replies to the client
//!   connection that asked ([`connection::ConnectionId`]) with
//!   [`state_machine::ApplyResult::to_rpc`]. [`client_requests::classify`]
//!   splits requests into writes (a [`crate::wire::command::Command`] to
//!   propose), reads ([`client_requests::answer_read`]) and agent requests;
//!   [`pending_writes::PendingWrites`] remembers who to answer for each
//!   proposed index, and refuses success for an entry a new leader replaced.
//!   From gossip it uses `Membership::take_member_events` (joins, failures,
//!   leaves to turn into configuration and catalog changes),
//!   `Membership::alive_servers` (where a client forwards),
//!   `Membership::set_cluster_id` (once bootstrapped or added, so two
//!   clusters never merge) and the `RaftLeave` phase of the leave sequence
//!   (`LocalAgent::raft_leave_done`, complete at once until Raft is wired).

pub mod address;
pub mod backoff;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod client_requests;
pub mod config;
pub mod connection;
pub mod event_loop;
pub mod info;
pub mod join_batch;
pub mod kv_store;
pub mod latency_histogram;
pub mod leader_reconciliation;
pub mod leave_sequence;
pub mod local_agent;
pub mod membership;
pub mod pending_writes;
pub mod raft_server;
pub mod retry_join;
pub mod rpc_client;
pub mod state_machine;
pub mod state_machine_snapshot;
pub mod transport;
