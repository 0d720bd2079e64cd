//! Arbitrary bytes as the bodies of the agent's service and check
//! endpoints: the decoders never panic, and what they accept goes through
//! the local state (registration, TTL updates, probes, expiry, reaping) and
//! the anti-entropy plan without panicking, every planned registration
//! within the catalog's limits.
//!
//! Input: the first byte picks the endpoint order; the rest is the body.

#![no_main]

use concord::agent::local_state::{LocalState, RegistrationSource, ScriptChecks, sync_plan};
use concord::http::agent_checks::{decode_check_register, decode_check_update};
use concord::http::agent_services::decode_service_register;
use concord::wire::catalog_registration::CheckStatus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let scripts = ScriptChecks {
        from_local: true,
        from_remote: selector & 1 == 1,
    };
    let mut state = LocalState::new(scripts, u64::from(selector));
    if let Ok(registration) = decode_service_register(body, selector & 2 == 2) {
        let _ = state.add_service(registration, 1);
    }
    if let Ok(spec) = decode_check_register(body) {
        let _ = state.add_check(spec, RegistrationSource::Remote, 1);
    }
    if let Ok((status, output)) = decode_check_update(body) {
        let ids: Vec<String> = state.checks().map(|c| c.check.check_id.clone()).collect();
        for id in ids {
            let _ = state.update_ttl_check(&id, status, &output, 2);
        }
    }
    for probe in state.due_probes(u64::MAX / 2) {
        state.probe_finished(&probe.check_id, CheckStatus::Warning, "x", u64::MAX / 2);
    }
    state.expire_ttl_checks(u64::MAX);
    state.reap_critical_services(u64::MAX);
    let plan = sync_plan(&state, "n1", "10.0.0.1", "dc1", None, 0, 0);
    for request in &plan.registrations {
        assert_eq!(request.limits_error(), None);
    }
});
