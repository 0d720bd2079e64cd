//! Catalog answers as the DNS core takes them: a service instance with
//! its checks becomes a [`DnsInstance`] with one aggregate health, a
//! catalog node its address.

use std::net::SocketAddr;

use crate::dns::{DnsInstance, InstanceHealth};
use crate::wire::catalog_instances::ServiceInstance;
use crate::wire::catalog_registration::CheckStatus;

/// Critical if any check is critical, else warning if any warns, else
/// passing (an instance with no checks passes), as Consul's DNS filters.
pub fn aggregate_health(statuses: impl IntoIterator<Item = CheckStatus>) -> InstanceHealth {
    let mut health = InstanceHealth::Passing;
    for status in statuses {
        match status {
            CheckStatus::Critical => return InstanceHealth::Critical,
            CheckStatus::Warning => health = InstanceHealth::Warning,
            CheckStatus::Passing => {}
        }
    }
    health
}

/// A node's address for DNS: gossip members are registered with their
/// `IP:port`, whose IP is the address; anything else is as registered.
pub fn node_address(registered: &str) -> String {
    match registered.parse::<SocketAddr>() {
        Ok(address) => address.ip().to_string(),
        Err(_) => registered.to_string(),
    }
}

pub fn dns_instance(instance: &ServiceInstance) -> DnsInstance {
    let service = &instance.service.service;
    DnsInstance {
        node: instance.node.entry.node.name.clone(),
        node_address: node_address(&instance.node.entry.node.address),
        service_address: service.address.clone(),
        port: service.port,
        tags: service.tags.clone(),
        weight_passing: service.weights.passing,
        weight_warning: service.weights.warning,
        status: aggregate_health(instance.checks.iter().map(|c| c.check.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_critical_check_makes_the_instance_critical() {
        use CheckStatus::*;
        assert_eq!(aggregate_health([]), InstanceHealth::Passing);
        assert_eq!(
            aggregate_health([Passing, Passing]),
            InstanceHealth::Passing
        );
        assert_eq!(
            aggregate_health([Passing, Warning]),
            InstanceHealth::Warning
        );
        assert_eq!(
            aggregate_health([Warning, Critical, Passing]),
            InstanceHealth::Critical
        );
    }

    #[test]
    fn a_gossip_members_port_is_not_part_of_its_address() {
        assert_eq!(node_address("127.0.140.1:18300"), "127.0.140.1");
        assert_eq!(node_address("[::1]:8300"), "::1");
        assert_eq!(node_address("10.0.0.7"), "10.0.0.7");
        assert_eq!(node_address("db.example.com"), "db.example.com");
    }
}
