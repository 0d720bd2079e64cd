//! Services: Consul's `Agent.AddService` (defaults, validation, the checks
//! that come with a service) and `RemoveService`.

use std::net::IpAddr;

use super::checks::{check_limits, too_many_checks};
use super::{
    CheckSpec, LocalService, LocalState, LocalStateError, MAX_LOCAL_CHECKS, MAX_LOCAL_SERVICES,
    RegistrationSource,
};
use crate::wire::catalog_registration::{
    CheckDefinition, CheckDefinitionFields, CheckStatus, MAX_CHECKS_PER_REGISTRATION,
    ServiceAddress, ServiceDefinition,
};

/// Consul's `structs.TaggedAddressLANIPv4` and friends.
pub const TAGGED_LAN_IPV4: &str = "lan_ipv4";
pub const TAGGED_WAN_IPV4: &str = "wan_ipv4";
pub const TAGGED_LAN_IPV6: &str = "lan_ipv6";
pub const TAGGED_WAN_IPV6: &str = "wan_ipv6";

/// Consul's `AddServiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRegistration {
    /// An empty ID takes the name.
    pub service: ServiceDefinition,
    /// At most [`MAX_CHECKS_PER_REGISTRATION`].
    pub checks: Vec<CheckSpec>,
    /// `?replace-existing-checks`: the service's checks not in `checks`
    /// are removed.
    pub replace_existing_checks: bool,
    pub source: RegistrationSource,
}

impl LocalState {
    /// Registers (or replaces) a service and its checks, whole or not at
    /// all. Returns the service's ID and its checks' IDs in order.
    pub fn add_service(
        &mut self,
        registration: ServiceRegistration,
        now_ms: u64,
    ) -> Result<(String, Vec<String>), LocalStateError> {
        let ServiceRegistration {
            mut service,
            checks: specs,
            replace_existing_checks,
            source,
        } = registration;
        validate_service(&mut service)?;
        add_default_tagged_addresses(&mut service);
        if let Some(reason) = service.limits_error() {
            return Err(LocalStateError::Limit(reason));
        }
        if specs.len() > MAX_CHECKS_PER_REGISTRATION {
            return Err(LocalStateError::Limit(format!(
                "{} checks, limit {MAX_CHECKS_PER_REGISTRATION}",
                specs.len()
            )));
        }
        if !self.services.contains_key(&service.id) && self.services.len() >= MAX_LOCAL_SERVICES {
            return Err(LocalStateError::Limit(format!(
                "the agent holds {MAX_LOCAL_SERVICES} services, its limit"
            )));
        }
        let mut built = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let runner = self.admitted_runner(spec.runner.clone(), source)?;
            let check = service_check(&service, spec, index, specs.len());
            check_limits(&check)?;
            built.push((check, runner, spec.deregister_critical_service_after_ms));
        }
        let new_checks = built
            .iter()
            .filter(|(check, ..)| !self.checks.contains_key(&check.check_id))
            .count();
        if self.checks.len() + new_checks > MAX_LOCAL_CHECKS {
            return Err(too_many_checks());
        }
        let id = service.id.clone();
        self.store_service(service);
        let check_ids: Vec<String> = built.iter().map(|(c, ..)| c.check_id.clone()).collect();
        if replace_existing_checks {
            self.checks
                .retain(|check_id, c| c.check.service_id != id || check_ids.contains(check_id));
        }
        for (check, runner, deregister_after_ms) in built {
            self.insert_check(check, runner, deregister_after_ms, now_ms);
        }
        self.check_invariants();
        Ok((id, check_ids))
    }

    /// Stores the service and copies its name and tags into the checks it
    /// already has, as the catalog will.
    fn store_service(&mut self, service: ServiceDefinition) {
        let in_sync = self
            .services
            .get(&service.id)
            .is_some_and(|s| s.in_sync && s.service == service);
        for local in self.checks.values_mut() {
            if local.check.service_id == service.id
                && (local.check.service_name != service.service
                    || local.check.service_tags != service.tags)
            {
                local.check.service_name = service.service.clone();
                local.check.service_tags = service.tags.clone();
                local.in_sync = false;
            }
        }
        self.services
            .insert(service.id.clone(), LocalService { service, in_sync });
    }

    /// Consul's `Agent.RemoveService`: the service and its checks go.
    /// `Ok(false)` if there was no such service.
    pub fn remove_service(&mut self, service_id: &str) -> Result<bool, LocalStateError> {
        if service_id.is_empty() {
            return Err(LocalStateError::MissingServiceId);
        }
        if self.services.remove(service_id).is_none() {
            return Ok(false);
        }
        self.checks.retain(|_, c| c.check.service_id != service_id);
        self.check_invariants();
        Ok(true)
    }
}

/// Consul's `validateService`: a name is required, the ID defaults to it,
/// and the well-known tagged addresses must be of their family.
fn validate_service(service: &mut ServiceDefinition) -> Result<(), LocalStateError> {
    if service.service.is_empty() {
        return Err(LocalStateError::MissingServiceName);
    }
    if service.id.is_empty() {
        service.id = service.service.clone();
    }
    // Consul checks lan_ipv6 where wan_ipv6 was meant, so wan_ipv6 goes
    // unchecked there too.
    let rules: [(&'static str, bool, &'static str); 3] = [
        (TAGGED_LAN_IPV4, true, "ipv4"),
        (TAGGED_WAN_IPV4, true, "ipv4"),
        (TAGGED_LAN_IPV6, false, "ipv6"),
    ];
    for (tag, want_v4, family) in rules {
        if let Some(address) = service.tagged_addresses.get(tag) {
            let ok = match address.address.parse::<IpAddr>() {
                Ok(ip) => ip.is_ipv4() == want_v4,
                Err(_) => false,
            };
            if !ok {
                return Err(LocalStateError::InvalidTaggedAddress { tag, family });
            }
        }
    }
    Ok(())
}

/// Consul's `addServiceInternal` tags an IP service address as the
/// service's LAN and WAN address of its family unless given.
fn add_default_tagged_addresses(service: &mut ServiceDefinition) {
    let Ok(ip) = service.address.parse::<IpAddr>() else {
        return;
    };
    let tags = match ip {
        IpAddr::V4(_) => [TAGGED_LAN_IPV4, TAGGED_WAN_IPV4],
        IpAddr::V6(_) => [TAGGED_LAN_IPV6, TAGGED_WAN_IPV6],
    };
    for tag in tags {
        service
            .tagged_addresses
            .entry(tag.to_owned())
            .or_insert_with(|| ServiceAddress {
                address: service.address.clone(),
                port: service.port,
            });
    }
}

/// A service's check with Consul's defaults: ID `service:<id>` (`:<n>`
/// from 1 when there are several), name `Service '<name>' check`,
/// critical, and the service's ID, name and tags.
fn service_check(
    service: &ServiceDefinition,
    spec: &CheckSpec,
    index: usize,
    count: usize,
) -> CheckDefinition {
    let check_id = match spec.check_id.as_str() {
        "" if count > 1 => format!("service:{}:{}", service.id, index + 1),
        "" => format!("service:{}", service.id),
        id => id.to_owned(),
    };
    let name = match spec.name.as_str() {
        "" => format!("Service '{}' check", service.service),
        name => name.to_owned(),
    };
    CheckDefinition {
        check_id,
        name,
        status: spec.status.unwrap_or(CheckStatus::Critical),
        notes: spec.notes.clone(),
        output: String::new(),
        service_id: service.id.clone(),
        service_name: service.service.clone(),
        service_tags: service.tags.clone(),
        check_type: spec.runner.check_type().to_owned(),
        definition: CheckDefinitionFields::default(),
    }
}
