//! The simulator's side of the seam: what an agent's calls on `Io` do to
//! the simulated network, for one handler call at one simulated instant.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use concord::agent::io::connection::ConnectionId;
use concord::agent::io::transport::{SendError, TransportStats};
use concord::agent::seam::{DnsPeer, Io, OffLoopWork, StopReason};
use concord::deterministic_rng::SplitMix64;
use concord::http::HttpResponse;
use concord::wire::client_message::{ClientRequest, ClientResponse};
use concord::wire::datagram::MAX_DATAGRAM_BYTES;
use concord::wire::frame::encode_frame;
use concord::wire::gossip_message::GossipMessage;
use concord::wire::message::Message;
use concord::wire::raft_message::{NodeId, RaftMessage};

use super::net::{AgentIndex, LinkKey, Network};

/// Work handed off the loop, to run at a later instant of the simulation.
pub struct Deferred {
    pub due_us: u64,
    pub name: &'static str,
    pub work: OffLoopWork,
}

/// How an agent's off-loop work runs: inline, or deferred by a seeded
/// delay (a slow snapshot thread), per seed.
#[derive(Debug, Clone, Copy)]
pub struct OffLoopPolicy {
    pub deferred_percent: u64,
    pub max_delay_us: u64,
}

pub struct SimIo<'a> {
    pub agent: AgentIndex,
    pub now_us: u64,
    pub base: Instant,
    pub net: &'a mut Network,
    /// The agent's own entropy stream (its `random_seed`, its off-loop
    /// delays), so one agent's choices do not shift another's.
    pub entropy: &'a mut SplitMix64,
    pub stop: &'a mut Option<StopReason>,
    pub deferred: &'a mut Vec<Deferred>,
    pub off_loop: OffLoopPolicy,
}

pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    let mut bytes = Vec::new();
    encode_frame(message, &mut bytes);
    bytes
}

impl SimIo<'_> {
    fn send_on<M: Message>(&mut self, id: ConnectionId, message: &M) -> Result<(), SendError> {
        let (conn, side) = self
            .net
            .agent_side(self.agent, id)
            .ok_or(SendError::UnknownConnection(id))?;
        self.net.send(self.now_us, conn, side, encode(message));
        Ok(())
    }

    fn send_on_link<M: Message>(
        &mut self,
        key: LinkKey,
        address: SocketAddr,
        message: &M,
    ) -> Result<ConnectionId, SendError> {
        let id = self.net.link(self.now_us, self.agent, key, address)?;
        self.send_on(id, message).map(|()| id)
    }
}

/// 2026-12-01 00:00:00 UTC.
const SIM_UNIX_EPOCH_SECS: u64 = 1_796_083_200;

impl Io for SimIo<'_> {
    fn now(&self) -> Instant {
        self.base + Duration::from_micros(self.now_us)
    }

    /// Simulated time does not pass within a handler call.
    fn clock(&self) -> Instant {
        self.now()
    }

    /// The simulated clock from a fixed wall-clock origin, so a seed's run
    /// shows the same timestamps every time.
    fn unix_time_secs(&self) -> u64 {
        SIM_UNIX_EPOCH_SECS + self.now_us / 1_000_000
    }

    /// A simulated agent is not a process of its own.
    fn resident_memory_bytes(&self) -> Option<u64> {
        None
    }

    fn random_seed(&mut self) -> u64 {
        self.entropy.next_u64()
    }

    /// Frames leave when sent here, so there is nothing to flush.
    fn flush_now(&mut self) {}

    fn local_addr(&self) -> SocketAddr {
        self.net.agents[self.agent].address
    }

    fn stats(&self) -> TransportStats {
        TransportStats::default()
    }

    fn connection_count(&self) -> usize {
        self.net.connection_count(self.agent)
    }

    fn remote_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.net.remote_addr(self.agent, id)
    }

    fn queued_bytes(&self, id: ConnectionId) -> Option<usize> {
        self.net.agent_side(self.agent, id).map(|_| 0)
    }

    fn reply(&mut self, to: ConnectionId, response: &ClientResponse) -> Result<(), SendError> {
        self.send_on(to, response)
    }

    /// The answer's bytes go out on the connection, as the loop writes them.
    fn respond_http(&mut self, to: ConnectionId, response: &HttpResponse) -> Result<(), SendError> {
        let (conn, side) = self
            .net
            .agent_side(self.agent, to)
            .ok_or(SendError::UnknownConnection(to))?;
        self.net
            .send(self.now_us, conn, side, response.to_bytes(true));
        Ok(())
    }

    fn send_raft(
        &mut self,
        peer: NodeId,
        address: SocketAddr,
        message: &RaftMessage,
    ) -> Result<(), SendError> {
        self.send_on_link(LinkKey::Raft(peer), address, message)
            .map(|_| ())
    }

    fn send_raft_on(&mut self, link: ConnectionId, message: &RaftMessage) -> Result<(), SendError> {
        self.send_on(link, message)
    }

    fn forward_client_request(
        &mut self,
        server: SocketAddr,
        request: &ClientRequest,
    ) -> Result<ConnectionId, SendError> {
        self.send_on_link(LinkKey::Client(server), server, request)
    }

    fn send_gossip_sync(
        &mut self,
        member: SocketAddr,
        message: &GossipMessage,
    ) -> Result<ConnectionId, SendError> {
        self.send_on_link(LinkKey::GossipSync(member), member, message)
    }

    fn send_gossip_sync_on(
        &mut self,
        link: ConnectionId,
        message: &GossipMessage,
    ) -> Result<(), SendError> {
        self.send_on(link, message)
    }

    fn send_datagram(&mut self, to: SocketAddr, bytes: &[u8]) -> Result<(), SendError> {
        if bytes.len() > MAX_DATAGRAM_BYTES {
            return Err(SendError::DatagramTooLarge {
                size: bytes.len(),
                max: MAX_DATAGRAM_BYTES,
            });
        }
        self.net.send_datagram(self.now_us, self.agent, to, bytes);
        Ok(())
    }

    /// The simulated network carries no DNS: queries never arrive, so
    /// there is nothing to answer.
    fn send_dns(&mut self, to: DnsPeer, bytes: &[u8]) -> Result<(), SendError> {
        let _ = (to, bytes);
        Ok(())
    }

    fn close(&mut self, id: ConnectionId) {
        if let Some((conn, side)) = self.net.agent_side(self.agent, id) {
            self.net.close(self.now_us, conn, side);
        }
    }

    fn stop(&mut self, reason: StopReason) {
        self.stop.get_or_insert(reason);
    }

    // Simulated agents share one process and its logger: a level set by
    // one would change every other's, so the simulator keeps its own.
    fn set_log_level(&mut self, _level: log::LevelFilter) {}

    fn off_loop(&mut self, name: &'static str, work: OffLoopWork) {
        let policy = self.off_loop;
        if self.entropy.range(0, 100) >= policy.deferred_percent {
            work();
            return;
        }
        let delay = self.entropy.range(1, policy.max_delay_us.max(1) + 1);
        self.deferred.push(Deferred {
            due_us: self.now_us + delay,
            name,
            work,
        });
    }
}
