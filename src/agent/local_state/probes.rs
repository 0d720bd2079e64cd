//! Checks the agent runs itself (HTTP, TCP, script): which are due, and
//! their results. The caller performs each [`Probe`] and reports back with
//! [`LocalState::probe_finished`]; the next run is one interval after that,
//! so a slow target is never probed twice at once.

use std::collections::BTreeMap;

use super::{CheckRunner, LocalState};
use crate::wire::catalog_registration::CheckStatus;

/// Consul's `CheckHTTP` and `CheckTCP` default timeout.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_TCP_TIMEOUT_MS: u64 = 10_000;
/// Consul's `CheckMonitor` default timeout.
pub const DEFAULT_SCRIPT_TIMEOUT_MS: u64 = 30_000;
/// Consul's `checks.UserAgent`.
pub const HTTP_CHECK_USER_AGENT: &str = "Consul Health Check";
/// The `Accept` Consul's HTTP check sends unless told otherwise.
pub const HTTP_CHECK_ACCEPT: &str = "text/plain, text/*, */*";

/// One probe to run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub check_id: String,
    pub kind: ProbeKind,
}

/// What to run, with Consul's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeKind {
    /// Passing on 2xx, warning on 429, critical otherwise.
    Http {
        url: String,
        method: String,
        headers: BTreeMap<String, Vec<String>>,
        timeout_ms: u64,
    },
    /// Passing when a connection opens.
    Tcp { address: String, timeout_ms: u64 },
    /// Passing on exit 0, warning on 1, critical otherwise.
    Script { args: Vec<String>, timeout_ms: u64 },
}

fn or_default(timeout_ms: u64, default_ms: u64) -> u64 {
    if timeout_ms == 0 {
        default_ms
    } else {
        timeout_ms
    }
}

fn probe_kind(runner: &CheckRunner) -> Option<ProbeKind> {
    match runner {
        CheckRunner::None | CheckRunner::Ttl { .. } => None,
        CheckRunner::Http {
            url,
            method,
            headers,
            timeout_ms,
            ..
        } => {
            let mut headers = headers.clone();
            let has = |h: &BTreeMap<String, Vec<String>>, name: &str| {
                h.keys().any(|k| k.eq_ignore_ascii_case(name))
            };
            if !has(&headers, "User-Agent") {
                headers.insert("User-Agent".into(), vec![HTTP_CHECK_USER_AGENT.into()]);
            }
            if !has(&headers, "Accept") {
                headers.insert("Accept".into(), vec![HTTP_CHECK_ACCEPT.into()]);
            }
            Some(ProbeKind::Http {
                url: url.clone(),
                method: if method.is_empty() {
                    "GET".into()
                } else {
                    method.clone()
                },
                headers,
                timeout_ms: or_default(*timeout_ms, DEFAULT_HTTP_TIMEOUT_MS),
            })
        }
        CheckRunner::Tcp {
            address,
            timeout_ms,
            ..
        } => Some(ProbeKind::Tcp {
            address: address.clone(),
            timeout_ms: or_default(*timeout_ms, DEFAULT_TCP_TIMEOUT_MS),
        }),
        CheckRunner::Script {
            args, timeout_ms, ..
        } => Some(ProbeKind::Script {
            args: args.clone(),
            timeout_ms: or_default(*timeout_ms, DEFAULT_SCRIPT_TIMEOUT_MS),
        }),
    }
}

impl LocalState {
    /// The probes due by `now_ms`, in check-ID order; each is marked
    /// running until [`LocalState::probe_finished`].
    pub fn due_probes(&mut self, now_ms: u64) -> Vec<Probe> {
        let mut due = Vec::new();
        for local in self.checks.values_mut() {
            if local.probe_running || local.due_ms.is_none_or(|at| at > now_ms) {
                continue;
            }
            let Some(kind) = probe_kind(&local.runner) else {
                continue;
            };
            local.probe_running = true;
            local.due_ms = None;
            due.push(Probe {
                check_id: local.check.check_id.clone(),
                kind,
            });
        }
        due
    }

    /// A probe's result; the next run is due one interval from `now_ms`.
    /// Returns whether the check changed. A result for a check that is gone,
    /// or was re-registered meanwhile, is dropped.
    pub fn probe_finished(
        &mut self,
        check_id: &str,
        status: CheckStatus,
        output: &str,
        now_ms: u64,
    ) -> bool {
        let Some(local) = self.checks.get_mut(check_id) else {
            return false;
        };
        let Some(interval_ms) = local.runner.interval_ms() else {
            return false;
        };
        if !local.probe_running {
            return false;
        }
        local.probe_running = false;
        local.due_ms = Some(now_ms.saturating_add(interval_ms));
        self.update_check(check_id, status, output, now_ms)
    }
}
