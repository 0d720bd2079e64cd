//! Maintenance mode (Consul's `EnableNodeMaintenance` and
//! `EnableServiceMaintenance`): a critical check of its own takes the node,
//! or one service, out of every healthy answer until it is removed.

use super::{CheckRunner, LocalState, LocalStateError};
use crate::wire::catalog_registration::{CheckDefinition, CheckDefinitionFields, CheckStatus};

/// Consul's `structs.NodeMaint`.
pub const NODE_MAINTENANCE_CHECK_ID: &str = "_node_maintenance";
pub const NODE_MAINTENANCE_CHECK_NAME: &str = "Node Maintenance Mode";
/// Consul's `structs.ServiceMaintPrefix`.
pub const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";
pub const SERVICE_MAINTENANCE_CHECK_NAME: &str = "Service Maintenance Mode";
pub const MAINTENANCE_CHECK_TYPE: &str = "maintenance";
pub const DEFAULT_NODE_MAINTENANCE_REASON: &str = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
pub const DEFAULT_SERVICE_MAINTENANCE_REASON: &str = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

pub fn service_maintenance_check_id(service_id: &str) -> String {
    format!("{SERVICE_MAINTENANCE_PREFIX}{service_id}")
}

fn maintenance_check(check_id: String, name: &str, notes: &str) -> CheckDefinition {
    CheckDefinition {
        check_id,
        name: name.to_owned(),
        status: CheckStatus::Critical,
        notes: notes.to_owned(),
        output: String::new(),
        service_id: String::new(),
        service_name: String::new(),
        service_tags: Vec::new(),
        check_type: MAINTENANCE_CHECK_TYPE.to_owned(),
        definition: CheckDefinitionFields::default(),
    }
}

/// Consul's `Notes`: the reason, or its default text. Cut to the notes
/// bound, as the reason comes from a query string.
fn notes(reason: &str, default: &str) -> String {
    let reason = if reason.is_empty() { default } else { reason };
    let mut cut = reason
        .len()
        .min(crate::wire::catalog_registration::MAX_CHECK_NOTES_BYTES);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    reason[..cut].to_owned()
}

impl LocalState {
    /// Returns whether maintenance was newly enabled; an existing
    /// maintenance check (and its reason) stays as it is, as in Consul.
    pub fn enable_node_maintenance(&mut self, reason: &str, now_ms: u64) -> bool {
        if self.checks.contains_key(NODE_MAINTENANCE_CHECK_ID) {
            return false;
        }
        let check = maintenance_check(
            NODE_MAINTENANCE_CHECK_ID.to_owned(),
            NODE_MAINTENANCE_CHECK_NAME,
            &notes(reason, DEFAULT_NODE_MAINTENANCE_REASON),
        );
        self.insert_maintenance(check, now_ms)
    }

    /// Returns whether node maintenance was on.
    pub fn disable_node_maintenance(&mut self) -> bool {
        self.checks.remove(NODE_MAINTENANCE_CHECK_ID).is_some()
    }

    /// Returns whether maintenance was newly enabled.
    pub fn enable_service_maintenance(
        &mut self,
        service_id: &str,
        reason: &str,
        now_ms: u64,
    ) -> Result<bool, LocalStateError> {
        let Some(service) = self.services.get(service_id) else {
            return Err(LocalStateError::NoServiceForMaintenance(
                service_id.to_owned(),
            ));
        };
        let check_id = service_maintenance_check_id(service_id);
        if self.checks.contains_key(&check_id) {
            return Ok(false);
        }
        let mut check = maintenance_check(
            check_id,
            SERVICE_MAINTENANCE_CHECK_NAME,
            &notes(reason, DEFAULT_SERVICE_MAINTENANCE_REASON),
        );
        check.service_id = service.service.id.clone();
        check.service_name = service.service.service.clone();
        check.service_tags = service.service.tags.clone();
        Ok(self.insert_maintenance(check, now_ms))
    }

    /// Returns whether the service's maintenance was on.
    pub fn disable_service_maintenance(
        &mut self,
        service_id: &str,
    ) -> Result<bool, LocalStateError> {
        if !self.services.contains_key(service_id) {
            return Err(LocalStateError::NoServiceForMaintenance(
                service_id.to_owned(),
            ));
        }
        let check_id = service_maintenance_check_id(service_id);
        Ok(self.checks.remove(&check_id).is_some())
    }

    /// Consul's `AddCheck` result is ignored there; here a full agent
    /// simply does not enter maintenance.
    fn insert_maintenance(&mut self, check: CheckDefinition, now_ms: u64) -> bool {
        if self.checks.len() >= super::MAX_LOCAL_CHECKS {
            return false;
        }
        self.insert_check(check, CheckRunner::None, 0, now_ms);
        true
    }
}
