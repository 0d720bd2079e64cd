//! Output: silent unless `SIM_TRACE` is set. The agents log through the
//! `log` crate; a logger here prefixes each line with the simulated time
//! and the agent that logged it, and counts the lines that say a snapshot
//! was taken or installed (so a run can show it exercised them).

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

thread_local! {
    static NOW_US: Cell<u64> = const { Cell::new(0) };
    static AGENT: RefCell<String> = const { RefCell::new(String::new()) };
    static COUNTS: Cell<LogCounts> = const { Cell::new(LogCounts { snapshots_taken: 0, snapshots_installed: 0 }) };
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounts {
    pub snapshots_taken: u64,
    pub snapshots_installed: u64,
}

/// `SIM_TRACE` set: trace the simulation's own events, and the agents'
/// log lines at `info` (or the level `SIM_TRACE` names: `debug`, `trace`).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("SIM_TRACE").is_some())
}

struct SimLogger;

impl log::Log for SimLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        if record.target() == "raft" && record.level() == log::Level::Info {
            let line = record.args().to_string();
            COUNTS.with(|counts| {
                let mut c = counts.get();
                if line.starts_with("snapshot taken at") {
                    c.snapshots_taken += 1;
                } else if line.starts_with("snapshot at index") && line.contains("installed in") {
                    c.snapshots_installed += 1;
                }
                counts.set(c);
            });
        }
        if enabled() {
            let now = NOW_US.with(Cell::get);
            AGENT.with(|agent| {
                eprintln!(
                    "{:>10.3} {:<4} {:<5} {}: {}",
                    now as f64 / 1e6,
                    agent.borrow(),
                    record.level(),
                    record.target(),
                    record.args()
                );
            });
        }
    }

    fn flush(&self) {}
}

/// Installs the logger once per process. Without `SIM_TRACE` only `info`
/// and above reach it (for the counts), and it prints nothing.
pub fn install() {
    static LOGGER: SimLogger = SimLogger;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let level = match std::env::var("SIM_TRACE").as_deref() {
            Ok("trace") => log::LevelFilter::Trace,
            Ok("debug") => log::LevelFilter::Debug,
            _ => log::LevelFilter::Info,
        };
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(level);
        }
    });
}

/// Who is running now, for the log lines of this thread.
pub fn set_context(now_us: u64, agent: &str) {
    NOW_US.with(|n| n.set(now_us));
    AGENT.with(|a| {
        let mut a = a.borrow_mut();
        a.clear();
        a.push_str(agent);
    });
}

pub fn take_counts() -> LogCounts {
    COUNTS.with(|c| c.replace(LogCounts::default()))
}

/// A line about the simulation itself (faults, client operations).
pub fn sim(line: impl FnOnce() -> String) {
    if enabled() {
        let now = NOW_US.with(Cell::get);
        eprintln!("{:>10.3} sim  {}", now as f64 / 1e6, line());
    }
}
