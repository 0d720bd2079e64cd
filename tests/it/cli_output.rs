//! What each `node` subcommand prints for each kind of answer, checked by
//! running the real binary against an in-process event loop whose handler
//! answers from a fixed script (a stand-in for a cluster at the RPC
//! boundary only: the CLI cannot tell, and Raft is not involved).

use std::net::SocketAddr;
use std::process::Output;

use concord::agent::io::connection::ConnectionId;
use concord::agent::io::event_loop::{Context, Handler};
use concord::wire::client_message::{
    CatalogNode, ClientRequest, ClientResponse, ErrorCode, KvEntry, MemberInfo, PeerInfo,
    RequestBody, ResponseBody, RpcError, RpcResult,
};

use crate::support::in_process_loop::{InProcessLoop, run_in_process};
use crate::support::node_process::node_with_rpc_env;

struct ScriptedCluster;

fn entry(key: &str, value: &str) -> KvEntry {
    KvEntry {
        key: key.into(),
        value: bytes::Bytes::copy_from_slice(value.as_bytes()),
        create_index: 3,
        modify_index: 4,
    }
}

fn error(code: ErrorCode, message: &str) -> ResponseBody {
    ResponseBody::Err(RpcError {
        code,
        message: message.into(),
        leader_hint: None,
    })
}

impl ScriptedCluster {
    fn answer(body: RequestBody) -> ResponseBody {
        let ok = ResponseBody::Ok;
        match body {
            RequestBody::KvPut {
                cas: Some(0), key, ..
            } if key == "taken" => error(ErrorCode::CasFailed, "CAS failed"),
            RequestBody::KvPut { .. } => ok(RpcResult::KvWritten { index: 5 }),
            RequestBody::KvGet { key, .. } if key == "missing" => ok(RpcResult::KvValue(None)),
            RequestBody::KvGet { key, .. } if key == "noleader" => {
                error(ErrorCode::NoLeader, "No cluster leader")
            }
            RequestBody::KvGet { key, .. } => ok(RpcResult::KvValue(Some(entry(&key, "hello")))),
            RequestBody::KvList { prefix, .. } => ok(RpcResult::KvEntries(vec![
                entry(&format!("{prefix}1"), "x"),
                entry(&format!("{prefix}2"), "y:z"),
            ])),
            RequestBody::KvDelete { .. } => ok(RpcResult::KvDeleted { index: 6 }),
            RequestBody::Join { addresses } => {
                if addresses.iter().all(|a| a.starts_with("127.0.5.200")) {
                    ok(RpcResult::Joined {
                        contacted: 0,
                        errors: addresses
                            .into_iter()
                            .map(|a| (a, "connection refused".to_string()))
                            .collect(),
                    })
                } else {
                    ok(RpcResult::Joined {
                        contacted: addresses.len() as u32,
                        errors: vec![],
                    })
                }
            }
            RequestBody::Leave => ok(RpcResult::Left),
            RequestBody::ForceLeave { node, .. } if node == "gone" => ok(RpcResult::ForcedLeave),
            RequestBody::ForceLeave { node, .. } => error(
                ErrorCode::InvalidRequest,
                &format!("agent: No node found with name '{node}'"),
            ),
            RequestBody::Members => ok(RpcResult::Members(vec![
                MemberInfo {
                    name: "server-one".into(),
                    address: "127.0.0.1:8300".into(),
                    status: "alive".into(),
                    role: "server".into(),
                    build: "0.1.0".into(),
                    protocol: 1,
                    datacenter: "dc1".into(),
                },
                MemberInfo {
                    name: "c2".into(),
                    address: "127.0.0.2:8300".into(),
                    status: "failed".into(),
                    role: "client".into(),
                    build: "0.1.0".into(),
                    protocol: 1,
                    datacenter: "dc1".into(),
                },
            ])),
            RequestBody::Peers => ok(RpcResult::Peers(vec![
                PeerInfo {
                    name: "s1".into(),
                    id: 0xabc,
                    address: "127.0.0.1:8300".into(),
                    state: "leader".into(),
                    voter: true,
                },
                PeerInfo {
                    name: "s2".into(),
                    id: 0xdef,
                    address: "127.0.0.2:8300".into(),
                    state: "non-voter".into(),
                    voter: false,
                },
            ])),
            RequestBody::Info | RequestBody::Identity => ok(RpcResult::Info(vec![])),
            RequestBody::CatalogNodes => ok(RpcResult::CatalogNodes(vec![CatalogNode {
                name: "s1".into(),
                address: "127.0.0.1:8300".into(),
                role: "server".into(),
                datacenter: "dc1".into(),
            }])),
            // The HTTP API's requests; the CLI never sends them.
            RequestBody::KvSet { .. }
            | RequestBody::KvRemove { .. }
            | RequestBody::KvRead(_)
            | RequestBody::Txn { .. }
            | RequestBody::CatalogRead(_)
            | RequestBody::RaftConfiguration { .. }
            | RequestBody::RaftTransferLeader { .. }
            | RequestBody::RaftRemovePeer { .. }
            | RequestBody::CatalogRegister(_)
            | RequestBody::CatalogDeregister(_) => {
                error(ErrorCode::InvalidRequest, "not a CLI request")
            }
        }
    }
}

impl Handler for ScriptedCluster {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context) {
        let response = ClientResponse {
            request_id: request.request_id,
            body: ScriptedCluster::answer(request.body),
        };
        ctx.reply(from, &response).expect("reply");
    }
}

/// The scripted cluster on its own loopback address (port chosen by the OS).
fn start(ip: &str) -> InProcessLoop {
    let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
    run_in_process(bind, || ScriptedCluster)
}

fn node(script: &InProcessLoop, args: &[&str]) -> Output {
    node_with_rpc_env(&script.address.to_string(), args)
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn kv_put_reports_success_and_cas_refusal() {
    let script = start("127.0.5.101");
    let output = node(&script, &["kv", "put", "web/a", "v"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(out(&output), "Success! Data written to: web/a\n");

    let output = node(&script, &["kv", "put", "taken", "v", "--cas", "0"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(err(&output), "Error! Did not write to taken: CAS failed\n");
}

#[test]
fn kv_get_prints_the_value_or_the_missing_key_error() {
    let script = start("127.0.5.102");
    let output = node(&script, &["kv", "get", "web/a", "--consistent"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(out(&output), "hello\n");

    let output = node(&script, &["kv", "get", "missing"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(err(&output), "Error! No key exists at: missing\n");

    let output = node(&script, &["kv", "get", "noleader", "--stale"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(err(&output), "Error: No cluster leader\n");
}

#[test]
fn kv_get_recurse_prints_key_colon_value_lines() {
    let script = start("127.0.5.103");
    let output = node(&script, &["kv", "get", "app/", "--recurse"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(out(&output), "app/1:x\napp/2:y:z\n");
}

#[test]
fn kv_delete_reports_the_key_or_prefix() {
    let script = start("127.0.5.104");
    let output = node(&script, &["kv", "delete", "web/a"]);
    assert_eq!(out(&output), "Success! Deleted key: web/a\n");
    let output = node(&script, &["kv", "delete", "web/", "--recurse"]);
    assert_eq!(out(&output), "Success! Deleted keys with prefix: web/\n");
}

#[test]
fn oversized_or_empty_keys_are_refused_before_sending() {
    let script = start("127.0.5.105");
    let long_key = "k".repeat(513);
    let output = node(&script, &["kv", "put", &long_key, "v"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(err(&output), "Error: key is 513 bytes, limit 512\n");
    let output = node(&script, &["kv", "put", "", "v"]);
    assert_eq!(err(&output), "Error: key must not be empty\n");
}

#[test]
fn join_reports_contacted_nodes_or_every_failure() {
    let script = start("127.0.5.106");
    let output = node(&script, &["join", "127.0.0.7", "127.0.0.8:9000"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        out(&output),
        "Successfully joined cluster by contacting 2 nodes.\n"
    );

    let output = node(&script, &["join", "127.0.5.200"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        err(&output),
        "Error joining address '127.0.5.200:8300': connection refused\nFailed to join any nodes.\n"
    );
}

#[test]
fn members_peers_and_catalog_print_aligned_columns() {
    let script = start("127.0.5.107");
    let output = node(&script, &["members"]);
    assert_eq!(
        out(&output),
        "Node        Address         Status  Type    Build  Protocol  DC\n\
         server-one  127.0.0.1:8300  alive   server  0.1.0  1         dc1\n\
         c2          127.0.0.2:8300  failed  client  0.1.0  1         dc1\n"
    );
    let output = node(&script, &["peers"]);
    assert_eq!(
        out(&output),
        "Node  ID                Address         State      Voter\n\
         s1    0000000000000abc  127.0.0.1:8300  leader     true\n\
         s2    0000000000000def  127.0.0.2:8300  non-voter  false\n"
    );
    let output = node(&script, &["catalog", "nodes"]);
    assert_eq!(
        out(&output),
        "Node  Address         Type    DC\n\
         s1    127.0.0.1:8300  server  dc1\n"
    );
    let output = node(&script, &["leave"]);
    assert_eq!(out(&output), "Graceful leave complete\n");
}

#[test]
fn bench_reports_throughput_and_latency_percentiles() {
    let script = start("127.0.5.108");
    for op in ["put", "get"] {
        let output = node(
            &script,
            &[
                "bench",
                op,
                "--clients",
                "4",
                "--requests",
                "2000",
                "--value-size",
                "64",
                "--window",
                "4",
            ],
        );
        assert_eq!(output.status.code(), Some(0), "{}", err(&output));
        let text = out(&output);
        assert!(text.contains("requests: 2000 ok, 0 errors"), "{text}");
        for prefix in [
            "throughput: ",
            "latency p50: ",
            "latency p90: ",
            "latency p99: ",
            "latency max: ",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(prefix)),
                "{prefix} in {text}"
            );
        }
    }
}
