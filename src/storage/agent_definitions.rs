//! The services and checks registered through an agent's HTTP API, kept
//! across restarts as Consul persists them in its data directory: each as
//! the JSON body it was registered with, keyed by its ID, so a restarted
//! agent registers them again through the same decoder.
//!
//! One CRC-checked record in `DATA_DIR/agent/definitions`, replaced
//! atomically (temporary file, fsync, rename, fsync directory):
//!
//! ```text
//! offset size field
//!      0    4 magic "CCAD"
//!      4    4 format version (1)
//!      8    … JSON: {"services": {ID: body}, "checks": {ID: body}}
//!  end-4    4 crc32 of every byte before it
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use byteorder::{BigEndian, ByteOrder};
use serde_json::Value;

use super::durable_file::{read_bounded, remove_temporary_files, replace_atomically};
use super::error::{IoContext, Result, StorageError};

pub const AGENT_DIR_NAME: &str = "agent";
pub const DEFINITIONS_FILE_NAME: &str = "definitions";
const MAGIC: [u8; 4] = *b"CCAD";
const FORMAT_VERSION: u32 = 1;
/// Every service and check an agent may hold at the largest body the HTTP
/// API takes would be gigabytes; real definitions are small, and a file
/// past this is refused rather than read.
pub const MAX_DEFINITIONS_FILE_BYTES: u64 = 64 << 20;

/// The registered bodies by ID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentDefinitions {
    pub services: BTreeMap<String, Value>,
    pub checks: BTreeMap<String, Value>,
}

pub fn encode_definitions(definitions: &AgentDefinitions) -> Vec<u8> {
    let json = serde_json::json!({
        "services": definitions.services,
        "checks": definitions.checks,
    });
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(json.to_string().as_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StorageError {
    StorageError::Corruption {
        path: path.to_path_buf(),
        offset: 0,
        reason: reason.into(),
    }
}

fn bodies(path: &Path, json: &Value, key: &str) -> Result<BTreeMap<String, Value>> {
    match json.get(key) {
        None => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => Ok(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Some(_) => Err(corrupt(path, format!("{key} is not an object"))),
    }
}

pub fn decode_definitions(path: &Path, bytes: &[u8]) -> Result<AgentDefinitions> {
    if bytes.len() < 12 {
        return Err(corrupt(path, "shorter than its header and CRC"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != BigEndian::read_u32(crc) {
        return Err(corrupt(path, "CRC mismatch"));
    }
    if body[..4] != MAGIC {
        return Err(corrupt(path, "bad magic"));
    }
    let version = BigEndian::read_u32(&body[4..8]);
    if version != FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let json: Value =
        serde_json::from_slice(&body[8..]).map_err(|e| corrupt(path, format!("JSON: {e}")))?;
    Ok(AgentDefinitions {
        services: bodies(path, &json, "services")?,
        checks: bodies(path, &json, "checks")?,
    })
}

/// Where the definitions live; no file is held open between writes.
#[derive(Debug, Clone)]
pub struct AgentDefinitionsStore {
    path: PathBuf,
}

impl AgentDefinitionsStore {
    /// Opens `DATA_DIR/agent/`, deleting a temporary file a crash left.
    pub fn open(data_dir: &Path) -> Result<AgentDefinitionsStore> {
        let dir = data_dir.join(AGENT_DIR_NAME);
        fs::create_dir_all(&dir).at(&dir)?;
        remove_temporary_files(&dir, &[DEFINITIONS_FILE_NAME])?;
        Ok(AgentDefinitionsStore {
            path: dir.join(DEFINITIONS_FILE_NAME),
        })
    }

    /// The saved definitions, or none if none were ever saved.
    pub fn load(&self) -> Result<AgentDefinitions> {
        match read_bounded(&self.path, MAX_DEFINITIONS_FILE_BYTES)? {
            Some(bytes) => decode_definitions(&self.path, &bytes),
            None => Ok(AgentDefinitions::default()),
        }
    }

    pub fn save(&self, definitions: &AgentDefinitions) -> Result<()> {
        replace_atomically(&self.path, &encode_definitions(definitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_round_trip_and_damage_is_an_error() {
        let mut definitions = AgentDefinitions::default();
        definitions
            .services
            .insert("web".into(), serde_json::json!({"Name": "web", "Port": 80}));
        definitions.checks.insert(
            "disk".into(),
            serde_json::json!({"Name": "disk", "TTL": "10s"}),
        );
        let path = Path::new("definitions");
        let bytes = encode_definitions(&definitions);
        assert_eq!(decode_definitions(path, &bytes).unwrap(), definitions);
        for cut in [0, 5, bytes.len() - 1] {
            assert!(decode_definitions(path, &bytes[..cut]).is_err());
        }
        let mut flipped = bytes.clone();
        flipped[10] ^= 1;
        assert!(decode_definitions(path, &flipped).is_err());
    }
}
