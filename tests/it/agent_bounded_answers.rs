//! A read whose answer would not fit in one frame: a real `node agent`
//! process answers `kv get --recurse` over a prefix holding more than the
//! frame limit with a clear "result too large" error, and the connection and
//! the agent keep working.

use std::time::Duration;

use concord::client::rpc_client::{RpcClient, RpcTimeouts};
use concord::wire::client_message::{Consistency, MAX_VALUE_BYTES, RequestBody, RpcResult};
use concord::wire::frame::DEFAULT_MAX_FRAME_BYTES;

use crate::support::node_process::{NodeProcess, text};
use crate::support::wait::wait_until;

#[test]
fn a_recursive_get_larger_than_a_frame_is_a_clear_error_not_a_broken_connection() {
    let bind = "127.0.41.1:18741";
    let mut agent = NodeProcess::new(bind, "bounded");
    agent.start(&["agent", "--bootstrap"], Duration::from_secs(10));
    let mut client = RpcClient::connect(bind.parse().unwrap(), RpcTimeouts::default()).unwrap();
    let put = |client: &mut RpcClient, i: usize| {
        client.call(RequestBody::KvPut {
            key: format!("big/{i:04}"),
            value: vec![b'x'; MAX_VALUE_BYTES].into(),
            cas: None,
        })
    };
    // Leadership comes within an election of the start.
    wait_until(Duration::from_secs(10), "a leader takes a write", || {
        put(&mut client, 0).is_ok()
    });
    let values = DEFAULT_MAX_FRAME_BYTES as usize / MAX_VALUE_BYTES + 2;
    for i in 1..values {
        put(&mut client, i).unwrap();
    }

    let err = client
        .call(RequestBody::KvList {
            prefix: "big/".into(),
            consistency: Consistency::Default,
        })
        .unwrap_err();
    assert!(err.to_string().contains("result too large"), "{err}");
    // The same connection still answers.
    let Ok(RpcResult::KvEntries(entries)) = client.call(RequestBody::KvList {
        prefix: "big/000".into(),
        consistency: Consistency::Default,
    }) else {
        panic!("a small list is answered on the same connection");
    };
    assert_eq!(entries.len(), 10);

    let output = agent.node(&["kv", "get", "big/", "--recurse"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("result too large"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
