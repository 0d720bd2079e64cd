//! A connection's outgoing bytes and writing them out as the socket takes
//! them: shared by the native and the HTTP connections.

use std::io::{self, Write};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct WriteQueue {
    /// Outgoing bytes; `sent` bytes at the front are already written.
    buffer: Vec<u8>,
    sent: usize,
}

impl WriteQueue {
    pub fn queued_bytes(&self) -> usize {
        self.buffer.len() - self.sent
    }

    /// The buffer to append to. The sent front is dropped first once it is
    /// at least half the buffer, so a queue that never empties does not
    /// grow and copying stays amortised.
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if self.sent > 0 && self.sent >= self.buffer.len() / 2 {
            self.buffer.drain(..self.sent);
            self.sent = 0;
        }
        &mut self.buffer
    }

    /// Writes as much as the stream takes; `Ok(true)` when nothing is left.
    /// `last_activity` moves to `now` whenever bytes go out.
    pub fn flush(
        &mut self,
        stream: &mut impl Write,
        last_activity: &mut Instant,
        now: Instant,
    ) -> io::Result<bool> {
        while self.sent < self.buffer.len() {
            match stream.write(&self.buffer[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    *last_activity = now;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.buffer.clear();
        self.sent = 0;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that takes at most `per_write` bytes, then would block.
    struct Trickle {
        taken: Vec<u8>,
        per_write: usize,
        writes_left: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.writes_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.writes_left -= 1;
            let n = bytes.len().min(self.per_write);
            self.taken.extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bytes_leave_in_order_across_partial_writes_and_compaction() {
        let mut queue = WriteQueue::default();
        let mut stream = Trickle {
            taken: Vec::new(),
            per_write: 3,
            writes_left: 2,
        };
        let (mut activity, now) = (Instant::now(), Instant::now());
        queue.tail().extend_from_slice(b"0123456789");
        assert!(!queue.flush(&mut stream, &mut activity, now).unwrap());
        assert_eq!(queue.queued_bytes(), 4);
        queue.tail().extend_from_slice(b"abc");
        assert_eq!(queue.queued_bytes(), 7);
        stream.writes_left = 10;
        assert!(queue.flush(&mut stream, &mut activity, now).unwrap());
        assert_eq!(stream.taken, b"0123456789abc");
        assert_eq!(queue.queued_bytes(), 0);
    }
}
