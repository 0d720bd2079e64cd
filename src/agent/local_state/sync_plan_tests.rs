use super::*;
use crate::state_machine::services::ServiceTable;
use crate::wire::catalog_registration::{
    CheckStatus, DeregisterTarget, MAX_CHECKS_PER_REGISTRATION, RegisterRequest, ServiceDefinition,
};

const NODE: &str = "node1";
const INTERVAL_MS: u64 = DEFAULT_CHECK_UPDATE_INTERVAL_MS;

fn ttl(name: &str) -> CheckSpec {
    CheckSpec {
        check_id: String::new(),
        name: name.into(),
        status: None,
        notes: String::new(),
        service_id: String::new(),
        runner: CheckRunner::Ttl { ttl_ms: 60_000 },
        deregister_critical_service_after_ms: 0,
    }
}

fn service(name: &str) -> ServiceDefinition {
    ServiceDefinition {
        service: name.into(),
        tags: vec!["v1".into()],
        port: 80,
        ..ServiceDefinition::default()
    }
}

fn add(state: &mut LocalState, name: &str, checks: Vec<CheckSpec>) {
    let registration = ServiceRegistration {
        service: service(name),
        checks,
        replace_existing_checks: false,
        source: RegistrationSource::Remote,
    };
    state.add_service(registration, 0).unwrap();
}

/// The catalog after applying `requests` on top of `table`, as the leader
/// would, and the agent told of each success.
fn apply(table: &mut ServiceTable, state: &mut LocalState, plan: &SyncPlan, now_ms: u64) {
    let mut index = table.table_index();
    for request in &plan.registrations {
        assert_eq!(table.registration_error(request), None);
        index += 1;
        table.register(request, index);
        state.mark_synced(request, now_ms);
    }
    for request in &plan.deregistrations {
        index += 1;
        match &request.target {
            DeregisterTarget::Service(id) => {
                table.remove_service(NODE, id, index).unwrap();
            }
            DeregisterTarget::Check(id) => {
                table.remove_check(NODE, id, index).unwrap();
            }
            DeregisterTarget::Node => panic!("the plan never removes the node"),
        }
    }
}

fn plan(state: &LocalState, table: &ServiceTable, now_ms: u64) -> SyncPlan {
    sync_plan(
        state,
        NODE,
        "10.0.0.1",
        "dc1",
        table.node(NODE),
        now_ms,
        INTERVAL_MS,
    )
}

#[test]
fn everything_registers_into_an_empty_catalog_then_nothing_more() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    add(&mut state, "web", vec![ttl(""), ttl("")]);
    add(&mut state, "db", vec![]);
    state
        .add_check(ttl("mem"), RegistrationSource::Remote, 0)
        .unwrap();
    let mut table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    assert_eq!(first.registrations.len(), 3);
    let db = &first.registrations[0];
    assert_eq!(db.service.as_ref().unwrap().id, "db");
    assert!(db.checks.is_empty());
    let web = &first.registrations[1];
    assert_eq!(
        (
            web.node.as_str(),
            web.address.as_str(),
            web.datacenter.as_str()
        ),
        (NODE, "10.0.0.1", "dc1")
    );
    let ids: Vec<&str> = web.checks.iter().map(|c| c.check_id.as_str()).collect();
    assert_eq!(ids, vec!["service:web:1", "service:web:2"]);
    assert!(first.registrations[2].service.is_none());
    assert_eq!(first.registrations[2].checks[0].check_id, "mem");
    assert!(first.deregistrations.is_empty());
    apply(&mut table, &mut state, &first, 0);
    assert!(state.services().all(|s| s.in_sync));
    assert!(state.checks().all(|c| c.in_sync));
    assert_eq!(plan(&state, &table, 1), SyncPlan::default());
}

#[test]
fn what_the_agent_lacks_is_deregistered_but_the_servers_entries_stay() {
    let mut table = ServiceTable::default();
    let servers = RegisterRequest {
        node: NODE.into(),
        address: "10.0.0.1".into(),
        service: Some(ServiceDefinition {
            id: "consul".into(),
            service: "consul".into(),
            ..ServiceDefinition::default()
        }),
        checks: vec![CheckDefinition::node_check(
            "serfHealth",
            "Serf Health Status",
            CheckStatus::Passing,
            "",
        )],
        ..RegisterRequest::default()
    };
    table.register(&servers, 1);
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    add(&mut state, "web", vec![ttl("")]);
    add(&mut state, "old", vec![ttl("")]);
    state
        .add_check(ttl("stale"), RegistrationSource::Remote, 0)
        .unwrap();
    let first = plan(&state, &table, 0);
    apply(&mut table, &mut state, &first, 0);
    state.remove_service("old").unwrap();
    state.remove_check("stale").unwrap();
    let second = plan(&state, &table, 10);
    assert!(second.registrations.is_empty());
    let targets: Vec<&DeregisterTarget> =
        second.deregistrations.iter().map(|d| &d.target).collect();
    // old's check goes with old.
    assert_eq!(
        targets,
        vec![
            &DeregisterTarget::Service("old".into()),
            &DeregisterTarget::Check("stale".into())
        ]
    );
    apply(&mut table, &mut state, &second, 10);
    let entry = table.node(NODE).unwrap();
    assert!(entry.services.contains_key("consul") && entry.checks.contains_key("serfHealth"));
    assert_eq!(plan(&state, &table, 20), SyncPlan::default());
}

#[test]
fn a_status_change_syncs_at_once_but_output_alone_waits() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    state
        .add_check(ttl("app"), RegistrationSource::Remote, 0)
        .unwrap();
    let mut table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    apply(&mut table, &mut state, &first, 1_000);

    state
        .update_ttl_check("app", CheckStatus::Critical, "still down", 2_000)
        .unwrap();
    let held = plan(&state, &table, 2_000);
    assert!(held.registrations.is_empty());
    assert_eq!(held.deferred_until_ms, Some(1_000 + INTERVAL_MS));
    let due = plan(&state, &table, 1_000 + INTERVAL_MS);
    assert_eq!(due.registrations.len(), 1);
    assert_eq!(due.registrations[0].checks[0].output, "still down");
    apply(&mut table, &mut state, &due, 1_000 + INTERVAL_MS);

    state
        .update_ttl_check("app", CheckStatus::Passing, "up", 1_001 + INTERVAL_MS)
        .unwrap();
    let now = plan(&state, &table, 1_001 + INTERVAL_MS);
    assert_eq!(now.registrations.len(), 1);
    assert_eq!(now.registrations[0].checks[0].status, CheckStatus::Passing);

    // With no interval, output syncs at once too.
    let eager = sync_plan(&state, NODE, "10.0.0.1", "dc1", table.node(NODE), 0, 0);
    assert_eq!(eager.registrations.len(), 1);
}

#[test]
fn a_catalog_copy_that_drifted_is_rewritten() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    add(&mut state, "web", vec![ttl("")]);
    let mut table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    apply(&mut table, &mut state, &first, 0);
    // Someone edits the catalog behind the agent's back.
    let mut edited = first.registrations[0].clone();
    edited.service.as_mut().unwrap().port = 9999;
    edited.checks.clear();
    table.register(&edited, table.table_index() + 1);
    let again = plan(&state, &table, 5);
    assert_eq!(again.registrations.len(), 1);
    assert_eq!(again.registrations[0].service.as_ref().unwrap().port, 80);
    assert!(again.registrations[0].checks.is_empty());
}

#[test]
fn enable_tag_override_keeps_the_catalogs_tags() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    let mut web = service("web");
    web.enable_tag_override = true;
    let registration = ServiceRegistration {
        service: web,
        checks: vec![ttl("")],
        replace_existing_checks: false,
        source: RegistrationSource::Remote,
    };
    state.add_service(registration, 0).unwrap();
    let mut table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    apply(&mut table, &mut state, &first, 0);
    let mut retagged = first.registrations[0].clone();
    retagged.service.as_mut().unwrap().tags = vec!["canary".into()];
    retagged.checks.clear();
    table.register(&retagged, table.table_index() + 1);
    assert_eq!(plan(&state, &table, 5), SyncPlan::default());
    // A real change still syncs, with the catalog's tags.
    state
        .update_ttl_check("service:web", CheckStatus::Passing, "", 6)
        .unwrap();
    let next = plan(&state, &table, 6);
    assert_eq!(
        next.registrations[0].service.as_ref().unwrap().tags,
        vec!["canary".to_string()]
    );
}

#[test]
fn node_meta_and_tagged_addresses_are_carried_over() {
    let mut table = ServiceTable::default();
    let node = RegisterRequest {
        node: NODE.into(),
        address: "10.0.0.1".into(),
        node_meta: [("rack".to_string(), "r1".to_string())].into(),
        checks: vec![CheckDefinition::node_check(
            "serfHealth",
            "Serf Health Status",
            CheckStatus::Passing,
            "",
        )],
        ..RegisterRequest::default()
    };
    table.register(&node, 1);
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    add(&mut state, "web", vec![]);
    let plan = plan(&state, &table, 0);
    assert_eq!(plan.registrations[0].node_meta, node.node_meta);
}

#[test]
fn a_change_made_while_writing_is_not_marked_synced() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    state
        .add_check(ttl("app"), RegistrationSource::Remote, 0)
        .unwrap();
    let table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    state
        .update_ttl_check("app", CheckStatus::Passing, "", 1)
        .unwrap();
    let marked = state.mark_synced(&first.registrations[0], 2);
    assert!(marked.is_empty());
    assert!(!state.check("app").unwrap().in_sync);
    assert_eq!(state.check("app").unwrap().synced_at_ms, None);
}

#[test]
fn many_checks_of_one_service_are_split_into_bounded_requests() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    add(&mut state, "web", vec![]);
    for n in 0..(MAX_CHECKS_PER_REGISTRATION + 3) {
        let mut spec = ttl(&format!("c{n:03}"));
        spec.service_id = "web".into();
        state
            .add_check(spec, RegistrationSource::Remote, 0)
            .unwrap();
    }
    let mut table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    let sizes: Vec<usize> = first.registrations.iter().map(|r| r.checks.len()).collect();
    assert_eq!(sizes, vec![MAX_CHECKS_PER_REGISTRATION, 3]);
    assert!(first.registrations.iter().all(|r| r.service.is_some()));
    apply(&mut table, &mut state, &first, 0);
    assert_eq!(plan(&state, &table, 1), SyncPlan::default());
}

#[test]
fn a_full_agent_still_fits_the_catalog_beside_the_servers_entries() {
    let mut table = ServiceTable::default();
    let servers = RegisterRequest {
        node: NODE.into(),
        address: "10.0.0.1".into(),
        checks: vec![CheckDefinition::node_check(
            "serfHealth",
            "Serf Health Status",
            CheckStatus::Passing,
            "",
        )],
        ..RegisterRequest::default()
    };
    table.register(&servers, 1);
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    for n in 0..MAX_LOCAL_CHECKS {
        state
            .add_check(ttl(&format!("c{n}")), RegistrationSource::Remote, 0)
            .unwrap();
    }
    let first = plan(&state, &table, 0);
    apply(&mut table, &mut state, &first, 0);
    assert_eq!(table.node(NODE).unwrap().checks.len(), MAX_LOCAL_CHECKS + 1);
}

#[test]
fn mark_synced_names_what_it_marked() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    add(&mut state, "web", vec![ttl("")]);
    let table = ServiceTable::default();
    let first = plan(&state, &table, 0);
    let marked = state.mark_synced(&first.registrations[0], 42);
    assert_eq!(
        marked,
        vec![
            SyncedEntry::Service("web"),
            SyncedEntry::Check("service:web")
        ]
    );
    assert_eq!(state.check("service:web").unwrap().synced_at_ms, Some(42));
    assert!(state.service("web").unwrap().in_sync);
}
