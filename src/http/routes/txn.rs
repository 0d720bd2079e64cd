//! `PUT /v1/txn`, following Consul's `agent/txn_endpoint.go`: the body is a
//! JSON list of operations decoded as Go's `encoding/json` decodes it (keys
//! matched case-insensitively, unknown keys ignored, only the first JSON
//! value read), then bounded, then checked the way the servers check it
//! before running it.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, PAD};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{EndpointCall, RouteError};
use crate::http::api_request::{ApiRequest, KvVerb, TxnKvOp, TxnRequest};
use crate::http::blocking::BlockingParams;
use crate::http::error::HttpError;
use crate::http::kv_json::TxnErrorJson;
use crate::http::query::go_quote;

/// Consul's `maxTxnOps`.
pub const MAX_TXN_OPS: usize = 128;

/// Go's `base64.StdEncoding`: padding required, but stray low bits in the
/// last symbol accepted (only `StdEncoding.Strict()` refuses them).
const GO_STD_ENCODING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    PAD.with_decode_allow_trailing_bits(true),
);

pub(super) fn route_txn(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let body = &call.request.body;
    let limit = call.limits.body_limit("PUT", "/v1/txn");
    if body.len() > limit.max_bytes {
        return Err(limit.too_large(Some(body.len() as u64)).into());
    }
    let wire_ops = decode_ops(body)?;
    if wire_ops.len() > MAX_TXN_OPS {
        return Err(HttpError::payload_too_large(format!(
            "Transaction contains too many operations ({} > {MAX_TXN_OPS})",
            wire_ops.len()
        ))
        .into());
    }
    let max_value_bytes = call.limits.max_kv_value_bytes;
    for op in &wire_ops {
        if let WireOp::Kv(kv) = op {
            let size = kv.value.as_ref().map_or(0, Vec::len);
            if size > max_value_bytes {
                return Err(HttpError::payload_too_large(format!(
                    "Value for key {} is too large ({size} > {max_value_bytes} bytes)",
                    go_quote(&kv.key)
                ))
                .into());
            }
        }
        if let WireOp::Unsupported(kind) = op {
            return Err(HttpError::bad_request(format!(
                "Bad request: {kind} operations in a transaction are not supported"
            ))
            .into());
        }
    }
    let kv_ops: Vec<WireKvOp> = wire_ops
        .into_iter()
        .filter_map(|op| match op {
            WireOp::Kv(kv) => Some(kv),
            _ => None,
        })
        .collect();
    let read_only = kv_ops
        .iter()
        .all(|op| KvVerb::from_name(&op.verb).is_none_or(|verb| !verb.is_write()));
    // Consul parses the read options only for a read-only transaction;
    // a write takes just `?dc`.
    let blocking = if read_only {
        BlockingParams::parse(call.query)?
    } else {
        BlockingParams {
            datacenter: call.query.get_non_empty("dc").map(str::to_string),
            ..BlockingParams::default()
        }
    };
    let ops = check_ops(kv_ops).map_err(|errors| RouteError::TxnRejected {
        errors,
        read_only,
        pretty: call.pretty,
    })?;
    Ok(ApiRequest::Txn(TxnRequest { ops, blocking }))
}

/// Go's decoder reads one JSON value and leaves the rest unread; an empty
/// body is its `EOF`.
fn decode_ops(body: &[u8]) -> Result<Vec<WireOp>, HttpError> {
    let mut values =
        serde_json::Deserializer::from_slice(body).into_iter::<Option<Vec<Option<WireOp>>>>();
    match values.next() {
        None => Err(HttpError::bad_request("Failed to parse body: EOF")),
        Some(Err(error)) => Err(HttpError::bad_request(format!(
            "Failed to parse body: {error}"
        ))),
        // A JSON null list is an empty one; a null element names no
        // operation and, like `{}`, is dropped as Consul drops it.
        Some(Ok(ops)) => Ok(ops.unwrap_or_default().into_iter().flatten().collect()),
    }
}

/// The servers' checks, in their order: first every op's key (only
/// `delete-tree` may have none), then the verbs the state store knows.
fn check_ops(ops: Vec<WireKvOp>) -> Result<Vec<TxnKvOp>, Vec<TxnErrorJson>> {
    let missing_keys: Vec<TxnErrorJson> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.key.is_empty() && op.verb != KvVerb::DeleteTree.name())
        .map(|(op_index, _)| TxnErrorJson {
            op_index,
            what: "Must provide key".to_string(),
        })
        .collect();
    if !missing_keys.is_empty() {
        return Err(missing_keys);
    }
    let unknown_verbs: Vec<TxnErrorJson> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| KvVerb::from_name(&op.verb).is_none())
        .map(|(op_index, op)| TxnErrorJson {
            op_index,
            what: format!("unknown KV verb {}", go_quote(&op.verb)),
        })
        .collect();
    if !unknown_verbs.is_empty() {
        return Err(unknown_verbs);
    }
    Ok(ops
        .into_iter()
        .filter_map(|op| {
            Some(TxnKvOp {
                verb: KvVerb::from_name(&op.verb)?,
                key: op.key,
                value: op.value,
                flags: op.flags,
                index: op.index,
                session: op.session,
            })
        })
        .collect())
}

/// One element of the list: the kind of operation it names.
#[derive(Debug)]
enum WireOp {
    Kv(WireKvOp),
    /// Node, Service or Check operations, not served by this agent yet.
    Unsupported(&'static str),
    /// An element naming no kind; Consul skips it.
    Empty,
}

#[derive(Debug, Default)]
struct WireKvOp {
    verb: String,
    key: String,
    value: Option<Vec<u8>>,
    flags: u64,
    index: u64,
    session: String,
}

impl<'de> Deserialize<'de> for WireOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WireOpVisitor)
    }
}

struct WireOpVisitor;

impl<'de> Visitor<'de> for WireOpVisitor {
    type Value = WireOp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transaction operation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireOp, A::Error> {
        let mut op = WireOp::Empty;
        while let Some(name) = map.next_key::<String>()? {
            if name.eq_ignore_ascii_case("KV") {
                // A later key of the same kind overwrites, as in Go.
                op = match map.next_value::<Option<WireKvOp>>()? {
                    Some(kv) => WireOp::Kv(kv),
                    None => op,
                };
                continue;
            }
            let unsupported = ["Node", "Service", "Check"]
                .into_iter()
                .find(|kind| name.eq_ignore_ascii_case(kind));
            let present = map.next_value::<Option<IgnoredAny>>()?.is_some();
            if let (Some(kind), true, WireOp::Empty) = (unsupported, present, &op) {
                op = WireOp::Unsupported(kind);
            }
        }
        Ok(op)
    }
}

impl<'de> Deserialize<'de> for WireKvOp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WireKvOpVisitor)
    }
}

struct WireKvOpVisitor;

impl<'de> Visitor<'de> for WireKvOpVisitor {
    type Value = WireKvOp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a KV operation object")
    }

    /// A JSON null leaves a Go field at its zero value.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireKvOp, A::Error> {
        let mut op = WireKvOp::default();
        while let Some(name) = map.next_key::<String>()? {
            let field = name.to_ascii_lowercase();
            match field.as_str() {
                "verb" => op.verb = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "key" => op.key = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "session" => op.session = map.next_value::<Option<String>>()?.unwrap_or_default(),
                "flags" => op.flags = map.next_value::<Option<u64>>()?.unwrap_or_default(),
                "index" => op.index = map.next_value::<Option<u64>>()?.unwrap_or_default(),
                "value" => {
                    op.value = match map.next_value::<Option<String>>()? {
                        Some(text) => Some(decode_base64(&text).map_err(de::Error::custom)?),
                        None => None,
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(op)
    }
}

/// Go decodes a `[]byte` field with `base64.StdEncoding`, which skips line
/// breaks; its error names the offset of the bad input byte.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: Vec<u8> = text.bytes().filter(|&b| b != b'\r' && b != b'\n').collect();
    GO_STD_ENCODING.decode(&compact).map_err(|error| {
        let offset = match error {
            base64::DecodeError::InvalidByte(offset, _) => offset,
            base64::DecodeError::InvalidLastSymbol { offset, .. } => offset,
            base64::DecodeError::InvalidLength(length) => length,
            base64::DecodeError::InvalidPadding => compact.len(),
        };
        format!("illegal base64 data at input byte {offset}")
    })
}
