use super::*;
use crate::agent::local_state::{RegistrationSource, ScriptChecks};

fn reason(result: Decoded<impl std::fmt::Debug>) -> (u16, String) {
    let err = result.unwrap_err();
    (err.status, err.reason)
}

#[test]
fn a_ttl_check_registration_decodes_with_go_keys() {
    let body = br#"{"name": "mem", "id": "mem-1", "Notes": "n", "ttl": "15s",
        "service_id": "", "Status": "passing", "deregister_critical_service_after": "90m"}"#;
    let spec = decode_check_register(body).unwrap();
    assert_eq!(spec.check_id, "mem-1");
    assert_eq!(spec.name, "mem");
    assert_eq!(spec.notes, "n");
    assert_eq!(spec.status, Some(CheckStatus::Passing));
    assert_eq!(spec.runner, CheckRunner::Ttl { ttl_ms: 15_000 });
    assert_eq!(spec.deregister_critical_service_after_ms, 90 * 60 * 1000);
}

#[test]
fn http_tcp_and_script_checks_decode() {
    let body = br#"{"Name": "web", "CheckID": "web-http", "HTTP": "http://x/health",
        "Method": "POST", "Header": {"X-A": ["1", "2"]}, "Interval": "10s", "Timeout": 1000000000}"#;
    let spec = decode_check_register(body).unwrap();
    assert_eq!(spec.check_id, "web-http");
    assert_eq!(
        spec.runner,
        CheckRunner::Http {
            url: "http://x/health".into(),
            method: "POST".into(),
            headers: [("X-A".to_string(), vec!["1".to_string(), "2".to_string()])].into(),
            interval_ms: 10_000,
            timeout_ms: 1_000,
        }
    );
    let tcp = decode_check_register(br#"{"Name": "t", "TCP": "localhost:22", "Interval": "5s"}"#);
    assert!(matches!(
        tcp.unwrap().runner,
        CheckRunner::Tcp {
            interval_ms: 5_000,
            ..
        }
    ));
    let script =
        decode_check_register(br#"{"Name": "s", "Args": ["/bin/check", "-q"], "Interval": "30s"}"#);
    match script.unwrap().runner {
        CheckRunner::Script { args, .. } => assert_eq!(args, vec!["/bin/check", "-q"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_registration_errors_are_consuls() {
    assert_eq!(
        reason(decode_check_register(br#"{"TTL": "10s"}"#)),
        (400, "Missing check name".into())
    );
    assert_eq!(
        reason(decode_check_register(
            br#"{"Name": "a", "TTL": "10s", "Status": "ok"}"#
        )),
        (400, "Bad check status".into())
    );
    assert_eq!(
        reason(decode_check_register(br#"{"Name": "a"}"#)),
        (400, "Invalid check: TTL must be > 0 for TTL checks".into())
    );
    assert_eq!(
        reason(decode_check_register(
            br#"{"Name": "a", "TTL": "1s", "Interval": "1s"}"#
        )),
        (
            400,
            "Invalid check: Interval and TTL cannot both be specified".into()
        )
    );
    let (status, text) = reason(decode_check_register(
        br#"{"Name": "a", "HTTP": "http://x"}"#,
    ));
    assert_eq!(status, 400);
    assert!(
        text.starts_with("Invalid check: Interval must be > 0"),
        "{text}"
    );
    let (status, text) = reason(decode_check_register(br#"{"Name": "a", "TTL": "ten"}"#));
    assert_eq!(status, 400);
    assert!(
        text.starts_with("Request decode failed: TTL: time: invalid duration"),
        "{text}"
    );
    let (_, text) = reason(decode_check_register(
        br#"{"Name": "a", "GRPC": "x:1", "Interval": "1s"}"#,
    ));
    assert_eq!(
        text,
        "Invalid check: GRPC checks are not supported by this agent"
    );
    let (_, text) = reason(decode_check_register(b"{"));
    assert!(text.starts_with("Request decode failed: "), "{text}");
    let (_, text) = reason(decode_check_register(br#"{"Name": 7}"#));
    assert!(text.contains("cannot unmarshal"), "{text}");
}

#[test]
fn check_updates_decode_and_refuse_unknown_statuses() {
    let update = decode_check_update(br#"{"status": "warning", "output": "load 9"}"#).unwrap();
    assert_eq!(update, (CheckStatus::Warning, "load 9".to_string()));
    assert_eq!(
        reason(decode_check_update(br#"{"Status": "bad"}"#)),
        (400, "Invalid check status: 'bad'".into())
    );
    assert_eq!(
        reason(decode_check_update(b"{}")),
        (400, "Invalid check status: ''".into())
    );
}

#[test]
fn agent_checks_render_in_consuls_field_order() {
    let mut state = LocalState::new(ScriptChecks::default(), 1);
    let spec = decode_check_register(br#"{"Name": "mem", "TTL": "15s"}"#).unwrap();
    state
        .add_check(spec, RegistrationSource::Remote, 0)
        .unwrap();
    let spec = decode_check_register(br#"{"Name": "web", "HTTP": "http://x", "Interval": "10s"}"#);
    state
        .add_check(spec.unwrap(), RegistrationSource::Remote, 0)
        .unwrap();
    let json = serde_json::to_string(&agent_checks(&state, "node1")).unwrap();
    let expected = concat!(
        r#"{"mem":{"Node":"node1","CheckID":"mem","Name":"mem","Status":"critical","Notes":"","#,
        r#""Output":"","ServiceID":"","ServiceName":"","ServiceTags":[],"Type":"ttl","#,
        r#""Interval":"","Timeout":"","ExposedPort":0,"Definition":{},"CreateIndex":0,"ModifyIndex":0},"#,
        r#""web":{"Node":"node1","CheckID":"web","Name":"web","Status":"critical","Notes":"","#,
        r#""Output":"","ServiceID":"","ServiceName":"","ServiceTags":[],"Type":"http","#,
        r#""Interval":"10s","Timeout":"","ExposedPort":0,"Definition":{},"CreateIndex":0,"ModifyIndex":0}}"#,
    );
    assert_eq!(json, expected);
}

#[test]
fn local_state_errors_answer_with_consuls_status() {
    let missing = LocalStateError::UnknownService("x".into());
    assert_eq!(
        local_state_error(&missing),
        HttpError::new(404, "ServiceID \"x\" does not exist")
    );
    let scripts = LocalStateError::ScriptsDisabled(RegistrationSource::Remote);
    assert_eq!(local_state_error(&scripts).status, 500);
    assert_eq!(
        local_state_error(&LocalStateError::MissingServiceName).status,
        400
    );
}
