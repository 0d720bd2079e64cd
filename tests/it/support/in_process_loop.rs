//! An agent event loop on its own thread inside the test process, for tests
//! that need a handler they control (or a cluster ID they set) behind a real
//! socket. Stopped and joined when the guard drops, also when a test panics.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;

use concord::agent::io::event_loop::{EventLoop, EventLoopConfig, Handler, StopHandle};
use concord::agent::io::transport::TransportLimits;

pub struct InProcessLoop {
    /// Where the loop listens (the bound port when `bind` asked for port 0).
    pub address: SocketAddr,
    stop: StopHandle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for InProcessLoop {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds `bind` without signal handling, then runs the handler that
/// `make_handler` builds on the loop's thread until the guard drops.
pub fn run_in_process<H, F>(bind: SocketAddr, make_handler: F) -> InProcessLoop
where
    H: Handler,
    F: FnOnce() -> H + Send + 'static,
{
    run_in_process_with(bind, TransportLimits::default(), make_handler)
}

/// [`run_in_process`] with the transport's limits given.
pub fn run_in_process_with<H, F>(
    bind: SocketAddr,
    limits: TransportLimits,
    make_handler: F,
) -> InProcessLoop
where
    H: Handler,
    F: FnOnce() -> H + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut event_loop = EventLoop::new(EventLoopConfig {
            bind,
            limits,
            handle_signals: false,
            http: None,
            dns: None,
        })
        .unwrap_or_else(|err| panic!("bind {bind}: {err}"));
        tx.send((event_loop.local_addr(), event_loop.stop_handle()))
            .unwrap();
        let mut handler = make_handler();
        event_loop.run(&mut handler).expect("the loop runs");
    });
    let (address, stop) = rx.recv().expect("the loop started");
    InProcessLoop {
        address,
        stop,
        thread: Some(thread),
    }
}
