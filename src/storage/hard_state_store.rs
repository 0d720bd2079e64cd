//! The hard state (term, vote, commit index, cluster ID) as one CRC-checked
//! record, replaced atomically: write `hard_state.tmp`, fsync, rename over
//! `hard_state`, fsync the directory. A crash before the rename leaves the
//! old record (the temporary file is deleted at open); after it, the new one.
//! Term and vote are never written separately, so a restarted server cannot
//! vote twice in one term (paper §5.2, Figure 2).
//!
//! ```text
//! offset size field
//!      0    4 magic "CCHS"
//!      4    4 format version (1)
//!      8    8 current_term
//!     16    1 has_vote       0 or 1
//!     17    8 voted_for      0 when has_vote is 0
//!     25    8 commit_index
//!     33   16 cluster_id
//!     49    4 crc32 of bytes 0..49
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use byteorder::{BigEndian, ByteOrder};

use super::durable_file::{read_bounded, remove_temporary_files, replace_atomically};
use super::error::{IoContext, Result, StorageError};
use crate::raft::HardState;
use crate::wire::writer::WriteExt;

pub const HARD_STATE_FILE_NAME: &str = "hard_state";
const HARD_STATE_MAGIC: [u8; 4] = *b"CCHS";
const HARD_STATE_FORMAT_VERSION: u32 = 1;
pub const HARD_STATE_BYTES: usize = 53;

pub fn encode_hard_state(state: &HardState) -> Vec<u8> {
    let mut out = Vec::with_capacity(HARD_STATE_BYTES);
    out.extend_from_slice(&HARD_STATE_MAGIC);
    out.put_u32(HARD_STATE_FORMAT_VERSION);
    out.put_u64(state.current_term);
    out.put_bool(state.voted_for.is_some());
    out.put_u64(state.voted_for.unwrap_or(0));
    out.put_u64(state.commit_index);
    out.put_u128(state.cluster_id);
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

pub fn decode_hard_state(path: &Path, bytes: &[u8]) -> Result<HardState> {
    if bytes.len() != HARD_STATE_BYTES {
        return Err(StorageError::corruption(
            path,
            0,
            format!(
                "hard state record is {} bytes, expected {HARD_STATE_BYTES}",
                bytes.len()
            ),
        ));
    }
    if crc32fast::hash(&bytes[..49]) != BigEndian::read_u32(&bytes[49..53]) {
        return Err(StorageError::corruption(
            path,
            49,
            "hard state CRC mismatch",
        ));
    }
    if bytes[0..4] != HARD_STATE_MAGIC {
        return Err(StorageError::corruption(path, 0, "bad hard state magic"));
    }
    let version = BigEndian::read_u32(&bytes[4..8]);
    if version != HARD_STATE_FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let voted_for = match bytes[16] {
        0 => None,
        1 => Some(BigEndian::read_u64(&bytes[17..25])),
        _ => {
            return Err(StorageError::corruption(
                path,
                16,
                "has_vote is neither 0 nor 1",
            ));
        }
    };
    Ok(HardState {
        current_term: BigEndian::read_u64(&bytes[8..16]),
        voted_for,
        commit_index: BigEndian::read_u64(&bytes[25..33]),
        cluster_id: BigEndian::read_u128(&bytes[33..49]),
    })
}

#[derive(Debug)]
pub struct HardStateStore {
    path: PathBuf,
}

impl HardStateStore {
    /// Opens the store in `dir` and returns the last saved state, or None if
    /// none was ever saved. A damaged record is an error, not "no state":
    /// forgetting a vote could let this server vote twice in a term.
    pub fn open(dir: &Path) -> Result<(HardStateStore, Option<HardState>)> {
        fs::create_dir_all(dir).at(dir)?;
        remove_temporary_files(dir, &[HARD_STATE_FILE_NAME])?;
        let path = dir.join(HARD_STATE_FILE_NAME);
        let state = match read_bounded(&path, HARD_STATE_BYTES as u64)? {
            Some(bytes) => Some(decode_hard_state(&path, &bytes)?),
            None => None,
        };
        Ok((HardStateStore { path }, state))
    }

    /// Durable when it returns Ok: a crash at any point leaves either the
    /// previous state or `state`, whole.
    pub fn save(&mut self, state: &HardState) -> Result<()> {
        replace_atomically(&self.path, &encode_hard_state(state))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_state_round_trips_with_and_without_a_vote() {
        let path = Path::new("hard_state");
        for voted_for in [None, Some(0), Some(u64::MAX)] {
            let state = HardState {
                current_term: 9,
                voted_for,
                commit_index: 77,
                cluster_id: u128::MAX - 5,
            };
            let bytes = encode_hard_state(&state);
            assert_eq!(bytes.len(), HARD_STATE_BYTES);
            assert_eq!(decode_hard_state(path, &bytes).unwrap(), state);
        }
    }

    #[test]
    fn any_flipped_bit_in_the_hard_state_is_an_error() {
        let bytes = encode_hard_state(&HardState {
            current_term: 3,
            voted_for: Some(2),
            commit_index: 1,
            cluster_id: 1,
        });
        for byte in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[byte] ^= 0x10;
            assert!(decode_hard_state(Path::new("h"), &bad).is_err());
        }
    }
}
