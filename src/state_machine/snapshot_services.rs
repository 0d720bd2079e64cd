//! The snapshot's services section (format 4): each node's meta, tagged
//! addresses, services and checks as one length-prefixed block in the
//! byte layout of the catalog registration commands (`wire-spec.md` 9.4,
//! 9.5), so one set of decoder bounds covers the log and the snapshot.

use std::collections::BTreeMap;

use imbl::OrdMap;

use crate::state_machine::services::{
    CheckRecord, MAX_CHECKS_PER_NODE, MAX_SERVICES_PER_NODE, NodeServices, ServiceRecord,
};
use crate::wire::WireError;
use crate::wire::catalog_registration::{
    CheckDefinition, MAX_TAGGED_ADDRESSES, ServiceDefinition, put_string_map,
};
use crate::wire::reader::Reader;
use crate::wire::writer::WriteExt;

/// One node's block: its services and checks at their limits fit well
/// below this.
pub const MAX_NODE_SERVICES_BLOCK_BYTES: usize = 64 * 1024 * 1024;

pub fn encode_node_services(entry: &NodeServices, out: &mut Vec<u8>) {
    put_string_map(out, &entry.meta);
    put_string_map(out, &entry.tagged_addresses);
    out.put_count(entry.services.len());
    for record in entry.services.values() {
        record.service.encode_into(out);
        out.put_u64(record.create_index);
        out.put_u64(record.modify_index);
    }
    out.put_count(entry.checks.len());
    for record in entry.checks.values() {
        record.check.encode_into(out);
        out.put_u64(record.create_index);
        out.put_u64(record.modify_index);
    }
}

fn read_indexes(r: &mut Reader<'_>, max_index: u64) -> Result<(u64, u64), String> {
    let create = r.u64().map_err(err)?;
    let modify = r.u64().map_err(err)?;
    if create == 0 || create > modify || modify > max_index {
        return Err(format!(
            "indexes {create}/{modify} with services index {max_index}"
        ));
    }
    Ok((create, modify))
}

fn err(e: WireError) -> String {
    e.to_string()
}

/// Reads one block; every count and length is bounded, and keys must be
/// strictly increasing, as written.
pub fn decode_node_services(bytes: &[u8], max_index: u64) -> Result<NodeServices, String> {
    let mut r = Reader::new(bytes);
    let meta = read_pairs(&mut r, 64)?;
    let tagged_addresses = read_pairs(&mut r, MAX_TAGGED_ADDRESSES)?;
    let count = r
        .count_at_most(8, MAX_SERVICES_PER_NODE, "snapshot.services")
        .map_err(err)?;
    let mut services = OrdMap::new();
    for _ in 0..count {
        let service = ServiceDefinition::decode(&mut r).map_err(err)?;
        let (create_index, modify_index) = read_indexes(&mut r, max_index)?;
        if services
            .get_max()
            .is_some_and(|(last, _): &(String, _)| *last >= service.id)
        {
            return Err(format!("service {:?} repeated or out of order", service.id));
        }
        let record = ServiceRecord {
            service,
            create_index,
            modify_index,
        };
        services.insert(record.service.id.clone(), record);
    }
    let count = r
        .count_at_most(8, MAX_CHECKS_PER_NODE, "snapshot.checks")
        .map_err(err)?;
    let mut checks = OrdMap::new();
    for _ in 0..count {
        let check = CheckDefinition::decode(&mut r).map_err(err)?;
        let (create_index, modify_index) = read_indexes(&mut r, max_index)?;
        if checks
            .get_max()
            .is_some_and(|(last, _): &(String, _)| *last >= check.check_id)
        {
            return Err(format!(
                "check {:?} repeated or out of order",
                check.check_id
            ));
        }
        let record = CheckRecord {
            check,
            create_index,
            modify_index,
        };
        checks.insert(record.check.check_id.clone(), record);
    }
    r.finish().map_err(err)?;
    Ok(NodeServices {
        meta,
        tagged_addresses,
        services,
        checks,
    })
}

fn read_pairs(r: &mut Reader<'_>, max: usize) -> Result<BTreeMap<String, String>, String> {
    let count = r.count_at_most(8, max, "snapshot.pairs").map_err(err)?;
    let mut map = BTreeMap::new();
    for _ in 0..count {
        let pair = read_strings_pair(r)?;
        if map
            .last_key_value()
            .is_some_and(|(last, _)| *last >= pair.0)
        {
            return Err(format!("key {:?} repeated or out of order", pair.0));
        }
        map.insert(pair.0, pair.1);
    }
    Ok(map)
}

fn read_strings_pair(r: &mut Reader<'_>) -> Result<(String, String), String> {
    let key = r.string("snapshot.key", 512).map_err(err)?;
    let value = r.string("snapshot.value", 512).map_err(err)?;
    Ok((key, value))
}
