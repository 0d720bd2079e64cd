//! The peer port: one TCP listener and one UDP socket on the same address
//! (TCP for Raft, client RPC and gossip sync; UDP for gossip probes), the
//! open connections, and one outbound connection per peer with reconnect
//! backoff. Owned by the event loop; handlers reach it through
//! [`crate::agent::seam::Io`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::wire::frame::DEFAULT_MAX_FRAME_BYTES;

use crate::agent::io::accept::{self, Acceptor};
use crate::agent::io::backoff::Backoff;
use crate::agent::io::connection::{Connection, ConnectionError, ConnectionId, Direction, LinkKey};

pub(crate) const LISTENER_TOKEN: Token = Token(0);
pub(crate) const UDP_TOKEN: Token = Token(1);
pub(crate) const SIGNAL_TOKEN: Token = Token(2);
pub(crate) const WAKER_TOKEN: Token = Token(3);
const FIRST_CONNECTION_TOKEN: usize = 16;

/// Every bound of the transport, named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    pub max_frame_bytes: u32,
    /// Bytes queued for one connection before it counts as not reading.
    pub max_write_queue_bytes: usize,
    /// Open connections, inbound and outbound together.
    pub max_connections: usize,
    /// An inbound connection must send its preamble within this time, so
    /// half-open or silent sockets cannot pin connection slots.
    pub handshake_timeout: Duration,
    /// A connection with no traffic either way for this long is closed.
    pub idle_timeout: Duration,
    pub reconnect_backoff: Backoff,
    /// Bytes read from one connection per readiness event before the loop
    /// serves others (the rest is read on the next turn).
    pub max_read_bytes_per_event: usize,
    /// Datagrams read per readiness event, for the same fairness.
    pub max_datagrams_per_event: usize,
    /// Connections accepted per readiness event, for the same fairness.
    pub max_accepts_per_event: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            // Two full-size frames: room for a snapshot chunk behind a batch.
            max_write_queue_bytes: 32 * 1024 * 1024,
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
            reconnect_backoff: Backoff::default(),
            max_read_bytes_per_event: 1024 * 1024,
            max_datagrams_per_event: 256,
            max_accepts_per_event: 64,
        }
    }
}

/// Counters for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    pub accepted: u64,
    pub refused_over_limit: u64,
    pub closed_malformed: u64,
    pub closed_backpressure: u64,
    pub closed_handshake_timeout: u64,
    pub closed_idle: u64,
    pub dropped_messages: u64,
    pub datagrams_received: u64,
    pub datagrams_dropped: u64,
    pub dial_attempts: u64,
}

#[derive(Debug)]
pub enum SendError {
    /// The connection is gone (closed by the peer or by us).
    UnknownConnection(ConnectionId),
    /// An HTTP answer for a connection with no request waiting for one.
    NoRequestWaiting(ConnectionId),
    /// The connection's write queue is full; the message was dropped.
    QueueFull(ConnectionError),
    /// The peer is in reconnect backoff; the message was dropped.
    PeerBackingOff {
        retry_in: Duration,
    },
    DatagramTooLarge {
        size: usize,
        max: usize,
    },
    Io(io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::UnknownConnection(id) => write!(f, "connection {} is closed", id.0),
            SendError::NoRequestWaiting(id) => {
                write!(
                    f,
                    "no HTTP request waits for an answer on connection {}",
                    id.0
                )
            }
            SendError::QueueFull(err) => write!(f, "{err}"),
            SendError::PeerBackingOff { retry_in } => {
                write!(
                    f,
                    "peer unreachable, next dial in {} ms",
                    retry_in.as_millis()
                )
            }
            SendError::DatagramTooLarge { size, max } => {
                write!(f, "datagram of {size} bytes exceeds {max}")
            }
            SendError::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for SendError {}

#[derive(Debug)]
pub enum BindError {
    Tcp {
        address: SocketAddr,
        source: io::Error,
    },
    Udp {
        address: SocketAddr,
        source: io::Error,
    },
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::Tcp { address, source } => {
                write!(f, "cannot bind TCP {address}: {source}")
            }
            BindError::Udp { address, source } => {
                write!(f, "cannot bind UDP {address}: {source}")
            }
        }
    }
}

impl std::error::Error for BindError {}

/// Our one dialled connection to a peer, and when we may dial again.
#[derive(Debug)]
struct PeerLink {
    address: SocketAddr,
    connection: Option<ConnectionId>,
    consecutive_failures: u32,
    next_dial_at: Instant,
}

/// Why a connection was closed (for the log and the counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    PeerClosed,
    Io(String),
    Malformed(String),
    Backpressure,
    HandshakeTimeout,
    Idle,
    Requested,
}

/// The transport's fields an accepted connection goes into.
struct PeerAccept<'a> {
    connections: &'a mut HashMap<ConnectionId, Connection>,
    next_token: &'a mut usize,
    limits: &'a TransportLimits,
    stats: &'a mut TransportStats,
    now: Instant,
}

impl Acceptor for PeerAccept<'_> {
    const TARGET: &'static str = "agent";

    fn admit(&mut self, _stream: &mut TcpStream, remote: SocketAddr) -> Option<ConnectionId> {
        if self.connections.len() >= self.limits.max_connections {
            self.stats.refused_over_limit += 1;
            log::warn!(target: "agent",
                "refusing connection from {remote}: {} connections open",
                self.connections.len());
            return None;
        }
        let id = ConnectionId(*self.next_token);
        *self.next_token += 1;
        Some(id)
    }

    fn adopt(&mut self, id: ConnectionId, stream: TcpStream, remote: SocketAddr) {
        self.stats.accepted += 1;
        log::debug!(target: "agent", "accepted connection {} from {remote}", id.0);
        let limits = &self.limits;
        let connection = Connection::inbound(
            stream,
            remote,
            limits.max_frame_bytes,
            limits.max_write_queue_bytes,
            self.now,
        );
        self.connections.insert(id, connection);
    }
}

pub struct Transport {
    listener: TcpListener,
    pub(crate) udp: UdpSocket,
    local_addr: SocketAddr,
    registry: Registry,
    pub(crate) connections: HashMap<ConnectionId, Connection>,
    next_token: usize,
    /// At most `max_connections` entries (idle ones are evicted first).
    links: HashMap<LinkKey, PeerLink>,
    pub(crate) limits: TransportLimits,
    pub(crate) stats: TransportStats,
    /// Connections closed since the loop last told the handler.
    pub(crate) closed: Vec<ConnectionId>,
    /// Connections with queued bytes to write at the end of this turn; each
    /// appears once (`Connection::flush_scheduled`), so the list is bounded
    /// by the connection count.
    flush_list: Vec<ConnectionId>,
}

/// Starts a non-blocking connect to `address` leaving from `local_ip`
/// (port 0: the kernel picks the port). Without the bind the kernel picks
/// the source by route, 127.0.0.1 for every loopback agent, so a peer could
/// not tell two agents on 127.0.0.x apart (in its log, in the join source,
/// or to a partition rule that filters by source address). An unspecified
/// `local_ip` (agent bound to 0.0.0.0) or one of the other family leaves
/// the choice to the kernel, as before.
fn dial(local_ip: IpAddr, address: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    if !local_ip.is_unspecified() && local_ip.is_ipv4() == address.is_ipv4() {
        socket.bind(&SocketAddr::new(local_ip, 0).into())?;
    }
    match socket.connect(&address.into()) {
        Ok(()) => {}
        // The connect completes later; the loop learns of it when the
        // socket turns writable (`Connection::finish_connect`).
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(err),
    }
    Ok(TcpStream::from_std(socket.into()))
}

impl Transport {
    /// Binds TCP and UDP on `address`. With port 0 the UDP socket takes the
    /// port the kernel gave the TCP listener, so both share one port.
    pub fn bind(
        address: SocketAddr,
        registry: &Registry,
        limits: TransportLimits,
    ) -> Result<Transport, BindError> {
        let mut listener =
            TcpListener::bind(address).map_err(|source| BindError::Tcp { address, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| BindError::Tcp { address, source })?;
        let mut udp = UdpSocket::bind(local_addr).map_err(|source| BindError::Udp {
            address: local_addr,
            source,
        })?;
        let registry = registry
            .try_clone()
            .map_err(|source| BindError::Tcp { address, source })?;
        registry
            .register(&mut listener, LISTENER_TOKEN, Interest::READABLE)
            .and_then(|()| registry.register(&mut udp, UDP_TOKEN, Interest::READABLE))
            .map_err(|source| BindError::Tcp { address, source })?;
        Ok(Transport {
            listener,
            udp,
            local_addr,
            registry,
            connections: HashMap::new(),
            next_token: FIRST_CONNECTION_TOKEN,
            links: HashMap::new(),
            limits,
            stats: TransportStats::default(),
            closed: Vec::new(),
            flush_list: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Accepts pending connections, at most `max_accepts_per_event` so a
    /// connection flood cannot starve established peers. Returns whether
    /// more may be pending.
    pub(crate) fn accept_pending(&mut self, now: Instant) -> bool {
        let mut into = PeerAccept {
            connections: &mut self.connections,
            next_token: &mut self.next_token,
            limits: &self.limits,
            stats: &mut self.stats,
            now,
        };
        let quota = into.limits.max_accepts_per_event;
        accept::accept_pending(&self.listener, &self.registry, quota, &mut into)
    }

    pub(crate) fn close(&mut self, id: ConnectionId, reason: CloseReason, now: Instant) {
        let Some(mut connection) = self.connections.remove(&id) else {
            return;
        };
        let _ = self.registry.deregister(&mut connection.stream);
        match &reason {
            CloseReason::Malformed(why) => {
                self.stats.closed_malformed += 1;
                log::warn!(target: "agent",
                    "closing connection from {}: malformed input: {why}", connection.remote);
            }
            CloseReason::Backpressure => {
                self.stats.closed_backpressure += 1;
                log::warn!(target: "agent",
                    "closing connection to {}: it does not read ({} bytes queued)",
                    connection.remote, connection.queued_bytes());
            }
            CloseReason::HandshakeTimeout => {
                self.stats.closed_handshake_timeout += 1;
                log::warn!(target: "agent",
                    "closing connection from {}: no preamble within {} ms",
                    connection.remote, self.limits.handshake_timeout.as_millis());
            }
            CloseReason::Idle => {
                self.stats.closed_idle += 1;
                log::debug!(target: "agent", "closing idle connection to {}", connection.remote);
            }
            CloseReason::Io(why) => {
                log::debug!(target: "agent", "connection to {} failed: {why}", connection.remote);
            }
            CloseReason::PeerClosed | CloseReason::Requested => {
                log::debug!(target: "agent", "connection to {} closed", connection.remote);
            }
        }
        if let Direction::Outbound { link: key } = connection.direction
            && let Some(link) = self.links.get_mut(&key)
            && link.connection == Some(id)
        {
            link.connection = None;
            // A link that never connected, or broke, waits before redialling;
            // an idle close or our own close does not count as a failure.
            if !matches!(reason, CloseReason::Idle | CloseReason::Requested) {
                link.consecutive_failures = link.consecutive_failures.saturating_add(1);
                link.next_dial_at = now
                    + self
                        .limits
                        .reconnect_backoff
                        .delay(link.consecutive_failures);
            }
        }
        self.closed.push(id);
    }

    /// Queues a frame on a connection, encoded by `encode` straight into its
    /// write queue ([`Connection::enqueue_with`]); it is written at the end
    /// of the loop's turn (`flush_scheduled`). A full queue closes client connections (the client is not
    /// reading its answers) but only drops the message on a peer link
    /// (Raft retransmits; the rest of the queue is still worth sending).
    pub(crate) fn send_with(
        &mut self,
        id: ConnectionId,
        encode: impl FnOnce(&mut Vec<u8>),
        now: Instant,
    ) -> Result<(), SendError> {
        let connection = self
            .connections
            .get_mut(&id)
            .ok_or(SendError::UnknownConnection(id))?;
        if let Err(err) = connection.enqueue_with(encode) {
            self.stats.dropped_messages += 1;
            if connection.direction == Direction::Inbound {
                self.close(id, CloseReason::Backpressure, now);
            } else {
                log::warn!(target: "agent",
                    "dropping message to {}: {err}", connection.remote);
            }
            return Err(SendError::QueueFull(err));
        }
        if !connection.flush_scheduled {
            connection.flush_scheduled = true;
            self.flush_list.push(id);
        }
        Ok(())
    }

    /// Writes what was queued during this turn of the loop.
    pub(crate) fn flush_scheduled(&mut self, now: Instant) {
        let scheduled = std::mem::take(&mut self.flush_list);
        for id in scheduled {
            let Some(connection) = self.connections.get_mut(&id) else {
                continue;
            };
            connection.flush_scheduled = false;
            if let Err(err) = connection.flush(now) {
                self.close(id, CloseReason::Io(err.to_string()), now);
            }
        }
    }

    /// The open (or opening) connection for `key`, dialling `address` if
    /// there is none and the backoff allows.
    pub(crate) fn link_connection(
        &mut self,
        key: LinkKey,
        address: SocketAddr,
        now: Instant,
    ) -> Result<ConnectionId, SendError> {
        if !self.links.contains_key(&key) && self.links.len() >= self.limits.max_connections {
            self.forget_an_idle_link()?;
        }
        self.point_link_at(key, address, now);
        let link = self.links.get_mut(&key).expect("link inserted above");
        if let Some(id) = link.connection {
            return Ok(id);
        }
        if now < link.next_dial_at {
            return Err(SendError::PeerBackingOff {
                retry_in: link.next_dial_at - now,
            });
        }
        if self.connections.len() >= self.limits.max_connections {
            return Err(SendError::Io(io::Error::other("connection limit reached")));
        }
        self.dial_link(key, address, now)
    }

    /// Forgets one link that holds no connection; its backoff state is the
    /// only thing lost.
    fn forget_an_idle_link(&mut self) -> Result<(), SendError> {
        let idle = self
            .links
            .iter()
            .find(|(_, link)| link.connection.is_none())
            .map(|(k, _)| *k);
        match idle {
            Some(idle) => {
                self.links.remove(&idle);
                Ok(())
            }
            None => Err(SendError::Io(io::Error::other("connection limit reached"))),
        }
    }

    /// The link for `key`, at `address`: a peer that moved loses its old
    /// link's failures and connection.
    fn point_link_at(&mut self, key: LinkKey, address: SocketAddr, now: Instant) {
        let link = self.links.entry(key).or_insert(PeerLink {
            address,
            connection: None,
            consecutive_failures: 0,
            next_dial_at: now,
        });
        if link.address != address {
            let old = link.connection.take();
            link.address = address;
            link.consecutive_failures = 0;
            link.next_dial_at = now;
            if let Some(old) = old {
                self.close(old, CloseReason::Requested, now);
            }
        }
    }

    fn dial_link(
        &mut self,
        key: LinkKey,
        address: SocketAddr,
        now: Instant,
    ) -> Result<ConnectionId, SendError> {
        self.stats.dial_attempts += 1;
        let link = self.links.get_mut(&key).expect("link inserted above");
        let mut stream = match dial(self.local_addr.ip(), address) {
            Ok(stream) => stream,
            Err(err) => {
                link.consecutive_failures = link.consecutive_failures.saturating_add(1);
                link.next_dial_at = now
                    + self
                        .limits
                        .reconnect_backoff
                        .delay(link.consecutive_failures);
                return Err(SendError::Io(err));
            }
        };
        let id = ConnectionId(self.next_token);
        self.next_token += 1;
        self.registry
            .register(
                &mut stream,
                Token(id.0),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(SendError::Io)?;
        let _ = stream.set_nodelay(true);
        link.connection = Some(id);
        self.connections.insert(
            id,
            Connection::outbound(
                stream,
                address,
                key,
                self.limits.max_frame_bytes,
                self.limits.max_write_queue_bytes,
                now,
            ),
        );
        Ok(id)
    }

    /// Called when an outbound connection proves usable: its failures reset.
    pub(crate) fn mark_link_connected(&mut self, key: LinkKey) {
        if let Some(link) = self.links.get_mut(&key) {
            link.consecutive_failures = 0;
        }
    }

    /// Closes connections that missed their handshake or went idle.
    pub(crate) fn expire(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (id, connection) in &self.connections {
            let handshaking = now.duration_since(connection.opened_at);
            if connection.purpose().is_none() && handshaking >= self.limits.handshake_timeout {
                expired.push((*id, CloseReason::HandshakeTimeout));
            } else if !connection.connected && handshaking >= self.limits.handshake_timeout {
                // A dial into a black hole: fail it so the backoff applies.
                expired.push((*id, CloseReason::Io("connect timed out".into())));
            } else if now.duration_since(connection.last_activity) >= self.limits.idle_timeout {
                expired.push((*id, CloseReason::Idle));
            }
        }
        for (id, reason) in expired {
            self.close(id, reason, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, TcpListener as StdListener};

    /// The source address a listener sees for a connection from `dial`.
    fn source_seen(local_ip: IpAddr, listen_ip: Ipv4Addr) -> SocketAddr {
        let listener = StdListener::bind((listen_ip, 0)).unwrap();
        let _stream = dial(local_ip, listener.local_addr().unwrap()).unwrap();
        let (_accepted, remote) = listener.accept().unwrap();
        remote
    }

    #[test]
    fn outbound_connections_leave_from_the_agents_bind_ip() {
        let remote = source_seen(
            Ipv4Addr::new(127, 0, 50, 3).into(),
            Ipv4Addr::new(127, 0, 50, 4),
        );
        assert_eq!(remote.ip(), IpAddr::from([127, 0, 50, 3]));
        assert_ne!(remote.port(), 0);
    }

    #[test]
    fn an_unspecified_bind_ip_leaves_the_source_to_the_kernel() {
        // Linux routes 127.0.0.0/8 with source 127.0.0.1.
        let remote = source_seen(Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::new(127, 0, 50, 4));
        assert_eq!(remote.ip(), IpAddr::from([127, 0, 0, 1]));
    }
}
