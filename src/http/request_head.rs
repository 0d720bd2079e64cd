//! One request's head (request line and headers), parsed by httparse, and
//! what it says about the body and the connection: framing, keep-alive,
//! `Expect: 100-continue`. The rules follow Go's net/http server, since that
//! is what answers Consul's clients.

use percent_encoding::percent_decode_str;

use super::error::HttpError;
use super::limits::{BodyLimit, HttpLimits};
use super::query::check_percent_escapes;

/// A header as the client sent it. The value is bytes: HTTP allows any
/// octet there, and only some headers are text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHeader {
    pub name: String,
    pub value: Vec<u8>,
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    Length(usize),
    Chunked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub raw_query: String,
    pub headers: Vec<HttpHeader>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub framing: BodyFraming,
    pub body_limit: BodyLimit,
}

/// Where the head ends: the first empty line. Searching is incremental so a
/// head trickling in a byte at a time is scanned once, not once per byte.
pub fn find_head_end(buffer: &[u8], scan_from: usize) -> Option<usize> {
    let mut at = scan_from;
    while let Some(offset) = buffer.get(at..)?.iter().position(|&b| b == b'\n') {
        let newline = at + offset;
        match buffer.get(newline + 1..) {
            Some([b'\n', ..]) => return Some(newline + 2),
            Some([b'\r', b'\n', ..]) => return Some(newline + 3),
            _ => at = newline + 1,
        }
    }
    None
}

/// Parses `head_bytes`, which end with the empty line [`find_head_end`]
/// found.
pub fn parse_head(head_bytes: &[u8], limits: &HttpLimits) -> Result<RequestHead, HttpError> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_header_count];
    let mut request = httparse::Request::new(&mut slots);
    match request.parse(head_bytes) {
        Ok(httparse::Status::Complete(_)) => {}
        // The empty line is there, so a partial parse means a malformed line.
        Ok(httparse::Status::Partial) => {
            return Err(HttpError::bad_request("malformed request head"));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::header_fields_too_large(format!(
                "more than {} headers",
                limits.max_header_count
            )));
        }
        Err(httparse::Error::Version) => return Err(HttpError::version_not_supported()),
        Err(error) => {
            return Err(HttpError::bad_request(format!(
                "malformed request: {error}"
            )));
        }
    }
    let method = request.method.unwrap_or_default().to_string();
    let minor_version = request.version.unwrap_or(1);
    let (path, raw_query) = split_target(request.path.unwrap_or_default())?;
    let headers: Vec<HttpHeader> = request
        .headers
        .iter()
        .map(|header| HttpHeader {
            name: header.name.to_string(),
            value: header.value.to_vec(),
        })
        .collect();
    check_host(&headers, minor_version)?;
    let framing = body_framing(&headers)?;
    let body_limit = limits.body_limit(&method, &path);
    if let BodyFraming::Length(length) = framing
        && length > body_limit.max_bytes
    {
        return Err(body_limit.too_large(Some(length as u64)));
    }
    Ok(RequestHead {
        keep_alive: keep_alive(&headers, minor_version),
        expect_continue: expects_continue(&headers, minor_version)?,
        method,
        path,
        raw_query,
        headers,
        minor_version,
        framing,
        body_limit,
    })
}

/// Splits the request target into the percent-decoded path and the raw
/// query. Go accepts the absolute form (`http://host/path`) too, as a proxy
/// would send it.
fn split_target(target: &str) -> Result<(String, String), HttpError> {
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let raw_path = strip_scheme_and_authority(raw_path);
    if raw_path == "*" {
        return Ok((raw_path.to_string(), raw_query.to_string()));
    }
    if !raw_path.starts_with('/') {
        return Err(HttpError::bad_request(format!(
            "invalid request target {target:?}"
        )));
    }
    check_percent_escapes(raw_path).map_err(HttpError::bad_request)?;
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| HttpError::bad_request("request path is not valid UTF-8 once decoded"))?;
    Ok((path.into_owned(), raw_query.to_string()))
}

fn strip_scheme_and_authority(raw_path: &str) -> &str {
    let lower_prefix = |prefix: &str| {
        raw_path
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    for scheme in ["http://", "https://"] {
        if lower_prefix(scheme) {
            let rest = &raw_path[scheme.len()..];
            return rest.find('/').map_or("/", |slash| &rest[slash..]);
        }
    }
    raw_path
}

fn header_values<'a>(headers: &'a [HttpHeader], name: &'a str) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_slice())
}

/// HTTP/1.1 requires exactly one Host; Go's server enforces it.
fn check_host(headers: &[HttpHeader], minor_version: u8) -> Result<(), HttpError> {
    let hosts = header_values(headers, "Host").count();
    if hosts > 1 {
        return Err(HttpError::bad_request("too many Host headers"));
    }
    if minor_version >= 1 && hosts == 0 {
        return Err(HttpError::bad_request("missing required Host header"));
    }
    Ok(())
}

/// Chunked wins over Content-Length when both are sent, as in Go; any other
/// transfer coding is refused rather than misread.
fn body_framing(headers: &[HttpHeader]) -> Result<BodyFraming, HttpError> {
    let codings: Vec<&[u8]> = header_values(headers, "Transfer-Encoding").collect();
    match codings.as_slice() {
        [] => {}
        [coding] if coding.trim_ascii().eq_ignore_ascii_case(b"chunked") => {
            return Ok(BodyFraming::Chunked);
        }
        _ => {
            return Err(HttpError::not_implemented(format!(
                "unsupported transfer encoding: {:?}",
                codings
                    .iter()
                    .map(|coding| String::from_utf8_lossy(coding))
                    .collect::<Vec<_>>()
            )));
        }
    }
    let mut declared: Option<usize> = None;
    for value in header_values(headers, "Content-Length") {
        let length = parse_content_length(value)?;
        if declared.is_some_and(|earlier| earlier != length) {
            return Err(HttpError::bad_request(
                "message cannot contain multiple Content-Length headers",
            ));
        }
        declared = Some(length);
    }
    Ok(BodyFraming::Length(declared.unwrap_or(0)))
}

/// Digits only, as Go's `strconv.ParseUint`: no sign, no inner spaces. A
/// value too large for memory is still a syntactically valid length, so it
/// saturates and the body bound rejects it with 413.
fn parse_content_length(value: &[u8]) -> Result<usize, HttpError> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::bad_request(format!(
            "bad Content-Length {:?}",
            String::from_utf8_lossy(value)
        )));
    }
    Ok(digits.iter().fold(0usize, |length, &digit| {
        length
            .saturating_mul(10)
            .saturating_add(usize::from(digit - b'0'))
    }))
}

fn connection_has_token(headers: &[HttpHeader], token: &[u8]) -> bool {
    header_values(headers, "Connection").any(|value| {
        value
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes
/// unless told to keep it.
fn keep_alive(headers: &[HttpHeader], minor_version: u8) -> bool {
    if minor_version >= 1 {
        !connection_has_token(headers, b"close")
    } else {
        connection_has_token(headers, b"keep-alive")
    }
}

/// HTTP/1.0 has no `Expect`; Go ignores it there.
fn expects_continue(headers: &[HttpHeader], minor_version: u8) -> Result<bool, HttpError> {
    if minor_version == 0 {
        return Ok(false);
    }
    let Some(value) = header_values(headers, "Expect").next() else {
        return Ok(false);
    };
    let value = value.trim_ascii();
    if value.eq_ignore_ascii_case(b"100-continue") {
        Ok(true)
    } else if value.is_empty() {
        Ok(false)
    } else {
        Err(HttpError::expectation_failed(&String::from_utf8_lossy(
            value,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<RequestHead, HttpError> {
        let bytes = text.as_bytes();
        let end = find_head_end(bytes, 0).expect("test head has an empty line");
        parse_head(&bytes[..end], &HttpLimits::default())
    }

    #[test]
    fn head_end_is_found_with_crlf_or_bare_lf() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 0),
            Some(27)
        );
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\nHost: a\n\nrest", 0),
            Some(24)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
    }

    #[test]
    fn path_is_percent_decoded_and_query_kept_raw() {
        let parsed =
            head("GET /v1/kv/a%20b%2Fc?recurse&x=%41 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(parsed.path, "/v1/kv/a b/c");
        assert_eq!(parsed.raw_query, "recurse&x=%41");
    }

    #[test]
    fn bad_percent_escape_in_path_is_400() {
        let error = head("GET /v1/kv/%zz HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.reason, "invalid URL escape \"%zz\"");
    }

    #[test]
    fn absolute_form_target_keeps_only_the_path() {
        let parsed = head("GET http://127.0.0.1:8500/v1/status/leader HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(parsed.unwrap().path, "/v1/status/leader");
    }

    #[test]
    fn http_1_1_without_host_is_400() {
        let error = head("GET / HTTP/1.1\r\n\r\n").unwrap_err();
        assert_eq!(
            (error.status, error.reason.as_str()),
            (400, "missing required Host header")
        );
        assert!(head("GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn keep_alive_follows_version_defaults_and_connection_tokens() {
        assert!(
            head("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(
            !head("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(!head("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        let kept = head("GET / HTTP/1.0\r\nConnection: foo, Keep-Alive\r\n\r\n").unwrap();
        assert!(kept.keep_alive);
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let parsed = head(
            "PUT /v1/txn HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!(parsed.unwrap().framing, BodyFraming::Chunked);
    }

    #[test]
    fn other_transfer_codings_are_501() {
        let error = head("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(error.unwrap_err().status, 501);
    }

    #[test]
    fn content_length_must_be_digits_and_agree() {
        let signed = head("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n");
        assert_eq!(signed.unwrap_err().status, 400);
        let twice =
            head("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
        assert_eq!(twice.unwrap_err().status, 400);
        let same =
            head("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(same.unwrap().framing, BodyFraming::Length(3));
    }

    #[test]
    fn declared_kv_body_over_the_value_bound_is_413_before_any_body_byte() {
        let error = head("PUT /v1/kv/big HTTP/1.1\r\nHost: h\r\nContent-Length: 524289\r\n\r\n");
        let error = error.unwrap_err();
        assert_eq!(error.status, 413);
        assert!(
            error
                .reason
                .starts_with("Request body(524289 bytes) too large")
        );
    }

    #[test]
    fn huge_content_length_saturates_into_413_not_400() {
        let error =
            head("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(error.unwrap_err().status, 413);
    }

    #[test]
    fn expect_100_continue_is_noted_and_other_expectations_are_417() {
        let parsed = head("PUT /v1/kv/a HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n\r\n");
        assert!(parsed.unwrap().expect_continue);
        let error = head("PUT /v1/kv/a HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n");
        assert_eq!(error.unwrap_err().status, 417);
    }

    #[test]
    fn unknown_http_version_is_505() {
        let error = head("GET / HTTP/2.0\r\nHost: h\r\n\r\n").unwrap_err();
        assert_eq!(error.status, 505);
    }

    #[test]
    fn too_many_headers_is_431() {
        let limits = HttpLimits {
            max_header_count: 2,
            ..HttpLimits::default()
        };
        let text = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
        let error = parse_head(text, &limits).unwrap_err();
        assert_eq!(error.status, 431);
    }
}
