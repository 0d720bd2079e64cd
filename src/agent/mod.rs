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
//! - The handler is [`agent_handler::AgentHandler`]: it answers for itself and
//!   drives gossip through [`membership::Membership`] (datagrams in and out,
//!   push/pull over gossip-sync connections, ticks, log lines under target
//!   `gossip`, member events in a bounded queue). `node join` is one
//!   [`join_batch::JoinBatch`] answered when every address answered or
//!   failed (5 s each); `--join` and the rejoin of the members remembered in
//!   `DATA_DIR/gossip/members` ([`crate::storage::member_list`]) retry with
//!   backoff ([`retry_join::RetryJoin`]) unless the last run left gracefully;
//!   `node leave` and SIGINT run [`leave_sequence::LeaveSequence`] (Raft
//!   phase: a leader hands leadership over; then gossip leave, then exit);
//!   SIGTERM stops without leaving.
//! - On servers the handler holds a [`raft_server::RaftServer`]: the Raft
//!   core, its storage under `DATA_DIR/raft/` (log, hard state, snapshots;
//!   node ID in `DATA_DIR/node-id`) and the [`state_machine::StateMachine`].
//!   Raft messages and 10 ms ticks go to the core; once per loop turn
//!   (`Handler::on_turn_end`, group commit) the Ready is handled in the
//!   order `src/raft/ready.rs` gives; committed entries are applied and the
//!   waiting clients answered ([`pending_writes::PendingWrites`]); a
//!   snapshot is taken every 8,192 applied entries.
//! - Routing ([`client_requests::classify`]): writes and default/consistent
//!   reads go to the leader (forwarded with
//!   `Context::forward_client_request` from other servers), stale reads are
//!   served locally, consistent reads use ReadIndex; client agents forward
//!   everything to a live server. Without a leader a request waits up to
//!   7 s, then fails `No cluster leader`.
//! - On the leader, [`leader_reconciliation`] turns gossip members into Raft
//!   servers (asking each new server its Raft ID with an `Info` request) and
//!   catalog entries, on member events and every second.

pub mod address;
pub mod agent_handler;
pub mod backoff;
pub mod bench;
pub mod catalog;
pub mod cli;
pub mod client_requests;
pub mod committed_configuration;
pub mod config;
pub mod connection;
pub mod event_loop;
pub mod info;
pub mod join_batch;
pub mod kv_store;
pub mod latency_histogram;
pub mod leader_reconciliation;
pub mod leave_sequence;
pub mod member_list_writes;
pub mod membership;
pub mod pending_writes;
pub mod raft_server;
pub mod retry_join;
pub mod rpc_client;
pub mod snapshot_install;
pub mod snapshot_receiver;
pub mod snapshot_schedule;
pub mod state_machine;
pub mod state_machine_snapshot;
pub mod transport;
