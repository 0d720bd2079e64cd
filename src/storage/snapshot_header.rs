//! The header at the start of every snapshot file, followed by exactly
//! `size_bytes` of state-machine data.
//!
//! ```text
//! offset size field
//!      0    4 magic "CCSN"
//!      4    4 format version (1)
//!      8    8 last_included_index
//!     16    8 last_included_term
//!     24    8 size_bytes           bytes of data after the header
//!     32    4 data_crc             CRC32 of the data
//!     36    4 configuration_len    at most MAX_SNAPSHOT_CONFIGURATION_BYTES
//!     40    n configuration        wire::configuration encoding
//!   40+n    4 header_crc           CRC32 of bytes 0 .. 40+n
//! ```

use std::io::Read;
use std::path::Path;

use byteorder::{BigEndian, ByteOrder};

use super::error::{Result, StorageError};
use crate::wire::configuration::{configuration_from_bytes, encode_configuration};
use crate::wire::raft_message::Configuration;
use crate::wire::writer::WriteExt;

pub const SNAPSHOT_MAGIC: [u8; 4] = *b"CCSN";
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
const FIXED_HEADER_BYTES: usize = 40;
/// A configuration of a few hundred servers is a few tens of KiB; the limit
/// bounds what a damaged length can make us allocate.
pub const MAX_SNAPSHOT_CONFIGURATION_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotHeader {
    pub last_included_index: u64,
    pub last_included_term: u64,
    /// The cluster configuration as of `last_included_index`.
    pub configuration: Configuration,
    /// Bytes of state-machine data.
    pub size_bytes: u64,
}

/// The header with `size_bytes` and `data_crc` filled in; its length does
/// not depend on them, so a writer can reserve it first and patch it last.
pub fn encode_snapshot_header(meta: &SnapshotHeader, data_crc: u32) -> Vec<u8> {
    let mut configuration = Vec::new();
    encode_configuration(&meta.configuration, &mut configuration);
    let mut out = Vec::with_capacity(FIXED_HEADER_BYTES + configuration.len() + 4);
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    out.put_u32(SNAPSHOT_FORMAT_VERSION);
    out.put_u64(meta.last_included_index);
    out.put_u64(meta.last_included_term);
    out.put_u64(meta.size_bytes);
    out.put_u32(data_crc);
    out.put_bytes(&configuration);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

pub struct DecodedSnapshotHeader {
    pub meta: SnapshotHeader,
    pub data_crc: u32,
    pub header_bytes: u64,
}

/// Reads and checks a header from the start of `input`.
pub fn read_snapshot_header(path: &Path, input: &mut impl Read) -> Result<DecodedSnapshotHeader> {
    let read_error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            StorageError::corruption(path, 0, "snapshot file shorter than its header")
        } else {
            StorageError::io(path, source)
        }
    };
    let mut fixed = [0u8; FIXED_HEADER_BYTES];
    input.read_exact(&mut fixed).map_err(read_error)?;
    if fixed[0..4] != SNAPSHOT_MAGIC {
        return Err(StorageError::corruption(path, 0, "bad snapshot magic"));
    }
    let version = BigEndian::read_u32(&fixed[4..8]);
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let configuration_len = BigEndian::read_u32(&fixed[36..40]) as usize;
    if configuration_len > MAX_SNAPSHOT_CONFIGURATION_BYTES {
        return Err(StorageError::corruption(
            path,
            36,
            format!("configuration length {configuration_len} above the limit"),
        ));
    }
    let mut rest = vec![0u8; configuration_len + 4];
    input.read_exact(&mut rest).map_err(read_error)?;
    let (configuration, crc) = rest.split_at(configuration_len);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&fixed);
    hasher.update(configuration);
    let header_bytes = (FIXED_HEADER_BYTES + configuration_len) as u64;
    if hasher.finalize() != BigEndian::read_u32(crc) {
        return Err(StorageError::corruption(
            path,
            header_bytes,
            "snapshot header CRC mismatch",
        ));
    }
    let configuration = configuration_from_bytes(configuration).map_err(|e| {
        StorageError::corruption(
            path,
            FIXED_HEADER_BYTES as u64,
            format!("configuration: {e}"),
        )
    })?;
    Ok(DecodedSnapshotHeader {
        meta: SnapshotHeader {
            last_included_index: BigEndian::read_u64(&fixed[8..16]),
            last_included_term: BigEndian::read_u64(&fixed[16..24]),
            configuration,
            size_bytes: BigEndian::read_u64(&fixed[24..32]),
        },
        data_crc: BigEndian::read_u32(&fixed[32..36]),
        header_bytes: header_bytes + 4,
    })
}
