//! One connection of the HTTP API listener: the bounded request decoder,
//! the requests handed to the agent and not yet answered (a pipelining
//! client may have up to [`MAX_REQUESTS_IN_FLIGHT`]; past that the
//! connection is not read, so its requests wait in the socket), the
//! answers' bytes in request order, and what the timers of
//! [`super::http_server`] look at.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use crate::http::limits::MAX_REQUESTS_IN_FLIGHT;
use crate::http::response::CONTINUE_RESPONSE;
use crate::http::{HttpLimits, HttpRequest, HttpResponse, RequestDecoder, ResponseFraming};

use crate::agent::io::write_queue::WriteQueue;

/// A closing connection: its last answer is written and our side shut.
/// What the client still sends is read and dropped for a moment before the
/// close, so the close does not reset the connection before the client has
/// read the answer (Go's `closeWriteAndWait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draining {
    until: Instant,
    dropped_bytes: usize,
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
    /// not reading (at its bound of requests in flight, or closing).
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
    write_queue: WriteQueue,
    /// How to frame each answer the agent owes, oldest first; at most
    /// [`MAX_REQUESTS_IN_FLIGHT`]. The agent answers in this order.
    owed: VecDeque<ResponseFraming>,
    /// Whether the requests owed are reads (safe methods); they are all of
    /// one kind, see [`Self::held`].
    owed_reads: bool,
    /// A request of the other kind than those owed, read and kept until
    /// they are answered: a read sees the writes pipelined before it, and
    /// a write does not change what the reads before it return. Reads may
    /// be served together (RFC 9112 9.3.2), and so may writes: they travel
    /// one path to the Raft log, which keeps their order.
    held: Option<HttpRequest>,
    /// No request is read after this one: it closes the connection, the
    /// stream lost its framing, or a request took too long.
    last_request_read: bool,
    /// The loop's own last answer (a 400 for a broken stream, a 408), sent
    /// after every answer owed before it; then the connection closes.
    last_words: Option<HttpResponse>,
    /// A request asked for `100 Continue` while earlier answers were owed:
    /// it goes out after them, not in the middle of one.
    continue_due: bool,
    /// Reading stopped at the bound of requests in flight.
    paused: bool,
    /// The last answer is queued: close once it is written.
    close_after_flush: bool,
    draining: Option<Draining>,
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
            write_queue: WriteQueue::default(),
            owed: VecDeque::new(),
            owed_reads: true,
            held: None,
            last_request_read: false,
            last_words: None,
            continue_due: false,
            paused: false,
            close_after_flush: false,
            draining: None,
            request_started: None,
            last_activity: now,
            flush_scheduled: false,
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.write_queue.queued_bytes()
    }

    /// Answers the agent owes this connection.
    pub fn answers_owed(&self) -> usize {
        self.owed.len()
    }

    /// Whether the next request may be read now.
    fn reading(&self) -> bool {
        !self.last_request_read && self.held.is_none() && self.owed.len() < MAX_REQUESTS_IN_FLIGHT
    }

    /// Whether the held request, or the next one, may be handed over.
    fn may_resume(&self) -> bool {
        match self.held {
            Some(_) => self.owed.is_empty(),
            None => self.reading(),
        }
    }

    fn hand_over(&mut self, request: HttpRequest, now: Instant) -> ReadOutcome {
        self.owed.push_back(ResponseFraming::of(&request));
        self.owed_reads = is_read(&request);
        self.last_request_read = !request.keep_alive;
        self.request_started = self.has_unparsed_bytes().then_some(now);
        ReadOutcome::Request(request)
    }

    fn has_unparsed_bytes(&self) -> bool {
        !self.unfed.is_empty() || self.decoder.buffered_bytes() > 0
    }

    /// Reads and decodes until a whole request is there, the socket has
    /// nothing more, or `budget` bytes were read. Call again after a
    /// request: more may be pipelined behind it.
    pub fn read(&mut self, scratch: &mut [u8], budget: &mut usize, now: Instant) -> ReadOutcome {
        if self.draining.is_some() {
            return self.drain(scratch, budget);
        }
        if self.held.is_some() && self.owed.is_empty() {
            self.paused = false;
            if let Some(request) = self.held.take() {
                return self.hand_over(request, now);
            }
        }
        if self.paused && self.reading() {
            // Bytes that waited out the pause belong to a request whose
            // time runs from now.
            self.paused = false;
            self.request_started = self.has_unparsed_bytes().then_some(now);
        }
        loop {
            if !self.reading() {
                if !self.last_request_read {
                    // At the bound: the rest waits in the socket.
                    self.paused = true;
                    self.request_started = None;
                }
                return ReadOutcome::Idle;
            }
            match self.decoder.next_request() {
                Ok(Some(request)) => {
                    if !self.owed.is_empty() && is_read(&request) != self.owed_reads {
                        self.held = Some(request);
                        self.paused = true;
                        self.request_started = None;
                        return ReadOutcome::Idle;
                    }
                    return self.hand_over(request, now);
                }
                Ok(None) => {
                    if self.decoder.take_continue_request() {
                        if self.owed.is_empty() {
                            self.write_queue.tail().extend_from_slice(CONTINUE_RESPONSE);
                        } else {
                            self.continue_due = true;
                        }
                    }
                }
                Err(error) => {
                    // The stream lost its framing: answer, then close.
                    self.respond_and_close(HttpResponse::from_error(&error));
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
            let Some(Draining { dropped_bytes, .. }) = &mut self.draining else {
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

    /// Queues the answer to the oldest request the agent owes; `None` when
    /// it owes none, else whether reading resumes (it had stopped at the
    /// bound of requests in flight, or held a request of the other kind).
    pub fn respond(&mut self, response: &HttpResponse) -> Option<bool> {
        let framing = self.owed.pop_front()?;
        response.encode_framed(framing, self.write_queue.tail());
        if !framing.keep_alive {
            assert!(
                self.owed.is_empty(),
                "a request was read after a closing one"
            );
            self.close_after_flush = true;
        }
        if self.owed.is_empty() {
            if let Some(last) = self.last_words.take() {
                last.encode(false, self.write_queue.tail());
                self.close_after_flush = true;
            } else if std::mem::take(&mut self.continue_due) {
                self.write_queue.tail().extend_from_slice(CONTINUE_RESPONSE);
            }
        }
        Some(self.paused && self.may_resume())
    }

    /// Ends the connection with an answer of the loop's own (a broken
    /// stream, a request that took too long), after the answers owed.
    pub fn respond_and_close(&mut self, response: HttpResponse) {
        self.last_request_read = true;
        self.continue_due = false;
        if self.owed.is_empty() {
            response.encode(false, self.write_queue.tail());
            self.close_after_flush = true;
        } else {
            self.last_words = Some(response);
        }
    }

    /// Writes as much as the socket takes; `Ok(true)` when nothing is left.
    pub fn flush(&mut self, now: Instant) -> io::Result<bool> {
        self.write_queue
            .flush(&mut self.stream, &mut self.last_activity, now)
    }

    /// After the queue emptied: what the connection does next.
    pub fn after_flush(&mut self, now: Instant) -> AfterFlush {
        if !self.close_after_flush || self.draining.is_some() {
            return AfterFlush::Nothing;
        }
        if self.stream.shutdown(std::net::Shutdown::Write).is_err() {
            return AfterFlush::Close;
        }
        self.draining = Some(Draining {
            until: now + LINGER,
            dropped_bytes: 0,
        });
        AfterFlush::Read
    }

    /// Which timer, if any, has run out.
    pub fn expiry(
        &self,
        now: Instant,
        idle_timeout: Duration,
        request_time: Duration,
    ) -> Option<HttpExpiry> {
        if let Some(draining) = self.draining {
            return (now >= draining.until).then_some(HttpExpiry::Drained);
        }
        if self.reading()
            && let Some(started) = self.request_started
            && now.saturating_duration_since(started) >= request_time
        {
            return Some(HttpExpiry::SlowRequest);
        }
        let idle = now.saturating_duration_since(self.last_activity);
        if self.queued_bytes() > 0 {
            return (idle >= idle_timeout).then_some(HttpExpiry::NotReading);
        }
        // The agent bounds every answer's wait itself (a blocking query at
        // most its wait plus jitter).
        if !self.owed.is_empty() || self.request_started.is_some() || self.close_after_flush {
            return None;
        }
        (idle >= idle_timeout).then_some(HttpExpiry::Idle)
    }
}

/// A request with a safe method: it changes nothing.
fn is_read(request: &HttpRequest) -> bool {
    matches!(request.method.as_str(), "GET" | "HEAD" | "OPTIONS")
}
