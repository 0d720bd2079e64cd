//! The agent's own services and checks at work: the HTTP endpoints that
//! change and show them (`endpoints.rs`), the TTL clock and the probes
//! that set their status (`probes.rs`), and anti-entropy that keeps the
//! catalog in line with them (`anti_entropy.rs`). The state itself is the
//! pure `local_state`; this room gives it the time, runs what it asks
//! for, and hands the catalog writes to the router as requests from
//! [`AGENT_INTERNAL`].

pub mod anti_entropy;
mod definitions;
mod endpoints;
mod persisted;
pub mod probes;

use std::time::Instant;

use crate::wire::client_message::{ClientRequest, ClientResponse};

use crate::agent::config::AgentConfig;
use crate::agent::io::connection::ConnectionId;
use crate::agent::local_state::{LocalState, ScriptChecks};
use crate::agent::seam::Context;

use anti_entropy::{AntiEntropy, NodeIdentity};
use probes::ProbeRunner;

/// The client the anti-entropy writes come from: answers addressed to it
/// are taken by the reply tap and brought back here.
pub const AGENT_INTERNAL: ConnectionId =
    ConnectionId(crate::agent::io::connection::FIRST_HTTP_CONNECTION_ID - 1);

/// Answers to this room's requests kept for the next tick.
pub const MAX_QUEUED_ANSWERS: usize = 1024;

pub struct LocalServices {
    pub(crate) state: LocalState,
    identity: NodeIdentity,
    /// Where `now_ms` counts from.
    origin: Instant,
    sync: AntiEntropy,
    probes: ProbeRunner,
    answers: Vec<ClientResponse>,
    from_files: definitions::FromFiles,
    persisted: persisted::Persisted,
}

impl LocalServices {
    pub fn new(config: &AgentConfig, now: Instant, seed: u64) -> Self {
        LocalServices {
            state: LocalState::new(ScriptChecks::default(), seed),
            identity: NodeIdentity {
                node: config.node_name.clone(),
                address: config.advertise.ip().to_string(),
                datacenter: config.datacenter.clone(),
            },
            origin: now,
            sync: AntiEntropy::default(),
            probes: ProbeRunner::default(),
            answers: Vec::new(),
            from_files: definitions::FromFiles::default(),
            persisted: persisted::Persisted::default(),
        }
    }

    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Answers the router gave to this room's requests.
    pub fn take_answers(&mut self, answers: impl IntoIterator<Item = ClientResponse>) {
        for answer in answers {
            if self.answers.len() >= MAX_QUEUED_ANSWERS {
                log::warn!(target: "agent", "anti-entropy: answer dropped, queue full");
                self.sync.mark_dirty();
                continue;
            }
            self.answers.push(answer);
        }
    }

    /// Every tick: TTLs that ran out, services critical too long, probes,
    /// and the sync's next requests (to be routed by the caller).
    pub fn on_tick(&mut self, ctx: &mut Context, cluster_size: usize) -> Vec<ClientRequest> {
        let now_ms = self.now_ms(ctx.now());
        let mut changed = !self.state.expire_ttl_checks(now_ms).is_empty();
        changed |= !self.state.reap_critical_services(now_ms).is_empty();
        changed |= self.probes.drive(&mut self.state, ctx, now_ms);
        if changed {
            self.sync.mark_dirty();
        }
        let mut requests = Vec::new();
        for answer in std::mem::take(&mut self.answers) {
            requests.extend(self.sync.on_answer(
                &mut self.state,
                &self.identity,
                answer,
                now_ms,
                cluster_size,
            ));
        }
        requests.extend(self.sync.poll(&self.identity, now_ms));
        requests
    }
}
