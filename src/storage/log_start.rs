//! Where the log begins: the first index it holds and the term of the entry
//! just before it. After a snapshot the entries up to the snapshot's last
//! index are dropped, yet Raft still needs the term at that boundary (the
//! AppendEntries consistency check for the first entry after a snapshot,
//! paper §7), so it is kept here, replaced atomically, and written *before*
//! any segment is deleted: it is the commit point of a compaction.
//!
//! ```text
//! offset size field
//!      0    4 magic "CCLS"
//!      4    4 format version (1)
//!      8    8 first_index   >= 1
//!     16    8 prev_term     term of entry first_index - 1 (0 when first_index is 1)
//!     24    4 crc32 of bytes 0..24
//! ```

use std::path::Path;

use byteorder::{BigEndian, ByteOrder};

use super::durable_file::{read_bounded, replace_atomically};
use super::error::{Result, StorageError};
use super::log_record::MAX_LOG_INDEX;
use crate::wire::writer::WriteExt;

pub const LOG_START_FILE_NAME: &str = "log_start";
const LOG_START_MAGIC: [u8; 4] = *b"CCLS";
const LOG_START_FORMAT_VERSION: u32 = 1;
const LOG_START_BYTES: usize = 28;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStart {
    pub first_index: u64,
    pub prev_term: u64,
}

impl LogStart {
    pub const EMPTY_LOG: LogStart = LogStart {
        first_index: 1,
        prev_term: 0,
    };
}

pub fn encode_log_start(start: LogStart) -> Vec<u8> {
    let mut out = Vec::with_capacity(LOG_START_BYTES);
    out.extend_from_slice(&LOG_START_MAGIC);
    out.put_u32(LOG_START_FORMAT_VERSION);
    out.put_u64(start.first_index);
    out.put_u64(start.prev_term);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

pub fn decode_log_start(path: &Path, bytes: &[u8]) -> Result<LogStart> {
    if bytes.len() != LOG_START_BYTES {
        return Err(StorageError::corruption(
            path,
            0,
            format!(
                "log start record is {} bytes, expected {LOG_START_BYTES}",
                bytes.len()
            ),
        ));
    }
    if crc32fast::hash(&bytes[..24]) != BigEndian::read_u32(&bytes[24..28]) {
        return Err(StorageError::corruption(path, 24, "log start CRC mismatch"));
    }
    if bytes[0..4] != LOG_START_MAGIC {
        return Err(StorageError::corruption(path, 0, "bad log start magic"));
    }
    let version = BigEndian::read_u32(&bytes[4..8]);
    if version != LOG_START_FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let first_index = BigEndian::read_u64(&bytes[8..16]);
    if first_index == 0 || first_index > MAX_LOG_INDEX {
        return Err(StorageError::corruption(
            path,
            8,
            "log start first index out of range",
        ));
    }
    Ok(LogStart {
        first_index,
        prev_term: BigEndian::read_u64(&bytes[16..24]),
    })
}

pub fn read_log_start(dir: &Path) -> Result<Option<LogStart>> {
    let path = dir.join(LOG_START_FILE_NAME);
    match read_bounded(&path, LOG_START_BYTES as u64)? {
        Some(bytes) => decode_log_start(&path, &bytes).map(Some),
        None => Ok(None),
    }
}

pub fn write_log_start(dir: &Path, start: LogStart) -> Result<()> {
    replace_atomically(&dir.join(LOG_START_FILE_NAME), &encode_log_start(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_start_round_trips_and_rejects_a_flipped_bit() {
        let start = LogStart {
            first_index: 101,
            prev_term: 7,
        };
        let bytes = encode_log_start(start);
        let path = Path::new("log_start");
        assert_eq!(decode_log_start(path, &bytes).unwrap(), start);
        let mut bad = bytes.clone();
        bad[12] ^= 2;
        assert!(decode_log_start(path, &bad).unwrap_err().is_corruption());
    }
}
