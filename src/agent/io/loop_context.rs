//! The loop's implementation of the agent's seam ([`Io`]) for one turn:
//! what each call does to the transport, the UDP socket and threads.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::wire::client_message::{ClientRequest, ClientResponse};
use crate::wire::datagram::MAX_DATAGRAM_BYTES;
use crate::wire::frame::encode_frame;
use crate::wire::gossip_message::GossipMessage;
use crate::wire::message::Message;
use crate::wire::raft_message::{NodeId, RaftMessage};

use crate::agent::io::connection::{ConnectionId, LinkKey};
use crate::agent::io::dns_server::DnsServer;
use crate::agent::io::http_server::HttpServer;
use crate::agent::io::process_memory;
use crate::agent::io::transport::{CloseReason, SendError, Transport, TransportStats};
use crate::agent::seam::{DnsPeer, Io, OffLoopWork, StopReason};
use crate::http::HttpResponse;

/// The loop's side of the seam for one turn: what a handler's calls on
/// [`Io`] do to the transport.
pub struct LoopContext<'a> {
    transport: &'a mut Transport,
    http: Option<&'a mut HttpServer>,
    dns: Option<&'a mut DnsServer>,
    now: Instant,
    stop: &'a mut Option<StopReason>,
}

impl<'a> LoopContext<'a> {
    pub(crate) fn new(
        transport: &'a mut Transport,
        http: Option<&'a mut HttpServer>,
        dns: Option<&'a mut DnsServer>,
        now: Instant,
        stop: &'a mut Option<StopReason>,
    ) -> Self {
        LoopContext {
            transport,
            http,
            dns,
            now,
            stop,
        }
    }

    fn send_frame<M: Message>(&mut self, to: ConnectionId, message: &M) -> Result<(), SendError> {
        self.transport
            .send_with(to, |out| encode_frame(message, out), self.now)
    }
}

impl Io for LoopContext<'_> {
    fn now(&self) -> Instant {
        self.now
    }

    fn clock(&self) -> Instant {
        Instant::now()
    }

    fn unix_time_secs(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn resident_memory_bytes(&self) -> Option<u64> {
        process_memory::resident_bytes()
    }

    fn random_seed(&mut self) -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    }

    fn flush_now(&mut self) {
        self.transport.flush_scheduled(self.now);
        if let Some(http) = self.http.as_deref_mut() {
            http.flush_scheduled(self.now);
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    fn stats(&self) -> TransportStats {
        self.transport.stats()
    }

    fn connection_count(&self) -> usize {
        self.transport.connection_count()
    }

    fn remote_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        if id.is_http() {
            return self.http.as_deref().and_then(|http| http.remote_addr(id));
        }
        self.transport.connections.get(&id).map(|c| c.remote)
    }

    fn queued_bytes(&self, id: ConnectionId) -> Option<usize> {
        if id.is_http() {
            return self.http.as_deref().and_then(|http| http.queued_bytes(id));
        }
        self.transport
            .connections
            .get(&id)
            .map(|c| c.queued_bytes())
    }

    fn reply(&mut self, to: ConnectionId, response: &ClientResponse) -> Result<(), SendError> {
        self.send_frame(to, response)
    }

    fn respond_http(&mut self, to: ConnectionId, response: &HttpResponse) -> Result<(), SendError> {
        match self.http.as_deref_mut() {
            Some(http) => http.respond(to, response),
            None => Err(SendError::UnknownConnection(to)),
        }
    }

    fn send_raft(
        &mut self,
        peer: NodeId,
        address: SocketAddr,
        message: &RaftMessage,
    ) -> Result<(), SendError> {
        let id = self
            .transport
            .link_connection(LinkKey::Raft(peer), address, self.now)?;
        self.send_frame(id, message)
    }

    fn send_raft_on(&mut self, link: ConnectionId, message: &RaftMessage) -> Result<(), SendError> {
        self.send_frame(link, message)
    }

    fn forward_client_request(
        &mut self,
        server: SocketAddr,
        request: &ClientRequest,
    ) -> Result<ConnectionId, SendError> {
        let id = self
            .transport
            .link_connection(LinkKey::Client(server), server, self.now)?;
        self.send_frame(id, request).map(|()| id)
    }

    fn send_gossip_sync(
        &mut self,
        member: SocketAddr,
        message: &GossipMessage,
    ) -> Result<ConnectionId, SendError> {
        let id = self
            .transport
            .link_connection(LinkKey::GossipSync(member), member, self.now)?;
        self.send_frame(id, message).map(|()| id)
    }

    fn send_gossip_sync_on(
        &mut self,
        link: ConnectionId,
        message: &GossipMessage,
    ) -> Result<(), SendError> {
        self.send_frame(link, message)
    }

    fn send_datagram(&mut self, to: SocketAddr, bytes: &[u8]) -> Result<(), SendError> {
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(SendError::DatagramTooLarge {
                size: bytes.len(),
                max: MAX_DATAGRAM_BYTES,
            });
        }
        match self.transport.udp.send_to(bytes, to) {
            Ok(_) => Ok(()),
            // UDP is lossy anyway; gossip probes again.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                self.transport.stats.datagrams_dropped += 1;
                Ok(())
            }
            Err(err) => Err(SendError::Io(err)),
        }
    }

    fn send_dns(&mut self, to: DnsPeer, bytes: &[u8]) -> Result<(), SendError> {
        match self.dns.as_deref_mut() {
            Some(dns) => dns.send(to, bytes, self.now),
            None => Err(SendError::NoRequestWaiting(ConnectionId(0))),
        }
    }

    fn close(&mut self, id: ConnectionId) {
        if id.is_dns() {
            if let Some(dns) = self.dns.as_deref_mut() {
                dns.close(id, "closed by the agent");
            }
            return;
        }
        if id.is_http() {
            if let Some(http) = self.http.as_deref_mut() {
                http.close(id, "closed by the agent");
            }
            return;
        }
        self.transport.close(id, CloseReason::Requested, self.now);
    }

    /// Stops the loop once queued writes have drained (bounded by
    /// `STOP_FLUSH_TIMEOUT`).
    fn stop(&mut self, reason: StopReason) {
        self.stop.get_or_insert(reason);
    }

    fn set_log_level(&mut self, level: log::LevelFilter) {
        log::set_max_level(level);
    }

    fn off_loop(&mut self, name: &'static str, work: OffLoopWork) {
        // Without a thread the work cannot run elsewhere; running it inline
        // keeps the agent correct at the cost of one stalled turn.
        let work = Arc::new(Mutex::new(Some(work)));
        let for_thread = work.clone();
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || take_work(&for_thread).map(|work| work()));
        if let Err(err) = spawned {
            log::warn!(target: "agent", "cannot start thread {name}: {err}; running it on the loop");
            if let Some(work) = take_work(&work) {
                work();
            }
        }
    }
}

fn take_work(cell: &Mutex<Option<OffLoopWork>>) -> Option<OffLoopWork> {
    cell.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take()
}
