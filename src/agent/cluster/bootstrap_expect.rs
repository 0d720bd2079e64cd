//! `--bootstrap-expect N`: once N servers (this one included) are alive in
//! gossip, none of them in a cluster yet, the one whose name sorts first
//! bootstraps a cluster of one and the leader's reconciliation adds the
//! others. Exactly one server creates the cluster, so two clusters cannot
//! form; the others stay empty until added.

use std::time::{Duration, Instant};

use crate::gossip::{Member, Role as GossipRole};

use crate::agent::config::Bootstrap;
use crate::agent::handler::AgentHandler;

/// How often the expected servers are counted.
const BOOTSTRAP_EXPECT_CHECK_INTERVAL: Duration = Duration::from_millis(200);

impl AgentHandler {
    pub(crate) fn check_bootstrap_expect(&mut self, now: Instant) {
        let Bootstrap::Expect(expected) = self.config.bootstrap else {
            return;
        };
        if self.next_bootstrap_check.is_some_and(|next| now < next) {
            return;
        }
        self.next_bootstrap_check = Some(now + BOOTSTRAP_EXPECT_CHECK_INTERVAL);
        let Some(raft) = self.raft.as_mut() else {
            return;
        };
        if raft.had_data_at_start() || raft.node().term() != 0 || raft.cluster_id() != 0 {
            return;
        }
        let servers: Vec<Member> = self
            .membership
            .member_details()
            .into_iter()
            .filter(|m| {
                m.is_live()
                    && m.tags.role == GossipRole::Server
                    && m.tags.datacenter == self.config.datacenter
            })
            .collect();
        if servers.iter().any(|m| m.tags.cluster_id != 0) {
            return;
        }
        if (servers.len() as u64) < u64::from(expected) {
            return;
        }
        let first = servers.iter().map(|m| m.name.as_str()).min();
        if first == Some(self.config.node_name.as_str()) {
            log::info!(target: "agent",
                "{} servers are alive, as --bootstrap-expect asks: bootstrapping the cluster", servers.len());
            raft.node_mut().bootstrap();
        }
    }
}
