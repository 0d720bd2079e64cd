//! The agent's settings, as the command line gives them, validated once so
//! the rest of the agent never re-checks them.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::wire::client_message::MAX_NAME_BYTES;

/// How a server forms a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// Wait to be joined to an existing cluster.
    None,
    /// Elect itself leader of a new single-server cluster (`--bootstrap`).
    Single,
    /// Wait for this many servers, then bootstrap together (`--bootstrap-expect`).
    Expect(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    pub server: bool,
    pub bootstrap: Bootstrap,
    pub data_dir: PathBuf,
    /// TCP and UDP are both bound here.
    pub bind: SocketAddr,
    /// What other nodes dial; the bind address unless `--advertise` is given.
    pub advertise: SocketAddr,
    pub node_name: String,
    pub datacenter: String,
    pub join: Vec<SocketAddr>,
}

/// Where the HTTP API listens (`--http-addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAddr {
    /// Not given: [`DEFAULT_HTTP_ADDR`] if it is free (several agents on
    /// one machine cannot all have it), else no HTTP, with a warning.
    Default,
    /// Given: must bind, or the agent does not start.
    At(SocketAddr),
    /// `--http-addr ""`: no HTTP API.
    Off,
}

/// Consul's default HTTP address.
pub const DEFAULT_HTTP_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    crate::agent::address::DEFAULT_HTTP_PORT,
));

/// Where DNS is served (`--dns-addr`), as [`HttpAddr`] for HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAddr {
    /// Not given: [`DEFAULT_DNS_ADDR`] if it is free, else no DNS, with a
    /// warning.
    Default,
    /// Given: must bind, or the agent does not start.
    At(SocketAddr),
    /// `--dns-addr ""`: no DNS.
    Off,
}

/// Consul's default DNS address.
pub const DEFAULT_DNS_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    crate::agent::address::DEFAULT_DNS_PORT,
));

/// How DNS is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsOptions {
    pub addr: DnsAddr,
    /// `--domain`: the zone answered, `consul.` by default.
    pub domain: String,
    /// `--dns-only-passing`: leave out instances with a warning check.
    pub only_passing: bool,
    /// `--recursor`: where names outside the domain are forwarded (UDP).
    pub recursor: Option<SocketAddr>,
    /// `dns_config.node_ttl` (files only).
    pub node_ttl_s: u32,
    /// `dns_config.service_ttl` (files only): name or `*` prefix, TTL.
    pub service_ttls_s: Vec<(String, u32)>,
}

/// The DNS flags as given: `None` (or `false`) where not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsFlags {
    pub addr: Option<DnsAddr>,
    pub domain: Option<String>,
    pub only_passing: bool,
    pub recursor: Option<SocketAddr>,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            addr: DnsAddr::Default,
            domain: "consul.".to_string(),
            only_passing: false,
            recursor: None,
            node_ttl_s: 0,
            service_ttls_s: Vec::new(),
        }
    }
}

/// How `node agent` runs, beyond the agent's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    pub http: HttpAddr,
    /// `--dev`: the data directory is a fresh temporary one, removed when
    /// the agent exits.
    pub temporary_data_dir: bool,
    /// `--enable-script-checks`: script checks registered over HTTP run
    /// (off, as Consul: a remote registration must not run commands).
    pub enable_script_checks: bool,
    /// `--config-file` and `--config-dir`, read again on reload.
    pub config_sources: crate::agent::config_file::ConfigSources,
    pub dns: DnsOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            http: HttpAddr::Default,
            temporary_data_dir: false,
            enable_script_checks: false,
            config_sources: Default::default(),
            dns: DnsOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl AgentConfig {
    /// Checks what the argument parser cannot: name lengths, an advertise
    /// address others can dial, a sane expected server count.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name("node name", &self.node_name)?;
        check_name("datacenter", &self.datacenter)?;
        if self.advertise.ip().is_unspecified() {
            return Err(ConfigError(format!(
                "advertise address {} is unspecified; other nodes cannot dial it (set --advertise)",
                self.advertise
            )));
        }
        if self.bootstrap != Bootstrap::None && !self.server {
            return Err(ConfigError(
                "--bootstrap and --bootstrap-expect require server mode".into(),
            ));
        }
        if let Bootstrap::Expect(0) = self.bootstrap {
            return Err(ConfigError("--bootstrap-expect must be at least 1".into()));
        }
        Ok(())
    }

    pub fn role(&self) -> &'static str {
        if self.server { "server" } else { "client" }
    }
}

fn check_name(what: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError(format!("{what} must not be empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(ConfigError(format!(
            "{what} is {} bytes, limit {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError(format!(
            "{what} {name:?} must not contain whitespace"
        )));
    }
    Ok(())
}

/// The host name, as Consul uses for the default node name: the kernel's
/// (`/proc/sys/kernel/hostname`), else `HOSTNAME`, else "node".
pub fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "node".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AgentConfig {
        let bind: SocketAddr = "127.0.0.1:8300".parse().unwrap();
        AgentConfig {
            server: true,
            bootstrap: Bootstrap::Single,
            data_dir: "./node-data".into(),
            bind,
            advertise: bind,
            node_name: "n1".into(),
            datacenter: "dc1".into(),
            join: vec![],
        }
    }

    #[test]
    fn valid_config_passes() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn unspecified_advertise_address_is_refused() {
        let mut c = config();
        c.advertise = "0.0.0.0:8300".parse().unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn bootstrap_requires_server_mode_and_a_positive_count() {
        let mut c = config();
        c.server = false;
        assert!(c.validate().is_err());
        let mut c = config();
        c.bootstrap = Bootstrap::Expect(0);
        assert!(c.validate().is_err());
    }

    #[test]
    fn names_with_spaces_or_empty_are_refused() {
        let mut c = config();
        c.node_name = "a b".into();
        assert!(c.validate().is_err());
        c.node_name = String::new();
        assert!(c.validate().is_err());
    }

    #[test]
    fn default_node_name_is_never_empty() {
        assert!(!default_node_name().is_empty());
    }
}
