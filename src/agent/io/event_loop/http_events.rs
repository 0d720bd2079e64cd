//! The loop's side of the HTTP API: binding the listener, and turning an
//! HTTP connection's readiness into the next request for the handler.

use std::time::Instant;

use crate::agent::io::connection::ConnectionId;
use crate::agent::io::http_server::HttpServer;

use super::{EventLoop, EventLoopError, Handler, HttpListen, StopReason};

impl EventLoop {
    pub(super) fn on_http_event<H: Handler>(
        &mut self,
        id: ConnectionId,
        event: &mio::event::Event,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let Some(http) = self.http.as_mut() else {
            return;
        };
        if event.is_writable() || event.is_error() {
            http.flush_one(id, now);
        }
        if event.is_read_closed() || event.is_error() {
            http.on_read_closed(id);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_http_readable(id, handler, now, stop);
        }
    }

    /// Reads the connection's requests and hands each to the handler in
    /// order, as many as arrived (up to the connection's bound in flight
    /// and this turn's read budget).
    pub(super) fn on_http_readable<H: Handler>(
        &mut self,
        id: ConnectionId,
        handler: &mut H,
        now: Instant,
        stop: &mut Option<StopReason>,
    ) {
        let Some(mut budget) = self.http.as_ref().map(|h| h.read_budget()) else {
            return;
        };
        loop {
            let Some(http) = self.http.as_mut() else {
                return;
            };
            let Some(request) = http.read(id, &mut self.read_chunk, &mut budget, now) else {
                return;
            };
            let mut ctx = self.context(now, stop);
            handler.on_http_request(id, request, &mut ctx);
        }
    }
}

/// Binds the HTTP API listener: an explicit address must bind, the default
/// one may be taken (then the agent says so and serves no HTTP).
pub(super) fn bind_http(
    listen: HttpListen,
    registry: &mio::Registry,
) -> Result<Option<HttpServer>, EventLoopError> {
    match HttpServer::bind(listen.address, registry, listen.limits) {
        Ok(server) => Ok(Some(server)),
        Err(source) if listen.required => Err(EventLoopError::HttpBind {
            address: listen.address,
            source,
        }),
        Err(source) => {
            log::warn!(target: "agent",
                "cannot bind the HTTP API to {} ({source}); running without HTTP (set --http-addr)",
                listen.address);
            Ok(None)
        }
    }
}
