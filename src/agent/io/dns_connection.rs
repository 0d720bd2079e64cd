//! One TCP connection to the DNS port: messages framed by a two-byte
//! length (RFC 1035 4.2.2) in, the same framing out, with a bound on what
//! is buffered either way.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

/// What one read of the connection gave.
#[derive(Debug, PartialEq, Eq)]
pub enum DnsRead {
    /// Complete messages, in order.
    Messages(Vec<Vec<u8>>),
    /// The read budget ran out with data possibly left.
    MoreLater(Vec<Vec<u8>>),
    /// The peer closed, or sent what cannot be a DNS message.
    Closed(Vec<Vec<u8>>),
}

pub struct DnsConnection {
    stream: TcpStream,
    pub remote: SocketAddr,
    /// Bytes read and not yet a whole message.
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    pub last_active: Instant,
    max_message_bytes: usize,
    max_queued_bytes: usize,
}

impl DnsConnection {
    pub fn new(
        stream: TcpStream,
        remote: SocketAddr,
        max_message_bytes: usize,
        max_queued_bytes: usize,
        now: Instant,
    ) -> Self {
        DnsConnection {
            stream,
            remote,
            inbound: Vec::new(),
            outbound: Vec::new(),
            last_active: now,
            max_message_bytes,
            max_queued_bytes,
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.outbound.len()
    }

    /// Reads what arrived, at most `budget` bytes, and splits it into
    /// messages.
    pub fn read(&mut self, scratch: &mut [u8], budget: usize, now: Instant) -> DnsRead {
        let mut messages = Vec::new();
        let mut left = budget;
        loop {
            if left == 0 {
                return DnsRead::MoreLater(messages);
            }
            let want = scratch.len().min(left);
            match self.stream.read(&mut scratch[..want]) {
                Ok(0) => return DnsRead::Closed(messages),
                Ok(n) => {
                    left -= n;
                    self.last_active = now;
                    self.inbound.extend_from_slice(&scratch[..n]);
                    if !self.split_messages(&mut messages) {
                        return DnsRead::Closed(messages);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    return DnsRead::Messages(messages);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return DnsRead::Closed(messages),
            }
        }
    }

    /// Moves every whole message out of the buffer; false when a length
    /// prefix is zero or over the bound (not a DNS peer: close).
    fn split_messages(&mut self, messages: &mut Vec<Vec<u8>>) -> bool {
        let mut start = 0;
        while let Some(prefix) = self.inbound.get(start..start + 2) {
            let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            if len == 0 || len > self.max_message_bytes {
                return false;
            }
            let Some(message) = self.inbound.get(start + 2..start + 2 + len) else {
                break;
            };
            messages.push(message.to_vec());
            start += 2 + len;
        }
        self.inbound.drain(..start);
        true
    }

    /// Queues a length-prefixed answer; false when it does not fit the
    /// queue (a peer that does not read its answers).
    pub fn queue(&mut self, message: &[u8]) -> bool {
        let Ok(len) = u16::try_from(message.len()) else {
            return false;
        };
        if self.outbound.len() + 2 + message.len() > self.max_queued_bytes {
            return false;
        }
        self.outbound.extend_from_slice(&len.to_be_bytes());
        self.outbound.extend_from_slice(message);
        true
    }

    /// Writes what the socket takes now.
    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        while !self.outbound.is_empty() {
            match self.stream.write(&self.outbound) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outbound.drain(..n);
                    self.last_active = now;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}
