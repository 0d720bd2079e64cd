//! `node bench --http` and `node bench watch --http` as an operator runs
//! them, against a real bootstrapped agent: every request acknowledged, the
//! keys there afterwards, and the watch bench's wake-ups all accounted for.
//! Addresses 127.0.93.x.

use std::time::Duration;

use crate::support::http_agents::{HttpAgent, single_server};
use crate::support::node_process::{node, text};

fn bench(agent: &HttpAgent, args: &[&str]) -> (Option<i32>, String, String) {
    let output = node(&[&["bench"], args, &["--http", "--http-addr", &agent.1]].concat());
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn http_puts_and_gets_are_acknowledged_and_the_keys_are_there() {
    let agent = single_server("127.0.93.1");
    let put = ["put", "--clients", "3", "--requests", "50", "--window", "4"];
    let (code, stdout, stderr) = bench(&agent, &put);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("requests: 50 ok, 0 errors\n"), "{stdout}");
    assert!(stdout.contains("latency p99: "), "{stdout}");
    // 50 requests among 3 clients: 17, 17 and 16 keys.
    let http = agent.http();
    let value = "x".repeat(128);
    for key in ["bench/0/0", "bench/0/16", "bench/1/16", "bench/2/15"] {
        let reply = http.get(&format!("/v1/kv/{key}?raw"));
        assert_eq!((reply.status, reply.text()), (200, value.clone()), "{key}");
    }
    assert_eq!(http.get("/v1/kv/bench/2/16").status, 404);

    let get = ["get", "--consistent", "--clients", "2", "--requests", "40"];
    let (code, stdout, stderr) = bench(&agent, &get);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("requests: 40 ok, 0 errors\n"), "{stdout}");
    let keys = http.get("/v1/kv/bench/get/?keys").json();
    assert_eq!(keys.as_array().map(Vec::len), Some(100), "{keys}");
}

#[test]
fn http_puts_without_a_leader_are_counted_as_errors_with_the_first_kept() {
    let agent = HttpAgent::start("127.0.93.2:18300", "127.0.93.2:18500", "lonely", &[]);
    let (code, stdout, stderr) = bench(&agent, &["put", "--clients", "2", "--requests", "2"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("requests: 0 ok, 2 errors\n"), "{stdout}");
    assert!(stdout.contains("first error: HTTP 5"), "{stdout}");
    assert_eq!(stderr, "Error: 2 of 2 requests failed\n");
}

#[test]
fn the_watch_bench_wakes_exactly_the_watchers_written() {
    let agent = single_server("127.0.93.3");
    let pid = agent.pid().expect("the agent runs").to_string();
    let args = [
        "watch",
        "--watchers",
        "60",
        "--prefix-watchers",
        "12",
        "--keys",
        "10",
        "--prefixes",
        "3",
        "--writes",
        "15",
        "--threads",
        "2",
        "--pid",
        &pid,
    ];
    let (code, stdout, stderr) = bench(&agent, &args);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("watchers: 60 held (48 on keys, 12 on prefixes), 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("writes: 15 ok, 0 errors"), "{stdout}");
    assert!(stdout.contains(" 0 missed, 0 late\n"), "{stdout}");
    assert!(stdout.contains("wrong wake-ups: 0\n"), "{stdout}");
    assert!(stdout.contains("agent RSS: "), "{stdout}");
    assert!(!stdout.contains("not measured"), "{stdout}");
    // Each write wakes its key's 4-5 watchers and its prefix's 4: none is
    // expected to wake for nothing.
    let expected: u64 = stdout
        .split("wake-ups: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the expected wake-ups");
    assert!((15 * 8..=15 * 9).contains(&expected), "{stdout}");
    assert!(
        stdout.contains(&format!("{expected} expected, {expected} answered")),
        "{stdout}"
    );
    // The agent still serves after the watchers went away.
    let http = agent.http();
    crate::support::wait::wait_until(Duration::from_secs(30), "the agent serves", || {
        http.get("/v1/kv/ready?raw").status == 200
    });
}

#[test]
fn watch_needs_http_and_bench_reports_an_unreachable_http_address() {
    let output = node(&["bench", "watch", "--watchers", "10"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "Error: bench watch holds blocking queries, which only the HTTP API has: add --http\n"
    );
    let output = node(&[
        "bench",
        "put",
        "--http",
        "--http-addr",
        "127.0.93.4:18500",
        "--requests",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error: HTTP API at 127.0.93.4:18500: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
