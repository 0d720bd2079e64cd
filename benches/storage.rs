//! Storage benchmark: durable appends in batches of 1, 16, 256 and 4096
//! entries of 256 bytes (one fsync per batch), sequential and random reads,
//! and the open time of a 1,000,000-entry log, next to a raw baseline (a
//! plain write + fdatasync loop in the same directory, same run).
//!
//!     cargo bench --bench storage
//!
//! The directory is `CONCORD_BENCH_DIR` (default `target/storage-bench`);
//! it should be on the disk whose durability is being measured.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use concord::storage::{LogOptions, RaftLog};
use concord::wire::raft_message::{Entry, EntryKind};

const ENTRY_DATA_BYTES: usize = 256;
/// Each batch size is measured in ROUNDS alternating rounds per contender.
const ROUNDS: usize = 8;
const ROUND_DURATION: Duration = Duration::from_millis(250);
const RECORD_BYTES: usize = ENTRY_DATA_BYTES + 33;
const OPEN_LOG_ENTRIES: u64 = 1_000_000;
const OPEN_REPEATS: usize = 7;
const RANDOM_READS: u64 = 1_000_000;

fn bench_dir() -> PathBuf {
    std::env::var_os("CONCORD_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/storage-bench"))
}

fn fresh(dir: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    dir.to_path_buf()
}

fn entry(index: u64) -> Entry {
    Entry {
        term: 1,
        index,
        kind: EntryKind::Command,
        data: vec![(index % 251) as u8; ENTRY_DATA_BYTES].into(),
    }
}

/// One way of making batches durable, timed batch by batch.
trait Contender {
    fn name(&self) -> String;
    /// Writes one batch durably; returns the time the durable write took
    /// (building the batch in memory is not counted).
    fn run_batch(&mut self) -> Duration;
}

/// A plain write appended to one file, then fdatasync: the baseline the
/// targets are stated against.
struct RawAppend {
    file: File,
    buffer: Vec<u8>,
    batch: usize,
}

impl RawAppend {
    fn new(dir: &Path, batch: usize) -> RawAppend {
        let path = fresh(&dir.join(format!("raw-append-{batch}"))).join("raw.dat");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        // Same bytes per entry as a log record (33-byte header + data).
        let buffer = vec![0x5au8; batch * RECORD_BYTES];
        RawAppend {
            file,
            buffer,
            batch,
        }
    }
}

impl Contender for RawAppend {
    fn name(&self) -> String {
        format!("raw write+fdatasync, {} x 289 B", self.batch)
    }
    fn run_batch(&mut self) -> Duration {
        let t = Instant::now();
        self.file.write_all(&self.buffer).unwrap();
        self.file.sync_data().unwrap();
        t.elapsed()
    }
}

/// The floor for a preallocated log: overwrite zero blocks that already
/// exist (no size change, no block allocation), then fdatasync.
struct RawPreallocated {
    file: File,
    buffer: Vec<u8>,
    batch: usize,
    offset: u64,
}

const RAW_PREALLOCATED_BYTES: u64 = 64 * 1024 * 1024;

impl RawPreallocated {
    fn new(dir: &Path, batch: usize) -> RawPreallocated {
        let path = fresh(&dir.join(format!("raw-prealloc-{batch}"))).join("raw.dat");
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let zeros = vec![0u8; 1024 * 1024];
        for offset in (0..RAW_PREALLOCATED_BYTES).step_by(zeros.len()) {
            file.write_all_at(&zeros, offset).unwrap();
        }
        file.sync_all().unwrap();
        let buffer = vec![0x5au8; batch * RECORD_BYTES];
        RawPreallocated {
            file,
            buffer,
            batch,
            offset: 0,
        }
    }
}

impl Contender for RawPreallocated {
    fn name(&self) -> String {
        format!("raw pwrite+fdatasync prealloc, {}", self.batch)
    }
    fn run_batch(&mut self) -> Duration {
        if self.offset + self.buffer.len() as u64 > RAW_PREALLOCATED_BYTES {
            self.offset = 0;
        }
        let t = Instant::now();
        self.file.write_all_at(&self.buffer, self.offset).unwrap();
        self.file.sync_data().unwrap();
        self.offset += self.buffer.len() as u64;
        t.elapsed()
    }
}

struct LogAppend {
    log: RaftLog,
    batch: usize,
    next: u64,
    buffer: Vec<Entry>,
}

impl LogAppend {
    fn new(dir: &Path, batch: usize) -> LogAppend {
        let dir = fresh(&dir.join(format!("append-{batch}")));
        LogAppend {
            log: RaftLog::open(&dir, LogOptions::default()).unwrap(),
            batch,
            next: 1,
            buffer: Vec::with_capacity(batch),
        }
    }
}

impl Contender for LogAppend {
    fn name(&self) -> String {
        format!("RaftLog::append, batch of {}", self.batch)
    }
    fn run_batch(&mut self) -> Duration {
        self.buffer.clear();
        let end = self.next + self.batch as u64;
        self.buffer.extend((self.next..end).map(entry));
        let t = Instant::now();
        self.log.append(&self.buffer).unwrap();
        self.next = end;
        t.elapsed()
    }
}

struct Row {
    name: String,
    batch: usize,
    batches: u64,
    busy: Duration,
}

impl Row {
    fn batches_per_sec(&self) -> f64 {
        self.batches as f64 / self.busy.as_secs_f64()
    }
    fn entries_per_sec(&self) -> f64 {
        self.batches_per_sec() * self.batch as f64
    }
    fn micros_per_batch(&self) -> f64 {
        self.busy.as_secs_f64() * 1e6 / self.batches as f64
    }
}

/// Runs the contenders in alternating short rounds, so all of them see the
/// same disk conditions (fsync latency on a shared disk drifts over seconds).
fn race(batch: usize, mut contenders: Vec<Box<dyn Contender>>) -> Vec<Row> {
    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|c| Row {
            name: c.name(),
            batch,
            batches: 0,
            busy: Duration::ZERO,
        })
        .collect();
    for _ in 0..ROUNDS {
        for (contender, row) in contenders.iter_mut().zip(rows.iter_mut()) {
            let round = Instant::now();
            while round.elapsed() < ROUND_DURATION {
                row.busy += contender.run_batch();
                row.batches += 1;
            }
        }
    }
    rows
}

fn build_large_log(dir: &Path) -> Duration {
    let started = Instant::now();
    let mut log = RaftLog::open(dir, LogOptions::default()).unwrap();
    let mut next = 1u64;
    while next <= OPEN_LOG_ENTRIES {
        let end = (next + 4096).min(OPEN_LOG_ENTRIES + 1);
        let batch: Vec<Entry> = (next..end).map(entry).collect();
        log.append(&batch).unwrap();
        next = end;
    }
    started.elapsed()
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn main() {
    let root = bench_dir();
    fs::create_dir_all(&root).unwrap();
    println!("storage benchmark in {}", root.display());
    println!(
        "entries of {ENTRY_DATA_BYTES} B data ({RECORD_BYTES} B on disk); per batch size, \
         {ROUNDS} alternating rounds of {ROUND_DURATION:?} per contender\n"
    );

    let mut by_batch = Vec::new();
    for batch in [1usize, 16, 256, 4096] {
        let contenders: Vec<Box<dyn Contender>> = vec![
            Box::new(RawAppend::new(&root, batch)),
            Box::new(RawPreallocated::new(&root, batch)),
            Box::new(LogAppend::new(&root, batch)),
        ];
        by_batch.push(race(batch, contenders));
    }

    let large = fresh(&root.join("open-1m"));
    let build = build_large_log(&large);
    let mut open_times = Vec::new();
    for _ in 0..OPEN_REPEATS {
        let t = Instant::now();
        let log = RaftLog::open(&large, LogOptions::default()).unwrap();
        open_times.push(t.elapsed());
        assert_eq!(log.last_index(), OPEN_LOG_ENTRIES);
    }
    open_times.sort();
    let log = RaftLog::open(&large, LogOptions::default()).unwrap();

    let t = Instant::now();
    let mut bytes = 0usize;
    for index in 1..=OPEN_LOG_ENTRIES {
        bytes += log.entry_ref(index).unwrap().unwrap().data.len();
    }
    let sequential = t.elapsed();
    assert_eq!(bytes, OPEN_LOG_ENTRIES as usize * ENTRY_DATA_BYTES);

    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let t = Instant::now();
    for _ in 0..RANDOM_READS {
        let index = xorshift(&mut state) % OPEN_LOG_ENTRIES + 1;
        bytes += log.entry_ref(index).unwrap().unwrap().data.len();
    }
    let random = t.elapsed();
    assert!(bytes > 0);
    let t = Instant::now();
    let mut copied = 0usize;
    for _ in 0..RANDOM_READS {
        let index = xorshift(&mut state) % OPEN_LOG_ENTRIES + 1;
        copied += log.entry(index).unwrap().unwrap().data.len();
    }
    let random_copy = t.elapsed();
    assert!(copied > 0);
    drop(log);

    println!(
        "{:<40} {:>10} {:>12} {:>10} {:>9}",
        "durable appends", "batches/s", "entries/s", "us/batch", "vs raw"
    );
    for rows in &by_batch {
        let raw = &rows[0];
        for row in rows {
            println!(
                "{:<40} {:>10.0} {:>12.0} {:>10.1} {:>8.2}x",
                row.name,
                row.batches_per_sec(),
                row.entries_per_sec(),
                row.micros_per_batch(),
                raw.entries_per_sec() / row.entries_per_sec()
            );
        }
    }

    let per_sec = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "\n{:<40} {:>12}",
        "reads (1,000,000-entry log)", "entries/s"
    );
    println!(
        "{:<40} {:>12.0}",
        "sequential entry_ref (zero-copy)",
        per_sec(OPEN_LOG_ENTRIES, sequential)
    );
    println!(
        "{:<40} {:>12.0}",
        "random entry_ref (zero-copy)",
        per_sec(RANDOM_READS, random)
    );
    println!(
        "{:<40} {:>12.0}",
        "random entry (copied)",
        per_sec(RANDOM_READS, random_copy)
    );

    let median_open = open_times[open_times.len() / 2];
    println!(
        "\nopen of a {OPEN_LOG_ENTRIES}-entry log (page cache warm): median {:.1} ms, \
         min {:.1} ms, max {:.1} ms (log built in {:.1} s)",
        median_open.as_secs_f64() * 1e3,
        open_times[0].as_secs_f64() * 1e3,
        open_times[open_times.len() - 1].as_secs_f64() * 1e3,
        build.as_secs_f64()
    );

    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let batch_1 = &by_batch[0];
    let ratio = batch_1[0].entries_per_sec() / batch_1[2].entries_per_sec();
    let batch_256 = &by_batch[2];
    println!("\ntargets:");
    println!(
        "  batch of 1 within 1.5x of raw write+fdatasync: {ratio:.2}x  -> {}",
        verdict(ratio <= 1.5)
    );
    println!(
        "  batch of 256 >= 300,000 durable entries/s: {:.0} (raw write+fdatasync of the same bytes: {:.0})  -> {}",
        batch_256[2].entries_per_sec(),
        batch_256[0].entries_per_sec(),
        verdict(batch_256[2].entries_per_sec() >= 300_000.0)
    );
    println!(
        "  open of 1,000,000 entries <= 200 ms: {:.1} ms  -> {}",
        median_open.as_secs_f64() * 1e3,
        verdict(median_open <= Duration::from_millis(200))
    );
    let _ = fs::remove_dir_all(&root);
}
