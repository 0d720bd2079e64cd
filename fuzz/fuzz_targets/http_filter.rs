//! Arbitrary text as a `?filter=` expression: the parser never panics and
//! stays within its bounds, and a parsed filter evaluates against a node
//! entry and against arbitrary JSON (when the rest of the input is JSON)
//! without panicking.
//!
//! Input: up to the first 0 byte, the expression (lossy UTF-8); after it,
//! an optional JSON entry.

#![no_main]

use concord::http::filter::Filter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (expression, rest) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let expression = String::from_utf8_lossy(expression);
    let Ok(filter) = Filter::parse(&expression) else {
        return;
    };
    let node = serde_json::json!({
        "ID": "", "Node": "n1", "Address": "10.0.0.1", "Datacenter": "dc1",
        "TaggedAddresses": {"lan": "10.0.0.1"}, "Meta": {"rack": "r1"},
        "Tags": ["a", "b"], "Port": 8301, "Leader": true
    });
    let _ = filter.matches(&node);
    if let Ok(entry) = serde_json::from_slice::<serde_json::Value>(rest) {
        let _ = filter.matches(&entry);
    }
});
