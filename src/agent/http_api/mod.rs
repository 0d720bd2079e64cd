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
mod metrics_endpoint;
pub mod render;
pub mod render_catalog;
pub mod reply_tap;
pub mod translate;

use std::collections::HashMap;
use std::time::Instant;

use crate::deterministic_rng::SplitMix64;
use crate::http::api_request::ApiRequest;
use crate::http::{HttpLimits, HttpRequest, HttpResponse, endpoint_pattern, route};
use crate::wire::client_message::{ClientRequest, ClientResponse, Consistency};

use crate::agent::handler::AgentHandler;
use crate::agent::http_api::render::{Rendering, render};
use crate::agent::http_api::translate::{AnswerShape, Internal, Translated, Translation};
use crate::agent::io::connection::ConnectionId;
use crate::agent::metrics::Registry;
use crate::agent::metrics::names::{API_HTTP, http_compat_name, method_label, path_label};
use crate::agent::seam::Context;

/// What Consul's HTTP metrics know of a request: its method (one of a
/// fixed set), its endpoint's pattern, and when it arrived.
#[derive(Debug, Clone, Copy)]
struct RequestTiming {
    method: &'static str,
    pattern: &'static str,
    started: Instant,
}

/// The request an HTTP connection waits on.
#[derive(Debug)]
struct InFlight {
    request_id: u64,
    shape: AnswerShape,
    consistency: Consistency,
    pretty: bool,
    timing: Option<RequestTiming>,
}

pub struct HttpApi {
    limits: HttpLimits,
    /// IDs of the internal requests HTTP requests become; never reused, so
    /// a late answer to a connection's earlier request matches nothing.
    next_request_id: u64,
    in_flight: HashMap<ConnectionId, InFlight>,
    /// A blocking query's jitter.
    jitter: SplitMix64,
    /// Request timings by endpoint, method and status code.
    metrics: Registry,
}

impl HttpApi {
    pub fn new(seed: u64) -> Self {
        HttpApi {
            limits: HttpLimits::default(),
            next_request_id: 1,
            in_flight: HashMap::new(),
            jitter: SplitMix64::new(seed),
            metrics: Registry::new(),
        }
    }

    fn begin(
        &mut self,
        connection: ConnectionId,
        internal: &Internal,
        pretty: bool,
        timing: Option<RequestTiming>,
    ) -> u64 {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.in_flight.insert(
            connection,
            InFlight {
                request_id,
                shape: internal.shape.clone(),
                consistency: internal.consistency,
                pretty,
                timing,
            },
        );
        request_id
    }

    /// The HTTP response for an internal answer, if its connection still
    /// waits for it.
    fn finish(
        &mut self,
        to: ConnectionId,
        response: ClientResponse,
    ) -> Option<(HttpResponse, Option<RequestTiming>)> {
        let waiting = self.in_flight.get(&to)?;
        if waiting.request_id != response.request_id {
            return None;
        }
        let waiting = self.in_flight.remove(&to)?;
        let rendering = Rendering {
            shape: &waiting.shape,
            consistency: waiting.consistency,
            pretty: waiting.pretty,
        };
        Some((render(response.body, rendering), waiting.timing))
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
            if let Some((response, timing)) = self.finish(to, answer) {
                self.answer(ctx, to, &response, timing);
            }
        }
    }

    /// Answers a request, and times it as Consul does: `consul.api.http`
    /// by method and path (and here by status code too), and the pre-1.9
    /// `consul.http.<METHOD>.<path>`. Requests for no endpoint are not
    /// timed, as in Consul, whose timing wraps each endpoint's handler.
    fn answer(
        &mut self,
        ctx: &mut Context,
        to: ConnectionId,
        response: &HttpResponse,
        timing: Option<RequestTiming>,
    ) {
        respond(ctx, to, response);
        let Some(timing) = timing else {
            return;
        };
        let (path, code) = (path_label(timing.pattern), response.status.to_string());
        let labels = [("method", timing.method), ("path", &path), ("code", &code)];
        let answered = ctx.clock();
        self.metrics
            .measure(API_HTTP, &labels, timing.started, answered);
        let compat = http_compat_name(timing.method, timing.pattern);
        self.metrics.measure(&compat, &[], timing.started, answered);
    }

    pub(crate) fn metrics(&self) -> &Registry {
        &self.metrics
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
        let timing = endpoint_pattern(&request.path).map(|pattern| RequestTiming {
            method: method_label(&request.method),
            pattern,
            started: ctx.now(),
        });
        let routed = match route(&request, &self.http.limits) {
            Ok(routed) => routed,
            Err(error) => return self.http.answer(ctx, from, &error.to_response(), timing),
        };
        let translation = Translation {
            datacenter: &self.config.datacenter,
            random: self.http.jitter.next_u64(),
        };
        match translation.translate(routed.request) {
            Translated::Answer(response) => self.http.answer(ctx, from, &response, timing),
            Translated::Agent(ApiRequest::AgentMetrics { format }) => {
                let response = self.agent_metrics(format, routed.pretty, ctx);
                self.http.answer(ctx, from, &response, timing);
            }
            Translated::Agent(request) => {
                let response = self.answer_agent_endpoint(request, routed.pretty);
                self.http.answer(ctx, from, &response, timing);
            }
            Translated::Internal(internal) => {
                let request_id = self.http.begin(from, &internal, routed.pretty, timing);
                let request = ClientRequest {
                    request_id,
                    body: internal.body,
                };
                self.serve_client_request(from, request, ctx);
            }
        }
    }
}
