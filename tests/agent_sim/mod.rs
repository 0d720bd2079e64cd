//! The agent simulator's parts (see `tests/agent_sim.rs`).

pub mod checks;
pub mod faults;
pub mod net;
pub mod node;
pub mod scenario;
pub mod sim_io;
pub mod tcp;
pub mod trace;
pub mod workload;
pub mod world;
