//! `DATA_DIR/node-id`: the server's Raft node ID, chosen at random once per
//! data directory and kept across restarts (a server that came back under a
//! new ID would be a stranger to its own configuration). The file is the ID
//! as 16 lowercase hex digits and a newline, so an operator can read it.

use std::path::Path;

use super::durable_file::replace_atomically;
use super::error::{IoContext, Result, StorageError};

pub const NODE_ID_FILE_NAME: &str = "node-id";

/// Parses the file's bytes; anything but 16 hex digits (and optional
/// whitespace) naming a non-zero ID is corruption.
pub fn decode_node_id(path: &Path, bytes: &[u8]) -> Result<u64> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| StorageError::corruption(path, 0, "node ID file is not text"))?
        .trim();
    if text.len() != 16 {
        return Err(StorageError::corruption(
            path,
            0,
            "node ID file must hold 16 hex digits",
        ));
    }
    match u64::from_str_radix(text, 16) {
        Ok(0) | Err(_) => Err(StorageError::corruption(
            path,
            0,
            "node ID file does not hold a non-zero hex ID",
        )),
        Ok(id) => Ok(id),
    }
}

/// The node ID saved in `data_dir`, or `fresh_id` saved durably first when
/// there is none. `fresh_id` must not be 0 (0 means "no node").
pub fn load_or_create_node_id(data_dir: &Path, fresh_id: u64) -> Result<u64> {
    assert!(fresh_id != 0, "a node ID is never 0");
    let path = data_dir.join(NODE_ID_FILE_NAME);
    match std::fs::read(&path) {
        Ok(bytes) => decode_node_id(&path, &bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            replace_atomically(&path, format!("{fresh_id:016x}\n").as_bytes())?;
            Ok(fresh_id)
        }
        Err(err) => Err(err).at(&path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_id_is_chosen_once_and_kept_across_restarts() {
        let dir = std::env::temp_dir().join(format!("concord-node-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_or_create_node_id(&dir, 0xabc).unwrap(), 0xabc);
        assert_eq!(load_or_create_node_id(&dir, 0xdef).unwrap(), 0xabc);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_node_id_file_is_an_error_not_a_new_identity() {
        let path = Path::new("node-id");
        assert!(decode_node_id(path, b"xyz").is_err());
        assert!(decode_node_id(path, b"0000000000000000\n").is_err());
        assert_eq!(decode_node_id(path, b"00000000000000ff\n").unwrap(), 0xff);
    }
}
