//! The DNS port on the agent's one loop: a UDP socket and a TCP listener
//! on the same address, a bounded set of TCP connections with an idle
//! timeout, and the sending of answers. No thread per query: a query is
//! handed to the agent, which answers at once or when its catalog read
//! comes back.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};

use crate::dns::{MAX_EDNS_UDP_ANSWER_BYTES, MAX_TCP_MESSAGE_BYTES, MAX_UDP_QUERY_BYTES};

use crate::agent::io::accept::{self, Acceptor};
use crate::agent::io::connection::{ConnectionId, FIRST_DNS_CONNECTION_ID};
use crate::agent::io::dns_connection::{DnsConnection, DnsRead};
use crate::agent::io::transport::SendError;
use crate::agent::seam::DnsPeer;

pub(crate) const DNS_UDP_TOKEN: Token = Token(5);
pub(crate) const DNS_LISTENER_TOKEN: Token = Token(6);

/// Every bound of the DNS port, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServerLimits {
    /// Open TCP connections; past it new ones are closed at once.
    pub max_connections: usize,
    /// A TCP connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Answers queued on one TCP connection that does not read them.
    pub max_queued_bytes: usize,
    /// Datagrams read per readiness event before other work.
    pub max_datagrams_per_event: usize,
    /// Bytes read from one TCP connection per turn.
    pub max_read_bytes_per_event: usize,
    pub max_accepts_per_event: usize,
}

impl Default for DnsServerLimits {
    fn default() -> Self {
        DnsServerLimits {
            max_connections: 512,
            idle_timeout: Duration::from_secs(10),
            max_queued_bytes: 4 * (MAX_TCP_MESSAGE_BYTES + 2),
            max_datagrams_per_event: 256,
            max_read_bytes_per_event: 256 * 1024,
            max_accepts_per_event: 64,
        }
    }
}

pub struct DnsServer {
    udp: UdpSocket,
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: Registry,
    connections: HashMap<ConnectionId, DnsConnection>,
    next_id: usize,
    limits: DnsServerLimits,
    /// TCP connections to read again without waiting for an event.
    pub(crate) to_read: Vec<ConnectionId>,
    pub(crate) udp_still_readable: bool,
    pub(crate) listener_still_ready: bool,
    /// Closed since the loop last told the handler.
    pub(crate) closed: Vec<ConnectionId>,
}

struct DnsAccept<'a> {
    connections: &'a mut HashMap<ConnectionId, DnsConnection>,
    next_id: &'a mut usize,
    limits: &'a DnsServerLimits,
    to_read: &'a mut Vec<ConnectionId>,
    now: Instant,
}

impl Acceptor for DnsAccept<'_> {
    const TARGET: &'static str = "agent.dns";

    fn admit(&mut self, _stream: &mut TcpStream, remote: SocketAddr) -> Option<ConnectionId> {
        if self.connections.len() >= self.limits.max_connections {
            log::debug!(target: "agent.dns",
                "refusing DNS connection from {remote}: {} open", self.connections.len());
            return None;
        }
        *self.next_id += 1;
        Some(ConnectionId(*self.next_id))
    }

    fn adopt(&mut self, id: ConnectionId, stream: TcpStream, remote: SocketAddr) {
        let connection = DnsConnection::new(
            stream,
            remote,
            MAX_TCP_MESSAGE_BYTES,
            self.limits.max_queued_bytes,
            self.now,
        );
        self.connections.insert(id, connection);
        self.to_read.push(id);
    }
}

impl DnsServer {
    /// Binds UDP and TCP on `address` (the TCP port is the one UDP got, so
    /// port 0 gives both the same port).
    pub fn bind(
        address: SocketAddr,
        registry: &Registry,
        limits: DnsServerLimits,
    ) -> io::Result<DnsServer> {
        let mut udp = UdpSocket::bind(address)?;
        let local_addr = udp.local_addr()?;
        let mut listener = TcpListener::bind(local_addr)?;
        let registry = registry.try_clone()?;
        registry.register(&mut udp, DNS_UDP_TOKEN, Interest::READABLE)?;
        registry.register(&mut listener, DNS_LISTENER_TOKEN, Interest::READABLE)?;
        Ok(DnsServer {
            udp,
            listener,
            local_addr,
            registry,
            connections: HashMap::new(),
            next_id: FIRST_DNS_CONNECTION_ID,
            limits,
            to_read: Vec::new(),
            udp_still_readable: false,
            listener_still_ready: false,
            closed: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn is_busy(&self) -> bool {
        self.udp_still_readable || self.listener_still_ready || !self.to_read.is_empty()
    }

    pub(crate) fn accept_pending(&mut self, now: Instant) {
        let mut acceptor = DnsAccept {
            connections: &mut self.connections,
            next_id: &mut self.next_id,
            limits: &self.limits,
            to_read: &mut self.to_read,
            now,
        };
        self.listener_still_ready = accept::accept_pending(
            &self.listener,
            &self.registry,
            self.limits.max_accepts_per_event,
            &mut acceptor,
        );
    }

    /// The datagrams waiting, up to the per-event bound; the flag says
    /// whether more may wait.
    pub(crate) fn read_datagrams(&mut self, mut deliver: impl FnMut(SocketAddr, &[u8])) {
        // One byte over the query bound tells an oversized query apart.
        let mut buffer = [0u8; MAX_UDP_QUERY_BYTES + 1];
        self.udp_still_readable = false;
        for _ in 0..self.limits.max_datagrams_per_event {
            match self.udp.recv_from(&mut buffer) {
                Ok((size, from)) if size > MAX_UDP_QUERY_BYTES => {
                    log::debug!(target: "agent.dns", "dropping a {size}+ byte query from {from}");
                }
                Ok((size, from)) => deliver(from, &buffer[..size]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // ICMP errors of earlier sends surface here; keep serving.
                    log::debug!(target: "agent.dns", "UDP receive: {err}");
                }
            }
        }
        self.udp_still_readable = true;
    }

    /// The messages a TCP connection has for the handler.
    pub(crate) fn read(
        &mut self,
        id: ConnectionId,
        scratch: &mut [u8],
        now: Instant,
    ) -> Vec<Vec<u8>> {
        let Some(connection) = self.connections.get_mut(&id) else {
            return Vec::new();
        };
        match connection.read(scratch, self.limits.max_read_bytes_per_event, now) {
            DnsRead::Messages(messages) => messages,
            DnsRead::MoreLater(messages) => {
                self.to_read.push(id);
                messages
            }
            DnsRead::Closed(messages) => {
                // Queries that arrived whole are still answered if the
                // peer only half-closed; a full close drops the answers.
                if connection.queued_bytes() == 0 && messages.is_empty() {
                    self.close(id, "closed by the peer or malformed");
                }
                messages
            }
        }
    }

    pub(crate) fn send(
        &mut self,
        to: DnsPeer,
        bytes: &[u8],
        now: Instant,
    ) -> Result<(), SendError> {
        match to {
            DnsPeer::Udp(address) => {
                if bytes.len() > MAX_EDNS_UDP_ANSWER_BYTES {
                    return Err(SendError::DatagramTooLarge {
                        size: bytes.len(),
                        max: MAX_EDNS_UDP_ANSWER_BYTES,
                    });
                }
                match self.udp.send_to(bytes, address) {
                    Ok(_) => Ok(()),
                    // A client that asked again gets a new answer.
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
                    Err(err) => Err(SendError::Io(err)),
                }
            }
            DnsPeer::Tcp(id) => {
                let connection = self
                    .connections
                    .get_mut(&id)
                    .ok_or(SendError::UnknownConnection(id))?;
                if !connection.queue(bytes) {
                    self.close(id, "answers not read");
                    return Err(SendError::UnknownConnection(id));
                }
                if connection.flush(now).is_err() {
                    self.close(id, "write failed");
                }
                Ok(())
            }
        }
    }

    pub(crate) fn flush_one(&mut self, id: ConnectionId, now: Instant) {
        if let Some(connection) = self.connections.get_mut(&id)
            && connection.flush(now).is_err()
        {
            self.close(id, "write failed");
        }
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        let idle: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, c)| {
                now.saturating_duration_since(c.last_active) >= self.limits.idle_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            self.close(id, "idle");
        }
    }

    pub(crate) fn close(&mut self, id: ConnectionId, why: &str) {
        if let Some(mut connection) = self.connections.remove(&id) {
            log::debug!(target: "agent.dns", "closing DNS connection from {}: {why}", connection.remote);
            let _ = self.registry.deregister(connection.stream_mut());
            self.closed.push(id);
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    pub fn remote_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.connections.get(&id).map(|c| c.remote)
    }

    pub fn queued_bytes(&self, id: ConnectionId) -> Option<usize> {
        self.connections.get(&id).map(DnsConnection::queued_bytes)
    }
}
