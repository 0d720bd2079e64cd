//! The gossip members an agent knew, kept so that an agent stopped without
//! leaving (SIGTERM, crash) rejoins them by itself when it restarts, as
//! serf's snapshot does; and the "left" marker, so that an agent that left
//! gracefully stays out until the operator runs `node join` again.
//!
//! One CRC-checked record in `DATA_DIR/gossip/members`, replaced atomically
//! (temporary file, fsync, rename, fsync directory):
//!
//! ```text
//! offset size field
//!      0    4 magic "CCML"
//!      4    4 format version (1)
//!      8    1 left            0 or 1
//!      9    4 member count    at most MAX_REMEMBERED_MEMBERS
//!     13    … per member: name (u32 length + UTF-8), address (u32 length + UTF-8)
//!  end-4    4 crc32 of every byte before it
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use byteorder::{BigEndian, ByteOrder};

use super::durable_file::{read_bounded, remove_temporary_files, replace_atomically};
use super::error::{IoContext, Result, StorageError};
use crate::wire::gossip_message::{MAX_ADDRESS_BYTES, MAX_NAME_BYTES};
use crate::wire::reader::Reader;
use crate::wire::writer::WriteExt;

pub const MEMBER_LIST_DIR_NAME: &str = "gossip";
pub const MEMBER_LIST_FILE_NAME: &str = "members";
const MEMBER_LIST_MAGIC: [u8; 4] = *b"CCML";
const MEMBER_LIST_FORMAT_VERSION: u32 = 1;
/// Rejoining needs only a few live members; the bound keeps the file (and
/// a hostile one's decoding) small.
pub const MAX_REMEMBERED_MEMBERS: usize = 1024;
/// Magic, version, left flag, count, CRC.
const MEMBER_LIST_FIXED_BYTES: usize = 4 + 4 + 1 + 4 + 4;
/// Two empty strings.
const MIN_REMEMBERED_MEMBER_BYTES: usize = 8;
/// The longest file a valid list can be: every member at its field limits.
pub const MAX_MEMBER_LIST_FILE_BYTES: usize = MEMBER_LIST_FIXED_BYTES
    + MAX_REMEMBERED_MEMBERS * (MIN_REMEMBERED_MEMBER_BYTES + MAX_NAME_BYTES + MAX_ADDRESS_BYTES);

/// What the agent remembers across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberList {
    /// The agent left gracefully: do not rejoin on restart.
    pub left: bool,
    /// `(name, address)` of the other members, at most
    /// [`MAX_REMEMBERED_MEMBERS`].
    pub members: Vec<(String, String)>,
}

pub fn encode_member_list(list: &MemberList) -> Vec<u8> {
    assert!(
        list.members.len() <= MAX_REMEMBERED_MEMBERS,
        "member list over its bound"
    );
    let mut out = Vec::new();
    out.extend_from_slice(&MEMBER_LIST_MAGIC);
    out.put_u32(MEMBER_LIST_FORMAT_VERSION);
    out.put_bool(list.left);
    out.put_count(list.members.len());
    for (name, address) in &list.members {
        assert!(name.len() <= MAX_NAME_BYTES && address.len() <= MAX_ADDRESS_BYTES);
        out.put_string(name);
        out.put_string(address);
    }
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

pub fn decode_member_list(path: &Path, bytes: &[u8]) -> Result<MemberList> {
    if bytes.len() < MEMBER_LIST_FIXED_BYTES {
        return Err(StorageError::corruption(
            path,
            0,
            format!(
                "member list is {} bytes, at least {MEMBER_LIST_FIXED_BYTES} expected",
                bytes.len()
            ),
        ));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != BigEndian::read_u32(crc) {
        return Err(StorageError::corruption(
            path,
            body.len() as u64,
            "member list CRC mismatch",
        ));
    }
    if body[0..4] != MEMBER_LIST_MAGIC {
        return Err(StorageError::corruption(path, 0, "bad member list magic"));
    }
    let version = BigEndian::read_u32(&body[4..8]);
    if version != MEMBER_LIST_FORMAT_VERSION {
        return Err(StorageError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let mut reader = Reader::new(&body[8..]);
    let corrupt = |reader: &Reader, err: crate::wire::error::WireError| {
        StorageError::corruption(path, 8 + reader.position() as u64, err.to_string())
    };
    let left = reader.bool("left").map_err(|e| corrupt(&reader, e))?;
    let count = reader
        .count(MIN_REMEMBERED_MEMBER_BYTES)
        .map_err(|e| corrupt(&reader, e))?;
    if count > MAX_REMEMBERED_MEMBERS {
        return Err(StorageError::corruption(
            path,
            9,
            format!("member count {count} exceeds {MAX_REMEMBERED_MEMBERS}"),
        ));
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let name = reader
            .string("member.name", MAX_NAME_BYTES)
            .map_err(|e| corrupt(&reader, e))?;
        let address = reader
            .string("member.address", MAX_ADDRESS_BYTES)
            .map_err(|e| corrupt(&reader, e))?;
        members.push((name, address));
    }
    reader.finish().map_err(|e| corrupt(&reader, e))?;
    Ok(MemberList { left, members })
}

/// Where the member list lives; no file is held open between writes.
#[derive(Debug)]
pub struct MemberListStore {
    path: PathBuf,
}

impl MemberListStore {
    /// Opens `DATA_DIR/gossip/`, deleting a temporary file a crash left.
    pub fn open(data_dir: &Path) -> Result<MemberListStore> {
        let dir = data_dir.join(MEMBER_LIST_DIR_NAME);
        fs::create_dir_all(&dir).at(&dir)?;
        remove_temporary_files(&dir, &[MEMBER_LIST_FILE_NAME])?;
        Ok(MemberListStore {
            path: dir.join(MEMBER_LIST_FILE_NAME),
        })
    }

    /// The saved list, or an empty one if none was ever saved.
    pub fn load(&self) -> Result<MemberList> {
        match read_bounded(&self.path, MAX_MEMBER_LIST_FILE_BYTES as u64)? {
            Some(bytes) => decode_member_list(&self.path, &bytes),
            None => Ok(MemberList::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the saved list atomically.
    pub fn save(&self, list: &MemberList) -> Result<()> {
        replace_atomically(&self.path, &encode_member_list(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> MemberList {
        MemberList {
            left: true,
            members: vec![
                ("a".into(), "127.0.0.1:8300".into()),
                ("b".into(), "127.0.0.2:8300".into()),
            ],
        }
    }

    #[test]
    fn saved_list_and_left_marker_survive_reopen() {
        let dir = std::env::temp_dir().join(format!("concord-member-list-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = MemberListStore::open(&dir).unwrap();
        assert_eq!(store.load().unwrap(), MemberList::default());
        store.save(&list()).unwrap();
        let reopened = MemberListStore::open(&dir).unwrap();
        assert_eq!(reopened.load().unwrap(), list());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_flipped_byte_is_a_typed_error() {
        let path = Path::new("members");
        let bytes = encode_member_list(&list());
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            assert!(decode_member_list(path, &damaged).is_err(), "byte {i}");
        }
        for len in 0..bytes.len() {
            assert!(decode_member_list(path, &bytes[..len]).is_err());
        }
    }

    #[test]
    fn hostile_member_count_is_refused_without_allocating() {
        let mut bytes = encode_member_list(&MemberList::default());
        bytes.truncate(bytes.len() - 4);
        BigEndian::write_u32(&mut bytes[9..13], u32::MAX);
        let crc = crc32fast::hash(&bytes);
        bytes.put_u32(crc);
        assert!(matches!(
            decode_member_list(Path::new("members"), &bytes),
            Err(StorageError::Corruption { .. })
        ));
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        /// `body` with a valid CRC appended, so the decoder's field checks
        /// are reached, not just the CRC check.
        fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
            let crc = crc32fast::hash(&body);
            body.put_u32(crc);
            body
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = decode_member_list(Path::new("members"), &bytes);
                let _ = decode_member_list(Path::new("members"), &with_crc(bytes));
            }

            #[test]
            fn arbitrary_bytes_behind_a_valid_header_never_panic(
                tail in proptest::collection::vec(any::<u8>(), 0..256),
            ) {
                let mut body = MEMBER_LIST_MAGIC.to_vec();
                body.put_u32(MEMBER_LIST_FORMAT_VERSION);
                body.extend_from_slice(&tail);
                let _ = decode_member_list(Path::new("members"), &with_crc(body));
            }

            #[test]
            fn every_valid_list_round_trips(
                left in any::<bool>(),
                members in proptest::collection::vec(("[a-z]{0,16}", "[0-9.:]{0,21}"), 0..20),
            ) {
                let list = MemberList { left, members };
                let decoded = decode_member_list(Path::new("members"), &encode_member_list(&list));
                prop_assert_eq!(decoded.unwrap(), list);
            }
        }
    }
}
