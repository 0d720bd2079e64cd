//! The agent's own services and checks, as Consul's `agent/local.State`
//! keeps them beside the catalog: what this agent registered through its
//! HTTP API or configuration, how each check learns its status (a TTL the
//! application refreshes, a probe the agent runs, or nothing), and whether
//! each entry has reached the catalog. Anti-entropy ([`sync_plan`]) turns
//! the difference with the catalog into registrations.
//!
//! Pure: time arrives as `now_ms`, the probe stagger comes from a seeded
//! generator, and the caller runs the probes and the catalog writes.

mod checks;
mod maintenance;
mod probes;
mod reap;
mod services;
mod sync_plan;
mod ttl;

#[cfg(test)]
mod probe_tests;
#[cfg(test)]
mod sync_plan_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use crate::deterministic_rng::SplitMix64;
use crate::state_machine::services::{MAX_CHECKS_PER_NODE, MAX_SERVICES_PER_NODE};
use crate::wire::catalog_registration::{CheckDefinition, ServiceDefinition};

pub use checks::{
    CheckRunner, CheckSpec, CheckTypeFields, MAX_HTTP_CHECK_HEADER_BYTES,
    MAX_HTTP_CHECK_HEADER_VALUES, MAX_HTTP_CHECK_HEADERS, MAX_SCRIPT_ARG_BYTES, MAX_SCRIPT_ARGS,
    truncate_output,
};
pub use maintenance::{
    DEFAULT_NODE_MAINTENANCE_REASON, DEFAULT_SERVICE_MAINTENANCE_REASON, MAINTENANCE_CHECK_TYPE,
    NODE_MAINTENANCE_CHECK_ID, NODE_MAINTENANCE_CHECK_NAME, SERVICE_MAINTENANCE_CHECK_NAME,
    SERVICE_MAINTENANCE_PREFIX, service_maintenance_check_id,
};
pub use probes::{
    DEFAULT_HTTP_TIMEOUT_MS, DEFAULT_SCRIPT_TIMEOUT_MS, DEFAULT_TCP_TIMEOUT_MS, HTTP_CHECK_ACCEPT,
    HTTP_CHECK_USER_AGENT, Probe, ProbeKind,
};
pub use services::{
    ServiceRegistration, TAGGED_LAN_IPV4, TAGGED_LAN_IPV6, TAGGED_WAN_IPV4, TAGGED_WAN_IPV6,
};
pub use sync_plan::{DEFAULT_CHECK_UPDATE_INTERVAL_MS, SyncPlan, SyncedEntry, sync_plan};
pub use ttl::{TTL_EXPIRED_OUTPUT, TTL_EXPIRED_WITH_OUTPUT_PREFIX};

/// Services one agent holds: the catalog's bound for one node less the
/// servers' `consul` service, so whatever the agent holds the catalog can
/// take.
pub const MAX_LOCAL_SERVICES: usize = MAX_SERVICES_PER_NODE - 1;
/// Checks one agent holds: the catalog's bound less the servers'
/// `serfHealth`.
pub const MAX_LOCAL_CHECKS: usize = MAX_CHECKS_PER_NODE - 1;
/// A check's output: Consul's `checks.DefaultBufSize`.
pub const MAX_CHECK_OUTPUT_BYTES: usize = crate::wire::catalog_registration::MAX_CHECK_OUTPUT_BYTES;
/// Consul's `checks.MinInterval`: a shorter interval is raised to it.
pub const MIN_CHECK_INTERVAL_MS: u64 = 1_000;
/// Consul's default `check_deregister_interval_min`: a shorter
/// `DeregisterCriticalServiceAfter` is raised to it.
pub const MIN_DEREGISTER_CRITICAL_AFTER_MS: u64 = 60_000;

/// Where a registration came from; Consul gates script checks on each
/// separately (`enable_local_script_checks`, `enable_script_checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationSource {
    /// The agent's configuration files.
    Local,
    /// The HTTP API.
    Remote,
}

/// Which sources may register script checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScriptChecks {
    /// `enable_local_script_checks` (or `enable_script_checks`).
    pub from_local: bool,
    /// `enable_script_checks`.
    pub from_remote: bool,
}

impl ScriptChecks {
    fn allowed(self, source: RegistrationSource) -> bool {
        match source {
            RegistrationSource::Local => self.from_local,
            RegistrationSource::Remote => self.from_remote,
        }
    }
}

/// Why a change to the local state was refused, in Consul's words where
/// Consul has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalStateError {
    MissingServiceName,
    MissingServiceId,
    MissingCheckId,
    /// A check names a service this agent does not have.
    UnknownService(String),
    /// Maintenance asked for a service this agent does not have.
    NoServiceForMaintenance(String),
    /// A TTL update for a check that is not a TTL check, or not there.
    NotTtlCheck(String),
    /// Consul's `CheckType.Validate` message.
    InvalidCheck(String),
    ScriptsDisabled(RegistrationSource),
    /// A `lan_ipv4`/`wan_ipv4`/`lan_ipv6` tagged address of the wrong family.
    InvalidTaggedAddress {
        tag: &'static str,
        family: &'static str,
    },
    /// A bound of this state or of the catalog's wire format.
    Limit(String),
}

impl fmt::Display for LocalStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalStateError::MissingServiceName => f.write_str("Service name missing"),
            LocalStateError::MissingServiceId => f.write_str("ServiceID missing"),
            LocalStateError::MissingCheckId => f.write_str("CheckID missing"),
            LocalStateError::UnknownService(id) => write!(f, "ServiceID {id:?} does not exist"),
            LocalStateError::NoServiceForMaintenance(id) => {
                write!(f, "No service registered with ID {id:?}")
            }
            LocalStateError::NotTtlCheck(id) => {
                write!(f, "CheckID {id:?} does not have associated TTL")
            }
            LocalStateError::InvalidCheck(reason) => write!(f, "Check is not valid: {reason}"),
            LocalStateError::ScriptsDisabled(RegistrationSource::Local) => f.write_str(
                "Scripts are disabled on this agent; to enable, configure \
                 'enable_script_checks' or 'enable_local_script_checks' to true",
            ),
            LocalStateError::ScriptsDisabled(RegistrationSource::Remote) => f.write_str(
                "Scripts are disabled on this agent from remote calls; to enable, \
                 configure 'enable_script_checks' to true",
            ),
            LocalStateError::InvalidTaggedAddress { tag, family } => write!(
                f,
                "Service tagged address {tag:?} must be a valid {family} address"
            ),
            LocalStateError::Limit(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for LocalStateError {}

/// One of the agent's services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalService {
    /// Its ID filled in, default tagged addresses added.
    pub service: ServiceDefinition,
    /// False from a change until a write of it to the catalog succeeds.
    pub in_sync: bool,
}

/// One of the agent's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCheck {
    /// What the catalog is to hold (ServiceName and ServiceTags copied from
    /// the service).
    pub check: CheckDefinition,
    pub runner: CheckRunner,
    /// False from a change of anything but the output until a write of it
    /// to the catalog succeeds; output-only changes wait for
    /// `check_update_interval` (see [`sync_plan`]).
    pub in_sync: bool,
    /// The last successful write of the check to the catalog.
    pub synced_at_ms: Option<u64>,
    /// Since when the check has been critical, for
    /// `DeregisterCriticalServiceAfter`.
    pub critical_since_ms: Option<u64>,
    /// 0 for never; else at least [`MIN_DEREGISTER_CRITICAL_AFTER_MS`].
    pub deregister_critical_service_after_ms: u64,
    /// A TTL check's expiry, or a probe's next start; `None` while a probe
    /// runs or after a TTL expired.
    due_ms: Option<u64>,
    probe_running: bool,
}

/// The agent's services by ID and checks by check ID.
#[derive(Debug, Clone)]
pub struct LocalState {
    services: BTreeMap<String, LocalService>,
    checks: BTreeMap<String, LocalCheck>,
    script_checks: ScriptChecks,
    /// Staggers each probe's first run within its interval, as Consul's
    /// `lib.RandomStagger` does, so checks registered together do not fire
    /// together.
    stagger: SplitMix64,
}

impl LocalState {
    /// `--enable-script-checks`, read once at start.
    pub fn set_script_checks(&mut self, script_checks: ScriptChecks) {
        self.script_checks = script_checks;
    }

    pub fn new(script_checks: ScriptChecks, stagger_seed: u64) -> Self {
        LocalState {
            services: BTreeMap::new(),
            checks: BTreeMap::new(),
            script_checks,
            stagger: SplitMix64::new(stagger_seed),
        }
    }

    pub fn service(&self, id: &str) -> Option<&LocalService> {
        self.services.get(id)
    }

    /// Services in ID order.
    pub fn services(&self) -> impl Iterator<Item = &LocalService> {
        self.services.values()
    }

    pub fn check(&self, id: &str) -> Option<&LocalCheck> {
        self.checks.get(id)
    }

    /// Checks in check-ID order.
    pub fn checks(&self) -> impl Iterator<Item = &LocalCheck> {
        self.checks.values()
    }

    /// The checks of one service, in check-ID order.
    pub fn service_checks<'a>(
        &'a self,
        service_id: &'a str,
    ) -> impl Iterator<Item = &'a LocalCheck> {
        self.checks
            .values()
            .filter(move |c| c.check.service_id == service_id)
    }

    /// The earliest time something is due: a TTL expiry, a probe start, or
    /// a critical service's deregistration. The caller's one timer.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        let due = self.checks.values().filter_map(|c| c.due_ms);
        due.chain(self.checks.values().filter_map(reap::reap_at_ms))
            .min()
    }

    fn check_invariants(&self) {
        assert!(self.services.len() <= MAX_LOCAL_SERVICES);
        assert!(self.checks.len() <= MAX_LOCAL_CHECKS);
        debug_assert!(self.checks.iter().all(|(id, c)| {
            id == &c.check.check_id
                && (c.check.service_id.is_empty()
                    || self.services.contains_key(&c.check.service_id))
        }));
    }
}
