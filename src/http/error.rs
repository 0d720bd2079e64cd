//! The one error type for an HTTP request that cannot be served: each carries
//! the status to answer and a one-line reason for the body, so the event loop
//! never has to decide either.

use std::fmt;

/// A request that is answered with an error status and a `text/plain`
/// one-line body, the way Consul answers its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub reason: String,
}

impl HttpError {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        HttpError {
            status,
            reason: reason.into(),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        HttpError::new(400, reason)
    }

    pub fn payload_too_large(reason: impl Into<String>) -> Self {
        HttpError::new(413, reason)
    }

    pub fn header_fields_too_large(reason: impl Into<String>) -> Self {
        HttpError::new(431, reason)
    }

    pub fn not_implemented(reason: impl Into<String>) -> Self {
        HttpError::new(501, reason)
    }

    pub fn version_not_supported() -> Self {
        HttpError::new(505, "HTTP version not supported")
    }

    /// Go's server answers an `Expect` other than `100-continue` with an
    /// empty 417; the reason is kept for logs.
    pub fn expectation_failed(value: &str) -> Self {
        HttpError::new(417, format!("unsupported Expect header {value:?}"))
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HttpError {}
