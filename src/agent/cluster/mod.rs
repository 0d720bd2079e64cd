//! Cluster membership as the operator sees it: the leader's reconciliation of
//! gossip into Raft servers and catalog entries, the graceful leave, and the
//! `info` view.

pub mod info;
pub mod leader_reconciliation;
pub mod leave_sequence;
