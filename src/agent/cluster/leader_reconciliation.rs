//! The leader turns gossip membership into Raft membership and catalog
//! entries (Consul's leader loop, `reconcileMember`): a server that joins
//! gossip is added to the Raft configuration, one that leaves is removed, a
//! failed one is removed after a grace period if the rest keep their quorum;
//! every member is registered in the catalog and deregistered when it leaves
//! or is reaped. It runs on member events and every
//! [`RECONCILE_INTERVAL`], since events can be missed across leader changes.
//!
//! Gossip tags do not carry a server's Raft ID, so the leader asks the new
//! server for it with an `Info` request (its `raft` section holds `id`,
//! `cluster_id`), and adds it once the answer shows it is empty (cluster ID
//! 0) or already ours.

use std::time::Duration;

use crate::gossip::{Member, MemberStatus, Role as GossipRole};
use crate::wire::client_message::CatalogNode;
use crate::wire::command::Command;
use crate::wire::raft_message::{ClusterId, NodeId, ServerEntry, Suffrage};

use crate::agent::cluster::serf_health;
use crate::agent::server::RaftServer;

pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(1);
/// A failed server is removed from the configuration only after this long
/// (it may be restarting).
pub const FAILED_SERVER_GRACE: Duration = Duration::from_secs(30);

/// What one reconciliation pass asks the agent to do beyond proposals.
#[derive(Debug, Default)]
pub struct ReconcileActions {
    /// Servers to ask for their Raft identity: (name, address).
    pub identify: Vec<(String, String)>,
    /// Servers due for removal (failed past the grace period, or no longer
    /// known to gossip) that stay because removing them would cost the
    /// remaining voters their quorum: the operator has to hear why a dead
    /// server is still listed.
    pub kept_for_quorum: Vec<KeptForQuorum>,
}

/// A removal the quorum rule refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptForQuorum {
    pub name: String,
    pub address: String,
    /// Gossip does not know it at all (rather than reporting it failed).
    pub unknown_to_gossip: bool,
    /// Voters left after the removal, and how many of them gossip reports live.
    pub remaining_voters: usize,
    pub live_remaining_voters: usize,
}

/// The catalog entry gossip says a member should have.
pub fn catalog_entry(member: &Member) -> CatalogNode {
    CatalogNode {
        name: member.name.clone(),
        address: member.address.clone(),
        role: member.tags.role.to_string(),
        datacenter: member.tags.datacenter.clone(),
    }
}

/// One pass on the leader. `ms_since(t)` gives how long ago (ms) gossip
/// clock time `t` was (a member's `status_changed_ms`); gossip time 0 is
/// this agent's start.
pub fn reconcile(
    raft: &mut RaftServer,
    members: &[Member],
    datacenter: &str,
    local_name: &str,
    ms_since: impl Fn(u64) -> u64,
    warn_foreign: &mut dyn FnMut(&Member, ClusterId),
) -> ReconcileActions {
    let mut actions = ReconcileActions::default();
    if !raft.is_leader() {
        return actions;
    }
    actions.identify = servers_to_identify(raft, members, datacenter, local_name, warn_foreign);
    actions.kept_for_quorum = remove_one_gone_server(raft, members, &ms_since);
    reconcile_catalog(raft, members);
    actions
}

/// Live servers of our datacenter that gossip knows and the configuration
/// does not: each is asked its identity before it is added.
fn servers_to_identify(
    raft: &RaftServer,
    members: &[Member],
    datacenter: &str,
    local_name: &str,
    warn_foreign: &mut dyn FnMut(&Member, ClusterId),
) -> Vec<(String, String)> {
    let ours = raft.cluster_id();
    let configuration = raft.node().latest_configuration();
    let mut identify = Vec::new();
    for member in members {
        if !member.is_live()
            || member.tags.role != GossipRole::Server
            || member.tags.datacenter != datacenter
            || member.name == local_name
            || configuration
                .servers
                .iter()
                .any(|s| s.address == member.address)
        {
            continue;
        }
        if member.tags.cluster_id != 0 && member.tags.cluster_id != ours {
            warn_foreign(member, ours);
            continue;
        }
        identify.push((member.name.clone(), member.address.clone()));
    }
    identify
}

/// Whether a server is gone: it left, or failed longer ago than the grace
/// period. Unknown to gossip: reaped (dead for days), or never heard of
/// since this agent started: a server still down when the others
/// restarted has nobody left to tell gossip about it. It gets the grace
/// period a failure would, counted from the start, so a server restarting
/// a little later than the rest is not dropped.
fn failed_past_grace(member: Option<&Member>, ms_since: &impl Fn(u64) -> u64) -> bool {
    let grace_ms = FAILED_SERVER_GRACE.as_millis() as u64;
    match member {
        Some(m) if m.status == MemberStatus::Dead => ms_since(m.status_changed_ms) >= grace_ms,
        None => ms_since(0) >= grace_ms,
        Some(_) => false,
    }
}

/// Removals: one configuration change at a time; the core refuses a second
/// while one is uncommitted and the next pass retries. Returns the failed
/// servers kept because removing them would cost the quorum.
fn remove_one_gone_server(
    raft: &mut RaftServer,
    members: &[Member],
    ms_since: &impl Fn(u64) -> u64,
) -> Vec<KeptForQuorum> {
    let configuration = raft.node().latest_configuration().clone();
    let self_id = raft.id();
    let voters: Vec<&ServerEntry> = configuration
        .servers
        .iter()
        .filter(|s| s.suffrage == Suffrage::Voter)
        .collect();
    let live = |server: &ServerEntry| {
        server.id == self_id
            || members
                .iter()
                .any(|m| m.address == server.address && m.is_live())
    };
    let mut kept = Vec::new();
    for server in configuration.servers.iter().filter(|s| s.id != self_id) {
        let member = members.iter().find(|m| m.address == server.address);
        let remove = if member.is_some_and(|m| m.status == MemberStatus::Left) {
            true
        } else if failed_past_grace(member, ms_since) {
            let quorum = remaining_quorum(&voters, server, &live);
            if !quorum.keeps_quorum() {
                kept.push(KeptForQuorum {
                    name: server.name.clone(),
                    address: server.address.clone(),
                    unknown_to_gossip: member.is_none(),
                    remaining_voters: quorum.remaining_voters,
                    live_remaining_voters: quorum.live_remaining_voters,
                });
            }
            quorum.keeps_quorum()
        } else {
            false
        };
        if remove {
            match raft.node_mut().remove_server(server.id) {
                Ok(_) => log::info!(target: "agent",
                    "removing server {} ({}) from the Raft configuration", server.name, server.address),
                Err(err) => log::debug!(target: "agent",
                    "removal of {} deferred: {err}", server.name),
            }
            break;
        }
    }
    kept
}

/// Catalog: what gossip says, registered, with each member's `serfHealth`
/// check and a server's `consul` service; what left, deregistered with its
/// services and checks.
fn reconcile_catalog(raft: &mut RaftServer, members: &[Member]) {
    let catalog = raft.state().catalog();
    let mut commands = Vec::new();
    for member in members {
        match member.status {
            MemberStatus::Alive | MemberStatus::Suspect | MemberStatus::Dead => {
                let entry = catalog_entry(member);
                if catalog.get(&member.name) != Some(&entry) {
                    commands.push(Command::CatalogRegister(entry));
                }
                let registration = serf_health::desired_registration(member);
                if serf_health::registration_needed(catalog, &registration) {
                    commands.push(Command::CatalogRegistration(Box::new(registration)));
                }
            }
            MemberStatus::Left => {
                if catalog.get(&member.name).is_some() {
                    commands.push(Command::CatalogDeregister {
                        name: member.name.clone(),
                    });
                }
            }
        }
    }
    // Only what gossip put there is reaped, as Consul's `reconcileReaped`
    // reaps nodes with a `serfHealth` check: a node registered through
    // `/v1/catalog/register` (an external service) is nobody's member.
    for node in catalog.nodes() {
        let from_gossip = !node.role.is_empty()
            || catalog
                .services()
                .node(&node.name)
                .is_some_and(|n| n.checks.contains_key(serf_health::SERF_CHECK_ID));
        if from_gossip && !members.iter().any(|m| m.name == node.name) {
            commands.push(Command::CatalogDeregister {
                name: node.name.clone(),
            });
        }
    }
    for command in commands {
        raft.propose_unanswered(&command);
    }
}

/// The voters a removal would leave, and how many of them are live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RemainingQuorum {
    remaining_voters: usize,
    live_remaining_voters: usize,
}

impl RemainingQuorum {
    /// The remaining voters keep a live majority: removing a voter when they
    /// would not leaves a configuration that can never commit again until
    /// the dead come back (or, if the removed one was only unreachable by
    /// gossip, takes a working voter away from a leader that needed it).
    fn keeps_quorum(self) -> bool {
        self.remaining_voters > 0 && self.live_remaining_voters > self.remaining_voters / 2
    }
}

/// What removing `server` leaves of the voters.
fn remaining_quorum(
    voters: &[&ServerEntry],
    server: &ServerEntry,
    live: &dyn Fn(&ServerEntry) -> bool,
) -> RemainingQuorum {
    let remaining: Vec<&&ServerEntry> = voters.iter().filter(|v| v.id != server.id).collect();
    RemainingQuorum {
        remaining_voters: remaining.len(),
        live_remaining_voters: remaining.iter().filter(|v| live(v)).count(),
    }
}

/// Adds an identified server (as a non-voter the core promotes once it has
/// caught up).
pub fn add_identified_server(
    raft: &mut RaftServer,
    name: String,
    address: String,
    id: NodeId,
    cluster_id: ClusterId,
) {
    if !raft.is_leader() {
        return;
    }
    let ours = raft.cluster_id();
    if cluster_id != 0 && cluster_id != ours {
        log::error!(target: "agent",
            "cannot add server {name} ({address}): it belongs to cluster {cluster_id:032x}, \
             this cluster is {ours:032x}; remove its raft/ directory and restart it without --bootstrap");
        return;
    }
    if raft
        .node()
        .latest_configuration()
        .servers
        .iter()
        .any(|s| s.id == id || s.address == address)
    {
        return;
    }
    let entry = ServerEntry {
        id,
        name: name.clone(),
        address: address.clone(),
        suffrage: Suffrage::Voter,
    };
    if let Err(err) = raft.node_mut().add_server(entry) {
        log::debug!(target: "agent", "adding {name} ({address}) deferred: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voter(id: NodeId) -> ServerEntry {
        ServerEntry {
            id,
            name: format!("n{id}"),
            address: format!("10.0.0.{id}:8300"),
            suffrage: Suffrage::Voter,
        }
    }

    #[test]
    fn a_failed_server_is_not_removed_when_the_rest_would_lose_quorum() {
        let (a, b, c) = (voter(1), voter(2), voter(3));
        let voters = vec![&a, &b, &c];
        // Only `a` is alive: removing `c` leaves {a, b} with one live voter.
        let only_a = |s: &ServerEntry| s.id == 1;
        let quorum = remaining_quorum(&voters, &c, &only_a);
        assert_eq!(
            quorum,
            RemainingQuorum {
                remaining_voters: 2,
                live_remaining_voters: 1
            }
        );
        assert!(!quorum.keeps_quorum());
        // `a` and `b` alive: removing `c` leaves a live majority.
        let a_and_b = |s: &ServerEntry| s.id != 3;
        assert!(remaining_quorum(&voters, &c, &a_and_b).keeps_quorum());
        // The last voter is never removed.
        assert!(!remaining_quorum(&[&a], &a, &only_a).keeps_quorum());
    }
}
