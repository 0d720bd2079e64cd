use super::*;

pub(crate) fn sample_service() -> ServiceDefinition {
    ServiceDefinition {
        id: "web-1".into(),
        service: "web".into(),
        tags: vec!["v1".into(), "primary".into()],
        address: "10.0.0.5".into(),
        port: 8080,
        meta: BTreeMap::from([("version".into(), "1.2".into())]),
        weights: Weights {
            passing: 10,
            warning: 1,
        },
        enable_tag_override: true,
        tagged_addresses: BTreeMap::from([(
            "lan".into(),
            ServiceAddress {
                address: "10.0.0.5".into(),
                port: 8080,
            },
        )]),
    }
}

pub(crate) fn sample_check() -> CheckDefinition {
    CheckDefinition {
        check_id: "service:web-1".into(),
        name: "web alive".into(),
        status: CheckStatus::Warning,
        notes: "n".into(),
        output: "HTTP GET: 429".into(),
        service_id: "web-1".into(),
        service_name: "web".into(),
        service_tags: vec!["v1".into()],
        check_type: "http".into(),
        definition: CheckDefinitionFields {
            http: "http://10.0.0.5:8080/health".into(),
            method: "GET".into(),
            tcp: String::new(),
            interval_ms: 10_000,
            timeout_ms: 1_000,
            deregister_critical_service_after_ms: 60_000,
        },
    }
}

pub(crate) fn sample_register() -> RegisterRequest {
    RegisterRequest {
        node: "n1".into(),
        address: "10.0.0.5".into(),
        datacenter: "dc1".into(),
        node_meta: BTreeMap::from([("rack".into(), "r1".into())]),
        tagged_addresses: BTreeMap::from([("wan".into(), "1.2.3.4".into())]),
        service: Some(sample_service()),
        checks: vec![sample_check()],
    }
}

fn encoded<T>(value: &T, encode: impl Fn(&T, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    encode(value, &mut out);
    out
}

fn decode_register(bytes: &[u8]) -> Result<RegisterRequest, WireError> {
    let mut r = Reader::new(bytes);
    let request = RegisterRequest::decode(&mut r)?;
    r.finish()?;
    Ok(request)
}

#[test]
fn a_register_request_round_trips_and_every_truncation_fails() {
    for request in [
        sample_register(),
        RegisterRequest {
            node: "bare".into(),
            ..RegisterRequest::default()
        },
    ] {
        let bytes = encoded(&request, RegisterRequest::encode);
        assert_eq!(decode_register(&bytes).unwrap(), request);
        assert!(request.len_bound() >= bytes.len());
        for len in 0..bytes.len() {
            assert!(decode_register(&bytes[..len]).is_err(), "cut to {len}");
        }
    }
}

#[test]
fn every_deregister_target_round_trips() {
    for target in [
        DeregisterTarget::Node,
        DeregisterTarget::Service("web-1".into()),
        DeregisterTarget::Check("serfHealth".into()),
    ] {
        let request = DeregisterRequest {
            node: "n1".into(),
            target,
        };
        let bytes = encoded(&request, DeregisterRequest::encode);
        let mut r = Reader::new(&bytes);
        assert_eq!(DeregisterRequest::decode(&mut r).unwrap(), request);
        r.finish().unwrap();
        for len in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..len]);
            assert!(DeregisterRequest::decode(&mut r).is_err());
        }
    }
    let mut bad = encoded(
        &DeregisterRequest {
            node: "n".into(),
            target: DeregisterTarget::Node,
        },
        DeregisterRequest::encode,
    );
    *bad.last_mut().unwrap() = 9;
    assert!(DeregisterRequest::decode(&mut Reader::new(&bad)).is_err());
}

#[test]
fn hostile_counts_statuses_and_meta_orders_are_refused() {
    let bytes = encoded(&sample_register(), RegisterRequest::encode);
    // The check's status byte: an unknown status is refused.
    let status_at = bytes.windows(9).position(|w| w == b"web alive").unwrap() + 9;
    let mut bad_status = bytes.clone();
    bad_status[status_at] = 7;
    assert!(decode_register(&bad_status).is_err());
    // A node-meta count far beyond what the bytes hold.
    let meta_count_at = 4 + 2 + 4 + 8 + 4 + 3;
    let mut bad_count = bytes.clone();
    bad_count[meta_count_at..meta_count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(decode_register(&bad_count).is_err());
    // Meta keys out of order (or repeated) are refused.
    let mut meta_out_of_order = Vec::new();
    meta_out_of_order.put_count(2);
    for key in ["b", "a"] {
        meta_out_of_order.put_string(key);
        meta_out_of_order.put_string("v");
    }
    assert!(read_meta(&mut Reader::new(&meta_out_of_order), "m").is_err());
    // More checks than a registration may carry.
    let mut many = sample_register();
    many.checks = vec![sample_check(); MAX_CHECKS_PER_REGISTRATION + 1];
    assert!(many.limits_error().is_some());
    assert!(decode_register(&encoded(&many, RegisterRequest::encode)).is_err());
}

#[test]
fn meta_follows_consuls_rules() {
    let meta = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(meta_error(&meta(&[("env", "prod")]), false), None);
    assert!(meta_error(&meta(&[("", "x")]), false).is_some());
    assert!(meta_error(&meta(&[("bad key", "x")]), false).is_some());
    assert!(meta_error(&meta(&[("consul-x", "x")]), false).is_some());
    assert_eq!(
        meta_error(&meta(&[("consul-network-segment", "")]), true),
        None
    );
    let long_key = "k".repeat(MAX_META_KEY_BYTES + 1);
    assert!(meta_error(&meta(&[(&long_key, "x")]), false).is_some());
    let long_value = "v".repeat(MAX_META_VALUE_BYTES + 1);
    assert!(meta_error(&meta(&[("k", &long_value)]), false).is_some());
    let many: BTreeMap<String, String> = (0..=MAX_META_PAIRS)
        .map(|i| (format!("k{i}"), String::new()))
        .collect();
    assert!(meta_error(&many, false).is_some());
    let mut service = sample_service();
    service.tags = vec!["t".into(); MAX_TAGS + 1];
    assert!(service.limits_error().is_some());
}

#[test]
fn the_client_messages_round_trip() {
    use crate::wire::client_message::{
        ClientRequest, ClientResponse, RequestBody, ResponseBody, RpcResult,
    };
    use crate::wire::test_support::round_trip;
    round_trip(&ClientRequest {
        request_id: 4,
        body: RequestBody::CatalogRegister(Box::new(sample_register())),
    });
    round_trip(&ClientRequest {
        request_id: 5,
        body: RequestBody::CatalogDeregister(DeregisterRequest {
            node: "n1".into(),
            target: DeregisterTarget::Check("c".into()),
        }),
    });
    round_trip(&ClientResponse {
        request_id: 6,
        body: ResponseBody::Ok(RpcResult::CatalogWritten { index: 42 }),
    });
}
