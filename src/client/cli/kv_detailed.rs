//! `kv get --detailed`, as Consul's `kv get -detailed`: the entry's
//! indexes, flags and lock state beside its value, so an operator can read
//! the ModifyIndex a `kv put --cas` needs. It asks with the HTTP API's read
//! (`KvRead`), whose entries carry every field Consul shows.

use std::io::Write;

use crate::wire::client_kv::{KvDirEntry, KvRead, KvReadAnswer, KvReadKind};
use crate::wire::client_message::{Consistency, RequestBody, RpcResult};

use super::{CliError, ClientOptions, check_key, connect, unexpected};

/// Consul's tabwriter (padding 6) makes the first column 17 wide.
const LABEL_WIDTH: usize = "ModifyIndex".len() + 6;

pub fn kv_get_detailed(
    options: &ClientOptions,
    key: &str,
    consistency: Consistency,
    recurse: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    check_key(key, recurse)?;
    let mut client = connect(options)?;
    let read = KvRead {
        key: key.to_owned(),
        kind: if recurse {
            KvReadKind::Tree
        } else {
            KvReadKind::Entry
        },
        consistency,
        min_index: 0,
        wait_ms: 0,
    };
    let entries = match client.call(RequestBody::KvRead(read))? {
        RpcResult::KvRead {
            answer: KvReadAnswer::Entries(entries),
            ..
        } => entries,
        _ => return Err(unexpected("kv get --detailed")),
    };
    if entries.is_empty() && !recurse {
        return Err(CliError::KeyNotFound {
            key: key.to_owned(),
        });
    }
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        write_detailed(out, entry)?;
    }
    Ok(())
}

/// One entry's block, fields in Consul's order.
pub fn write_detailed(out: &mut dyn Write, entry: &KvDirEntry) -> std::io::Result<()> {
    let session = entry.session.as_deref().unwrap_or("-");
    let lines = [
        ("CreateIndex", entry.create_index.to_string()),
        ("Flags", entry.flags.to_string()),
        ("Key", entry.key.clone()),
        ("LockIndex", entry.lock_index.to_string()),
        ("ModifyIndex", entry.modify_index.to_string()),
        ("Session", session.to_owned()),
    ];
    for (label, value) in lines {
        writeln!(out, "{label:LABEL_WIDTH$}{value}")?;
    }
    write!(out, "{:LABEL_WIDTH$}", "Value")?;
    out.write_all(&entry.value)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_as_consuls() {
        let entry = KvDirEntry {
            key: "foo".into(),
            value: b"bar".to_vec(),
            flags: 42,
            create_index: 19,
            modify_index: 21,
            lock_index: 0,
            session: None,
        };
        let mut out = Vec::new();
        write_detailed(&mut out, &entry).unwrap();
        let expected = "\
CreateIndex      19
Flags            42
Key              foo
LockIndex        0
ModifyIndex      21
Session          -
Value            bar
";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
