use super::*;
use crate::agent::local_state::{CheckRunner, ScriptChecks};

fn reason(result: Decoded<impl std::fmt::Debug>) -> (u16, String) {
    let err = result.unwrap_err();
    (err.status, err.reason)
}

#[test]
fn a_service_registration_decodes_with_go_keys() {
    let body = br#"{"name": "redis", "ID": "redis1", "Tags": ["primary"], "Address": "10.1.2.3",
        "Port": 8000, "Meta": {"version": "4"}, "Weights": {"Passing": 10, "Warning": 1},
        "enable_tag_override": true,
        "TaggedAddresses": {"lan": {"Address": "10.1.2.3", "Port": 8000}},
        "Check": {"TTL": "10s"},
        "Checks": [{"Name": "http", "HTTP": "http://10.1.2.3:8000/", "Interval": "5s", "Status": "passing"}]}"#;
    let registration = decode_service_register(body, true).unwrap();
    let service = &registration.service;
    assert_eq!(
        (service.id.as_str(), service.service.as_str()),
        ("redis1", "redis")
    );
    assert_eq!(service.tags, vec!["primary".to_string()]);
    assert_eq!((service.address.as_str(), service.port), ("10.1.2.3", 8000));
    assert_eq!(service.meta["version"], "4");
    assert_eq!(
        service.weights,
        Weights {
            passing: 10,
            warning: 1
        }
    );
    assert!(service.enable_tag_override);
    assert_eq!(service.tagged_addresses["lan"].port, 8000);
    assert!(registration.replace_existing_checks);
    assert_eq!(registration.source, RegistrationSource::Remote);
    assert_eq!(registration.checks.len(), 2);
    assert_eq!(
        registration.checks[0].runner,
        CheckRunner::Ttl { ttl_ms: 10_000 }
    );
    assert_eq!(registration.checks[1].status, Some(CheckStatus::Passing));
}

#[test]
fn an_empty_check_is_no_check() {
    let registration = decode_service_register(br#"{"Name": "a", "Check": {"TTL": ""}}"#, false);
    assert!(registration.unwrap().checks.is_empty());
}

#[test]
fn service_registration_errors_are_consuls() {
    assert_eq!(
        reason(decode_service_register(br#"{"ID": "x"}"#, false)),
        (400, "Missing service name".into())
    );
    assert_eq!(
        reason(decode_service_register(
            br#"{"Name": "a", "Address": "0.0.0.0"}"#,
            false
        )),
        (400, "Invalid service address".into())
    );
    assert_eq!(
        reason(decode_service_register(
            br#"{"Name": "a", "Address": "[::]"}"#,
            false
        )),
        (400, "Invalid service address".into())
    );
    assert_eq!(
        reason(decode_service_register(
            br#"{"Name": "a", "Weights": {"Warning": 1}}"#,
            false
        )),
        (
            400,
            "Invalid Weights: Passing must be greater than 0".into()
        )
    );
    let (status, text) = reason(decode_service_register(
        br#"{"Name": "a", "Meta": {"consul-x": "1"}}"#,
        false,
    ));
    assert_eq!(status, 400);
    assert!(text.starts_with("Invalid Service Meta: "), "{text}");
    assert_eq!(
        reason(decode_service_register(
            br#"{"Name": "a", "Checks": [{"Name": "c"}]}"#,
            false
        )),
        (400, "Invalid check: TTL must be > 0 for TTL checks".into())
    );
    assert_eq!(
        reason(decode_service_register(
            br#"{"Name": "a", "Check": {"TTL": "1s", "Status": "up"}}"#,
            false
        )),
        (
            400,
            "Status for checks must 'passing', 'warning', 'critical'".into()
        )
    );
    let (_, text) = reason(decode_service_register(
        br#"{"Name": "a", "Port": 70000}"#,
        false,
    ));
    assert!(text.contains("cannot unmarshal"), "{text}");
}

#[test]
fn replace_existing_checks_reads_as_consul_does() {
    assert!(replace_existing_checks(Some("")));
    assert!(replace_existing_checks(Some("true")));
    assert!(!replace_existing_checks(Some("false")));
    assert!(!replace_existing_checks(None));
}

#[test]
fn agent_services_render_in_consuls_field_order() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    let body = br#"{"Name": "redis", "Tags": ["primary"], "Address": "10.1.2.3", "Port": 8000}"#;
    state
        .add_service(decode_service_register(body, false).unwrap(), 0)
        .unwrap();
    let body = br#"{"Name": "web"}"#;
    state
        .add_service(decode_service_register(body, false).unwrap(), 0)
        .unwrap();
    let json = serde_json::to_string(&agent_services(&state, "dc1")).unwrap();
    let expected = concat!(
        r#"{"redis":{"ID":"redis","Service":"redis","Tags":["primary"],"Meta":{},"Port":8000,"#,
        r#""Address":"10.1.2.3","TaggedAddresses":{"lan_ipv4":{"Address":"10.1.2.3","Port":8000},"#,
        r#""wan_ipv4":{"Address":"10.1.2.3","Port":8000}},"Weights":{"Passing":1,"Warning":1},"#,
        r#""EnableTagOverride":false,"Datacenter":"dc1"},"#,
        r#""web":{"ID":"web","Service":"web","Tags":[],"Meta":{},"Port":0,"Address":"","#,
        r#""Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Datacenter":"dc1"}}"#,
    );
    assert_eq!(json, expected);
    let one = agent_service(&state, "web", "dc1").unwrap();
    assert_eq!(one, agent_services(&state, "dc1")["web"]);
    assert_eq!(agent_service(&state, "nope", "dc1"), None);
    assert_eq!(
        unknown_service("nope"),
        HttpError::new(404, "unknown service ID: nope")
    );
}

mod hostile_bodies {
    use super::*;
    use crate::http::agent_checks::{decode_check_register, decode_check_update};
    use proptest::prelude::*;
    use serde_json::json;

    const KEYS: [&str; 24] = [
        "Name",
        "name",
        "ID",
        "CheckID",
        "Tags",
        "Address",
        "Port",
        "Meta",
        "Weights",
        "EnableTagOverride",
        "TaggedAddresses",
        "Check",
        "Checks",
        "TTL",
        "HTTP",
        "Header",
        "TCP",
        "Interval",
        "Timeout",
        "Args",
        "Status",
        "ServiceID",
        "Output",
        "DeregisterCriticalServiceAfter",
    ];

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (0u64..100_000_000_000).prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            prop_oneof![
                Just("10s"),
                Just("passing"),
                Just("critical"),
                Just("0.0.0.0"),
                Just("::1"),
                Just("-1s"),
                Just("http://x"),
                Just(""),
                Just("consul-x"),
            ]
            .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec((prop::sample::select(&KEYS[..]), inner), 0..6).prop_map(
                    |pairs| {
                        let map: Map<String, Value> =
                            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                        Value::Object(map)
                    }
                ),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec((prop::sample::select(&KEYS[..]), value()), 0..10).prop_map(|pairs| {
            let map: Map<String, Value> =
                pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            serde_json::to_vec(&Value::Object(map)).unwrap()
        })
    }

    proptest! {
        #[test]
        fn decoders_and_the_state_never_panic(body in body(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let scripts = ScriptChecks { from_local: true, from_remote: true };
            let mut state = LocalState::new(scripts, 3);
            for bytes in [&body, &raw] {
                if let Ok(registration) = decode_service_register(bytes, true) {
                    let _ = state.add_service(registration, 5);
                }
                if let Ok(spec) = decode_check_register(bytes) {
                    let _ = state.add_check(spec, RegistrationSource::Remote, 5);
                }
                if let Ok((status, output)) = decode_check_update(bytes) {
                    for id in state.checks().map(|c| c.check.check_id.clone()).collect::<Vec<_>>() {
                        let _ = state.update_ttl_check(&id, status, &output, 6);
                    }
                }
            }
            for probe in state.due_probes(u64::MAX) {
                state.probe_finished(&probe.check_id, CheckStatus::Passing, "ok", u64::MAX);
            }
            state.expire_ttl_checks(u64::MAX);
            state.reap_critical_services(u64::MAX);
            let plan = crate::agent::local_state::sync_plan(&state, "n", "10.0.0.1", "dc1", None, 0, 0);
            for request in &plan.registrations {
                prop_assert_eq!(request.limits_error(), None);
            }
            let _ = serde_json::to_vec(&agent_services(&state, "dc1")).unwrap();
        }
    }
}
