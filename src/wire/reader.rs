//! A bounds-checked cursor over untrusted bytes. Every read checks the
//! remaining length first, so decoding never panics and never allocates more
//! than the input it was given: a length or count is checked against the
//! bytes that remain before anything is reserved.

use byteorder::{BigEndian, ByteOrder};
use bytes::Bytes;

use super::error::WireError;

/// A field read with [`Reader::shared_bytes`] shares the buffer it was read
/// from only when that buffer is at most this many times its size. A kept
/// slice keeps its whole buffer alive (in the Raft log, in the KV store): a
/// short value beside a long key, or one entry of a batch of hundreds, would
/// otherwise hold a frame's worth of memory each. Those get their own
/// allocation instead (one copy of a field that is small next to its frame).
pub const MAX_SHARED_BUFFER_RATIO: usize = 2;

pub struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    /// `bytes` as a shared buffer, when the caller holds it so: fields read
    /// with [`Reader::shared_bytes`] may then be slices of it, not copies.
    shared: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            position: 0,
            shared: None,
        }
    }

    /// A reader over a shared buffer (a received frame, a log entry).
    pub fn shared(bytes: &'a Bytes) -> Self {
        Reader {
            bytes,
            position: 0,
            shared: Some(bytes),
        }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let remaining = self.remaining();
        if len > remaining {
            return Err(WireError::Truncated {
                needed: len,
                remaining,
            });
        }
        let start = self.position;
        self.position += len;
        Ok(&self.bytes[start..self.position])
    }

    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(BigEndian::read_u16(self.take(2)?))
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(BigEndian::read_u32(self.take(4)?))
    }

    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(BigEndian::read_u64(self.take(8)?))
    }

    pub fn u128(&mut self) -> Result<u128, WireError> {
        Ok(BigEndian::read_u128(self.take(16)?))
    }

    /// A bool is one byte, 0 or 1; anything else is an error, not `true`.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(WireError::InvalidValue {
                field,
                value: u64::from(other),
            }),
        }
    }

    /// A u32 length followed by that many bytes, at most `max_len`.
    pub fn bytes(&mut self, field: &'static str, max_len: usize) -> Result<&'a [u8], WireError> {
        let len = self.u32()? as usize;
        if len > max_len {
            return Err(WireError::FieldTooLong {
                field,
                len,
                max: max_len,
            });
        }
        self.take(len)
    }

    /// As [`Reader::bytes`], as a `Bytes` that shares the reader's buffer
    /// (no copy) when the reader was made with [`Reader::shared`] and the
    /// field is large enough next to the buffer
    /// ([`MAX_SHARED_BUFFER_RATIO`]); otherwise a copy.
    pub fn shared_bytes(
        &mut self,
        field: &'static str,
        max_len: usize,
    ) -> Result<Bytes, WireError> {
        let raw = self.bytes(field, max_len)?;
        let end = self.position;
        let start = end - raw.len();
        Ok(match self.shared {
            Some(buffer)
                if !raw.is_empty()
                    && raw.len().saturating_mul(MAX_SHARED_BUFFER_RATIO) >= buffer.len() =>
            {
                // In range: `take` checked `start..end` against this buffer.
                buffer.slice(start..end)
            }
            _ => Bytes::copy_from_slice(raw),
        })
    }

    /// A u32 length followed by that many bytes of UTF-8, at most `max_len`.
    pub fn string(&mut self, field: &'static str, max_len: usize) -> Result<String, WireError> {
        let raw = self.bytes(field, max_len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| WireError::InvalidUtf8)
    }

    /// A u32 element count, checked against the remaining bytes assuming each
    /// element takes at least `min_element_bytes`, so a hostile count cannot
    /// make the caller reserve memory the input does not back.
    pub fn count(&mut self, min_element_bytes: usize) -> Result<usize, WireError> {
        let count = u64::from(self.u32()?);
        let remaining = self.remaining();
        let min_bytes = count.saturating_mul(min_element_bytes.max(1) as u64);
        if min_bytes > remaining as u64 {
            return Err(WireError::CountTooLarge { count, remaining });
        }
        Ok(count as usize)
    }

    /// [`Reader::count`] that also refuses more than `max` elements, naming
    /// `field`.
    pub fn count_at_most(
        &mut self,
        min_element_bytes: usize,
        max: usize,
        field: &'static str,
    ) -> Result<usize, WireError> {
        let count = self.count(min_element_bytes)?;
        if count > max {
            return Err(WireError::FieldTooLong {
                field,
                len: count,
                max,
            });
        }
        Ok(count)
    }

    /// Fails if any bytes are left: a message must fill its frame exactly.
    pub fn finish(&self) -> Result<(), WireError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(WireError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_truncation_errors() {
        let mut r = Reader::new(&[0, 1, 2]);
        assert_eq!(r.u16().unwrap(), 1);
        assert_eq!(
            r.u32(),
            Err(WireError::Truncated {
                needed: 4,
                remaining: 1
            })
        );
    }

    #[test]
    fn hostile_count_is_refused_before_allocation() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert_eq!(
            r.count(1),
            Err(WireError::CountTooLarge {
                count: 0xffff_ffff,
                remaining: 2
            })
        );
    }

    #[test]
    fn invalid_utf8_is_its_own_error() {
        let mut r = Reader::new(&[0, 0, 0, 2, 0xc3, 0x28]);
        assert_eq!(r.string("key", 16), Err(WireError::InvalidUtf8));
    }

    #[test]
    fn bool_rejects_values_other_than_zero_and_one() {
        let mut r = Reader::new(&[2]);
        assert!(matches!(
            r.bool("flag"),
            Err(WireError::InvalidValue { .. })
        ));
    }

    #[test]
    fn a_large_field_shares_the_buffer_and_a_small_one_is_copied() {
        let mut buffer = vec![0, 0, 0, 9];
        buffer.extend_from_slice(b"large!!!!");
        buffer.extend_from_slice(&[0, 0, 0, 1, b's']);
        let buffer = Bytes::from(buffer);
        let mut r = Reader::shared(&buffer);
        let large = r.shared_bytes("large", 64).unwrap();
        let small = r.shared_bytes("small", 64).unwrap();
        r.finish().unwrap();
        assert_eq!((&large[..], &small[..]), (&b"large!!!!"[..], &b"s"[..]));
        let within = |b: &Bytes| buffer.as_ptr_range().contains(&b.as_ptr());
        assert!(within(&large), "9 of 18 bytes: shared");
        assert!(!within(&small), "1 of 18 bytes: copied");
        // A plain reader copies.
        let mut r = Reader::new(&buffer);
        assert!(!within(&r.shared_bytes("large", 64).unwrap()));
    }

    #[test]
    fn leftover_bytes_are_trailing_bytes() {
        let mut r = Reader::new(&[1, 2]);
        r.u8().unwrap();
        assert_eq!(r.finish(), Err(WireError::TrailingBytes(1)));
    }
}
