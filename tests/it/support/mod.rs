//! What the integration tests share.
//!
//! - [`scratch`]: a scratch directory removed on drop, kept when the test
//!   fails or `KEEP_TEST_DIRS` is set.
//! - [`wait`]: the only poll loop; waits name what they wait for and show
//!   the tails of the test's agent logs when they time out.
//! - [`node_process`]: a real `node` process, killed on drop, and the CLI.
//! - [`http_client`], [`http_agents`]: a real HTTP client (ureq) for the
//!   HTTP API, and agents and clusters serving it.
//! - [`in_process_loop`]: an event loop with a handler the test controls.
//! - [`gossip_fixture`], [`storage`]: building blocks of the gossip and
//!   storage tests.
//! - [`linearizability`]: the KV history checker, also compiled into the
//!   `raft_sim` binary.

pub mod dns;
pub mod gossip_fixture;
pub mod http_agents;
pub mod http_client;
pub mod in_process_loop;
pub mod linearizability;
pub mod node_process;
pub mod scratch;
pub mod storage;
pub mod wait;
