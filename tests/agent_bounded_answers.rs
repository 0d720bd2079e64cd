//! A read whose answer would not fit in one frame: a real `node agent`
//! process answers `kv get --recurse` over a prefix holding more than the
//! frame limit with a clear "result too large" error, and the connection and
//! the agent keep working.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use concord::client::rpc_client::{RpcClient, RpcTimeouts};
use concord::wire::client_message::{Consistency, MAX_VALUE_BYTES, RequestBody, RpcResult};
use concord::wire::frame::DEFAULT_MAX_FRAME_BYTES;

struct AgentProcess {
    child: Child,
    data_dir: PathBuf,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn start_bootstrapped_agent(bind: &str, name: &str) -> AgentProcess {
    let data_dir = std::env::temp_dir().join(format!(
        "concord-bounded-answers-{}-{}",
        std::process::id(),
        bind.replace([':', '.'], "-")
    ));
    let child = Command::new(env!("CARGO_BIN_EXE_node"))
        .args(["agent", "--bootstrap", "--bind", bind, "--node", name])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node agent");
    let agent = AgentProcess { child, data_dir };
    let address: SocketAddr = bind.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "agent on {bind} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    agent
}

fn node(rpc: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_node"))
        .args(args)
        .args(["--rpc-addr", rpc])
        .env_remove("NODE_RPC_ADDR")
        .output()
        .expect("run node")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_recursive_get_larger_than_a_frame_is_a_clear_error_not_a_broken_connection() {
    let bind = "127.0.41.1:18741";
    let _agent = start_bootstrapped_agent(bind, "bounded");
    let mut client = RpcClient::connect(bind.parse().unwrap(), RpcTimeouts::default()).unwrap();
    let put = |client: &mut RpcClient, i: usize| {
        client.call(RequestBody::KvPut {
            key: format!("big/{i:04}"),
            value: vec![b'x'; MAX_VALUE_BYTES],
            cas: None,
        })
    };
    // Leadership comes within an election of the start.
    let deadline = Instant::now() + Duration::from_secs(10);
    while put(&mut client, 0).is_err() {
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(100));
    }
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

    let output = node(bind, &["kv", "get", "big/", "--recurse"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("result too large"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
