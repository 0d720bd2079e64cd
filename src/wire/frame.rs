//! TCP framing: a connection opens with a preamble naming its purpose, then
//! carries frames of `length | type | payload | crc32(type, payload)`.
//! Layout in `wire-spec.md`, sections "Preamble" and "Frame".

use byteorder::{BigEndian, ByteOrder};
use bytes::Bytes;

use super::error::WireError;
use super::message::Message;
use super::writer::WriteExt;

/// "CNCD": lets a server tell our protocol from a stray client at once.
pub const MAGIC: [u8; 4] = *b"CNCD";
pub const PROTOCOL_VERSION: u8 = 2;
pub const PREAMBLE_BYTES: usize = 6;
/// Big enough for a 512 KiB value or a batch of entries, small enough that a
/// hostile length cannot make us reserve much memory.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 16 * 1024 * 1024;
/// The length field counts the type byte, the payload and the CRC.
pub const FRAME_LENGTH_BYTES: usize = 4;
const TYPE_AND_CRC_BYTES: u32 = 1 + 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "fuzzing", derive(arbitrary::Arbitrary))]
pub enum Purpose {
    /// Raft RPCs between servers.
    Raft,
    /// Client/CLI RPCs, and requests a server forwards to the leader.
    Client,
    /// Gossip full state push/pull.
    GossipSync,
}

impl Purpose {
    pub fn to_byte(self) -> u8 {
        match self {
            Purpose::Raft => 0x01,
            Purpose::Client => 0x02,
            Purpose::GossipSync => 0x03,
        }
    }

    pub fn from_byte(byte: u8) -> Result<Self, WireError> {
        match byte {
            0x01 => Ok(Purpose::Raft),
            0x02 => Ok(Purpose::Client),
            0x03 => Ok(Purpose::GossipSync),
            other => Err(WireError::UnknownPurpose(other)),
        }
    }
}

pub fn encode_preamble(purpose: Purpose) -> [u8; PREAMBLE_BYTES] {
    [
        MAGIC[0],
        MAGIC[1],
        MAGIC[2],
        MAGIC[3],
        PROTOCOL_VERSION,
        purpose.to_byte(),
    ]
}

/// `bytes` must be exactly the first [`PREAMBLE_BYTES`] of the connection.
pub fn decode_preamble(bytes: &[u8]) -> Result<Purpose, WireError> {
    if bytes.len() < PREAMBLE_BYTES {
        return Err(WireError::Truncated {
            needed: PREAMBLE_BYTES,
            remaining: bytes.len(),
        });
    }
    if bytes.len() > PREAMBLE_BYTES {
        return Err(WireError::TrailingBytes(bytes.len() - PREAMBLE_BYTES));
    }
    if bytes[..4] != MAGIC {
        return Err(WireError::BadMagic {
            found: [bytes[0], bytes[1], bytes[2], bytes[3]],
        });
    }
    if bytes[4] != PROTOCOL_VERSION {
        return Err(WireError::UnknownVersion(bytes[4]));
    }
    Purpose::from_byte(bytes[5])
}

/// Appends one complete frame carrying `message` to `out`.
pub fn encode_frame<M: Message>(message: &M, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_u32(0); // length, patched below
    let body_start = out.len();
    out.put_u8(message.message_type());
    message.encode_payload(out);
    let crc = crc32fast::hash(&out[body_start..]);
    out.put_u32(crc);
    let length = u32::try_from(out.len() - body_start).expect("frame longer than u32::MAX");
    BigEndian::write_u32(&mut out[start..body_start], length);
}

/// A complete frame whose CRC has been checked; the payload is not yet
/// decoded. The payload is the buffer the frame was assembled in, handed
/// out without a copy; decoded values and log entries share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub message_type: u8,
    pub payload: Bytes,
}

impl Frame {
    pub fn decode<M: Message>(&self) -> Result<M, WireError> {
        M::decode_shared(self.message_type, &self.payload)
    }
}

/// Reassembles frames from bytes that arrive in arbitrary pieces. It buffers
/// at most one frame (`max_frame_bytes` plus the length field): `feed` takes
/// only what completes the current frame, so the caller keeps the rest.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_bytes: u32,
    length_bytes: [u8; FRAME_LENGTH_BYTES],
    length_filled: usize,
    /// The declared length once the length field is complete.
    declared_length: Option<u32>,
    /// Kept apart from the body so the payload needs no shift when the
    /// frame is handed out.
    message_type: Option<u8>,
    /// Payload then CRC: everything after the type byte.
    body: Vec<u8>,
    /// A decoder that returned an error stays failed: the stream has lost
    /// its framing and the connection must be closed.
    failed: Option<WireError>,
}

impl FrameDecoder {
    pub fn new(max_frame_bytes: u32) -> Self {
        FrameDecoder {
            max_frame_bytes,
            length_bytes: [0; FRAME_LENGTH_BYTES],
            length_filled: 0,
            declared_length: None,
            message_type: None,
            body: Vec::new(),
            failed: None,
        }
    }

    /// Takes bytes from `input` up to the end of the current frame and
    /// returns how many it took. Once a frame is complete it takes nothing
    /// more until [`FrameDecoder::next_frame`] has returned it.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        if self.failed.is_some() || self.frame_complete() {
            return 0;
        }
        let mut taken = 0;
        if self.declared_length.is_none() {
            let want = FRAME_LENGTH_BYTES - self.length_filled;
            let n = want.min(input.len());
            self.length_bytes[self.length_filled..self.length_filled + n]
                .copy_from_slice(&input[..n]);
            self.length_filled += n;
            taken += n;
            if self.length_filled < FRAME_LENGTH_BYTES {
                return taken;
            }
            let declared = BigEndian::read_u32(&self.length_bytes);
            if declared > self.max_frame_bytes {
                self.failed = Some(WireError::FrameTooLarge {
                    declared: u64::from(declared),
                    max: u64::from(self.max_frame_bytes),
                });
                return taken;
            }
            if declared < TYPE_AND_CRC_BYTES {
                self.failed = Some(WireError::FrameTooShort {
                    declared: u64::from(declared),
                });
                return taken;
            }
            self.declared_length = Some(declared);
            // Reserve only what the peer has actually sent so far: a declared
            // length is a claim, not a promise.
            self.body.clear();
        }
        if self.message_type.is_none() {
            match input.get(taken) {
                Some(&byte) => {
                    self.message_type = Some(byte);
                    taken += 1;
                }
                None => return taken,
            }
        }
        let declared = self.declared_length.unwrap_or(0) as usize;
        let want = declared - 1 - self.body.len();
        let n = want.min(input.len() - taken);
        let needed = self.body.len() + n;
        if needed > self.body.capacity() {
            // Grow geometrically (a frame arriving in many reads is copied a
            // few times, not once per read) but never past the declared
            // length: plain Vec doubling could hold twice the frame limit.
            let target = needed.max(self.body.capacity() * 2).min(declared - 1);
            self.body.reserve_exact(target - self.body.len());
        }
        self.body.extend_from_slice(&input[taken..taken + n]);
        taken + n
    }

    fn frame_complete(&self) -> bool {
        self.message_type.is_some()
            && matches!(self.declared_length, Some(len) if self.body.len() + 1 == len as usize)
    }

    /// The next complete, CRC-checked frame; `Ok(None)` when more bytes are
    /// needed. After an error the decoder keeps returning it.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if !self.frame_complete() {
            return Ok(None);
        }
        let mut payload = std::mem::take(&mut self.body);
        let message_type = self.message_type.take().unwrap_or(0);
        self.declared_length = None;
        self.length_filled = 0;
        let crc_at = payload.len() - 4;
        let expected = BigEndian::read_u32(&payload[crc_at..]);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[message_type]);
        hasher.update(&payload[..crc_at]);
        let actual = hasher.finalize();
        if expected != actual {
            let err = WireError::BadCrc { expected, actual };
            self.failed = Some(err.clone());
            return Err(err);
        }
        payload.truncate(crc_at);
        Ok(Some(Frame {
            message_type,
            // Takes the Vec's allocation as it is: no copy.
            payload: Bytes::from(payload),
        }))
    }

    /// Bytes held for the frame being assembled.
    pub fn buffered_bytes(&self) -> usize {
        self.length_filled + usize::from(self.message_type.is_some()) + self.body.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::reader::Reader;

    #[derive(Debug, PartialEq)]
    struct Blob(Vec<u8>);

    impl Message for Blob {
        fn message_type(&self) -> u8 {
            0x7f
        }
        fn encode_payload(&self, out: &mut Vec<u8>) {
            out.put_bytes(&self.0);
        }
        fn decode(message_type: u8, payload: &[u8]) -> Result<Self, WireError> {
            if message_type != 0x7f {
                return Err(WireError::UnknownMessageType(message_type));
            }
            let mut r = Reader::new(payload);
            let b = r.bytes("blob", 1 << 20)?.to_vec();
            r.finish()?;
            Ok(Blob(b))
        }
    }

    fn feed_all(decoder: &mut FrameDecoder, mut input: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        while !input.is_empty() {
            let n = decoder.feed(input);
            input = &input[n..];
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        frames
    }

    #[test]
    fn frames_survive_one_byte_at_a_time() {
        let mut bytes = Vec::new();
        encode_frame(&Blob(vec![1, 2, 3]), &mut bytes);
        encode_frame(&Blob(vec![]), &mut bytes);
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        let mut frames = Vec::new();
        for byte in &bytes {
            frames.extend(feed_all(&mut decoder, std::slice::from_ref(byte)));
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].decode::<Blob>().unwrap(), Blob(vec![1, 2, 3]));
        assert_eq!(frames[1].decode::<Blob>().unwrap(), Blob(vec![]));
    }

    #[test]
    fn oversized_declared_length_is_refused_before_buffering() {
        let mut decoder = FrameDecoder::new(1024);
        let taken = decoder.feed(&[0, 0, 0x10, 0x01, 0xaa, 0xbb]);
        assert_eq!(taken, 4);
        assert_eq!(decoder.buffered_bytes(), 4);
        assert_eq!(decoder.body.capacity(), 0);
        assert_eq!(
            decoder.next_frame(),
            Err(WireError::FrameTooLarge {
                declared: 0x1001,
                max: 1024
            })
        );
    }

    #[test]
    fn body_buffer_never_grows_past_the_declared_frame() {
        let mut bytes = Vec::new();
        encode_frame(&Blob(vec![3; 100_000]), &mut bytes);
        let declared_body = bytes.len() - FRAME_LENGTH_BYTES - 1;
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        let mut input = &bytes[..];
        while !input.is_empty() {
            let piece = &input[..input.len().min(1000)];
            let taken = decoder.feed(piece);
            input = &input[taken..];
            assert!(decoder.body.capacity() <= declared_body);
        }
        assert_eq!(
            decoder.next_frame().unwrap().unwrap().decode::<Blob>(),
            Ok(Blob(vec![3; 100_000]))
        );
    }

    #[test]
    fn flipped_bit_is_a_crc_error() {
        let mut bytes = Vec::new();
        encode_frame(&Blob(vec![9; 10]), &mut bytes);
        bytes[8] ^= 0x01;
        let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES);
        decoder.feed(&bytes);
        assert!(matches!(
            decoder.next_frame(),
            Err(WireError::BadCrc { .. })
        ));
    }

    #[test]
    fn preamble_errors_are_distinct() {
        let good = encode_preamble(Purpose::Client);
        assert_eq!(decode_preamble(&good), Ok(Purpose::Client));
        let mut bad_magic = good;
        bad_magic[0] = b'X';
        assert!(matches!(
            decode_preamble(&bad_magic),
            Err(WireError::BadMagic { .. })
        ));
        let mut bad_version = good;
        bad_version[4] = 9;
        assert_eq!(
            decode_preamble(&bad_version),
            Err(WireError::UnknownVersion(9))
        );
        let mut bad_purpose = good;
        bad_purpose[5] = 0x44;
        assert_eq!(
            decode_preamble(&bad_purpose),
            Err(WireError::UnknownPurpose(0x44))
        );
    }
}
