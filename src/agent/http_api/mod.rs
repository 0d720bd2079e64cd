//! Consul's HTTP API on the agent. A request from the loop's HTTP listener
//! is routed by the pure [`crate::http`] layer, then becomes the same
//! internal request a native client sends, with the HTTP connection as the
//! client: it travels the same path (answered here, proposed by the leader,
//! forwarded to the leader or, from a client agent, to a server) and is
//! answered through the same reply path, which [`reply_tap`] turns back
//! into an HTTP response ([`render`]). Each connection has one request in
//! flight at a time (the loop hands over the next only after the answer),
//! so the table of requests in flight is bounded by the connections.
//!
//! Blocking queries travel the same way with their index and wait; the
//! server that serves the read holds them (see
//! [`crate::agent::server::reads`]). A client agent does not hold them: it
//! forwards the query to a server and waits for the answer as long as the
//! query's wait (plus the forwarding timeout), so the query is held where
//! the state it watches changes.

pub mod agent_endpoints;
pub mod render;
pub mod render_catalog;
pub mod reply_tap;
pub mod translate;

use std::collections::HashMap;

use crate::deterministic_rng::SplitMix64;
use crate::http::{HttpLimits, HttpRequest, HttpResponse, route};
use crate::wire::client_message::{ClientRequest, ClientResponse, Consistency};

use crate::agent::handler::AgentHandler;
use crate::agent::http_api::render::{Rendering, render};
use crate::agent::http_api::translate::{AnswerShape, Internal, Translated, Translation};
use crate::agent::io::connection::ConnectionId;
use crate::agent::seam::Context;

/// The request an HTTP connection waits on.
#[derive(Debug)]
struct InFlight {
    request_id: u64,
    shape: AnswerShape,
    consistency: Consistency,
    pretty: bool,
}

pub struct HttpApi {
    limits: HttpLimits,
    /// IDs of the internal requests HTTP requests become; never reused, so
    /// a late answer to a connection's earlier request matches nothing.
    next_request_id: u64,
    in_flight: HashMap<ConnectionId, InFlight>,
    /// A blocking query's jitter.
    jitter: SplitMix64,
}

impl HttpApi {
    pub fn new(seed: u64) -> Self {
        HttpApi {
            limits: HttpLimits::default(),
            next_request_id: 1,
            in_flight: HashMap::new(),
            jitter: SplitMix64::new(seed),
        }
    }

    fn begin(&mut self, connection: ConnectionId, internal: &Internal, pretty: bool) -> u64 {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.in_flight.insert(
            connection,
            InFlight {
                request_id,
                shape: internal.shape.clone(),
                consistency: internal.consistency,
                pretty,
            },
        );
        request_id
    }

    /// The HTTP response for an internal answer, if its connection still
    /// waits for it.
    fn finish(&mut self, to: ConnectionId, response: ClientResponse) -> Option<HttpResponse> {
        let waiting = self.in_flight.get(&to)?;
        if waiting.request_id != response.request_id {
            return None;
        }
        let waiting = self.in_flight.remove(&to)?;
        Some(render(
            response.body,
            Rendering {
                shape: &waiting.shape,
                consistency: waiting.consistency,
                pretty: waiting.pretty,
            },
        ))
    }

    pub fn forget(&mut self, connection: ConnectionId) {
        self.in_flight.remove(&connection);
    }

    /// Requests in flight (one per connection at most).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Turns the answers a tapped input produced into HTTP responses.
    pub fn deliver(&mut self, ctx: &mut Context, answers: Vec<(ConnectionId, ClientResponse)>) {
        for (to, answer) in answers {
            if let Some(response) = self.finish(to, answer) {
                respond(ctx, to, &response);
            }
        }
    }
}

fn respond(ctx: &mut Context, to: ConnectionId, response: &HttpResponse) {
    if let Err(err) = ctx.respond_http(to, response) {
        log::debug!(target: "agent.http", "cannot answer HTTP connection {}: {err}", to.0);
    }
}

impl AgentHandler {
    /// One HTTP request: answered at once, or on its way as an internal
    /// request whose answer comes back through the reply tap.
    pub(crate) fn serve_http(
        &mut self,
        from: ConnectionId,
        request: HttpRequest,
        ctx: &mut Context,
    ) {
        let routed = match route(&request, &self.http.limits) {
            Ok(routed) => routed,
            Err(error) => return respond(ctx, from, &error.to_response()),
        };
        let translation = Translation {
            datacenter: &self.config.datacenter,
            random: self.http.jitter.next_u64(),
        };
        match translation.translate(routed.request) {
            Translated::Answer(response) => respond(ctx, from, &response),
            Translated::Agent(request) => {
                let response = self.answer_agent_endpoint(request, routed.pretty);
                respond(ctx, from, &response);
            }
            Translated::Internal(internal) => {
                let request_id = self.http.begin(from, &internal, routed.pretty);
                let request = ClientRequest {
                    request_id,
                    body: internal.body,
                };
                self.serve_client_request(from, request, ctx);
            }
        }
    }
}
