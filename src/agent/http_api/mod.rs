//! Consul's HTTP API on the agent. A request from the loop's HTTP listener
//! is routed by the pure [`crate::http`] layer, then becomes the same
//! internal request a native client sends, with the HTTP connection as the
//! client: it travels the same path (answered here, proposed by the leader,
//! forwarded to the leader or, from a client agent, to a server) and is
//! answered through the same reply path, which [`reply_tap`] turns back
//! into an HTTP response ([`render`]). A connection may pipeline up to
//! [`MAX_REQUESTS_IN_FLIGHT`] requests (the loop reads no more until
//! answers leave); their answers leave in request order through each
//! connection's [`ResponseSequencer`], so the table of requests in flight
//! is bounded by the connections times that bound.
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
pub mod render_health;
pub mod reply_tap;
pub mod response_sequencer;
pub mod translate;

use std::collections::HashMap;
use std::time::Instant;

use crate::deterministic_rng::SplitMix64;
use crate::http::api_request::ApiRequest;
use crate::http::{HttpLimits, HttpRequest, HttpResponse, endpoint_pattern, route};
use crate::wire::client_message::{ClientRequest, ClientResponse, Consistency};

use crate::agent::handler::AgentHandler;
use crate::agent::http_api::render::{Rendering, render};
use crate::agent::http_api::response_sequencer::{
    MAX_REQUESTS_IN_FLIGHT, ResponseSequencer, SequencerError, Slot,
};
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

/// An internal request an HTTP request became, waiting for its answer.
#[derive(Debug)]
struct InFlight {
    request_id: u64,
    slot: Slot,
    shape: AnswerShape,
    consistency: Consistency,
    pretty: bool,
    timing: Option<RequestTiming>,
}

/// An answer ready to go, once every answer before it on its connection
/// has gone.
type ReadyAnswer = (HttpResponse, Option<RequestTiming>);

/// One connection's requests in flight: the order their answers leave in,
/// and which of them wait for an internal answer.
#[derive(Debug)]
struct ConnectionExchanges {
    sequencer: ResponseSequencer<ReadyAnswer>,
    waiting: Vec<InFlight>,
}

pub struct HttpApi {
    limits: HttpLimits,
    /// IDs of the internal requests HTTP requests become; never reused, so
    /// a late answer to a connection's earlier request matches nothing.
    next_request_id: u64,
    /// Only connections with a request in flight have an entry, so the
    /// table is bounded by the connections times [`MAX_REQUESTS_IN_FLIGHT`].
    exchanges: HashMap<ConnectionId, ConnectionExchanges>,
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
            exchanges: HashMap::new(),
            jitter: SplitMix64::new(seed),
            metrics: Registry::new(),
        }
    }

    /// The slot of a connection's next request in its answers' order.
    fn open_slot(&mut self, connection: ConnectionId, ends: bool) -> Result<Slot, SequencerError> {
        self.exchanges
            .entry(connection)
            .or_insert_with(|| ConnectionExchanges {
                sequencer: ResponseSequencer::new(MAX_REQUESTS_IN_FLIGHT),
                waiting: Vec::new(),
            })
            .sequencer
            .begin(ends)
    }

    fn begin(
        &mut self,
        connection: ConnectionId,
        slot: Slot,
        internal: &Internal,
        pretty: bool,
        timing: Option<RequestTiming>,
    ) -> u64 {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let Some(exchanges) = self.exchanges.get_mut(&connection) else {
            unreachable!("a slot was opened for connection {}", connection.0);
        };
        exchanges.waiting.push(InFlight {
            request_id,
            slot,
            shape: internal.shape.clone(),
            consistency: internal.consistency,
            pretty,
            timing,
        });
        request_id
    }

    /// Renders an internal answer into its slot, if its connection still
    /// waits for it; returns whether it did.
    fn finish(&mut self, to: ConnectionId, response: ClientResponse) -> bool {
        let Some(exchanges) = self.exchanges.get_mut(&to) else {
            return false;
        };
        let Some(at) = exchanges
            .waiting
            .iter()
            .position(|w| w.request_id == response.request_id)
        else {
            return false;
        };
        let waiting = exchanges.waiting.swap_remove(at);
        let rendering = Rendering {
            shape: &waiting.shape,
            consistency: waiting.consistency,
            pretty: waiting.pretty,
        };
        let answer = (render(response.body, rendering), waiting.timing);
        exchanges.sequencer.complete(waiting.slot, answer).is_ok()
    }

    /// The connection closed: its answers, sent or not, matter to nobody.
    pub fn forget(&mut self, connection: ConnectionId) {
        self.exchanges.remove(&connection);
    }

    /// Internal requests in flight, over every connection.
    pub fn in_flight(&self) -> usize {
        self.exchanges.values().map(|e| e.waiting.len()).sum()
    }

    /// Turns the answers a tapped input produced into HTTP responses.
    pub fn deliver(&mut self, ctx: &mut Context, answers: Vec<(ConnectionId, ClientResponse)>) {
        for (to, answer) in answers {
            if self.finish(to, answer) {
                self.send_ready(ctx, to);
            }
        }
    }

    /// Puts an answer in its slot and sends what is ready.
    fn answer(
        &mut self,
        ctx: &mut Context,
        to: ConnectionId,
        slot: Slot,
        response: HttpResponse,
        timing: Option<RequestTiming>,
    ) {
        let Some(exchanges) = self.exchanges.get_mut(&to) else {
            return;
        };
        if let Err(err) = exchanges.sequencer.complete(slot, (response, timing)) {
            log::warn!(target: "agent.http",
                "answer for connection {} has no slot: {err:?}", to.0);
        }
        self.send_ready(ctx, to);
    }

    /// Sends the connection's answers that are next in its order.
    fn send_ready(&mut self, ctx: &mut Context, to: ConnectionId) {
        let Some(exchanges) = self.exchanges.get_mut(&to) else {
            return;
        };
        let ready: Vec<ReadyAnswer> =
            std::iter::from_fn(|| exchanges.sequencer.pop_ready()).collect();
        if exchanges.sequencer.in_flight() == 0 {
            debug_assert!(exchanges.waiting.is_empty());
            self.exchanges.remove(&to);
        }
        for (response, timing) in ready {
            self.send(ctx, to, &response, timing);
        }
    }

    /// Answers a request, and times it as Consul does: `consul.api.http`
    /// by method and path (and here by status code too), and the pre-1.9
    /// `consul.http.<METHOD>.<path>`. Requests for no endpoint are not
    /// timed, as in Consul, whose timing wraps each endpoint's handler.
    fn send(
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
        let slot = match self.http.open_slot(from, !request.keep_alive) {
            Ok(slot) => slot,
            Err(err) => {
                // The loop reads no more than a connection's bound, and
                // nothing after its last request: this is a loop bug.
                log::warn!(target: "agent.http",
                    "HTTP connection {} over its requests in flight: {err:?}", from.0);
                let refused = HttpResponse::text(503, "too many requests in flight");
                return respond(ctx, from, &refused);
            }
        };
        let routed = match route(&request, &self.http.limits) {
            Ok(routed) => routed,
            Err(error) => {
                return self
                    .http
                    .answer(ctx, from, slot, error.to_response(), timing);
            }
        };
        let translation = Translation {
            datacenter: &self.config.datacenter,
            random: self.http.jitter.next_u64(),
        };
        match translation.translate(routed.request) {
            Translated::Answer(response) => self.http.answer(ctx, from, slot, response, timing),
            Translated::Agent(ApiRequest::AgentReload) => {
                let response = match self.reload_configuration(ctx) {
                    Ok(()) => HttpResponse::new(200),
                    Err(err) => HttpResponse::text(500, &err),
                };
                self.http.answer(ctx, from, slot, response, timing);
            }
            Translated::Agent(ApiRequest::AgentLocal(request)) => {
                let response = self.local.serve(request, routed.pretty, ctx.now());
                self.http.answer(ctx, from, slot, response, timing);
            }
            Translated::Agent(ApiRequest::AgentMetrics { format }) => {
                let response = self.agent_metrics(format, routed.pretty, ctx);
                self.http.answer(ctx, from, slot, response, timing);
            }
            Translated::Agent(request) => {
                let response = self.answer_agent_endpoint(request, routed.pretty);
                self.http.answer(ctx, from, slot, response, timing);
            }
            Translated::Internal(internal) => {
                let request_id = self
                    .http
                    .begin(from, slot, &internal, routed.pretty, timing);
                let request = ClientRequest {
                    request_id,
                    body: internal.body,
                };
                self.serve_client_request(from, request, ctx);
            }
        }
    }
}
