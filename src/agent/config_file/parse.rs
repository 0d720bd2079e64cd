//! One configuration file's JSON, in Consul's agent-configuration format:
//! the agent options this project has and the `service`/`services` and
//! `check`/`checks` definitions. Keys are Consul's snake_case names; an
//! unknown key or a wrongly typed value is an error naming the field, as
//! Consul refuses them.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::agent::local_state::{CheckSpec, RegistrationSource, ServiceRegistration};
use crate::http::agent_checks::decode_check_register;
use crate::http::agent_services::decode_service_register;

use super::dns::{self, DnsFile};

/// What one file says; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileConfig {
    pub server: Option<bool>,
    pub bootstrap: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    pub datacenter: Option<String>,
    pub node_name: Option<String>,
    pub data_dir: Option<String>,
    pub bind_addr: Option<IpAddr>,
    pub advertise_addr: Option<IpAddr>,
    /// `ports.server`: the peer port.
    pub server_port: Option<u16>,
    /// `addresses.http` and `ports.http`.
    pub http_addr: Option<IpAddr>,
    pub http_port: Option<u16>,
    /// `retry_join` and `start_join`, as given (`IP` or `IP:PORT`).
    pub join: Vec<String>,
    pub log_level: Option<String>,
    pub enable_script_checks: Option<bool>,
    pub services: Vec<ServiceRegistration>,
    pub checks: Vec<CheckSpec>,
    pub dns: DnsFile,
}

/// A field of the file and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

pub(super) type Parsed<T> = Result<T, FieldError>;

pub(super) fn wrong(field: &str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn boolean(value: &Value, field: &str) -> Parsed<bool> {
    value
        .as_bool()
        .ok_or_else(|| wrong(field, "expected true or false"))
}

pub(super) fn text(value: &Value, field: &str) -> Parsed<String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| wrong(field, "expected a string"))
}

fn number<T: TryFrom<u64>>(value: &Value, field: &str) -> Parsed<T> {
    value
        .as_u64()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| wrong(field, "expected a whole number in range"))
}

pub(super) fn ip(value: &Value, field: &str) -> Parsed<IpAddr> {
    text(value, field)?
        .parse()
        .map_err(|_| wrong(field, "expected an IP address"))
}

pub(super) fn strings(value: &Value, field: &str) -> Parsed<Vec<String>> {
    let list = value
        .as_array()
        .ok_or_else(|| wrong(field, "expected a list of strings"))?;
    list.iter().map(|item| text(item, field)).collect()
}

pub(super) fn object<'a>(value: &'a Value, field: &str) -> Parsed<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| wrong(field, "expected an object"))
}

/// A definition, or a list of them, as Consul takes `service` and
/// `services` alike.
fn definitions<'a>(value: &'a Value, field: &str) -> Parsed<Vec<&'a Value>> {
    match value {
        Value::Array(list) => Ok(list.iter().collect()),
        Value::Object(_) => Ok(vec![value]),
        _ => Err(wrong(field, "expected an object or a list of objects")),
    }
}

fn service(value: &Value, field: &str) -> Parsed<ServiceRegistration> {
    let bytes = serde_json::to_vec(value).map_err(|e| wrong(field, e.to_string()))?;
    let mut registration =
        decode_service_register(&bytes, false).map_err(|e| wrong(field, e.reason))?;
    registration.source = RegistrationSource::Local;
    Ok(registration)
}

fn check(value: &Value, field: &str) -> Parsed<CheckSpec> {
    let bytes = serde_json::to_vec(value).map_err(|e| wrong(field, e.to_string()))?;
    decode_check_register(&bytes).map_err(|e| wrong(field, e.reason))
}

fn ports(config: &mut FileConfig, value: &Value) -> Parsed<()> {
    for (key, value) in object(value, "ports")? {
        let field = format!("ports.{key}");
        match key.as_str() {
            "server" => config.server_port = Some(number(value, &field)?),
            "http" => config.http_port = Some(number(value, &field)?),
            "dns" => dns::port(&mut config.dns, value, &field)?,
            _ => return Err(wrong(&field, "not supported by this agent")),
        }
    }
    Ok(())
}

fn addresses(config: &mut FileConfig, value: &Value) -> Parsed<()> {
    for (key, value) in object(value, "addresses")? {
        let field = format!("addresses.{key}");
        match key.as_str() {
            "http" => config.http_addr = Some(ip(value, &field)?),
            "dns" => dns::address(&mut config.dns, value, &field)?,
            _ => return Err(wrong(&field, "not supported by this agent")),
        }
    }
    Ok(())
}

/// One key of the file's top level.
fn key(config: &mut FileConfig, key: &str, value: &Value) -> Parsed<()> {
    match key {
        "server" => config.server = Some(boolean(value, key)?),
        "bootstrap" => config.bootstrap = Some(boolean(value, key)?),
        "bootstrap_expect" => config.bootstrap_expect = Some(number(value, key)?),
        "datacenter" => config.datacenter = Some(text(value, key)?),
        "node_name" => config.node_name = Some(text(value, key)?),
        "data_dir" => config.data_dir = Some(text(value, key)?),
        "bind_addr" => config.bind_addr = Some(ip(value, key)?),
        "advertise_addr" => config.advertise_addr = Some(ip(value, key)?),
        "retry_join" | "start_join" => config.join.extend(strings(value, key)?),
        "log_level" => config.log_level = Some(text(value, key)?),
        "enable_script_checks" | "enable_local_script_checks" => {
            config.enable_script_checks = Some(boolean(value, key)?);
        }
        "ports" => ports(config, value)?,
        "addresses" => addresses(config, value)?,
        "domain" => dns::domain(&mut config.dns, value, key)?,
        "recursors" | "recursor" => dns::recursors(&mut config.dns, value, key)?,
        "dns_config" => dns::dns_config(&mut config.dns, value)?,
        "service" | "services" => {
            for (i, item) in definitions(value, key)?.into_iter().enumerate() {
                config.services.push(service(item, &format!("{key}[{i}]"))?);
            }
        }
        "check" | "checks" => {
            for (i, item) in definitions(value, key)?.into_iter().enumerate() {
                config.checks.push(check(item, &format!("{key}[{i}]"))?);
            }
        }
        other => return Err(wrong(other, "unknown or unsupported configuration key")),
    }
    Ok(())
}

/// The file's text, whole.
pub fn parse_file(text: &str) -> Parsed<FileConfig> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| wrong("(file)", format!("invalid JSON: {e}")))?;
    let top = object(&value, "(file)")?;
    let mut config = FileConfig::default();
    for (name, value) in top {
        key(&mut config, name, value)?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consuls_keys_and_definitions_are_read() {
        let config = parse_file(
            r#"{"server": true, "bootstrap_expect": 3, "datacenter": "east",
                "node_name": "n1", "bind_addr": "10.0.0.1", "ports": {"server": 9300, "http": 9500},
                "addresses": {"http": "0.0.0.0"}, "retry_join": ["10.0.0.2"],
                "enable_script_checks": true,
                "service": {"name": "web", "port": 80, "check": {"ttl": "10s"}},
                "checks": [{"name": "disk", "ttl": "30s"}]}"#,
        )
        .unwrap();
        assert_eq!(config.server, Some(true));
        assert_eq!(config.bootstrap_expect, Some(3));
        assert_eq!(config.server_port, Some(9300));
        assert_eq!(config.http_addr, Some("0.0.0.0".parse().unwrap()));
        assert_eq!(config.join, ["10.0.0.2"]);
        assert_eq!(config.services.len(), 1);
        assert_eq!(config.services[0].source, RegistrationSource::Local);
        assert_eq!(config.checks[0].name, "disk");
    }

    #[test]
    fn a_bad_field_is_named() {
        let err = |text: &str| parse_file(text).unwrap_err();
        assert_eq!(err(r#"{"server": "yes"}"#).field, "server");
        assert_eq!(err(r#"{"ports": {"http": 70000}}"#).field, "ports.http");
        assert_eq!(err(r#"{"bind_addr": "nowhere"}"#).field, "bind_addr");
        assert_eq!(err(r#"{"servre": true}"#).field, "servre");
        assert_eq!(err(r#"{"services": [{"port": 1}]}"#).field, "services[0]");
        assert!(err("{not json").reason.contains("invalid JSON"));
    }
}
