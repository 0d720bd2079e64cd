//! How an HTTP request's answer leaves the native reply path. An HTTP
//! request travels as the same internal request a native client sends,
//! with its HTTP connection as the client: the router, the Raft host and
//! the forwarding table answer it with [`Io::reply`] as they answer every
//! client. The agent wraps the loop's [`Io`] in a [`ReplyTap`] for each
//! input, which passes every call through except answers addressed to an
//! HTTP connection: those it keeps, and the agent turns them into HTTP
//! responses once the input is handled.

use std::net::SocketAddr;
use std::time::Instant;

use crate::http::HttpResponse;
use crate::wire::client_message::{ClientRequest, ClientResponse};
use crate::wire::gossip_message::GossipMessage;
use crate::wire::raft_message::{NodeId, RaftMessage};

use crate::agent::io::connection::ConnectionId;
use crate::agent::io::transport::{SendError, TransportStats};
use crate::agent::local_services::AGENT_INTERNAL;
use crate::agent::seam::{Context, DnsPeer, Io, OffLoopWork, StopReason};

pub struct ReplyTap<'a, 'b> {
    inner: &'a mut Context<'b>,
    /// Answers to HTTP requests, in the order given.
    pub(crate) taken: Vec<(ConnectionId, ClientResponse)>,
}

impl<'a, 'b> ReplyTap<'a, 'b> {
    pub fn new(inner: &'a mut Context<'b>) -> Self {
        ReplyTap {
            inner,
            taken: Vec::new(),
        }
    }

    /// The loop's own context again, and the answers kept.
    pub fn into_parts(self) -> (&'a mut Context<'b>, Vec<(ConnectionId, ClientResponse)>) {
        (self.inner, self.taken)
    }
}

impl Io for ReplyTap<'_, '_> {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn clock(&self) -> Instant {
        self.inner.clock()
    }

    fn unix_time_secs(&self) -> u64 {
        self.inner.unix_time_secs()
    }

    fn resident_memory_bytes(&self) -> Option<u64> {
        self.inner.resident_memory_bytes()
    }

    fn random_seed(&mut self) -> u64 {
        self.inner.random_seed()
    }

    fn flush_now(&mut self) {
        self.inner.flush_now();
    }

    fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    fn stats(&self) -> TransportStats {
        self.inner.stats()
    }

    fn connection_count(&self) -> usize {
        self.inner.connection_count()
    }

    fn remote_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.inner.remote_addr(id)
    }

    fn queued_bytes(&self, id: ConnectionId) -> Option<usize> {
        self.inner.queued_bytes(id)
    }

    fn reply(&mut self, to: ConnectionId, response: &ClientResponse) -> Result<(), SendError> {
        if to.is_http() || to.is_dns() || to == AGENT_INTERNAL {
            self.taken.push((to, response.clone()));
            return Ok(());
        }
        self.inner.reply(to, response)
    }

    fn respond_http(&mut self, to: ConnectionId, response: &HttpResponse) -> Result<(), SendError> {
        self.inner.respond_http(to, response)
    }

    fn send_raft(
        &mut self,
        peer: NodeId,
        address: SocketAddr,
        message: &RaftMessage,
    ) -> Result<(), SendError> {
        self.inner.send_raft(peer, address, message)
    }

    fn send_raft_on(&mut self, link: ConnectionId, message: &RaftMessage) -> Result<(), SendError> {
        self.inner.send_raft_on(link, message)
    }

    fn forward_client_request(
        &mut self,
        server: SocketAddr,
        request: &ClientRequest,
    ) -> Result<ConnectionId, SendError> {
        self.inner.forward_client_request(server, request)
    }

    fn send_gossip_sync(
        &mut self,
        member: SocketAddr,
        message: &GossipMessage,
    ) -> Result<ConnectionId, SendError> {
        self.inner.send_gossip_sync(member, message)
    }

    fn send_gossip_sync_on(
        &mut self,
        link: ConnectionId,
        message: &GossipMessage,
    ) -> Result<(), SendError> {
        self.inner.send_gossip_sync_on(link, message)
    }

    fn send_datagram(&mut self, to: SocketAddr, bytes: &[u8]) -> Result<(), SendError> {
        self.inner.send_datagram(to, bytes)
    }

    fn send_dns(&mut self, to: DnsPeer, bytes: &[u8]) -> Result<(), SendError> {
        self.inner.send_dns(to, bytes)
    }

    fn close(&mut self, id: ConnectionId) {
        self.inner.close(id);
    }

    fn stop(&mut self, reason: StopReason) {
        self.inner.stop(reason);
    }

    fn set_log_level(&mut self, level: log::LevelFilter) {
        self.inner.set_log_level(level);
    }

    fn off_loop(&mut self, name: &'static str, work: OffLoopWork) {
        self.inner.off_loop(name, work);
    }
}
