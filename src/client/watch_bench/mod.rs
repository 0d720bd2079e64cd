//! `node bench watch --http`: many blocking queries held on one agent, then
//! writes one at a time to random watched keys. For each write it measures,
//! from the write's acknowledgement, when every watcher of that key and of
//! the prefix holding it is answered, and counts answers to watchers whose
//! key or prefix was not written (wrong wake-ups, which must not happen).
//! Woken watchers re-arm at once with the index they were given.

pub mod layout;
pub mod report;
pub mod watchers;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use crate::client::bench::BenchOperation;
use crate::client::cli::CliError;
use crate::client::http_bench::{HttpConnection, put_request, reply_failure};
use crate::client::rpc_client::RpcTimeouts;
use crate::deterministic_rng::SplitMix64;

pub use layout::WatchLayout;
pub use report::{AgentMemory, WatchReport};
use watchers::{WatchEvent, drive};

/// Connections the bench opens at most; below the agent's own bound on
/// open HTTP connections (16,384).
pub const MAX_WATCHERS: usize = 16_000;
pub const MAX_WATCH_THREADS: usize = 16;
pub const MAX_WATCH_KEYS: usize = 100_000;
/// Events the watcher threads may have queued for the coordinator.
const MAX_PENDING_EVENTS: usize = 65_536;
/// How long every watcher has to arm before the run is abandoned.
const ARM_DEADLINE: Duration = Duration::from_secs(120);
/// A watcher not answered this long after its write counts as missed.
const WAKE_DEADLINE: Duration = Duration::from_secs(10);
/// After the last write, how long answers are still awaited and counted.
const QUIET_PERIOD: Duration = Duration::from_secs(1);
/// The writes' keys are drawn from this seed, so runs write the same keys.
const WRITE_SEED: u64 = 0x5eed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchBenchOptions {
    pub http_addr: SocketAddr,
    pub timeouts: RpcTimeouts,
    pub layout: WatchLayout,
    pub writes: u64,
    pub value_size_bytes: usize,
    pub threads: usize,
    /// The agent's process, for its memory.
    pub agent_pid: Option<u32>,
}

fn validate(options: &WatchBenchOptions) -> Result<(), CliError> {
    let layout = &options.layout;
    let message = |text: String| Err(CliError::Message(text));
    if layout.watchers() == 0 || layout.watchers() > MAX_WATCHERS {
        return message(format!("--watchers must be between 1 and {MAX_WATCHERS}"));
    }
    if layout.keys == 0 || layout.keys > MAX_WATCH_KEYS {
        return message(format!("--keys must be between 1 and {MAX_WATCH_KEYS}"));
    }
    if layout.prefixes == 0 || layout.prefixes > layout.keys {
        return message("--prefixes must be between 1 and --keys".into());
    }
    if options.threads == 0 || options.threads > MAX_WATCH_THREADS {
        return message(format!(
            "--threads must be between 1 and {MAX_WATCH_THREADS}"
        ));
    }
    if options.writes == 0 {
        return message("--writes must be at least 1".into());
    }
    if options.value_size_bytes > crate::wire::client_message::MAX_VALUE_BYTES {
        return message("--value-size is over the value limit".into());
    }
    Ok(())
}

/// Runs the benchmark; see the module documentation.
pub fn run(options: &WatchBenchOptions) -> Result<WatchReport, CliError> {
    validate(options)?;
    let layout = options.layout;
    let value = vec![b'x'; options.value_size_bytes];
    let mut writer = HttpConnection::connect(options.http_addr, options.timeouts)?;
    // Every watched key exists first, so each watch starts from its own
    // index and a first read is never a 404.
    for key in 0..layout.keys {
        write(&mut writer, &layout.key_name(key), &value).map_err(CliError::Message)?;
    }
    let memory_before = options.agent_pid.and_then(AgentMemory::read);
    let (sender, receiver) = sync_channel(MAX_PENDING_EVENTS);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::with_capacity(options.threads);
    for targets in layout.targets_by_thread(options.threads) {
        let (sender, stop, address) = (sender.clone(), stop.clone(), options.http_addr);
        threads.push(std::thread::spawn(move || {
            drive(targets, address, sender, stop)
        }));
    }
    drop(sender);
    let mut run = Run::new(options, receiver);
    run.report.memory_before = memory_before;
    let measured = run.measure(&mut writer, &value);
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    measured?;
    Ok(run.report)
}

/// One PUT and its acknowledgement.
fn write(connection: &mut HttpConnection, key: &str, value: &[u8]) -> Result<(), String> {
    let mut request = Vec::new();
    put_request(connection.host(), key, value, &mut request);
    let reply = connection.call(&request)?;
    match reply_failure(BenchOperation::Put, &reply) {
        None => Ok(()),
        Some(why) => Err(format!("PUT {key}: {why}")),
    }
}

struct Run<'a> {
    options: &'a WatchBenchOptions,
    events: Receiver<WatchEvent>,
    report: WatchReport,
    /// Watchers the current write must wake.
    expected: HashSet<usize>,
    /// Watchers missed by an earlier write; their answer is late, not wrong.
    late: HashSet<usize>,
    acknowledged_at: Instant,
    sent_at: Instant,
}

impl<'a> Run<'a> {
    fn new(options: &'a WatchBenchOptions, events: Receiver<WatchEvent>) -> Self {
        let now = Instant::now();
        Run {
            options,
            events,
            report: WatchReport::new(options.layout),
            expected: HashSet::new(),
            late: HashSet::new(),
            acknowledged_at: now,
            sent_at: now,
        }
    }

    fn measure(&mut self, writer: &mut HttpConnection, value: &[u8]) -> Result<(), CliError> {
        self.wait_until_armed()?;
        self.report.memory_armed = self.options.agent_pid.and_then(AgentMemory::read);
        let layout = self.options.layout;
        let mut rng = SplitMix64::new(WRITE_SEED);
        let started = Instant::now();
        let mut value = value.to_vec();
        for n in 0..self.options.writes {
            let key = rng.range(0, layout.keys as u64) as usize;
            mark_write(&mut value, n);
            self.sent_at = Instant::now();
            if let Err(why) = write(writer, &layout.key_name(key), &value) {
                self.report.write_errors += 1;
                self.report.first_error.get_or_insert(why);
                continue;
            }
            self.acknowledged_at = Instant::now();
            let micros = micros_between(self.sent_at, self.acknowledged_at);
            self.report.write_latency.record(micros);
            self.report.writes += 1;
            self.expected = layout.woken_by(key).into_iter().collect();
            self.report.expected_wakes += self.expected.len() as u64;
            self.collect_until(self.acknowledged_at + WAKE_DEADLINE, true);
            self.report.missed += self.expected.len() as u64;
            self.late.extend(self.expected.drain());
        }
        self.report.elapsed = started.elapsed();
        self.collect_until(Instant::now() + QUIET_PERIOD, false);
        self.report.memory_after = self.options.agent_pid.and_then(AgentMemory::read);
        Ok(())
    }

    fn wait_until_armed(&mut self) -> Result<(), CliError> {
        let deadline = Instant::now() + ARM_DEADLINE;
        let watchers = self.options.layout.watchers() as u64;
        while self.report.armed + self.report.failed_watchers < watchers {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => self.judge(event),
                Err(_) => break,
            }
        }
        if self.report.armed < watchers {
            let why = self.report.first_error.as_deref().unwrap_or("timed out");
            return Err(CliError::Message(format!(
                "only {} of {watchers} watchers armed: {why}",
                self.report.armed
            )));
        }
        Ok(())
    }

    /// Judges events until `deadline`, or until every expected watcher
    /// answered when `until_woken`.
    fn collect_until(&mut self, deadline: Instant, until_woken: bool) {
        while !(until_woken && self.expected.is_empty()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => self.judge(event),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn judge(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Armed { .. } => self.report.armed += 1,
            WatchEvent::Failed { watcher, why } => {
                self.report.failed_watchers += 1;
                self.expected.remove(&watcher);
                self.report.first_error.get_or_insert(why);
            }
            WatchEvent::Answered {
                watcher,
                at,
                status,
                armed_index,
                index,
            } => {
                if status != 200 {
                    // The thread closes the watcher and reports it failed.
                    return;
                }
                if index == armed_index {
                    self.report.timeouts += 1;
                } else if self.expected.remove(&watcher) {
                    if at < self.acknowledged_at {
                        self.report.before_acknowledgement += 1;
                    }
                    let after_ack = micros_between(self.acknowledged_at, at);
                    self.report.wake_latency.record(after_ack);
                    self.report
                        .wake_latency_from_send
                        .record(micros_between(self.sent_at, at));
                } else if self.late.remove(&watcher) {
                    self.report.late += 1;
                } else {
                    self.report.wrong_wakes += 1;
                }
            }
        }
    }
}

/// Makes write `n`'s value differ from every other: a write of the value
/// a key already holds changes nothing (as in Consul), so it wakes no one.
fn mark_write(value: &mut Vec<u8>, n: u64) {
    let mark = format!("{n}:");
    if value.len() < mark.len() {
        value.resize(mark.len(), b'x');
    }
    value[..mark.len()].copy_from_slice(mark.as_bytes());
}

/// Microseconds from `from` to `to`, 0 when `to` came first.
fn micros_between(from: Instant, to: Instant) -> u64 {
    u64::try_from(to.saturating_duration_since(from).as_micros()).unwrap_or(u64::MAX)
}
