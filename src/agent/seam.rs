//! The agent's one boundary with the world. The agent's logic (routing, the
//! Raft host, the gossip host, cluster operations) reaches sockets, clocks
//! and threads only through [`Io`], and is driven only through [`Handler`]:
//! the mio loop in [`crate::agent::io`] implements the first and calls the
//! second; the agent simulator (`tests/agent_sim.rs`) does the same over a
//! seeded network and disk, so any failure it finds replays from its seed
//! (hashicorp/memberlist's transport seam, etcd's Ready pattern).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::agent::io::connection::ConnectionId;
use crate::agent::io::transport::{SendError, TransportStats};
use crate::http::{HttpRequest, HttpResponse};
use crate::wire::client_message::{ClientRequest, ClientResponse};
use crate::wire::frame::Frame;
use crate::wire::gossip_message::GossipMessage;
use crate::wire::raft_message::{NodeId, RaftMessage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: the operator asks for a graceful leave.
    Interrupt,
    /// SIGTERM: stop now.
    Terminate,
    /// SIGHUP: reload what can be reloaded; never stop.
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The agent left gracefully (`node leave` or SIGINT).
    Left,
    /// SIGTERM.
    Terminated,
    /// A stop asked for from outside the agent (another thread, a test).
    Requested,
}

/// Where a DNS query came from, and so where its answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPeer {
    /// A datagram from this address to the DNS port.
    Udp(SocketAddr),
    /// A TCP connection to the DNS port (RFC 1035 4.2.2 framing).
    Tcp(ConnectionId),
}

/// Work handed off the loop: it runs on a thread in production and inline
/// (at a step the seed chooses) under the simulator.
pub type OffLoopWork = Box<dyn FnOnce() + Send + 'static>;

/// What the agent may do to the world.
pub trait Io {
    /// The loop's time for this turn: every input of a turn sees the same
    /// instant, so decisions within a turn agree.
    fn now(&self) -> Instant;

    /// A fresh reading of the clock, for measuring how long the agent's own
    /// work took within a turn (the loop stall of a snapshot); never for
    /// decisions.
    fn clock(&self) -> Instant;

    /// Wall-clock seconds since the Unix epoch, for timestamps shown to
    /// people (the metrics' `Timestamp`); never for decisions or durations.
    fn unix_time_secs(&self) -> u64;

    /// The process's resident memory in bytes, when the platform tells
    /// (for `/v1/agent/metrics`).
    fn resident_memory_bytes(&self) -> Option<u64>;

    /// Entropy for the pure cores' seeded generators (Raft election jitter,
    /// gossip's member choice): the wall clock's nanoseconds in production,
    /// the seed's stream in the simulator.
    fn random_seed(&mut self) -> u64;

    /// Sends what is queued now instead of at the end of the turn, so a
    /// leader's AppendEntries leave before its own fsync (Raft dissertation
    /// §10.2.1: the followers' fsyncs overlap the leader's).
    fn flush_now(&mut self);

    fn local_addr(&self) -> SocketAddr;

    fn stats(&self) -> TransportStats;

    fn connection_count(&self) -> usize;

    /// The peer address of an open connection.
    fn remote_addr(&self, id: ConnectionId) -> Option<SocketAddr>;

    /// Bytes queued on a connection, `None` when it is closed.
    fn queued_bytes(&self, id: ConnectionId) -> Option<usize>;

    /// Answers a client request on the connection it came from.
    fn reply(&mut self, to: ConnectionId, response: &ClientResponse) -> Result<(), SendError>;

    /// Answers the HTTP request the connection `to` is waiting on (each
    /// connection has at most one: the next pipelined request is handed
    /// over only after this answer is written). The connection closes after
    /// it when the request asked for that.
    fn respond_http(&mut self, to: ConnectionId, response: &HttpResponse) -> Result<(), SendError>;

    /// Sends a Raft message on our connection to `peer`, dialling it when
    /// needed. While the peer is in reconnect backoff the message is dropped
    /// (Raft retransmits on its own timers).
    fn send_raft(
        &mut self,
        peer: NodeId,
        address: SocketAddr,
        message: &RaftMessage,
    ) -> Result<(), SendError>;

    /// Sends a Raft message back on a connection a peer opened to us (a
    /// peer not yet in our configuration).
    fn send_raft_on(&mut self, link: ConnectionId, message: &RaftMessage) -> Result<(), SendError>;

    /// Forwards a client request to a server on our one connection to it;
    /// the answer arrives in [`Handler::on_client_response`] from the
    /// returned connection (so a closed connection can fail what it held).
    fn forward_client_request(
        &mut self,
        server: SocketAddr,
        request: &ClientRequest,
    ) -> Result<ConnectionId, SendError>;

    /// Sends a gossip push/pull frame to a member on our connection to it.
    fn send_gossip_sync(
        &mut self,
        member: SocketAddr,
        message: &GossipMessage,
    ) -> Result<ConnectionId, SendError>;

    /// Answers a push/pull on the connection it arrived on.
    fn send_gossip_sync_on(
        &mut self,
        link: ConnectionId,
        message: &GossipMessage,
    ) -> Result<(), SendError>;

    fn send_datagram(&mut self, to: SocketAddr, bytes: &[u8]) -> Result<(), SendError>;

    /// Sends a DNS answer where its query came from: a datagram from the
    /// DNS socket, or a length-prefixed message on the TCP connection.
    fn send_dns(&mut self, to: DnsPeer, bytes: &[u8]) -> Result<(), SendError>;

    fn close(&mut self, id: ConnectionId);

    /// Stops the agent once queued writes have drained (bounded).
    fn stop(&mut self, reason: StopReason);

    /// Runs `work` off the loop. Its result comes back through whatever the
    /// work captured (an [`OffLoopResult`]), polled by the agent.
    fn off_loop(&mut self, name: &'static str, work: OffLoopWork);

    /// The process's log level from now on (a reload's `log_level`).
    fn set_log_level(&mut self, level: log::LevelFilter);
}

/// The result slot of work run with [`Io::off_loop`]: the work fills it,
/// the agent polls it from the loop. A panic in the work fills it with an
/// error instead, so the agent never waits for a result that cannot come.
#[derive(Debug)]
pub struct OffLoopResult<T>(Arc<Mutex<Option<Result<T, String>>>>);

impl<T> Clone for OffLoopResult<T> {
    fn clone(&self) -> Self {
        OffLoopResult(self.0.clone())
    }
}

impl<T: Send + 'static> OffLoopResult<T> {
    /// Runs `work` off the loop; its result is then [`Self::take`]n.
    pub fn start<F>(io: &mut dyn Io, name: &'static str, work: F) -> Self
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let result = OffLoopResult(Arc::new(Mutex::new(None)));
        let slot = result.clone();
        io.off_loop(
            name,
            Box::new(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                    .map_err(|_| format!("the {name} thread panicked"));
                let mut filled = slot.0.lock().unwrap_or_else(|p| p.into_inner());
                assert!(filled.is_none(), "off-loop result filled twice");
                *filled = Some(outcome);
            }),
        );
        result
    }

    pub fn is_done(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// The result once the work is done (once; later calls give `None`).
    pub fn take(&self) -> Option<Result<T, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Frees a large value (a replaced state machine, compacted log chunks) off
/// the loop: dropping hundreds of thousands of keys takes milliseconds.
pub fn drop_off_the_loop<T: Send + 'static>(io: &mut dyn Io, value: T) {
    io.off_loop("deferred-free", Box::new(move || drop(value)));
}

/// How handlers are written: `ctx: &mut Context`.
pub type Context<'a> = dyn Io + 'a;

/// The agent as the loop (or the simulator) drives it: one call per input.
/// Every method has a default that drops the input with a debug line, so a
/// partial agent compiles and says what it ignores.
pub trait Handler {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context);

    fn on_raft_message(&mut self, from: ConnectionId, message: RaftMessage, ctx: &mut Context) {
        let _ = ctx;
        log::debug!(target: "agent",
            "ignoring Raft message from node {:x} on connection {}", message.from, from.0);
    }

    /// A complete request from an HTTP API connection; answer it with
    /// [`Io::respond_http`] (now or later: the connection waits).
    fn on_http_request(&mut self, from: ConnectionId, request: HttpRequest, ctx: &mut Context) {
        log::debug!(target: "agent",
            "no HTTP API here for {} {} on connection {}", request.method, request.path, from.0);
        let refused = HttpResponse::text(501, "this agent does not serve the HTTP API");
        let _ = ctx.respond_http(from, &refused);
    }

    /// The answer to a request sent with [`Io::forward_client_request`].
    fn on_client_response(
        &mut self,
        from: ConnectionId,
        response: ClientResponse,
        ctx: &mut Context,
    ) {
        let _ = ctx;
        log::debug!(target: "agent",
            "ignoring response {} on connection {}", response.request_id, from.0);
    }

    /// A frame on a gossip push/pull connection (decoded by gossip's codec).
    fn on_gossip_sync_frame(&mut self, from: ConnectionId, frame: Frame, ctx: &mut Context) {
        let _ = (ctx, frame);
        log::debug!(target: "agent", "ignoring gossip sync frame on connection {}", from.0);
    }

    /// One UDP datagram, not yet decoded.
    fn on_datagram(&mut self, from: SocketAddr, bytes: &[u8], ctx: &mut Context) {
        let _ = ctx;
        log::debug!(target: "agent", "ignoring {} byte datagram from {from}", bytes.len());
    }

    /// One DNS query, not yet decoded; answer it with [`Io::send_dns`]
    /// (now or later).
    fn on_dns_query(&mut self, from: DnsPeer, bytes: &[u8], ctx: &mut Context) {
        let _ = ctx;
        log::debug!(target: "agent", "no DNS here for {} bytes from {from:?}", bytes.len());
    }

    /// Every tick (10 ms).
    fn on_tick(&mut self, ctx: &mut Context) {
        let _ = ctx;
    }

    /// Once per turn of the loop, after every input of the turn was handed
    /// over: the Raft side handles its Ready here, so all the entries and
    /// messages a turn produced share one fsync (group commit).
    fn on_turn_end(&mut self, ctx: &mut Context) {
        let _ = ctx;
    }

    /// A connection went away; requests waiting on it can be forgotten.
    fn on_connection_closed(&mut self, id: ConnectionId, ctx: &mut Context) {
        let _ = (id, ctx);
    }

    /// SIGINT by default stops the loop as a leave; an agent in a cluster
    /// overrides this to leave gracefully first.
    fn on_signal(&mut self, signal: Signal, ctx: &mut Context) {
        match signal {
            Signal::Interrupt => ctx.stop(StopReason::Left),
            Signal::Terminate => ctx.stop(StopReason::Terminated),
            Signal::Hangup => {}
        }
    }
}
