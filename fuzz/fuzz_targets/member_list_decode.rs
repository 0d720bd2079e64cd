//! The remembered gossip member list is read from disk at start: any bytes
//! must give a list or a typed error, never a panic.

#![no_main]

use concord::storage::member_list::{decode_member_list, encode_member_list};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = decode_member_list(Path::new("members"), data) {
        let again = decode_member_list(Path::new("members"), &encode_member_list(&list));
        assert!(again.is_ok(), "a decoded list must re-encode to a decodable file");
    }
});
