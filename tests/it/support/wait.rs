//! Synchronising on conditions: the tests' only poll loop. A wait names
//! what it waits for; when it times out, the panic says so and shows the
//! tail of every log the test registered (the stderr of its agents).

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// First pause between two polls: conditions that hold quickly are seen
/// quickly.
const FIRST_POLL: Duration = Duration::from_millis(5);
/// The pause doubles up to this, so a long wait on a condition that runs a
/// CLI process does not load the machine.
const MAX_POLL: Duration = Duration::from_millis(100);
/// Lines of each log shown when a wait times out.
const TAIL_LINES: usize = 40;

thread_local! {
    /// `(owner, path)` of the logs of the current test (each test runs on
    /// its own thread).
    static LOGS: RefCell<Vec<(String, PathBuf)>> = const { RefCell::new(Vec::new()) };
    /// Set when a timed-out wait has already shown the logs' tails.
    static TAILS_SHOWN: Cell<bool> = const { Cell::new(false) };
}

/// Polls `check` until it holds; after `within`, panics naming `what`.
pub fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    wait_until_ok(within, what, || {
        if check() { Ok(()) } else { Err(String::new()) }
    });
}

/// Polls `check` until it returns `Ok`; after `within`, panics naming
/// `what` and showing the last `Err`: the state that did not reach the
/// condition.
pub fn wait_until_ok(within: Duration, what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    let mut pause = FIRST_POLL;
    loop {
        let Err(state) = check() else {
            return;
        };
        let waited = started.elapsed();
        if waited >= within {
            let logs = log_tails();
            TAILS_SHOWN.with(|shown| shown.set(true));
            let state = if state.is_empty() {
                state
            } else {
                format!("last seen: {state}\n")
            };
            panic!("timed out after {waited:.1?} waiting until {what}\n{state}{logs}");
        }
        std::thread::sleep(pause.min(within - waited));
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Polls `check` for all of `during`, panicking naming `what` as soon as it
/// fails: for tests whose behaviour is that nothing happens for a while.
pub fn holds_for(during: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    loop {
        assert!(
            check(),
            "{what} stopped holding after {:.1?}\n{}",
            started.elapsed(),
            log_tails()
        );
        let waited = started.elapsed();
        if waited >= during {
            return;
        }
        std::thread::sleep(MAX_POLL.min(during - waited));
    }
}

/// Shows the tail of the log at `path`, written by `owner`, when a wait
/// of the current test times out; until [`forget_log`].
pub fn register_log(owner: &str, path: &Path) {
    LOGS.with(|logs| logs.borrow_mut().push((owner.into(), path.into())));
}

pub fn forget_log(path: &Path) {
    let _ = LOGS.try_with(|logs| {
        let mut logs = logs.borrow_mut();
        if let Some(at) = logs.iter().position(|(_, p)| p == path) {
            logs.remove(at);
        }
    });
}

/// Whether a timed-out wait of this test has shown the log tails already.
pub fn log_tails_shown() -> bool {
    TAILS_SHOWN.try_with(Cell::get).unwrap_or(false)
}

fn log_tails() -> String {
    LOGS.try_with(|logs| {
        logs.borrow()
            .iter()
            .map(|(owner, path)| log_tail(owner, path))
            .collect()
    })
    .unwrap_or_default()
}

/// The last lines of the log at `path`, under a header naming its owner.
pub fn log_tail(owner: &str, path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    let mut out = format!(
        "---- last {} lines of {owner}'s log ({}) ----\n",
        tail.len(),
        path.display()
    );
    for line in tail {
        out.push_str(line);
        out.push('\n');
    }
    out
}
