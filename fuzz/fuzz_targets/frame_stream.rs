//! Arbitrary bytes, cut into arbitrary chunks, fed through a FrameDecoder
//! (after trying the first six as a preamble). Each frame is decoded as every
//! message family. Nothing may panic, and the decoder may never hold more
//! than one frame: `max_frame_bytes` plus the length field.
//!
//! Input: byte 0 picks the maximum frame size (0: the default 16 MiB, n: n*16
//! bytes, so small caps are hit too); byte 1 seeds the chunk sizes, and when
//! its top bit is set every frame the stream declares gets a correct CRC
//! (random bytes almost never pass a CRC, and the message decoders are behind
//! it); the rest is the byte stream.

#![no_main]

use concord::wire::frame::{
    DEFAULT_MAX_FRAME_BYTES, FRAME_LENGTH_BYTES, FrameDecoder, PREAMBLE_BYTES, decode_preamble,
};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let [max_selector, chunk_seed, stream @ ..] = data else {
        return;
    };
    let max_frame_bytes = match *max_selector {
        0 => DEFAULT_MAX_FRAME_BYTES,
        n => u32::from(n) * 16,
    };
    let _ = decode_preamble(&stream[..stream.len().min(PREAMBLE_BYTES)]);
    let sealed;
    let stream = if chunk_seed & 0x80 != 0 {
        sealed = seal_frames(stream);
        &sealed[..]
    } else {
        stream
    };

    let mut decoder = FrameDecoder::new(max_frame_bytes);
    // A xorshift over the seed gives chunk sizes from 1 to 64 bytes; seed 0
    // feeds the whole stream at once.
    let mut state = u32::from(*chunk_seed) | 0x100;
    let mut input = stream;
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
                decoder.buffered_bytes() <= max_frame_bytes as usize + FRAME_LENGTH_BYTES,
                "decoder holds {} bytes",
                decoder.buffered_bytes()
            );
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() + 5 <= max_frame_bytes as usize);
                    common::decode_as_every_family(frame.message_type, &frame.payload);
                }
                Ok(None) => {
                    // Not complete: the decoder must have taken everything.
                    assert!(chunk.is_empty());
                    break;
                }
                Err(_) => {
                    // A failed decoder takes nothing more and keeps failing.
                    assert_eq!(decoder.feed(input), 0);
                    assert!(decoder.next_frame().is_err());
                    return;
                }
            }
        }
    }
});

/// Walks the length fields of `stream` and rewrites the CRC of every frame
/// that fits, so the decoders behind the CRC check see the fuzzer's bytes.
fn seal_frames(stream: &[u8]) -> Vec<u8> {
    let mut sealed = stream.to_vec();
    let mut at = 0;
    while at + FRAME_LENGTH_BYTES <= sealed.len() {
        let length_field: [u8; 4] = sealed[at..at + 4].try_into().unwrap();
        let length = u32::from_be_bytes(length_field) as usize;
        let body = at + FRAME_LENGTH_BYTES;
        if length < 5 || length > sealed.len() - body {
            break;
        }
        let crc_at = body + length - 4;
        let crc = crc32fast::hash(&sealed[body..crc_at]);
        sealed[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
        at = body + length;
    }
    sealed
}
