//! DNS from the outside: agents with the DNS port on their own address
//! (port 18600, UDP and TCP), `dig` against them, and catalog
//! registrations to look up.

use std::process::Command;

use serde_json::Value;

use super::http_agents::{HttpAgent, cluster_with};

pub const DNS_PORT: u16 = 18600;

/// [`super::http_agents::cluster`] with DNS at `prefix.i:18600`.
pub fn dns_cluster(prefix: &str) -> Vec<HttpAgent> {
    cluster_with(prefix, |ip| {
        vec!["--dns-addr".to_string(), format!("{ip}:{DNS_PORT}")]
    })
}

/// Where an agent serves DNS: its bind IP, port 18600.
pub fn dns_ip(agent: &HttpAgent) -> String {
    let (ip, _) = agent.bind.rsplit_once(':').expect("bind is IP:port");
    ip.to_string()
}

/// `dig @IP -p 18600 ARGS` with short timeouts and no retries (a lost
/// answer fails the try; the tests' waits try again); its stdout.
pub fn dig(ip: &str, args: &[&str]) -> String {
    let output = Command::new("dig")
        .arg(format!("@{ip}"))
        .args(["-p", &DNS_PORT.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("run dig (Debian package bind9-dnsutils; .ci/run installs it)");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `dig +short`, its lines sorted.
pub fn dig_short(ip: &str, args: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = dig(ip, &[args, &["+short"]].concat())
        .lines()
        .map(str::to_owned)
        .filter(|line| !line.is_empty() && !line.starts_with(';'))
        .collect();
    lines.sort();
    lines
}

/// The response code dig reports (`NOERROR`, `NXDOMAIN`, ...).
pub fn dig_status(output: &str) -> Option<String> {
    let (_, rest) = output.split_once("status: ")?;
    Some(rest.split(',').next()?.trim().to_string())
}

/// The header flags dig reports (`qr aa rd tc`).
pub fn dig_flags(output: &str) -> Vec<String> {
    let Some((_, rest)) = output.split_once(";; flags: ") else {
        return Vec::new();
    };
    let flags = rest.split(';').next().unwrap_or("");
    flags.split_whitespace().map(str::to_owned).collect()
}

/// `PUT /v1/catalog/register`; panics unless the cluster takes it.
pub fn register(agent: &HttpAgent, body: &Value) {
    let reply = agent
        .http()
        .put("/v1/catalog/register", body.to_string().as_bytes());
    assert_eq!(reply.status, 200, "register {body}: {}", reply.text());
}
