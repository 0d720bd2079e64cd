use super::*;
use crate::wire::catalog_registration::CheckStatus;

fn node_check(name: &str, runner: CheckRunner) -> CheckSpec {
    CheckSpec {
        check_id: String::new(),
        name: name.into(),
        status: Some(CheckStatus::Passing),
        notes: String::new(),
        service_id: String::new(),
        runner,
        deregister_critical_service_after_ms: 0,
    }
}

#[test]
fn each_probe_kind_carries_consuls_defaults() {
    let scripts = ScriptChecks {
        from_local: true,
        from_remote: true,
    };
    let mut state = LocalState::new(scripts, 9);
    let tcp = CheckRunner::Tcp {
        address: "localhost:22".into(),
        interval_ms: 10,
        timeout_ms: 0,
    };
    let script = CheckRunner::Script {
        args: vec!["/bin/check".into()],
        interval_ms: 5_000,
        timeout_ms: 2_000,
    };
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("user-agent".to_string(), vec!["mine".to_string()]);
    let http = CheckRunner::Http {
        url: "http://x".into(),
        method: "HEAD".into(),
        headers,
        interval_ms: 5_000,
        timeout_ms: 0,
    };
    for (name, runner) in [("tcp", tcp), ("script", script), ("http", http)] {
        state
            .add_check(node_check(name, runner), RegistrationSource::Remote, 0)
            .unwrap();
    }
    // The 10 ms interval was raised to Consul's minimum.
    assert_eq!(
        state.check("tcp").unwrap().runner.interval_ms(),
        Some(MIN_CHECK_INTERVAL_MS)
    );
    assert_eq!(state.check("script").unwrap().check.check_type, "script");
    let probes = state.due_probes(u64::MAX);
    let kinds: Vec<&ProbeKind> = probes.iter().map(|p| &p.kind).collect();
    let ProbeKind::Http {
        method, headers, ..
    } = kinds[0]
    else {
        panic!("{kinds:?}");
    };
    assert_eq!(method, "HEAD");
    // The caller's User-Agent stays, whatever its case; Accept is added.
    assert_eq!(headers.len(), 2);
    assert_eq!(headers["Accept"], vec![HTTP_CHECK_ACCEPT.to_string()]);
    assert_eq!(
        kinds[1],
        &ProbeKind::Script {
            args: vec!["/bin/check".into()],
            timeout_ms: 2_000
        }
    );
    assert_eq!(
        kinds[2],
        &ProbeKind::Tcp {
            address: "localhost:22".into(),
            timeout_ms: DEFAULT_TCP_TIMEOUT_MS
        }
    );
}

#[test]
fn ttl_and_external_checks_are_never_probed() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    let ttl = CheckRunner::Ttl { ttl_ms: 1_000 };
    state
        .add_check(node_check("ttl", ttl), RegistrationSource::Remote, 0)
        .unwrap();
    state.enable_node_maintenance("", 0);
    assert!(state.due_probes(u64::MAX).is_empty());
    assert!(!state.probe_finished("ttl", CheckStatus::Critical, "", 5));
    let err = state
        .update_ttl_check(NODE_MAINTENANCE_CHECK_ID, CheckStatus::Passing, "", 0)
        .unwrap_err();
    assert_eq!(
        err,
        LocalStateError::NotTtlCheck(NODE_MAINTENANCE_CHECK_ID.into())
    );
}

#[test]
fn a_probe_result_is_cut_to_the_output_bound() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    let tcp = CheckRunner::Tcp {
        address: "x:1".into(),
        interval_ms: 1_000,
        timeout_ms: 0,
    };
    state
        .add_check(node_check("tcp", tcp), RegistrationSource::Remote, 0)
        .unwrap();
    let probe = state.due_probes(u64::MAX).remove(0);
    let long = "x".repeat(10 * MAX_CHECK_OUTPUT_BYTES);
    assert!(state.probe_finished(&probe.check_id, CheckStatus::Critical, &long, 1));
    let check = &state.check("tcp").unwrap().check;
    assert!(check.output.len() <= MAX_CHECK_OUTPUT_BYTES);
    assert!(check.output.ends_with(" of 40960 bytes)"));
    assert_eq!(state.check("tcp").unwrap().critical_since_ms, Some(1));
}
