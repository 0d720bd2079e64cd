//! Every byte that crosses the network: the TCP preamble and frames, UDP
//! gossip datagrams, and the layout of each message. `wire-spec.md` at the
//! repository root is the byte-exact description of what this module does.

pub mod catalog_instances;
pub mod catalog_registration;
pub mod client_catalog;
pub mod client_kv;
pub mod client_message;
pub mod client_operator;
pub mod command;
pub mod configuration;
pub mod datagram;
pub mod error;
pub mod frame;
pub mod gossip_message;
pub mod message;
pub mod raft_message;
pub mod reader;
#[cfg(test)]
pub(crate) mod test_support;
pub mod writer;

pub use error::WireError;
pub use message::Message;

/// Fuzz inputs for `Bytes` fields (the `bytes` crate does not derive them).
#[cfg(feature = "fuzzing")]
pub fn arbitrary_bytes(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<bytes::Bytes> {
    Ok(bytes::Bytes::from(
        <Vec<u8> as arbitrary::Arbitrary>::arbitrary(u)?,
    ))
}
