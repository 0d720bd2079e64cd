use super::*;
use crate::wire::catalog_registration::{CheckDefinition, RegisterRequest, ServiceDefinition};
use crate::wire::command::Command;

fn service(id: &str, name: &str, tags: &[&str]) -> ServiceDefinition {
    ServiceDefinition {
        id: id.into(),
        service: name.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        port: 80,
        ..ServiceDefinition::default()
    }
}

fn check(id: &str, service_id: &str, status: CheckStatus) -> CheckDefinition {
    CheckDefinition {
        service_id: service_id.into(),
        ..CheckDefinition::node_check(id, id, status, "")
    }
}

fn register(
    state: &mut StateMachine,
    index: u64,
    node: &str,
    service: Option<ServiceDefinition>,
    checks: Vec<CheckDefinition>,
) {
    let request = RegisterRequest {
        node: node.into(),
        address: format!("10.0.0.{}", node.len()),
        datacenter: "dc1".into(),
        node_meta: [("rack".to_string(), node.to_string())].into(),
        service,
        checks,
        ..RegisterRequest::default()
    };
    let command = Command::CatalogRegistration(Box::new(request));
    state.apply(index, &command.to_bytes());
}

/// web on a (tags v1, eu; its check passing), on bb (v2; warning) and on
/// ccc (v1; passing, but its node's check critical); db on a.
fn cluster() -> StateMachine {
    let mut state = StateMachine::new();
    let pass = CheckStatus::Passing;
    let web_a = service("web-a", "web", &["v1", "EU"]);
    register(
        &mut state,
        1,
        "a",
        Some(web_a),
        vec![check("c-a", "web-a", pass)],
    );
    let web_b = service("web-b", "web", &["v2"]);
    let warn = check("c-b", "web-b", CheckStatus::Warning);
    register(&mut state, 2, "bb", Some(web_b), vec![warn]);
    let web_c = service("web-c", "web", &["v1"]);
    let node_down = check("serfHealth", "", CheckStatus::Critical);
    register(
        &mut state,
        3,
        "ccc",
        Some(web_c),
        vec![check("c-c", "web-c", pass), node_down],
    );
    register(&mut state, 4, "a", Some(service("db", "db", &[])), vec![]);
    state
}

fn names(answer: &CatalogAnswer) -> Vec<(String, String)> {
    let CatalogAnswer::Instances(instances) = answer else {
        panic!("{answer:?}")
    };
    instances
        .iter()
        .map(|i| (i.node.entry.node.name.clone(), i.service.service.id.clone()))
        .collect()
}

fn pair(node: &str, id: &str) -> (String, String) {
    (node.to_string(), id.to_string())
}

#[test]
fn a_service_lists_its_instances_by_node_with_the_services_own_index() {
    let state = cluster();
    let (index, answer) = instances(&state, "web", &[], false, false).unwrap();
    assert_eq!(index, 3, "db's registration at 4 is another service");
    assert_eq!(
        names(&answer),
        [
            pair("a", "web-a"),
            pair("bb", "web-b"),
            pair("ccc", "web-c")
        ]
    );
    let CatalogAnswer::Instances(list) = answer else {
        panic!()
    };
    assert!(
        list.iter().all(|i| i.checks.is_empty()),
        "catalog reads carry no checks"
    );
    assert_eq!(list[0].node.meta.get("rack").map(String::as_str), Some("a"));
    let (_, none) = instances(&state, "nothing", &[], false, false).unwrap();
    assert_eq!(names(&none), []);
}

#[test]
fn tags_must_all_match_and_compare_without_case() {
    let state = cluster();
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (_, v1) = instances(&state, "web", &tags(&["v1"]), false, false).unwrap();
    assert_eq!(names(&v1), [pair("a", "web-a"), pair("ccc", "web-c")]);
    let (_, both) = instances(&state, "web", &tags(&["V1", "eu"]), false, false).unwrap();
    assert_eq!(names(&both), [pair("a", "web-a")]);
}

#[test]
fn health_carries_instance_and_node_checks_and_passing_drops_the_rest() {
    let state = cluster();
    let (_, all) = instances(&state, "web", &[], true, false).unwrap();
    let CatalogAnswer::Instances(list) = &all else {
        panic!()
    };
    let ids: Vec<Vec<&str>> = list
        .iter()
        .map(|i| i.checks.iter().map(|c| c.check.check_id.as_str()).collect())
        .collect();
    assert_eq!(ids, [vec!["c-a"], vec!["c-b"], vec!["c-c", "serfHealth"]]);
    let (_, passing) = instances(&state, "web", &[], true, true).unwrap();
    assert_eq!(
        names(&passing),
        [pair("a", "web-a")],
        "warning and critical go"
    );
}

#[test]
fn node_services_and_checks_by_service_node_and_state() {
    let state = cluster();
    let (_, node) = node_services(&state, "a").unwrap();
    let CatalogAnswer::NodeServices(Some(node)) = node else {
        panic!()
    };
    let ids: Vec<&str> = node
        .services
        .iter()
        .map(|s| s.service.id.as_str())
        .collect();
    assert_eq!(ids, ["db", "web-a"]);
    let (_, unknown) = node_services(&state, "zz").unwrap();
    assert_eq!(unknown, CatalogAnswer::NodeServices(None));

    let check_ids = |answer: CatalogAnswer| match answer {
        CatalogAnswer::Checks(checks) => checks
            .into_iter()
            .map(|c| format!("{}/{}", c.node, c.check.check_id))
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let (_, web) = service_checks(&state, "web").unwrap();
    assert_eq!(
        check_ids(web),
        ["a/c-a", "bb/c-b", "ccc/c-c"],
        "no node checks"
    );
    let (_, ccc) = node_checks(&state, "ccc").unwrap();
    assert_eq!(check_ids(ccc), ["ccc/c-c", "ccc/serfHealth"]);
    let (_, critical) = checks_in_state(&state, Some(CheckStatus::Critical)).unwrap();
    assert_eq!(check_ids(critical), ["ccc/serfHealth"]);
    let (index, any) = checks_in_state(&state, None).unwrap();
    assert_eq!(check_ids(any).len(), 4);
    assert_eq!(index, 4);
}
