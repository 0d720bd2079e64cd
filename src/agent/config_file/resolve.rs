//! The agent's settings from its flags and its configuration files: a
//! flag given wins over any file, a file over the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::agent::address::{DEFAULT_PORT, parse_address};
use crate::agent::config::{
    AgentConfig, Bootstrap, DEFAULT_DNS_ADDR, DEFAULT_HTTP_ADDR, DnsAddr, DnsFlags, DnsOptions,
    HttpAddr, RunOptions,
};

use super::{ConfigSources, FileConfig, load};

/// The agent's flags as given: `None` (or `false`) where not given.
#[derive(Debug, Clone, Default)]
pub struct AgentFlags {
    pub server: bool,
    pub bootstrap: bool,
    pub bootstrap_expect: Option<u32>,
    pub data_dir: Option<PathBuf>,
    pub bind: Option<SocketAddr>,
    pub advertise: Option<SocketAddr>,
    pub node_name: Option<String>,
    pub datacenter: Option<String>,
    pub join: Vec<SocketAddr>,
    pub http: Option<HttpAddr>,
    pub dev: bool,
    pub enable_script_checks: bool,
    pub dns: DnsFlags,
    pub log_level: Option<String>,
    pub sources: ConfigSources,
}

#[derive(Debug)]
pub struct Resolved {
    pub config: AgentConfig,
    pub options: RunOptions,
    pub log_level: Option<String>,
    /// `--log-level` was given: a reload leaves the level alone.
    pub log_level_pinned: bool,
    /// The files' services and checks, registered at start.
    pub definitions: FileConfig,
}

pub const DEFAULT_DATA_DIR: &str = "./node-data";
pub const DEFAULT_DATACENTER: &str = "dc1";

fn bind(flags: &AgentFlags, file: &FileConfig) -> SocketAddr {
    if let Some(bind) = flags.bind {
        return bind;
    }
    let ip = file
        .bind_addr
        .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    SocketAddr::new(ip, file.server_port.unwrap_or(DEFAULT_PORT))
}

fn http(flags: &AgentFlags, file: &FileConfig) -> HttpAddr {
    if let Some(http) = flags.http {
        return http;
    }
    if file.http_addr.is_some() || file.http_port.is_some() {
        let ip = file.http_addr.unwrap_or(DEFAULT_HTTP_ADDR.ip());
        return HttpAddr::At(SocketAddr::new(
            ip,
            file.http_port.unwrap_or(DEFAULT_HTTP_ADDR.port()),
        ));
    }
    match flags.dev {
        true => HttpAddr::At(DEFAULT_HTTP_ADDR),
        false => HttpAddr::Default,
    }
}

fn dns(flags: &DnsFlags, file: &FileConfig) -> Result<DnsOptions, String> {
    let dns = &file.dns;
    let addr = match (flags.addr, dns.addr, dns.port) {
        (Some(addr), _, _) => addr,
        (None, _, Some(None)) => DnsAddr::Off,
        (None, None, None) => DnsAddr::Default,
        (None, ip, Some(Some(port))) => {
            DnsAddr::At(SocketAddr::new(ip.unwrap_or(DEFAULT_DNS_ADDR.ip()), port))
        }
        (None, Some(ip), None) => DnsAddr::At(SocketAddr::new(ip, DEFAULT_DNS_ADDR.port())),
    };
    // One recursor is asked (the first): answers are relayed from it alone.
    let recursor = match (flags.recursor, dns.recursors.first()) {
        (Some(recursor), _) => Some(recursor),
        (None, Some(text)) => {
            Some(parse_address(text, 53).map_err(|e| format!("config: recursors {text:?}: {e}"))?)
        }
        (None, None) => None,
    };
    let defaults = DnsOptions::default();
    Ok(DnsOptions {
        addr,
        domain: flags
            .domain
            .clone()
            .or(dns.domain.clone())
            .unwrap_or(defaults.domain),
        only_passing: flags.only_passing || dns.only_passing == Some(true),
        recursor,
        node_ttl_s: dns.node_ttl_s.unwrap_or(0),
        service_ttls_s: dns.service_ttls_s.clone(),
    })
}

fn join(flags: &AgentFlags, file: &FileConfig) -> Result<Vec<SocketAddr>, String> {
    let mut join = flags.join.clone();
    for text in &file.join {
        let address = parse_address(text, DEFAULT_PORT)
            .map_err(|e| format!("config: retry_join {text:?}: {e}"))?;
        if !join.contains(&address) {
            join.push(address);
        }
    }
    Ok(join)
}

/// Reads the files and settles every option.
pub fn resolve(
    flags: AgentFlags,
    default_node_name: impl FnOnce() -> String,
) -> Result<Resolved, String> {
    let file = load(&flags.sources)?;
    let bootstrap_single = flags.bootstrap || flags.dev || file.bootstrap == Some(true);
    let expect = flags.bootstrap_expect.or(file.bootstrap_expect);
    let bootstrap = match (bootstrap_single, expect) {
        (true, Some(_)) => return Err("bootstrap and bootstrap_expect cannot both be set".into()),
        (true, None) => Bootstrap::Single,
        (false, Some(n)) if n > 0 => Bootstrap::Expect(n),
        (false, Some(_)) => return Err("bootstrap_expect must be at least 1".into()),
        (false, None) => Bootstrap::None,
    };
    let bind = bind(&flags, &file);
    let advertise = flags
        .advertise
        .or(file
            .advertise_addr
            .map(|ip| SocketAddr::new(ip, bind.port())))
        .unwrap_or(bind);
    let config = AgentConfig {
        server: flags.server || file.server == Some(true) || bootstrap != Bootstrap::None,
        bootstrap,
        data_dir: flags
            .data_dir
            .clone()
            .or(file.data_dir.clone().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        bind,
        advertise,
        node_name: flags
            .node_name
            .clone()
            .or(file.node_name.clone())
            .unwrap_or_else(default_node_name),
        datacenter: flags
            .datacenter
            .clone()
            .or(file.datacenter.clone())
            .unwrap_or_else(|| DEFAULT_DATACENTER.into()),
        join: join(&flags, &file)?,
    };
    let options = RunOptions {
        http: http(&flags, &file),
        temporary_data_dir: flags.dev,
        enable_script_checks: flags.enable_script_checks || file.enable_script_checks == Some(true),
        config_sources: flags.sources.clone(),
        dns: dns(&flags.dns, &file)?,
    };
    Ok(Resolved {
        config,
        options,
        log_level: flags.log_level.clone().or(file.log_level.clone()),
        log_level_pinned: flags.log_level.is_some(),
        definitions: file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> (tempdir_like::Dir, ConfigSources) {
        let dir = tempdir_like::Dir::new();
        let path = dir.0.join("agent.json");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let sources = ConfigSources {
            files: vec![path],
            dirs: vec![],
        };
        (dir, sources)
    }

    mod tempdir_like {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU64, Ordering};
                static NEXT: AtomicU64 = AtomicU64::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path =
                    std::env::temp_dir().join(format!("concord-config-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn a_flag_overrides_the_file_and_the_file_the_defaults() {
        let (_dir, sources) = file(
            r#"{"datacenter": "east", "node_name": "from-file", "bind_addr": "10.1.1.1",
                "ports": {"server": 9300}, "server": true, "retry_join": ["10.1.1.2"]}"#,
        );
        let flags = AgentFlags {
            node_name: Some("from-flag".into()),
            sources,
            ..AgentFlags::default()
        };
        let resolved = resolve(flags, || "host".into()).unwrap();
        let config = resolved.config;
        assert_eq!(config.node_name, "from-flag");
        assert_eq!(config.datacenter, "east");
        assert_eq!(config.bind, "10.1.1.1:9300".parse().unwrap());
        assert!(config.server);
        assert_eq!(config.join, ["10.1.1.2:8300".parse().unwrap()]);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn a_bad_file_is_one_error_naming_the_file_and_the_field() {
        let (_dir, sources) = file(r#"{"bootstrap_expect": "three"}"#);
        let flags = AgentFlags {
            sources,
            ..AgentFlags::default()
        };
        let err = resolve(flags, || "host".into()).unwrap_err();
        assert!(
            err.contains("agent.json") && err.contains("field bootstrap_expect"),
            "{err}"
        );
    }
}
