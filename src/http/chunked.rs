//! A `Transfer-Encoding: chunked` request body, decoded as it arrives. Go's
//! client sends one when it cannot know the body's length up front. Chunk
//! framing is consumed as soon as it is parsed, so only the decoded body and
//! one unparsed framing line are ever held.

use super::error::HttpError;
use super::limits::BodyLimit;

/// A chunk-size line is hex digits and optional extensions; nothing
/// legitimate comes near this, and it bounds what we wait for.
pub const MAX_CHUNK_SIZE_LINE_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data {
        remaining_bytes: usize,
    },
    /// The CRLF that closes every chunk's data.
    DataEnd,
    /// Trailer fields after the last chunk, up to an empty line; ignored,
    /// as Consul ignores them.
    Trailers,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedBody {
    state: ChunkState,
    body: Vec<u8>,
}

/// The bounds a chunked body is decoded under.
#[derive(Debug, Clone, Copy)]
pub struct ChunkedLimits {
    pub body: BodyLimit,
    /// The most unparsed framing (a size line, the trailers) waited for.
    /// The decoder's buffer keeps one head's worth of room beyond the body,
    /// so this must not exceed the head bound or a stream could fill the
    /// buffer without ever completing a piece.
    pub max_framing_bytes: usize,
    pub max_trailer_count: usize,
}

impl ChunkedBody {
    pub fn new() -> Self {
        ChunkedBody {
            state: ChunkState::Size,
            body: Vec::new(),
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    pub fn body_bytes(&self) -> usize {
        self.body.len()
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Decodes as much of `input` as forms complete pieces and returns how
    /// many bytes it consumed; the rest must be offered again with more.
    pub fn advance(&mut self, input: &[u8], limits: &ChunkedLimits) -> Result<usize, HttpError> {
        let mut consumed = 0;
        while self.state != ChunkState::Done {
            let taken = self.step(&input[consumed..], limits)?;
            if taken == 0 {
                break;
            }
            consumed += taken;
        }
        Ok(consumed)
    }

    /// One state's worth of progress; 0 means it needs more input.
    fn step(&mut self, input: &[u8], limits: &ChunkedLimits) -> Result<usize, HttpError> {
        match self.state {
            ChunkState::Size => self.read_size(input, limits),
            ChunkState::Data { remaining_bytes } => {
                let taken = remaining_bytes.min(input.len());
                self.append(&input[..taken], limits.body.max_bytes);
                let remaining_bytes = remaining_bytes - taken;
                self.state = if remaining_bytes == 0 {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data { remaining_bytes }
                };
                Ok(taken)
            }
            ChunkState::DataEnd => match input {
                [b'\r', b'\n', ..] => {
                    self.state = ChunkState::Size;
                    Ok(2)
                }
                [] | [b'\r'] => Ok(0),
                _ => Err(HttpError::bad_request("malformed chunked encoding")),
            },
            ChunkState::Trailers => self.read_trailers(input, limits),
            ChunkState::Done => Ok(0),
        }
    }

    /// Grows geometrically, as `Vec` would, but never past the bound: plain
    /// doubling could hold twice the largest body allowed. A declared chunk
    /// size is a claim, so nothing is reserved before its bytes arrive.
    fn append(&mut self, data: &[u8], max_body_bytes: usize) {
        let needed = self.body.len() + data.len();
        if needed > self.body.capacity() {
            let target = (self.body.capacity() * 2).min(max_body_bytes).max(needed);
            self.body.reserve_exact(target - self.body.len());
        }
        self.body.extend_from_slice(data);
    }

    fn read_size(&mut self, input: &[u8], limits: &ChunkedLimits) -> Result<usize, HttpError> {
        let limit = &limits.body;
        let max_line_bytes = MAX_CHUNK_SIZE_LINE_BYTES.min(limits.max_framing_bytes);
        // httparse reads an empty size line as 0; Go requires a digit.
        if input.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
            return Err(HttpError::bad_request("invalid chunk size"));
        }
        match httparse::parse_chunk_size(input) {
            Ok(httparse::Status::Complete((line_bytes, size))) => {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if size > limit.max_bytes.saturating_sub(self.body.len()) {
                    return Err(limit.too_large(None));
                }
                self.state = if size == 0 {
                    ChunkState::Trailers
                } else {
                    ChunkState::Data {
                        remaining_bytes: size,
                    }
                };
                Ok(line_bytes)
            }
            Ok(httparse::Status::Partial) if input.len() >= max_line_bytes => {
                Err(HttpError::bad_request("chunk size line too long"))
            }
            Ok(httparse::Status::Partial) => Ok(0),
            Err(httparse::InvalidChunkSize) => Err(HttpError::bad_request("invalid chunk size")),
        }
    }

    fn read_trailers(&mut self, input: &[u8], limits: &ChunkedLimits) -> Result<usize, HttpError> {
        let mut slots = vec![httparse::EMPTY_HEADER; limits.max_trailer_count];
        match httparse::parse_headers(input, &mut slots) {
            Ok(httparse::Status::Complete((trailer_bytes, _))) => {
                self.state = ChunkState::Done;
                Ok(trailer_bytes)
            }
            Ok(httparse::Status::Partial) if input.len() >= limits.max_framing_bytes => Err(
                HttpError::header_fields_too_large("chunked trailer too large"),
            ),
            Ok(httparse::Status::Partial) => Ok(0),
            Err(httparse::Error::TooManyHeaders) => Err(HttpError::header_fields_too_large(
                "too many chunked trailer fields",
            )),
            Err(error) => Err(HttpError::bad_request(format!(
                "malformed chunked trailer: {error}"
            ))),
        }
    }
}

impl Default for ChunkedBody {
    fn default() -> Self {
        ChunkedBody::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::limits::HttpLimits;

    fn limits() -> ChunkedLimits {
        ChunkedLimits {
            body: HttpLimits::default().body_limit("PUT", "/v1/txn"),
            max_framing_bytes: 1024 * 1024,
            max_trailer_count: 8,
        }
    }

    fn decode_all(input: &[u8]) -> Result<(ChunkedBody, usize), HttpError> {
        let mut body = ChunkedBody::new();
        let consumed = body.advance(input, &limits())?;
        Ok((body, consumed))
    }

    #[test]
    fn chunks_are_joined_and_the_terminator_consumed() {
        let (body, consumed) =
            decode_all(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\nNEXT").unwrap();
        assert!(body.is_done());
        assert_eq!(consumed, 30);
        assert_eq!(body.into_body(), b"Wikipedia");
    }

    #[test]
    fn trailers_are_skipped() {
        let (body, _) = decode_all(b"1\r\na\r\n0\r\nX-Trailer: 1\r\n\r\n").unwrap();
        assert!(body.is_done());
        assert_eq!(body.into_body(), b"a");
    }

    #[test]
    fn byte_at_a_time_gives_the_same_body() {
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let mut body = ChunkedBody::new();
        let mut pending = Vec::new();
        for &byte in input {
            pending.push(byte);
            let consumed = body.advance(&pending, &limits()).unwrap();
            pending.drain(..consumed);
        }
        assert!(body.is_done() && pending.is_empty());
        assert_eq!(body.into_body(), b"abcde");
    }

    #[test]
    fn missing_crlf_after_data_is_400() {
        let error = decode_all(b"3\r\nabcX\r\n").unwrap_err();
        assert_eq!(error.status, 400);
    }

    #[test]
    fn empty_or_non_hex_size_line_is_400() {
        assert_eq!(decode_all(b"\r\n").unwrap_err().status, 400);
        assert_eq!(decode_all(b"zz\r\n").unwrap_err().status, 400);
    }

    #[test]
    fn chunks_summing_past_the_bound_are_413() {
        let small = ChunkedLimits {
            body: BodyLimit {
                max_bytes: 5,
                ..limits().body
            },
            ..limits()
        };
        let mut body = ChunkedBody::new();
        let error = body.advance(b"3\r\nabc\r\n3\r\n", &small).unwrap_err();
        assert_eq!(error.status, 413);
    }

    #[test]
    fn huge_declared_chunk_is_413_without_reserving_it() {
        let error = decode_all(b"fffffffffffffff\r\n").unwrap_err();
        assert_eq!(error.status, 413);
    }

    #[test]
    fn size_line_longer_than_the_framing_bound_is_400() {
        let tight = ChunkedLimits {
            max_framing_bytes: 8,
            ..limits()
        };
        let error = ChunkedBody::new()
            .advance(b"1;ext=long", &tight)
            .unwrap_err();
        assert_eq!(error.status, 400);
    }

    #[test]
    fn endless_size_line_is_400() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_SIZE_LINE_BYTES, b'x');
        assert_eq!(decode_all(&line).unwrap_err().status, 400);
    }
}
