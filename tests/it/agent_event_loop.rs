//! The event loop with real sockets on loopback: preamble routing, client
//! request/response through a handler, malformed input, the write queue
//! bound, the handshake timeout, datagrams, and peer dialling with backoff.
//! Each test binds its own 127.0.54.x address.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use concord::agent::io::connection::ConnectionId;
use concord::agent::io::event_loop::{Context, Handler};
use concord::agent::io::transport::{SendError, TransportLimits, TransportStats};
use concord::client::rpc_client::{RpcClient, RpcTimeouts};
use concord::wire::client_message::{
    ClientRequest, ClientResponse, KvEntry, RequestBody, ResponseBody, RpcResult,
};
use concord::wire::frame::{Frame, Purpose, encode_frame, encode_preamble};
use concord::wire::raft_message::{RaftBody, RaftMessage};

use crate::support::in_process_loop::{InProcessLoop, run_in_process_with};
use crate::support::wait::wait_until;

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Client(u64),
    Raft { from: u64, term: u64 },
    GossipSync(u8),
    Datagram(Vec<u8>),
    ReplyRefused,
    Forwarded(u64),
    ForwardClosed,
}

#[derive(Default)]
struct Shared {
    seen: Vec<Seen>,
    stats: TransportStats,
    max_queued_bytes: usize,
    raft_send_results: Vec<String>,
}

struct TestHandler {
    shared: Arc<Mutex<Shared>>,
    /// Bytes of the value in each client reply.
    reply_value_bytes: usize,
    /// When set, every tick sends a Raft message to this peer.
    raft_target: Option<(u64, SocketAddr)>,
    /// When set, the first tick forwards three client requests here.
    forward_target: Option<SocketAddr>,
    forward_connection: Option<ConnectionId>,
}

impl Handler for TestHandler {
    fn on_client_request(&mut self, from: ConnectionId, request: ClientRequest, ctx: &mut Context) {
        let response = ClientResponse {
            request_id: request.request_id,
            body: ResponseBody::Ok(RpcResult::KvValue(Some(KvEntry {
                key: "k".into(),
                value: vec![7; self.reply_value_bytes].into(),
                create_index: request.request_id,
                modify_index: request.request_id,
            }))),
        };
        let result = ctx.reply(from, &response);
        let mut shared = self.shared.lock().unwrap();
        shared.seen.push(Seen::Client(request.request_id));
        if let Some(queued) = ctx.queued_bytes(from) {
            shared.max_queued_bytes = shared.max_queued_bytes.max(queued);
        }
        if result.is_err() {
            shared.seen.push(Seen::ReplyRefused);
        }
    }

    fn on_raft_message(&mut self, _from: ConnectionId, message: RaftMessage, _ctx: &mut Context) {
        self.shared.lock().unwrap().seen.push(Seen::Raft {
            from: message.from,
            term: message.term,
        });
    }

    fn on_gossip_sync_frame(&mut self, _from: ConnectionId, frame: Frame, _ctx: &mut Context) {
        self.shared
            .lock()
            .unwrap()
            .seen
            .push(Seen::GossipSync(frame.message_type));
    }

    fn on_datagram(&mut self, _from: SocketAddr, bytes: &[u8], _ctx: &mut Context) {
        self.shared
            .lock()
            .unwrap()
            .seen
            .push(Seen::Datagram(bytes.to_vec()));
    }

    fn on_client_response(
        &mut self,
        _from: ConnectionId,
        response: ClientResponse,
        _ctx: &mut Context,
    ) {
        self.shared
            .lock()
            .unwrap()
            .seen
            .push(Seen::Forwarded(response.request_id));
    }

    fn on_connection_closed(&mut self, id: ConnectionId, _ctx: &mut Context) {
        if self.forward_connection == Some(id) {
            self.shared.lock().unwrap().seen.push(Seen::ForwardClosed);
        }
    }

    fn on_tick(&mut self, ctx: &mut Context) {
        if let Some(server) = self.forward_target.take() {
            for request_id in [70, 71, 72] {
                let request = ClientRequest {
                    request_id,
                    body: RequestBody::Members,
                };
                let id = ctx.forward_client_request(server, &request).unwrap();
                assert!(self.forward_connection.is_none_or(|c| c == id));
                self.forward_connection = Some(id);
            }
        }
        if let Some((peer, address)) = self.raft_target {
            let result = ctx.send_raft(peer, address, &raft_message(1, 5));
            let label = match result {
                Ok(()) => "ok".to_string(),
                Err(SendError::PeerBackingOff { .. }) => "backoff".to_string(),
                Err(err) => format!("error: {err}"),
            };
            self.shared.lock().unwrap().raft_send_results.push(label);
        }
        self.shared.lock().unwrap().stats = ctx.stats();
    }
}

fn raft_message(from: u64, term: u64) -> RaftMessage {
    RaftMessage {
        cluster_id: 42,
        from,
        to: 7,
        term,
        body: RaftBody::TimeoutNow,
    }
}

/// A loop on its own thread (stopped and joined on drop, also when a test
/// fails) and what its handler saw.
struct RunningLoop {
    address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    /// Stops and joins the loop when dropped.
    _running: InProcessLoop,
}

impl RunningLoop {
    fn start(ip: &str, limits: TransportLimits, configure: impl FnOnce(&mut TestHandler)) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut handler = TestHandler {
            shared: shared.clone(),
            reply_value_bytes: 8,
            raft_target: None,
            forward_target: None,
            forward_connection: None,
        };
        configure(&mut handler);
        let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
        let running = run_in_process_with(bind, limits, move || handler);
        RunningLoop {
            address: running.address,
            shared,
            _running: running,
        }
    }

    fn wait_for(&self, what: &str, condition: impl Fn(&Shared) -> bool) {
        wait_until(Duration::from_secs(10), what, || {
            condition(&self.shared.lock().unwrap())
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }
}

fn connect(address: SocketAddr, purpose: Purpose) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(&encode_preamble(purpose)).unwrap();
    stream
}

/// True once the server has closed the stream (EOF or reset).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn client_requests_are_answered_through_the_handler() {
    let running = RunningLoop::start("127.0.54.1", TransportLimits::default(), |_| {});
    let mut client = RpcClient::connect(running.address, RpcTimeouts::default()).unwrap();
    let Ok(RpcResult::KvValue(Some(entry))) = client.call(RequestBody::Info) else {
        panic!("expected the handler's reply");
    };
    assert_eq!(entry.create_index, 1);
    // Pipelined: three in flight, answered in order with matching IDs.
    let ids: Vec<u64> = (0..3)
        .map(|_| client.send(RequestBody::Members).unwrap())
        .collect();
    let answered: Vec<u64> = (0..3)
        .map(|_| client.receive().unwrap().request_id)
        .collect();
    assert_eq!(ids, answered);
    assert_eq!(
        running.seen(),
        [
            Seen::Client(1),
            Seen::Client(2),
            Seen::Client(3),
            Seen::Client(4)
        ]
    );
}

#[test]
fn connections_are_routed_by_their_preamble_purpose() {
    let running = RunningLoop::start("127.0.54.2", TransportLimits::default(), |_| {});
    let mut raft = connect(running.address, Purpose::Raft);
    let mut bytes = Vec::new();
    encode_frame(&raft_message(9, 3), &mut bytes);
    raft.write_all(&bytes).unwrap();

    let mut gossip = connect(running.address, Purpose::GossipSync);
    let mut bytes = Vec::new();
    // Gossip frames are handed over undecoded, whatever their type.
    encode_frame(&raft_message(1, 1), &mut bytes);
    gossip.write_all(&bytes).unwrap();

    running.wait_for("both frames", |s| s.seen.len() == 2);
    let seen = running.seen();
    assert!(seen.contains(&Seen::Raft { from: 9, term: 3 }), "{seen:?}");
    assert!(
        seen.iter().any(|s| matches!(s, Seen::GossipSync(_))),
        "{seen:?}"
    );
}

#[test]
fn garbage_on_tcp_closes_only_that_connection() {
    let running = RunningLoop::start("127.0.54.3", TransportLimits::default(), |_| {});
    // Not our protocol at all.
    let mut http = TcpStream::connect(running.address).unwrap();
    http.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_by_server(&mut http));

    // Right preamble, then a frame with a broken CRC.
    let mut corrupt = connect(running.address, Purpose::Client);
    let mut bytes = Vec::new();
    encode_frame(
        &ClientRequest {
            request_id: 1,
            body: RequestBody::Info,
        },
        &mut bytes,
    );
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    corrupt.write_all(&bytes).unwrap();
    assert!(closed_by_server(&mut corrupt));

    // A valid frame whose payload is not a client request.
    let mut wrong_type = connect(running.address, Purpose::Client);
    let mut bytes = Vec::new();
    encode_frame(&raft_message(1, 1), &mut bytes);
    wrong_type.write_all(&bytes).unwrap();
    assert!(closed_by_server(&mut wrong_type));

    // A declared length far above the frame limit.
    let mut huge = connect(running.address, Purpose::Raft);
    huge.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
    assert!(closed_by_server(&mut huge));

    // The loop still serves everyone else.
    let mut client = RpcClient::connect(running.address, RpcTimeouts::default()).unwrap();
    assert!(client.call(RequestBody::Info).is_ok());
    running.wait_for("malformed counter", |s| s.stats.closed_malformed == 4);
}

#[test]
fn datagrams_reach_the_handler_and_oversized_ones_are_dropped() {
    let running = RunningLoop::start("127.0.54.4", TransportLimits::default(), |_| {});
    let socket = UdpSocket::bind("127.0.54.4:0").unwrap();
    let garbage: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    socket.send_to(&garbage, running.address).unwrap();
    socket.send_to(&[0u8; 3000], running.address).unwrap();
    socket.send_to(&[1u8; 1400], running.address).unwrap();
    running.wait_for("two datagrams and one drop", |s| {
        s.seen.len() == 2 && s.stats.datagrams_dropped == 1
    });
    assert_eq!(
        running.seen(),
        [Seen::Datagram(garbage), Seen::Datagram(vec![1u8; 1400])]
    );
    // TCP is unaffected.
    let mut client = RpcClient::connect(running.address, RpcTimeouts::default()).unwrap();
    assert!(client.call(RequestBody::Info).is_ok());
}

#[test]
fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let limits = TransportLimits {
        handshake_timeout: Duration::from_millis(200),
        ..TransportLimits::default()
    };
    let running = RunningLoop::start("127.0.54.5", limits, |_| {});
    let mut silent = TcpStream::connect(running.address).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    silent.write_all(b"CN").unwrap(); // half a preamble, then nothing
    assert!(closed_by_server(&mut silent));
    running.wait_for("handshake counter", |s| {
        s.stats.closed_handshake_timeout == 1
    });
}

#[test]
fn a_client_that_does_not_read_is_dropped_at_the_write_queue_limit() {
    let limit = 256 * 1024;
    let limits = TransportLimits {
        max_write_queue_bytes: limit,
        ..TransportLimits::default()
    };
    let running = RunningLoop::start("127.0.54.6", limits, |h| h.reply_value_bytes = 100_000);
    let mut stream = connect(running.address, Purpose::Client);
    let mut bytes = Vec::new();
    // 400 requests whose replies total ~40 MB, far beyond socket buffers
    // plus the queue; the client never reads.
    for request_id in 1..=400 {
        encode_frame(
            &ClientRequest {
                request_id,
                body: RequestBody::Info,
            },
            &mut bytes,
        );
    }
    // The server may close while we are still writing.
    let _ = stream.write_all(&bytes);
    running.wait_for("backpressure close", |s| s.stats.closed_backpressure == 1);
    let shared = running.shared.lock().unwrap();
    assert!(shared.seen.contains(&Seen::ReplyRefused));
    assert!(
        shared.max_queued_bytes <= limit,
        "queue reached {} bytes",
        shared.max_queued_bytes
    );
}

#[test]
fn send_raft_dials_the_peer_once_and_reuses_the_connection() {
    let receiver = RunningLoop::start("127.0.54.7", TransportLimits::default(), |_| {});
    let target = receiver.address;
    let sender = RunningLoop::start("127.0.54.8", TransportLimits::default(), |h| {
        h.raft_target = Some((7, target));
    });
    receiver.wait_for("ten Raft messages", |s| s.seen.len() >= 10);
    assert!(
        receiver
            .seen()
            .iter()
            .all(|s| *s == Seen::Raft { from: 1, term: 5 })
    );
    sender.wait_for("stats", |s| s.stats.dial_attempts >= 1);
    assert_eq!(sender.shared.lock().unwrap().stats.dial_attempts, 1);
}

#[test]
fn an_unreachable_peer_is_redialled_with_backoff() {
    // A port with nothing listening: bind, note the port, close.
    let dead = std::net::TcpListener::bind("127.0.54.9:0").unwrap();
    let dead_address = dead.local_addr().unwrap();
    drop(dead);
    let sender = RunningLoop::start("127.0.54.10", TransportLimits::default(), |h| {
        h.raft_target = Some((7, dead_address));
    });
    // 60 ticks try to send; backoff (50, 100, 200 ms ...) allows only a few dials.
    sender.wait_for("60 send attempts", |s| s.raft_send_results.len() >= 60);
    let shared = sender.shared.lock().unwrap();
    assert!(shared.raft_send_results.iter().any(|r| r == "backoff"));
    let dials = shared.stats.dial_attempts;
    assert!(
        (2..=8).contains(&dials),
        "{dials} dials for {} sends",
        shared.raft_send_results.len()
    );
}

#[test]
fn forwarded_client_requests_get_their_answers_on_the_dialled_connection() {
    let server = RunningLoop::start("127.0.54.11", TransportLimits::default(), |_| {});
    let target = server.address;
    let forwarder = RunningLoop::start("127.0.54.12", TransportLimits::default(), |h| {
        h.forward_target = Some(target);
    });
    forwarder.wait_for("three answers", |s| s.seen.len() >= 3);
    assert_eq!(
        forwarder.seen(),
        [
            Seen::Forwarded(70),
            Seen::Forwarded(71),
            Seen::Forwarded(72)
        ]
    );
    assert_eq!(
        server.seen(),
        [Seen::Client(70), Seen::Client(71), Seen::Client(72)]
    );
    // The server going away is reported, so pending forwards can fail.
    drop(server);
    forwarder.wait_for("close notice", |s| s.seen.contains(&Seen::ForwardClosed));
}

#[test]
fn connections_beyond_the_limit_are_refused_and_slots_are_reused() {
    let limits = TransportLimits {
        max_connections: 4,
        max_accepts_per_event: 2,
        ..TransportLimits::default()
    };
    let running = RunningLoop::start("127.0.54.13", limits, |_| {});
    let held: Vec<TcpStream> = (0..4)
        .map(|_| connect(running.address, Purpose::Client))
        .collect();
    running.wait_for("four accepted", |s| s.stats.accepted == 4);
    let mut extra: Vec<TcpStream> = (0..6)
        .map(|_| connect(running.address, Purpose::Client))
        .collect();
    for stream in &mut extra {
        assert!(
            closed_by_server(stream),
            "an over-limit connection stayed open"
        );
    }
    running.wait_for("six refused", |s| s.stats.refused_over_limit == 6);
    drop(held);
    // The loop notices the closes on its next turns; then there is room.
    wait_until(Duration::from_secs(10), "a slot is freed", || {
        let mut client = RpcClient::connect(running.address, RpcTimeouts::default()).unwrap();
        client.call(RequestBody::Info).is_ok()
    });
}
