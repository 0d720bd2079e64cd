//! JSON request bodies decoded as Go's `encoding/json` decodes them into
//! Consul's structs: a key matches its field exactly, else
//! case-insensitively (the first such key); unknown keys are ignored;
//! `null` leaves a field at its zero value; a wrongly typed value is a 400
//! in Consul's words ("Request decode failed: ...").

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::http::duration::parse_duration;
use crate::http::error::HttpError;

pub type Decoded<T> = Result<T, HttpError>;

/// The first JSON value of `body` (Go's decoder ignores what follows).
/// The caller has bounded the body.
pub fn parse_json(body: &[u8]) -> Decoded<Value> {
    let mut values = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) => Ok(value),
        Some(Err(err)) => Err(HttpError::bad_request(format!(
            "Request decode failed: {err}"
        ))),
        None => Err(HttpError::bad_request("Request decode failed: EOF")),
    }
}

/// Go's field match: the exact key, else the first case-insensitive one.
pub fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A field that is there and not `null` (Go leaves a nil pointer nil).
pub fn present<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    field(object, name).filter(|value| !value.is_null())
}

pub fn mistyped(name: &str, expected: &str) -> HttpError {
    HttpError::bad_request(format!(
        "Request decode failed: json: cannot unmarshal into field {name} of type {expected}"
    ))
}

pub fn object<'a>(value: &'a Value, name: &str) -> Decoded<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| mistyped(name, "object"))
}

pub fn array<'a>(value: &'a Value, name: &str) -> Decoded<&'a Vec<Value>> {
    value.as_array().ok_or_else(|| mistyped(name, "array"))
}

pub fn string(object: &Map<String, Value>, name: &str) -> Decoded<String> {
    match present(object, name) {
        None => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(mistyped(name, "string")),
    }
}

pub fn boolean(object: &Map<String, Value>, name: &str) -> Decoded<bool> {
    match present(object, name) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(mistyped(name, "bool")),
    }
}

pub fn unsigned<T: TryFrom<u64>>(object: &Map<String, Value>, name: &str) -> Decoded<Option<T>> {
    match present(object, name) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| mistyped(name, "unsigned integer")),
    }
}

pub fn strings(object: &Map<String, Value>, name: &str) -> Decoded<Vec<String>> {
    let Some(list) = present(object, name) else {
        return Ok(Vec::new());
    };
    array(list, name)?
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| mistyped(name, "[]string"))
        })
        .collect()
}

pub fn string_map(object: &Map<String, Value>, name: &str) -> Decoded<BTreeMap<String, String>> {
    let Some(map) = present(object, name) else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (key, value) in self::object(map, name)? {
        let value = value
            .as_str()
            .ok_or_else(|| mistyped(name, "map[string]string"))?;
        out.insert(key.clone(), value.to_owned());
    }
    Ok(out)
}

/// Go duration text (`"10s"`) or nanoseconds, as Consul's `api.ReadableDuration`.
pub fn duration_ms(object: &Map<String, Value>, name: &str) -> Decoded<u64> {
    let duration = match present(object, name) {
        None => return Ok(0),
        Some(Value::String(text)) if text.is_empty() => Duration::ZERO,
        Some(Value::String(text)) => parse_duration(text).map_err(|err| {
            HttpError::bad_request(format!("Request decode failed: {name}: {err}"))
        })?,
        Some(Value::Number(nanos)) => {
            Duration::from_nanos(nanos.as_u64().ok_or_else(|| mistyped(name, "duration"))?)
        }
        Some(_) => return Err(mistyped(name, "duration")),
    };
    Ok(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
