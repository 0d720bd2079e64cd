//! Consul's DNS interface on the agent. A query is parsed by the pure core
//! ([`crate::dns`]); what needs the catalog travels as a stale
//! `CatalogRead` through the router, from [`DNS_QUERIES`], as an HTTP
//! request does: a server answers it from its own state machine (Consul's
//! DNS with `allow_stale`), a client agent forwards it to a server. The
//! reply tap hands the answer back here, matched to its query by request
//! ID, and the core builds the response. A query unanswered within
//! [`DNS_ANSWER_TIMEOUT`] gets SERVFAIL.

mod instances;
mod pending;
mod recursor;
mod respond;

use crate::dns::{self, DnsConfig, DnsQuery, Lookup, Transport, parse_query};
use crate::wire::client_catalog::{CatalogQuery, CatalogRead};
use crate::wire::client_message::{ClientRequest, ClientResponse, Consistency, RequestBody};

use crate::agent::io::connection::ConnectionId;
use crate::agent::metrics::Registry;
use crate::agent::metrics::names::DNS_DOMAIN_QUERY;
use crate::agent::seam::{Context, DnsPeer};

pub use crate::agent::io::connection::DNS_QUERIES;
pub use pending::{DNS_ANSWER_TIMEOUT, MAX_PENDING_DNS_QUERIES};
use pending::{PendingQueries, PendingQuery};
use recursor::{Forward, MAX_RECURSOR_FORWARDS};

use std::net::SocketAddr;

/// The service whose instances are the servers, named in NS records.
const SERVERS_SERVICE: &str = "consul";

pub struct DnsApi {
    config: DnsConfig,
    pending: PendingQueries,
    next_request_id: u64,
    /// The node label of the query timings.
    node_name: String,
    metrics: Registry,
    /// `--recursor`: where names outside the domain are forwarded.
    recursor: Option<SocketAddr>,
    forwards: Vec<Forward>,
}

impl DnsApi {
    pub fn new(config: DnsConfig, node_name: &str) -> Self {
        DnsApi {
            config,
            pending: PendingQueries::default(),
            next_request_id: 0,
            node_name: node_name.to_string(),
            metrics: Registry::new(),
            recursor: None,
            forwards: Vec::new(),
        }
    }

    pub fn metrics(&self) -> &Registry {
        &self.metrics
    }

    fn measure(&mut self, started: std::time::Instant, ctx: &Context) {
        let labels = [("node", self.node_name.as_str())];
        self.metrics
            .measure(DNS_DOMAIN_QUERY, &labels, started, ctx.clock());
    }

    pub fn set_config(&mut self, mut config: DnsConfig, recursor: Option<SocketAddr>) {
        config.has_recursor = recursor.is_some();
        self.config = config;
        self.recursor = recursor;
    }

    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// A query from `from`: answered now, or the catalog read to route.
    pub fn on_query(
        &mut self,
        from: DnsPeer,
        bytes: &[u8],
        ctx: &mut Context,
    ) -> Option<ClientRequest> {
        let transport = match from {
            DnsPeer::Udp(_) => Transport::Udp,
            DnsPeer::Tcp(_) => Transport::Tcp,
        };
        let query = match parse_query(bytes, transport, &self.config) {
            Ok(query) => query,
            Err(error) => {
                log::debug!(target: "agent.dns", "bad query from {from:?}: {error}");
                if let Some(answer) = error.response() {
                    send(ctx, from, &answer);
                }
                return None;
            }
        };
        let started = ctx.clock();
        let serial = soa_serial(ctx);
        let config = &self.config;
        let catalog_query = match &query.lookup {
            Lookup::Service { service, .. } => health_service(service),
            Lookup::Authority => health_service(SERVERS_SERVICE),
            Lookup::Node { node, .. } => CatalogQuery::Node { name: node.clone() },
            Lookup::OutsideDomain => {
                self.outside_domain(from, bytes, &query, ctx);
                return None;
            }
            Lookup::Addr { .. } | Lookup::ZoneTransfer | Lookup::Unknown => {
                let answer = match query.lookup {
                    Lookup::Addr { .. } => dns::addr_answer(&query, transport, serial, config),
                    Lookup::ZoneTransfer => dns::zone_transfer(&query, config),
                    _ => dns::nxdomain(&query, serial, config),
                };
                send(ctx, from, &answer);
                self.measure(started, ctx);
                return None;
            }
        };
        let pending = PendingQuery {
            peer: from,
            transport,
            query,
            started,
            deadline: ctx.now() + DNS_ANSWER_TIMEOUT,
        };
        self.hold(pending, catalog_query, ctx)
    }

    /// Remembers a query until its catalog read is answered; the read to
    /// route, or `None` (and SERVFAIL) when the table is full.
    fn hold(
        &mut self,
        pending: PendingQuery,
        catalog_query: CatalogQuery,
        ctx: &mut Context,
    ) -> Option<ClientRequest> {
        if self.pending.is_full() {
            log::warn!(target: "agent.dns",
                "{MAX_PENDING_DNS_QUERIES} DNS queries wait for the catalog; answering SERVFAIL");
            send(
                ctx,
                pending.peer,
                &dns::server_failure(&pending.query, &self.config),
            );
            return None;
        }
        self.next_request_id += 1;
        let request_id = self.next_request_id;
        self.pending.insert(request_id, pending);
        let read = CatalogRead {
            query: catalog_query,
            consistency: Consistency::Stale,
            min_index: 0,
            wait_ms: 0,
        };
        Some(ClientRequest {
            request_id,
            body: RequestBody::CatalogRead(read),
        })
    }

    /// Answers to the catalog reads, as the reply tap took them.
    pub fn take_answers(
        &mut self,
        ctx: &mut Context,
        answers: Vec<(ConnectionId, ClientResponse)>,
    ) {
        for (_, response) in answers {
            let Some(pending) = self.pending.take(response.request_id) else {
                continue;
            };
            let serial = soa_serial(ctx);
            let seed = ctx.random_seed();
            let answer = respond::answer(&pending, &response.body, seed, serial, &self.config);
            send(ctx, pending.peer, &answer);
            self.measure(pending.started, ctx);
        }
    }

    /// A name outside the domain: to the recursor when there is one (and
    /// room), else REFUSED, as Consul without recursors.
    fn outside_domain(&mut self, from: DnsPeer, bytes: &[u8], query: &DnsQuery, ctx: &mut Context) {
        let Some(recursor) = self.recursor else {
            send(ctx, from, &dns::refused(query));
            return;
        };
        if self.forwards.len() >= MAX_RECURSOR_FORWARDS {
            send(ctx, from, &dns::server_failure(query, &self.config));
            return;
        }
        let forward = Forward {
            peer: from,
            query: query.clone(),
            result: recursor::start(ctx, recursor, bytes.to_vec()),
        };
        self.forwards.push(forward);
    }

    /// Every tick: the recursor's answers relayed, SERVFAIL for failures.
    fn relay_forwards(&mut self, ctx: &mut Context) {
        if self.forwards.is_empty() {
            return;
        }
        let (done, waiting): (Vec<Forward>, Vec<Forward>) = std::mem::take(&mut self.forwards)
            .into_iter()
            .partition(|forward| forward.result.is_done());
        self.forwards = waiting;
        for forward in done {
            let answer = match forward.result.take() {
                Some(Ok(Ok(answer))) => answer,
                Some(Ok(Err(error))) | Some(Err(error)) => {
                    log::debug!(target: "agent.dns",
                        "recursor failed for {}: {error}", forward.query.question.name);
                    dns::server_failure(&forward.query, &self.config)
                }
                None => dns::server_failure(&forward.query, &self.config),
            };
            send(ctx, forward.peer, &answer);
        }
    }

    /// Every tick: SERVFAIL for the queries whose answer did not come.
    pub fn expire(&mut self, ctx: &mut Context) {
        self.relay_forwards(ctx);
        if self.pending.is_empty() {
            return;
        }
        for pending in self.pending.take_expired(ctx.now()) {
            log::debug!(target: "agent.dns",
                "no catalog answer for {} within {} s: SERVFAIL",
                pending.query.question.name, DNS_ANSWER_TIMEOUT.as_secs());
            send(
                ctx,
                pending.peer,
                &dns::server_failure(&pending.query, &self.config),
            );
        }
    }

    /// A DNS TCP connection closed: its queries have nowhere to go.
    pub fn forget(&mut self, id: ConnectionId) {
        self.pending.forget_connection(DnsPeer::Tcp(id));
    }
}

fn health_service(name: &str) -> CatalogQuery {
    CatalogQuery::HealthService {
        name: name.to_string(),
        tags: Vec::new(),
        passing_only: false,
    }
}

/// Consul's SOA serial: the time of the answer in Unix seconds.
fn soa_serial(ctx: &Context) -> u32 {
    ctx.unix_time_secs() as u32
}

fn send(ctx: &mut Context, to: DnsPeer, answer: &[u8]) {
    if let Err(err) = ctx.send_dns(to, answer) {
        log::debug!(target: "agent.dns", "cannot answer {to:?}: {err}");
    }
}
