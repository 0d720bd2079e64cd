//! What a question name asks for, by Consul's label rules (agent/dns.go's
//! `dispatch`): the rightmost kind label (`service`, `node`, `addr`, ...)
//! splits the name into the parts before it and the locality after it.

use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use super::addr::parse_addr_label;

/// The meaning of a question name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `<service>.service[.<dc>].<domain>`, `<tag>.<service>.service...`, or
    /// RFC 2782's `_<service>._<tag>.service...` (the `service` label may be
    /// left out of an SRV question, as Consul allows).
    Service {
        service: String,
        tag: Option<String>,
        datacenter: Option<String>,
    },
    /// `<node>.node[.<dc>].<domain>`; the node name may contain dots.
    Node {
        node: String,
        datacenter: Option<String>,
    },
    /// `<hex address>.addr[.<dc>].<domain>`: the names Consul gives SRV
    /// targets whose service has an IP address of its own.
    Addr {
        ip: IpAddr,
        datacenter: Option<String>,
    },
    /// An SOA or NS question for any name under the domain: Consul answers
    /// these for the zone before looking at the name.
    Authority,
    /// An AXFR question under the domain: Consul answers NOTIMP.
    ZoneTransfer,
    /// Not under the domain: the recursor's business, or REFUSED.
    OutsideDomain,
    /// Under the domain but no form this server answers: NXDOMAIN. This
    /// includes Consul's `connect`, `ingress`, `virtual` and `query` forms,
    /// which need state this agent does not keep.
    Unknown,
}

/// The labels that name a lookup kind, as dns.go's `dispatch` lists them.
const KIND_LABELS: [&str; 7] = [
    "service", "connect", "virtual", "ingress", "node", "query", "addr",
];

/// RFC 2782 protocol labels that mean "any tag".
const ANY_TAG_PROTOCOLS: [&str; 2] = ["tcp", "udp"];

/// Classifies a question, its name given as labels (raw bytes, as on the
/// wire), against the domain's lower-cased labels.
pub(crate) fn classify(labels: &[&[u8]], domain: &[String], qtype: RecordType) -> Lookup {
    let Some(inner_count) = labels.len().checked_sub(domain.len()) else {
        return Lookup::OutsideDomain;
    };
    let under_domain = labels[inner_count..]
        .iter()
        .zip(domain)
        .all(|(label, want)| label.eq_ignore_ascii_case(want.as_bytes()));
    if !under_domain {
        return Lookup::OutsideDomain;
    }
    match qtype {
        RecordType::SOA | RecordType::NS => return Lookup::Authority,
        RecordType::AXFR => return Lookup::ZoneTransfer,
        _ => {}
    }
    let mut inner = Vec::with_capacity(inner_count);
    for label in &labels[..inner_count] {
        match std::str::from_utf8(label) {
            Ok(text) => inner.push(text.to_ascii_lowercase()),
            Err(_) => return Lookup::Unknown,
        }
    }
    classify_inner(&inner, qtype == RecordType::SRV)
}

fn classify_inner(labels: &[String], is_srv: bool) -> Lookup {
    for i in (0..labels.len()).rev() {
        let label = labels[i].as_str();
        if KIND_LABELS.contains(&label) {
            return classify_kind(label, &labels[..i], &labels[i + 1..]);
        }
        if is_srv && label.starts_with('_') {
            return classify_kind("service", &labels[..=i], &labels[i + 1..]);
        }
    }
    Lookup::Unknown
}

fn classify_kind(kind: &str, parts: &[String], suffixes: &[String]) -> Lookup {
    let Some(datacenter) = parse_locality(suffixes) else {
        return Lookup::Unknown;
    };
    match kind {
        "service" => service_lookup(parts, datacenter),
        "node" if !parts.is_empty() => Lookup::Node {
            node: parts.join("."),
            datacenter,
        },
        "addr" => match parts {
            [hex] => match parse_addr_label(hex) {
                Some(ip) => Lookup::Addr { ip, datacenter },
                None => Lookup::Unknown,
            },
            _ => Lookup::Unknown,
        },
        _ => Lookup::Unknown,
    }
}

/// The labels after the kind: none, `<dc>`, or `<dc>.dc`. `None` for any
/// other form (`<peer>.peer` among them: this agent has no peerings).
fn parse_locality(suffixes: &[String]) -> Option<Option<String>> {
    match suffixes {
        [] => Some(None),
        [datacenter] => Some(Some(datacenter.clone())),
        [datacenter, marker] if marker == "dc" => Some(Some(datacenter.clone())),
        _ => None,
    }
}

fn service_lookup(parts: &[String], datacenter: Option<String>) -> Lookup {
    let (service, tag) = match parts {
        [] => return Lookup::Unknown,
        [service, protocol] if service.starts_with('_') && protocol.starts_with('_') => {
            let tag = &protocol[1..];
            let tag = (!ANY_TAG_PROTOCOLS.contains(&tag)).then(|| tag.to_string());
            (service[1..].to_string(), tag)
        }
        [tags @ .., service] => {
            let tag = (!tags.is_empty()).then(|| tags.join("."));
            (service.clone(), tag)
        }
    };
    if service.is_empty() || tag.as_deref() == Some("") {
        return Lookup::Unknown;
    }
    Lookup::Service {
        service,
        tag,
        datacenter,
    }
}
