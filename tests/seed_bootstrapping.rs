//! The operators' seed procedure (`bootstrapping.md`) step by step with real
//! `node` processes, each test on its own loopback addresses (127.0.8.x and
//! up, distinct ports). Every process is killed on drop, also when a test
//! fails; every wait is a bounded poll.

#[path = "support/node_process.rs"]
mod node_process;

use node_process::{NodeProcess, text};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// One agent whose stderr is kept in `agent.log` of its data directory and
/// printed when the test fails.
struct Agent(NodeProcess);

wraps_node_process!(Agent);

fn temp_path(test: &str, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("concord-seed-{}-{test}-{name}", std::process::id()))
}

impl Agent {
    fn new(test: &str, bind: &str, name: &str) -> Agent {
        let data_dir = temp_path(test, name);
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).unwrap();
        let log_path = data_dir.join("agent.log");
        Agent(NodeProcess::new(bind, name, data_dir, Some(log_path)))
    }

    /// Starts (or restarts) the agent with `extra` flags; waits until its
    /// port accepts connections.
    fn start(&mut self, extra: &[&str]) {
        self.0.start(extra, WAIT);
    }

    fn wait_log(&self, line: &str) {
        wait_for(&format!("{} logs {line:?}", self.name), || {
            self.log().contains(line)
        });
    }

    /// Waits for the process to exit and returns its exit code.
    fn wait_exit(&mut self) -> Option<i32> {
        self.0.wait_exit(WAIT).code()
    }

    fn kill(&mut self) {
        assert!(self.is_running(), "{} not running", self.name);
        self.0.kill();
    }
}

fn wait_for(what: &str, done: impl FnMut() -> bool) {
    node_process::wait_until(WAIT, what, done);
}

/// Writes until one succeeds (a leader may be being elected).
fn put(agent: &Agent, key: &str, value: &str) {
    let mut last = String::new();
    wait_for(
        &format!("put {key} through {} succeeds", agent.name),
        || {
            let output = agent.node(&["kv", "put", key, value]);
            last = text(&output.stderr);
            output.status.code() == Some(0)
        },
    );
}

fn stale_get(agent: &Agent, key: &str) -> Option<String> {
    let output = agent.node(&["kv", "get", key, "--stale"]);
    (output.status.code() == Some(0)).then(|| text(&output.stdout).trim_end().to_string())
}

fn wait_value(agent: &Agent, key: &str, value: &str) {
    wait_for(&format!("{} has {key}={value}", agent.name), || {
        stale_get(agent, key).as_deref() == Some(value)
    });
}

/// Waits until `agent` lists `n` voters; on timeout the failure shows its
/// last `node peers` and `node info`.
fn wait_voters(agent: &Agent, n: usize, what: &str) {
    let deadline = Instant::now() + WAIT;
    while voters(agent) != n {
        if Instant::now() >= deadline {
            panic!(
                "timed out waiting until {what}\n{}\n{}",
                text(&agent.node(&["peers"]).stdout),
                text(&agent.node(&["info"]).stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn voters(agent: &Agent) -> usize {
    text(&agent.node(&["peers"]).stdout)
        .lines()
        .skip(1)
        .filter(|l| l.trim_end().ends_with("true"))
        .count()
}

#[test]
fn the_seed_procedure_works_step_by_step() {
    let t = "seed";
    let mut a = Agent::new(t, "127.0.8.1:18401", "node-a");
    let mut b = Agent::new(t, "127.0.8.2:18401", "node-b");
    let mut c = Agent::new(t, "127.0.8.3:18401", "node-c");
    let mut client = Agent::new(t, "127.0.8.4:18401", "client-d");

    a.start(&["--bootstrap"]);
    a.wait_log("cluster leadership acquired");
    b.start(&["--server"]);
    c.start(&["--server"]);
    b.wait_log("EnableSingleNode disabled, and no known peers. Aborting election.");
    c.wait_log("EnableSingleNode disabled, and no known peers. Aborting election.");

    for joiner in [&b, &c] {
        let output = joiner.node(&["join", &a.bind]);
        assert_eq!(
            text(&output.stdout),
            "Successfully joined cluster by contacting 1 nodes.\n",
            "{}",
            text(&output.stderr)
        );
    }
    a.wait_log(&format!("Added peer {}, starting replication", b.bind));
    a.wait_log(&format!("Added peer {}, starting replication", c.bind));
    wait_voters(&a, 3, "three voters");

    put(&a, "seed/one", "1");
    put(&b, "seed/two", "2");
    for agent in [&a, &b, &c] {
        wait_value(agent, "seed/one", "1");
        wait_value(agent, "seed/two", "2");
    }

    // SIGINT on A: a graceful leave; B and C elect a leader and take writes.
    a.signal("INT");
    assert_eq!(a.wait_exit(), Some(0));
    // A stayed until the new leader's configuration no longer listed it.
    assert!(
        a.log()
            .contains("graceful leave: removed from the Raft configuration by the leader"),
        "{}",
        a.log()
    );
    wait_voters(&b, 2, "two voters after A left");
    put(&b, "seed/while-a-away", "3");
    put(&c, "seed/while-a-away-2", "4");

    // A restarted without --bootstrap and joined again catches up.
    a.start(&["--server"]);
    let output = a.node(&["join", &b.bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    wait_value(&a, "seed/while-a-away", "3");
    wait_value(&a, "seed/while-a-away-2", "4");
    wait_voters(&b, 3, "three voters after A rejoined");

    // A client agent joins any node, is listed, and forwards KV requests.
    client.start(&[]);
    let output = client.node(&["join", &c.bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    wait_for("the client in members", || {
        text(&a.node(&["members"]).stdout).contains("client-d")
    });
    wait_for("the client in the catalog", || {
        text(&client.node(&["catalog", "nodes"]).stdout)
            .lines()
            .any(|l| l.starts_with("client-d ") && l.contains(" client "))
    });
    put(&client, "seed/from-client", "5");
    let output = client.node(&["kv", "get", "seed/from-client"]);
    assert_eq!(text(&output.stdout), "5\n", "{}", text(&output.stderr));
    wait_value(&a, "seed/from-client", "5");
}

#[test]
fn the_bootstrap_server_can_join_the_others_in_one_command() {
    let t = "join-two";
    let mut a = Agent::new(t, "127.0.9.1:18402", "node-a");
    let mut b = Agent::new(t, "127.0.9.2:18402", "node-b");
    let mut c = Agent::new(t, "127.0.9.3:18402", "node-c");
    a.start(&["--bootstrap"]);
    b.start(&["--server"]);
    c.start(&["--server"]);
    a.wait_log("cluster leadership acquired");
    let output = a.node(&["join", &b.bind, &c.bind]);
    assert_eq!(
        text(&output.stdout),
        "Successfully joined cluster by contacting 2 nodes.\n",
        "{}",
        text(&output.stderr)
    );
    a.wait_log(&format!("Added peer {}, starting replication", b.bind));
    a.wait_log(&format!("Added peer {}, starting replication", c.bind));
    put(&c, "k", "v");
    wait_value(&b, "k", "v");
}

#[test]
fn a_second_bootstrapped_server_is_refused_until_its_raft_data_is_removed() {
    let t = "second-bootstrap";
    let mut a = Agent::new(t, "127.0.10.1:18403", "node-a");
    let mut d = Agent::new(t, "127.0.10.4:18403", "node-d");
    a.start(&["--bootstrap"]);
    a.wait_log("cluster leadership acquired");
    put(&a, "a-data", "kept");
    d.start(&["--bootstrap"]);
    d.wait_log("cluster leadership acquired");
    let output = d.node(&["join", &a.bind]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for agent in [&a, &d] {
        let info = text(&agent.node(&["info"]).stdout);
        let cluster_id = info
            .lines()
            .find_map(|l| l.strip_prefix("\tcluster_id = "))
            .expect("cluster_id in node info")
            .to_string();
        assert!(stderr.contains(&cluster_id), "{cluster_id} in {stderr}");
    }
    assert!(stderr.contains("remove the raft/ folder"), "{stderr}");

    // The seed's fix: stop D, remove raft/, restart without the flag, join.
    d.kill();
    std::fs::remove_dir_all(d.data_dir.join("raft")).unwrap();
    std::fs::remove_file(d.data_dir.join("node-id")).unwrap();
    d.start(&["--server"]);
    let output = d.node(&["join", &a.bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    wait_value(&d, "a-data", "kept");
}

#[test]
fn bootstrap_expect_forms_a_cluster_without_a_manual_step_and_survives_a_leader_kill() {
    let t = "expect";
    let mut a = Agent::new(t, "127.0.11.1:18404", "node-a");
    let mut b = Agent::new(t, "127.0.11.2:18404", "node-b");
    let mut c = Agent::new(t, "127.0.11.3:18404", "node-c");
    a.start(&["--bootstrap-expect", "3"]);
    b.start(&["--bootstrap-expect", "3", "--join", "127.0.11.1:18404"]);
    c.start(&["--bootstrap-expect", "3", "--join", "127.0.11.1:18404"]);
    wait_voters(&a, 3, "three voters");
    put(&b, "k", "before");

    // kill -9 of the leader: a new leader takes writes.
    let leader = [&a, &b, &c]
        .into_iter()
        .position(|agent| text(&agent.node(&["info"]).stdout).contains("\tstate = leader"))
        .expect("a leader");
    let mut agents = [a, b, c];
    agents[leader].kill();
    let survivor = &agents[(leader + 1) % 3];
    put(survivor, "k", "after");
    wait_value(&agents[(leader + 2) % 3], "k", "after");
}

/// A 3-server cluster formed the seed's way, on `ip_prefix`.1-3.
fn three_servers(test: &str, ip_prefix: &str, port: u16) -> [Agent; 3] {
    let mut agents = ["node-a", "node-b", "node-c"]
        .iter()
        .enumerate()
        .map(|(i, name)| Agent::new(test, &format!("{ip_prefix}.{}:{port}", i + 1), name))
        .collect::<Vec<_>>();
    agents[0].start(&["--bootstrap"]);
    agents[0].wait_log("cluster leadership acquired");
    agents[1].start(&["--server"]);
    agents[2].start(&["--server"]);
    let output = agents[0].node(&["join", &agents[1].bind, &agents[2].bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    wait_voters(&agents[0], 3, "three voters");
    let c = agents.pop().unwrap();
    let b = agents.pop().unwrap();
    let a = agents.pop().unwrap();
    [a, b, c]
}

/// More writes than the snapshot threshold (8,192 entries), acknowledged.
fn many_writes(agent: &Agent) {
    let output = agent.node(&[
        "bench",
        "put",
        "--clients",
        "8",
        "--requests",
        "9000",
        "--value-size",
        "64",
    ]);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("requests: 9000 ok, 0 errors"),
        "{stdout}{}",
        text(&output.stderr)
    );
}

#[test]
fn every_acknowledged_write_survives_kill_9_of_all_servers() {
    let [mut a, mut b, mut c] = three_servers("kill-all", "127.0.13", 18405);
    many_writes(&a);
    for i in 0..20 {
        put(&b, &format!("durable/{i}"), &i.to_string());
    }
    a.wait_log("snapshot taken at index");
    for agent in [&mut a, &mut b, &mut c] {
        agent.kill();
    }
    // A keeps its --bootstrap flag: with Raft data the flag is ignored.
    a.start(&["--bootstrap"]);
    a.wait_log("Raft data found, disabling bootstrap mode");
    for agent in [&mut b, &mut c] {
        agent.start(&["--server"]);
    }
    for i in 0..20 {
        let key = format!("durable/{i}");
        wait_for(&format!("consistent read of {key}"), || {
            let output = c.node(&["kv", "get", &key, "--consistent"]);
            text(&output.stdout) == format!("{i}\n")
        });
    }
}

#[test]
fn a_server_far_behind_catches_up_by_snapshot() {
    let [a, b, mut c] = three_servers("snapshot", "127.0.14", 18406);
    put(&a, "before", "1");
    wait_value(&c, "before", "1");
    c.kill();
    many_writes(&a);
    put(&b, "after", "2");
    a.wait_log("snapshot taken at index");
    c.start(&["--server"]);
    wait_value(&c, "after", "2");
    c.wait_log("Installed remote snapshot");
    assert_eq!(stale_get(&c, "before").as_deref(), Some("1"));
}

/// Tiny xorshift: the hostile bytes differ per iteration but every run is
/// the same.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = (self.next() as usize) % (max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A frame with a correct length and CRC around random content, so it gets
/// past framing into the message decoders.
fn well_framed(message_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![message_type];
    body.extend_from_slice(payload);
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn random_bytes_and_malformed_frames_neither_crash_nor_stall_a_server() {
    use std::io::Write;
    let mut a = Agent::new("hostile", "127.0.15.1:18407", "node-a");
    a.start(&["--bootstrap"]);
    a.wait_log("cluster leadership acquired");
    put(&a, "k", "before");
    let address: SocketAddr = a.bind.parse().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.15.9:0").unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for i in 0..300u32 {
        let _ = udp.send_to(&rng.bytes(1400), address);
        let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) else {
            continue;
        };
        let mut bytes = Vec::new();
        match i % 3 {
            // Pure noise.
            0 => bytes = rng.bytes(4096),
            // A valid preamble for Raft, client or gossip sync, then noise.
            1 => {
                bytes.extend_from_slice(b"CNCD");
                bytes.push(1);
                bytes.push(1 + (i / 3 % 3) as u8);
                bytes.extend(rng.bytes(2048));
            }
            // A valid preamble and well-framed frames with random payloads.
            _ => {
                bytes.extend_from_slice(b"CNCD");
                bytes.push(1);
                bytes.push(1 + (i / 3 % 3) as u8);
                for _ in 0..4 {
                    let message_type = rng.next() as u8;
                    bytes.extend(well_framed(message_type, &rng.bytes(512)));
                }
            }
        }
        let _ = stream.write_all(&bytes);
    }
    // Still alive, still serving, still the leader of a working cluster.
    put(&a, "k", "after");
    assert_eq!(text(&a.node(&["kv", "get", "k"]).stdout), "after\n");
    assert!(!a.has_exited());
}

#[test]
fn without_a_leader_requests_wait_then_fail_with_no_cluster_leader() {
    let t = "no-leader";
    let mut server = Agent::new(t, "127.0.15.2:18408", "lonely-server");
    let mut client = Agent::new(t, "127.0.15.3:18408", "lonely-client");
    server.start(&["--server"]);
    client.start(&[]);
    let started = Instant::now();
    let waits: Vec<_> = [&server, &client]
        .iter()
        .map(|agent| {
            Command::new(node_process::NODE_BINARY)
                .args(["kv", "put", "k", "v", "--rpc-addr", &agent.bind])
                .env_remove("NODE_RPC_ADDR")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for wait in waits {
        let output = wait.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = text(&output.stderr);
        assert!(stderr.contains("No cluster leader"), "{stderr}");
    }
    // The bounded wait happened (a leader could have appeared meanwhile).
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[test]
fn a_failed_cas_reports_it_did_not_write() {
    let mut a = Agent::new("cas", "127.0.15.4:18409", "node-a");
    a.start(&["--bootstrap"]);
    put(&a, "k", "v1");
    let output = a.node(&["kv", "put", "k", "v2", "--cas", "0"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "Error! Did not write to k: CAS failed\n"
    );
    assert_eq!(text(&a.node(&["kv", "get", "k"]).stdout), "v1\n");
}
