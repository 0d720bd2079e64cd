//! Names outside the domain forwarded to `--recursor` over UDP, off the
//! loop: each forward is a bounded piece of off-loop work whose answer the
//! agent polls every tick and relays unchanged (it carries the client's
//! query ID, since the query went out unchanged).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::dns::{DnsQuery, MAX_EDNS_UDP_ANSWER_BYTES};

use crate::agent::seam::{Context, DnsPeer, OffLoopResult};

/// Forwards in flight at once; past it a name outside the domain is
/// answered SERVFAIL.
pub const MAX_RECURSOR_FORWARDS: usize = 256;

/// How long the recursor has to answer (under the 2 s a query may wait).
pub const RECURSOR_TIMEOUT: Duration = Duration::from_millis(1800);

/// A forward in flight: where its answer goes, and the work's result.
pub struct Forward {
    pub peer: DnsPeer,
    pub query: DnsQuery,
    pub result: OffLoopResult<Result<Vec<u8>, String>>,
}

pub fn start(
    ctx: &mut Context,
    recursor: SocketAddr,
    query: Vec<u8>,
) -> OffLoopResult<Result<Vec<u8>, String>> {
    OffLoopResult::start(ctx, "dns-recursor", move || exchange(recursor, &query))
}

/// One UDP exchange with the recursor: the first datagram from it with the
/// query's ID is the answer.
fn exchange(recursor: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let local: SocketAddr = match recursor {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("a literal address"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("a literal address"),
    };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(recursor).map_err(|e| e.to_string())?;
    socket.send(query).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + RECURSOR_TIMEOUT;
    let mut buffer = vec![0u8; MAX_EDNS_UDP_ANSWER_BYTES];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no answer from {recursor}"));
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let size = socket.recv(&mut buffer).map_err(|e| e.to_string())?;
        if size >= 2 && query.len() >= 2 && buffer[..2] == query[..2] {
            return Ok(buffer[..size].to_vec());
        }
    }
}
