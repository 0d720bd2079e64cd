//! Why the loop could not start or stopped with an error.

use std::io;
use std::net::SocketAddr;

use crate::agent::io::transport::BindError;

#[derive(Debug)]
pub enum EventLoopError {
    Bind(BindError),
    HttpBind {
        address: SocketAddr,
        source: io::Error,
    },
    DnsBind {
        address: SocketAddr,
        source: io::Error,
    },
    Io(io::Error),
}

impl std::fmt::Display for EventLoopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventLoopError::Bind(err) => write!(f, "{err}"),
            EventLoopError::HttpBind { address, source } => {
                write!(f, "cannot bind the HTTP API to {address}: {source}")
            }
            EventLoopError::DnsBind { address, source } => {
                write!(f, "cannot bind DNS to {address}: {source}")
            }
            EventLoopError::Io(err) => write!(f, "event loop: {err}"),
        }
    }
}

impl std::error::Error for EventLoopError {}

impl From<io::Error> for EventLoopError {
    fn from(err: io::Error) -> Self {
        EventLoopError::Io(err)
    }
}
