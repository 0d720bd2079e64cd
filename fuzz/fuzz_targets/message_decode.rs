//! A type byte and a payload straight into every message decoder, skipping
//! the frame CRC so the fuzzer reaches the message layouts at once. Nothing
//! may panic, and whatever decodes must re-encode to the same bytes.
//!
//! Input: byte 0 is the message type, the rest the payload.

#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    if let [message_type, payload @ ..] = data {
        common::decode_as_every_family(*message_type, payload);
    }
});
