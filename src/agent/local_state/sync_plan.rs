//! Anti-entropy, pure (Consul's `State.updateSyncState` and
//! `SyncChanges`): what to write so the catalog's entry for this node holds
//! the agent's services and checks and nothing else of the agent's.
//!
//! The `consul` service and the `serfHealth` check belong to the servers
//! and are never deregistered. Node meta and tagged addresses are copied
//! from the catalog entry into each registration, so this plan never
//! changes them. A check whose only change is its output waits until
//! `check_update_interval_ms` after its last write (Consul's
//! `check_update_interval`), so a chatty check does not write to Raft at
//! every run; a status change is written at once.

use super::{LocalCheck, LocalService, LocalState};
use crate::agent::cluster::serf_health::SERF_CHECK_ID;
use crate::agent::requests::catalog_answers::SERVER_SERVICE;
use crate::state_machine::services::NodeServices;
use crate::wire::catalog_registration::{
    CheckDefinition, DeregisterRequest, DeregisterTarget, MAX_CHECKS_PER_REGISTRATION,
    RegisterRequest, ServiceDefinition,
};

/// Consul's default `check_update_interval`.
pub const DEFAULT_CHECK_UPDATE_INTERVAL_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Each service with its checks that need writing (at most
    /// [`MAX_CHECKS_PER_REGISTRATION`] a request), then node-level checks.
    pub registrations: Vec<RegisterRequest>,
    pub deregistrations: Vec<DeregisterRequest>,
    /// When the earliest output-only change held back becomes due: the
    /// caller plans again then.
    pub deferred_until_ms: Option<u64>,
}

/// A check's need to be written.
enum CheckSync {
    No,
    Now,
    DeferredUntil(u64),
}

/// The plan for this node; `catalog` is its entry there (`None`: the
/// catalog has nothing of it).
pub fn sync_plan(
    local: &LocalState,
    node_name: &str,
    node_address: &str,
    datacenter: &str,
    catalog: Option<&NodeServices>,
    now_ms: u64,
    check_update_interval_ms: u64,
) -> SyncPlan {
    let empty = NodeServices::default();
    let catalog = catalog.unwrap_or(&empty);
    let base = RegisterRequest {
        node: node_name.to_owned(),
        address: node_address.to_owned(),
        datacenter: datacenter.to_owned(),
        node_meta: catalog.meta.clone(),
        tagged_addresses: catalog.tagged_addresses.clone(),
        service: None,
        checks: Vec::new(),
    };
    let mut plan = SyncPlan::default();
    let due = |check: &LocalCheck, plan: &mut SyncPlan| {
        let remote = catalog.checks.get(&check.check.check_id).map(|r| &r.check);
        match check_sync(check, remote, now_ms, check_update_interval_ms) {
            CheckSync::No => false,
            CheckSync::Now => true,
            CheckSync::DeferredUntil(at) => {
                plan.deferred_until_ms = Some(plan.deferred_until_ms.map_or(at, |t| t.min(at)));
                false
            }
        }
    };
    for service in local.services() {
        let remote = catalog
            .services
            .get(&service.service.id)
            .map(|r| &r.service);
        let sent = effective_service(service, remote);
        let service_due = !service.in_sync || remote != Some(&sent);
        let checks: Vec<CheckDefinition> = local
            .service_checks(&service.service.id)
            .filter(|c| due(c, &mut plan))
            .map(|c| c.check.clone())
            .collect();
        if service_due && checks.is_empty() {
            push(&mut plan, &base, Some(&sent), Vec::new());
        }
        for chunk in checks.chunks(MAX_CHECKS_PER_REGISTRATION) {
            push(&mut plan, &base, Some(&sent), chunk.to_vec());
        }
    }
    let node_checks: Vec<CheckDefinition> = local
        .checks()
        .filter(|c| c.check.service_id.is_empty())
        .filter(|c| due(c, &mut plan))
        .map(|c| c.check.clone())
        .collect();
    for chunk in node_checks.chunks(MAX_CHECKS_PER_REGISTRATION) {
        push(&mut plan, &base, None, chunk.to_vec());
    }
    plan.deregistrations = deregistrations(local, node_name, catalog);
    plan
}

fn push(
    plan: &mut SyncPlan,
    base: &RegisterRequest,
    service: Option<&ServiceDefinition>,
    checks: Vec<CheckDefinition>,
) {
    let request = RegisterRequest {
        service: service.cloned(),
        checks,
        ..base.clone()
    };
    debug_assert_eq!(request.limits_error(), None);
    plan.registrations.push(request);
}

/// Catalog entries of this node the agent does not have, but the servers'.
fn deregistrations(
    local: &LocalState,
    node_name: &str,
    catalog: &NodeServices,
) -> Vec<DeregisterRequest> {
    let gone_services: Vec<&String> = catalog
        .services
        .keys()
        .filter(|id| id.as_str() != SERVER_SERVICE && local.service(id).is_none())
        .collect();
    // A gone service's checks go with it.
    let gone_checks = catalog.checks.values().filter(|record| {
        let check = &record.check;
        check.check_id != SERF_CHECK_ID
            && local.check(&check.check_id).is_none()
            && !gone_services.contains(&&check.service_id)
    });
    let targets = gone_services
        .iter()
        .map(|id| DeregisterTarget::Service((*id).clone()))
        .chain(gone_checks.map(|r| DeregisterTarget::Check(r.check.check_id.clone())));
    targets
        .map(|target| DeregisterRequest {
            node: node_name.to_owned(),
            target,
        })
        .collect()
}

/// The service as it is to be written: with `EnableTagOverride` the
/// catalog's tags win (others may edit them there), as Consul copies the
/// remote tags into the local service.
fn effective_service(
    local: &LocalService,
    remote: Option<&ServiceDefinition>,
) -> ServiceDefinition {
    let mut service = local.service.clone();
    if let Some(remote) = remote
        && service.enable_tag_override
    {
        service.tags = remote.tags.clone();
    }
    service
}

/// Equal as the catalog keeps them: it copies the service's name and tags
/// into its checks itself.
fn same_check(local: &CheckDefinition, remote: &CheckDefinition, ignore_output: bool) -> bool {
    let strip = |check: &CheckDefinition| CheckDefinition {
        service_name: String::new(),
        service_tags: Vec::new(),
        output: if ignore_output {
            String::new()
        } else {
            check.output.clone()
        },
        ..check.clone()
    };
    strip(local) == strip(remote)
}

fn check_sync(
    local: &LocalCheck,
    remote: Option<&CheckDefinition>,
    now_ms: u64,
    check_update_interval_ms: u64,
) -> CheckSync {
    let Some(remote) = remote else {
        return CheckSync::Now;
    };
    if !local.in_sync {
        return CheckSync::Now;
    }
    if same_check(&local.check, remote, false) {
        return CheckSync::No;
    }
    if !same_check(&local.check, remote, true) {
        return CheckSync::Now;
    }
    match local.synced_at_ms {
        Some(at) if now_ms < at.saturating_add(check_update_interval_ms) => {
            CheckSync::DeferredUntil(at.saturating_add(check_update_interval_ms))
        }
        _ => CheckSync::Now,
    }
}

/// An entry a successful write carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncedEntry<'a> {
    Service(&'a str),
    Check(&'a str),
}

impl LocalState {
    /// After `request` was applied: what it carried is in sync, unless it
    /// changed here since the plan was made (then it goes again). Returns
    /// the entries marked.
    pub fn mark_synced<'a>(
        &mut self,
        request: &'a RegisterRequest,
        now_ms: u64,
    ) -> Vec<SyncedEntry<'a>> {
        let mut marked = Vec::new();
        if let Some(sent) = &request.service
            && let Some(local) = self.services.get_mut(&sent.id)
            && effective_service(local, Some(sent)) == *sent
        {
            local.in_sync = true;
            marked.push(SyncedEntry::Service(&sent.id));
        }
        for sent in &request.checks {
            if let Some(local) = self.checks.get_mut(&sent.check_id)
                && same_check(&local.check, sent, false)
            {
                local.in_sync = true;
                local.synced_at_ms = Some(now_ms);
                marked.push(SyncedEntry::Check(&sent.check_id));
            }
        }
        marked
    }
}
