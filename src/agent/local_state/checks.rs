//! Checks: how each learns its status (Consul's `CheckType`, validated as
//! `CheckType.Validate` does), registering and removing them, and status
//! updates from whatever runs them.

use std::collections::BTreeMap;

use super::{
    LocalCheck, LocalState, LocalStateError, MAX_CHECK_OUTPUT_BYTES, MAX_LOCAL_CHECKS,
    MIN_CHECK_INTERVAL_MS, MIN_DEREGISTER_CRITICAL_AFTER_MS, RegistrationSource,
};
use crate::wire::catalog_registration::{
    CheckDefinition, CheckDefinitionFields, CheckStatus, MAX_CHECK_NOTES_BYTES,
    MAX_CHECK_TARGET_BYTES, MAX_IDENTIFIER_BYTES,
};

/// A script check's arguments.
pub const MAX_SCRIPT_ARGS: usize = 64;
/// One script argument.
pub const MAX_SCRIPT_ARG_BYTES: usize = 4096;
/// Header names of one HTTP check.
pub const MAX_HTTP_CHECK_HEADERS: usize = 64;
/// Values of one header of an HTTP check.
pub const MAX_HTTP_CHECK_HEADER_VALUES: usize = 16;
/// A header name or value of an HTTP check.
pub const MAX_HTTP_CHECK_HEADER_BYTES: usize = 4096;

/// What sets a check's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRunner {
    /// Set from outside only (maintenance, `PUT /v1/agent/check/update`
    /// refuses these: Consul's checks without a `CheckType`).
    None,
    /// The application reports within `ttl_ms`, else the check goes
    /// critical.
    Ttl { ttl_ms: u64 },
    Http {
        url: String,
        /// Empty for Consul's default, GET.
        method: String,
        headers: BTreeMap<String, Vec<String>>,
        interval_ms: u64,
        /// 0 for the default.
        timeout_ms: u64,
    },
    Tcp {
        address: String,
        interval_ms: u64,
        timeout_ms: u64,
    },
    Script {
        args: Vec<String>,
        interval_ms: u64,
        timeout_ms: u64,
    },
}

impl CheckRunner {
    /// Consul's `CheckType.Type()`.
    pub fn check_type(&self) -> &'static str {
        match self {
            CheckRunner::None => "",
            CheckRunner::Ttl { .. } => "ttl",
            CheckRunner::Http { .. } => "http",
            CheckRunner::Tcp { .. } => "tcp",
            CheckRunner::Script { .. } => "script",
        }
    }

    /// The probe interval; `None` for checks the agent does not run.
    pub fn interval_ms(&self) -> Option<u64> {
        match self {
            CheckRunner::Http { interval_ms, .. }
            | CheckRunner::Tcp { interval_ms, .. }
            | CheckRunner::Script { interval_ms, .. } => Some(*interval_ms),
            CheckRunner::None | CheckRunner::Ttl { .. } => None,
        }
    }

    pub fn timeout_ms(&self) -> u64 {
        match self {
            CheckRunner::Http { timeout_ms, .. }
            | CheckRunner::Tcp { timeout_ms, .. }
            | CheckRunner::Script { timeout_ms, .. } => *timeout_ms,
            CheckRunner::None | CheckRunner::Ttl { .. } => 0,
        }
    }

    /// Consul's validation, then its clamp of short intervals.
    fn validated(mut self) -> Result<CheckRunner, LocalStateError> {
        let invalid = |reason: &str| Err(LocalStateError::InvalidCheck(reason.to_owned()));
        match &mut self {
            CheckRunner::None => {}
            CheckRunner::Ttl { ttl_ms } if *ttl_ms == 0 => {
                return invalid("TTL must be > 0 for TTL checks");
            }
            CheckRunner::Ttl { .. } => {}
            CheckRunner::Http { interval_ms, .. }
            | CheckRunner::Tcp { interval_ms, .. }
            | CheckRunner::Script { interval_ms, .. } => {
                if *interval_ms == 0 {
                    return invalid(INTERVAL_REQUIRED);
                }
                *interval_ms = (*interval_ms).max(MIN_CHECK_INTERVAL_MS);
            }
        }
        match self.limits_error() {
            Some(reason) => Err(LocalStateError::Limit(reason)),
            None => Ok(self),
        }
    }

    fn limits_error(&self) -> Option<String> {
        let long = |what: &str, len: usize, max: usize| {
            (len > max).then(|| format!("{what} is {len} bytes, limit {max}"))
        };
        match self {
            CheckRunner::None | CheckRunner::Ttl { .. } => None,
            CheckRunner::Http {
                url,
                method,
                headers,
                ..
            } => long("check HTTP", url.len(), MAX_CHECK_TARGET_BYTES)
                .or_else(|| long("check method", method.len(), MAX_IDENTIFIER_BYTES))
                .or_else(|| {
                    (headers.len() > MAX_HTTP_CHECK_HEADERS).then(|| {
                        format!(
                            "{} check headers, limit {MAX_HTTP_CHECK_HEADERS}",
                            headers.len()
                        )
                    })
                })
                .or_else(|| {
                    headers.iter().find_map(|(name, values)| {
                        long("check header", name.len(), MAX_HTTP_CHECK_HEADER_BYTES)
                            .or_else(|| {
                                (values.len() > MAX_HTTP_CHECK_HEADER_VALUES).then(|| {
                                    format!(
                                        "{} values of check header {name:?}, limit \
                                         {MAX_HTTP_CHECK_HEADER_VALUES}",
                                        values.len()
                                    )
                                })
                            })
                            .or_else(|| {
                                values.iter().find_map(|v| {
                                    long("check header value", v.len(), MAX_HTTP_CHECK_HEADER_BYTES)
                                })
                            })
                    })
                }),
            CheckRunner::Tcp { address, .. } => {
                long("check TCP", address.len(), MAX_CHECK_TARGET_BYTES)
            }
            CheckRunner::Script { args, .. } => (args.len() > MAX_SCRIPT_ARGS)
                .then(|| format!("{} script arguments, limit {MAX_SCRIPT_ARGS}", args.len()))
                .or_else(|| {
                    args.iter()
                        .find_map(|arg| long("script argument", arg.len(), MAX_SCRIPT_ARG_BYTES))
                }),
        }
    }
}

/// Consul's text, from the release that added H2PING and UDP checks.
const INTERVAL_REQUIRED: &str =
    "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or GRPC checks";

/// Consul's `CheckType` as a registration spells it: every kind's fields
/// side by side, to be told apart by [`CheckTypeFields::runner`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckTypeFields {
    pub script_args: Vec<String>,
    pub http: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub method: String,
    pub tcp: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub ttl_ms: u64,
}

impl CheckTypeFields {
    /// Consul's `CheckType.Validate`, then the kind the agent's `addCheck`
    /// picks first (TTL, HTTP, TCP, script).
    pub fn runner(&self) -> Result<CheckRunner, LocalStateError> {
        let interval_check =
            !self.script_args.is_empty() || !self.http.is_empty() || !self.tcp.is_empty();
        let invalid = |reason: &str| Err(LocalStateError::InvalidCheck(reason.to_owned()));
        if self.interval_ms > 0 && self.ttl_ms > 0 {
            return invalid("Interval and TTL cannot both be specified");
        }
        if interval_check && self.interval_ms == 0 {
            return invalid(INTERVAL_REQUIRED);
        }
        if !interval_check && self.ttl_ms == 0 {
            return invalid("TTL must be > 0 for TTL checks");
        }
        let (interval_ms, timeout_ms) = (self.interval_ms, self.timeout_ms);
        let runner = if self.ttl_ms > 0 {
            CheckRunner::Ttl {
                ttl_ms: self.ttl_ms,
            }
        } else if !self.http.is_empty() {
            CheckRunner::Http {
                url: self.http.clone(),
                method: self.method.clone(),
                headers: self.header.clone(),
                interval_ms,
                timeout_ms,
            }
        } else if !self.tcp.is_empty() {
            CheckRunner::Tcp {
                address: self.tcp.clone(),
                interval_ms,
                timeout_ms,
            }
        } else {
            CheckRunner::Script {
                args: self.script_args.clone(),
                interval_ms,
                timeout_ms,
            }
        };
        runner.validated()
    }
}

/// A check to register: Consul's `CheckDefinition` with its `CheckType`
/// already told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    /// Empty for the default (the name; `service:<id>` for a service's).
    pub check_id: String,
    /// Empty for the default of a service's check.
    pub name: String,
    /// `None` for critical.
    pub status: Option<CheckStatus>,
    pub notes: String,
    /// For [`LocalState::add_check`]; a service's own checks take its ID.
    pub service_id: String,
    pub runner: CheckRunner,
    pub deregister_critical_service_after_ms: u64,
}

/// `output` cut to [`MAX_CHECK_OUTPUT_BYTES`] with Consul's note of what
/// was kept, the note included in the bound so the catalog takes it.
pub fn truncate_output(output: &str) -> String {
    if output.len() <= MAX_CHECK_OUTPUT_BYTES {
        return output.to_owned();
    }
    let total = output.len();
    // The note is at most this long for any total up to u64::MAX.
    let room = MAX_CHECK_OUTPUT_BYTES - " ... (captured 4096 of 18446744073709551615 bytes)".len();
    let mut cut = room;
    while !output.is_char_boundary(cut) {
        cut -= 1;
    }
    let kept = format!("{} ... (captured {cut} of {total} bytes)", &output[..cut]);
    assert!(kept.len() <= MAX_CHECK_OUTPUT_BYTES);
    kept
}

impl LocalState {
    /// Consul's `Agent.AddCheck`: `ServiceID`, if given, must name one of
    /// the agent's services. Re-registering a check keeps its status and
    /// output. Returns the check's ID.
    pub fn add_check(
        &mut self,
        spec: CheckSpec,
        source: RegistrationSource,
        now_ms: u64,
    ) -> Result<String, LocalStateError> {
        let check_id = match (spec.check_id.is_empty(), spec.name.is_empty()) {
            (false, _) => spec.check_id.clone(),
            (true, false) => spec.name.clone(),
            (true, true) => return Err(LocalStateError::MissingCheckId),
        };
        let (service_name, service_tags) = match spec.service_id.as_str() {
            "" => (String::new(), Vec::new()),
            id => match self.services.get(id) {
                Some(s) => (s.service.service.clone(), s.service.tags.clone()),
                None => return Err(LocalStateError::UnknownService(id.to_owned())),
            },
        };
        let runner = self.admitted_runner(spec.runner.clone(), source)?;
        if !self.checks.contains_key(&check_id) && self.checks.len() >= MAX_LOCAL_CHECKS {
            return Err(too_many_checks());
        }
        let check = CheckDefinition {
            check_id: check_id.clone(),
            name: spec.name.clone(),
            status: spec.status.unwrap_or(CheckStatus::Critical),
            notes: spec.notes.clone(),
            output: String::new(),
            service_id: spec.service_id.clone(),
            service_name,
            service_tags,
            check_type: runner.check_type().to_owned(),
            definition: CheckDefinitionFields::default(),
        };
        check_limits(&check)?;
        let deregister_after_ms = spec.deregister_critical_service_after_ms;
        self.insert_check(check, runner, deregister_after_ms, now_ms);
        Ok(check_id)
    }

    /// The runner, validated, if the source may register it.
    pub(super) fn admitted_runner(
        &self,
        runner: CheckRunner,
        source: RegistrationSource,
    ) -> Result<CheckRunner, LocalStateError> {
        let runner = runner.validated()?;
        if matches!(runner, CheckRunner::Script { .. }) && !self.script_checks.allowed(source) {
            return Err(LocalStateError::ScriptsDisabled(source));
        }
        Ok(runner)
    }

    /// Stores a validated check. An existing check of that ID keeps its
    /// status and output (Consul restores them so re-registering does not
    /// flap the check).
    pub(super) fn insert_check(
        &mut self,
        mut check: CheckDefinition,
        runner: CheckRunner,
        deregister_after_ms: u64,
        now_ms: u64,
    ) {
        let previous = self.checks.remove(&check.check_id);
        let mut critical_since_ms = None;
        if let Some(previous) = &previous {
            check.status = previous.check.status;
            check.output = previous.check.output.clone();
            critical_since_ms = previous.critical_since_ms;
        }
        if check.status != CheckStatus::Critical {
            critical_since_ms = None;
        } else if critical_since_ms.is_none() {
            critical_since_ms = Some(now_ms);
        }
        // The catalog shows a check's interval and timeout; the target
        // (a URL may carry credentials) stays on the agent, as in Consul.
        check.definition = CheckDefinitionFields {
            interval_ms: runner.interval_ms().unwrap_or(0),
            timeout_ms: runner.timeout_ms(),
            ..CheckDefinitionFields::default()
        };
        let due_ms = match &runner {
            CheckRunner::None => None,
            CheckRunner::Ttl { ttl_ms } => Some(now_ms.saturating_add(*ttl_ms)),
            CheckRunner::Http { interval_ms, .. }
            | CheckRunner::Tcp { interval_ms, .. }
            | CheckRunner::Script { interval_ms, .. } => {
                Some(now_ms.saturating_add(self.stagger.below(*interval_ms as usize) as u64))
            }
        };
        let deregister_critical_service_after_ms = match deregister_after_ms {
            0 => 0,
            after => after.max(MIN_DEREGISTER_CRITICAL_AFTER_MS),
        };
        let in_sync = previous
            .as_ref()
            .is_some_and(|p| p.in_sync && p.check == check);
        let synced_at_ms = previous.as_ref().and_then(|p| p.synced_at_ms);
        let local = LocalCheck {
            check,
            runner,
            in_sync,
            synced_at_ms,
            critical_since_ms,
            deregister_critical_service_after_ms,
            due_ms,
            probe_running: false,
        };
        self.checks.insert(local.check.check_id.clone(), local);
        self.check_invariants();
    }

    /// Consul's `Agent.RemoveCheck`; `Ok(false)` if there was no such
    /// check.
    pub fn remove_check(&mut self, check_id: &str) -> Result<bool, LocalStateError> {
        if check_id.is_empty() {
            return Err(LocalStateError::MissingCheckId);
        }
        Ok(self.checks.remove(check_id).is_some())
    }

    /// Consul's `State.UpdateCheck`: a new status must reach the catalog
    /// at once; new output alone waits (see [`super::sync_plan`]). Output
    /// longer than [`MAX_CHECK_OUTPUT_BYTES`] is cut. Returns whether
    /// anything changed; an unknown check changes nothing.
    pub fn update_check(
        &mut self,
        check_id: &str,
        status: CheckStatus,
        output: &str,
        now_ms: u64,
    ) -> bool {
        let Some(local) = self.checks.get_mut(check_id) else {
            return false;
        };
        let output = truncate_output(output);
        if local.check.status == status && local.check.output == output {
            return false;
        }
        if local.check.status != status {
            local.in_sync = false;
            local.critical_since_ms = match status {
                CheckStatus::Critical => Some(now_ms),
                _ => None,
            };
        }
        local.check.status = status;
        local.check.output = output;
        true
    }
}

pub(super) fn too_many_checks() -> LocalStateError {
    LocalStateError::Limit(format!(
        "the agent holds {MAX_LOCAL_CHECKS} checks, its limit"
    ))
}

pub(super) fn check_limits(check: &CheckDefinition) -> Result<(), LocalStateError> {
    if check.notes.len() > MAX_CHECK_NOTES_BYTES {
        return Err(LocalStateError::Limit(format!(
            "check notes is {} bytes, limit {MAX_CHECK_NOTES_BYTES}",
            check.notes.len()
        )));
    }
    match check.limits_error() {
        Some(reason) => Err(LocalStateError::Limit(reason)),
        None => Ok(()),
    }
}
