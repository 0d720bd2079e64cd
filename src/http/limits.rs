//! Every bound the HTTP layer enforces, in one place, with Consul's defaults
//! where Consul has one. The decoder's buffer never holds more than
//! [`HttpLimits::max_buffered_bytes`], whatever a client sends.

use super::error::HttpError;

/// Consul's `kv_max_value_size` default (raft's suggested maximum entry size).
pub const DEFAULT_MAX_KV_VALUE_BYTES: usize = 512 * 1024;
/// Consul's `txn_max_req_len` default: the same raft-derived size.
pub const DEFAULT_MAX_TXN_BODY_BYTES: usize = 512 * 1024;
/// Bodies of every other endpoint (catalog registrations and the like, in
/// later waves); nothing in Consul's API needs more.
pub const DEFAULT_MAX_OTHER_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Request line plus headers. Go's default is 1 MiB, but no Consul client
/// sends more than a few hundred bytes, and this bound is held per connection.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// httparse needs a fixed array of header slots; 100 is Go's
/// `http2` default and far above what any Consul client sends.
pub const DEFAULT_MAX_HEADER_COUNT: usize = 100;
/// Requests one connection may have in flight (pipelined, answered in
/// order). The server stops reading a connection at this many
/// (backpressure), so a pipelining client's requests wait in its socket,
/// never in an unbounded queue.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 32;

const KV_MAX_VALUE_SIZE_DOC: &str =
    "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size";
const TXN_MAX_REQ_LEN_DOC: &str =
    "https://www.consul.io/docs/agent/config/config-files#txn_max_req_len";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_header_bytes: usize,
    pub max_header_count: usize,
    pub max_kv_value_bytes: usize,
    pub max_txn_body_bytes: usize,
    pub max_other_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_header_count: DEFAULT_MAX_HEADER_COUNT,
            max_kv_value_bytes: DEFAULT_MAX_KV_VALUE_BYTES,
            max_txn_body_bytes: DEFAULT_MAX_TXN_BODY_BYTES,
            max_other_body_bytes: DEFAULT_MAX_OTHER_BODY_BYTES,
        }
    }
}

/// Which of Consul's body bounds applies; each has its own 413 wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    KvValue,
    Txn,
    Other,
}

/// The body bound for one request, chosen from its method and path before
/// any body byte is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub kind: BodyKind,
    pub max_bytes: usize,
}

impl HttpLimits {
    /// Consul's txn bound: for backward compatibility a configured KV value
    /// size above `txn_max_req_len` raises the txn bound with it.
    pub fn effective_txn_body_bytes(&self) -> usize {
        self.max_txn_body_bytes.max(self.max_kv_value_bytes)
    }

    /// `path` is the percent-decoded path. Only a KV PUT carries a value, so
    /// only it gets the KV bound; a KV GET or DELETE body is just bounded.
    pub fn body_limit(&self, method: &str, path: &str) -> BodyLimit {
        if method == "PUT" && path.starts_with("/v1/kv/") {
            BodyLimit {
                kind: BodyKind::KvValue,
                max_bytes: self.max_kv_value_bytes,
            }
        } else if path == "/v1/txn" {
            BodyLimit {
                kind: BodyKind::Txn,
                max_bytes: self.effective_txn_body_bytes(),
            }
        } else {
            BodyLimit {
                kind: BodyKind::Other,
                max_bytes: self.max_other_body_bytes,
            }
        }
    }

    /// The most the decoder may hold at once: one head and the largest body
    /// any endpoint accepts. Chunk framing is consumed as it is parsed, so it
    /// fits in the head's share.
    pub fn max_buffered_bytes(&self) -> usize {
        let largest_body = self
            .max_kv_value_bytes
            .max(self.effective_txn_body_bytes())
            .max(self.max_other_body_bytes);
        self.max_header_bytes.saturating_add(largest_body)
    }
}

impl BodyLimit {
    /// The 413 answer in Consul's words. `declared_bytes` is the
    /// Content-Length when the client sent one; a chunked body only shows
    /// it is too large once it has passed the bound.
    pub fn too_large(&self, declared_bytes: Option<u64>) -> HttpError {
        let max = self.max_bytes;
        let reason = match (self.kind, declared_bytes) {
            (BodyKind::KvValue, Some(declared)) => format!(
                "Request body({declared} bytes) too large, max size: {max} bytes. See {KV_MAX_VALUE_SIZE_DOC}."
            ),
            (BodyKind::KvValue, None) => format!(
                "Request body too large, max size: {max} bytes. See {KV_MAX_VALUE_SIZE_DOC}."
            ),
            (BodyKind::Txn, Some(declared)) => format!(
                "Request body({declared} bytes) too large, max size: {max} bytes. See {TXN_MAX_REQ_LEN_DOC}."
            ),
            (BodyKind::Txn, None) => {
                format!("Request body too large, max size: {max} bytes. See {TXN_MAX_REQ_LEN_DOC}.")
            }
            (BodyKind::Other, _) => format!("Request body too large, max size: {max} bytes"),
        };
        HttpError::payload_too_large(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_put_gets_the_kv_value_bound_and_other_kv_methods_do_not() {
        let limits = HttpLimits::default();
        let put = limits.body_limit("PUT", "/v1/kv/a");
        assert_eq!(put.kind, BodyKind::KvValue);
        assert_eq!(put.max_bytes, 512 * 1024);
        assert_eq!(limits.body_limit("GET", "/v1/kv/a").kind, BodyKind::Other);
    }

    #[test]
    fn txn_bound_rises_with_a_larger_kv_value_bound() {
        let limits = HttpLimits {
            max_kv_value_bytes: 1024 * 1024,
            ..HttpLimits::default()
        };
        assert_eq!(limits.body_limit("PUT", "/v1/txn").max_bytes, 1024 * 1024);
    }

    #[test]
    fn buffer_bound_is_one_head_plus_the_largest_body() {
        let limits = HttpLimits::default();
        assert_eq!(limits.max_buffered_bytes(), 64 * 1024 + 4 * 1024 * 1024);
    }

    #[test]
    fn kv_too_large_uses_consuls_wording() {
        let limit = HttpLimits::default().body_limit("PUT", "/v1/kv/a");
        let error = limit.too_large(Some(600_000));
        assert_eq!(error.status, 413);
        assert_eq!(
            error.reason,
            "Request body(600000 bytes) too large, max size: 524288 bytes. \
             See https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size."
        );
    }
}
