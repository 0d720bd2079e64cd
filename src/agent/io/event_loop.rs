//! The agent's single event loop: one mio `Poll` over the TCP listener, the
//! UDP socket, every connection, the HTTP API listener and its connections,
//! the signal pipe and a waker. It turns readiness into calls on a
//! [`Handler`] (client requests, HTTP requests, Raft messages, gossip frames
//! and datagrams, a tick every 10 ms, signals); handlers act through a
//! [`Context`]. The Raft node, storage, gossip and the state
//! machine plug in as one `Handler`, so they stay free of sockets.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};

use crate::wire::client_message::{ClientRequest, ClientResponse};
use crate::wire::datagram::MAX_DATAGRAM_BYTES;
use crate::wire::frame::Purpose;
use crate::wire::raft_message::RaftMessage;

pub use crate::agent::seam::{Context, Handler, Io, OffLoopWork, Signal, StopReason};

use crate::agent::io::connection::{ConnectionId, Direction, Inbound};
use crate::agent::io::dns_server::DnsServer;
use crate::agent::io::http_server::{HTTP_LISTENER_TOKEN, HttpServer, HttpServerLimits};

mod dns_events;
mod error;
pub use error::EventLoopError;
mod http_events;
use crate::agent::io::loop_context::LoopContext;
use crate::agent::io::transport::{
    CloseReason, LISTENER_TOKEN, SIGNAL_TOKEN, Transport, TransportLimits, TransportStats,
    UDP_TOKEN, WAKER_TOKEN,
};
pub use dns_events::DnsListen;
use dns_events::bind_dns;
use http_events::bind_http;

/// Raft and gossip timers count in ticks of this length.
pub const TICK_INTERVAL: Duration = Duration::from_millis(10);
/// Readiness events handled per poll.
const EVENTS_CAPACITY: usize = 1024;
/// Socket reads go through one buffer of this size.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// After a stop is requested, queued responses (a leave's "Left") get this
/// long to drain before the loop exits anyway.
const STOP_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Housekeeping (handshake and idle expiry) runs at this period, not every tick.
const EXPIRY_INTERVAL: Duration = Duration::from_millis(100);

/// Which decoder and handler method a connection's frames go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    ClientRequests,
    /// Client frames on a connection we dialled are the answers.
    ClientResponses,
    Raft,
    GossipSync,
    Handshaking,
}

impl Route {
    fn of(purpose: Option<Purpose>, dialled: bool) -> Route {
        match purpose {
            Some(Purpose::Client) if dialled => Route::ClientResponses,
            Some(Purpose::Client) => Route::ClientRequests,
            Some(Purpose::Raft) => Route::Raft,
            Some(Purpose::GossipSync) => Route::GossipSync,
            None => Route::Handshaking,
        }
    }
}

/// Stops a running loop from another thread.
#[derive(Clone)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLoopConfig {
    pub bind: SocketAddr,
    pub limits: TransportLimits,
    /// Install SIGINT/SIGTERM/SIGHUP handling (the agent process; not tests).
    pub handle_signals: bool,
    /// The HTTP API listener; `None` serves no HTTP.
    pub http: Option<HttpListen>,
    /// The DNS port; `None` serves no DNS.
    pub dns: Option<DnsListen>,
}

/// Where the HTTP API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpListen {
    pub address: SocketAddr,
    /// The address was given explicitly, so failing to bind it fails the
    /// start. The default address is often another agent's on the same
    /// machine (several servers on 127.0.0.x): then this one warns and runs
    /// without HTTP.
    pub required: bool,
    pub limits: HttpServerLimits,
}

pub struct EventLoop {
    poll: Poll,
    transport: Transport,
    http: Option<HttpServer>,
    dns: Option<DnsServer>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    stop_flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
    read_chunk: Vec<u8>,
    /// Connections whose read budget ran out with data possibly left; mio is
    /// edge-triggered, so they are read again without waiting for an event.
    still_readable: Vec<ConnectionId>,
    udp_still_readable: bool,
    listener_still_ready: bool,
    listener_still_ready_http: bool,
}

impl EventLoop {
    pub fn new(config: EventLoopConfig) -> Result<EventLoop, EventLoopError> {
        let poll = Poll::new()?;
        let transport = Transport::bind(config.bind, poll.registry(), config.limits)
            .map_err(EventLoopError::Bind)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let signals = if config.handle_signals {
            use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
            let mut signals = signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
            poll.registry()
                .register(&mut signals, SIGNAL_TOKEN, mio::Interest::READABLE)?;
            Some(signals)
        } else {
            None
        };
        let http = match config.http {
            Some(listen) => bind_http(listen, poll.registry())?,
            None => None,
        };
        let dns = match config.dns {
            Some(listen) => bind_dns(listen, poll.registry())?,
            None => None,
        };
        Ok(EventLoop {
            poll,
            transport,
            http,
            dns,
            signals,
            stop_flag: Arc::new(AtomicBool::new(false)),
            waker,
            read_chunk: vec![0; READ_CHUNK_BYTES],
            still_readable: Vec::new(),
            udp_still_readable: false,
            listener_still_ready: false,
            listener_still_ready_http: false,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    /// Where the HTTP API listens, when it does.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(HttpServer::local_addr)
    }

    /// Where DNS is served (UDP and TCP), when it is.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(DnsServer::local_addr)
    }

    pub fn stats(&self) -> TransportStats {
        self.transport.stats()
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            flag: self.stop_flag.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Runs until a handler, a signal or a [`StopHandle`] stops it.
    pub fn run<H: Handler>(&mut self, handler: &mut H) -> Result<StopReason, EventLoopError> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut stop: Option<StopReason> = None;
        let mut stop_deadline: Option<Instant> = None;
        let mut next_tick = Instant::now() + TICK_INTERVAL;
        let mut next_expiry = Instant::now() + EXPIRY_INTERVAL;
        loop {
            let now = Instant::now();
            if now >= next_tick {
                self.tick(handler, now, &mut stop);
                // A loop that fell behind ticks once, not in a burst.
                next_tick += TICK_INTERVAL;
                if next_tick <= now {
                    next_tick = now + TICK_INTERVAL;
                }
            }
            if now >= next_expiry {
                self.transport.expire(now);
                if let Some(http) = self.http.as_mut() {
                    http.expire(now);
                    http.flush_scheduled(now);
                }
                if let Some(dns) = self.dns.as_mut() {
                    dns.expire(now);
                }
                next_expiry = now + EXPIRY_INTERVAL;
            }
            self.notify_closed(handler, now, &mut stop);
            if self.stop_flag.load(Ordering::SeqCst) {
                stop.get_or_insert(StopReason::Requested);
            }
            if let Some(reason) = stop {
                let deadline = *stop_deadline.get_or_insert(now + STOP_FLUSH_TIMEOUT);
                if self.drained() || now >= deadline {
                    return Ok(reason);
                }
            }
            let busy = !self.still_readable.is_empty()
                || self.udp_still_readable
                || self.listener_still_ready
                || self.listener_still_ready_http
                || self.http.as_ref().is_some_and(|h| !h.to_read.is_empty())
                || self.dns.as_ref().is_some_and(DnsServer::is_busy);
            let timeout = if busy {
                Duration::ZERO
            } else {
                next_tick.saturating_duration_since(now).min(TICK_INTERVAL)
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            }
            self.handle_events(&events, handler, &mut stop);
        }
    }

    fn tick<H: Handler>(&mut self, handler: &mut H, now: Instant, stop: &mut Option<StopReason>) {
        let mut ctx = self.context(now, stop);
        handler.on_tick(&mut ctx);
        handler.on_turn_end(&mut ctx);
        self.flush_all(now);
    }

    fn flush_all(&mut self, now: Instant) {
        self.transport.flush_scheduled(now);
        if let Some(http) = self.http.as_mut() {
            http.flush_scheduled(now);
        }
    }

    /// Every queued write went out (or can no longer go).
    fn drained(&self) -> bool {
        self.transport
            .connections
            .values()
            .all(|c| c.queued_bytes() == 0 || !c.connected)
            && self.http.as_ref().is_none_or(HttpServer::drained)
    }

    /// One poll's readiness events, then the turn's end (group commit).
    fn handle_events<H: Handler>(
        &mut self,
        events: &Events,
        handler: &mut H,
        stop: &mut Option<StopReason>,
    ) {
        let now = Instant::now();
        let mut again = std::mem::take(&mut self.still_readable);
        if std::mem::take(&mut self.udp_still_readable) {
            self.read_datagrams(handler, now, stop);
        }
        if std::mem::take(&mut self.listener_still_ready) {
            self.listener_still_ready = self.transport.accept_pending(now);
        }
        let http_again = self
            .http
            .as_mut()
            .map(|http| std::mem::take(&mut http.to_read))
            .unwrap_or_default();
        self.continue_dns(handler, now, stop);
        for event in events.iter() {
            if self.on_dns_event(event, handler, now, stop) {
                continue;
            }
            match event.token() {
                LISTENER_TOKEN => {
                    self.listener_still_ready = self.transport.accept_pending(now);
                }
                HTTP_LISTENER_TOKEN => {
                    if let Some(http) = self.http.as_mut() {
                        self.listener_still_ready_http = http.accept_pending(now);
                    }
                }
                Token(token) if ConnectionId(token).is_http() => {
                    self.on_http_event(ConnectionId(token), event, handler, now, stop);
                }
                UDP_TOKEN => self.read_datagrams(handler, now, stop),
                SIGNAL_TOKEN => self.read_signals(handler, now, stop),
                WAKER_TOKEN => {}
                Token(token) => {
                    let id = ConnectionId(token);
                    if event.is_writable() || event.is_error() || event.is_write_closed() {
                        self.on_writable(id, now);
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        again.retain(|other| *other != id);
                        self.on_readable(id, handler, now, stop);
                    }
                }
            }
        }
        for id in again {
            self.on_readable(id, handler, now, stop);
        }
        for id in http_again {
            self.on_http_readable(id, handler, now, stop);
        }
        if std::mem::take(&mut self.listener_still_ready_http)
            && let Some(http) = self.http.as_mut()
        {
            self.listener_still_ready_http = http.accept_pending(now);
        }
        let mut ctx = self.context(now, stop);
        handler.on_turn_end(&mut ctx);
        self.flush_all(now);
    }

    fn context<'a>(
        &'a mut self,
        now: Instant,
        stop: &'a mut Option<StopReason>,
    ) -> LoopContext<'a> {
        LoopContext::new(
            &mut self.transport,
            self.http.as_mut(),
            self.dns.as_mut(),
            now,
            stop,
        )
    }

    fn notify_closed<H: Handler>(
        &mut self,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        // Bounded: each close is reported once and closes made while
        // reporting are picked up by the next pass of the loop.
        let mut closed = std::mem::take(&mut self.transport.closed);
        if let Some(http) = self.http.as_mut() {
            closed.append(&mut http.closed);
        }
        if let Some(dns) = self.dns.as_mut() {
            closed.append(&mut dns.closed);
        }
        for id in closed {
            let mut ctx = self.context(now, stop);
            handler.on_connection_closed(id, &mut ctx);
        }
    }

    fn on_writable(&mut self, id: ConnectionId, now: Instant) {
        let Some(connection) = self.transport.connections.get_mut(&id) else {
            return;
        };
        let was_connected = connection.connected;
        match connection.finish_connect() {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                self.transport
                    .close(id, CloseReason::Io(err.to_string()), now);
                return;
            }
        }
        if !was_connected && let Direction::Outbound { link } = connection.direction {
            log::debug!(target: "agent", "connected to {link:?} at {}", connection.remote);
            self.transport.mark_link_connected(link);
        }
        let Some(connection) = self.transport.connections.get_mut(&id) else {
            return;
        };
        if let Err(err) = connection.flush(now) {
            self.transport
                .close(id, CloseReason::Io(err.to_string()), now);
        }
    }

    fn on_readable<H: Handler>(
        &mut self,
        id: ConnectionId,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let mut budget = self.transport.limits.max_read_bytes_per_event;
        let mut chunk = std::mem::take(&mut self.read_chunk);
        let mut inbound: Vec<Inbound> = Vec::new();
        while let Some(connection) = self.transport.connections.get_mut(&id) {
            if !connection.connected {
                break;
            }
            if budget == 0 {
                self.still_readable.push(id);
                break;
            }
            let want = chunk.len().min(budget);
            let read = match connection.read_chunk(&mut chunk[..want], now) {
                Ok(0) => {
                    self.transport.close(id, CloseReason::PeerClosed, now);
                    break;
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.transport
                        .close(id, CloseReason::Io(err.to_string()), now);
                    break;
                }
            };
            budget -= read;
            let dialled = connection.direction != Direction::Inbound;
            let absorbed = connection.absorb(&chunk[..read], &mut |item| inbound.push(item));
            let route = Route::of(connection.purpose(), dialled);
            // Deliver what arrived before any error: those frames were valid.
            for item in inbound.drain(..) {
                if !self.transport.connections.contains_key(&id) {
                    break;
                }
                self.dispatch(id, route, item, handler, now, stop);
            }
            // Answers to one chunk of pipelined requests leave together.
            self.transport.flush_scheduled(now);
            if let Err(err) = absorbed {
                // `close` logs the WARN naming `remote`.
                self.transport
                    .close(id, CloseReason::Malformed(err.to_string()), now);
                break;
            }
        }
        self.read_chunk = chunk;
    }

    fn dispatch<H: Handler>(
        &mut self,
        id: ConnectionId,
        route: Route,
        item: Inbound,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let frame = match item {
            Inbound::Opened(purpose) => {
                // Names the remote address so an operator (and the source
                // address test) can see which peer opened what.
                if let Some(connection) = self.transport.connections.get(&id) {
                    log::debug!(target: "agent", "connection {} from {} opened for {purpose:?}",
                        id.0, connection.remote);
                }
                return;
            }
            Inbound::Frame(frame) => frame,
        };
        let malformed = |transport: &mut Transport, err: String| {
            transport.close(id, CloseReason::Malformed(err), now);
        };
        match route {
            Route::ClientResponses => match frame.decode::<ClientResponse>() {
                Ok(response) => {
                    let mut ctx = self.context(now, stop);
                    handler.on_client_response(id, response, &mut ctx);
                }
                Err(err) => malformed(&mut self.transport, err.to_string()),
            },
            Route::ClientRequests => match frame.decode::<ClientRequest>() {
                Ok(request) => {
                    let mut ctx = self.context(now, stop);
                    handler.on_client_request(id, request, &mut ctx);
                }
                Err(err) => malformed(&mut self.transport, err.to_string()),
            },
            Route::Raft => match frame.decode::<RaftMessage>() {
                Ok(message) => {
                    let mut ctx = self.context(now, stop);
                    handler.on_raft_message(id, message, &mut ctx);
                }
                Err(err) => malformed(&mut self.transport, err.to_string()),
            },
            Route::GossipSync => {
                let mut ctx = self.context(now, stop);
                handler.on_gossip_sync_frame(id, frame, &mut ctx);
            }
            Route::Handshaking => malformed(&mut self.transport, "frame before preamble".into()),
        }
    }

    fn read_datagrams<H: Handler>(
        &mut self,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        // One byte more than the limit tells an oversized datagram from one
        // that fits exactly.
        let mut buffer = [0u8; MAX_DATAGRAM_BYTES + 1];
        for _ in 0..self.transport.limits.max_datagrams_per_event {
            let (size, from) = match self.transport.udp.recv_from(&mut buffer) {
                Ok(received) => received,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::warn!(target: "agent", "UDP receive failed: {err}");
                    return;
                }
            };
            if size > MAX_DATAGRAM_BYTES {
                self.transport.stats.datagrams_dropped += 1;
                log::warn!(target: "agent",
                    "dropping oversized datagram from {from} (more than {MAX_DATAGRAM_BYTES} bytes)");
                continue;
            }
            self.transport.stats.datagrams_received += 1;
            let mut ctx = self.context(now, stop);
            handler.on_datagram(from, &buffer[..size], &mut ctx);
        }
        self.udp_still_readable = true;
    }

    fn read_signals<H: Handler>(
        &mut self,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        let received: Vec<i32> = signals.pending().collect();
        for raw in received {
            let signal = match raw {
                signal_hook::consts::signal::SIGINT => Signal::Interrupt,
                signal_hook::consts::signal::SIGHUP => Signal::Hangup,
                _ => Signal::Terminate,
            };
            log::info!(target: "agent", "caught signal {signal:?}");
            let mut ctx = self.context(now, stop);
            handler.on_signal(signal, &mut ctx);
        }
    }
}
