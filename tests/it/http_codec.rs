//! Properties of the HTTP layer as the event loop will use it: however a
//! pipelined byte stream is cut into reads, the same requests come out;
//! arbitrary bytes never panic and never make the decoder hold more than its
//! bound; Go durations survive a format/parse round trip.

use concord::http::duration::{GoDuration, format_go_duration, parse_go_duration};
use concord::http::{HttpError, HttpLimits, HttpRequest, RequestDecoder, route};
use proptest::collection::vec;
use proptest::prelude::*;

/// A request as a client would build it, before encoding.
#[derive(Debug, Clone)]
struct ClientRequest {
    method: &'static str,
    path: String,
    raw_query: String,
    body: Vec<u8>,
    chunk_sizes: Option<Vec<usize>>,
}

impl ClientRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        let target = if self.raw_query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.raw_query)
        };
        out.extend_from_slice(
            format!(
                "{} {target} HTTP/1.1\r\nHost: 127.0.0.1:8500\r\n",
                self.method
            )
            .as_bytes(),
        );
        match &self.chunk_sizes {
            None => {
                out.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes(),
                );
                out.extend_from_slice(&self.body);
            }
            Some(sizes) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = self.body.as_slice();
                for &size in sizes.iter().cycle().take(rest.len() + 1) {
                    if rest.is_empty() {
                        break;
                    }
                    let (chunk, after) = rest.split_at(size.clamp(1, rest.len()));
                    out.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                    rest = after;
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
    }
}

fn client_request() -> impl Strategy<Value = ClientRequest> {
    let key = "[a-z0-9/._-]{1,24}";
    let query = prop_oneof![
        Just(String::new()),
        Just("recurse".to_string()),
        Just("index=12&wait=5s".to_string()),
        Just("cas=3&flags=18446744073709551615".to_string()),
    ];
    let chunking = prop_oneof![Just(None), vec(1usize..16, 1..4).prop_map(Some)];
    (
        prop_oneof![Just("GET"), Just("PUT"), Just("DELETE")],
        key,
        query,
        vec(any::<u8>(), 0..64),
        chunking,
    )
        .prop_map(
            |(method, key, raw_query, body, chunk_sizes)| ClientRequest {
                method,
                path: format!("/v1/kv/{key}"),
                raw_query,
                body,
                chunk_sizes,
            },
        )
}

/// Feeds `stream` cut at `cuts` (offsets, any order) and collects what comes
/// out, checking the buffer bound after every call.
fn decode_in_pieces(
    stream: &[u8],
    cuts: &[usize],
    limits: HttpLimits,
) -> (Vec<HttpRequest>, Option<HttpError>) {
    let bound = limits.max_buffered_bytes();
    let mut decoder = RequestDecoder::new(limits);
    let mut offsets: Vec<usize> = cuts.iter().map(|cut| cut % (stream.len() + 1)).collect();
    offsets.push(stream.len());
    offsets.sort_unstable();
    let mut requests = Vec::new();
    let mut start = 0;
    for end in offsets {
        let mut piece = &stream[start..end.max(start)];
        start = end.max(start);
        loop {
            let taken = decoder.feed(piece);
            piece = &piece[taken..];
            assert!(
                decoder.buffered_bytes() <= bound,
                "decoder holds {}",
                decoder.buffered_bytes()
            );
            match decoder.next_request() {
                Ok(Some(request)) => requests.push(request),
                Ok(None) if piece.is_empty() => break,
                Ok(None) if taken == 0 => {
                    // Only a closed connection may refuse bytes for good;
                    // a full buffer with no request in it would be a hang.
                    assert!(
                        decoder.is_closed(),
                        "decoder stuck with {} bytes",
                        decoder.buffered_bytes()
                    );
                    break;
                }
                Ok(None) => {}
                Err(error) => return (requests, Some(error)),
            }
            assert!(decoder.buffered_bytes() <= bound);
        }
    }
    (requests, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chunking_of_a_pipelined_stream_yields_the_same_requests(
        sent in vec(client_request(), 1..6),
        cuts in vec(any::<usize>(), 0..24),
    ) {
        let mut stream = Vec::new();
        for request in &sent {
            request.encode(&mut stream);
        }
        let (whole, whole_error) = decode_in_pieces(&stream, &[], HttpLimits::default());
        let (pieces, pieces_error) = decode_in_pieces(&stream, &cuts, HttpLimits::default());
        prop_assert_eq!(whole_error, None);
        prop_assert_eq!(pieces_error, None);
        prop_assert_eq!(&whole, &pieces);
        prop_assert_eq!(whole.len(), sent.len());
        for (decoded, original) in whole.iter().zip(&sent) {
            prop_assert_eq!(decoded.method.as_str(), original.method);
            prop_assert_eq!(&decoded.path, &original.path);
            prop_assert_eq!(&decoded.raw_query, &original.raw_query);
            prop_assert_eq!(&decoded.body, &original.body);
            prop_assert!(decoded.keep_alive);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        bytes in vec(any::<u8>(), 0..2048),
        cuts in vec(any::<usize>(), 0..16),
        header_bytes in 16usize..256,
        body_bytes in 0usize..128,
    ) {
        let limits = HttpLimits {
            max_header_bytes: header_bytes,
            max_header_count: 4,
            max_kv_value_bytes: body_bytes,
            max_txn_body_bytes: body_bytes,
            max_other_body_bytes: body_bytes,
        };
        let (requests, _) = decode_in_pieces(&bytes, &cuts, limits.clone());
        for request in &requests {
            prop_assert!(request.body.len() <= body_bytes);
            let _ = route(request, &limits).map_err(|error| error.to_response());
        }
    }

    #[test]
    fn valid_head_followed_by_garbage_never_panics(
        garbage in vec(any::<u8>(), 0..512),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let mut stream = b"PUT /v1/txn HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        stream.extend_from_slice(&garbage);
        let (requests, _) = decode_in_pieces(&stream, &cuts, HttpLimits::default());
        for request in &requests {
            let _ = route(request, &HttpLimits::default()).map_err(|error| error.to_response());
        }
    }

    #[test]
    fn go_duration_format_then_parse_is_identity(nanoseconds in any::<i64>()) {
        let duration = GoDuration { nanoseconds };
        let text = format_go_duration(duration);
        prop_assert_eq!(parse_go_duration(&text), Ok(duration), "{}", text);
    }

    #[test]
    fn go_duration_parse_then_format_then_parse_agrees(
        terms in vec((0u64..100_000, prop::option::of(0u32..1000), 0usize..8), 1..4),
        negative in any::<bool>(),
    ) {
        const UNITS: [&str; 8] = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"];
        let mut text = String::from(if negative { "-" } else { "" });
        for (whole, fraction, unit) in terms {
            text.push_str(&whole.to_string());
            if let Some(fraction) = fraction {
                text.push_str(&format!(".{fraction}"));
            }
            text.push_str(UNITS[unit]);
        }
        let parsed = parse_go_duration(&text).expect("generated durations are valid");
        let reparsed = parse_go_duration(&format_go_duration(parsed));
        prop_assert_eq!(reparsed, Ok(parsed), "{}", text);
    }

    #[test]
    fn arbitrary_duration_text_never_panics(text in "\\PC{0,24}") {
        let _ = parse_go_duration(&text);
    }
}

#[test]
fn a_bare_number_is_not_a_go_duration() {
    assert!(parse_go_duration("10").is_err());
    assert_eq!(parse_go_duration("0").map(|d| d.nanoseconds), Ok(0));
}

/// Found by the `http_request` fuzz target: with a head bound smaller than
/// the chunk-size-line bound, a size line that never ended filled the
/// buffer and the decoder neither progressed nor failed.
#[test]
fn endless_chunk_size_line_under_small_limits_fails_instead_of_hanging() {
    let limits = HttpLimits {
        max_header_bytes: 92,
        max_header_count: 4,
        max_kv_value_bytes: 19,
        max_txn_body_bytes: 38,
        max_other_body_bytes: 57,
    };
    let mut stream = b"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    stream.extend(std::iter::repeat_n(b'e', 400));
    let (requests, error) = decode_in_pieces(&stream, &[7, 70, 170], limits);
    assert!(requests.is_empty());
    assert_eq!(error.map(|error| error.status), Some(400));
}

/// The committed fuzz seeds are real requests: each decodes, with the
/// limits its first byte picks, into at least one request.
#[test]
fn fuzz_seeds_decode_into_requests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/http_request");
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("seed-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let limits = if bytes[0] == 0 {
            HttpLimits::default()
        } else {
            HttpLimits {
                max_header_bytes: 16 + usize::from(bytes[0]) * 4,
                max_header_count: 1 + usize::from(bytes[0]) % 8,
                max_kv_value_bytes: usize::from(bytes[0]),
                max_txn_body_bytes: usize::from(bytes[0]) * 2,
                max_other_body_bytes: usize::from(bytes[0]) * 3,
            }
        };
        let (requests, error) = decode_in_pieces(&bytes[2..], &[], limits.clone());
        assert_eq!(error, None, "{name}");
        assert!(!requests.is_empty(), "{name}");
        for request in &requests {
            assert!(route(request, &limits).is_ok(), "{name}: {request:?}");
        }
        seeds += 1;
    }
    assert!(seeds >= 4);
}
