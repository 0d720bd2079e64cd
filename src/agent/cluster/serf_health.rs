//! What Consul's leader registers for each gossip member besides its node
//! (`handleAliveMember` / `handleFailedMember`): a `serfHealth` check,
//! passing while the member is alive and critical once it failed, and on
//! servers the `consul` service on their server port. Registered only when
//! the catalog differs, so a steady cluster proposes nothing.

use crate::agent::requests::catalog_answers::SERVER_SERVICE;
use crate::gossip::{Member, MemberStatus, Role};
use crate::state_machine::catalog::Catalog;
use crate::wire::catalog_registration::{
    CheckDefinition, CheckStatus, RegisterRequest, ServiceDefinition,
};

pub const SERF_CHECK_ID: &str = "serfHealth";
pub const SERF_CHECK_NAME: &str = "Serf Health Status";
pub const SERF_CHECK_ALIVE_OUTPUT: &str = "Agent alive and reachable";
pub const SERF_CHECK_FAILED_OUTPUT: &str = "Agent not live or unreachable";

/// The member's address split into IP and port (`IP:port` in gossip).
fn host_and_port(address: &str) -> (String, u16) {
    match address.parse::<std::net::SocketAddr>() {
        Ok(socket) => (socket.ip().to_string(), socket.port()),
        Err(_) => (address.to_string(), 0),
    }
}

/// The registration the leader wants in the catalog for a member that has
/// not left.
pub fn desired_registration(member: &Member) -> RegisterRequest {
    let (ip, port) = host_and_port(&member.address);
    let (status, output) = match member.status {
        MemberStatus::Dead => (CheckStatus::Critical, SERF_CHECK_FAILED_OUTPUT),
        _ => (CheckStatus::Passing, SERF_CHECK_ALIVE_OUTPUT),
    };
    let service = (member.tags.role == Role::Server).then(|| ServiceDefinition {
        id: SERVER_SERVICE.into(),
        service: SERVER_SERVICE.into(),
        port,
        ..ServiceDefinition::default()
    });
    RegisterRequest {
        node: member.name.clone(),
        address: ip,
        datacenter: member.tags.datacenter.clone(),
        service,
        checks: vec![CheckDefinition::node_check(
            SERF_CHECK_ID,
            SERF_CHECK_NAME,
            status,
            output,
        )],
        ..RegisterRequest::default()
    }
}

/// Whether the catalog lacks what `request` registers (its service and
/// checks; node meta and tagged addresses are the node's own business).
pub fn registration_needed(catalog: &Catalog, request: &RegisterRequest) -> bool {
    let Some(entry) = catalog.services().node(&request.node) else {
        return true;
    };
    let service_missing = request.service.as_ref().is_some_and(|service| {
        entry.services.get(&service.id).map(|r| &r.service) != Some(service)
    });
    let check_missing = request
        .checks
        .iter()
        .any(|check| entry.checks.get(&check.check_id).map(|r| &r.check) != Some(check));
    service_missing || check_missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::Tags;
    use crate::wire::command::Command;

    fn member(status: MemberStatus, role: Role) -> Member {
        Member {
            name: "s1".into(),
            address: "127.0.0.1:8300".into(),
            incarnation: 1,
            status,
            tags: Tags {
                role,
                datacenter: "dc1".into(),
                cluster_id: Default::default(),
                build_version: "0.1.0".into(),
                protocol_version: 1,
            },
            status_changed_ms: 0,
        }
    }

    #[test]
    fn a_server_gets_the_consul_service_and_a_passing_serf_check_once() {
        let mut state = crate::state_machine::StateMachine::new();
        let alive = member(MemberStatus::Alive, Role::Server);
        let request = desired_registration(&alive);
        assert_eq!(request.service.as_ref().unwrap().port, 8300);
        assert!(registration_needed(state.catalog(), &request));
        let node = crate::agent::cluster::leader_reconciliation::catalog_entry(&alive);
        state.apply(1, &Command::CatalogRegister(node).to_bytes());
        let applied = state.apply(
            2,
            &Command::CatalogRegistration(Box::new(request.clone())).to_bytes(),
        );
        assert!(applied.to_rpc().is_ok(), "{applied:?}");
        assert!(!registration_needed(state.catalog(), &request));
        assert_eq!(state.catalog().get("s1").unwrap().address, "127.0.0.1:8300");
        // Failed: the check turns critical with Consul's output.
        let failed = desired_registration(&member(MemberStatus::Dead, Role::Server));
        assert!(registration_needed(state.catalog(), &failed));
        state.apply(
            3,
            &Command::CatalogRegistration(Box::new(failed.clone())).to_bytes(),
        );
        let check = &state.catalog().services().node("s1").unwrap().checks[SERF_CHECK_ID];
        assert_eq!(check.check.status, CheckStatus::Critical);
        assert_eq!(check.check.output, SERF_CHECK_FAILED_OUTPUT);
        assert_eq!(state.catalog().services().service_index("consul"), 3);
    }

    #[test]
    fn a_client_gets_the_check_only() {
        let request = desired_registration(&member(MemberStatus::Alive, Role::Client));
        assert!(request.service.is_none());
        assert_eq!(request.checks[0].name, SERF_CHECK_NAME);
    }
}
