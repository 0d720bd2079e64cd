//! UDP gossip datagrams: a small header, a CRC32, then one or more
//! length-prefixed messages (a compound datagram, so the gossip layer can
//! piggyback membership updates on a probe). Layout in `wire-spec.md`,
//! section "Datagram".
//!
//! ```text
//! magic "CG" (2) | version u8 | crc32 u32 | count u8 | count x (length u16 | type u8 | payload)
//! ```
//!
//! The CRC covers every byte after it (count and messages). A datagram that
//! fails any check is dropped whole: UDP gives no way to ask for a resend,
//! and a half-trusted datagram is worse than a lost one.

use byteorder::{BigEndian, ByteOrder};

use super::error::WireError;
use super::frame::PROTOCOL_VERSION;
use super::message::Message;
use super::reader::Reader;
use super::writer::WriteExt;

/// Fits an Ethernet MTU (1500) minus IP and UDP headers with room to spare,
/// so a datagram is never fragmented (a lost fragment loses the datagram).
pub const MAX_DATAGRAM_BYTES: usize = 1400;
/// Bounds the work one datagram can cause; the minimum message is 3 bytes,
/// so without this a datagram could carry hundreds of empty messages.
pub const MAX_DATAGRAM_MESSAGES: usize = 64;
/// "CG": concord gossip; tells our datagrams from stray UDP traffic at once.
pub const DATAGRAM_MAGIC: [u8; 2] = *b"CG";
/// magic (2) + version (1) + crc32 (4) + count (1).
pub const DATAGRAM_HEADER_BYTES: usize = 8;
/// Each message's length field (u16) counts its type byte and payload.
pub const DATAGRAM_MESSAGE_LENGTH_BYTES: usize = 2;
/// Where the CRC sits, and where the bytes it covers start.
const CRC_AT: usize = 3;
const CRC_COVERS_FROM: usize = 7;

/// Encodes all `messages` into one datagram, or fails with
/// [`WireError::DatagramTooLarge`] if they do not fit in
/// [`MAX_DATAGRAM_BYTES`]. There must be between 1 and
/// [`MAX_DATAGRAM_MESSAGES`] messages.
pub fn encode_datagram<M: Message>(messages: &[M]) -> Result<Vec<u8>, WireError> {
    if messages.is_empty() || messages.len() > MAX_DATAGRAM_MESSAGES {
        return Err(WireError::InvalidValue {
            field: "datagram.count",
            value: messages.len() as u64,
        });
    }
    let mut out = Vec::with_capacity(MAX_DATAGRAM_BYTES);
    start_datagram(&mut out);
    for message in messages {
        append_message(&mut out, message);
    }
    if out.len() > MAX_DATAGRAM_BYTES {
        return Err(WireError::DatagramTooLarge {
            size: out.len(),
            max: MAX_DATAGRAM_BYTES,
        });
    }
    Ok(seal_datagram(out, messages.len()))
}

/// Decodes every message of a datagram. Any error means the whole datagram
/// must be dropped.
pub fn decode_datagram<M: Message>(bytes: &[u8]) -> Result<Vec<M>, WireError> {
    if bytes.len() > MAX_DATAGRAM_BYTES {
        return Err(WireError::DatagramTooLarge {
            size: bytes.len(),
            max: MAX_DATAGRAM_BYTES,
        });
    }
    if bytes.len() < DATAGRAM_HEADER_BYTES {
        return Err(WireError::Truncated {
            needed: DATAGRAM_HEADER_BYTES,
            remaining: bytes.len(),
        });
    }
    let mut r = Reader::new(bytes);
    let magic = r.take(DATAGRAM_MAGIC.len())?;
    if magic != DATAGRAM_MAGIC {
        // The frame error carries four bytes; pad the two we compared.
        return Err(WireError::BadMagic {
            found: [magic[0], magic[1], 0, 0],
        });
    }
    let version = r.u8()?;
    if version != PROTOCOL_VERSION {
        return Err(WireError::UnknownVersion(version));
    }
    let expected = r.u32()?;
    let actual = crc32fast::hash(&bytes[CRC_COVERS_FROM..]);
    if expected != actual {
        return Err(WireError::BadCrc { expected, actual });
    }
    let count = usize::from(r.u8()?);
    if count == 0 || count > MAX_DATAGRAM_MESSAGES {
        return Err(WireError::InvalidValue {
            field: "datagram.count",
            value: count as u64,
        });
    }
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        let length = usize::from(r.u16()?);
        if length == 0 {
            // Not even a type byte.
            return Err(WireError::InvalidValue {
                field: "datagram.message_length",
                value: 0,
            });
        }
        let body = r.take(length)?;
        messages.push(M::decode(body[0], &body[1..])?);
    }
    r.finish()?;
    Ok(messages)
}

/// Packs messages into one datagram until the next would not fit, so the
/// gossip layer can fill the space left after a probe with piggybacked
/// updates.
#[derive(Debug, Clone)]
pub struct DatagramBuilder {
    bytes: Vec<u8>,
    count: usize,
}

impl Default for DatagramBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DatagramBuilder {
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(MAX_DATAGRAM_BYTES);
        start_datagram(&mut bytes);
        DatagramBuilder { bytes, count: 0 }
    }

    /// Appends `message` if it fits (in bytes and in message count) and
    /// returns true; otherwise leaves the datagram unchanged and returns false.
    pub fn try_push<M: Message>(&mut self, message: &M) -> bool {
        if self.count >= MAX_DATAGRAM_MESSAGES {
            return false;
        }
        let before = self.bytes.len();
        append_message(&mut self.bytes, message);
        if self.bytes.len() > MAX_DATAGRAM_BYTES {
            self.bytes.truncate(before);
            return false;
        }
        self.count += 1;
        true
    }

    /// Messages pushed so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes still free for messages (each also needs its 2-byte length and
    /// type byte).
    pub fn remaining_bytes(&self) -> usize {
        MAX_DATAGRAM_BYTES - self.bytes.len()
    }

    /// The finished datagram. A datagram with no message is not valid, so
    /// finishing an empty builder is a bug in the caller.
    pub fn finish(self) -> Vec<u8> {
        assert!(!self.is_empty(), "finishing a datagram with no message");
        seal_datagram(self.bytes, self.count)
    }
}

/// Header with the CRC and count still zero.
fn start_datagram(out: &mut Vec<u8>) {
    out.extend_from_slice(&DATAGRAM_MAGIC);
    out.put_u8(PROTOCOL_VERSION);
    out.put_u32(0);
    out.put_u8(0);
}

/// Appends `length u16 | type | payload`. The length may exceed u16 only for
/// a message larger than any datagram; it is then written saturated and the
/// caller rejects the datagram by its total size.
fn append_message<M: Message>(out: &mut Vec<u8>, message: &M) {
    let length_at = out.len();
    out.put_u16(0);
    out.put_u8(message.message_type());
    message.encode_payload(out);
    let length = out.len() - length_at - DATAGRAM_MESSAGE_LENGTH_BYTES;
    let length = u16::try_from(length).unwrap_or(u16::MAX);
    BigEndian::write_u16(&mut out[length_at..length_at + 2], length);
}

fn seal_datagram(mut out: Vec<u8>, count: usize) -> Vec<u8> {
    assert!((1..=MAX_DATAGRAM_MESSAGES).contains(&count));
    assert!(out.len() <= MAX_DATAGRAM_BYTES);
    out[CRC_COVERS_FROM] = count as u8;
    let crc = crc32fast::hash(&out[CRC_COVERS_FROM..]);
    BigEndian::write_u32(&mut out[CRC_AT..CRC_AT + 4], crc);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::client_message::{ClientRequest, RequestBody};

    fn put(request_id: u64, value_bytes: usize) -> ClientRequest {
        ClientRequest {
            request_id,
            body: RequestBody::KvPut {
                key: "k".into(),
                value: vec![7; value_bytes].into(),
                cas: None,
            },
        }
    }

    #[test]
    fn compound_datagram_round_trips() {
        let messages = vec![put(1, 10), put(2, 0), put(3, 100)];
        let bytes = encode_datagram(&messages).unwrap();
        assert_eq!(decode_datagram::<ClientRequest>(&bytes).unwrap(), messages);
    }

    #[test]
    fn messages_beyond_the_size_limit_are_refused() {
        let err = encode_datagram(&[put(1, MAX_DATAGRAM_BYTES)]).unwrap_err();
        assert!(matches!(err, WireError::DatagramTooLarge { size, max }
            if size > MAX_DATAGRAM_BYTES && max == MAX_DATAGRAM_BYTES));
    }

    #[test]
    fn builder_packs_until_the_next_message_would_not_fit() {
        let mut builder = DatagramBuilder::new();
        let mut pushed = Vec::new();
        for id in 0.. {
            let message = put(id, 100);
            if !builder.try_push(&message) {
                break;
            }
            pushed.push(message);
        }
        assert!(pushed.len() > 1);
        // The message that did not fit really would not have.
        assert!(builder.remaining_bytes() < 2 + 1 + 8 + 4 + 1 + 4 + 100 + 1);
        // A smaller message still fits in what is left.
        let small = put(999, 0);
        assert!(builder.try_push(&small));
        pushed.push(small);
        let bytes = builder.finish();
        assert!(bytes.len() <= MAX_DATAGRAM_BYTES);
        assert_eq!(decode_datagram::<ClientRequest>(&bytes).unwrap(), pushed);
    }

    #[test]
    fn builder_stops_at_the_message_count_limit() {
        let mut builder = DatagramBuilder::new();
        let leave = ClientRequest {
            request_id: 0,
            body: RequestBody::Leave,
        };
        let mut pushed = 0;
        while builder.try_push(&leave) {
            pushed += 1;
        }
        assert_eq!(pushed, MAX_DATAGRAM_MESSAGES);
        assert!(builder.remaining_bytes() > 100);
    }

    #[test]
    fn corrupted_datagram_is_a_crc_error() {
        let mut bytes = encode_datagram(&[put(1, 10)]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(
            decode_datagram::<ClientRequest>(&bytes),
            Err(WireError::BadCrc { .. })
        ));
    }

    #[test]
    fn other_version_is_refused_before_the_crc() {
        let mut bytes = encode_datagram(&[put(1, 10)]).unwrap();
        bytes[2] = PROTOCOL_VERSION + 1;
        assert_eq!(
            decode_datagram::<ClientRequest>(&bytes),
            Err(WireError::UnknownVersion(PROTOCOL_VERSION + 1))
        );
    }
}
