use super::*;
use crate::state_machine::catalog::Catalog;
use crate::wire::catalog_registration::{DeregisterRequest, DeregisterTarget};

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
    node: &str,
    service: Option<ServiceDefinition>,
    checks: Vec<CheckDefinition>,
) -> RegisterRequest {
    RegisterRequest {
        node: node.into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        service,
        checks,
        ..RegisterRequest::default()
    }
}

fn deregister(node: &str, target: DeregisterTarget) -> DeregisterRequest {
    DeregisterRequest {
        node: node.into(),
        target,
    }
}

#[test]
fn registering_identical_content_changes_nothing() {
    let mut catalog = Catalog::new();
    let request = register(
        "n1",
        Some(service("web-1", "web", &["a"])),
        vec![check("c1", "web-1", CheckStatus::Passing)],
    );
    let first = catalog.apply_registration(&request, 5).unwrap();
    assert!(first.changed);
    assert_eq!(first.services, TouchedServices::from(["web".to_string()]));
    let again = catalog.apply_registration(&request, 9).unwrap();
    assert!(!again.changed && again.services.is_empty());
    assert_eq!(catalog.table_index(), 5);
    assert_eq!(catalog.services().service_index("web"), 5);
    let (_, record) = catalog.services().instances("web").next().unwrap();
    assert_eq!((record.create_index, record.modify_index), (5, 5));
    catalog.check_invariants();
}

#[test]
fn a_changed_service_keeps_its_create_index_and_copies_into_its_checks() {
    let mut catalog = Catalog::new();
    let mut request = register(
        "n1",
        Some(service("web-1", "web", &["a"])),
        vec![check("c1", "web-1", CheckStatus::Passing)],
    );
    catalog.apply_registration(&request, 3).unwrap();
    request.service = Some(service("web-1", "web", &["b"]));
    request.checks.clear();
    assert!(catalog.apply_registration(&request, 7).unwrap().changed);
    let (_, record) = catalog.services().instances("web").next().unwrap();
    assert_eq!((record.create_index, record.modify_index), (3, 7));
    let node = catalog.services().node("n1").unwrap();
    assert_eq!(node.checks["c1"].check.service_tags, ["b"]);
    assert_eq!(node.checks["c1"].check.service_name, "web");
    catalog.check_invariants();
}

#[test]
fn a_watch_on_a_service_moves_only_for_its_instances_and_their_checks() {
    let mut catalog = Catalog::new();
    catalog
        .apply_registration(
            &register("n1", Some(service("web-1", "web", &[])), vec![]),
            2,
        )
        .unwrap();
    catalog
        .apply_registration(&register("n2", Some(service("db-1", "db", &[])), vec![]), 3)
        .unwrap();
    // A check of db moves db only.
    let change = catalog
        .apply_registration(
            &register("n2", None, vec![check("c", "db-1", CheckStatus::Critical)]),
            4,
        )
        .unwrap();
    assert_eq!(change.services, TouchedServices::from(["db".to_string()]));
    assert_eq!(catalog.services().service_index("web"), 2);
    assert_eq!(catalog.services().service_index("db"), 4);
    // A node-level check moves every service of its node.
    catalog
        .apply_registration(
            &register(
                "n1",
                None,
                vec![check("serfHealth", "", CheckStatus::Passing)],
            ),
            5,
        )
        .unwrap();
    assert_eq!(catalog.services().service_index("web"), 5);
    assert_eq!(catalog.services().service_index("db"), 4);
    catalog.check_invariants();
}

#[test]
fn a_deleted_services_index_never_goes_backwards() {
    let mut catalog = Catalog::new();
    catalog
        .apply_registration(
            &register("n1", Some(service("web-1", "web", &[])), vec![]),
            2,
        )
        .unwrap();
    catalog
        .apply_registration(&register("n2", Some(service("db-1", "db", &[])), vec![]), 3)
        .unwrap();
    let change = catalog
        .apply_deregistration(
            &deregister("n1", DeregisterTarget::Service("web-1".into())),
            8,
        )
        .unwrap();
    assert!(change.changed);
    assert_eq!(catalog.services().instances("web").count(), 0);
    assert_eq!(catalog.services().service_index("web"), 8);
    catalog
        .apply_registration(
            &register("n2", None, vec![check("x", "", CheckStatus::Passing)]),
            9,
        )
        .unwrap();
    assert!(catalog.services().service_index("web") >= 8);
    catalog.check_invariants();
}

#[test]
fn deregistrations_cascade() {
    let mut catalog = Catalog::new();
    let request = register(
        "n1",
        Some(service("web-1", "web", &[])),
        vec![
            check("c1", "web-1", CheckStatus::Passing),
            check("node", "", CheckStatus::Passing),
        ],
    );
    catalog.apply_registration(&request, 2).unwrap();
    catalog
        .apply_registration(&register("n1", Some(service("api", "api", &[])), vec![]), 3)
        .unwrap();
    // A service takes its checks with it, not the node's.
    catalog
        .apply_deregistration(
            &deregister("n1", DeregisterTarget::Service("web-1".into())),
            4,
        )
        .unwrap();
    let node = catalog.services().node("n1").unwrap();
    assert!(node.checks.get("c1").is_none() && node.checks.get("node").is_some());
    // A check alone.
    let change = catalog
        .apply_deregistration(&deregister("n1", DeregisterTarget::Check("node".into())), 5)
        .unwrap();
    assert_eq!(change.services, TouchedServices::from(["api".to_string()]));
    // Absent things are no error and no change.
    let none = catalog
        .apply_deregistration(&deregister("n1", DeregisterTarget::Check("nope".into())), 6)
        .unwrap();
    assert!(!none.changed);
    // The node takes everything.
    let gone = catalog
        .apply_deregistration(&deregister("n1", DeregisterTarget::Node), 7)
        .unwrap();
    assert!(gone.changed && gone.services.contains("api"));
    assert!(catalog.get("n1").is_none() && catalog.services().node("n1").is_none());
    assert_eq!(catalog.services().service_index("api"), 7);
    catalog.check_invariants();
}

#[test]
fn a_registration_is_refused_whole() {
    let mut catalog = Catalog::new();
    let bad = register(
        "n1",
        Some(service("web-1", "web", &[])),
        vec![check("c1", "missing", CheckStatus::Passing)],
    );
    let err = catalog.apply_registration(&bad, 2).unwrap_err();
    assert!(err.contains("Missing service registration"), "{err}");
    assert!(catalog.get("n1").is_none(), "nothing applied");
    let no_address = RegisterRequest {
        address: String::new(),
        ..register("n1", None, vec![])
    };
    assert!(catalog.apply_registration(&no_address, 3).is_err());
    let no_name = register("n1", Some(service("x", "", &[])), vec![]);
    assert!(catalog.apply_registration(&no_name, 4).is_err());
    let mut bad_meta = register("n1", Some(service("x", "x", &[])), vec![]);
    bad_meta.service.as_mut().unwrap().meta =
        BTreeMap::from([("consul-x".to_string(), String::new())]);
    assert!(catalog.apply_registration(&bad_meta, 5).is_err());
    assert_eq!(catalog.table_index(), 0);
}

#[test]
fn a_service_without_an_id_takes_its_name_and_the_node_keeps_its_gossip_address() {
    let mut catalog = Catalog::new();
    catalog.register(
        crate::wire::client_message::CatalogNode {
            name: "s1".into(),
            address: "10.0.0.1:8300".into(),
            role: "server".into(),
            datacenter: "dc1".into(),
        },
        1,
    );
    catalog
        .apply_registration(&register("s1", Some(service("", "redis", &[])), vec![]), 2)
        .unwrap();
    let node = catalog.get("s1").unwrap();
    assert_eq!(
        (node.address.as_str(), node.role.as_str()),
        ("10.0.0.1:8300", "server")
    );
    assert!(
        catalog
            .services()
            .node("s1")
            .unwrap()
            .services
            .contains_key("redis")
    );
    catalog.check_invariants();
}

#[test]
fn tags_are_listed_once_per_service_and_instances_in_node_order() {
    let mut catalog = Catalog::new();
    for (i, node) in ["b", "a", "c"].iter().enumerate() {
        let tags: &[&str] = if i == 0 { &["x", "y"] } else { &["y"] };
        catalog
            .apply_registration(
                &register(node, Some(service("web", "web", tags)), vec![]),
                i as u64 + 1,
            )
            .unwrap();
    }
    assert_eq!(
        catalog.services().service_tags(),
        [("web".to_string(), vec!["y".to_string(), "x".to_string()])]
    );
    let nodes: Vec<&str> = catalog
        .services()
        .instances("web")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(nodes, ["a", "b", "c"]);
}

#[test]
fn statuses_aggregate_to_the_worst() {
    let statuses = [
        CheckStatus::Passing,
        CheckStatus::Critical,
        CheckStatus::Warning,
    ];
    assert_eq!(aggregate_status(statuses.iter()), CheckStatus::Critical);
    assert_eq!(aggregate_status([].iter()), CheckStatus::Passing);
}

#[test]
fn service_names_match_without_case() {
    let mut catalog = Catalog::new();
    let web = register("n1", Some(service("web-1", "Web", &["a"])), vec![]);
    catalog.apply_registration(&web, 5).unwrap();
    let other = register("n2", Some(service("web-2", "web", &["b"])), vec![]);
    let applied = catalog.apply_registration(&other, 7).unwrap();
    assert_eq!(applied.services, TouchedServices::from(["web".to_string()]));
    let services = catalog.services();
    let nodes: Vec<&str> = services.instances("WEB").map(|(node, _)| node).collect();
    assert_eq!(nodes, ["n1", "n2"]);
    assert_eq!(services.service_index("wEb"), 7);
    // The catalog's list keeps the names as registered.
    let names: Vec<String> = services
        .service_tags()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["Web", "web"]);
    // Renaming only the case keeps the instance linked once.
    let renamed = register("n1", Some(service("web-1", "WEB", &["a"])), vec![]);
    catalog.apply_registration(&renamed, 9).unwrap();
    assert_eq!(catalog.services().instances("web").count(), 2);
    assert_eq!(catalog.services().invariant_error(), None);
    let gone = deregister("n1", DeregisterTarget::Service("web-1".into()));
    catalog.apply_deregistration(&gone, 11).unwrap();
    assert_eq!(catalog.services().service_index("Web"), 11);
    assert_eq!(catalog.services().instances("web").count(), 1);
}

#[test]
fn a_snapshots_indexes_of_names_that_fold_together_keep_the_highest() {
    let mut catalog = Catalog::new();
    catalog
        .apply_registration(&register("n1", Some(service("a", "Web", &[])), vec![]), 5)
        .unwrap();
    catalog
        .apply_registration(&register("n2", Some(service("b", "web", &[])), vec![]), 6)
        .unwrap();
    let nodes: Vec<(String, NodeServices)> = catalog
        .services()
        .nodes()
        .map(|(name, entry)| (name.clone(), entry.clone()))
        .collect();
    let written_before_folding = vec![("Web".to_string(), 5), ("web".to_string(), 6)];
    let table = ServiceTable::from_restored(nodes, written_before_folding, 6).unwrap();
    assert_eq!(table.service_index("WEB"), 6);
}
