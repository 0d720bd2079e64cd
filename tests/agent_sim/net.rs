//! The simulated network: TCP connections as explicit pairs of sides (the
//! dialer's and the acceptor's connection IDs, each in its own agent's ID
//! space), FIFO with a seeded latency per message, broken by partitions and
//! crashes; UDP datagrams with delay, loss and duplication; symmetric and
//! one-way partitions. Every frame is real bytes from `encode_frame`, read
//! back through a `FrameDecoder` per side, as the event loop reads them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;

use concord::agent::io::backoff::Backoff;
use concord::agent::io::connection::ConnectionId;
use concord::deterministic_rng::SplitMix64;
use concord::wire::frame::{Frame, Purpose};
use concord::wire::raft_message::NodeId;

use super::tcp::{Link, SimConnection};

pub type AgentIndex = usize;
pub type ClientIndex = usize;

/// Who holds one side of a connection: an agent, or a simulated client
/// (the `node` CLI, an operator) outside the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    Agent(AgentIndex),
    Client(ClientIndex),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SimConnId(pub u64);

/// The dialled connections an agent keeps, one per key (as the transport's
/// `LinkKey`, ordered so iteration is deterministic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkKey {
    Raft(NodeId),
    Client(SocketAddr),
    GossipSync(SocketAddr),
}

impl LinkKey {
    pub(super) fn purpose(self) -> Purpose {
        match self {
            LinkKey::Raft(_) => Purpose::Raft,
            LinkKey::Client(_) => Purpose::Client,
            LinkKey::GossipSync(_) => Purpose::GossipSync,
        }
    }
}

pub const DIALER: usize = 0;
pub const ACCEPTOR: usize = 1;

/// One agent's view of the network: its address, its connections by the
/// IDs it knows them by, and its links.
pub struct AgentNet {
    pub address: SocketAddr,
    pub up: bool,
    /// Bumped at every start: notifications for an earlier run are dropped.
    pub incarnation: u64,
    pub(super) connections: BTreeMap<ConnectionId, SimConnId>,
    pub(super) links: BTreeMap<LinkKey, Link>,
    pub(super) next_id: usize,
}

/// Something the network delivers at a given time.
pub enum Event {
    Frame {
        conn: SimConnId,
        to_side: usize,
        bytes: Vec<u8>,
    },
    /// The other end closed: after the frames it sent before.
    Fin { conn: SimConnId, to_side: usize },
    /// A dial that nobody answered fails.
    DialFailed { conn: SimConnId },
    /// Tell an endpoint its connection closed.
    Closed {
        endpoint: Endpoint,
        incarnation: u64,
        id: ConnectionId,
        conn: SimConnId,
    },
    Datagram {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
}

/// What a delivered frame is, for the dispatcher.
pub struct Arrival {
    pub endpoint: Endpoint,
    /// Who holds the other side.
    pub peer: Endpoint,
    pub id: ConnectionId,
    pub conn: SimConnId,
    pub purpose: Purpose,
    /// Arrived on a connection this endpoint dialled.
    pub dialled: bool,
    pub frames: Vec<Frame>,
}

/// Per-seed knobs of the network.
#[derive(Debug, Clone)]
pub struct NetFaults {
    pub min_latency_us: u64,
    pub max_latency_us: u64,
    pub datagram_loss_per_mille: u64,
    pub datagram_duplicate_per_mille: u64,
    /// How long a dial into a partition hangs before it fails.
    pub black_hole_dial_us: u64,
}

pub struct Network {
    pub agents: Vec<AgentNet>,
    pub(super) connections: BTreeMap<SimConnId, SimConnection>,
    pub(super) next_conn: u64,
    pub(super) queue: BinaryHeap<Reverse<(u64, u64)>>,
    pub(super) events: BTreeMap<u64, Event>,
    pub(super) next_seq: u64,
    /// (from, to): packets from `from` to `to` are dropped.
    pub(super) blocked: BTreeSet<(AgentIndex, AgentIndex)>,
    pub faults: NetFaults,
    pub(super) rng: SplitMix64,
    pub(super) backoff: Backoff,
    pub(super) next_ephemeral_port: u16,
    pub stats: NetStats,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NetStats {
    pub frames: u64,
    pub datagrams: u64,
    pub datagrams_lost: u64,
    pub connections_broken: u64,
    pub dials_failed: u64,
}

pub(super) fn client_address(client: ClientIndex) -> SocketAddr {
    SocketAddr::from(([10, 0, 9, (client % 250) as u8 + 1], 50000))
}

impl Network {
    pub fn new(addresses: &[SocketAddr], faults: NetFaults, seed: u64) -> Network {
        Network {
            agents: addresses
                .iter()
                .map(|&address| AgentNet {
                    address,
                    up: false,
                    incarnation: 0,
                    connections: BTreeMap::new(),
                    links: BTreeMap::new(),
                    next_id: 1,
                })
                .collect(),
            connections: BTreeMap::new(),
            next_conn: 1,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_seq: 0,
            blocked: BTreeSet::new(),
            faults,
            rng: SplitMix64::new(seed),
            backoff: Backoff::default(),
            next_ephemeral_port: 40000,
            stats: NetStats::default(),
        }
    }

    pub(super) fn push(&mut self, at_us: u64, event: Event) {
        self.next_seq += 1;
        self.events.insert(self.next_seq, event);
        self.queue.push(Reverse((at_us, self.next_seq)));
    }

    pub fn next_event_us(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    pub fn pop_due(&mut self, now_us: u64) -> Option<Event> {
        let Reverse((at, seq)) = *self.queue.peek()?;
        if at > now_us {
            return None;
        }
        self.queue.pop();
        self.events.remove(&seq)
    }

    pub(super) fn latency(&mut self) -> u64 {
        let (lo, hi) = (self.faults.min_latency_us, self.faults.max_latency_us);
        self.rng.range(lo, hi + 1)
    }

    pub fn agent_at(&self, address: SocketAddr) -> Option<AgentIndex> {
        self.agents.iter().position(|a| a.address == address)
    }

    /// Whether TCP works between two agents: it needs both directions.
    pub fn connected(&self, a: AgentIndex, b: AgentIndex) -> bool {
        self.agents[a].up
            && self.agents[b].up
            && !self.blocked.contains(&(a, b))
            && !self.blocked.contains(&(b, a))
    }

    pub(super) fn endpoint_reaches(&self, from: Endpoint, to: AgentIndex) -> bool {
        match from {
            Endpoint::Agent(a) => self.connected(a, to),
            // Clients stand outside the cluster and reach every live agent
            // (Jepsen's model: the partitions are between the nodes).
            Endpoint::Client(_) => self.agents[to].up,
        }
    }

    // ---- agents starting and stopping ----

    pub fn agent_started(&mut self, agent: AgentIndex) {
        let net = &mut self.agents[agent];
        net.up = true;
        net.incarnation += 1;
    }

    /// The agent's process is gone: its connections break (the peers are
    /// told), its links and everything in flight to it are forgotten.
    pub fn agent_stopped(&mut self, now_us: u64, agent: AgentIndex) {
        self.agents[agent].up = false;
        let conns: Vec<SimConnId> = self.agents[agent].connections.values().copied().collect();
        for conn in conns {
            self.break_connection(now_us, conn);
        }
        let net = &mut self.agents[agent];
        net.connections.clear();
        net.links.clear();
    }

    // ---- partitions ----

    pub fn block(&mut self, now_us: u64, from: AgentIndex, to: AgentIndex) {
        if from == to || !self.blocked.insert((from, to)) {
            return;
        }
        let crossing: Vec<SimConnId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                let ends = (c.sides[DIALER].endpoint, c.sides[ACCEPTOR].endpoint);
                ends == (Endpoint::Agent(from), Endpoint::Agent(to))
                    || ends == (Endpoint::Agent(to), Endpoint::Agent(from))
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in crossing {
            self.break_connection(now_us, conn);
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    pub fn is_partitioned(&self) -> bool {
        !self.blocked.is_empty()
    }

    // ---- datagrams ----

    pub fn send_datagram(&mut self, now_us: u64, from: AgentIndex, to: SocketAddr, bytes: &[u8]) {
        self.stats.datagrams += 1;
        let Some(target) = self.agent_at(to) else {
            return;
        };
        if self.blocked.contains(&(from, target))
            || self.rng.range(0, 1000) < self.faults.datagram_loss_per_mille
        {
            self.stats.datagrams_lost += 1;
            return;
        }
        let copies = if self.rng.range(0, 1000) < self.faults.datagram_duplicate_per_mille {
            2
        } else {
            1
        };
        let from = self.agents[from].address;
        for _ in 0..copies {
            let at = now_us + self.latency();
            self.push(
                at,
                Event::Datagram {
                    from,
                    to,
                    bytes: bytes.to_vec(),
                },
            );
        }
    }

    /// Whether a datagram still reaches `to` at arrival (a partition that
    /// began while it was in flight drops it).
    pub fn datagram_arrives(&self, from: SocketAddr, to: SocketAddr) -> Option<AgentIndex> {
        let target = self.agent_at(to)?;
        if !self.agents[target].up {
            return None;
        }
        match self.agent_at(from) {
            Some(source) if self.blocked.contains(&(source, target)) => None,
            _ => Some(target),
        }
    }
}
