//! One log entry as framed inside a segment:
//!
//! ```text
//! offset size field
//!      0    4 crc32              CRC32 (IEEE) of bytes 4 .. 33 + data_len
//!      4    4 data_len           bytes of data that follow the header
//!      8    8 term
//!     16    8 index              never 0
//!     24    8 batch_start_index  index of the first entry of the append batch
//!     32    1 kind               1 Command, 2 Noop, 3 Configuration (never 0)
//!     33    n data
//! ```
//!
//! `batch_start_index` lets recovery tell a torn tail from bit rot: an append
//! batch is fsynced once, and the kernel may write its pages back in any
//! order, so after a power cut a later record of the last batch can be whole
//! while an earlier one is not. A bad record followed by a whole record of the
//! *same* batch is therefore a torn tail; followed by a record of a *later*
//! batch it is corruption (the later batch was only written after the earlier
//! one's fsync returned).

use byteorder::{BigEndian, ByteOrder};

use crate::wire::raft_message::{Entry, EntryKind};

pub const RECORD_HEADER_BYTES: usize = 33;
/// Offset of the kind byte, which is never 0 in a record; recovery uses it to
/// skip zero-filled space quickly.
pub const KIND_OFFSET: usize = 32;
/// Indexes above this are refused on disk, so `index + 1` never overflows
/// however damaged a file is (2^63 - 1 entries will not be reached).
pub const MAX_LOG_INDEX: u64 = i64::MAX as u64;

/// A log entry borrowed from a memory-mapped segment: no copy of `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub term: u64,
    pub index: u64,
    pub kind: EntryKind,
    pub data: &'a [u8],
}

impl EntryRef<'_> {
    pub fn to_entry(&self) -> Entry {
        Entry {
            term: self.term,
            index: self.index,
            kind: self.kind,
            // The map is remapped and unmapped as the log changes: an entry
            // read back owns its bytes.
            data: bytes::Bytes::copy_from_slice(self.data),
        }
    }
}

/// A record that decoded and passed its CRC.
#[derive(Debug, Clone, Copy)]
pub struct DecodedRecord<'a> {
    pub entry: EntryRef<'a>,
    pub batch_start_index: u64,
    /// Header plus data.
    pub record_bytes: usize,
}

pub fn record_bytes(data_len: usize) -> usize {
    RECORD_HEADER_BYTES + data_len
}

pub fn kind_code(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Command => 1,
        EntryKind::Noop => 2,
        EntryKind::Configuration => 3,
    }
}

pub fn kind_from_code(code: u8) -> Option<EntryKind> {
    match code {
        1 => Some(EntryKind::Command),
        2 => Some(EntryKind::Noop),
        3 => Some(EntryKind::Configuration),
        _ => None,
    }
}

/// Writes the record for `entry` into the front of `out`, which must hold
/// `record_bytes(entry.data.len())` bytes. Writing in place lets the log
/// encode straight into its memory map, without an intermediate buffer.
pub fn encode_record_into(entry: &Entry, batch_start_index: u64, out: &mut [u8]) -> usize {
    let total = record_bytes(entry.data.len());
    assert!(out.len() >= total, "record buffer too small");
    let data_len = u32::try_from(entry.data.len()).expect("entry data longer than u32::MAX");
    BigEndian::write_u32(&mut out[4..8], data_len);
    BigEndian::write_u64(&mut out[8..16], entry.term);
    BigEndian::write_u64(&mut out[16..24], entry.index);
    BigEndian::write_u64(&mut out[24..32], batch_start_index);
    out[KIND_OFFSET] = kind_code(entry.kind);
    out[RECORD_HEADER_BYTES..total].copy_from_slice(&entry.data);
    let crc = crc32fast::hash(&out[4..total]);
    BigEndian::write_u32(&mut out[0..4], crc);
    total
}

/// Decodes the record at the start of `bytes`. Every field is checked before
/// it is trusted; the error says what was wrong, for the corruption message.
pub fn decode_record(bytes: &[u8]) -> Result<DecodedRecord<'_>, &'static str> {
    if bytes.len() < RECORD_HEADER_BYTES {
        return Err("record header runs past the end of the segment");
    }
    let kind = kind_from_code(bytes[KIND_OFFSET]).ok_or("unknown entry kind")?;
    let data_len = BigEndian::read_u32(&bytes[4..8]) as usize;
    if data_len > bytes.len() - RECORD_HEADER_BYTES {
        return Err("record length runs past the end of the segment");
    }
    let total = RECORD_HEADER_BYTES + data_len;
    let stored_crc = BigEndian::read_u32(&bytes[0..4]);
    if crc32fast::hash(&bytes[4..total]) != stored_crc {
        return Err("record CRC mismatch");
    }
    let term = BigEndian::read_u64(&bytes[8..16]);
    let index = BigEndian::read_u64(&bytes[16..24]);
    let batch_start_index = BigEndian::read_u64(&bytes[24..32]);
    if index == 0 || index > MAX_LOG_INDEX || batch_start_index == 0 || batch_start_index > index {
        return Err("record index or batch start out of range");
    }
    Ok(DecodedRecord {
        entry: EntryRef {
            term,
            index,
            kind,
            data: &bytes[RECORD_HEADER_BYTES..total],
        },
        batch_start_index,
        record_bytes: total,
    })
}

/// The first non-zero byte at or after `from`, scanning eight bytes at a time.
pub fn next_nonzero_byte(bytes: &[u8], from: usize) -> Option<usize> {
    let mut position = from;
    while position + 8 <= bytes.len() {
        if BigEndian::read_u64(&bytes[position..position + 8]) != 0 {
            break;
        }
        position += 8;
    }
    (position..bytes.len()).find(|&i| bytes[i] != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, data: &[u8]) -> Entry {
        Entry {
            term: 3,
            index,
            kind: EntryKind::Configuration,
            data: bytes::Bytes::copy_from_slice(data),
        }
    }

    #[test]
    fn record_round_trips() {
        let mut buf = vec![0; 64];
        let n = encode_record_into(&entry(9, b"hello"), 7, &mut buf);
        let decoded = decode_record(&buf[..n]).unwrap();
        assert_eq!(decoded.entry.to_entry(), entry(9, b"hello"));
        assert_eq!(decoded.batch_start_index, 7);
        assert_eq!(decoded.record_bytes, n);
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let mut buf = vec![0; 64];
        let n = encode_record_into(&entry(9, b"hello"), 9, &mut buf);
        for byte in 0..n {
            for bit in 0..8 {
                let mut copy = buf[..n].to_vec();
                copy[byte] ^= 1 << bit;
                assert!(decode_record(&copy).is_err(), "flip at {byte}:{bit}");
            }
        }
    }

    #[test]
    fn zero_filled_space_is_not_a_record() {
        assert!(decode_record(&[0u8; 64]).is_err());
    }

    #[test]
    fn next_nonzero_byte_finds_the_first_set_byte() {
        let mut bytes = vec![0u8; 100];
        assert_eq!(next_nonzero_byte(&bytes, 0), None);
        bytes[77] = 1;
        assert_eq!(next_nonzero_byte(&bytes, 3), Some(77));
        assert_eq!(next_nonzero_byte(&bytes, 78), None);
    }
}
