use super::*;
use crate::agent::local_state::{
    CheckRunner, CheckSpec, RegistrationSource, ScriptChecks, ServiceRegistration,
};
use crate::wire::catalog_registration::ServiceDefinition;
use crate::wire::client_kv::ReadMeta;
use crate::wire::client_message::{ErrorCode, RpcError};

fn identity() -> NodeIdentity {
    NodeIdentity {
        node: "n1".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
    }
}

fn local_with_web() -> LocalState {
    let mut local = LocalState::new(ScriptChecks::default(), 1);
    let registration = ServiceRegistration {
        service: ServiceDefinition {
            service: "web".into(),
            port: 80,
            ..ServiceDefinition::default()
        },
        checks: vec![CheckSpec {
            check_id: String::new(),
            name: String::new(),
            status: None,
            notes: String::new(),
            service_id: String::new(),
            runner: CheckRunner::Ttl { ttl_ms: 60_000 },
            deregister_critical_service_after_ms: 0,
        }],
        replace_existing_checks: false,
        source: RegistrationSource::Remote,
    };
    local.add_service(registration, 0).unwrap();
    local
}

fn answer(request: &ClientRequest, body: ResponseBody) -> ClientResponse {
    ClientResponse {
        request_id: request.request_id,
        body,
    }
}

fn catalog_without_the_node() -> ResponseBody {
    ResponseBody::Ok(RpcResult::CatalogRead {
        meta: ReadMeta {
            index: 3,
            known_leader: true,
            last_contact_ms: 0,
        },
        answer: CatalogAnswer::NodeServices(None),
    })
}

fn written() -> ResponseBody {
    ResponseBody::Ok(RpcResult::CatalogWritten { index: 9 })
}

#[test]
fn a_change_is_read_planned_written_and_then_quiet_until_the_full_sync() {
    let (mut local, me) = (local_with_web(), identity());
    let mut sync = AntiEntropy::default();
    let read = sync.poll(&me, 0);
    assert!(matches!(
        &read[..],
        [ClientRequest {
            body: RequestBody::CatalogRead(_),
            ..
        }]
    ));
    assert!(sync.poll(&me, 1).is_empty(), "one sync at a time");
    let writes = sync.on_answer(
        &mut local,
        &me,
        answer(&read[0], catalog_without_the_node()),
        2,
        3,
    );
    let [write] = &writes[..] else {
        panic!("{writes:?}")
    };
    let RequestBody::CatalogRegister(request) = &write.body else {
        panic!("{write:?}")
    };
    assert_eq!(request.node, "n1");
    assert_eq!(request.service.as_ref().unwrap().id, "web");
    assert_eq!(request.checks.len(), 1);
    assert!(
        sync.on_answer(&mut local, &me, answer(write, written()), 3, 3)
            .is_empty()
    );
    assert!(sync.is_idle());
    assert_eq!(sync.syncs_completed, 1);
    assert!(local.services().all(|s| s.in_sync));
    assert!(sync.poll(&me, 1_000).is_empty(), "nothing changed");
    assert_eq!(
        sync.poll(&me, 3 + FULL_SYNC_INTERVAL_MS).len(),
        1,
        "the full sync"
    );
}

#[test]
fn a_failed_write_is_retried_after_a_pause() {
    let (mut local, me) = (local_with_web(), identity());
    let mut sync = AntiEntropy::default();
    let read = sync.poll(&me, 0);
    let writes = sync.on_answer(
        &mut local,
        &me,
        answer(&read[0], catalog_without_the_node()),
        0,
        3,
    );
    let refused = ResponseBody::Err(RpcError {
        code: ErrorCode::NoLeader,
        message: "No cluster leader".into(),
        leader_hint: None,
    });
    sync.on_answer(&mut local, &me, answer(&writes[0], refused), 10, 3);
    assert!(sync.is_idle());
    assert!(sync.poll(&me, 11).is_empty(), "a pause first");
    assert_eq!(sync.poll(&me, 10 + RETRY_AFTER_FAILURE_MS).len(), 1);
}

#[test]
fn an_unanswered_step_is_given_up() {
    let me = identity();
    let mut sync = AntiEntropy::default();
    sync.mark_dirty();
    assert_eq!(sync.poll(&me, 0).len(), 1);
    assert!(sync.poll(&me, SYNC_STEP_TIMEOUT_MS).is_empty());
    assert!(
        sync.poll(&me, SYNC_STEP_TIMEOUT_MS + 1).is_empty(),
        "gave up, now pausing"
    );
    assert_eq!(
        sync.poll(&me, SYNC_STEP_TIMEOUT_MS + 1 + RETRY_AFTER_FAILURE_MS)
            .len(),
        1
    );
}

#[test]
fn the_full_sync_interval_scales_with_the_cluster() {
    assert_eq!(scaled_interval_ms(3), FULL_SYNC_INTERVAL_MS);
    assert_eq!(scaled_interval_ms(128), FULL_SYNC_INTERVAL_MS);
    assert_eq!(scaled_interval_ms(129), 2 * FULL_SYNC_INTERVAL_MS);
    assert_eq!(scaled_interval_ms(1024), 4 * FULL_SYNC_INTERVAL_MS);
}
