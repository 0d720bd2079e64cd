//! Where a client request goes: served here when this server can (a write
//! or a default/consistent read on the leader, confirmed with a quorum
//! before it is answered; a stale read anywhere),
//! forwarded to the leader (or, from a client agent, to a live server), or
//! held until one is known. Where an RPC request becomes a Raft proposal:
//! [`RaftServer::propose`], called from [`Router::route`].
//!
//! A forwarded write is sent once. If its link closes before the answer,
//! this agent cannot know whether the leader applied it, so the client is
//! told exactly that and nothing is re-sent: re-sending it to the next
//! leader is how a write got applied twice (the fault issue). A read has no
//! effect, so it is routed again while its client still waits.

use std::cell::OnceCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::client_message::{
    ClientRequest, Consistency, ErrorCode, RequestBody, ResponseBody, RpcResult,
};

use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::outstanding::{Outstanding, OutstandingRequests, Purpose};
use crate::agent::requests::reply::{reply, reply_error, reply_result, rpc_error};
use crate::agent::requests::routing::{RequestKind, blocking_wait, classify, write_answer};
use crate::agent::seam::Context;
use crate::agent::server::{ProposalRefused, RaftServer};

/// How long a request waits for a leader (or, on a client agent, for a
/// server) before failing `No cluster leader`; also the whole time a client
/// request may take here, forwarding included, so the agent has answered
/// before the CLI gives up (its I/O timeout is 15 s).
pub const NO_LEADER_WAIT: Duration = Duration::from_secs(7);
/// A forwarded request not answered in this long fails with `Timeout`.
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests waiting for a leader; past it new ones fail at once.
pub const MAX_WAITING_REQUESTS: usize = 16_384;
pub const NO_LEADER_MESSAGE: &str = "No cluster leader";

/// The servers gossip reports alive, read at most once per routing call and
/// only if a request needs them: a leader serving its own requests never
/// does, and reading them parses every member's address (a fifth of a
/// put's instructions on the leader when it was read for every request).
pub struct AliveServers<'a> {
    read: &'a dyn Fn() -> Vec<SocketAddr>,
    cached: OnceCell<Vec<SocketAddr>>,
}

impl<'a> AliveServers<'a> {
    pub fn new(read: &'a dyn Fn() -> Vec<SocketAddr>) -> Self {
        AliveServers {
            read,
            cached: OnceCell::new(),
        }
    }

    pub fn get(&self) -> &[SocketAddr] {
        self.cached.get_or_init(|| (self.read)())
    }
}
const WRITE_FATE_UNKNOWN: &str = "the write may or may not have been applied";

/// A client request waiting for a leader (or a server) to appear.
#[derive(Debug, Clone)]
struct Waiting {
    from: ConnectionId,
    request: ClientRequest,
    /// Until when it may wait for a leader.
    deadline: Instant,
    /// Until when its client waits: later than `deadline` by a blocking
    /// query's wait.
    client_deadline: Instant,
}

/// Where the next forward goes, from what the agent knows now.
pub enum Target {
    /// This server serves it (it leads, or the read may be stale).
    Here,
    Forward(SocketAddr),
    /// Nobody to send it to yet.
    Wait,
}

#[derive(Debug, Default)]
pub struct Router {
    waiting: VecDeque<Waiting>,
    next_server_pick: usize,
    /// Every request this agent sent another agent and waits on.
    outstanding: OutstandingRequests,
}

impl Router {
    pub fn outstanding(&mut self) -> &mut OutstandingRequests {
        &mut self.outstanding
    }

    /// Asks the server at `target` who it is (server to server), tracked in
    /// the one table under `purpose` until its answer or `timeout`. False
    /// when the table is full or the request could not be sent.
    pub fn ask_identity(
        &mut self,
        ctx: &mut Context,
        target: SocketAddr,
        purpose: Purpose,
        timeout: Duration,
    ) -> bool {
        if !self.outstanding.has_room() {
            return false;
        }
        let id = self.outstanding.allocate();
        let query = ClientRequest {
            request_id: id,
            body: RequestBody::Identity,
        };
        match ctx.forward_client_request(target, &query) {
            Ok(link) => {
                let deadline = ctx.now() + timeout;
                self.outstanding.insert(
                    id,
                    Outstanding {
                        purpose,
                        link,
                        deadline,
                    },
                );
                true
            }
            Err(err) => {
                log::debug!(target: "agent", "cannot ask {target} for its identity: {err}");
                false
            }
        }
    }

    /// Picks one of `servers` in turn (a client agent spreads its load).
    pub fn pick(&mut self, servers: &[SocketAddr]) -> Option<SocketAddr> {
        if servers.is_empty() {
            return None;
        }
        self.next_server_pick = self.next_server_pick.wrapping_add(1);
        Some(servers[self.next_server_pick % servers.len()])
    }

    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Routes a KV/catalog request arrived from a client, held until
    /// `deadline` at most.
    pub fn route(
        &mut self,
        ctx: &mut Context,
        raft: Option<&mut RaftServer>,
        servers: &AliveServers,
        from: ConnectionId,
        request: ClientRequest,
        deadline: Instant,
    ) {
        let client_deadline = deadline + blocking_wait(&request.body);
        let waiting = Waiting {
            from,
            request,
            deadline,
            client_deadline,
        };
        self.route_waiting(ctx, raft, servers, waiting);
    }

    fn route_waiting(
        &mut self,
        ctx: &mut Context,
        raft: Option<&mut RaftServer>,
        servers: &AliveServers,
        waiting: Waiting,
    ) {
        let Waiting {
            from,
            request,
            deadline,
            client_deadline,
        } = waiting;
        let kind = match classify(&request.body) {
            Ok(kind) => kind,
            Err(err) => return reply_error(ctx, from, request.request_id, err),
        };
        let target = match raft {
            Some(raft) => match serve_here(ctx, raft, &kind, from, &request, servers) {
                Served::Done => return,
                Served::Elsewhere => match raft.leader() {
                    Some((_, address)) if !raft.is_leader() => Target::Forward(address),
                    _ => Target::Wait,
                },
            },
            None => self
                .pick(servers.get())
                .map_or(Target::Wait, Target::Forward),
        };
        if let Target::Forward(address) = target
            && self.outstanding.has_room()
            && forward(
                ctx,
                &mut self.outstanding,
                from,
                &request,
                address,
                client_deadline,
            )
        {
            return;
        }
        if ctx.now() >= deadline || self.waiting.len() >= MAX_WAITING_REQUESTS {
            let error = rpc_error(ErrorCode::NoLeader, NO_LEADER_MESSAGE.into());
            return reply_error(ctx, from, request.request_id, error);
        }
        self.waiting.push_back(Waiting {
            from,
            request,
            deadline,
            client_deadline,
        });
    }

    /// Routes the waiting requests again (a leader may be known now).
    pub fn retry_waiting(
        &mut self,
        ctx: &mut Context,
        mut raft: Option<&mut RaftServer>,
        servers: &AliveServers,
    ) {
        let waiting = std::mem::take(&mut self.waiting);
        for w in waiting {
            let raft = raft.as_deref_mut();
            self.route_waiting(ctx, raft, servers, w);
        }
    }

    /// A forwarded request's answer, or its link's close or timeout.
    pub fn settle_forwarded(
        &mut self,
        ctx: &mut Context,
        outstanding: Outstanding,
        answer: Option<ResponseBody>,
        lost_link: bool,
    ) {
        let Purpose::Forwarded {
            from,
            request,
            client_deadline,
        } = outstanding.purpose
        else {
            return;
        };
        if let Some(body) = answer {
            return reply(ctx, from, request.request_id, body);
        }
        // An operator's action changes the cluster like a write: sent once.
        let is_write = matches!(
            classify(&request.body),
            Ok(RequestKind::Write(_) | RequestKind::LeaderOnly)
        );
        if lost_link && !is_write && ctx.now() < client_deadline {
            self.waiting.push_back(Waiting {
                from,
                request,
                deadline: client_deadline,
                client_deadline,
            });
            return;
        }
        let message = match (is_write, lost_link) {
            (true, true) => format!("lost the connection to the leader; {WRITE_FATE_UNKNOWN}"),
            (true, false) => format!("timed out; {WRITE_FATE_UNKNOWN}"),
            (false, _) => "the server did not answer in time".into(),
        };
        reply_error(
            ctx,
            from,
            request.request_id,
            rpc_error(ErrorCode::Timeout, message),
        );
    }
}

enum Served {
    /// Answered, or taken by the Raft side (which answers later).
    Done,
    /// Not for this server now.
    Elsewhere,
}

/// `alive_servers`: the servers gossip reports alive (a peer removal
/// refuses those).
fn serve_here(
    ctx: &mut Context,
    raft: &mut RaftServer,
    kind: &RequestKind,
    from: ConnectionId,
    request: &ClientRequest,
    alive_servers: &AliveServers,
) -> Served {
    let leader = raft.is_leader();
    let id = request.request_id;
    let outcome = match (kind, &request.body) {
        (RequestKind::Write(command), body) if leader => {
            raft.propose(command, write_answer(body), from, id, ctx.now())
        }
        (RequestKind::Read, body) => match body.read_consistency() {
            Consistency::Stale => {
                raft.read_stale(ctx, from, id, body.clone());
                return Served::Done;
            }
            // Default reads are confirmed like consistent ones: a leader's
            // own state is not enough. A new leader may not yet have applied
            // writes the last one acknowledged, and a leader cut off from
            // the others keeps serving until CheckQuorum deposes it, up to
            // two election timeouts, while the others elect a new one after
            // one (the agent simulator found both, seeds 5 and 11).
            Consistency::Default | Consistency::Consistent if leader => {
                raft.read_consistent(from, id, body.clone(), (ctx.now(), ctx.clock()))
            }
            _ => return Served::Elsewhere,
        },
        (RequestKind::LeaderOnly, RequestBody::RaftTransferLeader { target }) if leader => {
            raft.start_transfer(from, id, *target, ctx.now())
        }
        (RequestKind::LeaderOnly, RequestBody::RaftRemovePeer { peer }) if leader => {
            raft.start_removal(from, id, peer, alive_servers.get())
        }
        (RequestKind::RaftView, body) => {
            if !leader && body.read_consistency() != Consistency::Stale {
                return Served::Elsewhere;
            }
            let view = RpcResult::RaftConfiguration(raft.configuration_view());
            reply_result(ctx, from, id, Ok(view));
            return Served::Done;
        }
        _ => return Served::Elsewhere,
    };
    match outcome {
        Ok(()) => Served::Done,
        Err(ProposalRefused::NotLeading) => Served::Elsewhere,
        Err(ProposalRefused::Answer(err)) => {
            reply_error(ctx, from, id, err);
            Served::Done
        }
    }
}

/// The request as it is sent on at `now`: a blocking query's wait cut so
/// that its answer comes back before its client's deadline.
fn trimmed_for_forwarding(
    request: &ClientRequest,
    id: u64,
    now: Instant,
    client_deadline: Instant,
) -> ClientRequest {
    let mut body = request.body.clone();
    if let Some(wait_ms) = body.blocking_wait_ms_mut() {
        let left = client_deadline.saturating_duration_since(now + NO_LEADER_WAIT);
        let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        *wait_ms = (*wait_ms).min(left_ms);
    }
    ClientRequest {
        request_id: id,
        body,
    }
}

/// Sends `request` on under a new ID of ours; `false` when it could not be
/// sent (the caller holds it instead).
fn forward(
    ctx: &mut Context,
    table: &mut OutstandingRequests,
    from: ConnectionId,
    request: &ClientRequest,
    target: SocketAddr,
    client_deadline: Instant,
) -> bool {
    let id = table.allocate();
    let outgoing = trimmed_for_forwarding(request, id, ctx.now(), client_deadline);
    let held_for = blocking_wait(&outgoing.body);
    match ctx.forward_client_request(target, &outgoing) {
        Ok(link) => {
            table.insert(
                id,
                Outstanding {
                    purpose: Purpose::Forwarded {
                        from,
                        request: request.clone(),
                        client_deadline,
                    },
                    link,
                    deadline: ctx.now() + FORWARD_TIMEOUT + held_for,
                },
            );
            true
        }
        Err(err) => {
            log::debug!(target: "agent", "cannot forward to {target}: {err}");
            false
        }
    }
}
