//! TTL checks (Consul's `CheckTTL`): each report from the application
//! (`/v1/agent/check/pass/<id>?note=`, `warn`, `fail`, `update`) sets the
//! status and restarts the clock; silence past the TTL turns the check
//! critical, keeping the last report in the output.

use super::checks::truncate_output;
use super::{CheckRunner, LocalState, LocalStateError};
use crate::wire::catalog_registration::CheckStatus;

/// Consul's output for an expired TTL check that never reported output.
pub const TTL_EXPIRED_OUTPUT: &str = "TTL expired";
/// Followed by the last output reported before the TTL ran out.
pub const TTL_EXPIRED_WITH_OUTPUT_PREFIX: &str =
    "TTL expired (last output before timeout follows): ";

impl LocalState {
    /// Consul's `Agent.updateTTLCheck`: sets the status and output of a
    /// TTL check and restarts its TTL. Returns whether the check changed.
    pub fn update_ttl_check(
        &mut self,
        check_id: &str,
        status: CheckStatus,
        output: &str,
        now_ms: u64,
    ) -> Result<bool, LocalStateError> {
        let ttl_ms = match self.checks.get(check_id).map(|c| &c.runner) {
            Some(CheckRunner::Ttl { ttl_ms }) => *ttl_ms,
            _ => return Err(LocalStateError::NotTtlCheck(check_id.to_owned())),
        };
        let changed = self.update_check(check_id, status, output, now_ms);
        let local = self.checks.get_mut(check_id);
        let local = local.expect("the TTL check was just found");
        local.due_ms = Some(now_ms.saturating_add(ttl_ms));
        Ok(changed)
    }

    /// Turns every TTL check whose TTL ran out by `now_ms` critical; each
    /// expires once until its next report. Returns the IDs of those that
    /// changed.
    pub fn expire_ttl_checks(&mut self, now_ms: u64) -> Vec<String> {
        let mut expired: Vec<String> = self
            .checks
            .values()
            .filter(|c| matches!(c.runner, CheckRunner::Ttl { .. }))
            .filter(|c| c.due_ms.is_some_and(|due| due <= now_ms))
            .map(|c| c.check.check_id.clone())
            .collect();
        expired.retain(|check_id| {
            let local = self.checks.get_mut(check_id).expect("listed above");
            local.due_ms = None;
            let output = match local.check.output.as_str() {
                "" => TTL_EXPIRED_OUTPUT.to_owned(),
                last => truncate_output(&format!("{TTL_EXPIRED_WITH_OUTPUT_PREFIX}{last}")),
            };
            self.update_check(check_id, CheckStatus::Critical, &output, now_ms)
        });
        expired
    }
}
