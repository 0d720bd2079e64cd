//! The state machine's snapshot: the whole KV store and catalog written as
//! one stream, so a snapshot never needs a second copy of the state in
//! memory, and read back with every length bounded before allocation. The
//! bytes travel in InstallSnapshot chunks and sit in snapshot files, so they
//! are untrusted on restore: a corrupt snapshot is a typed error, never a
//! panic. Layout in `wire-spec.md`, section 9 "State machine
//! snapshot".

use std::io::{self, Read, Write};

use byteorder::{BigEndian, ByteOrder};

use crate::wire::client_message::{CatalogNode, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::wire::command::MAX_CATALOG_FIELD_BYTES;

use crate::state_machine::StateMachine;
use crate::state_machine::catalog::Catalog;
use crate::state_machine::kv_store::{KvRecord, KvStore};

pub const SNAPSHOT_MAGIC: [u8; 4] = *b"CNSM";
pub const SNAPSHOT_FORMAT_VERSION: u8 = 1;

#[derive(Debug)]
pub enum SnapshotError {
    Io(io::Error),
    /// The stream ended inside the snapshot.
    Truncated,
    BadMagic([u8; 4]),
    UnsupportedVersion(u8),
    BadCrc {
        stored: u32,
        computed: u32,
    },
    FieldTooLong {
        field: &'static str,
        len: u64,
        max: usize,
    },
    InvalidUtf8(&'static str),
    /// Structurally readable but impossible: keys out of order or repeated,
    /// indexes beyond the snapshot's applied index. A writer never produces
    /// these, so they mean corruption.
    Inconsistent(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Io(err) => write!(f, "snapshot I/O error: {err}"),
            SnapshotError::Truncated => write!(f, "snapshot is truncated"),
            SnapshotError::BadMagic(found) => write!(f, "snapshot has bad magic {found:02x?}"),
            SnapshotError::UnsupportedVersion(v) => {
                write!(f, "snapshot format version {v} is not supported")
            }
            SnapshotError::BadCrc { stored, computed } => write!(
                f,
                "snapshot CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            SnapshotError::FieldTooLong { field, len, max } => {
                write!(f, "snapshot field {field} is {len} bytes, limit {max}")
            }
            SnapshotError::InvalidUtf8(field) => {
                write!(f, "snapshot field {field} is not valid UTF-8")
            }
            SnapshotError::Inconsistent(what) => write!(f, "snapshot is inconsistent: {what}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl From<io::Error> for SnapshotError {
    fn from(err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::UnexpectedEof {
            SnapshotError::Truncated
        } else {
            SnapshotError::Io(err)
        }
    }
}

/// Passes bytes through while computing their CRC32.
struct CrcWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }
    fn put_u64(&mut self, v: u64) -> io::Result<()> {
        self.put(&v.to_be_bytes())
    }
    fn put_bytes(&mut self, v: &[u8]) -> io::Result<()> {
        let len = u32::try_from(v.len()).expect("snapshot field longer than u32::MAX");
        self.put(&len.to_be_bytes())?;
        self.put(v)
    }
}

struct CrcReader<R> {
    inner: R,
    hasher: crc32fast::Hasher,
}

impl<R: Read> CrcReader<R> {
    fn exact<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.hasher.update(&buf);
        Ok(buf)
    }
    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.exact::<1>()?[0])
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(BigEndian::read_u64(&self.exact::<8>()?))
    }
    /// A u32 length checked against `max` before reading; the buffer grows
    /// with the bytes actually read, so a length is never trusted for
    /// allocation.
    fn bytes(&mut self, field: &'static str, max: usize) -> Result<Vec<u8>, SnapshotError> {
        let len = u64::from(BigEndian::read_u32(&self.exact::<4>()?));
        if len > max as u64 {
            return Err(SnapshotError::FieldTooLong { field, len, max });
        }
        let mut buf = Vec::new();
        (&mut self.inner).take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(SnapshotError::Truncated);
        }
        self.hasher.update(&buf);
        Ok(buf)
    }
    fn string(&mut self, field: &'static str, max: usize) -> Result<String, SnapshotError> {
        String::from_utf8(self.bytes(field, max)?).map_err(|_| SnapshotError::InvalidUtf8(field))
    }
}

impl StateMachine {
    /// Writes the whole state as one stream; returns the bytes written.
    /// Fields are written one by one, so pass a buffered writer.
    pub fn write_snapshot<W: Write>(&self, out: W) -> Result<u64, SnapshotError> {
        let mut w = CrcWriter {
            inner: out,
            hasher: crc32fast::Hasher::new(),
        };
        let mut written: u64 = 0;
        let header_len = 4 + 1 + 8 + 8 + 8;
        w.put(&SNAPSHOT_MAGIC)?;
        w.put(&[SNAPSHOT_FORMAT_VERSION])?;
        w.put_u64(self.applied_index())?;
        w.put_u64(self.kv().len() as u64)?;
        w.put_u64(self.catalog().len() as u64)?;
        written += header_len;
        for (key, record) in self.kv().iter() {
            w.put_bytes(key.as_bytes())?;
            w.put_bytes(&record.value)?;
            w.put_u64(record.create_index)?;
            w.put_u64(record.modify_index)?;
            written += 4 + key.len() as u64 + 4 + record.value.len() as u64 + 16;
        }
        for node in self.catalog().nodes() {
            for field in [&node.name, &node.address, &node.role, &node.datacenter] {
                w.put_bytes(field.as_bytes())?;
                written += 4 + field.len() as u64;
            }
        }
        let crc = w.hasher.clone().finalize();
        w.inner.write_all(&crc.to_be_bytes())?;
        w.inner.flush()?;
        Ok(written + 4)
    }

    /// Reads a snapshot written by [`StateMachine::write_snapshot`]. Reads
    /// exactly the snapshot's bytes. Memory grows only with data actually
    /// read: counts are claims and nothing is reserved from them. Pass a
    /// buffered reader. On error nothing is returned, so the caller's
    /// current state machine stays as it was.
    pub fn restore_snapshot<R: Read>(input: R) -> Result<StateMachine, SnapshotError> {
        let mut r = CrcReader {
            inner: input,
            hasher: crc32fast::Hasher::new(),
        };
        let magic = r.exact::<4>()?;
        if magic != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic(magic));
        }
        let version = r.u8()?;
        if version != SNAPSHOT_FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(version));
        }
        let applied_index = r.u64()?;
        let kv_count = r.u64()?;
        let catalog_count = r.u64()?;

        let mut kv = KvStore::new();
        let mut previous_key: Option<String> = None;
        for _ in 0..kv_count {
            let key = r.string("kv.key", MAX_KEY_BYTES)?;
            let value = r.bytes("kv.value", MAX_VALUE_BYTES)?;
            let create_index = r.u64()?;
            let modify_index = r.u64()?;
            if key.is_empty() || previous_key.as_ref().is_some_and(|p| *p >= key) {
                return Err(SnapshotError::Inconsistent(format!(
                    "key {key:?} is empty, repeated or out of order"
                )));
            }
            if create_index == 0 || create_index > modify_index || modify_index > applied_index {
                return Err(SnapshotError::Inconsistent(format!(
                    "key {key:?} has indexes create={create_index} modify={modify_index} \
                     with applied index {applied_index}"
                )));
            }
            previous_key = Some(key.clone());
            kv.insert_restored(
                key,
                KvRecord {
                    value: value.into(),
                    create_index,
                    modify_index,
                },
            );
        }

        let mut catalog = Catalog::new();
        let mut previous_name: Option<String> = None;
        for _ in 0..catalog_count {
            let node = CatalogNode {
                name: r.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
                address: r.string("catalog.address", MAX_CATALOG_FIELD_BYTES)?,
                role: r.string("catalog.role", MAX_CATALOG_FIELD_BYTES)?,
                datacenter: r.string("catalog.datacenter", MAX_CATALOG_FIELD_BYTES)?,
            };
            if node.name.is_empty() || previous_name.as_ref().is_some_and(|p| *p >= node.name) {
                return Err(SnapshotError::Inconsistent(format!(
                    "catalog node {:?} is empty, repeated or out of order",
                    node.name
                )));
            }
            previous_name = Some(node.name.clone());
            catalog.register(node);
        }

        let computed = r.hasher.clone().finalize();
        let mut stored = [0u8; 4];
        r.inner.read_exact(&mut stored)?;
        let stored = u32::from_be_bytes(stored);
        if stored != computed {
            return Err(SnapshotError::BadCrc { stored, computed });
        }
        Ok(StateMachine::from_parts(kv, catalog, applied_index))
    }

    /// Restores the state machine from a snapshot file's whole data, the
    /// snapshot covering the log through `last_included_index`. Use this,
    /// not [`StateMachine::restore_snapshot`], to install a snapshot: it
    /// also refuses
    /// - bytes after the state machine's own CRC (the file is longer than
    ///   what was written; reading to the end also lets a checking reader
    ///   such as `storage::SnapshotReader` verify the file's data CRC);
    /// - an applied index other than `last_included_index`: the log resumes
    ///   at `last_included_index + 1`, and `apply` asserts indexes increase,
    ///   so a mismatch read from a file would otherwise become a panic at the
    ///   next applied entry (or silently skipped entries).
    pub fn restore_snapshot_at<R: Read>(
        mut input: R,
        last_included_index: u64,
    ) -> Result<StateMachine, SnapshotError> {
        let restored = StateMachine::restore_snapshot(&mut input)?;
        let mut probe = [0u8; 1];
        let trailing = loop {
            match input.read(&mut probe) {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            }
        };
        if trailing != 0 {
            return Err(SnapshotError::Inconsistent(
                "bytes follow the snapshot's CRC".to_owned(),
            ));
        }
        if restored.applied_index() != last_included_index {
            return Err(SnapshotError::Inconsistent(format!(
                "state machine applied through {} but the snapshot covers the log through {last_included_index}",
                restored.applied_index()
            )));
        }
        Ok(restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::command::Command;
    use proptest::prelude::*;

    fn sample() -> StateMachine {
        let mut sm = StateMachine::new();
        let commands = [
            Command::KvPut {
                key: "web/a".into(),
                value: b"1".to_vec(),
                cas: None,
            },
            Command::KvPut {
                key: "web/b".into(),
                value: vec![0; 1000],
                cas: None,
            },
            Command::CatalogRegister(CatalogNode {
                name: "n1".into(),
                address: "127.0.0.1:8300".into(),
                role: "server".into(),
                datacenter: "dc1".into(),
            }),
            Command::KvPut {
                key: "web/a".into(),
                value: b"2".to_vec(),
                cas: Some(1),
            },
        ];
        for (i, command) in commands.iter().enumerate() {
            sm.apply(i as u64 + 1, &command.to_bytes());
        }
        sm
    }

    fn snapshot_bytes(sm: &StateMachine) -> Vec<u8> {
        let mut out = Vec::new();
        let written = sm.write_snapshot(&mut out).unwrap();
        assert_eq!(written, out.len() as u64);
        out
    }

    #[test]
    fn snapshot_round_trips() {
        let sm = sample();
        let restored = StateMachine::restore_snapshot(&snapshot_bytes(&sm)[..]).unwrap();
        assert_eq!(restored, sm);
        assert_eq!(restored.applied_index(), 4);
        assert_eq!(restored.kv().get("web/a").unwrap().modify_index, 4);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = snapshot_bytes(&sample());
        for len in 0..bytes.len() {
            assert!(StateMachine::restore_snapshot(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let bytes = snapshot_bytes(&sample());
        for at in 0..bytes.len() {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= 0x10;
            assert!(
                StateMachine::restore_snapshot(&corrupt[..]).is_err(),
                "flip at byte {at} went unnoticed"
            );
        }
    }

    #[test]
    fn huge_claimed_counts_and_lengths_do_not_allocate() {
        // Claims 2^64-1 keys then a 4 GiB key: refused by the key limit.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&SNAPSHOT_MAGIC);
        bytes.push(SNAPSHOT_FORMAT_VERSION);
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        bytes.extend_from_slice(&0u64.to_be_bytes());
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            StateMachine::restore_snapshot(&bytes[..]),
            Err(SnapshotError::FieldTooLong {
                field: "kv.key",
                ..
            })
        ));
        // A value length at the limit with no data behind it is truncation.
        let mut bytes = bytes[..bytes.len() - 4].to_vec();
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.push(b'k');
        bytes.extend_from_slice(&(MAX_VALUE_BYTES as u32).to_be_bytes());
        assert!(matches!(
            StateMachine::restore_snapshot(&bytes[..]),
            Err(SnapshotError::Truncated)
        ));
    }

    #[test]
    fn restore_at_refuses_an_applied_index_other_than_the_snapshot_index() {
        let sm = sample();
        let bytes = snapshot_bytes(&sm);
        let applied = sm.applied_index();
        assert!(StateMachine::restore_snapshot_at(&bytes[..], applied).is_ok());
        for wrong in [0, applied - 1, applied + 1, u64::MAX] {
            assert!(matches!(
                StateMachine::restore_snapshot_at(&bytes[..], wrong),
                Err(SnapshotError::Inconsistent(_))
            ));
        }
    }

    #[test]
    fn restore_at_refuses_bytes_after_the_crc() {
        let sm = sample();
        let mut bytes = snapshot_bytes(&sm);
        bytes.push(0);
        assert!(matches!(
            StateMachine::restore_snapshot_at(&bytes[..], sm.applied_index()),
            Err(SnapshotError::Inconsistent(_))
        ));
    }

    #[test]
    fn out_of_order_keys_are_inconsistent_even_with_a_valid_crc() {
        let mut body = Vec::new();
        body.extend_from_slice(&SNAPSHOT_MAGIC);
        body.push(SNAPSHOT_FORMAT_VERSION);
        body.extend_from_slice(&5u64.to_be_bytes());
        body.extend_from_slice(&2u64.to_be_bytes());
        body.extend_from_slice(&0u64.to_be_bytes());
        for key in [b"b", b"a"] {
            body.extend_from_slice(&1u32.to_be_bytes());
            body.extend_from_slice(key);
            body.extend_from_slice(&0u32.to_be_bytes());
            body.extend_from_slice(&1u64.to_be_bytes());
            body.extend_from_slice(&1u64.to_be_bytes());
        }
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            StateMachine::restore_snapshot(&body[..]),
            Err(SnapshotError::Inconsistent(_))
        ));
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        let key = proptest::sample::select(vec!["a", "a/b", "a/c", "b", "bb", "c/d"]);
        prop_oneof![
            (
                key.clone(),
                proptest::collection::vec(any::<u8>(), 0..8),
                proptest::option::of(0u64..6)
            )
                .prop_map(|(k, value, cas)| Command::KvPut {
                    key: k.into(),
                    value,
                    cas
                }),
            (key.clone(), any::<bool>()).prop_map(|(k, recurse)| Command::KvDelete {
                key: k.into(),
                recurse
            }),
            key.clone()
                .prop_map(|k| Command::CatalogRegister(CatalogNode {
                    name: k.into(),
                    address: "127.0.0.1:8300".into(),
                    role: "client".into(),
                    datacenter: "dc1".into(),
                })),
            key.prop_map(|k| Command::CatalogDeregister { name: k.into() }),
        ]
    }

    proptest! {
        /// A follower that installs a snapshot taken at index i and then
        /// applies i+1.. must end exactly where a replica that replayed the
        /// whole log ends (Raft §7).
        #[test]
        fn restore_then_apply_equals_replay(
            commands in proptest::collection::vec(arb_command(), 0..40),
            cut in 0usize..40,
        ) {
            let cut = cut.min(commands.len());
            let mut replayed = StateMachine::new();
            let mut snapshotted = StateMachine::new();
            for (i, command) in commands.iter().enumerate() {
                let bytes = command.to_bytes();
                replayed.apply(i as u64 + 1, &bytes);
                if i < cut {
                    snapshotted.apply(i as u64 + 1, &bytes);
                }
            }
            let mut restored =
                StateMachine::restore_snapshot(&snapshot_bytes(&snapshotted)[..]).unwrap();
            for (i, command) in commands.iter().enumerate().skip(cut) {
                restored.apply(i as u64 + 1, &command.to_bytes());
            }
            prop_assert_eq!(restored, replayed);
        }

        #[test]
        fn hostile_snapshot_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut input = SNAPSHOT_MAGIC.to_vec();
            input.push(SNAPSHOT_FORMAT_VERSION);
            input.extend_from_slice(&bytes);
            let _ = StateMachine::restore_snapshot(&input[..]);
            let _ = StateMachine::restore_snapshot(&bytes[..]);
        }
    }
}
