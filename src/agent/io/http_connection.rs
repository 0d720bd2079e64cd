//! One connection of the HTTP API listener: the bounded request decoder,
//! one request handed to the agent at a time (so answers leave in request
//! order and a client that pipelines cannot queue work without bound), the
//! answer's bytes, and what the timers of [`super::http_server`] look at.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::http::response::CONTINUE_RESPONSE;
use crate::http::{HttpLimits, HttpRequest, HttpResponse, RequestDecoder, ResponseFraming};

/// Where a connection is in its request/answer cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPhase {
    /// Reading (and decoding) the next request.
    Reading,
    /// A request was handed to the agent, which owes its answer. Nothing
    /// more is read meanwhile: pipelined requests wait in the socket.
    Answering(ResponseFraming),
    /// An answer is queued; once it is written the next request is read,
    /// or the connection closes.
    Writing { close_after: bool },
    /// The last answer is written and our side shut: what the client still
    /// sends is read and dropped for a moment before the close, so the
    /// close does not reset the connection before the client has read the
    /// answer (Go's `closeWriteAndWait`).
    Draining {
        until: Instant,
        dropped_bytes: usize,
    },
}

/// How long a closing connection drains (Go's `rstAvoidanceDelay`).
pub const LINGER: Duration = Duration::from_millis(500);
/// The most a closing connection reads and drops before closing anyway.
pub const MAX_DRAINED_BYTES: usize = 1024 * 1024;

/// What to do once the write queue is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFlush {
    Close,
    /// Read the next request, or drain.
    Read,
    Nothing,
}

/// What reading a connection produced.
#[derive(Debug)]
pub enum ReadOutcome {
    /// A whole request, for the agent.
    Request(HttpRequest),
    /// Nothing more for now: the socket is drained, or the connection is
    /// not reading (it waits for an answer, or writes one).
    Idle,
    /// The read budget of this turn ran out with bytes possibly left.
    BudgetSpent,
    /// The client closed its side.
    PeerClosed,
    Failed(io::Error),
}

/// Why a timer ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpExpiry {
    /// No request for the idle keep-alive timeout.
    Idle,
    /// A request started arriving and was not complete in time.
    SlowRequest,
    /// The client does not read its answer.
    NotReading,
    /// A closing connection drained long enough.
    Drained,
}

pub struct HttpConnection {
    pub(crate) stream: TcpStream,
    pub remote: SocketAddr,
    decoder: RequestDecoder,
    /// Bytes read that the decoder had no room for yet: at most one read.
    unfed: Vec<u8>,
    /// Outgoing bytes; `write_offset` bytes at the front are already sent.
    write_buffer: Vec<u8>,
    write_offset: usize,
    pub(crate) phase: HttpPhase,
    /// When the first byte of the request being received arrived.
    request_started: Option<Instant>,
    last_activity: Instant,
    pub(crate) flush_scheduled: bool,
}

impl HttpConnection {
    pub fn new(stream: TcpStream, remote: SocketAddr, limits: HttpLimits, now: Instant) -> Self {
        HttpConnection {
            stream,
            remote,
            decoder: RequestDecoder::new(limits),
            unfed: Vec::new(),
            write_buffer: Vec::new(),
            write_offset: 0,
            phase: HttpPhase::Reading,
            request_started: None,
            last_activity: now,
            flush_scheduled: false,
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.write_buffer.len() - self.write_offset
    }

    /// Reads and decodes until a whole request is there, the socket has
    /// nothing more, or `budget` bytes were read.
    pub fn read(&mut self, scratch: &mut [u8], budget: &mut usize, now: Instant) -> ReadOutcome {
        if let HttpPhase::Draining { .. } = self.phase {
            return self.drain(scratch, budget);
        }
        loop {
            if self.phase != HttpPhase::Reading {
                return ReadOutcome::Idle;
            }
            match self.decoder.next_request() {
                Ok(Some(request)) => {
                    self.phase = HttpPhase::Answering(ResponseFraming::of(&request));
                    self.request_started = None;
                    return ReadOutcome::Request(request);
                }
                Ok(None) => {
                    if self.decoder.take_continue_request() {
                        self.queue(CONTINUE_RESPONSE);
                    }
                }
                Err(error) => {
                    // The stream lost its framing: answer, then close.
                    HttpResponse::from_error(&error).encode(false, &mut self.write_buffer);
                    self.phase = HttpPhase::Writing { close_after: true };
                    return ReadOutcome::Idle;
                }
            }
            if !self.unfed.is_empty() {
                let taken = self.decoder.feed(&self.unfed);
                self.unfed.drain(..taken);
                if taken == 0 {
                    // A decoder refuses bytes only once it holds a whole
                    // request or has failed, both handled above.
                    return ReadOutcome::Failed(io::Error::other("HTTP decoder took no input"));
                }
                continue;
            }
            if *budget == 0 {
                return ReadOutcome::BudgetSpent;
            }
            let want = scratch.len().min(*budget);
            match self.stream.read(&mut scratch[..want]) {
                Ok(0) => return ReadOutcome::PeerClosed,
                Ok(n) => {
                    *budget -= n;
                    self.last_activity = now;
                    self.request_started.get_or_insert(now);
                    let taken = self.decoder.feed(&scratch[..n]);
                    self.unfed.extend_from_slice(&scratch[taken..n]);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Idle,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return ReadOutcome::Failed(err),
            }
        }
    }

    /// Reads and drops what a closing connection's client still sends.
    fn drain(&mut self, scratch: &mut [u8], budget: &mut usize) -> ReadOutcome {
        loop {
            let HttpPhase::Draining { dropped_bytes, .. } = &mut self.phase else {
                return ReadOutcome::Idle;
            };
            if *dropped_bytes >= MAX_DRAINED_BYTES {
                return ReadOutcome::PeerClosed;
            }
            if *budget == 0 {
                return ReadOutcome::BudgetSpent;
            }
            let want = scratch.len().min(*budget);
            match self.stream.read(&mut scratch[..want]) {
                Ok(0) => return ReadOutcome::PeerClosed,
                Ok(n) => {
                    *budget -= n;
                    *dropped_bytes += n;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Idle,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return ReadOutcome::Failed(err),
            }
        }
    }

    /// Queues the answer to the request handed over; `false` when no
    /// request waits for one.
    pub fn respond(&mut self, response: &HttpResponse) -> bool {
        let HttpPhase::Answering(framing) = self.phase else {
            return false;
        };
        self.compact();
        response.encode_framed(framing, &mut self.write_buffer);
        self.phase = HttpPhase::Writing {
            close_after: !framing.keep_alive,
        };
        true
    }

    /// Queues a last answer of the loop's own (a timed-out request) and
    /// closes after it.
    pub fn respond_and_close(&mut self, response: &HttpResponse) {
        self.compact();
        response.encode(false, &mut self.write_buffer);
        self.phase = HttpPhase::Writing { close_after: true };
    }

    fn queue(&mut self, bytes: &[u8]) {
        self.compact();
        self.write_buffer.extend_from_slice(bytes);
    }

    fn compact(&mut self) {
        if self.write_offset > 0 {
            self.write_buffer.drain(..self.write_offset);
            self.write_offset = 0;
        }
    }

    /// Writes as much as the socket takes; `Ok(true)` when nothing is left.
    pub fn flush(&mut self, now: Instant) -> io::Result<bool> {
        while self.write_offset < self.write_buffer.len() {
            match self.stream.write(&self.write_buffer[self.write_offset..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.write_offset += n;
                    self.last_activity = now;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.write_buffer = Vec::new();
        self.write_offset = 0;
        Ok(true)
    }

    /// After the queue emptied: what the connection does next.
    pub fn after_flush(&mut self, now: Instant) -> AfterFlush {
        let HttpPhase::Writing { close_after } = self.phase else {
            return AfterFlush::Nothing;
        };
        if close_after {
            if self.stream.shutdown(std::net::Shutdown::Write).is_err() {
                return AfterFlush::Close;
            }
            self.phase = HttpPhase::Draining {
                until: now + LINGER,
                dropped_bytes: 0,
            };
            return AfterFlush::Read;
        }
        self.phase = HttpPhase::Reading;
        // Pipelined bytes already here belong to the next request: its
        // time runs from now.
        if !self.unfed.is_empty() || self.decoder.buffered_bytes() > 0 {
            self.request_started = Some(now);
        }
        self.last_activity = now;
        AfterFlush::Read
    }

    /// Which timer, if any, has run out.
    pub fn expiry(
        &self,
        now: Instant,
        idle_timeout: Duration,
        request_time: Duration,
    ) -> Option<HttpExpiry> {
        let idle = now.saturating_duration_since(self.last_activity);
        match self.phase {
            HttpPhase::Reading => match self.request_started {
                Some(started) if now.saturating_duration_since(started) >= request_time => {
                    Some(HttpExpiry::SlowRequest)
                }
                None if idle >= idle_timeout => Some(HttpExpiry::Idle),
                _ => None,
            },
            // The agent bounds every answer's wait itself (a blocking query
            // at most its wait plus jitter).
            HttpPhase::Answering(_) => None,
            HttpPhase::Writing { .. } if idle >= idle_timeout => Some(HttpExpiry::NotReading),
            HttpPhase::Writing { .. } => None,
            HttpPhase::Draining { until, .. } if now >= until => Some(HttpExpiry::Drained),
            HttpPhase::Draining { .. } => None,
        }
    }
}
