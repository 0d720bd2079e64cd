//! Pipelined HTTP/1.1 on one connection: several requests in flight, the
//! answers in request order (a blocking query holds back the answers
//! behind it), backpressure past the bound of requests in flight, and the
//! held queries of a connection that closes forgotten. Raw TCP, so the
//! bytes on the wire are what is checked. Addresses 127.0.120.x.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::http_agents::{HttpAgent, WAIT, single_server};
use crate::support::node_process::text;
use crate::support::wait::wait_until;

/// One answer as it came off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        found.next().map(|(_, v)| v.as_str())
    }
}

fn connect(agent: &HttpAgent) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(&agent.1).expect("connect to the HTTP API");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    BufReader::new(stream)
}

/// Reads one answer framed by its `Content-Length`.
fn read_answer(reader: &mut BufReader<TcpStream>) -> Answer {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a status line");
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("a header line");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').expect("a header");
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: String::new(),
    };
    let length: usize = answer
        .header("Content-Length")
        .map_or(0, |n| n.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("the body");
    answer.body = String::from_utf8(body).unwrap();
    answer
}

fn put(key: &str, value: &str) -> String {
    format!(
        "PUT /v1/kv/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{value}",
        value.len()
    )
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

fn send(reader: &mut BufReader<TcpStream>, requests: &str) {
    reader.get_mut().write_all(requests.as_bytes()).unwrap();
}

/// Whether the agent closed the connection (after what was read).
fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

#[test]
fn ten_pipelined_requests_in_one_write_are_answered_in_order() {
    let agent = single_server("127.0.120.1");
    let mut connection = connect(&agent);
    let requests = [
        put("p/a", "1"),
        put("p/b", "2"),
        get("/v1/kv/p/a?raw"),
        get("/v1/kv/p/missing"),
        put("p/a", "3"),
        put("p/c", "4"),
        get("/v1/kv/p/a?raw"),
        get("/v1/kv/p/?keys"),
        get("/v1/status/leader"),
        "GET /v1/kv/p/a HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".to_string(),
    ];
    send(&mut connection, &requests.concat());
    let answers: Vec<Answer> = (0..10).map(|_| read_answer(&mut connection)).collect();
    let got: Vec<(u16, &str)> = answers
        .iter()
        .map(|a| (a.status, a.body.as_str()))
        .collect();
    assert_eq!(
        got[..8],
        [
            (200, "true"),
            (200, "true"),
            (200, "1"),
            (404, ""),
            (200, "true"),
            (200, "true"),
            (200, "3"),
            (200, r#"["p/a","p/b","p/c"]"#),
        ]
    );
    assert!(
        answers[3].header("X-Consul-Index").is_some(),
        "{:?}",
        answers[3]
    );
    assert!(
        answers[8].body.starts_with("\"127.0.120.1:"),
        "{:?}",
        answers[8]
    );
    assert_eq!(answers[9].status, 400, "{:?}", answers[9]);
    assert_eq!(answers[9].header("Connection"), Some("close"));
    assert!(
        closed(&mut connection),
        "the malformed request ends the connection"
    );
}

#[test]
fn a_blocking_query_holds_back_the_answers_behind_it_until_a_write_wakes_it() {
    let agent = single_server("127.0.120.2");
    let index = agent.http().put("/v1/kv/watched", b"old");
    assert_eq!(index.status, 200);
    let index = agent.http().get("/v1/kv/watched").index();
    let mut connection = connect(&agent);
    let blocking = get(&format!("/v1/kv/watched?raw&index={index}&wait=60s"));
    send(&mut connection, &(blocking + &get("/v1/kv/ready?raw")));
    // The plain read is answered in the agent at once; its answer must not
    // overtake the blocking one.
    connection
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = connection.get_mut().peek(&mut byte);
    assert!(
        early.is_err(),
        "an answer arrived before the write: {early:?}"
    );
    connection.get_mut().set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    assert_eq!(agent.http().put("/v1/kv/watched", b"new").status, 200);
    let woken = read_answer(&mut connection);
    let behind = read_answer(&mut connection);
    assert_eq!((woken.status, woken.body.as_str()), (200, "new"));
    assert!(
        woken
            .header("X-Consul-Index")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > index
    );
    assert_eq!((behind.status, behind.body.as_str()), (200, "yes"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "woken by the write, not the wait"
    );
    // The connection is still usable after the pipeline.
    send(&mut connection, &get("/v1/kv/watched?raw"));
    assert_eq!(read_answer(&mut connection).body, "new");
}

#[test]
fn a_pipeline_over_the_bound_of_requests_in_flight_is_served_whole() {
    let agent = single_server("127.0.120.3");
    let mut connection = connect(&agent);
    let writes = 100;
    let mut requests: String = (0..writes)
        .map(|i| put(&format!("over/{i:03}"), &i.to_string()))
        .collect();
    requests += &(0..writes)
        .map(|i| get(&format!("/v1/kv/over/{i:03}?raw")))
        .collect::<String>();
    requests += "GET /v1/kv/over/?keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send(&mut connection, &requests);
    for i in 0..writes {
        let answer = read_answer(&mut connection);
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (200, "true"),
            "PUT {i}"
        );
    }
    for i in 0..writes {
        let answer = read_answer(&mut connection);
        assert_eq!(
            (answer.status, answer.body),
            (200, i.to_string()),
            "GET {i}"
        );
    }
    let keys = read_answer(&mut connection);
    assert_eq!(keys.status, 200);
    let keys: Vec<String> = serde_json::from_str(&keys.body).unwrap();
    assert_eq!(keys.len(), writes);
    assert!(
        closed(&mut connection),
        "Connection: close ends it after its answer"
    );
}

#[test]
fn a_closed_connection_forgets_its_pipelined_blocking_queries() {
    let agent = single_server("127.0.120.4");
    let index = agent.http().get("/v1/kv/ready").index();
    let blocked = |agent: &HttpAgent| {
        let info = text(&agent.node(&["info"]).stdout);
        info.lines()
            .find_map(|line| line.trim().strip_prefix("blocked_queries = "))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no blocked_queries in {info}"))
    };
    let mut connections: Vec<_> = (0..4).map(|_| connect(&agent)).collect();
    for connection in &mut connections {
        let query = get(&format!("/v1/kv/ready?index={index}&wait=5m"));
        send(
            connection,
            &[query.clone(), query, get("/v1/kv/ready?raw")].concat(),
        );
    }
    wait_until(WAIT, "the first queries of each pipeline held", || {
        blocked(&agent) == 8
    });
    drop(connections);
    wait_until(WAIT, "the closed connections' queries forgotten", || {
        blocked(&agent) == 0
    });
    let reply = agent.http().get("/v1/kv/ready?raw");
    assert_eq!((reply.status, reply.text().as_str()), (200, "yes"));
}
