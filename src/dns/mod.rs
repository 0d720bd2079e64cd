//! Consul's DNS interface without I/O: a bounded query decoder that classifies
//! the question (`<service>.service.<domain>`, `<node>.node.<domain>`, ...) and
//! answer builders that turn catalog data into encoded responses, truncated to
//! what the transport carries. The agent's I/O layer owns the sockets and the
//! catalog reads; time (the SOA serial) and randomness (the shuffle seed) are
//! passed in. All DNS encoding and decoding goes through hickory-proto.
//!
//! The I/O layer's part, per query: [`parse_query`]; on an error, send
//! [`DnsError::response`] if there is one. Otherwise by [`DnsQuery::lookup`]:
//!
//! | lookup | catalog read | answer |
//! |---|---|---|
//! | `Service` | every instance of the service (names lower-cased; match them case-insensitively, as Consul's catalog does) | [`service_answer`] |
//! | `Node` | the node's address, if registered | [`node_answer`] |
//! | `Addr` | none | [`addr_answer`] |
//! | `Authority` | every instance of the `consul` service | [`authority_answer`] |
//! | `ZoneTransfer` | none | [`zone_transfer`] |
//! | `Unknown` | none | [`nxdomain`] |
//! | `OutsideDomain` | none | the recursor when there is one, else [`refused`] |
//!
//! A catalog read that fails is [`server_failure`].

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
pub use query::{DnsQuery, DnsQuestion, MAX_UDP_QUERY_BYTES, Transport, parse_query};
pub use response::{format_error, not_implemented, nxdomain, refused, server_failure};
pub use truncate::{MAX_EDNS_UDP_ANSWER_BYTES, MAX_TCP_MESSAGE_BYTES, MIN_UDP_ANSWER_BYTES};
