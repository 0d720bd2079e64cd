//! The pieces of a state machine snapshot: the CRC-computing reader and
//! writer, and one record of each section (KV, catalog, tombstones, client
//! sessions), each read back with its own consistency checks. The stream's
//! order and header are in `snapshot_codec.rs`; the layout in `wire-spec.md`
//! section 9.

use std::io::{self, Read, Write};

use byteorder::{BigEndian, ByteOrder};
use bytes::Bytes;
use imbl::OrdMap;

use crate::state_machine::answer_codec::{
    MAX_SESSION_ID_BYTES, decode_answer, encode_answer, encoded_answer_len,
};
use crate::state_machine::catalog::CatalogRecord;
use crate::state_machine::client_sessions::{
    CLIENT_SESSION_IDLE_TIMEOUT_MS, ClientSession, MAX_RETAINED_ANSWER_BYTES,
    MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT,
};
use crate::state_machine::kv_store::KvRecord;
use crate::state_machine::snapshot_codec::SnapshotError;
use crate::state_machine::tombstones::TombstoneKind;
use crate::wire::client_message::{CatalogNode, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::wire::command::MAX_CATALOG_FIELD_BYTES;

/// Passes bytes through while computing their CRC32 and counting them.
pub(super) struct CrcWriter<W> {
    pub(super) inner: W,
    pub(super) hasher: crc32fast::Hasher,
    pub(super) written: u64,
}

impl<W: Write> CrcWriter<W> {
    pub(super) fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
    pub(super) fn put_u8(&mut self, v: u8) -> io::Result<()> {
        self.put(&[v])
    }
    pub(super) fn put_u32(&mut self, v: u32) -> io::Result<()> {
        self.put(&v.to_be_bytes())
    }
    pub(super) fn put_u64(&mut self, v: u64) -> io::Result<()> {
        self.put(&v.to_be_bytes())
    }
    pub(super) fn put_bytes(&mut self, v: &[u8]) -> io::Result<()> {
        let len = u32::try_from(v.len()).expect("snapshot field longer than u32::MAX");
        self.put_u32(len)?;
        self.put(v)
    }
    fn put_option_string(&mut self, v: Option<&str>) -> io::Result<()> {
        match v {
            None => self.put_u8(0),
            Some(text) => {
                self.put_u8(1)?;
                self.put_bytes(text.as_bytes())
            }
        }
    }

    pub(super) fn put_kv_record(&mut self, key: &str, record: &KvRecord) -> io::Result<()> {
        self.put_bytes(key.as_bytes())?;
        self.put_bytes(&record.value)?;
        for v in [
            record.flags,
            record.create_index,
            record.modify_index,
            record.lock_index,
        ] {
            self.put_u64(v)?;
        }
        self.put_option_string(record.session.as_deref())
    }

    pub(super) fn put_catalog_record(&mut self, record: &CatalogRecord) -> io::Result<()> {
        let node = &record.node;
        for field in [&node.name, &node.address, &node.role, &node.datacenter] {
            self.put_bytes(field.as_bytes())?;
        }
        self.put_u64(record.create_index)?;
        self.put_u64(record.modify_index)
    }

    pub(super) fn put_tombstone(
        &mut self,
        kind: TombstoneKind,
        key: &str,
        index: u64,
    ) -> io::Result<()> {
        self.put_u8(match kind {
            TombstoneKind::Key => 0,
            TombstoneKind::Tree => 1,
        })?;
        self.put_bytes(key.as_bytes())?;
        self.put_u64(index)
    }

    pub(super) fn put_session(
        &mut self,
        client_id: u64,
        session: &ClientSession,
    ) -> io::Result<()> {
        self.put_u64(client_id)?;
        self.put_u64(session.last_active_index)?;
        self.put_u64(session.last_active_ms)?;
        self.put_u64(session.first_unacknowledged)?;
        let count = u32::try_from(session.answers.len()).expect("answers are capped at 256");
        self.put_u32(count)?;
        let mut answer_bytes = Vec::new();
        for (sequence, answer) in session.answers.iter() {
            answer_bytes.clear();
            encode_answer(answer, &mut answer_bytes);
            self.put_u64(*sequence)?;
            self.put_bytes(&answer_bytes)?;
        }
        Ok(())
    }
}

pub(super) struct CrcReader<R> {
    pub(super) inner: R,
    pub(super) hasher: crc32fast::Hasher,
}

fn inconsistent<T>(what: String) -> Result<T, SnapshotError> {
    Err(SnapshotError::Inconsistent(what))
}

impl<R: Read> CrcReader<R> {
    pub(super) fn exact<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut buf = [0u8; N];
        self.inner.read_exact(&mut buf)?;
        self.hasher.update(&buf);
        Ok(buf)
    }
    pub(super) fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.exact::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(BigEndian::read_u32(&self.exact::<4>()?))
    }
    pub(super) fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(BigEndian::read_u64(&self.exact::<8>()?))
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => inconsistent(format!("{field} is {other}, not 0 or 1")),
        }
    }
    /// A u32 length checked against `max` before reading; the buffer grows
    /// with the bytes actually read, so a length is never trusted for
    /// allocation.
    pub(super) fn bytes(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Vec<u8>, SnapshotError> {
        let len = u64::from(self.u32()?);
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
    pub(super) fn string(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<String, SnapshotError> {
        String::from_utf8(self.bytes(field, max)?).map_err(|_| SnapshotError::InvalidUtf8(field))
    }

    /// A version 2 KV record, its indexes checked against the store's
    /// table index.
    pub(super) fn kv_record(
        &mut self,
        table_index: u64,
    ) -> Result<(String, KvRecord), SnapshotError> {
        let key = self.string("kv.key", MAX_KEY_BYTES)?;
        let value = self.bytes("kv.value", MAX_VALUE_BYTES)?;
        let flags = self.u64()?;
        let (create_index, modify_index) = self.record_indexes(&key, table_index)?;
        let lock_index = self.u64()?;
        let session = if self.flag("kv.session_present")? {
            Some(self.string("kv.session", MAX_SESSION_ID_BYTES)?)
        } else {
            None
        };
        let record = KvRecord {
            value: Bytes::copy_from_slice(&value),
            flags,
            create_index,
            modify_index,
            lock_index,
            session,
        };
        Ok((key, record))
    }

    /// A version 1 KV record: key, value and the two indexes.
    pub(super) fn kv_record_v1(
        &mut self,
        applied_index: u64,
    ) -> Result<(String, KvRecord), SnapshotError> {
        let key = self.string("kv.key", MAX_KEY_BYTES)?;
        let value = self.bytes("kv.value", MAX_VALUE_BYTES)?;
        let (create_index, modify_index) = self.record_indexes(&key, applied_index)?;
        let record = KvRecord {
            value: Bytes::copy_from_slice(&value),
            flags: 0,
            create_index,
            modify_index,
            lock_index: 0,
            session: None,
        };
        Ok((key, record))
    }

    fn record_indexes(&mut self, key: &str, max_index: u64) -> Result<(u64, u64), SnapshotError> {
        let create_index = self.u64()?;
        let modify_index = self.u64()?;
        if create_index == 0 || create_index > modify_index || modify_index > max_index {
            return inconsistent(format!(
                "key {key:?} has indexes create={create_index} modify={modify_index} \
                 with store index {max_index}"
            ));
        }
        Ok((create_index, modify_index))
    }

    /// A version 3 catalog record: the node, then its create and modify
    /// indexes, both at or below the catalog's `table_index`.
    pub(super) fn catalog_record(
        &mut self,
        table_index: u64,
    ) -> Result<CatalogRecord, SnapshotError> {
        let node = self.catalog_node()?;
        let create_index = self.u64()?;
        let modify_index = self.u64()?;
        if create_index == 0 || create_index > modify_index || modify_index > table_index {
            return inconsistent(format!(
                "catalog node {:?} has indexes create={create_index} modify={modify_index} \
                 with catalog index {table_index}",
                node.name
            ));
        }
        Ok(CatalogRecord {
            node,
            create_index,
            modify_index,
        })
    }

    pub(super) fn catalog_node(&mut self) -> Result<CatalogNode, SnapshotError> {
        Ok(CatalogNode {
            name: self.string("catalog.name", MAX_CATALOG_FIELD_BYTES)?,
            address: self.string("catalog.address", MAX_CATALOG_FIELD_BYTES)?,
            role: self.string("catalog.role", MAX_CATALOG_FIELD_BYTES)?,
            datacenter: self.string("catalog.datacenter", MAX_CATALOG_FIELD_BYTES)?,
        })
    }

    pub(super) fn tombstone(&mut self) -> Result<(TombstoneKind, String, u64), SnapshotError> {
        let kind = match self.u8()? {
            0 => TombstoneKind::Key,
            1 => TombstoneKind::Tree,
            other => return inconsistent(format!("tombstone kind {other}")),
        };
        let key = self.string("tombstone.key", MAX_KEY_BYTES)?;
        Ok((kind, key, self.u64()?))
    }

    /// One client session, checked against the snapshot's applied index and
    /// log time: activity no older than the idle timeout (older sessions
    /// expire before any snapshot), answers in sequence order at or above
    /// the acknowledgement, each decodable and no larger than kept answers
    /// are.
    pub(super) fn session(
        &mut self,
        applied_index: u64,
        log_time_ms: u64,
    ) -> Result<(u64, ClientSession), SnapshotError> {
        let client_id = self.u64()?;
        let last_active_index = self.u64()?;
        let last_active_ms = self.u64()?;
        let first_unacknowledged = self.u64()?;
        let count = self.u32()?;
        if client_id == 0
            || client_id > last_active_index
            || last_active_index > applied_index
            || last_active_ms > log_time_ms
            || log_time_ms - last_active_ms >= CLIENT_SESSION_IDLE_TIMEOUT_MS
            || count as usize > MAX_UNACKNOWLEDGED_ANSWERS_PER_CLIENT
        {
            return inconsistent(format!(
                "session {client_id}: active at {last_active_index} ({last_active_ms} ms), \
                 {count} answers, with applied index {applied_index} at {log_time_ms} ms"
            ));
        }
        let mut answers = OrdMap::new();
        let mut previous: Option<u64> = None;
        for _ in 0..count {
            let sequence = self.u64()?;
            let bytes = self.bytes("session.answer", MAX_RETAINED_ANSWER_BYTES)?;
            let answer = decode_answer(&bytes).map_err(|err| {
                SnapshotError::Inconsistent(format!("session {client_id} answer: {err}"))
            })?;
            if sequence < first_unacknowledged
                || previous.is_some_and(|p| p >= sequence)
                || encoded_answer_len(&answer) != bytes.len()
            {
                return inconsistent(format!(
                    "session {client_id}: answer for sequence {sequence} out of order, \
                     acknowledged or not canonical"
                ));
            }
            previous = Some(sequence);
            answers.insert(sequence, answer);
        }
        let session = ClientSession::new(
            last_active_index,
            last_active_ms,
            first_unacknowledged,
            answers,
        );
        Ok((client_id, session))
    }
}
