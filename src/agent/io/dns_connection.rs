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

    fn split_messages(&mut self, messages: &mut Vec<Vec<u8>>) -> bool {
        take_messages(&mut self.inbound, self.max_message_bytes, messages)
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

/// Moves every whole length-prefixed message out of `inbound`, leaving a
/// partial one; false when a length is zero or over `max_message_bytes`
/// (not a DNS peer: the connection is closed).
fn take_messages(
    inbound: &mut Vec<u8>,
    max_message_bytes: usize,
    messages: &mut Vec<Vec<u8>>,
) -> bool {
    let mut start = 0;
    while let Some(prefix) = inbound.get(start..start + 2) {
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        if len == 0 || len > max_message_bytes {
            return false;
        }
        let Some(message) = inbound.get(start + 2..start + 2 + len) else {
            break;
        };
        messages.push(message.to_vec());
        start += 2 + len;
    }
    inbound.drain(..start);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_messages_come_out_and_a_partial_one_waits() {
        let mut inbound = vec![0, 2, b'a', b'b', 0, 1, b'c', 0, 3, b'd'];
        let mut messages = Vec::new();
        assert!(take_messages(&mut inbound, 512, &mut messages));
        assert_eq!(messages, vec![b"ab".to_vec(), b"c".to_vec()]);
        assert_eq!(inbound, vec![0, 3, b'd']);
        inbound.extend_from_slice(b"ef");
        messages.clear();
        assert!(take_messages(&mut inbound, 512, &mut messages));
        assert_eq!(messages, vec![b"def".to_vec()]);
        assert!(inbound.is_empty());
    }

    #[test]
    fn a_zero_or_oversized_length_is_refused() {
        let mut messages = Vec::new();
        assert!(!take_messages(&mut vec![0, 0], 512, &mut messages));
        assert!(!take_messages(&mut vec![2, 1, 0], 512, &mut messages));
        assert!(take_messages(&mut vec![2, 0], 512, &mut messages));
        assert!(messages.is_empty());
    }
}
