//! Commands of the replicated state machine: the `data` of a Raft log entry
//! of kind `Command`. A command is written once by the leader and decoded by
//! every server when the entry commits, possibly by a newer build years later,
//! so it starts with its own version byte. Layout in
//! `wire-spec.md` (section 9).

use super::client_message::{CatalogNode, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use super::error::WireError;
use super::reader::Reader;
use super::writer::WriteExt;

/// Version of the command encoding; bumped when a layout changes.
pub const COMMAND_VERSION: u8 = 1;
/// Node names, addresses, roles and datacenters are short; the limit keeps a
/// hostile catalog entry small (same limit as a Raft server entry).
pub const MAX_CATALOG_FIELD_BYTES: usize = 255;

const TAG_KV_PUT: u8 = 0x01;
const TAG_KV_DELETE: u8 = 0x02;
const TAG_CATALOG_REGISTER: u8 = 0x03;
const TAG_CATALOG_DEREGISTER: u8 = 0x04;

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Command {
    /// `cas`: `None` writes unconditionally; `Some(0)` creates only if the
    /// key is absent; `Some(i)` writes only if the key's ModifyIndex is `i`.
    KvPut {
        key: String,
        value: Vec<u8>,
        cas: Option<u64>,
    },
    /// With `recurse`, deletes every key that starts with `key`.
    KvDelete {
        key: String,
        recurse: bool,
    },
    /// Adds the node, or replaces the entry of the same name.
    CatalogRegister(CatalogNode),
    CatalogDeregister {
        name: String,
    },
}

impl Command {
    /// Appends the encoded command to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(COMMAND_VERSION);
        match self {
            Command::KvPut { key, value, cas } => {
                out.put_u8(TAG_KV_PUT);
                out.put_string(key);
                out.put_bytes(value);
                match cas {
                    None => out.put_u8(0),
                    Some(index) => {
                        out.put_u8(1);
                        out.put_u64(*index);
                    }
                }
            }
            Command::KvDelete { key, recurse } => {
                out.put_u8(TAG_KV_DELETE);
                out.put_string(key);
                out.put_bool(*recurse);
            }
            Command::CatalogRegister(node) => {
                out.put_u8(TAG_CATALOG_REGISTER);
                out.put_string(&node.name);
                out.put_string(&node.address);
                out.put_string(&node.role);
                out.put_string(&node.datacenter);
            }
            Command::CatalogDeregister { name } => {
                out.put_u8(TAG_CATALOG_DEREGISTER);
                out.put_string(name);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decodes a buffer holding exactly one command. Every length is checked
    /// against its limit and the remaining input before anything is copied.
    pub fn decode(bytes: &[u8]) -> Result<Command, WireError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != COMMAND_VERSION {
            return Err(WireError::UnknownVersion(version));
        }
        let command = match r.u8()? {
            TAG_KV_PUT => {
                let key = r.string("command.key", MAX_KEY_BYTES)?;
                let value = r.bytes("command.value", MAX_VALUE_BYTES)?.to_vec();
                let cas = match r.u8()? {
                    0 => None,
                    1 => Some(r.u64()?),
                    other => {
                        return Err(WireError::InvalidValue {
                            field: "command.cas_present",
                            value: u64::from(other),
                        });
                    }
                };
                Command::KvPut { key, value, cas }
            }
            TAG_KV_DELETE => {
                let key = r.string("command.key", MAX_KEY_BYTES)?;
                let recurse = r.bool("command.recurse")?;
                Command::KvDelete { key, recurse }
            }
            TAG_CATALOG_REGISTER => Command::CatalogRegister(CatalogNode {
                name: r.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
                address: r.string("catalog.address", MAX_CATALOG_FIELD_BYTES)?,
                role: r.string("catalog.role", MAX_CATALOG_FIELD_BYTES)?,
                datacenter: r.string("catalog.datacenter", MAX_CATALOG_FIELD_BYTES)?,
            }),
            TAG_CATALOG_DEREGISTER => Command::CatalogDeregister {
                name: r.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
            },
            other => return Err(WireError::UnknownMessageType(other)),
        };
        r.finish()?;
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_string(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), 0..16)
            .prop_map(move |chars| {
                let mut s: String = chars.into_iter().collect();
                while s.len() > max {
                    s.pop();
                }
                s
            })
            .boxed()
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        prop_oneof![
            (
                arb_string(MAX_KEY_BYTES),
                proptest::collection::vec(any::<u8>(), 0..64),
                proptest::option::of(any::<u64>())
            )
                .prop_map(|(key, value, cas)| Command::KvPut { key, value, cas }),
            (arb_string(MAX_KEY_BYTES), any::<bool>())
                .prop_map(|(key, recurse)| Command::KvDelete { key, recurse }),
            (
                arb_string(MAX_CATALOG_FIELD_BYTES),
                arb_string(MAX_CATALOG_FIELD_BYTES),
                arb_string(MAX_CATALOG_FIELD_BYTES),
                arb_string(MAX_CATALOG_FIELD_BYTES)
            )
                .prop_map(|(name, address, role, datacenter)| {
                    Command::CatalogRegister(CatalogNode {
                        name,
                        address,
                        role,
                        datacenter,
                    })
                }),
            arb_string(MAX_CATALOG_FIELD_BYTES)
                .prop_map(|name| Command::CatalogDeregister { name }),
        ]
    }

    proptest! {
        #[test]
        fn every_command_round_trips(command in arb_command()) {
            let bytes = command.to_bytes();
            prop_assert_eq!(Command::decode(&bytes), Ok(command));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Command::decode(&bytes);
        }

        #[test]
        fn every_strict_prefix_is_an_error(command in arb_command()) {
            let bytes = command.to_bytes();
            for len in 0..bytes.len() {
                prop_assert!(Command::decode(&bytes[..len]).is_err());
            }
        }
    }

    #[test]
    fn put_layout_is_byte_exact() {
        let bytes = Command::KvPut {
            key: "a".into(),
            value: vec![0xff],
            cas: Some(7),
        }
        .to_bytes();
        assert_eq!(
            bytes,
            [
                1, 0x01, 0, 0, 0, 1, b'a', 0, 0, 0, 1, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 7
            ]
        );
    }

    #[test]
    fn oversized_key_is_refused_before_copy() {
        let mut bytes = vec![COMMAND_VERSION, TAG_KV_DELETE];
        bytes.put_u32(513);
        bytes.extend(std::iter::repeat_n(b'k', 513));
        bytes.put_bool(false);
        assert_eq!(
            Command::decode(&bytes),
            Err(WireError::FieldTooLong {
                field: "command.key",
                len: 513,
                max: MAX_KEY_BYTES
            })
        );
    }

    #[test]
    fn unknown_version_and_tag_are_distinct_errors() {
        assert_eq!(
            Command::decode(&[2, TAG_KV_DELETE]),
            Err(WireError::UnknownVersion(2))
        );
        assert_eq!(
            Command::decode(&[COMMAND_VERSION, 0x77]),
            Err(WireError::UnknownMessageType(0x77))
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = Command::CatalogDeregister { name: "n".into() }.to_bytes();
        bytes.push(0);
        assert_eq!(Command::decode(&bytes), Err(WireError::TrailingBytes(1)));
    }
}
