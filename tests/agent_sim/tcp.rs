//! TCP in the simulated network: dialling (with the transport's one
//! link per key and its reconnect backoff), FIFO delivery with a latency
//! per frame, closes that reach the other side after what was in flight,
//! and connections broken by partitions and crashes.

use std::net::SocketAddr;

use concord::agent::io::backoff::Backoff;
use concord::agent::io::connection::ConnectionId;
use concord::agent::io::transport::SendError;
use concord::deterministic_rng::SplitMix64;
use concord::wire::frame::{DEFAULT_MAX_FRAME_BYTES, FrameDecoder, Purpose};

use super::net::{
    ACCEPTOR, AgentIndex, AgentNet, Arrival, DIALER, Endpoint, Event, LinkKey, Network, SimConnId,
    client_address,
};

pub(super) struct Side {
    pub(super) endpoint: Endpoint,
    pub(super) id: ConnectionId,
    pub(super) open: bool,
    /// What this side sees as the other's address (an ephemeral port for
    /// the dialer, as a kernel would pick).
    pub(super) remote: SocketAddr,
    pub(super) decoder: FrameDecoder,
    /// Arrival time of the last frame sent toward this side: later frames
    /// arrive after it (TCP is FIFO).
    pub(super) last_arrival_us: u64,
}

pub(super) struct SimConnection {
    pub(super) purpose: Purpose,
    pub(super) sides: [Side; 2],
    /// The dialer's link this connection serves, if an agent dialled it.
    pub(super) link: Option<LinkKey>,
    /// Whether the peer accepted it; a connection into a black hole or to
    /// a dead agent fails after a delay, with what was sent on it lost.
    pub(super) established: bool,
    pub(super) latency: SplitMix64,
}

/// What one dialled link remembers: its open connection and its backoff.
pub(super) struct Link {
    pub(super) address: SocketAddr,
    pub(super) connection: Option<ConnectionId>,
    pub(super) consecutive_failures: u32,
    pub(super) next_dial_at_us: u64,
}

impl Side {
    fn new(endpoint: Endpoint, id: ConnectionId, remote: SocketAddr, open: bool) -> Side {
        Side {
            endpoint,
            id,
            open,
            remote,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES),
            last_arrival_us: 0,
        }
    }
}

impl Network {
    fn allocate_id(&mut self, endpoint: Endpoint) -> ConnectionId {
        match endpoint {
            Endpoint::Agent(a) => {
                let net = &mut self.agents[a];
                let id = ConnectionId(net.next_id);
                net.next_id += 1;
                id
            }
            Endpoint::Client(_) => ConnectionId(self.next_conn as usize),
        }
    }

    /// Opens a connection from `from` to the agent at `to`. It is usable at
    /// once (frames queue behind the handshake, as with a non-blocking
    /// connect); when nobody can accept it, it fails after a delay.
    pub fn dial(
        &mut self,
        now_us: u64,
        from: Endpoint,
        to: SocketAddr,
        purpose: Purpose,
        link: Option<LinkKey>,
    ) -> SimConnId {
        let conn = SimConnId(self.next_conn);
        let dialer_id = self.allocate_id(from);
        self.next_conn += 1;
        let target = self.agent_at(to);
        let accepted = target.filter(|&t| self.endpoint_reaches(from, t));
        let acceptor_id = accepted.map(|t| self.allocate_id(Endpoint::Agent(t)));
        let acceptor = Endpoint::Agent(accepted.or(target).unwrap_or(0));
        let ephemeral = self.ephemeral_address(from);
        let sides = [
            Side::new(from, dialer_id, to, true),
            Side::new(
                acceptor,
                acceptor_id.unwrap_or(ConnectionId(0)),
                ephemeral,
                accepted.is_some(),
            ),
        ];
        let latency = SplitMix64::new(self.rng.next_u64());
        let connection = SimConnection {
            purpose,
            sides,
            link,
            established: accepted.is_some(),
            latency,
        };
        self.connections.insert(conn, connection);
        if let Endpoint::Agent(a) = from {
            self.agents[a].connections.insert(dialer_id, conn);
        }
        match (accepted, acceptor_id) {
            (Some(t), Some(id)) => {
                self.agents[t].connections.insert(id, conn);
            }
            _ => {
                // Refused at once by a dead host's kernel; a partition
                // drops the SYN and the connect times out.
                let refused = target.is_none_or(|t| !self.agents[t].up);
                let delay = if refused {
                    2 * self.latency()
                } else {
                    self.faults.black_hole_dial_us
                };
                self.push(now_us + delay, Event::DialFailed { conn });
            }
        }
        conn
    }

    /// The dialer's address as the acceptor sees it: its IP, a fresh port.
    fn ephemeral_address(&mut self, from: Endpoint) -> SocketAddr {
        let ip = match from {
            Endpoint::Agent(a) => self.agents[a].address.ip(),
            Endpoint::Client(c) => client_address(c).ip(),
        };
        self.next_ephemeral_port = self.next_ephemeral_port.checked_add(1).unwrap_or(40000);
        SocketAddr::new(ip, self.next_ephemeral_port)
    }

    /// The connection an agent knows as `id`, if it is still open.
    pub fn lookup(&self, agent: AgentIndex, id: ConnectionId) -> Option<SimConnId> {
        self.agents[agent].connections.get(&id).copied()
    }

    /// The open side of `conn` that `endpoint` knows as `id`.
    pub fn side_of(&self, conn: SimConnId, endpoint: Endpoint, id: ConnectionId) -> Option<usize> {
        let c = self.connections.get(&conn)?;
        (0..2).find(|&s| {
            let side = &c.sides[s];
            side.endpoint == endpoint && side.id == id && side.open
        })
    }

    /// An agent's connection and its side, by the ID the agent knows.
    pub fn agent_side(&self, agent: AgentIndex, id: ConnectionId) -> Option<(SimConnId, usize)> {
        let conn = self.lookup(agent, id)?;
        let side = self.side_of(conn, Endpoint::Agent(agent), id)?;
        Some((conn, side))
    }

    pub fn remote_addr(&self, agent: AgentIndex, id: ConnectionId) -> Option<SocketAddr> {
        let (conn, side) = self.agent_side(agent, id)?;
        Some(self.connections[&conn].sides[side].remote)
    }

    pub fn connection_count(&self, agent: AgentIndex) -> usize {
        self.agents[agent].connections.len()
    }

    /// Queues one encoded frame from side `side` of `conn`.
    pub fn send(&mut self, now_us: u64, conn: SimConnId, side: usize, bytes: Vec<u8>) {
        let to_side = 1 - side;
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        if !connection.established || !connection.sides[side].open {
            // Lost with the connection that will never open.
            return;
        }
        let (lo, hi) = (self.faults.min_latency_us, self.faults.max_latency_us);
        let latency = connection.latency.range(lo, hi + 1);
        let target = &mut connection.sides[to_side];
        let at = (now_us + latency).max(target.last_arrival_us);
        target.last_arrival_us = at;
        self.stats.frames += 1;
        self.push(
            at,
            Event::Frame {
                conn,
                to_side,
                bytes,
            },
        );
    }

    /// Side `side` of `conn` closes: its endpoint is told at once (the
    /// loop reports its own closes), the other side after what is in flight.
    pub fn close(&mut self, now_us: u64, conn: SimConnId, side: usize) {
        self.close_side(now_us, conn, side, false, 0);
        let Some(connection) = self.connections.get(&conn) else {
            return;
        };
        let other = &connection.sides[1 - side];
        if connection.established && other.open {
            let at = (now_us + self.faults.min_latency_us).max(other.last_arrival_us);
            self.push(
                at,
                Event::Fin {
                    conn,
                    to_side: 1 - side,
                },
            );
        }
    }

    /// A partition or a crash: both sides fail, what is in flight is lost.
    pub(super) fn break_connection(&mut self, now_us: u64, conn: SimConnId) {
        self.stats.connections_broken += 1;
        for side in [DIALER, ACCEPTOR] {
            let delay = self.latency();
            self.close_side(now_us, conn, side, true, delay);
        }
    }

    /// Closes one side: its agent forgets the ID (a dialled link backs off
    /// when the close was a failure) and is told after `notify_delay_us`.
    fn close_side(
        &mut self,
        now_us: u64,
        conn: SimConnId,
        side: usize,
        failure: bool,
        notify_delay_us: u64,
    ) {
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        let link = connection.link;
        let s = &mut connection.sides[side];
        if !s.open {
            return;
        }
        s.open = false;
        let (endpoint, id) = (s.endpoint, s.id);
        let both_closed = connection.sides.iter().all(|s| !s.open);
        if both_closed {
            self.connections.remove(&conn);
        }
        let incarnation = match endpoint {
            Endpoint::Agent(a) => {
                let net = &mut self.agents[a];
                if !net.up {
                    return;
                }
                net.connections.remove(&id);
                if side == DIALER
                    && let Some(key) = link
                {
                    note_link_closed(net, key, id, failure, now_us, &self.backoff);
                }
                net.incarnation
            }
            Endpoint::Client(_) => 0,
        };
        self.push(
            now_us + notify_delay_us,
            Event::Closed {
                endpoint,
                incarnation,
                id,
                conn,
            },
        );
    }

    /// The peer closed: for a dialled link that counts as a failure, as
    /// the transport's `PeerClosed`.
    pub fn on_fin(&mut self, now_us: u64, conn: SimConnId, to_side: usize) {
        self.close_side(now_us, conn, to_side, true, 0);
    }

    pub fn on_dial_failed(&mut self, now_us: u64, conn: SimConnId) {
        self.stats.dials_failed += 1;
        self.close_side(now_us, conn, DIALER, true, 0);
    }

    /// Feeds a frame to its side's decoder: `None` when that side is gone.
    pub fn arrive(&mut self, conn: SimConnId, to_side: usize, bytes: &[u8]) -> Option<Arrival> {
        let connection = self.connections.get_mut(&conn)?;
        let purpose = connection.purpose;
        let peer = connection.sides[1 - to_side].endpoint;
        let side = &mut connection.sides[to_side];
        if !side.open {
            return None;
        }
        let mut frames = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let taken = side.decoder.feed(rest);
            rest = &rest[taken..];
            match side.decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) if taken == 0 => panic!("the frame decoder took nothing"),
                Ok(None) => {}
                Err(err) => panic!("a frame from the real encoder did not decode: {err}"),
            }
        }
        Some(Arrival {
            endpoint: side.endpoint,
            peer,
            id: side.id,
            conn,
            purpose,
            dialled: to_side == DIALER,
            frames,
        })
    }

    // ---- links: the transport's dial-once-and-reuse with backoff ----

    /// The open connection for `key`, dialling `address` if there is none
    /// and the backoff allows (the transport's `link_connection`).
    pub fn link(
        &mut self,
        now_us: u64,
        agent: AgentIndex,
        key: LinkKey,
        address: SocketAddr,
    ) -> Result<ConnectionId, SendError> {
        let net = &mut self.agents[agent];
        let link = net.links.entry(key).or_insert(Link {
            address,
            connection: None,
            consecutive_failures: 0,
            next_dial_at_us: now_us,
        });
        let mut moved = None;
        if link.address != address {
            moved = link.connection.take();
            link.address = address;
            link.consecutive_failures = 0;
            link.next_dial_at_us = now_us;
        }
        if let Some(old) = moved
            && let Some((conn, side)) = self.agent_side(agent, old)
        {
            self.close(now_us, conn, side);
        }
        let link = &self.agents[agent].links[&key];
        if let Some(id) = link.connection {
            return Ok(id);
        }
        if now_us < link.next_dial_at_us {
            let retry_in = std::time::Duration::from_micros(link.next_dial_at_us - now_us);
            return Err(SendError::PeerBackingOff { retry_in });
        }
        let conn = self.dial(
            now_us,
            Endpoint::Agent(agent),
            address,
            key.purpose(),
            Some(key),
        );
        let c = &self.connections[&conn];
        let (id, established) = (c.sides[DIALER].id, c.established);
        let link = self.agents[agent].links.get_mut(&key).expect("inserted");
        link.connection = Some(id);
        if established {
            link.consecutive_failures = 0;
        }
        Ok(id)
    }
}

fn note_link_closed(
    net: &mut AgentNet,
    key: LinkKey,
    id: ConnectionId,
    failure: bool,
    now_us: u64,
    backoff: &Backoff,
) {
    let Some(link) = net.links.get_mut(&key) else {
        return;
    };
    if link.connection != Some(id) {
        return;
    }
    link.connection = None;
    // As the transport: a link that broke or never connected waits before
    // redialling; our own close does not count as a failure.
    if failure {
        link.consecutive_failures = link.consecutive_failures.saturating_add(1);
        let delay = backoff.delay(link.consecutive_failures);
        link.next_dial_at_us = now_us + delay.as_micros() as u64;
    }
}
