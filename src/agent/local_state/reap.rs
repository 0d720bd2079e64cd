//! `DeregisterCriticalServiceAfter` (Consul's `reapServicesInternal`): a
//! service one of whose checks has been critical for longer than that
//! check's limit is removed from the agent, and so from the catalog.

use super::{LocalCheck, LocalState};

/// When `check` would have its service removed, if ever.
pub(super) fn reap_at_ms(check: &LocalCheck) -> Option<u64> {
    let after_ms = check.deregister_critical_service_after_ms;
    if after_ms == 0 || check.check.service_id.is_empty() {
        return None;
    }
    // Consul reaps once critical for *longer* than the limit.
    let since_ms = check.critical_since_ms?;
    Some(since_ms.saturating_add(after_ms).saturating_add(1))
}

impl LocalState {
    /// Removes the services whose checks stayed critical too long; returns
    /// their IDs in order.
    pub fn reap_critical_services(&mut self, now_ms: u64) -> Vec<String> {
        let mut reaped: Vec<String> = self
            .checks
            .values()
            .filter(|c| reap_at_ms(c).is_some_and(|at| at <= now_ms))
            .map(|c| c.check.service_id.clone())
            .collect();
        reaped.sort();
        reaped.dedup();
        for service_id in &reaped {
            let removed = self.remove_service(service_id);
            assert_eq!(removed, Ok(true), "a reaped check's service exists");
        }
        reaped
    }
}
