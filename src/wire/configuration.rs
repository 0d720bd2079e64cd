//! The byte layout of a cluster [`Configuration`]: used inside
//! InstallSnapshot, as the data of a configuration log entry, and in the
//! snapshot file header, so all three agree by construction.

use super::error::WireError;
use super::raft_message::{Configuration, ServerEntry, Suffrage};
use super::reader::Reader;
use super::writer::WriteExt;

/// Server names and addresses are short; the limit keeps a hostile entry small.
pub const MAX_SERVER_FIELD_BYTES: usize = 255;
/// One server's minimum encoding: id (8) + two empty strings (4 + 4) + suffrage (1).
const MIN_SERVER_BYTES: usize = 17;

pub fn encode_configuration(configuration: &Configuration, out: &mut Vec<u8>) {
    out.put_count(configuration.servers.len());
    for server in &configuration.servers {
        out.put_u64(server.id);
        out.put_string(&server.name);
        out.put_string(&server.address);
        out.put_u8(match server.suffrage {
            Suffrage::Voter => 0,
            Suffrage::NonVoter => 1,
        });
    }
}

pub fn decode_configuration(reader: &mut Reader<'_>) -> Result<Configuration, WireError> {
    let count = reader.count(MIN_SERVER_BYTES)?;
    let mut servers = Vec::with_capacity(count);
    for _ in 0..count {
        let id = reader.u64()?;
        let name = reader.string("server.name", MAX_SERVER_FIELD_BYTES)?;
        let address = reader.string("server.address", MAX_SERVER_FIELD_BYTES)?;
        let suffrage = match reader.u8()? {
            0 => Suffrage::Voter,
            1 => Suffrage::NonVoter,
            other => {
                return Err(WireError::InvalidValue {
                    field: "server.suffrage",
                    value: u64::from(other),
                });
            }
        };
        servers.push(ServerEntry {
            id,
            name,
            address,
            suffrage,
        });
    }
    Ok(Configuration { servers })
}

/// Decodes a whole buffer that holds exactly one configuration.
pub fn configuration_from_bytes(bytes: &[u8]) -> Result<Configuration, WireError> {
    let mut reader = Reader::new(bytes);
    let configuration = decode_configuration(&mut reader)?;
    reader.finish()?;
    Ok(configuration)
}

pub fn configuration_to_bytes(configuration: &Configuration) -> Vec<u8> {
    let mut out = Vec::new();
    encode_configuration(configuration, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_round_trips() {
        let configuration = Configuration {
            servers: vec![
                ServerEntry {
                    id: 7,
                    name: "a".into(),
                    address: "127.0.0.1:8300".into(),
                    suffrage: Suffrage::Voter,
                },
                ServerEntry {
                    id: 9,
                    name: "b".into(),
                    address: "127.0.0.2:8300".into(),
                    suffrage: Suffrage::NonVoter,
                },
            ],
        };
        let bytes = configuration_to_bytes(&configuration);
        assert_eq!(configuration_from_bytes(&bytes).unwrap(), configuration);
    }

    #[test]
    fn bad_suffrage_is_an_invalid_value() {
        let mut bytes = configuration_to_bytes(&Configuration {
            servers: vec![ServerEntry {
                id: 1,
                name: String::new(),
                address: String::new(),
                suffrage: Suffrage::Voter,
            }],
        });
        *bytes.last_mut().unwrap() = 5;
        assert!(matches!(
            configuration_from_bytes(&bytes),
            Err(WireError::InvalidValue { .. })
        ));
    }
}
