//! The index of a sealed segment: the byte offset of every record, written
//! once when the segment is sealed so a restart does not rescan (and re-CRC)
//! every old segment. It is only an accelerator: a missing or damaged index
//! is rebuilt from the segment itself.
//!
//! ```text
//! offset size field
//!      0    4 magic "CCIX"
//!      4    4 format version (1)
//!      8    8 first_index     equals the segment's first index
//!     16    4 entry_count
//!     20    4 written_end     byte offset just past the last record
//!     24  4*n record offsets  strictly increasing, each >= 32, < written_end
//!  24+4n    4 crc32 of bytes 0 .. 24+4n
//! ```

use byteorder::{BigEndian, ByteOrder};

use crate::wire::writer::WriteExt;

use super::log_record::RECORD_HEADER_BYTES;
use super::segment_header::SEGMENT_HEADER_BYTES;

pub const INDEX_MAGIC: [u8; 4] = *b"CCIX";
pub const INDEX_FORMAT_VERSION: u32 = 1;
const INDEX_FIXED_BYTES: usize = 24;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIndex {
    pub first_index: u64,
    pub written_end: u32,
    pub offsets: Vec<u32>,
}

/// The longest index a segment of `segment_len` bytes can have: one offset
/// per record, and a record is at least its header. Longer is damage, found
/// before the file is read.
pub fn max_segment_index_bytes(segment_len: u64) -> u64 {
    let max_records = segment_len / RECORD_HEADER_BYTES as u64;
    (INDEX_FIXED_BYTES as u64 + 4) + 4 * max_records
}

pub fn encode_segment_index(index: &SegmentIndex) -> Vec<u8> {
    let mut out = Vec::with_capacity(INDEX_FIXED_BYTES + 4 * index.offsets.len() + 4);
    out.extend_from_slice(&INDEX_MAGIC);
    out.put_u32(INDEX_FORMAT_VERSION);
    out.put_u64(index.first_index);
    out.put_count(index.offsets.len());
    out.put_u32(index.written_end);
    for &offset in &index.offsets {
        out.put_u32(offset);
    }
    let crc = crc32fast::hash(&out);
    out.put_u32(crc);
    out
}

/// Decodes and checks an index file against the segment it describes. Any
/// failure means "rebuild the index", never data loss, so the reason is a
/// plain string for the log line.
pub fn decode_segment_index(
    bytes: &[u8],
    first_index: u64,
    segment_len: u64,
) -> Result<SegmentIndex, &'static str> {
    if bytes.len() < INDEX_FIXED_BYTES + 4 {
        return Err("index file too short");
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != BigEndian::read_u32(crc) {
        return Err("index CRC mismatch");
    }
    if body[0..4] != INDEX_MAGIC {
        return Err("bad index magic");
    }
    if BigEndian::read_u32(&body[4..8]) != INDEX_FORMAT_VERSION {
        return Err("unknown index format version");
    }
    if BigEndian::read_u64(&body[8..16]) != first_index {
        return Err("index first_index differs from the segment's");
    }
    let count = BigEndian::read_u32(&body[16..20]) as usize;
    let written_end = BigEndian::read_u32(&body[20..24]);
    if u64::from(written_end) > segment_len {
        return Err("index written_end beyond the segment");
    }
    if body.len() - INDEX_FIXED_BYTES != count.saturating_mul(4) {
        return Err("index length does not match its entry count");
    }
    let offsets: Vec<u32> = body[INDEX_FIXED_BYTES..]
        .chunks_exact(4)
        .map(BigEndian::read_u32)
        .collect();
    let mut previous = None;
    for &offset in &offsets {
        let in_range = (offset as usize) >= SEGMENT_HEADER_BYTES && offset < written_end;
        if !in_range || previous.is_some_and(|p| offset <= p) {
            return Err("index offsets out of order or out of range");
        }
        previous = Some(offset);
    }
    Ok(SegmentIndex {
        first_index,
        written_end,
        offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_index_round_trips() {
        let index = SegmentIndex {
            first_index: 40,
            written_end: 200,
            offsets: vec![32, 70, 150],
        };
        let bytes = encode_segment_index(&index);
        assert_eq!(decode_segment_index(&bytes, 40, 1024), Ok(index));
    }

    #[test]
    fn damaged_index_is_refused() {
        let index = SegmentIndex {
            first_index: 40,
            written_end: 200,
            offsets: vec![32, 70, 150],
        };
        let mut bytes = encode_segment_index(&index);
        bytes[26] ^= 1;
        assert!(decode_segment_index(&bytes, 40, 1024).is_err());
        let bytes = encode_segment_index(&index);
        assert!(decode_segment_index(&bytes, 41, 1024).is_err());
        assert!(decode_segment_index(&bytes, 40, 100).is_err());
    }
}
