//! The one error type for bytes that fail to decode. Each way input can be
//! wrong is its own variant, so a test (and an operator's log line) can tell
//! a truncated frame from a corrupted one from a peer speaking another version.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before a field was complete.
    Truncated { needed: usize, remaining: usize },
    /// The CRC32 stored with the data does not match the data.
    BadCrc { expected: u32, actual: u32 },
    /// The preamble does not start with the protocol magic.
    BadMagic { found: [u8; 4] },
    /// A protocol version this build does not speak.
    UnknownVersion(u8),
    /// A connection purpose byte that is not defined.
    UnknownPurpose(u8),
    /// A message type byte that is not defined for this channel.
    UnknownMessageType(u8),
    /// A message decoded completely but bytes were left over.
    TrailingBytes(usize),
    /// A string field is not valid UTF-8.
    InvalidUtf8,
    /// An element count claims more elements than the remaining bytes can hold.
    CountTooLarge { count: u64, remaining: usize },
    /// A declared frame length above the configured maximum; rejected before
    /// any allocation.
    FrameTooLarge { declared: u64, max: u64 },
    /// A frame length too small to hold even the message type and CRC.
    FrameTooShort { declared: u64 },
    /// A datagram above the UDP size limit.
    DatagramTooLarge { size: usize, max: usize },
    /// A field holds a value outside its defined range (an enum tag, a bool).
    InvalidValue { field: &'static str, value: u64 },
    /// A length-limited field (key, value, name) is longer than its limit.
    FieldTooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { needed, remaining } => write!(
                f,
                "truncated input: needed {needed} bytes, {remaining} remain"
            ),
            WireError::BadCrc { expected, actual } => write!(
                f,
                "CRC mismatch: stored {expected:#010x}, computed {actual:#010x}"
            ),
            WireError::BadMagic { found } => write!(f, "bad magic {found:02x?}"),
            WireError::UnknownVersion(v) => write!(f, "unknown protocol version {v}"),
            WireError::UnknownPurpose(p) => write!(f, "unknown connection purpose {p:#04x}"),
            WireError::UnknownMessageType(t) => write!(f, "unknown message type {t:#04x}"),
            WireError::TrailingBytes(n) => write!(f, "{n} trailing bytes after message"),
            WireError::InvalidUtf8 => write!(f, "string field is not valid UTF-8"),
            WireError::CountTooLarge { count, remaining } => write!(
                f,
                "element count {count} exceeds what {remaining} remaining bytes can hold"
            ),
            WireError::FrameTooLarge { declared, max } => {
                write!(f, "declared frame length {declared} exceeds maximum {max}")
            }
            WireError::FrameTooShort { declared } => {
                write!(f, "declared frame length {declared} is too short")
            }
            WireError::DatagramTooLarge { size, max } => {
                write!(f, "datagram of {size} bytes exceeds maximum {max}")
            }
            WireError::InvalidValue { field, value } => {
                write!(f, "invalid value {value} for field {field}")
            }
            WireError::FieldTooLong { field, len, max } => {
                write!(f, "field {field} is {len} bytes, limit {max}")
            }
        }
    }
}

impl std::error::Error for WireError {}
