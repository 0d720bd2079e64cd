//! The Raft core: a pure, deterministic state machine. No sockets, files,
//! clocks, threads or global randomness: inputs in, a batch of effects out.

pub mod hard_state;

pub use hard_state::HardState;
