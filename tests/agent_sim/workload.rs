//! Simulated clients outside the cluster, one request at a time each, sent
//! to any agent (so followers and client agents forward): puts of unique
//! values, CAS puts (create-only, and on the ModifyIndex last read),
//! deletes, default, consistent and stale gets. What they see becomes the
//! history the linearizability checker decides.
//!
//! The checker's model is a register per key with puts and gets; a delete
//! is a put of [`TOMBSTONE`] (and an absent key reads as it), with one
//! tombstone written before anything else so every key starts absent. A
//! successful CAS is a put; a CAS refused, or any write refused in a way
//! that says it did not happen, had no effect and is left out; a write
//! whose fate the agent said is unknown ("may or may not have been
//! applied", a timeout), or that reached an agent and was never answered,
//! may take effect at any time after its call (Jepsen's indeterminate
//! operation). A read that failed had no effect and is left out.

use std::collections::{BTreeMap, BTreeSet};

use concord::deterministic_rng::SplitMix64;
use concord::wire::client_message::{
    ClientRequest, ClientResponse, Consistency, ErrorCode, RequestBody, ResponseBody, RpcResult,
};

use crate::linearizability::{KvInput, KvOperation, KvOutput, NEVER_RETURNED};

use super::net::{AgentIndex, ClientIndex, DIALER, Endpoint, Network, SimConnId};
use super::sim_io::encode;
use super::trace;

pub const TOMBSTONE: &str = "<absent>";
pub const KEYS: [&str; 4] = ["k0", "k1", "k2", "k3"];
/// The CLI's I/O timeout: past it a client gives up on its request.
pub const CLIENT_TIMEOUT_US: u64 = 15_000_000;
/// Think time between one client's requests.
const MAX_THINK_US: u64 = 40_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Put,
    /// `cas: Some(0)`: create only if absent.
    CasCreate,
    /// `cas: Some(i)` with the ModifyIndex this client last read.
    CasIndex,
    Delete,
    GetDefault,
    GetConsistent,
    GetStale,
}

impl OpKind {
    fn is_write(self) -> bool {
        matches!(
            self,
            OpKind::Put | OpKind::CasCreate | OpKind::CasIndex | OpKind::Delete
        )
    }
}

struct PendingOp {
    kind: OpKind,
    key: String,
    /// What a write writes (the tombstone for a delete).
    value: String,
    call_time: u64,
    issued_us: u64,
    agent: AgentIndex,
    conn: SimConnId,
    request_id: u64,
    /// The request reached the agent: unanswered, it may have happened.
    delivered: bool,
}

#[derive(Default)]
struct SimClient {
    pending: Option<PendingOp>,
    /// Whether the last request finished well (written, or read).
    last_succeeded: Option<bool>,
    next_issue_us: u64,
    connections: BTreeMap<AgentIndex, SimConnId>,
    next_request_id: u64,
    /// ModifyIndex of each key as this client last read it.
    last_read_index: BTreeMap<String, u64>,
}

/// A stale read, checked only for returning something some client wrote.
pub struct StaleRead {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct WorkloadStats {
    pub writes_ok: u64,
    pub cas_ok: u64,
    pub cas_refused: u64,
    pub writes_unknown: u64,
    pub writes_refused: u64,
    pub reads_ok: u64,
    pub stale_reads_ok: u64,
    pub reads_failed: u64,
}

pub struct Workload {
    clients: Vec<SimClient>,
    /// Clients past these are driven one request at a time by the
    /// scenario (the liveness probe, the final reads).
    random_clients: usize,
    rng: SplitMix64,
    /// Logical time of the history: every call and every return is a tick.
    clock: u64,
    next_value: u64,
    pub history: Vec<KvOperation>,
    pub stale_reads: Vec<StaleRead>,
    pub written_values: BTreeSet<String>,
    pub stats: WorkloadStats,
    /// Ops issued per kind weight: put, cas-create, cas-index, delete,
    /// default get, consistent get, stale get.
    weights: [u64; 7],
}

/// What an answer means for the history.
enum Outcome {
    Wrote,
    Read(Option<String>, u64),
    NoEffect,
    Unknown,
}

impl Workload {
    pub fn new(random_clients: usize, driven_clients: usize, seed: u64) -> Workload {
        let mut rng = SplitMix64::new(seed);
        let weights = [
            rng.range(2, 6),
            rng.range(0, 3),
            rng.range(0, 3),
            rng.range(0, 2),
            rng.range(1, 5),
            rng.range(1, 5),
            rng.range(0, 2),
        ];
        let mut history = Vec::new();
        // Every key starts absent: a tombstone written before anything.
        for (client, key) in KEYS.iter().enumerate() {
            history.push(KvOperation {
                client_id: 1000 + client as u64,
                call_time: 0,
                return_time: 1,
                input: KvInput::Put {
                    key: key.to_string(),
                    value: TOMBSTONE.into(),
                },
                output: KvOutput::PutOk,
            });
        }
        Workload {
            clients: (0..random_clients + driven_clients)
                .map(|_| SimClient::default())
                .collect(),
            random_clients,
            rng,
            clock: 2,
            next_value: 1,
            history,
            stale_reads: Vec::new(),
            written_values: BTreeSet::new(),
            stats: WorkloadStats::default(),
            weights,
        }
    }

    /// The first client the scenario drives itself.
    pub fn first_driven_client(&self) -> ClientIndex {
        self.random_clients
    }

    /// Whether `client`'s last request succeeded, once.
    pub fn take_result(&mut self, client: ClientIndex) -> Option<bool> {
        self.clients[client].last_succeeded.take()
    }

    pub fn is_idle(&self, client: ClientIndex) -> bool {
        self.clients[client].pending.is_none()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn random_kind(&mut self) -> OpKind {
        const KINDS: [OpKind; 7] = [
            OpKind::Put,
            OpKind::CasCreate,
            OpKind::CasIndex,
            OpKind::Delete,
            OpKind::GetDefault,
            OpKind::GetConsistent,
            OpKind::GetStale,
        ];
        let total: u64 = self.weights.iter().sum();
        let mut pick = self.rng.range(0, total);
        for (kind, weight) in KINDS.iter().zip(self.weights) {
            if pick < weight {
                return *kind;
            }
            pick -= weight;
        }
        OpKind::Put
    }

    /// Every idle client whose think time is over sends a random request
    /// to one of `targets`.
    pub fn issue_random(&mut self, now_us: u64, net: &mut Network, targets: &[AgentIndex]) {
        if targets.is_empty() {
            return;
        }
        for client in 0..self.random_clients {
            let c = &self.clients[client];
            if c.pending.is_some() || c.next_issue_us > now_us {
                continue;
            }
            let kind = self.random_kind();
            let key = KEYS[self.rng.range(0, KEYS.len() as u64) as usize];
            let agent = targets[self.rng.range(0, targets.len() as u64) as usize];
            self.issue(now_us, net, client, agent, kind, key);
        }
    }

    /// Sends one request from `client` (which must be idle) to `agent`.
    pub fn issue(
        &mut self,
        now_us: u64,
        net: &mut Network,
        client: ClientIndex,
        agent: AgentIndex,
        kind: OpKind,
        key: &str,
    ) {
        let value = match kind {
            OpKind::Delete => TOMBSTONE.to_string(),
            _ => {
                let value = format!("c{client}.{}", self.next_value);
                self.next_value += 1;
                value
            }
        };
        let c = &mut self.clients[client];
        let read_index = c.last_read_index.get(key).copied().unwrap_or(0);
        let body = request_body(kind, key, &value, read_index);
        let conn = *c.connections.entry(agent).or_insert_with(|| {
            let address = net.agents[agent].address;
            net.dial(
                now_us,
                Endpoint::Client(client),
                address,
                concord::wire::frame::Purpose::Client,
                None,
            )
        });
        c.next_request_id += 1;
        let request_id = c.next_request_id;
        let request = ClientRequest { request_id, body };
        net.send(now_us, conn, DIALER, encode(&request));
        if kind.is_write() {
            self.written_values.insert(value.clone());
        }
        let call_time = self.tick();
        trace::sim(|| format!("client {client} -> agent {agent}: {kind:?} {key} {value}"));
        self.clients[client].pending = Some(PendingOp {
            kind,
            key: key.into(),
            value,
            call_time,
            issued_us: now_us,
            agent,
            conn,
            request_id,
            delivered: false,
        });
    }

    /// The agent took the client's request off the wire.
    pub fn on_delivered(&mut self, client: ClientIndex, request_id: u64) {
        if let Some(op) = self.clients[client].pending.as_mut()
            && op.request_id == request_id
        {
            op.delivered = true;
        }
    }

    pub fn on_response(&mut self, now_us: u64, client: ClientIndex, response: ClientResponse) {
        let Some(op) = self.clients[client].pending.as_ref() else {
            return;
        };
        if op.request_id != response.request_id {
            return;
        }
        if let ResponseBody::Err(err) = &response.body
            && err.code == ErrorCode::CasFailed
        {
            self.stats.cas_refused += 1;
        }
        let outcome = outcome_of(op.kind, &response.body);
        trace::sim(|| {
            format!(
                "client {client} <- agent {}: {:?} {} -> {:?}",
                op.agent, op.kind, op.key, response.body
            )
        });
        self.finish(now_us, client, outcome);
    }

    /// The client's connection closed: what it waited for is lost with it.
    pub fn on_closed(&mut self, now_us: u64, client: ClientIndex, conn: SimConnId) {
        self.clients[client].connections.retain(|_, c| *c != conn);
        let Some(op) = self.clients[client].pending.as_ref() else {
            return;
        };
        if op.conn == conn {
            let outcome = if op.delivered {
                Outcome::Unknown
            } else {
                Outcome::NoEffect
            };
            self.finish(now_us, client, outcome);
        }
    }

    /// Requests past the client's timeout are given up (and their
    /// connections closed, as the CLI exits).
    pub fn expire(&mut self, now_us: u64, net: &mut Network) {
        for client in 0..self.clients.len() {
            let Some(op) = self.clients[client].pending.as_ref() else {
                continue;
            };
            if now_us < op.issued_us + CLIENT_TIMEOUT_US {
                continue;
            }
            let (conn, delivered) = (op.conn, op.delivered);
            self.clients[client].connections.retain(|_, c| *c != conn);
            net.close(now_us, conn, DIALER);
            let outcome = if delivered {
                Outcome::Unknown
            } else {
                Outcome::NoEffect
            };
            self.finish(now_us, client, outcome);
        }
    }

    /// Gives up every request still waiting (the end of the run).
    pub fn abandon_all(&mut self, now_us: u64) {
        for client in 0..self.clients.len() {
            if let Some(op) = self.clients[client].pending.as_ref() {
                let outcome = if op.delivered {
                    Outcome::Unknown
                } else {
                    Outcome::NoEffect
                };
                self.finish(now_us, client, outcome);
            }
        }
    }

    fn finish(&mut self, now_us: u64, client: ClientIndex, outcome: Outcome) {
        let op = self.clients[client].pending.take().expect("a pending op");
        let think = self.rng.range(0, MAX_THINK_US);
        self.clients[client].next_issue_us = now_us + think;
        let succeeded = matches!(outcome, Outcome::Wrote | Outcome::Read(..));
        self.clients[client].last_succeeded = Some(succeeded);
        let client_id = client as u64;
        let write = |return_time| KvOperation {
            client_id,
            call_time: op.call_time,
            return_time,
            input: KvInput::Put {
                key: op.key.clone(),
                value: op.value.clone(),
            },
            output: KvOutput::PutOk,
        };
        match outcome {
            Outcome::Wrote => {
                self.stats.writes_ok += 1;
                if matches!(op.kind, OpKind::CasCreate | OpKind::CasIndex) {
                    self.stats.cas_ok += 1;
                }
                let returned = self.tick();
                self.history.push(write(returned));
            }
            Outcome::Unknown if op.kind.is_write() => {
                self.stats.writes_unknown += 1;
                self.history.push(write(NEVER_RETURNED));
            }
            Outcome::Read(value, modify_index) => {
                let returned = self.tick();
                let value = value.unwrap_or_else(|| TOMBSTONE.to_string());
                if modify_index != 0 {
                    let c = &mut self.clients[client];
                    c.last_read_index.insert(op.key.clone(), modify_index);
                }
                if op.kind == OpKind::GetStale {
                    self.stats.stale_reads_ok += 1;
                    self.stale_reads.push(StaleRead { key: op.key, value });
                    return;
                }
                self.stats.reads_ok += 1;
                self.history.push(KvOperation {
                    client_id,
                    call_time: op.call_time,
                    return_time: returned,
                    input: KvInput::Get { key: op.key },
                    output: KvOutput::GetValue(Some(value)),
                });
            }
            Outcome::NoEffect | Outcome::Unknown if op.kind.is_write() => {
                self.stats.writes_refused += 1;
            }
            Outcome::NoEffect | Outcome::Unknown => self.stats.reads_failed += 1,
        }
    }
}

/// The request for `kind`; a CAS on an index uses `read_index`.
fn request_body(kind: OpKind, key: &str, value: &str, read_index: u64) -> RequestBody {
    let key = key.to_string();
    match kind {
        OpKind::Put | OpKind::CasCreate | OpKind::CasIndex => RequestBody::KvPut {
            key,
            value: bytes::Bytes::copy_from_slice(value.as_bytes()),
            cas: match kind {
                OpKind::Put => None,
                OpKind::CasCreate => Some(0),
                _ => Some(read_index),
            },
        },
        OpKind::Delete => RequestBody::KvDelete {
            key,
            recurse: false,
        },
        OpKind::GetDefault | OpKind::GetConsistent | OpKind::GetStale => RequestBody::KvGet {
            key,
            consistency: match kind {
                OpKind::GetDefault => Consistency::Default,
                OpKind::GetConsistent => Consistency::Consistent,
                _ => Consistency::Stale,
            },
        },
    }
}

fn outcome_of(kind: OpKind, body: &ResponseBody) -> Outcome {
    match body {
        ResponseBody::Ok(RpcResult::KvWritten { .. } | RpcResult::KvDeleted { .. })
            if kind.is_write() =>
        {
            Outcome::Wrote
        }
        ResponseBody::Ok(RpcResult::KvValue(entry)) if !kind.is_write() => {
            let value = entry
                .as_ref()
                .map(|e| String::from_utf8_lossy(&e.value).into_owned());
            let modify_index = entry.as_ref().map_or(0, |e| e.modify_index);
            Outcome::Read(value, modify_index)
        }
        ResponseBody::Err(err) if kind.is_write() => {
            // The agent's words decide: only these leave the write's fate open.
            if err.code == ErrorCode::Timeout || err.message.contains("may or may not") {
                Outcome::Unknown
            } else {
                Outcome::NoEffect
            }
        }
        ResponseBody::Err(_) => Outcome::NoEffect,
        other => panic!("a {kind:?} was answered with {other:?}"),
    }
}
