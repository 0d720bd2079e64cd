//! The DNS interface's keys of a configuration file, as Consul names them:
//! `addresses.dns`, `ports.dns` (`-1` turns DNS off), `domain`,
//! `recursors`, and `dns_config` (`node_ttl`, `service_ttl` by service
//! name or `*` prefix, `only_passing`).

use std::net::IpAddr;

use serde_json::Value;

use crate::http::duration::parse_duration;

use super::parse::{Parsed, boolean, ip, object, strings, text, wrong};

/// What the files say of DNS; `None` (or empty) where they say nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsFile {
    pub addr: Option<IpAddr>,
    /// `ports.dns`; `Some(None)` is `-1`, DNS off.
    pub port: Option<Option<u16>>,
    pub domain: Option<String>,
    /// `recursors`, as given (`IP` or `IP:PORT`).
    pub recursors: Vec<String>,
    pub only_passing: Option<bool>,
    pub node_ttl_s: Option<u32>,
    /// `service_ttl`'s entries, in the file's order.
    pub service_ttls_s: Vec<(String, u32)>,
}

impl DnsFile {
    /// Later files win; recursors and service TTLs add up.
    pub fn merge(&mut self, next: DnsFile) {
        self.addr = next.addr.or(self.addr);
        self.port = next.port.or(self.port);
        self.domain = next.domain.or(self.domain.take());
        self.only_passing = next.only_passing.or(self.only_passing);
        self.node_ttl_s = next.node_ttl_s.or(self.node_ttl_s);
        self.recursors.extend(next.recursors);
        self.service_ttls_s.extend(next.service_ttls_s);
    }
}

pub(super) fn address(dns: &mut DnsFile, value: &Value, field: &str) -> Parsed<()> {
    dns.addr = Some(ip(value, field)?);
    Ok(())
}

pub(super) fn port(dns: &mut DnsFile, value: &Value, field: &str) -> Parsed<()> {
    dns.port = match value.as_i64() {
        Some(-1) => Some(None),
        Some(port) => {
            Some(Some(u16::try_from(port).map_err(|_| {
                wrong(field, "expected a port, or -1 to turn DNS off")
            })?))
        }
        None => return Err(wrong(field, "expected a port, or -1 to turn DNS off")),
    };
    Ok(())
}

pub(super) fn domain(dns: &mut DnsFile, value: &Value, field: &str) -> Parsed<()> {
    dns.domain = Some(text(value, field)?);
    Ok(())
}

pub(super) fn recursors(dns: &mut DnsFile, value: &Value, field: &str) -> Parsed<()> {
    match value {
        Value::String(one) => dns.recursors.push(one.clone()),
        _ => dns.recursors.extend(strings(value, field)?),
    }
    Ok(())
}

fn ttl_s(value: &Value, field: &str) -> Parsed<u32> {
    let duration = parse_duration(&text(value, field)?)
        .map_err(|e| wrong(field, format!("expected a duration such as \"30s\": {e}")))?;
    u32::try_from(duration.as_secs()).map_err(|_| wrong(field, "too long"))
}

pub(super) fn dns_config(dns: &mut DnsFile, value: &Value) -> Parsed<()> {
    for (key, value) in object(value, "dns_config")? {
        let field = format!("dns_config.{key}");
        match key.as_str() {
            "node_ttl" => dns.node_ttl_s = Some(ttl_s(value, &field)?),
            "only_passing" => dns.only_passing = Some(boolean(value, &field)?),
            "service_ttl" => {
                for (name, ttl) in object(value, &field)? {
                    let ttl = ttl_s(ttl, &format!("{field}.{name}"))?;
                    dns.service_ttls_s.push((name.clone(), ttl));
                }
            }
            _ => return Err(wrong(&field, "not supported by this agent")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::agent::config_file::parse_file;

    #[test]
    fn consuls_dns_keys_are_read() {
        let config = parse_file(
            r#"{"addresses": {"dns": "0.0.0.0"}, "ports": {"dns": 53}, "domain": "internal",
                "recursors": ["8.8.8.8"],
                "dns_config": {"node_ttl": "30s", "only_passing": true,
                               "service_ttl": {"*": "5s", "web": "1m"}}}"#,
        )
        .unwrap();
        let dns = config.dns;
        assert_eq!(dns.addr, Some("0.0.0.0".parse().unwrap()));
        assert_eq!(dns.port, Some(Some(53)));
        assert_eq!(dns.domain.as_deref(), Some("internal"));
        assert_eq!(dns.recursors, ["8.8.8.8"]);
        assert_eq!((dns.node_ttl_s, dns.only_passing), (Some(30), Some(true)));
        assert_eq!(
            dns.service_ttls_s,
            [("*".to_string(), 5), ("web".to_string(), 60)]
        );
        let off = parse_file(r#"{"ports": {"dns": -1}}"#).unwrap();
        assert_eq!(off.dns.port, Some(None));
    }

    #[test]
    fn a_bad_dns_field_is_named() {
        let err = |text: &str| parse_file(text).unwrap_err().field;
        assert_eq!(err(r#"{"ports": {"dns": -2}}"#), "ports.dns");
        assert_eq!(
            err(r#"{"dns_config": {"node_ttl": "soon"}}"#),
            "dns_config.node_ttl"
        );
        assert_eq!(
            err(r#"{"dns_config": {"service_ttl": {"web": 5}}}"#),
            "dns_config.service_ttl.web"
        );
        assert_eq!(
            err(r#"{"dns_config": {"udp_answer_limit": 3}}"#),
            "dns_config.udp_answer_limit"
        );
    }
}
