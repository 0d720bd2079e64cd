//! The check probes in flight: each runs off the loop (`io::check_probe`)
//! and its result is collected on a later tick. Bounded: past
//! `MAX_PROBES_IN_FLIGHT` a due probe waits in a bounded queue, and a probe
//! the queue cannot take is reported critical, so an overloaded agent says
//! so instead of growing.

use std::collections::VecDeque;

use crate::agent::io::check_probe::run_probe;
use crate::agent::local_state::{LocalState, Probe};
use crate::agent::seam::{Context, OffLoopResult};
use crate::wire::catalog_registration::CheckStatus;

/// Probes running at once, each on a thread of its own.
pub const MAX_PROBES_IN_FLIGHT: usize = 64;
/// Due probes waiting for a free slot.
pub const MAX_PROBES_WAITING: usize = 4096;

#[derive(Default)]
pub struct ProbeRunner {
    running: Vec<(String, OffLoopResult<(CheckStatus, String)>)>,
    waiting: VecDeque<Probe>,
}

impl ProbeRunner {
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    /// Starts what is due and collects what finished; returns whether a
    /// check changed.
    pub fn drive(&mut self, local: &mut LocalState, ctx: &mut Context, now_ms: u64) -> bool {
        let mut changed = self.collect(local, now_ms);
        for probe in local.due_probes(now_ms) {
            if self.waiting.len() >= MAX_PROBES_WAITING {
                let output = "too many checks due at once: this probe was not run";
                changed |=
                    local.probe_finished(&probe.check_id, CheckStatus::Critical, output, now_ms);
                continue;
            }
            self.waiting.push_back(probe);
        }
        while self.running.len() < MAX_PROBES_IN_FLIGHT {
            let Some(probe) = self.waiting.pop_front() else {
                break;
            };
            let kind = probe.kind;
            let result = OffLoopResult::start(ctx, "check-probe", move || run_probe(&kind));
            self.running.push((probe.check_id, result));
        }
        changed
    }

    fn collect(&mut self, local: &mut LocalState, now_ms: u64) -> bool {
        let mut changed = false;
        let mut still = Vec::with_capacity(self.running.len());
        for (check_id, result) in self.running.drain(..) {
            match result.take() {
                None => still.push((check_id, result)),
                Some(Ok((status, output))) => {
                    changed |= local.probe_finished(&check_id, status, &output, now_ms);
                }
                Some(Err(err)) => {
                    changed |= local.probe_finished(&check_id, CheckStatus::Critical, &err, now_ms);
                }
            }
        }
        self.running = still;
        changed
    }
}
