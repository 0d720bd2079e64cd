//! The one way a client request is answered, and the one way an error for
//! it is built. A failed send is logged here, once, at one level: the
//! client's connection went away, which the client sees as its own error.

use crate::wire::client_message::{ClientResponse, ErrorCode, ResponseBody, RpcError, RpcResult};

use crate::agent::io::connection::ConnectionId;
use crate::agent::seam::Context;

pub fn rpc_error(code: ErrorCode, message: String) -> RpcError {
    RpcError {
        code,
        message,
        leader_hint: None,
    }
}

pub fn reply(ctx: &mut Context, to: ConnectionId, request_id: u64, body: ResponseBody) {
    if let Err(err) = ctx.reply(to, &ClientResponse { request_id, body }) {
        log::debug!(target: "agent", "cannot answer request {request_id}: {err}");
    }
}

pub fn reply_result(
    ctx: &mut Context,
    to: ConnectionId,
    request_id: u64,
    answer: Result<RpcResult, RpcError>,
) {
    let body = match answer {
        Ok(result) => ResponseBody::Ok(result),
        Err(err) => ResponseBody::Err(err),
    };
    reply(ctx, to, request_id, body);
}

pub fn reply_error(ctx: &mut Context, to: ConnectionId, request_id: u64, error: RpcError) {
    reply(ctx, to, request_id, ResponseBody::Err(error));
}
