//! The state machine's snapshot: the whole state (KV store with its
//! graveyard, catalog, client sessions) written as one stream, so a
//! snapshot never needs a second copy of the state in memory, and read back
//! with every length bounded before allocation. The bytes travel in
//! InstallSnapshot chunks and sit in snapshot files, so they are untrusted on
//! restore: a corrupt snapshot is a typed error, never a panic. Layout in
//! `wire-spec.md`, section 9 "State machine snapshot".
//!
//! Version 4 is written (version 3 and a services section). Versions 3,
//! 2 (catalog records without indexes) and
//! 1 (also KV records without flags, no graveyard, no sessions) are still
//! restored, so a server upgraded in place starts from its last snapshot;
//! what they lack restores at the snapshot's applied index (version 1: the
//! tombstone floor and the store's table index; both: the catalog's
//! indexes), which only ever reports a blocking-query index too high (a
//! spurious wake), never too low.

use std::io::{self, Read, Write};

use imbl::OrdMap;

use crate::state_machine::StateMachine;
use crate::state_machine::catalog::{Catalog, CatalogRecord};
use crate::state_machine::client_sessions::ClientSessions;
use crate::state_machine::kv_store::{KvRecord, KvStore};
use crate::state_machine::services::{NodeServices, ServiceTable};
use crate::state_machine::snapshot_sections::{CrcReader, CrcWriter};
use crate::state_machine::snapshot_services::{
    MAX_NODE_SERVICES_BLOCK_BYTES, decode_node_services, encode_node_services,
};
use crate::state_machine::tombstones::Tombstones;
use crate::wire::catalog_registration::MAX_IDENTIFIER_BYTES;

pub const SNAPSHOT_MAGIC: [u8; 4] = *b"CNSM";
/// The format written by this build.
pub const SNAPSHOT_FORMAT_VERSION: u8 = 4;
/// Earlier formats, still restored (never written). Version 3 has no
/// services section.
pub const SNAPSHOT_FORMAT_VERSION_3: u8 = 3;
pub const SNAPSHOT_FORMAT_VERSION_2: u8 = 2;
pub const SNAPSHOT_FORMAT_VERSION_1: u8 = 1;

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

impl StateMachine {
    /// Writes the whole state as one stream; returns the bytes written.
    /// Fields are written one by one, so pass a buffered writer.
    pub fn write_snapshot<W: Write>(&self, out: W) -> Result<u64, SnapshotError> {
        let mut w = CrcWriter {
            inner: out,
            hasher: crc32fast::Hasher::new(),
            written: 0,
        };
        let kv = self.kv();
        w.put(&SNAPSHOT_MAGIC)?;
        w.put_u8(SNAPSHOT_FORMAT_VERSION)?;
        for v in [
            self.applied_index(),
            self.log_time_ms(),
            kv.table_index(),
            kv.tombstones().floor_index(),
            self.catalog().table_index(),
            kv.len() as u64,
            self.catalog().len() as u64,
            kv.tombstones().len() as u64,
            self.sessions().len() as u64,
        ] {
            w.put_u64(v)?;
        }
        for (key, record) in kv.iter() {
            w.put_kv_record(key, record)?;
        }
        for record in self.catalog().records() {
            w.put_catalog_record(record)?;
        }
        for (kind, key, index) in kv.tombstones().iter() {
            w.put_tombstone(kind, key, index)?;
        }
        for (client_id, session) in self.sessions().iter() {
            w.put_session(*client_id, session)?;
        }
        write_services(&mut w, self.catalog().services())?;
        let crc = w.hasher.clone().finalize();
        w.inner.write_all(&crc.to_be_bytes())?;
        w.inner.flush()?;
        Ok(w.written + 4)
    }

    /// Reads a snapshot written by [`StateMachine::write_snapshot`] (or by
    /// the previous build, version 1). Reads exactly the snapshot's bytes.
    /// Memory grows only with data actually read: counts are claims and
    /// nothing is reserved from them. Pass a buffered reader. On error
    /// nothing is returned, so the caller's current state machine stays as
    /// it was.
    pub fn restore_snapshot<R: Read>(input: R) -> Result<StateMachine, SnapshotError> {
        let mut r = CrcReader {
            inner: input,
            hasher: crc32fast::Hasher::new(),
        };
        let magic = r.exact::<4>()?;
        if magic != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic(magic));
        }
        let restored = match r.u8()? {
            SNAPSHOT_FORMAT_VERSION => restore_v2_to_v4(&mut r, CatalogFormat::WithServices)?,
            SNAPSHOT_FORMAT_VERSION_3 => restore_v2_to_v4(&mut r, CatalogFormat::Indexed)?,
            SNAPSHOT_FORMAT_VERSION_2 => restore_v2_to_v4(&mut r, CatalogFormat::NodesOnly)?,
            SNAPSHOT_FORMAT_VERSION_1 => restore_v1(&mut r)?,
            version => return Err(SnapshotError::UnsupportedVersion(version)),
        };
        let computed = r.hasher.clone().finalize();
        let mut stored = [0u8; 4];
        r.inner.read_exact(&mut stored)?;
        let stored = u32::from_be_bytes(stored);
        if stored != computed {
            return Err(SnapshotError::BadCrc { stored, computed });
        }
        Ok(restored)
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

fn inconsistent(what: String) -> SnapshotError {
    SnapshotError::Inconsistent(what)
}

/// KV records in strictly increasing key order, each read by `read`.
fn read_kv_records<R: Read>(
    r: &mut CrcReader<R>,
    count: u64,
    mut read: impl FnMut(&mut CrcReader<R>) -> Result<(String, KvRecord), SnapshotError>,
) -> Result<OrdMap<String, KvRecord>, SnapshotError> {
    let mut records = OrdMap::new();
    let mut previous_key: Option<String> = None;
    for _ in 0..count {
        let (key, record) = read(r)?;
        if key.is_empty() || previous_key.as_ref().is_some_and(|p| *p >= key) {
            return Err(inconsistent(format!(
                "key {key:?} is empty, repeated or out of order"
            )));
        }
        previous_key = Some(key.clone());
        records.insert(key, record);
    }
    Ok(records)
}

/// How a snapshot's catalog records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatalogFormat {
    /// Version 4: as 3, and a services section after the sessions.
    WithServices,
    /// Version 3: a table index in the header, indexes in each record.
    Indexed,
    /// Versions 1 and 2: the node only; everything restores at `applied`.
    NodesOnly,
}

/// Catalog records in strictly increasing name order, with indexes at or
/// below the catalog's table index, itself at or below `applied_index`.
fn read_catalog<R: Read>(
    r: &mut CrcReader<R>,
    count: u64,
    format: CatalogFormat,
    table_index: u64,
) -> Result<Catalog, SnapshotError> {
    let mut records = Vec::new();
    let mut previous_name: Option<String> = None;
    for _ in 0..count {
        let record = match format {
            CatalogFormat::Indexed | CatalogFormat::WithServices => {
                r.catalog_record(table_index)?
            }
            CatalogFormat::NodesOnly => CatalogRecord {
                node: r.catalog_node()?,
                create_index: table_index,
                modify_index: table_index,
            },
        };
        let name = &record.node.name;
        if name.is_empty() || previous_name.as_ref().is_some_and(|p| p >= name) {
            return Err(inconsistent(format!(
                "catalog node {name:?} is empty, repeated or out of order"
            )));
        }
        previous_name = Some(name.clone());
        records.push(record);
    }
    Ok(Catalog::from_records(records, table_index))
}

/// The services section: the table index, each node's block in name
/// order, then each service name's index.
fn write_services<W: Write>(w: &mut CrcWriter<W>, table: &ServiceTable) -> io::Result<()> {
    w.put_u64(table.table_index())?;
    w.put_u64(table.nodes().count() as u64)?;
    let mut block = Vec::new();
    for (node, entry) in table.nodes() {
        block.clear();
        encode_node_services(entry, &mut block);
        w.put_bytes(node.as_bytes())?;
        w.put_bytes(&block)?;
    }
    w.put_u64(table.service_indexes().count() as u64)?;
    for (name, index) in table.service_indexes() {
        w.put_bytes(name.as_bytes())?;
        w.put_u64(*index)?;
    }
    Ok(())
}

fn read_services<R: Read>(
    r: &mut CrcReader<R>,
    catalog_index: u64,
) -> Result<ServiceTable, SnapshotError> {
    let table_index = r.u64()?;
    if table_index > catalog_index {
        return Err(inconsistent(format!(
            "services index {table_index} past the catalog's {catalog_index}"
        )));
    }
    let node_count = r.u64()?;
    let mut nodes: Vec<(String, NodeServices)> = Vec::new();
    for _ in 0..node_count {
        let name = r.string("services.node", MAX_IDENTIFIER_BYTES)?;
        if nodes.last().is_some_and(|(last, _)| *last >= name) {
            return Err(inconsistent(format!("services node {name:?} out of order")));
        }
        let block = r.bytes("services.block", MAX_NODE_SERVICES_BLOCK_BYTES)?;
        let entry = decode_node_services(&block, table_index).map_err(inconsistent)?;
        nodes.push((name, entry));
    }
    let index_count = r.u64()?;
    let mut indexes: Vec<(String, u64)> = Vec::new();
    for _ in 0..index_count {
        let name = r.string("services.name", MAX_IDENTIFIER_BYTES)?;
        if indexes.last().is_some_and(|(last, _)| *last >= name) {
            return Err(inconsistent(format!("service index {name:?} out of order")));
        }
        indexes.push((name, r.u64()?));
    }
    ServiceTable::from_restored(nodes, indexes, table_index).map_err(inconsistent)
}

fn restore_v2_to_v4<R: Read>(
    r: &mut CrcReader<R>,
    catalog_format: CatalogFormat,
) -> Result<StateMachine, SnapshotError> {
    let applied_index = r.u64()?;
    let log_time_ms = r.u64()?;
    let table_index = r.u64()?;
    let floor_index = r.u64()?;
    let catalog_index = match catalog_format {
        CatalogFormat::Indexed | CatalogFormat::WithServices => r.u64()?,
        CatalogFormat::NodesOnly => applied_index,
    };
    if catalog_index > applied_index {
        return Err(inconsistent(format!(
            "catalog index {catalog_index} with applied index {applied_index}"
        )));
    }
    let [kv_count, catalog_count, tombstone_count, session_count] =
        [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
    if table_index > applied_index || floor_index > table_index {
        return Err(inconsistent(format!(
            "store index {table_index} and tombstone floor {floor_index} \
             with applied index {applied_index}"
        )));
    }
    let records = read_kv_records(r, kv_count, |r| r.kv_record(table_index))?;
    let catalog = read_catalog(r, catalog_count, catalog_format, catalog_index)?;
    // Counts are claims: reading stops at the first bad entry, and the
    // graveyard's own cap is checked once the entries are in.
    let mut stones = Vec::new();
    for _ in 0..tombstone_count {
        stones.push(r.tombstone()?);
        if stones.len() > crate::state_machine::tombstones::MAX_TOMBSTONES {
            return Err(inconsistent(format!("{tombstone_count} tombstones")));
        }
    }
    let tombstones =
        Tombstones::restore(stones, floor_index, table_index).map_err(|err| inconsistent(err.0))?;
    let mut sessions = Vec::new();
    let mut previous_id = 0;
    for _ in 0..session_count {
        let (client_id, session) = r.session(applied_index, log_time_ms)?;
        if client_id <= previous_id {
            return Err(inconsistent(format!("session {client_id} out of order")));
        }
        previous_id = client_id;
        sessions.push((client_id, session));
        if sessions.len() > crate::state_machine::client_sessions::MAX_CLIENT_SESSIONS {
            return Err(inconsistent(format!("{session_count} sessions")));
        }
    }
    let sessions = ClientSessions::from_restored(sessions).ok_or_else(|| {
        inconsistent("sessions share an activity index or exceed their budget".into())
    })?;
    let catalog = if catalog_format == CatalogFormat::WithServices {
        let services = read_services(r, catalog_index)?;
        catalog.with_services(services).map_err(inconsistent)?
    } else {
        catalog
    };
    let kv = KvStore::from_restored(records, tombstones, table_index);
    Ok(StateMachine::from_parts(
        kv,
        catalog,
        sessions,
        applied_index,
        log_time_ms,
    ))
}

/// Version 1: applied index, KV records (key, value, create, modify),
/// catalog. Deletions before it are unknown, so the tombstone floor and
/// the table index start at the applied index.
fn restore_v1<R: Read>(r: &mut CrcReader<R>) -> Result<StateMachine, SnapshotError> {
    let applied_index = r.u64()?;
    let kv_count = r.u64()?;
    let catalog_count = r.u64()?;
    let records = read_kv_records(r, kv_count, |r| r.kv_record_v1(applied_index))?;
    let catalog = read_catalog(r, catalog_count, CatalogFormat::NodesOnly, applied_index)?;
    let tombstones = Tombstones::restore(Vec::new(), applied_index, applied_index)
        .map_err(|err| inconsistent(err.0))?;
    let kv = KvStore::from_restored(records, tombstones, applied_index);
    Ok(StateMachine::from_parts(
        kv,
        catalog,
        ClientSessions::default(),
        applied_index,
        0,
    ))
}

#[cfg(test)]
#[path = "snapshot_codec_tests.rs"]
mod tests;
