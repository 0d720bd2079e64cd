//! Consul's DNS interface without I/O: a bounded query decoder that classifies
//! the question (`<service>.service.<domain>`, `<node>.node.<domain>`, ...) and
//! answer builders that turn catalog data into encoded responses, truncated to
//! what the transport carries. The agent's I/O layer owns the sockets and the
//! catalog reads; time (the SOA serial) and randomness (the shuffle seed) are
//! passed in. All DNS encoding and decoding goes through hickory-proto.

mod addr;
mod answer;
mod authority;
mod config;
mod error;
mod instance;
mod name;
mod query;
mod records;
mod response;
mod service;
mod truncate;

#[cfg(test)]
mod tests;

pub use answer::{addr_answer, node_answer, service_answer};
pub use authority::{authority_answer, zone_transfer};
pub use config::DnsConfig;
pub use error::DnsError;
pub use instance::{DnsInstance, InstanceHealth};
pub use name::Lookup;
pub use query::{DnsQuery, DnsQuestion, Transport, parse_query};
pub use response::{format_error, not_implemented, nxdomain, refused, server_failure};
pub use truncate::{MAX_EDNS_UDP_ANSWER_BYTES, MAX_TCP_MESSAGE_BYTES, MIN_UDP_ANSWER_BYTES};
