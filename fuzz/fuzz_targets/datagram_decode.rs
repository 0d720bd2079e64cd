//! Arbitrary bytes into `decode_datagram` for every message family, as they
//! are and again with the CRC rewritten to match (random bytes almost never
//! pass a CRC, and the interesting code is behind it). Nothing may panic, and
//! a datagram that decodes must re-encode to the same bytes.

#![no_main]

use concord::wire::Message;
use concord::wire::client_message::{ClientRequest, ClientResponse};
use concord::wire::datagram::{DATAGRAM_HEADER_BYTES, decode_datagram, encode_datagram};
use concord::wire::raft_message::RaftMessage;
use libfuzzer_sys::fuzz_target;

fn decode_is_canonical<M: Message + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(messages) = decode_datagram::<M>(bytes) {
        assert_eq!(encode_datagram(&messages).unwrap(), bytes);
    }
}

fn decode_as_every_family(bytes: &[u8]) {
    decode_is_canonical::<RaftMessage>(bytes);
    decode_is_canonical::<ClientRequest>(bytes);
    decode_is_canonical::<ClientResponse>(bytes);
}

fuzz_target!(|data: &[u8]| {
    decode_as_every_family(data);
    if data.len() >= DATAGRAM_HEADER_BYTES {
        let mut sealed = data.to_vec();
        let crc = crc32fast::hash(&sealed[7..]);
        sealed[3..7].copy_from_slice(&crc.to_be_bytes());
        decode_as_every_family(&sealed);
    }
});
