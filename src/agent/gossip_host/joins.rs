//! Joins as the agent tracks them: `node join` waits for its batch, and the
//! start-up join (`--join`, or the rejoin of the members remembered from
//! the last run) retries with backoff until one member answers.

use std::collections::HashMap;
use std::time::Instant;

use crate::wire::client_message::{ResponseBody, RpcResult};

use crate::agent::gossip_host::Membership;
use crate::agent::gossip_host::join_batch::{JoinBatchId, JoinOutcome};
use crate::agent::gossip_host::retry_join::RetryJoin;
use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::reply::reply;
use crate::agent::seam::Context;

/// Who waits for a join batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinWaiter {
    /// `node join`: answer this request on this connection.
    Client {
        connection: ConnectionId,
        request_id: u64,
    },
    /// `--join` or the rejoin after a restart ([`RetryJoin`]).
    Startup,
}

pub struct Joins {
    waiters: HashMap<JoinBatchId, JoinWaiter>,
    startup_join: RetryJoin,
}

impl Joins {
    pub fn new(startup_addresses: Vec<String>, now: Instant) -> Self {
        Joins {
            waiters: HashMap::new(),
            startup_join: RetryJoin::new(startup_addresses, now),
        }
    }

    pub fn cancel_startup_join(&mut self) {
        self.startup_join.cancel();
    }

    /// `node join ADDR...`: answered when every address answered or failed.
    pub fn start_client_join(
        &mut self,
        membership: &mut Membership,
        addresses: &[String],
        connection: ConnectionId,
        request_id: u64,
        ctx: &mut Context,
    ) {
        let id = membership.start_join(addresses, ctx);
        let waiter = JoinWaiter::Client {
            connection,
            request_id,
        };
        self.waiters.insert(id, waiter);
        self.finish(membership, ctx);
    }

    /// Starts the start-up join when its backoff says so.
    pub fn run_startup_join(&mut self, membership: &mut Membership, ctx: &mut Context) {
        if let Some(addresses) = self.startup_join.due(ctx.now()) {
            let addresses = addresses.to_vec();
            log::info!(target: "agent", "joining: {}", addresses.join(", "));
            let id = membership.start_join(&addresses, ctx);
            self.startup_join.started(id);
            self.waiters.insert(id, JoinWaiter::Startup);
        }
    }

    /// Answers joins that finished.
    pub fn finish(&mut self, membership: &mut Membership, ctx: &mut Context) {
        for (id, outcome) in membership.take_finished_joins() {
            let Some(waiter) = self.waiters.remove(&id) else {
                continue;
            };
            if outcome.contacted > 0 {
                membership.join_succeeded(ctx.now());
            }
            match waiter {
                JoinWaiter::Client {
                    connection,
                    request_id,
                } => {
                    let JoinOutcome { contacted, errors } = outcome;
                    let result = RpcResult::Joined { contacted, errors };
                    reply(ctx, connection, request_id, ResponseBody::Ok(result));
                }
                JoinWaiter::Startup => {
                    self.startup_join.finished(id, &outcome, ctx.now());
                }
            }
        }
    }
}
