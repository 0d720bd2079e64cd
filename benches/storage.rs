//! Storage benchmark: durable appends in batches of 1, 16, 256 and 4096
//! entries of 256 bytes (one fsync per batch), sequential and random reads,
//! and the open time of a 1,000,000-entry log, next to a raw baseline (a
//! plain write + fdatasync loop in the same directory, same run).
//!
//!     cargo bench --bench storage
//!
//! The directory is `CONCORD_BENCH_DIR` (default `target/storage-bench`);
//! it should be on the disk whose durability is being measured.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use concord::storage::{LogOptions, RaftLog};
use concord::wire::raft_message::{Entry, EntryKind};

const ENTRY_DATA_BYTES: usize = 256;
/// Each timed append run stops after this long (or `MAX_ENTRIES_PER_RUN`).
const RUN_DURATION: Duration = Duration::from_secs(3);
const MAX_ENTRIES_PER_RUN: u64 = 2_000_000;
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
        data: vec![(index % 251) as u8; ENTRY_DATA_BYTES],
    }
}

struct Row {
    name: String,
    batches_per_sec: f64,
    entries_per_sec: f64,
    micros_per_batch: f64,
    note: String,
}

/// A plain write of `batch * record` bytes followed by fdatasync, appended
/// to one file: the floor any durable log on this disk pays.
fn raw_baseline(dir: &Path, batch: usize) -> Row {
    let path = fresh(&dir.join(format!("raw-{batch}"))).join("raw.dat");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    // Same bytes per entry as a log record (33-byte header + data).
    let buffer = vec![0x5au8; batch * (ENTRY_DATA_BYTES + 33)];
    let started = Instant::now();
    let mut batches = 0u64;
    while started.elapsed() < RUN_DURATION && batches * (batch as u64) < MAX_ENTRIES_PER_RUN {
        file.write_all(&buffer).unwrap();
        file.sync_data().unwrap();
        batches += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    Row {
        name: format!("raw write+fdatasync, {batch} x 289 B"),
        batches_per_sec: batches as f64 / seconds,
        entries_per_sec: (batches * batch as u64) as f64 / seconds,
        micros_per_batch: seconds * 1e6 / batches as f64,
        note: String::new(),
    }
}

/// The true floor for a preallocated log: overwrite zero blocks that
/// already exist (no size change, no block allocation) and fdatasync.
fn raw_preallocated_baseline(dir: &Path, batch: usize) -> Row {
    let path = fresh(&dir.join(format!("raw-prealloc-{batch}"))).join("raw.dat");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let buffer = vec![0x5au8; batch * (ENTRY_DATA_BYTES + 33)];
    let size_bytes = 64u64 * 1024 * 1024;
    let zeros = vec![0u8; 1024 * 1024];
    for offset in (0..size_bytes).step_by(zeros.len()) {
        file.write_all_at(&zeros, offset).unwrap();
    }
    file.sync_all().unwrap();
    let started = Instant::now();
    let mut batches = 0u64;
    let mut offset = 0u64;
    while started.elapsed() < RUN_DURATION && offset + (buffer.len() as u64) <= size_bytes {
        file.write_all_at(&buffer, offset).unwrap();
        file.sync_data().unwrap();
        offset += buffer.len() as u64;
        batches += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    Row {
        name: format!("raw pwrite+fdatasync, prealloc, {batch}"),
        batches_per_sec: batches as f64 / seconds,
        entries_per_sec: (batches * batch as u64) as f64 / seconds,
        micros_per_batch: seconds * 1e6 / batches as f64,
        note: String::new(),
    }
}

fn append_run(dir: &Path, batch: usize) -> Row {
    let dir = fresh(&dir.join(format!("append-{batch}")));
    let mut log = RaftLog::open(&dir, LogOptions::default()).unwrap();
    let mut next = 1u64;
    let mut batches = 0u64;
    let mut buffer: Vec<Entry> = Vec::with_capacity(batch);
    let mut append_time = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < RUN_DURATION && next <= MAX_ENTRIES_PER_RUN {
        buffer.clear();
        buffer.extend((next..next + batch as u64).map(entry));
        let t = Instant::now();
        log.append(&buffer).unwrap();
        append_time += t.elapsed();
        next += batch as u64;
        batches += 1;
    }
    let seconds = append_time.as_secs_f64();
    Row {
        name: format!("RaftLog::append, batch of {batch}"),
        batches_per_sec: batches as f64 / seconds,
        entries_per_sec: (next - 1) as f64 / seconds,
        micros_per_batch: seconds * 1e6 / batches as f64,
        note: format!("{} segments", log.segment_count()),
    }
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
    println!("entries of {ENTRY_DATA_BYTES} B data (289 B on disk); each run {RUN_DURATION:?}\n");

    let mut rows = vec![
        raw_baseline(&root, 1),
        raw_baseline(&root, 256),
        raw_preallocated_baseline(&root, 1),
        raw_preallocated_baseline(&root, 256),
    ];
    let appends: Vec<Row> = [1usize, 16, 256, 4096]
        .iter()
        .map(|&b| append_run(&root, b))
        .collect();

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

    rows.extend(appends);
    println!(
        "{:<38} {:>12} {:>14} {:>12}  note",
        "durable appends", "batches/s", "entries/s", "us/batch"
    );
    for row in &rows {
        println!(
            "{:<38} {:>12.0} {:>14.0} {:>12.1}  {}",
            row.name, row.batches_per_sec, row.entries_per_sec, row.micros_per_batch, row.note
        );
    }

    let per_sec = |n: u64, d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "\n{:<38} {:>14}",
        "reads (1,000,000-entry log)", "entries/s"
    );
    println!(
        "{:<38} {:>14.0}",
        "sequential entry_ref (zero-copy)",
        per_sec(OPEN_LOG_ENTRIES, sequential)
    );
    println!(
        "{:<38} {:>14.0}",
        "random entry_ref (zero-copy)",
        per_sec(RANDOM_READS, random)
    );
    println!(
        "{:<38} {:>14.0}",
        "random entry (copied)",
        per_sec(RANDOM_READS, random_copy)
    );

    let median_open = open_times[open_times.len() / 2];
    println!(
        "\nopen of a {OPEN_LOG_ENTRIES}-entry log (page cache warm): median {:.1} ms, min {:.1} ms, max {:.1} ms  (built in {:.1} s)",
        median_open.as_secs_f64() * 1e3,
        open_times[0].as_secs_f64() * 1e3,
        open_times[open_times.len() - 1].as_secs_f64() * 1e3,
        build.as_secs_f64()
    );

    let batch_1 = &rows[4];
    let batch_256 = &rows[6];
    // Compared with the faster of the two raw loops, so the check is the
    // stricter one.
    let raw_rate = rows[0].entries_per_sec.max(rows[2].entries_per_sec);
    let ratio = raw_rate / batch_1.entries_per_sec;
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("\ntargets:");
    println!(
        "  batch of 1 within 1.5x of the raw fsync rate ({raw_rate:.0}/s): raw/log = {ratio:.2}x  -> {}",
        verdict(ratio <= 1.5)
    );
    println!(
        "  batch of 256 >= 300,000 durable entries/s: {:.0}  -> {}",
        batch_256.entries_per_sec,
        verdict(batch_256.entries_per_sec >= 300_000.0)
    );
    println!(
        "  open of 1,000,000 entries <= 200 ms: {:.1} ms  -> {}",
        median_open.as_secs_f64() * 1e3,
        verdict(median_open <= Duration::from_millis(200))
    );
    let _ = fs::remove_dir_all(&root);
}
