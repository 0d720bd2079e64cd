//! The leader's reconciliation as the agent drives it: on member events and
//! every [`RECONCILE_INTERVAL`], gossip members become Raft servers and
//! catalog entries ([`reconcile`]); a new server is first asked its
//! identity, and added once it answers.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use crate::gossip::Member;
use crate::wire::client_message::{ResponseBody, RpcResult, ServerIdentity};

use crate::agent::cluster::leader_reconciliation::{
    KeptForQuorum, RECONCILE_INTERVAL, add_identified_server, reconcile,
};
use crate::agent::handler::AgentHandler;
use crate::agent::requests::outstanding::Purpose;
use crate::agent::seam::Context;

/// An identity query not answered in this long is forgotten (asked again).
const IDENTITY_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the leader's reconciliation remembers between passes.
#[derive(Debug, Default)]
pub struct Reconciler {
    /// Servers asked for their identity and not yet answered.
    identifying: HashSet<String>,
    next_reconcile: Option<Instant>,
    /// Servers of another cluster, each logged once.
    warned_foreign: HashSet<String>,
    /// Servers whose removal the last pass refused for quorum; each is
    /// logged once when the refusal starts, not every pass.
    kept_for_quorum: HashSet<String>,
}

impl Reconciler {
    /// Whether the periodic pass is due (and if so, schedules the next).
    pub fn due(&mut self, now: Instant) -> bool {
        if self.next_reconcile.is_some_and(|next| now < next) {
            return false;
        }
        self.next_reconcile = Some(now + RECONCILE_INTERVAL);
        true
    }

    /// An identity query that will not be answered (its link closed).
    pub fn forget_query(&mut self, address: &str) {
        self.identifying.remove(address);
    }

    fn log_kept_for_quorum(&mut self, kept_now: Vec<KeptForQuorum>) {
        let mut kept = HashSet::with_capacity(kept_now.len());
        for server in kept_now {
            if !self.kept_for_quorum.contains(&server.name) {
                log::warn!(target: "agent",
                    "not removing server {} ({}) from the Raft configuration, {} past the grace period: \
                     the remaining voters would lose their quorum ({} of {} live)",
                    server.name, server.address,
                    if server.unknown_to_gossip { "unknown to gossip" } else { "failed" },
                    server.live_remaining_voters, server.remaining_voters);
            }
            kept.insert(server.name);
        }
        self.kept_for_quorum = kept;
    }
}

impl AgentHandler {
    /// Leader: reconcile gossip members with the Raft configuration and the
    /// catalog, and ask new servers for their Raft identity.
    pub(crate) fn reconcile(&mut self, ctx: &mut Context) {
        let Some(raft) = self.raft.as_mut() else {
            return;
        };
        if !raft.is_leader() || self.leave.is_leaving() {
            self.reconciler.kept_for_quorum.clear();
            return;
        }
        let now = ctx.now();
        let members = self.membership.member_details();
        let membership = &self.membership;
        let warned = &mut self.reconciler.warned_foreign;
        let actions = reconcile(
            raft,
            &members,
            &self.config.datacenter,
            &self.config.node_name,
            |changed_ms| membership.ms_since(changed_ms, now),
            &mut |member: &Member, ours| {
                if warned.insert(member.name.clone()) {
                    log::error!(target: "agent",
                        "cannot add server {} ({}): it belongs to cluster {:032x}, this cluster is {ours:032x}; \
                         remove its raft/ directory and restart it without --bootstrap",
                        member.name, member.address, member.tags.cluster_id);
                }
            },
        );
        self.reconciler.log_kept_for_quorum(actions.kept_for_quorum);
        for (_, address) in actions.identify {
            self.ask_identity(ctx, address);
        }
    }

    fn ask_identity(&mut self, ctx: &mut Context, address: String) {
        if self.reconciler.identifying.contains(&address) {
            return;
        }
        let Ok(target) = address.parse::<SocketAddr>() else {
            return;
        };
        let purpose = Purpose::Identity {
            address: address.clone(),
        };
        if self
            .router
            .ask_identity(ctx, target, purpose, IDENTITY_QUERY_TIMEOUT)
        {
            self.reconciler.identifying.insert(address);
        }
    }

    /// A joining server's answer: add it (as a non-voter first).
    pub(crate) fn on_identity_answer(&mut self, address: String, body: &ResponseBody) {
        self.reconciler.identifying.remove(&address);
        if let ResponseBody::Ok(RpcResult::Identity(identity)) = body
            && identity.raft_id != 0
            && let Some(raft) = self.raft.as_mut()
        {
            let ServerIdentity {
                node_name,
                raft_id,
                cluster_id,
                ..
            } = identity.clone();
            add_identified_server(raft, node_name, address, raft_id, cluster_id);
        }
    }
}
