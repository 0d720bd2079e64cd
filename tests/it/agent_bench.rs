//! The RPC path's own cost, without Raft: `node bench`'s client threads
//! against an in-process event loop whose handler answers every KV request
//! at once. It bounds what the agent's I/O layer can carry; cluster figures
//! come from `node bench` against real servers.
//!
//! Run: `cargo test --release --test it rpc_path_throughput -- --ignored --nocapture`

use std::net::SocketAddr;

use concord::agent::io::connection::ConnectionId;
use concord::agent::io::event_loop::{Context, Handler};
use concord::client::bench::{self, BenchOperation, BenchOptions};
use concord::client::cli::ClientOptions;
use concord::client::rpc_client::RpcTimeouts;
use concord::wire::client_message::{
    ClientRequest, ClientResponse, Consistency, KvEntry, RequestBody, ResponseBody, RpcResult,
};

use crate::support::in_process_loop::run_in_process;

struct InstantKv;

impl Handler for InstantKv {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context) {
        let result = match request.body {
            RequestBody::KvGet { key, .. } => RpcResult::KvValue(Some(KvEntry {
                key,
                value: vec![b'x'; 128].into(),
                create_index: 1,
                modify_index: 1,
            })),
            _ => RpcResult::KvWritten { index: 1 },
        };
        let _ = ctx.reply(
            from,
            &ClientResponse {
                request_id: request.request_id,
                body: ResponseBody::Ok(result),
            },
        );
    }
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn rpc_path_throughput() {
    let bind: SocketAddr = "127.0.5.150:0".parse().unwrap();
    let server = run_in_process(bind, || InstantKv);
    let client = ClientOptions {
        rpc_addr: server.address,
        timeouts: RpcTimeouts::default(),
    };
    for (operation, window) in [
        (BenchOperation::Put, 1),
        (BenchOperation::Put, 8),
        (BenchOperation::Get, 8),
    ] {
        let options = BenchOptions {
            operation,
            clients: 8,
            requests: 200_000,
            value_size_bytes: 128,
            consistency: Consistency::Default,
            window,
            http_addr: None,
        };
        let report = bench::run(&client, &options).unwrap();
        println!("{operation:?}, 8 clients, window {window}, 200000 requests, 128-byte values:");
        report.write_to(&mut std::io::stdout()).unwrap();
        assert_eq!(report.errors, 0);
    }
}
