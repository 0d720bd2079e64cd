//! One watch-bench thread: many keep-alive connections, each holding one
//! blocking query, driven by a `mio` poll of the bench's own (a thread per
//! watcher would measure the client's scheduler, not the agent). Each
//! watcher reads its key or prefix once for the current index, then holds
//! `?index=<it>&wait=5m`, reports every answer to the coordinator, and
//! re-arms with the answer's index at once.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::client::http_response::ResponseBuffer;

/// Connections of one thread being opened and read for the first time at
/// once: more would overflow the agent's accept backlog and stall on SYN
/// retransmits.
pub const MAX_CONNECTING_PER_THREAD: usize = 128;
/// How often a thread looks at the stop flag when its sockets are quiet.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// A blocking query's wait: far longer than a run, so an answer is a wake.
pub const WATCH_WAIT: &str = "5m";

/// One watcher: its number and the path it reads (with `?recurse` for a
/// prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    pub watcher: usize,
    pub path: String,
}

/// What a thread tells the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The watcher's first blocking query is written to its connection.
    Armed { watcher: usize },
    /// A blocking query was answered at `at`.
    Answered {
        watcher: usize,
        at: Instant,
        status: u16,
        armed_index: u64,
        index: u64,
    },
    /// The watcher's connection is gone; it watches no more.
    Failed { watcher: usize, why: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    /// The first read, for the index to block on.
    Initial,
    Blocking,
}

struct Watch {
    target: WatchTarget,
    stream: TcpStream,
    phase: Phase,
    armed_index: u64,
    out: Vec<u8>,
    out_offset: usize,
    replies: ResponseBuffer,
    armed_reported: bool,
}

/// The request a watcher sends: without an index, the first read.
pub fn watch_request(host: &str, path: &str, index: Option<u64>) -> Vec<u8> {
    let query = match index {
        None => String::new(),
        Some(index) => {
            let join = if path.contains('?') { '&' } else { '?' };
            format!("{join}index={index}&wait={WATCH_WAIT}")
        }
    };
    format!("GET {path}{query} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// Runs `targets` until `stop` is set. Every watcher ends in an event the
/// coordinator can count: armed and answered, or failed.
pub fn drive(
    targets: Vec<WatchTarget>,
    address: SocketAddr,
    events: SyncSender<WatchEvent>,
    stop: Arc<AtomicBool>,
) {
    let poll = match Poll::new() {
        Ok(poll) => poll,
        Err(err) => {
            for target in targets {
                let why = format!("cannot poll: {err}");
                let _ = events.send(WatchEvent::Failed {
                    watcher: target.watcher,
                    why,
                });
            }
            return;
        }
    };
    let mut driver = Driver {
        poll,
        address,
        host: address.to_string(),
        events,
        watches: Vec::new(),
        connecting: 0,
    };
    let mut pending = targets.into_iter();
    let mut mio_events = Events::with_capacity(1024);
    while !stop.load(Ordering::Relaxed) {
        while driver.connecting < MAX_CONNECTING_PER_THREAD {
            let Some(target) = pending.next() else { break };
            driver.open(target);
        }
        if let Err(err) = driver.poll.poll(&mut mio_events, Some(POLL_INTERVAL))
            && err.kind() != io::ErrorKind::Interrupted
        {
            driver.fail_all(&format!("poll failed: {err}"));
            return;
        }
        for event in mio_events.iter() {
            driver.on_ready(event.token().0, event.is_readable(), event.is_writable());
        }
    }
}

struct Driver {
    poll: Poll,
    address: SocketAddr,
    host: String,
    events: SyncSender<WatchEvent>,
    watches: Vec<Option<Watch>>,
    connecting: usize,
}

impl Driver {
    fn open(&mut self, target: WatchTarget) {
        let token = self.watches.len();
        let mut stream = match TcpStream::connect(self.address) {
            Ok(stream) => stream,
            Err(err) => return self.report_failure(target.watcher, format!("connect: {err}")),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut stream, Token(token), interest)
        {
            return self.report_failure(target.watcher, format!("register: {err}"));
        }
        self.connecting += 1;
        self.watches.push(Some(Watch {
            target,
            stream,
            phase: Phase::Connecting,
            armed_index: 0,
            out: Vec::new(),
            out_offset: 0,
            replies: ResponseBuffer::default(),
            armed_reported: false,
        }));
    }

    fn report_failure(&mut self, watcher: usize, why: String) {
        let _ = self.events.send(WatchEvent::Failed { watcher, why });
    }

    fn fail_all(&mut self, why: &str) {
        for token in 0..self.watches.len() {
            self.close(token, why.to_owned());
        }
    }

    fn close(&mut self, token: usize, why: String) {
        let Some(mut watch) = self.watches.get_mut(token).and_then(Option::take) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut watch.stream);
        if !watch.armed_reported {
            self.connecting -= 1;
        }
        self.report_failure(watch.target.watcher, why);
    }

    fn on_ready(&mut self, token: usize, readable: bool, writable: bool) {
        if let Err(why) = self.step(token, readable, writable) {
            self.close(token, why);
        }
    }

    fn step(&mut self, token: usize, readable: bool, writable: bool) -> Result<(), String> {
        let Some(Some(watch)) = self.watches.get_mut(token) else {
            return Ok(());
        };
        if watch.phase == Phase::Connecting {
            if !writable || !connected(&watch.stream)? {
                return Ok(());
            }
            watch.phase = Phase::Initial;
            watch.out = watch_request(&self.host, &watch.target.path, None);
        }
        if readable {
            read_answers(watch, &self.host, &self.events)?;
        }
        flush(watch)?;
        if watch.phase == Phase::Blocking && watch.out.is_empty() && !watch.armed_reported {
            watch.armed_reported = true;
            let watcher = watch.target.watcher;
            self.connecting -= 1;
            let _ = self.events.send(WatchEvent::Armed { watcher });
        }
        Ok(())
    }
}

/// Whether a non-blocking connect finished; its error if it failed.
fn connected(stream: &TcpStream) -> Result<bool, String> {
    if let Ok(Some(err)) | Err(err) = stream.take_error() {
        return Err(format!("connect: {err}"));
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(err) => Err(format!("connect: {err}")),
    }
}

/// Reads until the socket is drained and handles each whole answer.
fn read_answers(
    watch: &mut Watch,
    host: &str,
    events: &SyncSender<WatchEvent>,
) -> Result<(), String> {
    let mut scratch = [0u8; 16 * 1024];
    loop {
        match watch.stream.read(&mut scratch) {
            Ok(0) => return Err("the agent closed the connection".into()),
            Ok(n) => watch.replies.extend(&scratch[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(format!("read: {err}")),
        }
    }
    let at = Instant::now();
    while let Some(reply) = watch.replies.take_reply().map_err(|e| e.to_string())? {
        let index = reply
            .consul_index
            .ok_or_else(|| format!("HTTP {} without X-Consul-Index", reply.status))?;
        if watch.phase == Phase::Blocking {
            let _ = events.send(WatchEvent::Answered {
                watcher: watch.target.watcher,
                at,
                status: reply.status,
                armed_index: watch.armed_index,
                index,
            });
            if reply.status != 200 {
                return Err(format!("blocking query answered HTTP {}", reply.status));
            }
        } else if reply.status != 200 {
            return Err(format!("first read answered HTTP {}", reply.status));
        }
        watch.phase = Phase::Blocking;
        watch.armed_index = index;
        watch
            .out
            .extend_from_slice(&watch_request(host, &watch.target.path, Some(index)));
    }
    Ok(())
}

/// Writes what is queued until the socket takes no more.
fn flush(watch: &mut Watch) -> Result<(), String> {
    while watch.out_offset < watch.out.len() {
        match watch.stream.write(&watch.out[watch.out_offset..]) {
            Ok(0) => return Err("write: connection closed".into()),
            Ok(n) => watch.out_offset += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(format!("write: {err}")),
        }
    }
    watch.out.clear();
    watch.out_offset = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_reads_first_then_blocks_on_the_index_it_was_given() {
        let first = watch_request("h:1", "/v1/kv/bench/watch/0/5", None);
        assert_eq!(
            first,
            b"GET /v1/kv/bench/watch/0/5 HTTP/1.1\r\nHost: h:1\r\n\r\n"
        );
        let held = watch_request("h:1", "/v1/kv/bench/watch/0/5", Some(17));
        assert_eq!(
            held,
            b"GET /v1/kv/bench/watch/0/5?index=17&wait=5m HTTP/1.1\r\nHost: h:1\r\n\r\n"
        );
        let prefix = watch_request("h:1", "/v1/kv/bench/watch/0/?recurse", Some(3));
        assert!(prefix.starts_with(b"GET /v1/kv/bench/watch/0/?recurse&index=3&wait=5m "));
    }
}
