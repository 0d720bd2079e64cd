//! Consul's `<hex>.addr.<dc>.<domain>` names: an IP address written as the
//! hex of its bytes (8 digits for IPv4, 32 for IPv6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address a hex label spells, or `None` when it spells none.
pub(crate) fn parse_addr_label(hex: &str) -> Option<IpAddr> {
    match hex.len() {
        8 => {
            let bytes: [u8; 4] = hex_bytes(hex)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(bytes)))
        }
        32 => {
            let bytes: [u8; 16] = hex_bytes(hex)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// The hex label for an address (lower case, as Go's `hex.EncodeToString`).
pub(crate) fn addr_label(ip: IpAddr) -> String {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| Some((hex_digit(pair[0])? << 4) | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}
