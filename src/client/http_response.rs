//! Answers of the agent's HTTP API as a benchmark client reads them: the
//! status line and headers parsed by `httparse`, the body framed by its
//! `Content-Length`, and the bytes after it left for the next pipelined
//! answer. The agent frames every KV answer with a length (only
//! `/v1/agent/monitor` streams chunks), so a chunked or unframed answer is
//! refused rather than guessed at. Bytes from the socket are hostile: every
//! size is bounded and a malformed answer is an error, never a panic.

use std::io::{self, Read};

/// Headers an answer may carry; the agent sends fewer than ten.
pub const MAX_RESPONSE_HEADERS: usize = 32;
/// Bytes of status line and headers before the answer is refused.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;
/// Body bytes accepted: a recursive read of a benchmark prefix is far
/// below this, and a wild length must not allocate.
pub const MAX_RESPONSE_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    /// `X-Consul-Index`, when present and a number.
    pub consul_index: Option<u64>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    Malformed(String),
    HeadTooLarge,
    BodyTooLarge(usize),
    /// Chunked or close-delimited: not how the agent frames KV answers.
    Unframed(String),
    /// The connection ended before a whole answer.
    Truncated,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Malformed(why) => write!(f, "malformed HTTP answer: {why}"),
            ResponseError::HeadTooLarge => {
                write!(f, "HTTP answer head over {MAX_RESPONSE_HEAD_BYTES} bytes")
            }
            ResponseError::BodyTooLarge(n) => write!(
                f,
                "HTTP answer body of {n} bytes, limit {MAX_RESPONSE_BODY_BYTES}"
            ),
            ResponseError::Unframed(how) => {
                write!(f, "HTTP answer without a Content-Length ({how})")
            }
            ResponseError::Truncated => write!(f, "connection closed in the middle of an answer"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// Parses one answer at the front of `buffer`: `Ok(None)` while more bytes
/// are needed, else the answer and how many bytes it took.
pub fn parse_response(buffer: &[u8]) -> Result<Option<(HttpReply, usize)>, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_bytes = match response.parse(buffer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buffer.len() > MAX_RESPONSE_HEAD_BYTES => {
            return Err(ResponseError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(ResponseError::Malformed(err.to_string())),
    };
    if head_bytes > MAX_RESPONSE_HEAD_BYTES {
        return Err(ResponseError::HeadTooLarge);
    }
    let status = response.code.unwrap_or(0);
    let mut content_length = None;
    let mut consul_index = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| ResponseError::Malformed("bad Content-Length".into()))?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(ResponseError::Malformed("two Content-Lengths".into()));
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ResponseError::Unframed("Transfer-Encoding".into()));
        } else if header.name.eq_ignore_ascii_case("x-consul-index") {
            consul_index = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        }
    }
    let body_bytes = match content_length {
        Some(n) => n,
        // 1xx, 204 and 304 carry no body and need no length.
        None if (100..200).contains(&status) || status == 204 || status == 304 => 0,
        None => return Err(ResponseError::Unframed(format!("status {status}"))),
    };
    if body_bytes > MAX_RESPONSE_BODY_BYTES {
        return Err(ResponseError::BodyTooLarge(body_bytes));
    }
    let total = head_bytes + body_bytes;
    if buffer.len() < total {
        return Ok(None);
    }
    let reply = HttpReply {
        status,
        consul_index,
        body: buffer[head_bytes..total].to_vec(),
    };
    Ok(Some((reply, total)))
}

/// Bytes received and not yet parsed into answers.
#[derive(Debug, Default)]
pub struct ResponseBuffer {
    bytes: Vec<u8>,
}

/// Why the next answer could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    Response(ResponseError),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(err) => write!(f, "HTTP connection failed: {err}"),
            ReadError::Response(err) => write!(f, "{err}"),
        }
    }
}

impl ResponseBuffer {
    /// Appends what was read.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The next whole answer already received, if any.
    pub fn take_reply(&mut self) -> Result<Option<HttpReply>, ResponseError> {
        match parse_response(&self.bytes)? {
            Some((reply, used)) => {
                self.bytes.drain(..used);
                Ok(Some(reply))
            }
            None => Ok(None),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Reads from a blocking `stream` until a whole answer is there.
    pub fn read_reply(&mut self, stream: &mut dyn Read) -> Result<HttpReply, ReadError> {
        let mut scratch = [0u8; 16 * 1024];
        loop {
            if let Some(reply) = self.take_reply().map_err(ReadError::Response)? {
                return Ok(reply);
            }
            match stream.read(&mut scratch) {
                Ok(0) => return Err(ReadError::Response(ResponseError::Truncated)),
                Ok(n) => self.extend(&scratch[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(ReadError::Io(err)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
        X-Consul-Index: 42\r\nContent-Length: 4\r\n\r\ntrue";

    #[test]
    fn a_length_framed_answer_is_parsed_and_its_length_consumed() {
        let (reply, used) = parse_response(PUT_ANSWER).unwrap().unwrap();
        assert_eq!(used, PUT_ANSWER.len());
        assert_eq!(reply.status, 200);
        assert_eq!(reply.consul_index, Some(42));
        assert_eq!(reply.body, b"true");
    }

    #[test]
    fn every_prefix_of_an_answer_asks_for_more() {
        for end in 0..PUT_ANSWER.len() {
            assert_eq!(parse_response(&PUT_ANSWER[..end]), Ok(None), "at {end}");
        }
    }

    #[test]
    fn pipelined_answers_come_out_one_by_one_in_order() {
        let mut buffer = ResponseBuffer::default();
        buffer.extend(PUT_ANSWER);
        buffer.extend(b"HTTP/1.1 404 Not Found\r\nX-Consul-Index: 7\r\nContent-Length: 0\r\n\r\n");
        buffer.extend(&PUT_ANSWER[..10]);
        assert_eq!(buffer.take_reply().unwrap().unwrap().body, b"true");
        let missing = buffer.take_reply().unwrap().unwrap();
        assert_eq!((missing.status, missing.consul_index), (404, Some(7)));
        assert!(missing.body.is_empty());
        assert_eq!(buffer.take_reply().unwrap(), None);
        buffer.extend(&PUT_ANSWER[10..]);
        assert_eq!(buffer.take_reply().unwrap().unwrap().consul_index, Some(42));
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_blocking_read_gathers_an_answer_split_across_reads() {
        let mut both = PUT_ANSWER.to_vec();
        both.extend_from_slice(PUT_ANSWER);
        let mut stream: &[u8] = &both;
        let mut buffer = ResponseBuffer::default();
        assert_eq!(buffer.read_reply(&mut stream).unwrap().body, b"true");
        assert_eq!(buffer.read_reply(&mut stream).unwrap().body, b"true");
        assert!(matches!(
            buffer.read_reply(&mut stream),
            Err(ReadError::Response(ResponseError::Truncated))
        ));
    }

    #[test]
    fn chunked_unframed_and_oversized_answers_are_refused() {
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntrue\r\n0\r\n\r\n";
        assert!(matches!(
            parse_response(chunked),
            Err(ResponseError::Unframed(_))
        ));
        let unframed = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ntrue";
        assert!(matches!(
            parse_response(unframed),
            Err(ResponseError::Unframed(_))
        ));
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
        assert!(matches!(
            parse_response(huge),
            Err(ResponseError::BodyTooLarge(_))
        ));
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        let (reply, used) = parse_response(no_content).unwrap().unwrap();
        assert_eq!((reply.status, used), (204, no_content.len()));
    }

    #[test]
    fn garbage_bad_lengths_and_endless_heads_are_errors() {
        assert!(matches!(
            parse_response(b"\x00\x01garbage\r\n\r\n"),
            Err(ResponseError::Malformed(_))
        ));
        let bad_length = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(
            parse_response(bad_length),
            Err(ResponseError::Malformed(_))
        ));
        let two_lengths = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert!(matches!(
            parse_response(two_lengths),
            Err(ResponseError::Malformed(_))
        ));
        let mut endless = b"HTTP/1.1 200 OK\r\nX-A: ".to_vec();
        endless.extend(std::iter::repeat_n(b'a', MAX_RESPONSE_HEAD_BYTES + 1));
        assert_eq!(parse_response(&endless), Err(ResponseError::HeadTooLarge));
    }
}
