//! concord: a Consul-style cluster agent.
//!
//! The crate is split by what each part owns:
//! - [`wire`] every byte that crosses the network (TCP frames, UDP datagrams, message layouts);
//! - [`storage`] every byte on disk (the Raft log, hard state, snapshots);
//! - [`raft`] the consensus core, a pure deterministic state machine;
//! - [`gossip`] SWIM membership and failure detection, a pure deterministic state machine;
//! - [`state_machine`] the replicated state (KV store, catalog) and its snapshot codec, pure;
//! - [`http`] Consul's HTTP API without I/O: request decoding, routing to typed requests, responses;
//! - [`agent`] a running agent: its I/O loop (`agent::io`, the only part that does I/O) and the
//!   rooms it drives (requests, the Raft host, the gossip host, cluster operations);
//! - [`client`] every client subcommand, blocking, over the native protocol;
//! - [`deterministic_rng`] the seeded generator both pure cores draw from;
//! - [`logging`] Consul-style log lines.

pub mod agent;
pub mod client;
pub mod deterministic_rng;
pub mod dns;
pub mod gossip;
pub mod http;
pub mod logging;
pub mod raft;
pub mod state_machine;
pub mod storage;
pub mod wire;
