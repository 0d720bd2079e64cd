//! Anti-entropy (Consul's `agent/ae` with `local.State.SyncChanges`): the
//! agent reads its node's entry from the catalog, plans the writes that
//! make it match the local state, and sends them as any client would,
//! through the router (so a follower or a client agent forwards them to
//! the leader). A sync runs when the local state changed, when an
//! output-only change held back falls due, and as a full sync every
//! minute, scaled up for large clusters as Consul's `aeScale`. One sync is
//! in flight at a time; a failed or unanswered one is retried after a
//! pause.

use std::collections::{BTreeMap, VecDeque};

use imbl::OrdMap;

use crate::state_machine::services::{CheckRecord, NodeServices, ServiceRecord};
use crate::wire::catalog_instances::NodeWithServices;
use crate::wire::catalog_registration::{DeregisterRequest, RegisterRequest};
use crate::wire::client_catalog::{CatalogAnswer, CatalogQuery, CatalogRead};
use crate::wire::client_message::{
    ClientRequest, ClientResponse, Consistency, RequestBody, ResponseBody, RpcResult,
};

use crate::agent::local_state::{DEFAULT_CHECK_UPDATE_INTERVAL_MS, LocalState, sync_plan};

/// Consul's `aeInterval` for clusters up to `AE_SCALE_THRESHOLD` nodes.
pub const FULL_SYNC_INTERVAL_MS: u64 = 60_000;
const AE_SCALE_THRESHOLD: usize = 128;
/// A sync step (the read or one write) not answered by then is given up.
pub const SYNC_STEP_TIMEOUT_MS: u64 = 30_000;
/// After a failed sync: Consul's `retryFailIntv`-like pause.
pub const RETRY_AFTER_FAILURE_MS: u64 = 5_000;
/// Writes of one sync in flight at once; the rest wait their turn.
pub const MAX_WRITES_IN_FLIGHT: usize = 16;

/// Consul's `aeScale`: the interval grows with the log of the cluster's
/// size past the threshold, so a large cluster's servers are not flooded.
pub fn scaled_interval_ms(cluster_size: usize) -> u64 {
    if cluster_size <= AE_SCALE_THRESHOLD {
        return FULL_SYNC_INTERVAL_MS;
    }
    let excess = (cluster_size as f64).log2() - (AE_SCALE_THRESHOLD as f64).log2();
    let multiplier = excess.ceil() as u64 + 1;
    FULL_SYNC_INTERVAL_MS.saturating_mul(multiplier)
}

/// Who this agent is in the catalog.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub node: String,
    /// The agent's IP (Consul registers the advertise address).
    pub address: String,
    pub datacenter: String,
}

#[derive(Debug, Clone)]
enum Write {
    Register(Box<RegisterRequest>),
    Deregister(DeregisterRequest),
}

#[derive(Debug, Default)]
enum Phase {
    #[default]
    Idle,
    Reading {
        request_id: u64,
    },
    Writing {
        in_flight: BTreeMap<u64, Write>,
        queued: VecDeque<Write>,
        failed: bool,
    },
}

#[derive(Debug, Default)]
pub struct AntiEntropy {
    phase: Phase,
    /// The local state changed since the last plan.
    dirty: bool,
    next_full_sync_ms: u64,
    deferred_until_ms: Option<u64>,
    retry_at_ms: u64,
    step_started_ms: u64,
    next_request_id: u64,
    pub syncs_completed: u64,
}

fn node_services(node: NodeWithServices) -> NodeServices {
    let services: OrdMap<String, ServiceRecord> = node
        .services
        .into_iter()
        .map(|entry| {
            let record = ServiceRecord {
                service: entry.service,
                create_index: entry.create_index,
                modify_index: entry.modify_index,
            };
            (record.service.id.clone(), record)
        })
        .collect();
    let checks: OrdMap<String, CheckRecord> = node
        .checks
        .into_iter()
        .map(|entry| {
            let record = CheckRecord {
                check: entry.check,
                create_index: entry.create_index,
                modify_index: entry.modify_index,
            };
            (record.check.check_id.clone(), record)
        })
        .collect();
    NodeServices {
        meta: node.node.meta,
        tagged_addresses: node.node.tagged_addresses,
        services,
        checks,
    }
}

impl AntiEntropy {
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle)
    }

    fn request(&mut self, body: RequestBody) -> ClientRequest {
        self.next_request_id += 1;
        ClientRequest {
            request_id: self.next_request_id,
            body,
        }
    }

    fn due(&self, now_ms: u64) -> bool {
        if now_ms < self.retry_at_ms {
            return false;
        }
        self.dirty
            || now_ms >= self.next_full_sync_ms
            || self.deferred_until_ms.is_some_and(|at| now_ms >= at)
    }

    /// The requests to send now: a sync's first read when one is due, or
    /// nothing. A step unanswered past its timeout is given up.
    pub fn poll(&mut self, identity: &NodeIdentity, now_ms: u64) -> Vec<ClientRequest> {
        let stuck = now_ms.saturating_sub(self.step_started_ms) > SYNC_STEP_TIMEOUT_MS;
        if !self.is_idle() && stuck {
            log::warn!(target: "agent", "anti-entropy: sync not answered in {} s; retrying",
                SYNC_STEP_TIMEOUT_MS / 1000);
            self.fail(now_ms);
        }
        if !self.is_idle() || !self.due(now_ms) {
            return Vec::new();
        }
        self.dirty = false;
        self.deferred_until_ms = None;
        self.step_started_ms = now_ms;
        let read = self.request(RequestBody::CatalogRead(CatalogRead {
            query: CatalogQuery::NodeServices {
                name: identity.node.clone(),
            },
            consistency: Consistency::Default,
            min_index: 0,
            wait_ms: 0,
        }));
        self.phase = Phase::Reading {
            request_id: read.request_id,
        };
        vec![read]
    }

    fn fail(&mut self, now_ms: u64) {
        self.phase = Phase::Idle;
        self.dirty = true;
        self.retry_at_ms = now_ms + RETRY_AFTER_FAILURE_MS;
    }

    /// An answer to one of this sync's requests; returns the next requests.
    pub fn on_answer(
        &mut self,
        local: &mut LocalState,
        identity: &NodeIdentity,
        response: ClientResponse,
        now_ms: u64,
        cluster_size: usize,
    ) -> Vec<ClientRequest> {
        match std::mem::take(&mut self.phase) {
            Phase::Reading { request_id } if request_id == response.request_id => {
                self.plan(local, identity, response.body, now_ms, cluster_size)
            }
            Phase::Writing {
                mut in_flight,
                queued,
                mut failed,
            } => {
                match in_flight.remove(&response.request_id) {
                    Some(write) => failed |= !self.written(local, write, response.body, now_ms),
                    None => log::debug!(target: "agent", "anti-entropy: stray answer"),
                }
                self.phase = Phase::Writing {
                    in_flight,
                    queued,
                    failed,
                };
                self.send_queued(now_ms, cluster_size)
            }
            other => {
                self.phase = other;
                Vec::new()
            }
        }
    }

    fn plan(
        &mut self,
        local: &mut LocalState,
        identity: &NodeIdentity,
        body: ResponseBody,
        now_ms: u64,
        cluster_size: usize,
    ) -> Vec<ClientRequest> {
        let catalog = match body {
            ResponseBody::Ok(RpcResult::CatalogRead {
                answer: CatalogAnswer::NodeServices(node),
                ..
            }) => node.map(node_services),
            ResponseBody::Err(err) => {
                log::warn!(target: "agent", "anti-entropy: reading the catalog failed: {}", err.message);
                self.fail(now_ms);
                return Vec::new();
            }
            other => {
                log::warn!(target: "agent", "anti-entropy: unexpected catalog answer {other:?}");
                self.fail(now_ms);
                return Vec::new();
            }
        };
        let plan = sync_plan(
            local,
            &identity.node,
            &identity.address,
            &identity.datacenter,
            catalog.as_ref(),
            now_ms,
            DEFAULT_CHECK_UPDATE_INTERVAL_MS,
        );
        self.deferred_until_ms = plan.deferred_until_ms;
        let queued: VecDeque<Write> = plan
            .registrations
            .into_iter()
            .map(|r| Write::Register(Box::new(r)))
            .chain(plan.deregistrations.into_iter().map(Write::Deregister))
            .collect();
        self.phase = Phase::Writing {
            in_flight: BTreeMap::new(),
            queued,
            failed: false,
        };
        self.send_queued(now_ms, cluster_size)
    }

    /// Whether a write succeeded; a registration marks what it carried in
    /// sync.
    fn written(
        &mut self,
        local: &mut LocalState,
        write: Write,
        body: ResponseBody,
        now_ms: u64,
    ) -> bool {
        match (write, body) {
            (Write::Register(request), ResponseBody::Ok(RpcResult::CatalogWritten { .. })) => {
                local.mark_synced(&request, now_ms);
                true
            }
            (Write::Deregister(_), ResponseBody::Ok(RpcResult::CatalogWritten { .. })) => true,
            (_, ResponseBody::Err(err)) => {
                log::warn!(target: "agent", "anti-entropy: catalog write failed: {}", err.message);
                false
            }
            (_, other) => {
                log::warn!(target: "agent", "anti-entropy: unexpected write answer {other:?}");
                false
            }
        }
    }

    fn send_queued(&mut self, now_ms: u64, cluster_size: usize) -> Vec<ClientRequest> {
        let Phase::Writing {
            mut in_flight,
            mut queued,
            failed,
        } = std::mem::take(&mut self.phase)
        else {
            unreachable!("send_queued runs while writing");
        };
        if in_flight.is_empty() && queued.is_empty() {
            if failed {
                self.fail(now_ms);
            } else {
                self.syncs_completed += 1;
                self.next_full_sync_ms = now_ms + scaled_interval_ms(cluster_size);
            }
            return Vec::new();
        }
        let mut requests = Vec::new();
        while in_flight.len() < MAX_WRITES_IN_FLIGHT {
            let Some(write) = queued.pop_front() else {
                break;
            };
            let body = match &write {
                Write::Register(r) => RequestBody::CatalogRegister(r.clone()),
                Write::Deregister(d) => RequestBody::CatalogDeregister(d.clone()),
            };
            let request = self.request(body);
            in_flight.insert(request.request_id, write);
            requests.push(request);
        }
        self.step_started_ms = now_ms;
        self.phase = Phase::Writing {
            in_flight,
            queued,
            failed,
        };
        requests
    }
}

#[cfg(test)]
#[path = "anti_entropy_tests.rs"]
mod tests;
