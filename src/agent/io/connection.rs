//! One TCP connection of the event loop: the preamble handshake, a frame
//! decoder for what comes in, and a bounded queue for what goes out.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::wire::WireError;
use crate::wire::frame::{Frame, FrameDecoder, PREAMBLE_BYTES, Purpose, decode_preamble};
use crate::wire::raft_message::NodeId;

use crate::agent::io::write_queue::WriteQueue;

/// Identifies a connection for the lifetime of the loop (its mio token);
/// never reused, so a late reply cannot reach a newer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub usize);

/// HTTP API connections take IDs from here up, peer-port connections stay
/// below: an answer addressed to an ID says by its range which side of the
/// agent (the HTTP API or the peer port) it belongs to.
pub const FIRST_HTTP_CONNECTION_ID: usize = 1 << (usize::BITS - 2);

/// DNS takes IDs from here up to below the agent's internal client (just
/// under the HTTP range): [`DNS_QUERIES`] is the client its catalog reads
/// come from, its TCP connections take the IDs after it.
pub const FIRST_DNS_CONNECTION_ID: usize = FIRST_HTTP_CONNECTION_ID - (1 << (usize::BITS - 4));

/// The client a DNS query's catalog read is routed from: the answers are
/// matched to their queries by request ID.
pub const DNS_QUERIES: ConnectionId = ConnectionId(FIRST_DNS_CONNECTION_ID);

impl ConnectionId {
    /// A connection of the HTTP API listener.
    pub fn is_http(self) -> bool {
        self.0 >= FIRST_HTTP_CONNECTION_ID
    }

    /// DNS's client, or one of its TCP connections.
    pub fn is_dns(self) -> bool {
        (FIRST_DNS_CONNECTION_ID..FIRST_HTTP_CONNECTION_ID - 1).contains(&self.0)
    }
}

/// A connection we dial and keep: one per key, redialled with backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKey {
    /// Raft traffic to a server, keyed by its ID (its address may change).
    Raft(NodeId),
    /// Client requests forwarded to a server (a client agent, or a follower
    /// forwarding to the leader); responses come back on it.
    Client(SocketAddr),
    /// Gossip push/pull with a member.
    GossipSync(SocketAddr),
}

impl LinkKey {
    pub fn purpose(self) -> Purpose {
        match self {
            LinkKey::Raft(_) => Purpose::Raft,
            LinkKey::Client(_) => Purpose::Client,
            LinkKey::GossipSync(_) => Purpose::GossipSync,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Accepted on our listener; its purpose comes from its preamble.
    Inbound,
    /// Dialled by us; we wrote the preamble.
    Outbound { link: LinkKey },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handshake {
    AwaitingPreamble {
        received: [u8; PREAMBLE_BYTES],
        filled: usize,
    },
    Open(Purpose),
}

#[derive(Debug)]
pub enum ConnectionError {
    Wire(WireError),
    /// Queuing this frame would exceed the write queue limit.
    WriteQueueFull {
        queued_bytes: usize,
        frame_bytes: usize,
    },
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionError::Wire(err) => write!(f, "{err}"),
            ConnectionError::WriteQueueFull {
                queued_bytes,
                frame_bytes,
            } => write!(
                f,
                "write queue full ({queued_bytes} bytes queued, {frame_bytes} more refused)"
            ),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// What a read produced.
pub enum Inbound {
    /// The preamble completed: the connection now carries this purpose.
    Opened(Purpose),
    Frame(Frame),
}

pub struct Connection {
    pub(crate) stream: TcpStream,
    pub remote: SocketAddr,
    pub direction: Direction,
    handshake: Handshake,
    decoder: FrameDecoder,
    write_queue: WriteQueue,
    max_write_queue_bytes: usize,
    /// An outbound connection is usable once the non-blocking connect has
    /// completed; inbound ones are connected from the start.
    pub(crate) connected: bool,
    /// Listed in the transport's flush list; writes are batched per loop
    /// turn so a pipelined burst of replies costs one syscall, not one each.
    pub(crate) flush_scheduled: bool,
    pub opened_at: Instant,
    pub last_activity: Instant,
}

impl Connection {
    pub fn inbound(
        stream: TcpStream,
        remote: SocketAddr,
        max_frame_bytes: u32,
        max_write_queue_bytes: usize,
        now: Instant,
    ) -> Self {
        Connection {
            stream,
            remote,
            direction: Direction::Inbound,
            handshake: Handshake::AwaitingPreamble {
                received: [0; PREAMBLE_BYTES],
                filled: 0,
            },
            decoder: FrameDecoder::new(max_frame_bytes),
            write_queue: WriteQueue::default(),
            max_write_queue_bytes,
            connected: true,
            flush_scheduled: false,
            opened_at: now,
            last_activity: now,
        }
    }

    /// A dialled connection; `preamble` is queued first, so it precedes
    /// every frame.
    pub fn outbound(
        stream: TcpStream,
        remote: SocketAddr,
        link: LinkKey,
        max_frame_bytes: u32,
        max_write_queue_bytes: usize,
        now: Instant,
    ) -> Self {
        let purpose = link.purpose();
        let mut connection = Connection {
            stream,
            remote,
            direction: Direction::Outbound { link },
            handshake: Handshake::Open(purpose),
            decoder: FrameDecoder::new(max_frame_bytes),
            write_queue: WriteQueue::default(),
            max_write_queue_bytes,
            connected: false,
            flush_scheduled: false,
            opened_at: now,
            last_activity: now,
        };
        connection
            .write_queue
            .tail()
            .extend_from_slice(&crate::wire::frame::encode_preamble(purpose));
        connection
    }

    pub fn purpose(&self) -> Option<Purpose> {
        match self.handshake {
            Handshake::Open(purpose) => Some(purpose),
            Handshake::AwaitingPreamble { .. } => None,
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.write_queue.queued_bytes()
    }

    /// Queues what `encode` appends (one frame), all or nothing. It writes
    /// straight into the buffer the socket is written from, so a message's
    /// payload is copied once on its way out, not into a scratch buffer
    /// first. A peer that does not read must not make us buffer without
    /// limit: past the queue limit the frame is taken back out (it is
    /// encoded first because its size is known only then, so the buffer
    /// briefly holds the limit plus one frame).
    pub fn enqueue_with(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), ConnectionError> {
        let queued_bytes = self.write_queue.queued_bytes();
        let buffer = self.write_queue.tail();
        let start = buffer.len();
        encode(buffer);
        let frame_bytes = buffer.len() - start;
        if queued_bytes + frame_bytes > self.max_write_queue_bytes {
            buffer.truncate(start);
            return Err(ConnectionError::WriteQueueFull {
                queued_bytes,
                frame_bytes,
            });
        }
        Ok(())
    }

    /// Writes as much of the queue as the socket takes. `Ok(true)` when the
    /// queue is empty.
    pub fn flush(&mut self, now: Instant) -> io::Result<bool> {
        if !self.connected {
            return Ok(self.queued_bytes() == 0);
        }
        self.write_queue
            .flush(&mut self.stream, &mut self.last_activity, now)
    }

    /// For an outbound connection after a writable event: whether the
    /// non-blocking connect has completed (mio's documented check).
    pub fn finish_connect(&mut self) -> io::Result<bool> {
        if self.connected {
            return Ok(true);
        }
        if let Some(err) = self.stream.take_error()? {
            return Err(err);
        }
        match self.stream.peer_addr() {
            Ok(_) => {
                self.connected = true;
                Ok(true)
            }
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// One read into `scratch`; `Ok(0)` means the peer closed.
    pub fn read_chunk(&mut self, scratch: &mut [u8], now: Instant) -> io::Result<usize> {
        let n = self.stream.read(scratch)?;
        if n > 0 {
            self.last_activity = now;
        }
        Ok(n)
    }

    /// Feeds bytes read from the socket: first the preamble, then frames.
    /// Each result goes to `deliver` as soon as it is complete, so at most
    /// one frame is buffered. An error means the stream is unusable.
    pub fn absorb(
        &mut self,
        mut bytes: &[u8],
        deliver: &mut dyn FnMut(Inbound),
    ) -> Result<(), WireError> {
        if let Handshake::AwaitingPreamble { received, filled } = &mut self.handshake {
            let n = (PREAMBLE_BYTES - *filled).min(bytes.len());
            received[*filled..*filled + n].copy_from_slice(&bytes[..n]);
            *filled += n;
            bytes = &bytes[n..];
            if *filled < PREAMBLE_BYTES {
                return Ok(());
            }
            let purpose = decode_preamble(&received[..])?;
            self.handshake = Handshake::Open(purpose);
            deliver(Inbound::Opened(purpose));
        }
        loop {
            let taken = self.decoder.feed(bytes);
            bytes = &bytes[taken..];
            let mut produced = false;
            while let Some(frame) = self.decoder.next_frame()? {
                produced = true;
                deliver(Inbound::Frame(frame));
            }
            if bytes.is_empty() || (taken == 0 && !produced) {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::{ClientRequest, RequestBody};
    use crate::wire::frame::{encode_frame, encode_preamble};

    fn pair() -> (Connection, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, remote) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let connection = Connection::inbound(
            TcpStream::from_std(server),
            remote,
            1 << 20,
            100,
            Instant::now(),
        );
        (connection, client)
    }

    #[test]
    fn preamble_then_frames_are_delivered_in_order() {
        let (mut connection, _client) = pair();
        let mut bytes = encode_preamble(Purpose::Client).to_vec();
        for id in 1..=3 {
            encode_frame(
                &ClientRequest {
                    request_id: id,
                    body: RequestBody::Info,
                },
                &mut bytes,
            );
        }
        let mut seen = Vec::new();
        // Arrives one byte at a time.
        for byte in &bytes {
            connection
                .absorb(std::slice::from_ref(byte), &mut |inbound| match inbound {
                    Inbound::Opened(p) => seen.push(format!("open {p:?}")),
                    Inbound::Frame(f) => seen.push(format!(
                        "request {}",
                        f.decode::<ClientRequest>().unwrap().request_id
                    )),
                })
                .unwrap();
        }
        assert_eq!(seen, ["open Client", "request 1", "request 2", "request 3"]);
    }

    #[test]
    fn a_bad_preamble_is_an_error() {
        let (mut connection, _client) = pair();
        let result = connection.absorb(b"GET / HTTP/1.1\r\n", &mut |_| {});
        assert!(matches!(result, Err(WireError::BadMagic { .. })));
    }

    #[test]
    fn the_write_queue_refuses_frames_beyond_its_limit() {
        let (mut connection, _client) = pair();
        let bytes = |n: usize| move |out: &mut Vec<u8>| out.resize(out.len() + n, 0);
        connection.enqueue_with(bytes(60)).unwrap();
        let refused = connection.enqueue_with(bytes(41)).unwrap_err();
        assert!(matches!(
            refused,
            ConnectionError::WriteQueueFull {
                queued_bytes: 60,
                frame_bytes: 41
            }
        ));
        assert_eq!(
            connection.queued_bytes(),
            60,
            "a refused frame is taken back out"
        );
        connection.enqueue_with(bytes(40)).unwrap();
        assert_eq!(connection.queued_bytes(), 100);
        assert!(connection.flush(Instant::now()).unwrap());
        assert_eq!(connection.queued_bytes(), 0);
    }
}
