//! Hostile HTTP against a real agent: garbage, oversized heads, slow
//! senders, pipelined requests, many idle connections and clients that
//! vanish mid-request. None of it may crash the agent or stall its loop:
//! after each, a well-formed request is still answered. Addresses
//! 127.0.84.x.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::support::http_agents::{HttpAgent, single_server};

fn connect(agent: &HttpAgent) -> TcpStream {
    let stream = TcpStream::connect(&agent.1).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Everything the agent sends until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

fn still_serves(agent: &HttpAgent) {
    let reply = agent.http().get("/v1/kv/ready?raw");
    assert_eq!((reply.status, reply.text().as_str()), (200, "yes"));
}

#[test]
fn garbage_and_oversized_heads_get_an_error_and_a_close() {
    let agent = single_server("127.0.84.1");
    let mut stream = connect(&agent);
    stream
        .write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Connection: close\r\n"), "{answer}");

    let mut stream = connect(&agent);
    let mut head = b"GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 200 * 1024));
    // The agent answers as soon as the bound is passed; the rest of the
    // write may then fail, which is fine.
    let _ = stream.write_all(&head);
    let answer = read_to_close(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );

    let mut stream = connect(&agent);
    stream
        .write_all(b"PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        .unwrap();
    let answer = read_to_close(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 413 Request Entity Too Large\r\n"),
        "{answer}"
    );
    still_serves(&agent);
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let agent = single_server("127.0.84.2");
    let mut stream = connect(&agent);
    let mut requests = Vec::new();
    for i in 0..20 {
        requests.extend_from_slice(
            format!(
                "PUT /v1/kv/pipe/{i:02} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{i:02}\
                 GET /v1/kv/pipe/{i:02}?raw HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    requests.extend_from_slice(
        b"GET /v1/kv/pipe/?keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    stream.write_all(&requests).unwrap();
    let answers = read_to_close(&mut stream);
    let bodies: Vec<&str> = answers
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|answer| answer.split("\r\n\r\n").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(bodies.len(), 41, "{answers}");
    for i in 0..20 {
        assert_eq!(bodies[2 * i], "true");
        assert_eq!(bodies[2 * i + 1], format!("{i:02}"));
    }
    assert!(bodies[40].starts_with("[\"pipe/00\""), "{}", bodies[40]);
}

#[test]
fn a_slow_sender_is_cut_off_and_others_are_served_meanwhile() {
    let agent = single_server("127.0.84.3");
    let mut slow = connect(&agent);
    slow.write_all(b"GET /v1/kv/ready HTTP/1.1\r\nHo").unwrap();
    // One byte a second: never a whole request within the bound.
    let mut writer = slow.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for _ in 0..60 {
            std::thread::sleep(Duration::from_secs(1));
            if writer.write_all(b"a").is_err() {
                return;
            }
        }
    });
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(1));
        still_serves(&agent);
    }
    let answer = read_to_close(&mut slow);
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    trickle.join().unwrap();
    still_serves(&agent);
}

#[test]
fn many_idle_connections_and_vanishing_clients_do_not_stall_the_agent() {
    let agent = single_server("127.0.84.4");
    let idle: Vec<TcpStream> = (0..2000).map(|_| connect(&agent)).collect();
    still_serves(&agent);
    // Half-sent requests, and a blocking query whose client goes away.
    for _ in 0..50 {
        let mut stream = connect(&agent);
        let _ = stream.write_all(b"PUT /v1/kv/x HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
        drop(stream);
    }
    let index = agent.http().get("/v1/kv/ready").index();
    for _ in 0..50 {
        let mut stream = connect(&agent);
        let request =
            format!("GET /v1/kv/ready?index={index}&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        stream.shutdown(Shutdown::Both).unwrap();
    }
    still_serves(&agent);
    let put = agent.http().put("/v1/kv/ready", b"yes");
    assert_eq!(put.text(), "true");
    drop(idle);
    still_serves(&agent);
    assert!(!agent.log().contains("panicked"), "{}", agent.log());
}
