//! Parsing of the addresses operators type: `IP` or `IP:PORT` (IPv6 as
//! `::1` or `[::1]:PORT`). Host names are refused on purpose: an agent
//! advertises and dials exact addresses, and a name that resolves
//! differently on each node would split the cluster's view of itself.

use std::net::{IpAddr, SocketAddr};

/// The peer port (TCP for Raft and RPC, UDP for gossip), as Consul's 8300.
pub const DEFAULT_PORT: u16 = 8300;
/// The HTTP API's port, as Consul's 8500.
pub const DEFAULT_HTTP_PORT: u16 = 8500;
/// Consul's DNS port (UDP and TCP).
pub const DEFAULT_DNS_PORT: u16 = 8600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError {
    pub input: String,
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid address {:?}: expected IP or IP:PORT (for example 127.0.0.1 or 127.0.0.1:8300)",
            self.input
        )
    }
}

impl std::error::Error for AddressError {}

/// `IP` gets `default_port`; `IP:PORT` is taken as written. Port 0 is
/// refused: nobody can dial it and binding it would hide the real port.
pub fn parse_address(input: &str, default_port: u16) -> Result<SocketAddr, AddressError> {
    let error = || AddressError {
        input: input.to_owned(),
    };
    let trimmed = input.trim();
    let address = if let Ok(address) = trimmed.parse::<SocketAddr>() {
        address
    } else if let Ok(ip) = trimmed.parse::<IpAddr>() {
        SocketAddr::new(ip, default_port)
    } else if let Some(inner) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let ip = inner.parse::<IpAddr>().map_err(|_| error())?;
        SocketAddr::new(ip, default_port)
    } else {
        return Err(error());
    };
    if address.port() == 0 {
        return Err(error());
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_ip_gets_the_default_port() {
        assert_eq!(
            parse_address("127.0.0.1", DEFAULT_PORT).unwrap(),
            "127.0.0.1:8300".parse().unwrap()
        );
        assert_eq!(
            parse_address("::1", DEFAULT_PORT).unwrap(),
            "[::1]:8300".parse().unwrap()
        );
        assert_eq!(
            parse_address("[::1]", DEFAULT_PORT).unwrap(),
            "[::1]:8300".parse().unwrap()
        );
    }

    #[test]
    fn explicit_port_is_kept() {
        assert_eq!(
            parse_address("10.0.0.5:9000", DEFAULT_PORT).unwrap(),
            "10.0.0.5:9000".parse().unwrap()
        );
    }

    #[test]
    fn host_names_bad_ports_and_garbage_are_refused() {
        for input in [
            "localhost",
            "127.0.0.1:99999",
            "127.0.0.1:0",
            "127.0.0.1:",
            "",
            "1.2.3",
            "x:1",
        ] {
            assert!(parse_address(input, DEFAULT_PORT).is_err(), "{input}");
        }
    }
}
