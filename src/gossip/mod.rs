//! See README.md for what this module owns.
//!
//! SWIM membership and failure detection, as hashicorp/memberlist does it,
//! with the Lifeguard refinements. A pure, deterministic state machine: no
//! sockets, clocks or threads. The agent feeds it datagrams, push/pull
//! payloads and ticks, each with `now_ms`; randomness comes from the seed
//! handed to [`Gossip::new`]; effects are drained with
//! [`Gossip::take_outputs`].
//!
//! Failure detection bound: a crashed member is probed by some member
//! within a few probe intervals; that probe fails after one (health-scaled)
//! probe interval; the suspicion then lasts at most
//! `suspicion_max_timeout_mult * suspicion_mult * max(1, log10 N) *
//! probe_interval` (less as independent confirmations arrive), after which
//! the dead message spreads in O(log N) gossip intervals. `tests/gossip_sim.rs`
//! checks every member marks a crashed one dead within
//! `suspicion max + 10 probe intervals`.

mod awareness;
mod broadcast_queue;
mod claim_checks;
mod config;
mod dissemination;
mod force_leave;
mod member;
mod membership;
mod outputs;
pub mod packing;
mod probe;
mod push_pull;
mod suspicion;

pub use crate::wire::gossip_message::{
    ClusterId, GossipMessage, JoinRefusal, MemberState, MemberStatus, PushPull, Role, Tags,
};
pub use claim_checks::{MAX_INCARNATION, is_member_address};
pub use config::GossipConfig;
pub use force_leave::ForceLeaveRefusal;
pub use member::Member;
pub use membership::Gossip;
pub use outputs::{LogLine, MemberEvent, Outputs, ProbeResult};
