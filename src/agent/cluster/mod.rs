//! Cluster membership as the operator sees it: the leader's reconciliation of
//! gossip into Raft servers and catalog entries, the graceful leave, and the
//! `info` view.

pub mod agent_view;
pub mod bootstrap_expect;
pub mod info;
pub mod leader_reconciliation;
pub mod leave;
pub mod leave_sequence;
pub mod reconciler;
pub mod serf_health;
