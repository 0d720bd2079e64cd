//! Output in Consul's shapes: columns aligned with two spaces between them
//! (as Consul's `columnize`), `node info` as indented `key = value` lines,
//! and `kv get -recurse` as `key:value` lines.

use std::io::{self, Write};

use crate::wire::client_message::{CatalogNode, InfoSection, KvEntry, MemberInfo, PeerInfo};
use crate::wire::client_operator::RaftConfigurationView;

/// Left-aligned columns, each as wide as its widest cell, separated by two
/// spaces; no trailing spaces.
pub fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn members_table(members: &[MemberInfo]) -> String {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.address.clone(),
                m.status.clone(),
                m.role.clone(),
                m.build.clone(),
                m.protocol.to_string(),
                m.datacenter.clone(),
            ]
        })
        .collect();
    columns(
        &[
            "Node", "Address", "Status", "Type", "Build", "Protocol", "DC",
        ],
        &rows,
    )
}

pub fn peers_table(peers: &[PeerInfo]) -> String {
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{:016x}", p.id),
                p.address.clone(),
                p.state.clone(),
                p.voter.to_string(),
            ]
        })
        .collect();
    columns(&["Node", "ID", "Address", "State", "Voter"], &rows)
}

/// Consul's `operator raft list-peers` columns. `Commit Index` is the
/// last index the answering server knows the server to hold; `-` where it
/// does not know (a stale view of another server).
pub fn raft_servers_table(view: &RaftConfigurationView) -> String {
    let leader_index = view.servers.iter().find(|s| s.leader).map(|s| s.last_index);
    let rows: Vec<Vec<String>> = view
        .servers
        .iter()
        .map(|s| {
            let state = match (s.leader, s.voter) {
                (true, _) => "leader",
                (false, true) => "follower",
                (false, false) => "non-voter",
            };
            let known = |index: u64| match index {
                0 => "-".to_string(),
                index => index.to_string(),
            };
            let trails = match (s.leader, leader_index, s.last_index) {
                (true, _, _) | (_, None, _) | (_, _, 0) => "-".to_string(),
                (false, Some(leader), own) => format!("{} commits", leader.saturating_sub(own)),
            };
            vec![
                s.name.clone(),
                format!("{:016x}", s.id),
                s.address.clone(),
                state.to_string(),
                s.voter.to_string(),
                "3".to_string(),
                known(s.last_index),
                trails,
            ]
        })
        .collect();
    columns(
        &[
            "Node",
            "ID",
            "Address",
            "State",
            "Voter",
            "RaftProtocol",
            "Commit Index",
            "Trails Leader By",
        ],
        &rows,
    )
}

pub fn catalog_table(nodes: &[CatalogNode]) -> String {
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.address.clone(),
                n.role.clone(),
                n.datacenter.clone(),
            ]
        })
        .collect();
    columns(&["Node", "Address", "Type", "DC"], &rows)
}

/// `section:` then one tab-indented `key = value` line per field.
pub fn info_sections(sections: &[InfoSection]) -> String {
    let mut out = String::new();
    for section in sections {
        out.push_str(&section.name);
        out.push_str(":\n");
        for (key, value) in &section.fields {
            out.push('\t');
            out.push_str(key);
            out.push_str(" = ");
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

/// The raw value then a newline, as `consul kv get` prints it; values are
/// bytes and are written as they are.
pub fn write_value(out: &mut dyn Write, value: &[u8]) -> io::Result<()> {
    out.write_all(value)?;
    out.write_all(b"\n")
}

/// `key:value` per entry, as `consul kv get -recurse`.
pub fn write_recurse(out: &mut dyn Write, entries: &[KvEntry]) -> io::Result<()> {
    for entry in entries {
        out.write_all(entry.key.as_bytes())?;
        out.write_all(b":")?;
        out.write_all(&entry.value)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_to_the_widest_cell() {
        let table = columns(
            &["Node", "Address"],
            &[
                vec!["a-long-name".into(), "127.0.0.1:8300".into()],
                vec!["b".into(), "10.0.0.1:1".into()],
            ],
        );
        assert_eq!(
            table,
            "Node         Address\n\
             a-long-name  127.0.0.1:8300\n\
             b            10.0.0.1:1\n"
        );
    }

    #[test]
    fn members_have_consul_columns() {
        let table = members_table(&[MemberInfo {
            name: "n1".into(),
            address: "127.0.0.1:8300".into(),
            status: "alive".into(),
            role: "server".into(),
            build: "0.1.0".into(),
            protocol: 1,
            datacenter: "dc1".into(),
        }]);
        let mut lines = table.lines();
        assert_eq!(
            lines.next().unwrap(),
            "Node  Address         Status  Type    Build  Protocol  DC"
        );
        assert_eq!(
            lines.next().unwrap(),
            "n1    127.0.0.1:8300  alive   server  0.1.0  1         dc1"
        );
    }

    #[test]
    fn info_is_sections_of_indented_pairs() {
        let text = info_sections(&[InfoSection {
            name: "raft".into(),
            fields: vec![
                ("term".into(), "3".into()),
                ("state".into(), "leader".into()),
            ],
        }]);
        assert_eq!(text, "raft:\n\tterm = 3\n\tstate = leader\n");
    }

    #[test]
    fn recurse_prints_key_colon_value_lines() {
        let mut out = Vec::new();
        let entry = |k: &str, v: &str| KvEntry {
            key: k.into(),
            value: bytes::Bytes::copy_from_slice(v.as_bytes()),
            create_index: 1,
            modify_index: 1,
        };
        write_recurse(&mut out, &[entry("a/b", "1"), entry("a/c", "x:y")]).unwrap();
        assert_eq!(out, b"a/b:1\na/c:x:y\n");
    }
}
