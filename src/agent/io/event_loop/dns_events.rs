//! The loop's side of the DNS port: binding it, and turning its readiness
//! into queries for the handler.

use std::net::SocketAddr;
use std::time::Instant;

use crate::agent::io::connection::ConnectionId;
use crate::agent::io::dns_server::{DNS_LISTENER_TOKEN, DNS_UDP_TOKEN, DnsServer, DnsServerLimits};
use crate::agent::seam::DnsPeer;

use super::{EventLoop, EventLoopError, Handler, StopReason};

/// Where DNS is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsListen {
    pub address: SocketAddr,
    /// Given explicitly: failing to bind it fails the start. The default
    /// is often another agent's on the same machine: then this one warns
    /// and serves no DNS.
    pub required: bool,
    pub limits: DnsServerLimits,
}

impl EventLoop {
    /// Handles an event of the DNS port; false when the token is not one.
    pub(super) fn on_dns_event<H: Handler>(
        &mut self,
        event: &mio::event::Event,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) -> bool {
        let token = event.token();
        if self.dns.is_none() {
            return false;
        }
        match token {
            DNS_UDP_TOKEN => self.read_dns_datagrams(handler, now, stop),
            DNS_LISTENER_TOKEN => {
                if let Some(dns) = self.dns.as_mut() {
                    dns.accept_pending(now);
                }
            }
            mio::Token(raw) if ConnectionId(raw).is_dns() => {
                let id = ConnectionId(raw);
                if (event.is_writable() || event.is_error())
                    && let Some(dns) = self.dns.as_mut()
                {
                    dns.flush_one(id, now);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_dns_connection(id, handler, now, stop);
                }
            }
            _ => return false,
        }
        true
    }

    /// What the DNS port left for another pass (read budgets ran out).
    pub(super) fn continue_dns<H: Handler>(
        &mut self,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let Some(dns) = self.dns.as_mut() else {
            return;
        };
        let again = std::mem::take(&mut dns.to_read);
        if std::mem::take(&mut dns.listener_still_ready) {
            dns.accept_pending(now);
        }
        if dns.udp_still_readable {
            self.read_dns_datagrams(handler, now, stop);
        }
        for id in again {
            self.read_dns_connection(id, handler, now, stop);
        }
    }

    fn read_dns_datagrams<H: Handler>(
        &mut self,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let mut queries: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        if let Some(dns) = self.dns.as_mut() {
            dns.read_datagrams(|from, bytes| queries.push((from, bytes.to_vec())));
        }
        for (from, bytes) in queries {
            let mut ctx = self.context(now, stop);
            handler.on_dns_query(DnsPeer::Udp(from), &bytes, &mut ctx);
        }
    }

    fn read_dns_connection<H: Handler>(
        &mut self,
        id: ConnectionId,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let Some(dns) = self.dns.as_mut() else {
            return;
        };
        for message in dns.read(id, &mut self.read_chunk, now) {
            let mut ctx = self.context(now, stop);
            handler.on_dns_query(DnsPeer::Tcp(id), &message, &mut ctx);
        }
    }
}

/// Binds the DNS port: an explicit address must bind, the default one may
/// be taken (then the agent says so and serves no DNS).
pub(super) fn bind_dns(
    listen: DnsListen,
    registry: &mio::Registry,
) -> Result<Option<DnsServer>, EventLoopError> {
    match DnsServer::bind(listen.address, registry, listen.limits) {
        Ok(server) => Ok(Some(server)),
        Err(source) if listen.required => Err(EventLoopError::DnsBind {
            address: listen.address,
            source,
        }),
        Err(source) => {
            log::warn!(target: "agent",
                "cannot bind DNS to {} ({source}); running without DNS (set --dns-addr)",
                listen.address);
            Ok(None)
        }
    }
}
