//! The answers of Consul's catalog reads from the state machine's catalog,
//! with the serving server's query metadata. Every catalog read reports
//! the catalog's table index, as Consul reports its `nodes` table's, so a
//! blocking query on one node wakes when any node changes (and then sees
//! an unchanged node with a new index, as Consul's clients expect).

use crate::state_machine::StateMachine;
use crate::state_machine::catalog::CatalogRecord;
use crate::wire::client_catalog::{
    CatalogAnswer, CatalogNodeEntry, CatalogQuery, CatalogRead, CatalogService,
};
use crate::wire::client_message::{ErrorCode, RpcError, RpcResult};

use crate::agent::requests::kv_answers::ServingView;
use crate::agent::requests::routing::MAX_ANSWER_BYTES;
use crate::agent::requests::service_answers;

/// The service every server registers, as Consul's servers do.
pub const SERVER_SERVICE: &str = "consul";

fn entry(record: &CatalogRecord) -> CatalogNodeEntry {
    CatalogNodeEntry {
        node: record.node.clone(),
        create_index: record.create_index,
        modify_index: record.modify_index,
    }
}

fn too_large(count: usize, bytes: usize) -> RpcError {
    RpcError {
        code: ErrorCode::InvalidRequest,
        message: format!(
            "result too large: the catalog is more than {count} nodes / {bytes} bytes, \
             over the answer limit of {MAX_ANSWER_BYTES} bytes"
        ),
        leader_hint: None,
    }
}

/// Every node, refused by size before anything is copied.
fn all_nodes(state: &StateMachine) -> Result<Vec<CatalogNodeEntry>, RpcError> {
    let mut bytes = 0usize;
    for (count, record) in state.catalog().records().enumerate() {
        bytes += entry(record).wire_bytes();
        if bytes > MAX_ANSWER_BYTES {
            return Err(too_large(count + 1, bytes));
        }
    }
    Ok(state.catalog().records().map(entry).collect())
}

/// The services of the catalog, name → tags (each tag once), the
/// servers' `consul` service as the leader registers it.
fn services(state: &StateMachine) -> Vec<CatalogService> {
    state
        .catalog()
        .services()
        .service_tags()
        .into_iter()
        .map(|(name, tags)| CatalogService { name, tags })
        .collect()
}

pub fn answer_catalog_read(
    state: &StateMachine,
    read: &CatalogRead,
    view: ServingView,
) -> Result<RpcResult, RpcError> {
    let table_index = state.catalog().table_index();
    let (index, answer) = match &read.query {
        CatalogQuery::Nodes => (table_index, CatalogAnswer::Nodes(all_nodes(state)?)),
        CatalogQuery::Node { name } => {
            let node = state.catalog().record(name).map(entry);
            (table_index, CatalogAnswer::Node(node))
        }
        CatalogQuery::Services => (table_index, CatalogAnswer::Services(services(state))),
        CatalogQuery::ServiceNodes { name, tags } => {
            service_answers::instances(state, name, tags, false, false)?
        }
        CatalogQuery::NodeServices { name } => service_answers::node_services(state, name)?,
        CatalogQuery::HealthService {
            name,
            tags,
            passing_only,
        } => service_answers::instances(state, name, tags, true, *passing_only)?,
        CatalogQuery::ServiceChecks { name } => service_answers::service_checks(state, name)?,
        CatalogQuery::NodeChecks { name } => service_answers::node_checks(state, name)?,
        CatalogQuery::ChecksInState { state: wanted } => {
            service_answers::checks_in_state(state, *wanted)?
        }
    };
    Ok(RpcResult::CatalogRead {
        meta: view.meta(index),
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::{CatalogNode, Consistency};
    use crate::wire::command::Command;

    const VIEW: ServingView = ServingView {
        known_leader: true,
        last_contact_ms: 0,
    };

    fn read(query: CatalogQuery) -> CatalogRead {
        CatalogRead {
            query,
            consistency: Consistency::Default,
            min_index: 0,
            wait_ms: 0,
        }
    }

    fn node(name: &str, role: &str) -> CatalogNode {
        CatalogNode {
            name: name.into(),
            address: "127.0.0.1:8300".into(),
            role: role.into(),
            datacenter: "dc1".into(),
        }
    }

    fn answer(state: &StateMachine, query: CatalogQuery) -> (u64, CatalogAnswer) {
        match answer_catalog_read(state, &read(query), VIEW).unwrap() {
            RpcResult::CatalogRead { meta, answer } => (meta.index, answer),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nodes_carry_their_indexes_and_the_read_the_catalogs() {
        let mut state = StateMachine::new();
        state.apply(1, &Command::CatalogRegister(node("b", "client")).to_bytes());
        state.apply(2, &Command::CatalogRegister(node("a", "server")).to_bytes());
        let (index, nodes) = answer(&state, CatalogQuery::Nodes);
        assert_eq!(index, 2);
        let CatalogAnswer::Nodes(nodes) = nodes else {
            panic!()
        };
        let names: Vec<(&str, u64)> = nodes
            .iter()
            .map(|n| (n.node.name.as_str(), n.create_index))
            .collect();
        assert_eq!(names, [("a", 2), ("b", 1)]);
        let (_, one) = answer(&state, CatalogQuery::Node { name: "b".into() });
        assert!(matches!(one, CatalogAnswer::Node(Some(n)) if n.modify_index == 1));
        let (_, none) = answer(&state, CatalogQuery::Node { name: "x".into() });
        assert_eq!(none, CatalogAnswer::Node(None));
    }

    #[test]
    fn registered_services_are_listed_with_their_tags() {
        use crate::wire::catalog_registration::{RegisterRequest, ServiceDefinition};
        let mut state = StateMachine::new();
        state.apply(1, &Command::CatalogRegister(node("s", "server")).to_bytes());
        let register = |tags: &[&str], node: &str| {
            Command::CatalogRegistration(Box::new(RegisterRequest {
                node: node.into(),
                address: "10.0.0.9".into(),
                service: Some(ServiceDefinition {
                    service: "web".into(),
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                    ..ServiceDefinition::default()
                }),
                ..RegisterRequest::default()
            }))
        };
        state.apply(2, &register(&["a", "b"], "x").to_bytes());
        state.apply(3, &register(&["b", "c"], "y").to_bytes());
        let (index, services) = answer(&state, CatalogQuery::Services);
        assert_eq!(index, 3);
        state.apply(
            4,
            &Command::CatalogDeregister { name: "x".into() }.to_bytes(),
        );
        assert_eq!(
            answer(&state, CatalogQuery::Services).0,
            4,
            "a deletion moves the index"
        );
        let CatalogAnswer::Services(services) = services else {
            panic!()
        };
        let listed: Vec<(&str, Vec<&str>)> = services
            .iter()
            .map(|s| (s.name.as_str(), s.tags.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(listed, [("web", vec!["a", "b", "c"])]);
    }
}
