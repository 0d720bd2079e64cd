//! The bounded accept step the peer transport and the HTTP listener share:
//! at most a listener's quota of connections per readiness event (so a
//! flood cannot starve established connections), each registered with the
//! loop's poll under its connection ID.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::agent::io::connection::ConnectionId;

/// What a listener does with each accepted connection.
pub(crate) trait Acceptor {
    /// Log target of the listener's lines.
    const TARGET: &'static str;
    /// The ID for the connection from `remote`, or `None` to refuse it
    /// (the acceptor answers or counts it; the stream is dropped after).
    fn admit(&mut self, stream: &mut TcpStream, remote: SocketAddr) -> Option<ConnectionId>;
    /// Takes the registered connection.
    fn adopt(&mut self, id: ConnectionId, stream: TcpStream, remote: SocketAddr);
}

/// Accepts at most `max_accepts` pending connections; returns whether more
/// may be pending (mio is edge-triggered: the loop must come back without
/// waiting for another event).
pub(crate) fn accept_pending<A: Acceptor>(
    listener: &TcpListener,
    registry: &Registry,
    max_accepts: usize,
    acceptor: &mut A,
) -> bool {
    for _ in 0..max_accepts {
        let (mut stream, remote) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return false,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                // EMFILE and friends: keep serving what we have.
                log::warn!(target: A::TARGET, "accept failed: {err}");
                return false;
            }
        };
        let Some(id) = acceptor.admit(&mut stream, remote) else {
            continue;
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = registry.register(&mut stream, Token(id.0), interest) {
            log::warn!(target: A::TARGET, "cannot register connection from {remote}: {err}");
            continue;
        }
        let _ = stream.set_nodelay(true);
        acceptor.adopt(id, stream, remote);
    }
    true
}
