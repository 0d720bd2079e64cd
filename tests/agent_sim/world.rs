//! The simulated world and its clock: agents, the network, the clients.
//! Time moves from one scheduled instant to the next (a delivery, an
//! agent's 10 ms tick, off-loop work finishing, a scenario decision); at
//! each instant every agent gets what is due for it as the event loop would
//! hand it over (tick then turn end, then inputs, then one turn end for
//! the inputs), and then every invariant is checked.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use concord::agent::handler::AgentHandler;
use concord::agent::io::event_loop::TICK_INTERVAL;
use concord::agent::seam::{Handler, StopReason};
use concord::wire::client_message::{ClientRequest, ClientResponse};
use concord::wire::frame::{Frame, Purpose};
use concord::wire::raft_message::RaftMessage;

use super::checks::Checks;
use super::net::{AgentIndex, Arrival, ClientIndex, Endpoint, Event, Network};
use super::node::{Agent, Status};
use super::sim_io::{OffLoopPolicy, SimIo};
use super::trace;
use super::workload::Workload;

/// The operator's client index: its requests (join, leave) are not part of
/// the history.
pub const OPERATOR: ClientIndex = 200;

/// A response to the operator, for the scenario to act on.
pub struct OperatorResponse {
    pub conn: super::net::SimConnId,
    pub response: Option<ClientResponse>,
}

pub struct World {
    pub now_us: u64,
    base: Instant,
    pub net: Network,
    pub agents: Vec<Agent>,
    pub workload: Workload,
    pub checks: Checks,
    pub off_loop: OffLoopPolicy,
    /// Agents the scenario stopped with SIGTERM: their stop is expected.
    pub terminating: Vec<bool>,
    pub operator_inbox: Vec<OperatorResponse>,
    pub steps: u64,
}

impl World {
    pub fn new(
        net: Network,
        agents: Vec<Agent>,
        workload: Workload,
        off_loop: OffLoopPolicy,
    ) -> World {
        let count = agents.len();
        World {
            now_us: 0,
            base: Instant::now(),
            net,
            agents,
            workload,
            checks: Checks::new(count),
            off_loop,
            terminating: vec![false; count],
            operator_inbox: Vec::new(),
            steps: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.base + Duration::from_micros(self.now_us)
    }

    pub fn address(&self, agent: AgentIndex) -> SocketAddr {
        self.agents[agent].address
    }

    /// Calls the agent's handler with a fresh `SimIo` (nothing when it is
    /// not running).
    pub fn with_agent<R>(
        &mut self,
        index: AgentIndex,
        f: impl FnOnce(&mut AgentHandler, &mut SimIo) -> R,
    ) -> Option<R> {
        let agent = &mut self.agents[index];
        let handler = agent.handler.as_mut()?;
        trace::set_context(self.now_us, &agent.name);
        agent.touched = true;
        let mut io = SimIo {
            agent: index,
            now_us: self.now_us,
            base: self.base,
            net: &mut self.net,
            entropy: &mut agent.entropy,
            stop: &mut agent.stop,
            deferred: &mut agent.deferred,
            off_loop: self.off_loop,
        };
        Some(f(handler, &mut io))
    }

    pub fn start_agent(&mut self, index: AgentIndex) {
        let phase = self.agents[index]
            .entropy
            .range(1, TICK_INTERVAL.as_micros() as u64);
        trace::set_context(self.now_us, &self.agents[index].name);
        trace::sim(|| format!("start {}", self.agents[index].name));
        let (now, now_us) = (self.now(), self.now_us);
        self.agents[index].start(now, now_us, phase);
        self.net.agent_started(index);
        self.checks.agent_started(index);
        self.terminating[index] = false;
    }

    /// The agent's process ends (killed, or its loop stopped).
    pub fn stop_agent(&mut self, index: AgentIndex, status: Status) {
        trace::sim(|| format!("stop {} ({status:?})", self.agents[index].name));
        self.agents[index].kill(status);
        self.net.agent_stopped(self.now_us, index);
    }

    /// The next instant anything is scheduled at, no later than `limit_us`.
    fn next_instant(&self, limit_us: u64) -> u64 {
        let mut next = limit_us;
        if let Some(at) = self.net.next_event_us() {
            next = next.min(at);
        }
        for agent in self.agents.iter().filter(|a| a.is_up()) {
            next = next.min(agent.next_tick_us);
            for work in &agent.deferred {
                next = next.min(work.due_us);
            }
        }
        next.max(self.now_us)
    }

    /// Runs every instant up to and including `until_us`.
    pub fn run_until(&mut self, until_us: u64) -> Result<(), String> {
        while self.now_us < until_us {
            let next = self.next_instant(until_us);
            self.step(next)?;
            if next == until_us {
                break;
            }
        }
        Ok(())
    }

    /// One instant: off-loop work that finished, ticks, deliveries, turn
    /// ends, stops; then the invariants.
    fn step(&mut self, at_us: u64) -> Result<(), String> {
        self.now_us = at_us;
        self.steps += 1;
        self.run_deferred();
        self.run_ticks();
        while let Some(event) = self.net.pop_due(self.now_us) {
            self.dispatch(event);
        }
        for index in 0..self.agents.len() {
            if std::mem::take(&mut self.agents[index].touched) {
                self.with_agent(index, |h, io| h.on_turn_end(io));
                self.agents[index].touched = false;
            }
        }
        self.reap_stopped()?;
        self.checks.after_step(&mut self.agents, &self.workload)
    }

    fn run_deferred(&mut self) {
        let now_us = self.now_us;
        for agent in self.agents.iter_mut().filter(|a| a.is_up()) {
            let mut i = 0;
            while i < agent.deferred.len() {
                if agent.deferred[i].due_us <= now_us {
                    let work = agent.deferred.remove(i);
                    trace::set_context(now_us, &agent.name);
                    trace::sim(|| format!("off-loop {} done", work.name));
                    (work.work)();
                } else {
                    i += 1;
                }
            }
        }
    }

    fn run_ticks(&mut self) {
        let interval = TICK_INTERVAL.as_micros() as u64;
        for index in 0..self.agents.len() {
            let agent = &self.agents[index];
            if !agent.is_up() || agent.next_tick_us > self.now_us {
                continue;
            }
            self.agents[index].next_tick_us += interval;
            self.with_agent(index, |h, io| {
                h.on_tick(io);
                h.on_turn_end(io);
            });
            self.agents[index].touched = false;
        }
    }

    fn dispatch(&mut self, event: Event) {
        let now_us = self.now_us;
        match event {
            Event::Frame {
                conn,
                to_side,
                bytes,
            } => {
                if let Some(arrival) = self.net.arrive(conn, to_side, &bytes) {
                    self.deliver(arrival);
                }
            }
            Event::Fin { conn, to_side } => self.net.on_fin(now_us, conn, to_side),
            Event::DialFailed { conn } => self.net.on_dial_failed(now_us, conn),
            Event::Closed {
                endpoint,
                incarnation,
                id,
                conn,
            } => match endpoint {
                Endpoint::Agent(a) => {
                    if self.net.agents[a].incarnation == incarnation {
                        self.with_agent(a, |h, io| h.on_connection_closed(id, io));
                    }
                }
                Endpoint::Client(OPERATOR) => self.operator_inbox.push(OperatorResponse {
                    conn,
                    response: None,
                }),
                Endpoint::Client(c) => self.workload.on_closed(now_us, c, conn),
            },
            Event::Datagram { from, to, bytes } => {
                if let Some(a) = self.net.datagram_arrives(from, to) {
                    self.with_agent(a, |h, io| h.on_datagram(from, &bytes, io));
                }
            }
        }
    }

    fn deliver(&mut self, mut arrival: Arrival) {
        for frame in std::mem::take(&mut arrival.frames) {
            match arrival.endpoint {
                Endpoint::Client(client) => {
                    let response: ClientResponse = decode(&frame);
                    if client == OPERATOR {
                        self.operator_inbox.push(OperatorResponse {
                            conn: arrival.conn,
                            response: Some(response),
                        });
                    } else {
                        self.workload.on_response(self.now_us, client, response);
                    }
                }
                Endpoint::Agent(agent) => self.deliver_to_agent(agent, &arrival, frame),
            }
        }
    }

    fn deliver_to_agent(&mut self, agent: AgentIndex, arrival: &Arrival, frame: Frame) {
        let id = arrival.id;
        match (arrival.purpose, arrival.dialled) {
            (Purpose::Client, true) => {
                let response: ClientResponse = decode(&frame);
                self.with_agent(agent, |h, io| h.on_client_response(id, response, io));
            }
            (Purpose::Client, false) => {
                let request: ClientRequest = decode(&frame);
                if let Endpoint::Client(client) = arrival.peer
                    && client != OPERATOR
                {
                    self.workload.on_delivered(client, request.request_id);
                }
                self.with_agent(agent, |h, io| h.on_client_request(id, request, io));
            }
            (Purpose::Raft, _) => {
                let message: RaftMessage = decode(&frame);
                self.with_agent(agent, |h, io| h.on_raft_message(id, message, io));
            }
            (Purpose::GossipSync, _) => {
                self.with_agent(agent, |h, io| h.on_gossip_sync_frame(id, frame, io));
            }
        }
    }

    /// Agents whose loop was stopped exit. A stop the scenario did not ask
    /// for (the agent gave up on its storage) fails the run.
    fn reap_stopped(&mut self) -> Result<(), String> {
        for index in 0..self.agents.len() {
            let Some(reason) = self.agents[index].stop else {
                continue;
            };
            let status = match reason {
                StopReason::Left => Status::Left,
                StopReason::Terminated if self.terminating[index] => Status::Down,
                other => {
                    return Err(format!(
                        "{} stopped by itself ({other:?})",
                        self.agents[index].name
                    ));
                }
            };
            self.stop_agent(index, status);
        }
        Ok(())
    }

    /// The live server that leads in the highest term, if any.
    pub fn leader(&self) -> Option<AgentIndex> {
        self.agents
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.handler.as_ref()?.raft().map(|r| (i, r)))
            .filter(|(_, raft)| raft.is_leader())
            .max_by_key(|(_, raft)| raft.node().term())
            .map(|(i, _)| i)
    }

    pub fn up_agents(&self) -> Vec<AgentIndex> {
        (0..self.agents.len())
            .filter(|&i| self.agents[i].is_up())
            .collect()
    }

    /// One line per agent: role, term, commit and applied indexes.
    pub fn describe(&self) -> String {
        let mut lines = Vec::new();
        for agent in &self.agents {
            let state = match agent.handler.as_ref().and_then(|h| h.raft()) {
                Some(raft) => {
                    let status = raft.node().status();
                    let voters: Vec<String> = status
                        .configuration
                        .servers
                        .iter()
                        .map(|s| format!("{}:{:?}", s.name, s.suffrage))
                        .collect();
                    format!(
                        "{:?} term {} leader {:?} commit {} applied {} last {} snapshot {} config {voters:?}",
                        status.role,
                        status.term,
                        status.leader.map(|l| format!("{l:016x}")),
                        status.commit_index,
                        raft.state().applied_index(),
                        status.last_log_index,
                        status.snapshot_index
                    )
                }
                None if agent.is_up() => "client agent".into(),
                None => String::new(),
            };
            lines.push(format!("  {} {:?} {state}", agent.name, agent.status));
        }
        lines.join("\n")
    }
}

fn decode<M: concord::wire::message::Message>(frame: &Frame) -> M {
    frame
        .decode()
        .unwrap_or_else(|err| panic!("a frame from the real encoder did not decode: {err}"))
}
