//! Consistent reads on the leader (ReadIndex, Raft dissertation §6.4): a
//! read waits for the core to confirm leadership, then for the state machine
//! to reach the confirmed index, and is answered from the state there.

use crate::raft::{ReadError, ReadState};
use crate::wire::client_message::{ErrorCode, RequestBody, RpcError};

use crate::agent::io::connection::ConnectionId;
use crate::agent::requests::reply::{reply_error, reply_result, rpc_error};
use crate::agent::requests::routing::answer_read;
use crate::agent::seam::Context;
use crate::agent::server::{MAX_WAITING_READS, ProposalRefused, RaftServer, WaitingRead};

impl RaftServer {
    /// A linearizable read on the leader (ReadIndex).
    pub fn read_consistent(
        &mut self,
        connection: ConnectionId,
        request_id: u64,
        body: RequestBody,
    ) -> Result<(), ProposalRefused> {
        if self.reads_in_flight.len() + self.reads_to_serve.len() >= MAX_WAITING_READS {
            return Err(ProposalRefused::Answer(rpc_error(
                ErrorCode::Internal,
                format!("too many reads waiting (limit {MAX_WAITING_READS}), retry"),
            )));
        }
        let read_id = self.next_read_id;
        self.next_read_id += 1;
        self.node.read_index(read_id).map_err(|err| match err {
            ReadError::NotLeader { .. } => ProposalRefused::NotLeading,
            ReadError::TooManyReads => ProposalRefused::Answer(rpc_error(
                ErrorCode::Internal,
                "too many reads waiting, retry".into(),
            )),
        })?;
        self.reads_in_flight.insert(
            read_id,
            WaitingRead {
                connection,
                request_id,
                body,
            },
        );
        Ok(())
    }

    /// Step 6 of a Ready: confirmed reads wait for their index, failed ones
    /// are answered.
    pub(super) fn take_read_states(
        &mut self,
        ctx: &mut Context,
        reads: Vec<ReadState>,
        failed: Vec<u64>,
    ) {
        for ReadState { request_id, index } in reads {
            if let Some(read) = self.reads_in_flight.remove(&request_id) {
                self.reads_to_serve.push((index, read));
            }
        }
        for request_id in failed {
            if let Some(read) = self.reads_in_flight.remove(&request_id) {
                reply_error(
                    ctx,
                    read.connection,
                    read.request_id,
                    read_lost_with_leadership(),
                );
            }
        }
    }

    pub(super) fn serve_reads(&mut self, ctx: &mut Context) {
        let applied = self.state.applied_index();
        let mut i = 0;
        while i < self.reads_to_serve.len() {
            if self.reads_to_serve[i].0 <= applied {
                let (_, read) = self.reads_to_serve.swap_remove(i);
                let answer = answer_read(&self.state, &read.body);
                reply_result(ctx, read.connection, read.request_id, answer);
            } else {
                i += 1;
            }
        }
    }
}

/// A read this server took as leader and can no longer confirm: the client
/// retries it with the next leader.
pub(super) fn read_lost_with_leadership() -> RpcError {
    rpc_error(
        ErrorCode::NoLeader,
        "leadership lost before the read was confirmed".into(),
    )
}
