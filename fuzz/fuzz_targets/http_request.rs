//! Arbitrary bytes, cut into arbitrary chunks, fed through the HTTP request
//! decoder; every request it yields goes through the router, and whatever
//! the router answers is encoded. Nothing may panic, and the decoder may
//! never hold more than its bound (one head plus the largest body).
//!
//! Input: byte 0 picks the limits (0: the defaults, n: small bounds that
//! scale with n, so every limit is hit); byte 1 seeds the chunk sizes (0
//! feeds the whole stream at once); the rest is the byte stream.

#![no_main]

use concord::http::{HttpLimits, HttpResponse, RequestDecoder, route};
use libfuzzer_sys::fuzz_target;

fn limits_for(selector: u8) -> HttpLimits {
    if selector == 0 {
        return HttpLimits::default();
    }
    let n = usize::from(selector);
    HttpLimits {
        max_header_bytes: 16 + n * 4,
        max_header_count: 1 + n % 8,
        max_kv_value_bytes: n,
        max_txn_body_bytes: n * 2,
        max_other_body_bytes: n * 3,
    }
}

fuzz_target!(|data: &[u8]| {
    let [limits_selector, chunk_seed, stream @ ..] = data else {
        return;
    };
    let limits = limits_for(*limits_selector);
    let bound = limits.max_buffered_bytes();
    let mut decoder = RequestDecoder::new(limits.clone());
    // A xorshift over the seed gives chunk sizes from 1 to 64 bytes.
    let mut state = u32::from(*chunk_seed) | 0x100;
    let mut input = stream;
    let mut out = Vec::new();
    while !input.is_empty() {
        let size = if *chunk_seed == 0 {
            input.len()
        } else {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 64 + 1) as usize
        };
        let mut chunk = &input[..size.min(input.len())];
        input = &input[chunk.len()..];
        loop {
            let taken = decoder.feed(chunk);
            chunk = &chunk[taken..];
            assert!(
                decoder.buffered_bytes() <= bound,
                "decoder holds {} bytes, bound {bound}",
                decoder.buffered_bytes()
            );
            let _ = decoder.take_continue_request();
            match decoder.next_request() {
                Ok(Some(request)) => {
                    assert!(request.body.len() <= bound);
                    out.clear();
                    match route(&request, &limits) {
                        Ok(routed) => {
                            HttpResponse::json(200, &format!("{:?}", routed.request), routed.pretty)
                                .encode_for(&request, &mut out)
                        }
                        Err(error) => error.to_response().encode_for(&request, &mut out),
                    }
                }
                Ok(None) if chunk.is_empty() => break,
                Ok(None) => {
                    // Refusing bytes with no request to hand out is only
                    // allowed once the connection is closing.
                    assert!(taken > 0 || decoder.is_closed(), "decoder stuck");
                    if decoder.is_closed() {
                        return;
                    }
                }
                Err(error) => {
                    HttpResponse::from_error(&error).encode(false, &mut out);
                    // A failed decoder takes nothing more and keeps failing.
                    assert_eq!(decoder.feed(input), 0);
                    assert!(decoder.next_request().is_err());
                    return;
                }
            }
        }
    }
});
