//! Hostile bytes at the DNS port: random and malformed datagrams, TCP
//! messages with bad lengths, truncated frames and garbage; the agent
//! keeps answering queries over both. Address 127.0.142.1; ports 18300,
//! 18500 and 18600 (DNS).

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use concord::deterministic_rng::SplitMix64;

use crate::support::dns::{DNS_PORT, dig_short};
use crate::support::http_agents::{HttpAgent, WAIT};
use crate::support::wait::wait_until_ok;

const IP: &str = "127.0.142.1";

/// A query for `web.service.consul` A with ID 0x1234.
fn well_formed_query() -> Vec<u8> {
    let mut query = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["web", "service", "consul"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    query
}

/// Hostile variants: random bytes, a real query cut short or with a byte
/// flipped, compression loops, huge counts.
fn hostile_messages(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = SplitMix64::new(seed);
    let good = well_formed_query();
    let mut out: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0; 3],
        vec![0xff; 12],
        // A name that points at itself.
        vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1],
        // 65535 questions announced, none present.
        vec![0, 2, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0],
        // A response, not a query.
        [&[0x12, 0x34, 0x81, 0x80][..], &good[4..]].concat(),
    ];
    for cut in 1..good.len() {
        out.push(good[..cut].to_vec());
    }
    for _ in 0..300 {
        let len = (rng.next_u64() % 600) as usize;
        out.push((0..len).map(|_| rng.next_u64() as u8).collect());
        let mut flipped = good.clone();
        let at = (rng.next_u64() as usize) % flipped.len();
        flipped[at] ^= rng.next_u64() as u8 | 1;
        out.push(flipped);
    }
    out
}

fn answers_a_query() {
    wait_until_ok(WAIT, "web.service.consul answered over UDP and TCP", || {
        let udp = dig_short(IP, &["web.service.consul"]);
        let tcp = dig_short(IP, &["+tcp", "web.service.consul"]);
        match (udp.as_slice(), tcp.as_slice()) {
            ([a], [b]) if a == "10.9.9.9" && b == "10.9.9.9" => Ok(()),
            _ => Err(format!("udp {udp:?} tcp {tcp:?}")),
        }
    });
}

fn send_tcp(bytes: &[u8]) {
    let Ok(mut stream) = TcpStream::connect((IP, DNS_PORT)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.write_all(bytes);
    let mut sink = [0u8; 512];
    let _ = stream.read(&mut sink);
}

#[test]
fn random_and_malformed_packets_leave_the_dns_port_answering() {
    let dns = format!("{IP}:{DNS_PORT}");
    let agent = HttpAgent::start(
        &format!("{IP}:18300"),
        &format!("{IP}:18500"),
        "solo",
        &["--bootstrap", "--dns-addr", &dns],
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    let body = serde_json::json!({
        "Node": "ext", "Address": "10.9.9.9", "Service": {"Service": "web", "Port": 80}
    });
    wait_until_ok(WAIT, "the registration is taken", || {
        let reply = agent
            .http()
            .put("/v1/catalog/register", body.to_string().as_bytes());
        match reply.status {
            200 => Ok(()),
            status => Err(format!("{status} {}", reply.text())),
        }
    });
    answers_a_query();

    let udp = UdpSocket::bind((IP, 0)).unwrap();
    for message in hostile_messages(7) {
        let _ = udp.send_to(&message, (IP, DNS_PORT));
    }
    answers_a_query();

    for message in hostile_messages(11).into_iter().take(200) {
        // Framed as its length says, then as a lie about its length.
        let len = (message.len() as u16).to_be_bytes();
        send_tcp(&[&len[..], &message].concat());
        send_tcp(&[&[0xff, 0xff][..], &message].concat());
    }
    send_tcp(&[0, 0]);
    send_tcp(&[0]);
    // Several queries pipelined on one connection are all answered.
    let query = well_formed_query();
    let len = (query.len() as u16).to_be_bytes();
    let mut stream = TcpStream::connect((IP, DNS_PORT)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let framed = [&len[..], &query].concat();
    stream.write_all(&framed.repeat(3)).unwrap();
    for _ in 0..3 {
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).unwrap();
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer[..2], &[0x12, 0x34]);
    }
    answers_a_query();
    assert!(agent.is_running(), "the agent is still up");
}
