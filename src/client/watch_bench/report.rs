//! What the watch bench measured, and its text.

use std::io::Write;
use std::time::Duration;

use super::layout::WatchLayout;
use crate::client::latency_histogram::LatencyHistogram;

/// The agent's resident memory from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentMemory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

impl AgentMemory {
    pub fn read(pid: u32) -> Option<AgentMemory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        AgentMemory::parse(&status)
    }

    pub fn parse(status: &str) -> Option<AgentMemory> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        };
        Some(AgentMemory {
            rss_kib: field("VmRSS:")?,
            peak_rss_kib: field("VmHWM:")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct WatchReport {
    pub layout: WatchLayout,
    pub armed: u64,
    pub failed_watchers: u64,
    pub writes: u64,
    pub write_errors: u64,
    pub write_latency: LatencyHistogram,
    pub expected_wakes: u64,
    /// From the write's acknowledgement to the watcher's answer (0 for an
    /// answer that came first).
    pub wake_latency: LatencyHistogram,
    /// From the write's send to the watcher's answer.
    pub wake_latency_from_send: LatencyHistogram,
    pub before_acknowledgement: u64,
    pub missed: u64,
    pub late: u64,
    pub wrong_wakes: u64,
    /// Answers with the index unchanged (the wait ran out).
    pub timeouts: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Before any watcher connected, with every watcher held, and after
    /// the writes.
    pub memory_before: Option<AgentMemory>,
    pub memory_armed: Option<AgentMemory>,
    pub memory_after: Option<AgentMemory>,
}

impl WatchReport {
    pub fn new(layout: WatchLayout) -> Self {
        WatchReport {
            layout,
            armed: 0,
            failed_watchers: 0,
            writes: 0,
            write_errors: 0,
            write_latency: LatencyHistogram::new(),
            expected_wakes: 0,
            wake_latency: LatencyHistogram::new(),
            wake_latency_from_send: LatencyHistogram::new(),
            before_acknowledgement: 0,
            missed: 0,
            late: 0,
            wrong_wakes: 0,
            timeouts: 0,
            first_error: None,
            elapsed: Duration::ZERO,
            memory_before: None,
            memory_armed: None,
            memory_after: None,
        }
    }

    /// Whether the run showed a fault: a lost or wrong wake-up, a failed
    /// watcher or write.
    pub fn failed(&self) -> bool {
        self.missed + self.wrong_wakes + self.failed_watchers + self.write_errors > 0
    }

    pub fn write_to(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let l = &self.layout;
        writeln!(
            out,
            "watchers: {} held ({} on keys, {} on prefixes), {} failed; {} keys under {} prefixes",
            self.armed, l.key_watchers, l.prefix_watchers, self.failed_watchers, l.keys, l.prefixes
        )?;
        writeln!(
            out,
            "writes: {} ok, {} errors in {:.3} s, put latency p50 {:.3} ms, p99 {:.3} ms",
            self.writes,
            self.write_errors,
            self.elapsed.as_secs_f64(),
            ms(self.write_latency.percentile_micros(50.0)),
            ms(self.write_latency.percentile_micros(99.0)),
        )?;
        writeln!(
            out,
            "wake-ups: {} expected, {} answered ({} before the write's acknowledgement), {} missed, {} late",
            self.expected_wakes,
            self.wake_latency.count(),
            self.before_acknowledgement,
            self.missed,
            self.late
        )?;
        for (label, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)] {
            writeln!(
                out,
                "wake latency {label}: {:.3} ms (from the write's send {:.3} ms)",
                ms(self.wake_latency.percentile_micros(p)),
                ms(self.wake_latency_from_send.percentile_micros(p))
            )?;
        }
        writeln!(
            out,
            "wake latency max: {:.3} ms (from the write's send {:.3} ms)",
            ms(self.wake_latency.max_micros()),
            ms(self.wake_latency_from_send.max_micros())
        )?;
        writeln!(out, "wrong wake-ups: {}", self.wrong_wakes)?;
        writeln!(out, "timed-out watches: {}", self.timeouts)?;
        let mib = |kib: u64| kib as f64 / 1024.0;
        match (self.memory_before, self.memory_armed, self.memory_after) {
            (Some(before), Some(armed), Some(after)) => writeln!(
                out,
                "agent RSS: {:.1} MiB before the watchers, {:.1} MiB with every watcher held, \
                 {:.1} MiB after the writes (peak {:.1} MiB)",
                mib(before.rss_kib),
                mib(armed.rss_kib),
                mib(after.rss_kib),
                mib(after.peak_rss_kib)
            )?,
            _ => writeln!(out, "agent RSS: not measured (give --pid of the agent)")?,
        }
        if let Some(err) = &self.first_error {
            writeln!(out, "first error: {err}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_from_proc_status_lines() {
        let status = "Name:\tnode\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t3\n";
        assert_eq!(
            AgentMemory::parse(status),
            Some(AgentMemory {
                rss_kib: 40960,
                peak_rss_kib: 51200
            })
        );
        assert_eq!(AgentMemory::parse("Name:\tnode\n"), None);
        let own = AgentMemory::read(std::process::id()).unwrap();
        assert!(own.rss_kib > 0 && own.peak_rss_kib >= own.rss_kib);
    }

    #[test]
    fn a_report_shows_wrong_wake_ups_and_fails_on_them() {
        let layout = WatchLayout {
            key_watchers: 2,
            prefix_watchers: 1,
            keys: 2,
            prefixes: 1,
        };
        let mut report = WatchReport::new(layout);
        report.wake_latency.record(2500);
        report.wake_latency_from_send.record(3000);
        assert!(!report.failed());
        report.wrong_wakes = 1;
        assert!(report.failed());
        let mut out = Vec::new();
        report.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("wrong wake-ups: 1\n"), "{text}");
        assert!(
            text.contains("wake latency p99: 2.500 ms (from the write's send 3.000 ms)"),
            "{text}"
        );
        assert!(text.contains("agent RSS: not measured"), "{text}");
    }
}
