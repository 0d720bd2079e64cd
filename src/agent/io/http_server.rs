//! The HTTP API listener of the agent's one loop: accepting (up to a bound
//! on open connections), reading each connection's pipelined requests (up
//! to a bound in flight), writing answers in request order, and the timers that keep idle, slow and non-reading clients
//! from holding a connection forever. A held request (a blocking query)
//! costs its connection and a table entry in the agent, never a thread.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::http::{HttpLimits, HttpRequest, HttpResponse};

use crate::agent::io::accept::{self, Acceptor};
use crate::agent::io::connection::{ConnectionId, FIRST_HTTP_CONNECTION_ID};
use crate::agent::io::http_connection::{AfterFlush, HttpConnection, HttpExpiry, ReadOutcome};
use crate::agent::io::transport::SendError;

pub(crate) const HTTP_LISTENER_TOKEN: Token = Token(4);

/// Every bound of the HTTP listener, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServerLimits {
    /// Open HTTP connections; past it new ones get a 429 and are closed.
    /// Each blocking query holds one, so this is above the 10,000
    /// concurrent blocking queries the agent is built for.
    pub max_connections: usize,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A request must arrive whole (head and body) within this time of its
    /// first byte, so a slow sender cannot hold a connection forever.
    pub request_time: Duration,
    /// Bytes read from one connection per turn before others are served.
    pub max_read_bytes_per_event: usize,
    /// Connections accepted per readiness event.
    pub max_accepts_per_event: usize,
    /// Header and body bounds of the request decoder.
    pub decoder: HttpLimits,
}

impl Default for HttpServerLimits {
    fn default() -> Self {
        HttpServerLimits {
            max_connections: 16_384,
            idle_timeout: Duration::from_secs(120),
            request_time: Duration::from_secs(15),
            max_read_bytes_per_event: 1024 * 1024,
            max_accepts_per_event: 64,
            decoder: HttpLimits::default(),
        }
    }
}

/// Counters for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    pub accepted: u64,
    pub refused_over_limit: u64,
    pub closed_idle: u64,
    pub closed_slow_request: u64,
    pub closed_not_reading: u64,
}

const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 30\r\n\
    Connection: close\r\n\r\ntoo many open HTTP connections";

pub struct HttpServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    registry: Registry,
    connections: HashMap<ConnectionId, HttpConnection>,
    next_id: usize,
    limits: HttpServerLimits,
    pub(crate) stats: HttpStats,
    /// Closed since the loop last told the handler.
    pub(crate) closed: Vec<ConnectionId>,
    /// Connections with bytes to write at the end of the turn, each once.
    flush_list: Vec<ConnectionId>,
    /// Connections to read again without waiting for an event (mio is
    /// edge-triggered): their budget ran out, they are closing and drain,
    /// or an answer left and they may read the pipelined requests that
    /// waited at the bound of requests in flight.
    pub(crate) to_read: Vec<ConnectionId>,
}

/// The listener's fields an accepted connection goes into.
struct HttpAccept<'a> {
    connections: &'a mut HashMap<ConnectionId, HttpConnection>,
    next_id: &'a mut usize,
    limits: &'a HttpServerLimits,
    stats: &'a mut HttpStats,
    to_read: &'a mut Vec<ConnectionId>,
    now: Instant,
}

impl Acceptor for HttpAccept<'_> {
    const TARGET: &'static str = "agent.http";

    fn admit(&mut self, stream: &mut TcpStream, remote: SocketAddr) -> Option<ConnectionId> {
        if self.connections.len() >= self.limits.max_connections {
            self.stats.refused_over_limit += 1;
            log::debug!(target: "agent.http",
                "refusing HTTP connection from {remote}: {} open", self.connections.len());
            // Best effort on a fresh socket; it is dropped either way.
            let _ = stream.write(TOO_MANY_CONNECTIONS);
            return None;
        }
        let id = ConnectionId(*self.next_id);
        *self.next_id += 1;
        Some(id)
    }

    fn adopt(&mut self, id: ConnectionId, stream: TcpStream, remote: SocketAddr) {
        self.stats.accepted += 1;
        let decoder = self.limits.decoder.clone();
        let connection = HttpConnection::new(stream, remote, decoder, self.now);
        self.connections.insert(id, connection);
        self.to_read.push(id);
    }
}

impl HttpServer {
    pub fn bind(
        address: SocketAddr,
        registry: &Registry,
        limits: HttpServerLimits,
    ) -> io::Result<HttpServer> {
        let mut listener = TcpListener::bind(address)?;
        let local_addr = listener.local_addr()?;
        let registry = registry.try_clone()?;
        registry.register(&mut listener, HTTP_LISTENER_TOKEN, Interest::READABLE)?;
        Ok(HttpServer {
            listener,
            local_addr,
            registry,
            connections: HashMap::new(),
            next_id: FIRST_HTTP_CONNECTION_ID,
            limits,
            stats: HttpStats::default(),
            closed: Vec::new(),
            flush_list: Vec::new(),
            to_read: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    pub fn remote_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.connections.get(&id).map(|c| c.remote)
    }

    pub fn queued_bytes(&self, id: ConnectionId) -> Option<usize> {
        self.connections.get(&id).map(|c| c.queued_bytes())
    }

    /// Accepts pending connections; returns whether more may be pending.
    pub(crate) fn accept_pending(&mut self, now: Instant) -> bool {
        let mut into = HttpAccept {
            connections: &mut self.connections,
            next_id: &mut self.next_id,
            limits: &self.limits,
            stats: &mut self.stats,
            to_read: &mut self.to_read,
            now,
        };
        let quota = into.limits.max_accepts_per_event;
        accept::accept_pending(&self.listener, &self.registry, quota, &mut into)
    }

    /// Bytes one connection may be read for in one turn.
    pub(crate) fn read_budget(&self) -> usize {
        self.limits.max_read_bytes_per_event
    }

    /// The connection's next request, if a whole one is there; call again
    /// (with what is left of this turn's `budget`) for the ones behind it.
    pub(crate) fn read(
        &mut self,
        id: ConnectionId,
        scratch: &mut [u8],
        budget: &mut usize,
        now: Instant,
    ) -> Option<HttpRequest> {
        let connection = self.connections.get_mut(&id)?;
        let outcome = connection.read(scratch, budget, now);
        let queued = connection.queued_bytes() > 0;
        match outcome {
            ReadOutcome::Request(request) => return Some(request),
            ReadOutcome::Idle => {}
            ReadOutcome::BudgetSpent => self.to_read.push(id),
            ReadOutcome::PeerClosed => self.close(id, "closed by the client"),
            ReadOutcome::Failed(err) => self.close(id, &err.to_string()),
        }
        if queued {
            self.schedule_flush(id);
        }
        None
    }

    /// The client closed or the socket failed while the agent holds its
    /// requests: nobody will read the answers, so the agent may forget them
    /// (and the blocking queries among them).
    pub(crate) fn on_read_closed(&mut self, id: ConnectionId) {
        if let Some(connection) = self.connections.get(&id)
            && connection.answers_owed() > 0
        {
            self.close(id, "closed by the client while its requests were held");
        }
    }

    pub(crate) fn respond(
        &mut self,
        id: ConnectionId,
        response: &HttpResponse,
    ) -> Result<(), SendError> {
        let connection = self
            .connections
            .get_mut(&id)
            .ok_or(SendError::UnknownConnection(id))?;
        let Some(resumes_reading) = connection.respond(response) else {
            return Err(SendError::NoRequestWaiting(id));
        };
        if resumes_reading {
            // Edge-triggered: the requests that waited in the socket raise
            // no new event.
            self.to_read.push(id);
        }
        self.schedule_flush(id);
        Ok(())
    }

    fn schedule_flush(&mut self, id: ConnectionId) {
        if let Some(connection) = self.connections.get_mut(&id)
            && !connection.flush_scheduled
        {
            connection.flush_scheduled = true;
            self.flush_list.push(id);
        }
    }

    /// Writes what this turn queued.
    pub(crate) fn flush_scheduled(&mut self, now: Instant) {
        for id in std::mem::take(&mut self.flush_list) {
            if let Some(connection) = self.connections.get_mut(&id) {
                connection.flush_scheduled = false;
                self.flush_one(id, now);
            }
        }
    }

    /// A writable event, or a scheduled flush.
    pub(crate) fn flush_one(&mut self, id: ConnectionId, now: Instant) {
        let Some(connection) = self.connections.get_mut(&id) else {
            return;
        };
        match connection.flush(now) {
            Ok(true) => match connection.after_flush(now) {
                AfterFlush::Close => self.close(id, "answer written, connection not kept"),
                AfterFlush::Read => self.to_read.push(id),
                AfterFlush::Nothing => {}
            },
            Ok(false) => {}
            Err(err) => self.close(id, &err.to_string()),
        }
    }

    /// Closes connections whose idle, request or write timer ran out. A
    /// slow request is told so (408) before the close.
    pub(crate) fn expire(&mut self, now: Instant) {
        let (idle, request_time) = (self.limits.idle_timeout, self.limits.request_time);
        let expired: Vec<(ConnectionId, HttpExpiry)> = self
            .connections
            .iter()
            .filter_map(|(id, c)| c.expiry(now, idle, request_time).map(|e| (*id, e)))
            .collect();
        for (id, expiry) in expired {
            match expiry {
                HttpExpiry::Idle => {
                    self.stats.closed_idle += 1;
                    self.close(id, "idle");
                }
                HttpExpiry::Drained => self.close(id, "answer written, connection not kept"),
                HttpExpiry::NotReading => {
                    self.stats.closed_not_reading += 1;
                    self.close(id, "the client does not read its answer");
                }
                HttpExpiry::SlowRequest => {
                    self.stats.closed_slow_request += 1;
                    log::debug!(target: "agent.http",
                        "request on connection {} not complete within {} s", id.0, request_time.as_secs());
                    if let Some(connection) = self.connections.get_mut(&id) {
                        let text =
                            format!("request not received within {} s", request_time.as_secs());
                        connection.respond_and_close(HttpResponse::text(408, &text));
                        self.schedule_flush(id);
                    }
                }
            }
        }
    }

    pub(crate) fn close(&mut self, id: ConnectionId, why: &str) {
        let Some(mut connection) = self.connections.remove(&id) else {
            return;
        };
        let _ = self.registry.deregister(&mut connection.stream);
        log::debug!(target: "agent.http",
            "closing HTTP connection {} from {}: {why}", id.0, connection.remote);
        self.closed.push(id);
    }

    /// Every queued answer went out.
    pub(crate) fn drained(&self) -> bool {
        self.connections.values().all(|c| c.queued_bytes() == 0)
    }
}
