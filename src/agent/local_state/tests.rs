use super::*;
use crate::wire::catalog_registration::{
    CheckStatus, MAX_CHECKS_PER_REGISTRATION, ServiceAddress, ServiceDefinition, Weights,
};

fn state() -> LocalState {
    LocalState::new(ScriptChecks::default(), 7)
}

fn redis() -> ServiceDefinition {
    ServiceDefinition {
        service: "redis".into(),
        tags: vec!["primary".into()],
        port: 8000,
        ..ServiceDefinition::default()
    }
}

fn ttl_spec(ttl_ms: u64) -> CheckSpec {
    CheckSpec {
        check_id: String::new(),
        name: String::new(),
        status: None,
        notes: String::new(),
        service_id: String::new(),
        runner: CheckRunner::Ttl { ttl_ms },
        deregister_critical_service_after_ms: 0,
    }
}

fn http_spec(interval_ms: u64) -> CheckSpec {
    CheckSpec {
        runner: CheckRunner::Http {
            url: "http://localhost:8000/health".into(),
            method: String::new(),
            headers: Default::default(),
            interval_ms,
            timeout_ms: 0,
        },
        ..ttl_spec(0)
    }
}

fn register(
    state: &mut LocalState,
    service: ServiceDefinition,
    checks: Vec<CheckSpec>,
) -> Result<(String, Vec<String>), LocalStateError> {
    let registration = ServiceRegistration {
        service,
        checks,
        replace_existing_checks: false,
        source: RegistrationSource::Remote,
    };
    state.add_service(registration, 1_000)
}

#[test]
fn a_service_takes_consul_defaults() {
    let mut state = state();
    let (id, checks) = register(&mut state, redis(), vec![ttl_spec(10_000)]).unwrap();
    assert_eq!(id, "redis");
    assert_eq!(checks, vec!["service:redis"]);
    let service = &state.service("redis").unwrap().service;
    assert_eq!(service.weights, Weights::default());
    let check = &state.check("service:redis").unwrap().check;
    assert_eq!(check.name, "Service 'redis' check");
    assert_eq!(check.status, CheckStatus::Critical);
    assert_eq!(check.service_id, "redis");
    assert_eq!(check.service_name, "redis");
    assert_eq!(check.service_tags, vec!["primary".to_string()]);
    assert_eq!(check.check_type, "ttl");
    assert!(!state.service("redis").unwrap().in_sync);
}

#[test]
fn several_checks_are_numbered_from_one() {
    let mut state = state();
    let mut named = ttl_spec(5_000);
    named.check_id = "mine".into();
    named.name = "Mine".into();
    named.status = Some(CheckStatus::Passing);
    let (_, ids) = register(
        &mut state,
        redis(),
        vec![ttl_spec(5_000), named, http_spec(10_000)],
    )
    .unwrap();
    assert_eq!(ids, vec!["service:redis:1", "mine", "service:redis:3"]);
    assert_eq!(
        state.check("mine").unwrap().check.status,
        CheckStatus::Passing
    );
    assert_eq!(state.check("mine").unwrap().check.name, "Mine");
}

#[test]
fn a_service_needs_a_name() {
    let mut state = state();
    let service = ServiceDefinition {
        id: "x".into(),
        ..ServiceDefinition::default()
    };
    let err = register(&mut state, service, vec![]).unwrap_err();
    assert_eq!(err.to_string(), "Service name missing");
}

#[test]
fn ip_addresses_become_default_tagged_addresses() {
    let mut state = state();
    let mut service = redis();
    service.address = "10.0.0.5".into();
    register(&mut state, service, vec![]).unwrap();
    let tagged = &state.service("redis").unwrap().service.tagged_addresses;
    let lan = ServiceAddress {
        address: "10.0.0.5".into(),
        port: 8000,
    };
    assert_eq!(tagged.get(TAGGED_LAN_IPV4), Some(&lan));
    assert_eq!(tagged.get(TAGGED_WAN_IPV4), Some(&lan));
    assert_eq!(tagged.len(), 2);

    let mut v6 = redis();
    v6.id = "redis6".into();
    v6.address = "::1".into();
    let given = ServiceAddress {
        address: "2001:db8::1".into(),
        port: 1,
    };
    v6.tagged_addresses
        .insert(TAGGED_WAN_IPV6.into(), given.clone());
    register(&mut state, v6, vec![]).unwrap();
    let tagged = &state.service("redis6").unwrap().service.tagged_addresses;
    assert_eq!(tagged.get(TAGGED_WAN_IPV6), Some(&given));
    assert_eq!(tagged.get(TAGGED_LAN_IPV6).unwrap().address, "::1");
}

#[test]
fn a_tagged_address_of_the_wrong_family_is_refused() {
    let mut state = state();
    let mut service = redis();
    let v6 = ServiceAddress {
        address: "::1".into(),
        port: 0,
    };
    service.tagged_addresses.insert(TAGGED_LAN_IPV4.into(), v6);
    let err = register(&mut state, service, vec![]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Service tagged address \"lan_ipv4\" must be a valid ipv4 address"
    );
    assert!(state.service("redis").is_none());
}

#[test]
fn checks_are_validated_as_consul_does() {
    let mut state = state();
    let err = register(&mut state, redis(), vec![ttl_spec(0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Check is not valid: TTL must be > 0 for TTL checks"
    );
    let err = register(&mut state, redis(), vec![http_spec(0)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Check is not valid: Interval must be > 0")
    );
    // Nothing of a refused registration stays.
    assert_eq!(state.services().count(), 0);
    assert_eq!(state.checks().count(), 0);

    let both = CheckTypeFields {
        ttl_ms: 1,
        interval_ms: 1,
        ..CheckTypeFields::default()
    };
    assert_eq!(
        both.runner().unwrap_err().to_string(),
        "Check is not valid: Interval and TTL cannot both be specified"
    );
    let http = CheckTypeFields {
        http: "http://x".into(),
        tcp: "x:1".into(),
        interval_ms: 10,
        ..CheckTypeFields::default()
    };
    match http.runner().unwrap() {
        CheckRunner::Http { interval_ms, .. } => assert_eq!(interval_ms, MIN_CHECK_INTERVAL_MS),
        other => panic!("{other:?}"),
    }
}

#[test]
fn script_checks_need_permission_for_their_source() {
    let script = CheckSpec {
        runner: CheckRunner::Script {
            args: vec!["/bin/true".into()],
            interval_ms: 10_000,
            timeout_ms: 0,
        },
        ..ttl_spec(0)
    };
    let mut state = state();
    let err = register(&mut state, redis(), vec![script.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Scripts are disabled on this agent from remote calls; to enable, configure \
         'enable_script_checks' to true"
    );
    let local_only = ScriptChecks {
        from_local: true,
        from_remote: false,
    };
    let mut state = LocalState::new(local_only, 1);
    let mut node_script = script.clone();
    node_script.name = "disk".into();
    state
        .add_check(node_script.clone(), RegistrationSource::Local, 0)
        .unwrap();
    let err = state
        .add_check(node_script, RegistrationSource::Remote, 0)
        .unwrap_err();
    assert_eq!(
        err,
        LocalStateError::ScriptsDisabled(RegistrationSource::Remote)
    );
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    let mut named = script;
    named.name = "disk".into();
    let err = state
        .add_check(named, RegistrationSource::Local, 0)
        .unwrap_err();
    assert!(err.to_string().contains("'enable_local_script_checks'"));
}

#[test]
fn add_check_defaults_its_id_to_its_name_and_needs_its_service() {
    let mut state = state();
    let mut spec = ttl_spec(1_000);
    spec.name = "mem".into();
    assert_eq!(
        state.add_check(spec.clone(), RegistrationSource::Remote, 0),
        Ok("mem".into())
    );
    let check = &state.check("mem").unwrap().check;
    assert_eq!(
        (check.status, check.service_id.as_str()),
        (CheckStatus::Critical, "")
    );

    spec.service_id = "nope".into();
    let err = state
        .add_check(spec.clone(), RegistrationSource::Remote, 0)
        .unwrap_err();
    assert_eq!(err.to_string(), "ServiceID \"nope\" does not exist");

    register(&mut state, redis(), vec![]).unwrap();
    spec.service_id = "redis".into();
    spec.check_id = "redis-mem".into();
    state
        .add_check(spec, RegistrationSource::Remote, 0)
        .unwrap();
    let check = &state.check("redis-mem").unwrap().check;
    assert_eq!(check.service_name, "redis");
    assert_eq!(check.service_tags, vec!["primary".to_string()]);

    let nameless = ttl_spec(1_000);
    let err = state
        .add_check(nameless, RegistrationSource::Remote, 0)
        .unwrap_err();
    assert_eq!(err, LocalStateError::MissingCheckId);
}

#[test]
fn reregistering_keeps_status_and_output() {
    let mut state = state();
    register(&mut state, redis(), vec![ttl_spec(10_000)]).unwrap();
    state
        .update_ttl_check("service:redis", CheckStatus::Passing, "ok", 2_000)
        .unwrap();
    register(&mut state, redis(), vec![ttl_spec(10_000)]).unwrap();
    let check = &state.check("service:redis").unwrap().check;
    assert_eq!(
        (check.status, check.output.as_str()),
        (CheckStatus::Passing, "ok")
    );
}

#[test]
fn replace_existing_checks_drops_the_others() {
    let mut state = state();
    register(&mut state, redis(), vec![ttl_spec(1_000), ttl_spec(1_000)]).unwrap();
    let keep = register(&mut state, redis(), vec![ttl_spec(1_000)]).unwrap();
    // Without replace the old numbered checks stay.
    assert_eq!(state.service_checks("redis").count(), 3);
    let registration = ServiceRegistration {
        service: redis(),
        checks: vec![ttl_spec(1_000)],
        replace_existing_checks: true,
        source: RegistrationSource::Remote,
    };
    state.add_service(registration, 0).unwrap();
    let ids: Vec<&str> = state
        .service_checks("redis")
        .map(|c| c.check.check_id.as_str())
        .collect();
    assert_eq!(ids, vec![keep.1[0].as_str()]);
}

#[test]
fn a_renamed_service_renames_its_checks() {
    let mut state = state();
    register(&mut state, redis(), vec![ttl_spec(1_000)]).unwrap();
    let mut renamed = redis();
    renamed.id = "redis".into();
    renamed.tags = vec!["replica".into()];
    register(&mut state, renamed, vec![]).unwrap();
    let check = &state.check("service:redis").unwrap().check;
    assert_eq!(check.service_tags, vec!["replica".to_string()]);
}

#[test]
fn removing_a_service_removes_its_checks() {
    let mut state = state();
    register(&mut state, redis(), vec![ttl_spec(1_000), http_spec(5_000)]).unwrap();
    let mut node = ttl_spec(1_000);
    node.name = "node".into();
    state
        .add_check(node, RegistrationSource::Remote, 0)
        .unwrap();
    assert_eq!(state.remove_service("redis"), Ok(true));
    assert_eq!(state.remove_service("redis"), Ok(false));
    assert_eq!(
        state.remove_service(""),
        Err(LocalStateError::MissingServiceId)
    );
    let ids: Vec<&str> = state.checks().map(|c| c.check.check_id.as_str()).collect();
    assert_eq!(ids, vec!["node"]);
    assert_eq!(state.remove_check("node"), Ok(true));
    assert_eq!(state.remove_check("node"), Ok(false));
    assert_eq!(state.remove_check(""), Err(LocalStateError::MissingCheckId));
}

#[test]
fn long_output_is_cut_with_consuls_note_within_the_bound() {
    let long = "é".repeat(3_000);
    let cut = truncate_output(&long);
    assert!(cut.len() <= MAX_CHECK_OUTPUT_BYTES);
    assert!(
        cut.ends_with(" of 6000 bytes)"),
        "{}",
        &cut[cut.len() - 40..]
    );
    assert!(cut.contains(" ... (captured "));
    assert_eq!(truncate_output("short"), "short");
    let exact = "x".repeat(MAX_CHECK_OUTPUT_BYTES);
    assert_eq!(truncate_output(&exact), exact);
}

#[test]
fn update_check_marks_status_changes_out_of_sync_only() {
    let mut state = state();
    register(&mut state, redis(), vec![ttl_spec(10_000)]).unwrap();
    let id = "service:redis";
    state.checks.get_mut(id).unwrap().in_sync = true;
    assert!(state.update_check(id, CheckStatus::Critical, "new output", 5));
    assert!(state.check(id).unwrap().in_sync);
    assert!(!state.update_check(id, CheckStatus::Critical, "new output", 6));
    assert!(state.update_check(id, CheckStatus::Passing, "new output", 7));
    assert!(!state.check(id).unwrap().in_sync);
    assert_eq!(state.check(id).unwrap().critical_since_ms, None);
    assert!(!state.update_check("missing", CheckStatus::Passing, "", 7));
}

#[test]
fn ttl_checks_expire_and_restart_on_each_report() {
    let mut state = state();
    register(&mut state, redis(), vec![ttl_spec(10_000)]).unwrap();
    let id = "service:redis";
    assert_eq!(state.next_deadline_ms(), Some(11_000));
    assert!(state.expire_ttl_checks(10_999).is_empty());
    state
        .update_ttl_check(id, CheckStatus::Passing, "", 5_000)
        .unwrap();
    assert_eq!(state.next_deadline_ms(), Some(15_000));
    assert!(state.expire_ttl_checks(14_999).is_empty());
    assert_eq!(state.expire_ttl_checks(15_000), vec![id.to_string()]);
    let check = &state.check(id).unwrap().check;
    assert_eq!(
        (check.status, check.output.as_str()),
        (CheckStatus::Critical, TTL_EXPIRED_OUTPUT)
    );
    // Expired once: nothing more until the next report.
    assert!(state.expire_ttl_checks(99_000).is_empty());
    assert_eq!(state.next_deadline_ms(), None);

    state
        .update_ttl_check(id, CheckStatus::Warning, "slow", 20_000)
        .unwrap();
    assert_eq!(state.expire_ttl_checks(30_000), vec![id.to_string()]);
    let expected = format!("{TTL_EXPIRED_WITH_OUTPUT_PREFIX}slow");
    assert_eq!(state.check(id).unwrap().check.output, expected);
}

#[test]
fn only_ttl_checks_take_ttl_updates() {
    let mut state = state();
    register(&mut state, redis(), vec![http_spec(10_000)]).unwrap();
    let err = state
        .update_ttl_check("service:redis", CheckStatus::Passing, "", 0)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "CheckID \"service:redis\" does not have associated TTL"
    );
    let err = state
        .update_ttl_check("nope", CheckStatus::Passing, "", 0)
        .unwrap_err();
    assert_eq!(err, LocalStateError::NotTtlCheck("nope".into()));
}

#[test]
fn probes_start_staggered_within_their_interval_and_repeat_after_each_result() {
    let mut state = state();
    register(&mut state, redis(), vec![http_spec(10_000)]).unwrap();
    let first = state.next_deadline_ms().unwrap();
    assert!((1_000..11_000).contains(&first), "{first}");
    assert!(state.due_probes(first - 1).is_empty());
    let probes = state.due_probes(first);
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].check_id, "service:redis");
    match &probes[0].kind {
        ProbeKind::Http {
            method,
            timeout_ms,
            headers,
            ..
        } => {
            assert_eq!(
                (method.as_str(), *timeout_ms),
                ("GET", DEFAULT_HTTP_TIMEOUT_MS)
            );
            assert_eq!(
                headers["User-Agent"],
                vec![HTTP_CHECK_USER_AGENT.to_string()]
            );
        }
        other => panic!("{other:?}"),
    }
    // Running: not due again, however late.
    assert!(state.due_probes(first + 100_000).is_empty());
    assert_eq!(state.next_deadline_ms(), None);
    assert!(state.probe_finished(
        "service:redis",
        CheckStatus::Passing,
        "HTTP 200",
        first + 50
    ));
    assert_eq!(state.next_deadline_ms(), Some(first + 10_050));
    // A second result for the same run is dropped.
    assert!(!state.probe_finished("service:redis", CheckStatus::Critical, "", first + 60));
    assert_eq!(
        state.check("service:redis").unwrap().check.status,
        CheckStatus::Passing
    );
    assert!(!state.probe_finished("gone", CheckStatus::Passing, "", 0));
}

#[test]
fn different_seeds_stagger_differently() {
    let firsts: Vec<u64> = (0..8)
        .map(|seed| {
            let mut state = LocalState::new(ScriptChecks::default(), seed);
            register(&mut state, redis(), vec![http_spec(60_000)]).unwrap();
            state.next_deadline_ms().unwrap()
        })
        .collect();
    let mut distinct = firsts.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() > 4, "{firsts:?}");
}

#[test]
fn a_service_critical_too_long_is_reaped() {
    let mut state = state();
    let mut spec = ttl_spec(1_000);
    spec.deregister_critical_service_after_ms = 1; // raised to the minimum
    register(&mut state, redis(), vec![spec]).unwrap();
    let check = state.check("service:redis").unwrap();
    assert_eq!(check.critical_since_ms, Some(1_000));
    assert_eq!(
        check.deregister_critical_service_after_ms,
        MIN_DEREGISTER_CRITICAL_AFTER_MS
    );
    let reap_at = 1_000 + MIN_DEREGISTER_CRITICAL_AFTER_MS + 1;
    assert!(state.reap_critical_services(reap_at - 1).is_empty());
    // Passing resets the clock.
    state
        .update_ttl_check("service:redis", CheckStatus::Passing, "", 2_000)
        .unwrap();
    assert!(state.reap_critical_services(reap_at).is_empty());
    state.expire_ttl_checks(3_000);
    assert_eq!(
        state.check("service:redis").unwrap().critical_since_ms,
        Some(3_000)
    );
    let reap_at = 3_000 + MIN_DEREGISTER_CRITICAL_AFTER_MS + 1;
    assert_eq!(state.next_deadline_ms(), Some(reap_at));
    assert_eq!(
        state.reap_critical_services(reap_at),
        vec!["redis".to_string()]
    );
    assert!(state.service("redis").is_none());
    assert_eq!(state.checks().count(), 0);
}

#[test]
fn node_maintenance_adds_and_removes_its_check() {
    let mut state = state();
    assert!(state.enable_node_maintenance("", 5));
    let check = &state.check(NODE_MAINTENANCE_CHECK_ID).unwrap().check;
    assert_eq!(check.name, NODE_MAINTENANCE_CHECK_NAME);
    assert_eq!(check.status, CheckStatus::Critical);
    assert_eq!(check.notes, DEFAULT_NODE_MAINTENANCE_REASON);
    assert_eq!(check.check_type, "maintenance");
    // Already on: the first reason stays.
    assert!(!state.enable_node_maintenance("kernel upgrade", 6));
    assert!(state.disable_node_maintenance());
    assert!(!state.disable_node_maintenance());
    assert!(state.enable_node_maintenance("kernel upgrade", 7));
    assert_eq!(
        state.check(NODE_MAINTENANCE_CHECK_ID).unwrap().check.notes,
        "kernel upgrade"
    );
}

#[test]
fn service_maintenance_needs_the_service() {
    let mut state = state();
    let err = state
        .enable_service_maintenance("redis", "", 0)
        .unwrap_err();
    assert_eq!(err.to_string(), "No service registered with ID \"redis\"");
    register(&mut state, redis(), vec![]).unwrap();
    assert_eq!(state.enable_service_maintenance("redis", "", 0), Ok(true));
    let id = service_maintenance_check_id("redis");
    assert_eq!(id, "_service_maintenance:redis");
    let check = &state.check(&id).unwrap().check;
    assert_eq!(check.name, SERVICE_MAINTENANCE_CHECK_NAME);
    assert_eq!(check.notes, DEFAULT_SERVICE_MAINTENANCE_REASON);
    assert_eq!(
        (check.service_id.as_str(), check.service_name.as_str()),
        ("redis", "redis")
    );
    assert_eq!(
        state.enable_service_maintenance("redis", "again", 0),
        Ok(false)
    );
    assert_eq!(state.disable_service_maintenance("redis"), Ok(true));
    assert_eq!(state.disable_service_maintenance("redis"), Ok(false));
    assert!(state.disable_service_maintenance("nope").is_err());
}

#[test]
fn the_state_is_bounded() {
    let mut state = state();
    let checks: Vec<CheckSpec> = (0..=MAX_CHECKS_PER_REGISTRATION)
        .map(|_| ttl_spec(1))
        .collect();
    assert!(matches!(
        register(&mut state, redis(), checks),
        Err(LocalStateError::Limit(_))
    ));
    for n in 0..MAX_LOCAL_CHECKS {
        let mut spec = ttl_spec(1_000);
        spec.name = format!("c{n}");
        state
            .add_check(spec, RegistrationSource::Remote, 0)
            .unwrap();
    }
    let mut spec = ttl_spec(1_000);
    spec.name = "one-more".into();
    let err = state
        .add_check(spec, RegistrationSource::Remote, 0)
        .unwrap_err();
    assert!(matches!(err, LocalStateError::Limit(_)));
    // Replacing an existing check is still fine.
    let mut spec = ttl_spec(2_000);
    spec.name = "c0".into();
    state
        .add_check(spec, RegistrationSource::Remote, 0)
        .unwrap();
    assert!(!state.enable_node_maintenance("", 0));
}
