//! Snapshots of a server: when one is due, receiving one from the leader,
//! and installing it off the loop.

pub mod install;
pub mod installing;
pub mod receiver;
pub mod schedule;
pub mod taking;
