//! `/v1/kv/<key>`, following Consul's `agent/kvs_endpoint.go`: the read
//! options are parsed (and can fail) for every method, then the method
//! decides which flags mean what.

use super::{EndpointCall, RouteError};
use crate::http::api_request::{ApiRequest, KvDelete, KvDeleteMode, KvGet, KvPut, KvPutMode};
use crate::http::blocking::BlockingParams;
use crate::http::error::HttpError;
use crate::http::query::Query;

pub(super) fn route_kv(call: &EndpointCall<'_>) -> Result<ApiRequest, RouteError> {
    let blocking = BlockingParams::parse(call.query)?;
    let key = call.suffix;
    if key.starts_with('/') {
        return Err(HttpError::bad_request("key must not begin with a '/'").into());
    }
    match call.request.method.as_str() {
        "GET" => kv_get(key, call.query, blocking),
        "PUT" => kv_put(key, call, blocking),
        _ => kv_delete(key, call.query, blocking),
    }
}

/// `?keys` wins over `?recurse`, and `?raw` only applies to a single key,
/// as in Consul; the typed request carries only the flags that apply.
fn kv_get(key: &str, query: &Query, blocking: BlockingParams) -> Result<ApiRequest, RouteError> {
    let keys_only = query.has("keys");
    let recurse = !keys_only && query.has("recurse");
    if !keys_only && !recurse && key.is_empty() {
        return Err(missing_key_name());
    }
    // Consul still accepts its historic misspelling; the right one wins.
    let separator = if keys_only {
        query
            .get("separator")
            .or_else(|| query.get("seperator"))
            .filter(|separator| !separator.is_empty())
            .map(str::to_string)
    } else {
        None
    };
    Ok(ApiRequest::KvGet(KvGet {
        key: key.to_string(),
        recurse,
        keys_only,
        separator,
        raw: !keys_only && !recurse && query.has("raw"),
        blocking,
    }))
}

fn kv_put(
    key: &str,
    call: &EndpointCall<'_>,
    blocking: BlockingParams,
) -> Result<ApiRequest, RouteError> {
    let query = call.query;
    if key.is_empty() {
        return Err(missing_key_name());
    }
    reject_conflicting_flags(query, &["cas", "acquire", "release"])?;
    // Consul answers a malformed number with 500 and Go's parse error; a
    // client's mistake is a 400 here, with the same text.
    let flags = query
        .u64_value("flags")
        .map_err(|error| HttpError::bad_request(error.to_string()))?
        .unwrap_or(0);
    let mode = if let Some(index) = query
        .u64_value("cas")
        .map_err(|error| HttpError::bad_request(error.to_string()))?
    {
        KvPutMode::Cas { index }
    } else if let Some(session) = query.get("acquire") {
        KvPutMode::Acquire {
            session: session.to_string(),
        }
    } else if let Some(session) = query.get("release") {
        KvPutMode::Release {
            session: session.to_string(),
        }
    } else {
        KvPutMode::Set
    };
    let value = &call.request.body;
    let limit = call.limits.body_limit("PUT", &call.request.path);
    if value.len() > limit.max_bytes {
        return Err(limit.too_large(Some(value.len() as u64)).into());
    }
    Ok(ApiRequest::KvPut(KvPut {
        key: key.to_string(),
        flags,
        mode,
        value: value.clone(),
        datacenter: blocking.datacenter,
    }))
}

fn kv_delete(key: &str, query: &Query, blocking: BlockingParams) -> Result<ApiRequest, RouteError> {
    reject_conflicting_flags(query, &["recurse", "cas"])?;
    let mode = if query.has("recurse") {
        KvDeleteMode::Recurse
    } else if key.is_empty() {
        return Err(missing_key_name());
    } else if let Some(index) = query
        .u64_value("cas")
        .map_err(|error| HttpError::bad_request(error.to_string()))?
    {
        KvDeleteMode::Cas { index }
    } else {
        KvDeleteMode::Single
    };
    Ok(ApiRequest::KvDelete(KvDelete {
        key: key.to_string(),
        mode,
        datacenter: blocking.datacenter,
    }))
}

fn missing_key_name() -> RouteError {
    HttpError::bad_request("Missing key name").into()
}

/// Consul's `conflictingFlags`: two of these at once is a 400 that echoes
/// the whole query, encoded as Go's `url.Values.Encode`.
fn reject_conflicting_flags(query: &Query, flags: &[&str]) -> Result<(), RouteError> {
    if flags.iter().filter(|flag| query.has(flag)).count() > 1 {
        return Err(HttpError::bad_request(format!(
            "Conflicting flags: {}",
            query.encode_sorted()
        ))
        .into());
    }
    Ok(())
}
