//! The 32-byte header at the start of every log segment.
//!
//! ```text
//! offset size field
//!      0    4 magic "CCLG"
//!      4    4 format version (1)
//!      8    8 first_index   index of the segment's first record; equals the
//!                           number in the file name
//!     16   12 reserved, zero
//!     28    4 crc32 of bytes 0..28
//! ```

use byteorder::{BigEndian, ByteOrder};

pub const SEGMENT_MAGIC: [u8; 4] = *b"CCLG";
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
pub const SEGMENT_HEADER_BYTES: usize = 32;

pub fn encode_segment_header(first_index: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut out = [0u8; SEGMENT_HEADER_BYTES];
    out[0..4].copy_from_slice(&SEGMENT_MAGIC);
    BigEndian::write_u32(&mut out[4..8], SEGMENT_FORMAT_VERSION);
    BigEndian::write_u64(&mut out[8..16], first_index);
    let crc = crc32fast::hash(&out[0..28]);
    BigEndian::write_u32(&mut out[28..32], crc);
    out
}

#[derive(Debug, PartialEq, Eq)]
pub enum SegmentHeaderError {
    TooShort,
    BadCrc,
    BadMagic,
    UnsupportedVersion(u32),
}

/// Returns the first index stored in the header.
pub fn decode_segment_header(bytes: &[u8]) -> Result<u64, SegmentHeaderError> {
    if bytes.len() < SEGMENT_HEADER_BYTES {
        return Err(SegmentHeaderError::TooShort);
    }
    if crc32fast::hash(&bytes[0..28]) != BigEndian::read_u32(&bytes[28..32]) {
        return Err(SegmentHeaderError::BadCrc);
    }
    if bytes[0..4] != SEGMENT_MAGIC {
        return Err(SegmentHeaderError::BadMagic);
    }
    let version = BigEndian::read_u32(&bytes[4..8]);
    if version != SEGMENT_FORMAT_VERSION {
        return Err(SegmentHeaderError::UnsupportedVersion(version));
    }
    Ok(BigEndian::read_u64(&bytes[8..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let bytes = encode_segment_header(12345);
        assert_eq!(decode_segment_header(&bytes), Ok(12345));
        let mut damaged = bytes;
        damaged[9] ^= 0x40;
        assert_eq!(
            decode_segment_header(&damaged),
            Err(SegmentHeaderError::BadCrc)
        );
        assert_eq!(
            decode_segment_header(&bytes[..31]),
            Err(SegmentHeaderError::TooShort)
        );
    }
}
