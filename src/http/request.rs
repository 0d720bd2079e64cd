//! The incremental request decoder the event loop feeds socket bytes into.
//! Bytes may arrive in any pieces and carry several pipelined requests; each
//! complete request comes out whole. Everything the decoder holds is bounded
//! by [`HttpLimits::max_buffered_bytes`]: `feed` takes no more than fits, and
//! the caller keeps the rest until a request has been taken out.

use super::chunked::{ChunkedBody, ChunkedLimits};
use super::error::HttpError;
use super::limits::HttpLimits;
use super::request_head::{BodyFraming, RequestHead, find_head_end, parse_head};

pub use super::request_head::HttpHeader;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// Percent-decoded, as Go's `req.URL.Path`.
    pub path: String,
    /// Everything after the first `?`, still encoded.
    pub raw_query: String,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the connection stays open after this request's answer.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl HttpRequest {
    /// The first value of a header, named case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.as_slice())
    }

    /// The first value of a header when it is text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }
}

#[derive(Debug)]
enum BodyProgress {
    Length(usize),
    Chunked(ChunkedBody),
}

/// A request whose head is parsed and whose body is still arriving.
#[derive(Debug)]
struct PendingRequest {
    head: RequestHead,
    body: BodyProgress,
    continue_taken: bool,
}

#[derive(Debug)]
pub struct RequestDecoder {
    limits: HttpLimits,
    /// Bytes not yet decoded: a partial head, a partial Content-Length body,
    /// unparsed chunk framing, or requests pipelined behind the current one.
    buffer: Vec<u8>,
    /// Where the search for the end of the head resumes.
    head_scan_from: usize,
    pending: Option<PendingRequest>,
    /// After a request that closes the connection nothing more is read, as
    /// Go's server stops reading then.
    closed: bool,
    /// A decoder that returned an error stays failed: the byte stream has
    /// lost its framing and the connection must be closed.
    failed: Option<HttpError>,
}

impl RequestDecoder {
    pub fn new(limits: HttpLimits) -> Self {
        RequestDecoder {
            limits,
            buffer: Vec::new(),
            head_scan_from: 0,
            pending: None,
            closed: false,
            failed: None,
        }
    }

    pub fn limits(&self) -> &HttpLimits {
        &self.limits
    }

    /// Takes as much of `input` as fits under the buffer bound and returns
    /// how many bytes it took. When it takes less than offered, call
    /// [`RequestDecoder::next_request`] to make room, then offer the rest.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        if self.failed.is_some() || self.closed {
            return 0;
        }
        let room = self
            .limits
            .max_buffered_bytes()
            .saturating_sub(self.buffered_bytes());
        let taken = room.min(input.len());
        let needed = self.buffer.len() + taken;
        if needed > self.buffer.capacity() {
            // Geometric growth, capped at the bound so doubling cannot hold
            // twice what the limits allow.
            let target = (self.buffer.capacity() * 2)
                .min(self.limits.max_buffered_bytes())
                .max(needed);
            self.buffer.reserve_exact(target - self.buffer.len());
        }
        self.buffer.extend_from_slice(&input[..taken]);
        taken
    }

    /// Everything the decoder holds for requests not yet returned.
    pub fn buffered_bytes(&self) -> usize {
        let decoded_body = match &self.pending {
            Some(PendingRequest {
                body: BodyProgress::Chunked(chunked),
                ..
            }) => chunked.body_bytes(),
            _ => 0,
        };
        self.buffer.len() + decoded_body
    }

    /// True once per request whose client waits for `100 Continue` before
    /// sending its body: the event loop then writes
    /// [`super::response::CONTINUE_RESPONSE`]. A request whose head already
    /// fails (a declared body over its bound) gets its error instead.
    pub fn take_continue_request(&mut self) -> bool {
        match &mut self.pending {
            Some(pending) if pending.head.expect_continue && !pending.continue_taken => {
                pending.continue_taken = true;
                true
            }
            _ => false,
        }
    }

    /// After a request that closes the connection the decoder takes no more
    /// bytes; the event loop stops reading once that answer is written.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the stream has failed; every later call returns this error.
    pub fn failure(&self) -> Option<&HttpError> {
        self.failed.as_ref()
    }

    /// The next complete request, `Ok(None)` when more bytes are needed, or
    /// the error to answer before closing the connection.
    pub fn next_request(&mut self) -> Result<Option<HttpRequest>, HttpError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.closed {
            return Ok(None);
        }
        match self.advance() {
            Ok(request) => {
                if request.as_ref().is_some_and(|request| !request.keep_alive) {
                    self.closed = true;
                    self.buffer = Vec::new();
                }
                Ok(request)
            }
            Err(error) => {
                self.failed = Some(error.clone());
                self.buffer = Vec::new();
                self.pending = None;
                Err(error)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<HttpRequest>, HttpError> {
        if self.pending.is_none() {
            let Some(head) = self.take_head()? else {
                return Ok(None);
            };
            let body = match head.framing {
                BodyFraming::Length(length) => BodyProgress::Length(length),
                BodyFraming::Chunked => BodyProgress::Chunked(ChunkedBody::new()),
            };
            self.pending = Some(PendingRequest {
                head,
                body,
                continue_taken: false,
            });
        }
        if !self.take_body()? {
            return Ok(None);
        }
        let Some(pending) = self.pending.take() else {
            return Ok(None);
        };
        let body = match pending.body {
            BodyProgress::Length(length) => self.buffer.drain(..length).collect(),
            BodyProgress::Chunked(chunked) => chunked.into_body(),
        };
        Ok(Some(assemble(pending.head, body)))
    }

    /// Parses and removes the next head once its empty line has arrived.
    fn take_head(&mut self) -> Result<Option<RequestHead>, HttpError> {
        self.skip_leading_empty_lines();
        let Some(head_end) = find_head_end(&self.buffer, self.head_scan_from) else {
            if self.buffer.len() >= self.limits.max_header_bytes {
                return Err(self.head_too_large());
            }
            // The last two bytes may begin the empty line; rescan them.
            self.head_scan_from = self.buffer.len().saturating_sub(2);
            return Ok(None);
        };
        if head_end > self.limits.max_header_bytes {
            return Err(self.head_too_large());
        }
        let head = parse_head(&self.buffer[..head_end], &self.limits)?;
        self.buffer.drain(..head_end);
        self.head_scan_from = 0;
        Ok(Some(head))
    }

    /// RFC 9112 asks servers to ignore empty lines before a request line
    /// (some clients send a CRLF after a POST body).
    fn skip_leading_empty_lines(&mut self) {
        let mut skip = 0;
        loop {
            match &self.buffer[skip..] {
                [b'\r', b'\n', ..] => skip += 2,
                [b'\n', ..] => skip += 1,
                _ => break,
            }
        }
        if skip > 0 {
            self.buffer.drain(..skip);
            self.head_scan_from = self.head_scan_from.saturating_sub(skip);
        }
    }

    fn head_too_large(&self) -> HttpError {
        HttpError::header_fields_too_large(format!(
            "request head larger than {} bytes",
            self.limits.max_header_bytes
        ))
    }

    /// Advances the pending body over buffered bytes; true when complete.
    fn take_body(&mut self) -> Result<bool, HttpError> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(false);
        };
        match &mut pending.body {
            BodyProgress::Length(length) => Ok(self.buffer.len() >= *length),
            BodyProgress::Chunked(chunked) => {
                let limits = ChunkedLimits {
                    body: pending.head.body_limit,
                    max_framing_bytes: self.limits.max_header_bytes,
                    max_trailer_count: self.limits.max_header_count,
                };
                let consumed = chunked.advance(&self.buffer, &limits)?;
                self.buffer.drain(..consumed);
                Ok(chunked.is_done())
            }
        }
    }
}

fn assemble(head: RequestHead, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        method: head.method,
        path: head.path,
        raw_query: head.raw_query,
        headers: head.headers,
        body,
        minor_version: head.minor_version,
        keep_alive: head.keep_alive,
        expect_continue: head.expect_continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Vec<HttpRequest>, Option<HttpError>) {
        let mut decoder = RequestDecoder::new(HttpLimits::default());
        let mut requests = Vec::new();
        let mut rest = input;
        loop {
            let taken = decoder.feed(rest);
            rest = &rest[taken..];
            match decoder.next_request() {
                Ok(Some(request)) => requests.push(request),
                Ok(None) if rest.is_empty() || taken == 0 => return (requests, None),
                Ok(None) => {}
                Err(error) => return (requests, Some(error)),
            }
        }
    }

    #[test]
    fn content_length_body_is_read_whole() {
        let (requests, error) =
            decode_all(b"PUT /v1/kv/a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(error, None);
        assert_eq!(requests[0].body, b"hello");
        assert_eq!(requests[0].method, "PUT");
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let input = b"GET /v1/kv/a HTTP/1.1\r\nHost: h\r\n\r\n\
                      PUT /v1/kv/b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx\
                      GET /v1/status/leader HTTP/1.1\r\nHost: h\r\n\r\n";
        let (requests, error) = decode_all(input);
        assert_eq!(error, None);
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/v1/kv/a", "/v1/kv/b", "/v1/status/leader"]);
        assert_eq!(requests[1].body, b"x");
    }

    #[test]
    fn chunked_body_is_decoded() {
        let input = b"PUT /v1/txn HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
                      2\r\n[]\r\n0\r\n\r\n";
        let (requests, error) = decode_all(input);
        assert_eq!(error, None);
        assert_eq!(requests[0].body, b"[]");
    }

    #[test]
    fn nothing_is_read_after_a_request_that_closes() {
        let input = b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n\
                      GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
        let (requests, error) = decode_all(input);
        assert_eq!(error, None);
        assert_eq!(requests.len(), 1);
        assert!(!requests[0].keep_alive);
    }

    #[test]
    fn oversize_head_is_431_without_waiting_for_its_end() {
        let limits = HttpLimits {
            max_header_bytes: 64,
            ..HttpLimits::default()
        };
        let mut decoder = RequestDecoder::new(limits);
        decoder.feed(b"GET /");
        decoder.feed(&[b'a'; 100]);
        let error = decoder.next_request().unwrap_err();
        assert_eq!(error.status, 431);
        assert_eq!(decoder.feed(b"more"), 0);
        assert!(decoder.next_request().is_err());
    }

    #[test]
    fn feed_takes_no_more_than_the_buffer_bound() {
        let limits = HttpLimits {
            max_header_bytes: 16,
            max_kv_value_bytes: 8,
            max_txn_body_bytes: 8,
            max_other_body_bytes: 8,
            ..HttpLimits::default()
        };
        let mut decoder = RequestDecoder::new(limits);
        assert_eq!(decoder.feed(&[b'x'; 100]), 24);
        assert_eq!(decoder.buffered_bytes(), 24);
    }

    #[test]
    fn continue_is_requested_once_while_the_body_is_missing() {
        let mut decoder = RequestDecoder::new(HttpLimits::default());
        decoder.feed(b"PUT /v1/kv/a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(decoder.next_request(), Ok(None));
        assert!(decoder.take_continue_request());
        assert!(!decoder.take_continue_request());
        decoder.feed(b"ok");
        let request = decoder.next_request().unwrap().unwrap();
        assert!(request.expect_continue);
        assert_eq!(request.body, b"ok");
    }

    #[test]
    fn leading_empty_lines_are_ignored() {
        let (requests, error) = decode_all(b"\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(error, None);
        assert_eq!(requests.len(), 1);
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let (requests, _) =
            decode_all(b"GET /a HTTP/1.1\r\nHost: h\r\nX-Consul-Token: secret\r\n\r\n");
        assert_eq!(requests[0].header_str("x-consul-token"), Some("secret"));
    }
}
