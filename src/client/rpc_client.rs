//! The blocking RPC client every CLI subcommand and `node bench` uses: one
//! TCP connection with the Client preamble, framed `ClientRequest`s out,
//! framed `ClientResponse`s in. Requests carry IDs so a caller may keep
//! several in flight ([`RpcClient::send`] / [`RpcClient::receive`]).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::wire::WireError;
use crate::wire::client_message::{
    ClientRequest, ClientResponse, RequestBody, ResponseBody, RpcError, RpcResult,
};
use crate::wire::frame::{
    DEFAULT_MAX_FRAME_BYTES, FrameDecoder, Purpose, encode_frame, encode_preamble,
};

/// Read buffer for responses; a frame larger than this arrives in pieces.
const READ_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcTimeouts {
    pub connect: Duration,
    /// For each read and each write; a server that stops answering for this
    /// long fails the call instead of hanging the CLI.
    pub io: Duration,
}

impl Default for RpcTimeouts {
    fn default() -> Self {
        RpcTimeouts {
            connect: Duration::from_secs(3),
            // Longer than the server's own bounded wait for a leader, so the
            // server's "No cluster leader" reaches the operator.
            io: Duration::from_secs(15),
        }
    }
}

#[derive(Debug)]
pub enum RpcClientError {
    Connect {
        address: SocketAddr,
        source: io::Error,
    },
    Io {
        address: SocketAddr,
        source: io::Error,
    },
    Timeout {
        address: SocketAddr,
    },
    /// The agent closed the connection before answering.
    Closed {
        address: SocketAddr,
    },
    /// The agent's bytes do not decode: it speaks another protocol.
    Wire {
        address: SocketAddr,
        source: WireError,
    },
    /// A response to a request this client never sent.
    UnexpectedRequestId {
        expected: u64,
        received: u64,
    },
    /// The agent answered with an error.
    Rpc(RpcError),
    /// The agent answered with a result of the wrong kind for the request.
    UnexpectedResult {
        request: &'static str,
    },
}

impl std::fmt::Display for RpcClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcClientError::Connect { address, source } => {
                write!(f, "cannot connect to the agent at {address}: {source}")
            }
            RpcClientError::Io { address, source } => {
                write!(f, "connection to the agent at {address} failed: {source}")
            }
            RpcClientError::Timeout { address } => {
                write!(f, "the agent at {address} did not answer in time")
            }
            RpcClientError::Closed { address } => {
                write!(f, "the agent at {address} closed the connection")
            }
            RpcClientError::Wire { address, source } => {
                write!(
                    f,
                    "the agent at {address} sent an invalid response: {source}"
                )
            }
            RpcClientError::UnexpectedRequestId { expected, received } => write!(
                f,
                "response for request {received} while waiting for request {expected}"
            ),
            RpcClientError::Rpc(err) => {
                write!(f, "{}", err.message)?;
                if let Some(leader) = &err.leader_hint {
                    write!(f, " (leader: {leader})")?;
                }
                Ok(())
            }
            RpcClientError::UnexpectedResult { request } => {
                write!(f, "the agent sent a result of the wrong kind for {request}")
            }
        }
    }
}

impl std::error::Error for RpcClientError {}

pub struct RpcClient {
    address: SocketAddr,
    stream: TcpStream,
    decoder: FrameDecoder,
    /// Bytes read from the socket that the decoder has not taken yet.
    pending: Vec<u8>,
    pending_start: usize,
    next_request_id: u64,
    encode_buffer: Vec<u8>,
}

impl RpcClient {
    pub fn connect(address: SocketAddr, timeouts: RpcTimeouts) -> Result<Self, RpcClientError> {
        let stream = TcpStream::connect_timeout(&address, timeouts.connect)
            .map_err(|source| RpcClientError::Connect { address, source })?;
        let io_error = |source| RpcClientError::Io { address, source };
        stream
            .set_read_timeout(Some(timeouts.io))
            .map_err(io_error)?;
        stream
            .set_write_timeout(Some(timeouts.io))
            .map_err(io_error)?;
        // Requests are small and latency-bound; Nagle would add up to 40 ms.
        stream.set_nodelay(true).map_err(io_error)?;
        let mut client = RpcClient {
            address,
            stream,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES),
            pending: Vec::new(),
            pending_start: 0,
            next_request_id: 1,
            encode_buffer: Vec::new(),
        };
        let preamble = encode_preamble(Purpose::Client);
        client.write_all(&preamble)?;
        Ok(client)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Sends one request and waits for its response. An error response
    /// becomes [`RpcClientError::Rpc`].
    pub fn call(&mut self, body: RequestBody) -> Result<RpcResult, RpcClientError> {
        let request_id = self.send(body)?;
        let response = self.receive()?;
        if response.request_id != request_id {
            return Err(RpcClientError::UnexpectedRequestId {
                expected: request_id,
                received: response.request_id,
            });
        }
        match response.body {
            ResponseBody::Ok(result) => Ok(result),
            ResponseBody::Err(err) => Err(RpcClientError::Rpc(err)),
        }
    }

    /// Sends one request without waiting; returns its request ID.
    pub fn send(&mut self, body: RequestBody) -> Result<u64, RpcClientError> {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let mut buffer = std::mem::take(&mut self.encode_buffer);
        buffer.clear();
        encode_frame(&ClientRequest { request_id, body }, &mut buffer);
        let result = self.write_all(&buffer);
        self.encode_buffer = buffer;
        result.map(|()| request_id)
    }

    /// Waits for the next response, whichever request it answers.
    pub fn receive(&mut self) -> Result<ClientResponse, RpcClientError> {
        let address = self.address;
        loop {
            if self.pending_start < self.pending.len() {
                let taken = self.decoder.feed(&self.pending[self.pending_start..]);
                self.pending_start += taken;
            }
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    return frame
                        .decode::<ClientResponse>()
                        .map_err(|source| RpcClientError::Wire { address, source });
                }
                Ok(None) => {}
                Err(source) => return Err(RpcClientError::Wire { address, source }),
            }
            if self.pending_start < self.pending.len() {
                continue;
            }
            self.pending.resize(READ_CHUNK_BYTES, 0);
            self.pending_start = 0;
            let read = match self.stream.read(&mut self.pending) {
                Ok(0) => {
                    self.pending.clear();
                    return Err(RpcClientError::Closed { address });
                }
                Ok(n) => n,
                Err(err) if is_timeout(&err) => {
                    self.pending.clear();
                    return Err(RpcClientError::Timeout { address });
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
                Err(source) => {
                    self.pending.clear();
                    return Err(RpcClientError::Io { address, source });
                }
            };
            self.pending.truncate(read);
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), RpcClientError> {
        let address = self.address;
        self.stream.write_all(bytes).map_err(|source| {
            if is_timeout(&source) {
                RpcClientError::Timeout { address }
            } else {
                RpcClientError::Io { address, source }
            }
        })
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::InfoSection;
    use std::net::TcpListener;

    /// A one-connection server that reads the preamble and one request,
    /// then writes `reply(request_id)`.
    fn scripted_agent(reply: impl FnOnce(u64) -> Vec<u8> + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut preamble = [0u8; 6];
            stream.read_exact(&mut preamble).unwrap();
            let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
            let mut buf = [0u8; 1024];
            let request = loop {
                let n = stream.read(&mut buf).unwrap();
                decoder.feed(&buf[..n]);
                if let Some(frame) = decoder.next_frame().unwrap() {
                    break frame.decode::<ClientRequest>().unwrap();
                }
            };
            let _ = stream.write_all(&reply(request.request_id));
            std::thread::sleep(Duration::from_millis(300));
        });
        address
    }

    fn response(request_id: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(
            &ClientResponse {
                request_id,
                body: ResponseBody::Ok(RpcResult::Info(vec![InfoSection {
                    name: "agent".into(),
                    fields: vec![],
                }])),
            },
            &mut out,
        );
        out
    }

    fn short_timeouts() -> RpcTimeouts {
        RpcTimeouts {
            connect: Duration::from_secs(2),
            io: Duration::from_millis(150),
        }
    }

    #[test]
    fn call_returns_the_matching_response() {
        let address = scripted_agent(response);
        let mut client = RpcClient::connect(address, short_timeouts()).unwrap();
        assert!(matches!(
            client.call(RequestBody::Info),
            Ok(RpcResult::Info(_))
        ));
    }

    #[test]
    fn a_response_to_another_request_is_an_error() {
        let address = scripted_agent(|id| response(id + 100));
        let mut client = RpcClient::connect(address, short_timeouts()).unwrap();
        assert!(matches!(
            client.call(RequestBody::Info),
            Err(RpcClientError::UnexpectedRequestId {
                expected: 1,
                received: 101
            })
        ));
    }

    #[test]
    fn garbage_from_the_agent_is_a_wire_error() {
        let address = scripted_agent(|_| vec![0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let mut client = RpcClient::connect(address, short_timeouts()).unwrap();
        assert!(matches!(
            client.call(RequestBody::Info),
            Err(RpcClientError::Wire { .. })
        ));
    }

    #[test]
    fn an_agent_that_closes_or_stays_silent_is_a_typed_error() {
        let address = scripted_agent(|_| Vec::new());
        let mut client = RpcClient::connect(address, short_timeouts()).unwrap();
        // Silent for 300 ms: the 150 ms read timeout fires first.
        assert!(matches!(
            client.call(RequestBody::Info),
            Err(RpcClientError::Timeout { .. })
        ));
        std::thread::sleep(Duration::from_millis(400));
        assert!(matches!(
            client.receive(),
            Err(RpcClientError::Closed { .. } | RpcClientError::Io { .. })
        ));
    }

    #[test]
    fn nobody_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(
            RpcClient::connect(address, short_timeouts()),
            Err(RpcClientError::Connect { .. })
        ));
    }
}
