//! The router against Consul's behaviour, one rule per test.

use super::*;
use crate::http::api_request::{
    AgentMembers, KvDelete, KvDeleteMode, KvGet, KvPut, KvPutMode, KvVerb, MetricsFormat, RaftPeer,
};
use crate::http::blocking::{BlockingParams, Consistency};

fn request(method: &str, target: &str, body: &[u8]) -> HttpRequest {
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    HttpRequest {
        method: method.to_string(),
        path: path.to_string(),
        raw_query: raw_query.to_string(),
        headers: Vec::new(),
        body: body.to_vec(),
        minor_version: 1,
        keep_alive: true,
        expect_continue: false,
    }
}

fn routed(method: &str, target: &str, body: &[u8]) -> Result<ApiRequest, RouteError> {
    route(&request(method, target, body), &HttpLimits::default()).map(|routed| routed.request)
}

fn error_of(method: &str, target: &str, body: &[u8]) -> HttpResponse {
    routed(method, target, body).unwrap_err().to_response()
}

fn text(response: &HttpResponse) -> &str {
    std::str::from_utf8(&response.body).unwrap()
}

#[test]
fn kv_get_with_blocking_index() {
    let request = routed("GET", "/v1/kv/web/config?index=12&wait=5s&stale", b"").unwrap();
    let ApiRequest::KvGet(get) = request else {
        panic!("not a KV get: {request:?}");
    };
    assert_eq!(get.key, "web/config");
    assert_eq!(get.blocking.index, 12);
    assert_eq!(get.blocking.consistency, Consistency::Stale);
    assert!(!get.recurse && !get.keys_only && !get.raw);
}

#[test]
fn kv_keys_take_the_separator_and_win_over_recurse() {
    let request = routed("GET", "/v1/kv/web/?keys&recurse&separator=/", b"").unwrap();
    assert_eq!(
        request,
        ApiRequest::KvGet(KvGet {
            key: "web/".to_string(),
            recurse: false,
            keys_only: true,
            separator: Some("/".to_string()),
            raw: false,
            blocking: BlockingParams::default(),
        })
    );
    let misspelled = routed("GET", "/v1/kv/?keys&seperator=-", b"").unwrap();
    let ApiRequest::KvGet(get) = misspelled else {
        panic!("not a KV get");
    };
    assert_eq!(get.separator.as_deref(), Some("-"));
}

#[test]
fn kv_get_without_key_needs_recurse_or_keys() {
    let response = error_of("GET", "/v1/kv/", b"");
    assert_eq!(
        (response.status, text(&response)),
        (400, "Missing key name")
    );
    assert!(routed("GET", "/v1/kv/?recurse", b"").is_ok());
}

#[test]
fn kv_key_with_leading_slash_is_400() {
    let response = error_of("GET", "/v1/kv//etc", b"");
    assert_eq!(
        (response.status, text(&response)),
        (400, "key must not begin with a '/'")
    );
}

#[test]
fn kv_put_carries_body_and_full_u64_flags() {
    let request = routed("PUT", "/v1/kv/a?flags=18446744073709551615&dc=dc2", b"v").unwrap();
    assert_eq!(
        request,
        ApiRequest::KvPut(KvPut {
            key: "a".to_string(),
            flags: u64::MAX,
            mode: KvPutMode::Set,
            value: b"v".to_vec(),
            datacenter: Some("dc2".to_string()),
        })
    );
}

#[test]
fn kv_put_modes_cas_acquire_release() {
    let mode = |target| match routed("PUT", target, b"").unwrap() {
        ApiRequest::KvPut(put) => put.mode,
        other => panic!("not a put: {other:?}"),
    };
    assert_eq!(mode("/v1/kv/a?cas=0"), KvPutMode::Cas { index: 0 });
    assert_eq!(
        mode("/v1/kv/a?acquire=s1"),
        KvPutMode::Acquire {
            session: "s1".to_string()
        }
    );
    assert_eq!(
        mode("/v1/kv/a?release=s1"),
        KvPutMode::Release {
            session: "s1".to_string()
        }
    );
}

#[test]
fn kv_put_conflicting_flags_echo_the_sorted_query() {
    let response = error_of("PUT", "/v1/kv/a?release=s&cas=1", b"");
    assert_eq!(response.status, 400);
    assert_eq!(text(&response), "Conflicting flags: cas=1&release=s");
}

#[test]
fn kv_put_bad_number_is_400_with_gos_text() {
    let response = error_of("PUT", "/v1/kv/a?flags=x", b"");
    assert_eq!(response.status, 400);
    assert_eq!(
        text(&response),
        "strconv.ParseUint: parsing \"x\": invalid syntax"
    );
}

#[test]
fn kv_put_body_over_the_value_bound_is_413() {
    let body = vec![0; 512 * 1024 + 1];
    assert_eq!(error_of("PUT", "/v1/kv/a", &body).status, 413);
}

#[test]
fn kv_delete_modes_and_conflict() {
    let delete = |target| routed("DELETE", target, b"");
    assert_eq!(
        delete("/v1/kv/?recurse").unwrap(),
        ApiRequest::KvDelete(KvDelete {
            key: String::new(),
            mode: KvDeleteMode::Recurse,
            datacenter: None,
        })
    );
    let ApiRequest::KvDelete(cas) = delete("/v1/kv/a?cas=9").unwrap() else {
        panic!("not a delete");
    };
    assert_eq!(cas.mode, KvDeleteMode::Cas { index: 9 });
    assert_eq!(
        error_of("DELETE", "/v1/kv/a?recurse&cas=1", b"").status,
        400
    );
    assert_eq!(
        text(&error_of("DELETE", "/v1/kv/", b"")),
        "Missing key name"
    );
}

#[test]
fn kv_read_options_are_checked_for_every_method() {
    let response = error_of("PUT", "/v1/kv/a?stale&consistent", b"");
    assert_eq!(
        text(&response),
        "Cannot specify ?stale with ?consistent, conflicting semantics."
    );
    assert_eq!(
        text(&error_of("DELETE", "/v1/kv/a?wait=10", b"")),
        "Invalid wait time"
    );
}

#[test]
fn wrong_method_is_405_with_allow_header() {
    let response = error_of("POST", "/v1/kv/a", b"");
    assert_eq!(response.status, 405);
    assert_eq!(text(&response), "method POST not allowed");
    assert!(
        response
            .headers
            .contains(&("Allow".to_string(), "OPTIONS,GET,PUT,DELETE".to_string()))
    );
    assert_eq!(error_of("GET", "/v1/txn", b"").status, 405);
    assert_eq!(error_of("GET", "/v1/agent/leave", b"").status, 405);
}

#[test]
fn options_lists_the_methods() {
    assert_eq!(
        routed("OPTIONS", "/v1/status/leader", b"").unwrap(),
        ApiRequest::Options {
            allow: &["OPTIONS", "GET"]
        }
    );
}

#[test]
fn unknown_path_is_an_empty_404() {
    let response = error_of("GET", "/v1/nope", b"");
    assert_eq!((response.status, response.body.len()), (404, 0));
    assert_eq!(error_of("GET", "/v1/agent/self/extra", b"").status, 404);
}

#[test]
fn subtree_root_without_slash_redirects_like_servemux() {
    let response = error_of("GET", "/v1/kv?recurse", b"");
    assert_eq!(response.status, 301);
    assert!(
        response
            .headers
            .contains(&("Location".to_string(), "/v1/kv/?recurse".to_string()))
    );
}

#[test]
fn path_with_control_characters_is_an_empty_400() {
    let response = error_of("GET", "/v1/kv/a\u{0}b", b"");
    assert_eq!((response.status, response.body.len()), (400, 0));
}

#[test]
fn malformed_query_is_400_not_500() {
    let response = error_of("GET", "/v1/kv/a?x=%zz", b"");
    assert_eq!(response.status, 400);
}

#[test]
fn pretty_is_noted() {
    let routed = route(
        &request("GET", "/v1/agent/self?pretty", b""),
        &HttpLimits::default(),
    );
    assert!(routed.unwrap().pretty);
}

#[test]
fn txn_ops_decode_with_case_insensitive_keys() {
    let body = br#"[{"kv":{"verb":"set","KEY":"a","Value":"aGk=","Flags":7}},
                   {"KV":{"Verb":"get","Key":"b","Unknown":1}}] trailing"#;
    let ApiRequest::Txn(txn) = routed("PUT", "/v1/txn", body).unwrap() else {
        panic!("not a txn");
    };
    assert_eq!(txn.ops.len(), 2);
    assert_eq!(txn.ops[0].verb, KvVerb::Set);
    assert_eq!(txn.ops[0].key, "a");
    assert_eq!(txn.ops[0].value.as_deref(), Some(&b"hi"[..]));
    assert_eq!(txn.ops[0].flags, 7);
    assert_eq!(
        (txn.ops[1].verb, txn.ops[1].value.as_ref()),
        (KvVerb::Get, None)
    );
    assert!(!txn.is_read_only());
}

#[test]
fn txn_parse_errors_are_400_failed_to_parse_body() {
    let response = error_of("PUT", "/v1/txn", b"");
    assert_eq!(
        (response.status, text(&response)),
        (400, "Failed to parse body: EOF")
    );
    let response = error_of(
        "PUT",
        "/v1/txn",
        br#"[{"KV":{"Verb":"set","Key":"a","Value":"!!"}}]"#,
    );
    assert_eq!(response.status, 400);
    assert!(
        text(&response).starts_with("Failed to parse body: illegal base64 data at input byte 0")
    );
}

#[test]
fn txn_over_128_ops_is_413() {
    let op = r#"{"KV":{"Verb":"get","Key":"a"}}"#;
    let body = format!("[{}]", vec![op; 129].join(","));
    let response = error_of("PUT", "/v1/txn", body.as_bytes());
    assert_eq!(response.status, 413);
    assert_eq!(
        text(&response),
        "Transaction contains too many operations (129 > 128)"
    );
}

#[test]
fn txn_missing_key_and_unknown_verb_are_409_op_errors() {
    let response = error_of(
        "PUT",
        "/v1/txn",
        br#"[{"KV":{"Verb":"get","Key":"a"}},{"KV":{"Verb":"set"}}]"#,
    );
    assert_eq!(response.status, 409);
    assert_eq!(
        text(&response),
        r#"{"Results":null,"Errors":[{"OpIndex":1,"What":"Must provide key"}]}"#
    );
    let response = error_of("PUT", "/v1/txn", br#"[{"KV":{"Verb":"frob","Key":"a"}}]"#);
    assert_eq!(
        text(&response),
        r#"{"Results":null,"Errors":[{"OpIndex":0,"What":"unknown KV verb \"frob\""}]}"#
    );
}

#[test]
fn txn_read_options_apply_only_to_read_only_transactions() {
    let reads = br#"[{"KV":{"Verb":"get","Key":"a"}}]"#;
    assert_eq!(
        error_of("PUT", "/v1/txn?stale&consistent", reads).status,
        400
    );
    let writes = br#"[{"KV":{"Verb":"delete","Key":"a"}}]"#;
    let ApiRequest::Txn(txn) = routed("PUT", "/v1/txn?stale&consistent&dc=x", writes).unwrap()
    else {
        panic!("not a txn");
    };
    assert_eq!(txn.blocking.datacenter.as_deref(), Some("x"));
}

#[test]
fn txn_value_over_the_kv_bound_is_413() {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 512 * 1024 + 1]);
    let body = format!(r#"[{{"KV":{{"Verb":"set","Key":"big","Value":"{value}"}}}}]"#);
    let limits = HttpLimits {
        max_txn_body_bytes: 1024 * 1024,
        ..HttpLimits::default()
    };
    let error = route(&request("PUT", "/v1/txn", body.as_bytes()), &limits).unwrap_err();
    let response = error.to_response();
    assert_eq!(response.status, 413);
    assert_eq!(
        text(&response),
        "Value for key \"big\" is too large (524289 > 524288 bytes)"
    );
}

#[test]
fn agent_members_wan_needs_a_value_and_refuses_a_segment() {
    assert_eq!(
        routed("GET", "/v1/agent/members?wan", b"").unwrap(),
        ApiRequest::AgentMembers(AgentMembers {
            wan: false,
            segment: None,
            filter: None,
        })
    );
    let response = error_of("GET", "/v1/agent/members?wan=1&segment=alpha", b"");
    assert_eq!(text(&response), "Cannot provide a segment with wan=true");
}

#[test]
fn agent_join_and_force_leave_take_the_path_suffix() {
    assert_eq!(
        routed("PUT", "/v1/agent/join/10.0.0.1:8301?wan=1", b"").unwrap(),
        ApiRequest::AgentJoin {
            address: "10.0.0.1:8301".to_string(),
            wan: true
        }
    );
    assert_eq!(
        routed("PUT", "/v1/agent/force-leave/node-3?prune", b"").unwrap(),
        ApiRequest::AgentForceLeave {
            node: "node-3".to_string(),
            prune: true,
            wan: false
        }
    );
    assert_eq!(error_of("PUT", "/v1/agent/join/", b"").status, 400);
}

#[test]
fn agent_metrics_format() {
    assert_eq!(
        routed("GET", "/v1/agent/metrics?format=prometheus", b"").unwrap(),
        ApiRequest::AgentMetrics {
            format: MetricsFormat::Prometheus
        }
    );
}

#[test]
fn catalog_node_needs_a_name() {
    assert_eq!(
        text(&error_of("GET", "/v1/catalog/node/", b"")),
        "Missing node name"
    );
    let ApiRequest::CatalogNode { node, .. } =
        routed("GET", "/v1/catalog/node/web-1", b"").unwrap()
    else {
        panic!("not a catalog node");
    };
    assert_eq!(node, "web-1");
}

#[test]
fn catalog_nodes_read_near_and_node_meta() {
    let ApiRequest::CatalogNodes(nodes) = routed(
        "GET",
        "/v1/catalog/nodes?near=_agent&node-meta=rack:r1&node-meta=zone",
        b"",
    )
    .unwrap() else {
        panic!("not catalog nodes");
    };
    assert_eq!(nodes.near.as_deref(), Some("_agent"));
    assert_eq!(nodes.node_meta.get("rack").map(String::as_str), Some("r1"));
    assert_eq!(nodes.node_meta.get("zone").map(String::as_str), Some(""));
}

#[test]
fn raft_peer_removal_needs_exactly_one_selector() {
    assert_eq!(
        routed(
            "DELETE",
            "/v1/operator/raft/peer?address=10.0.0.2:8300",
            b""
        )
        .unwrap(),
        ApiRequest::OperatorRaftRemovePeer {
            peer: RaftPeer::Address("10.0.0.2:8300".to_string()),
            datacenter: None
        }
    );
    assert_eq!(
        text(&error_of("DELETE", "/v1/operator/raft/peer", b"")),
        "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove"
    );
    assert_eq!(
        text(&error_of(
            "DELETE",
            "/v1/operator/raft/peer?id=a&address=b",
            b""
        )),
        "Must specify only one of ?id or ?address"
    );
}

#[test]
fn transfer_leader_is_post_with_optional_id() {
    assert_eq!(
        routed("POST", "/v1/operator/raft/transfer-leader", b"").unwrap(),
        ApiRequest::OperatorRaftTransferLeader { id: None }
    );
    assert_eq!(
        error_of("PUT", "/v1/operator/raft/transfer-leader", b"").status,
        405
    );
}

#[test]
fn a_catalog_registration_decodes_with_consuls_defaults() {
    use crate::wire::catalog_registration::{CheckStatus, DeregisterTarget};
    let body = br#"{"node": "n1", "address": "10.0.0.1",
        "service": {"service": "web", "port": 80, "tags": ["a"]},
        "checks": [{"name": "alive"}], "Unknown": 1}"#;
    let ApiRequest::CatalogRegister(request) = routed("PUT", "/v1/catalog/register", body).unwrap()
    else {
        panic!("not a registration");
    };
    assert_eq!(
        (request.node.as_str(), request.address.as_str()),
        ("n1", "10.0.0.1")
    );
    let service = request.service.unwrap();
    assert_eq!((service.id.as_str(), service.port), ("web", 80));
    assert_eq!((service.weights.passing, service.weights.warning), (1, 1));
    let check = &request.checks[0];
    assert_eq!(
        (check.check_id.as_str(), check.status),
        ("alive", CheckStatus::Critical)
    );

    let deregister = br#"{"Node": "n1", "CheckID": "alive"}"#;
    let Ok(ApiRequest::CatalogDeregister(request)) =
        routed("PUT", "/v1/catalog/deregister", deregister)
    else {
        panic!("not a deregistration");
    };
    assert_eq!(request.target, DeregisterTarget::Check("alive".into()));
}

#[test]
fn a_mistyped_catalog_registration_is_400() {
    for body in [&br#"{"Node": 1}"#[..], b"[]", b"{", br#"{"Checks": {}}"#] {
        match routed("PUT", "/v1/catalog/register", body) {
            Err(RouteError::Http(err)) => assert_eq!(err.status, 400, "{body:?}"),
            other => panic!("{body:?}: {other:?}"),
        }
    }
    let bad_status = br#"{"Node": "n", "Check": {"Status": "fine"}}"#;
    assert!(routed("PUT", "/v1/catalog/register", bad_status).is_err());
}
