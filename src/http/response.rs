//! Responses as bytes for the socket: the status line with its reason
//! phrase, the headers, `Content-Length`, and `Connection: close` when the
//! connection ends after this answer. Also the chunked form for answers
//! that stream (`/v1/agent/monitor`).

use serde::Serialize;

use super::error::HttpError;
use super::request::HttpRequest;

/// What a client sending `Expect: 100-continue` waits for before its body.
pub const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Go's `http.DetectContentType` gives this for Consul's error text, and Go
/// sets it because Consul writes errors without a Content-Type.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// What the encoding of an answer depends on in its request: whether the
/// connection stays open, the HTTP version, and whether it was a HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFraming {
    pub keep_alive: bool,
    pub minor_version: u8,
    pub head: bool,
}

impl ResponseFraming {
    pub fn of(request: &HttpRequest) -> Self {
        ResponseFraming {
            keep_alive: request.keep_alive,
            minor_version: request.minor_version,
            head: request.method == "HEAD",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Extra headers in the order written; `Content-Length` and
    /// `Connection` are the encoder's.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The reason phrases Go's `http.StatusText` gives.
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => return None,
    })
}

impl HttpResponse {
    pub fn new(status: u16) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers
            .push(("Content-Type".to_string(), content_type.to_string()));
        self.body = body;
        self
    }

    /// A one-line error the way Consul writes one: `text/plain`, no
    /// trailing newline. Go writes no Content-Type for an empty body.
    pub fn text(status: u16, text: &str) -> Self {
        if text.is_empty() {
            return HttpResponse::new(status);
        }
        HttpResponse::new(status).with_body(TEXT_CONTENT_TYPE, text.as_bytes().to_vec())
    }

    pub fn from_error(error: &HttpError) -> Self {
        // Go answers a refused expectation with an empty 417.
        if error.status == 417 {
            return HttpResponse::new(417);
        }
        HttpResponse::text(error.status, &error.reason)
    }

    /// Consul's JSON body: compact, or with `?pretty` indented by four
    /// spaces and ended by a newline (Go's `json.MarshalIndent` plus "\n").
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T, pretty: bool) -> Self {
        match json_body(value, pretty) {
            Ok(body) => HttpResponse::new(status).with_body(JSON_CONTENT_TYPE, body),
            Err(error) => HttpResponse::text(500, &error.to_string()),
        }
    }

    /// Appends the whole response to `out`, for a connection that stays
    /// open when `keep_alive` (an HTTP/1.1 client) and closes otherwise.
    pub fn encode(&self, keep_alive: bool, out: &mut Vec<u8>) {
        let connection = (!keep_alive).then_some("close");
        self.encode_with(connection, true, out);
    }

    /// Appends the answer to `request`: an HTTP/1.0 client that asked to
    /// keep the connection is told it is kept (it assumes a close
    /// otherwise), and a HEAD answer has its length but not its body, as in
    /// Go's server, so the next pipelined answer is not misread.
    pub fn encode_for(&self, request: &HttpRequest, out: &mut Vec<u8>) {
        self.encode_framed(ResponseFraming::of(request), out);
    }

    /// [`Self::encode_for`] from what was kept of the request once its
    /// body was handed on.
    pub fn encode_framed(&self, framing: ResponseFraming, out: &mut Vec<u8>) {
        let connection = match (framing.keep_alive, framing.minor_version) {
            (false, _) => Some("close"),
            (true, 0) => Some("keep-alive"),
            (true, _) => None,
        };
        self.encode_with(connection, !framing.head, out);
    }

    fn encode_with(&self, connection: Option<&str>, send_body: bool, out: &mut Vec<u8>) {
        encode_status_line(self.status, out);
        for (name, value) in &self.headers {
            encode_header(name, value, out);
        }
        if status_has_body(self.status) {
            encode_header("Content-Length", &self.body.len().to_string(), out);
        }
        if let Some(connection) = connection {
            encode_header("Connection", connection, out);
        }
        out.extend_from_slice(b"\r\n");
        if send_body && status_has_body(self.status) {
            out.extend_from_slice(&self.body);
        }
    }

    pub fn to_bytes(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        self.encode(keep_alive, &mut out);
        out
    }
}

pub fn json_body<T: Serialize + ?Sized>(value: &T, pretty: bool) -> serde_json::Result<Vec<u8>> {
    if !pretty {
        return serde_json::to_vec(value);
    }
    let mut body = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut body, formatter);
    value.serialize(&mut serializer)?;
    body.push(b'\n');
    Ok(body)
}

/// 1xx, 204 and 304 answers carry neither a body nor a length.
fn status_has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

fn encode_status_line(status: u16, out: &mut Vec<u8>) {
    let status_text = match reason_phrase(status) {
        Some(reason) => format!("HTTP/1.1 {status} {reason}\r\n"),
        None => format!("HTTP/1.1 {status} status code {status}\r\n"),
    };
    out.extend_from_slice(status_text.as_bytes());
}

/// Header text comes from our own code, but a value echoing client input
/// must not be able to start a new header line.
fn encode_header(name: &str, value: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(
        value
            .bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// The head of a streamed answer; its body follows as chunks.
pub fn encode_chunked_head(
    status: u16,
    headers: &[(String, String)],
    keep_alive: bool,
    out: &mut Vec<u8>,
) {
    encode_status_line(status, out);
    for (name, value) in headers {
        encode_header(name, value, out);
    }
    encode_header("Transfer-Encoding", "chunked", out);
    if !keep_alive {
        encode_header("Connection", "close", out);
    }
    out.extend_from_slice(b"\r\n");
}

/// One chunk of a streamed body. An empty `data` writes nothing: an empty
/// chunk would end the stream.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Ends a streamed body (no trailers).
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn error_is_a_text_plain_one_liner_with_length() {
        let response = HttpResponse::text(400, "Missing key name");
        assert_eq!(
            text_of(&response.to_bytes(true)),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 16\r\n\r\nMissing key name"
        );
    }

    #[test]
    fn connection_close_is_written_when_the_connection_ends() {
        let bytes = HttpResponse::new(404).to_bytes(false);
        assert_eq!(
            text_of(&bytes),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    fn request(method: &str, minor_version: u8, keep_alive: bool) -> HttpRequest {
        HttpRequest {
            method: method.to_string(),
            path: "/v1/agent/self".to_string(),
            raw_query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            minor_version,
            keep_alive,
            expect_continue: false,
        }
    }

    #[test]
    fn http_1_0_keep_alive_is_confirmed_and_head_gets_no_body() {
        let response = HttpResponse::text(405, "method HEAD not allowed");
        let mut out = Vec::new();
        response.encode_for(&request("HEAD", 1, true), &mut out);
        assert!(text_of(&out).ends_with("Content-Length: 23\r\n\r\n"));
        out.clear();
        HttpResponse::new(200).encode_for(&request("GET", 0, true), &mut out);
        assert_eq!(
            text_of(&out),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
        out.clear();
        HttpResponse::new(200).encode_for(&request("GET", 1, false), &mut out);
        assert!(text_of(&out).ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn json_is_compact_or_indented_by_four_spaces() {
        let value = serde_json::json!({"Key": "a"});
        assert_eq!(
            HttpResponse::json(200, &value, false).body,
            br#"{"Key":"a"}"#
        );
        assert_eq!(
            text_of(&HttpResponse::json(200, &value, true).body),
            "{\n    \"Key\": \"a\"\n}\n"
        );
        let headers = HttpResponse::json(200, &value, false).headers;
        assert_eq!(
            headers,
            [("Content-Type".to_string(), "application/json".to_string())]
        );
    }

    #[test]
    fn no_content_has_no_length_and_no_body() {
        let mut response = HttpResponse::new(204);
        response.body = b"ignored".to_vec();
        assert_eq!(
            text_of(&response.to_bytes(true)),
            "HTTP/1.1 204 No Content\r\n\r\n"
        );
    }

    #[test]
    fn unknown_status_gets_gos_placeholder_reason() {
        let bytes = HttpResponse::new(599).to_bytes(true);
        assert!(text_of(&bytes).starts_with("HTTP/1.1 599 status code 599\r\n"));
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let response = HttpResponse::new(200).with_header("X-Test", "a\r\nEvil: 1");
        assert!(text_of(&response.to_bytes(true)).contains("X-Test: a  Evil: 1\r\n"));
    }

    #[test]
    fn refused_expectation_is_an_empty_417() {
        let response = HttpResponse::from_error(&HttpError::expectation_failed("x"));
        assert_eq!((response.status, response.body.len()), (417, 0));
    }

    #[test]
    fn chunked_stream_is_head_chunks_and_last_chunk() {
        let mut out = Vec::new();
        encode_chunked_head(200, &[], true, &mut out);
        encode_chunk(b"hello world", &mut out);
        encode_chunk(b"", &mut out);
        encode_last_chunk(&mut out);
        assert_eq!(
            text_of(&out),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
        );
    }
}
