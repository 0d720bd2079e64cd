//! Seeded simulation of whole agents: 3 to 5 real servers (the real
//! `AgentHandler`, Raft host, state machine and gossip, on real data
//! directories) and one or two client agents, over a simulated network
//! behind the agent's I/O seam (`src/agent/seam.rs`), with partitions,
//! crashes and restarts, graceful leaves and rejoins, leadership transfers
//! and snapshot installs, and clients whose histories are checked for
//! linearizability.
//!
//! `SIM_SEEDS=N` and `SIM_SEED_START=S` choose the seeds, `SIM_CHAOS_MS`
//! the length of the faulty phase, `SIM_THREADS` how many seeds run at
//! once; `SIM_TRACE=1` (or `debug`, `trace`) prints what happens. A failure
//! prints its seed and the command that replays it.

#[path = "agent_sim/mod.rs"]
mod agent_sim;
#[path = "it/support/linearizability.rs"]
mod linearizability;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use agent_sim::scenario::{Sim, SimStats, replay_command};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs one seed, turning a panic inside an agent (an assertion of the
/// Raft host, the state machine) into a failure that names the seed.
fn run_seed(seed: u64, chaos_us: u64) -> Result<SimStats, String> {
    let outcome = std::panic::catch_unwind(|| Sim::new(seed, chaos_us).run());
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!(
                "seed {seed}: panicked: {message}\nreplay: {}",
                replay_command(seed)
            ))
        }
    }
}

/// The faulty phase's length when `SIM_CHAOS_MS` is not set; the seeds
/// named in tests below are seeds of this length.
const DEFAULT_CHAOS_MS: u64 = 8_000;

fn add(total: &mut SimStats, s: &SimStats) {
    total.faults.partitions += s.faults.partitions;
    total.faults.crashes += s.faults.crashes;
    total.faults.sigterms += s.faults.sigterms;
    total.faults.leaves += s.faults.leaves;
    total.faults.leaves_completed += s.faults.leaves_completed;
    total.faults.joins += s.faults.joins;
    total.faults.transfers += s.faults.transfers;
    total.faults.snapshots_corrupted += s.faults.snapshots_corrupted;
    let (t, w) = (&mut total.workload, &s.workload);
    t.writes_ok += w.writes_ok;
    t.cas_ok += w.cas_ok;
    t.cas_refused += w.cas_refused;
    t.writes_unknown += w.writes_unknown;
    t.writes_refused += w.writes_refused;
    t.reads_ok += w.reads_ok;
    t.stale_reads_ok += w.stale_reads_ok;
    t.reads_failed += w.reads_failed;
    total.snapshots_taken += s.snapshots_taken;
    total.snapshots_installed += s.snapshots_installed;
    total.steps += s.steps;
    total.leaders += s.leaders;
    total.sim_us += s.sim_us;
    total.checker_timeouts += s.checker_timeouts;
}

#[test]
fn agents_stay_linearizable_and_recover_under_faults_across_seeds() {
    agent_sim::trace::install();
    let start = env_u64("SIM_SEED_START", 0);
    let seeds = env_u64("SIM_SEEDS", 1000);
    let chaos_us = env_u64("SIM_CHAOS_MS", DEFAULT_CHAOS_MS) * 1000;
    let threads = env_u64("SIM_THREADS", 2).max(1);
    let next = AtomicU64::new(start);
    let stop = AtomicBool::new(false);
    let total = Mutex::new(SimStats::default());
    let passed = AtomicU64::new(0);
    let failures = Mutex::new(Vec::<(u64, String)>::new());
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed >= start + seeds {
                        break;
                    }
                    match run_seed(seed, chaos_us) {
                        Ok(stats) => {
                            add(&mut total.lock().unwrap(), &stats);
                            passed.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(failure) => {
                            stop.store(true, Ordering::SeqCst);
                            failures.lock().unwrap().push((seed, failure));
                        }
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap();
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let passed = passed.into_inner();
    eprintln!(
        "{passed} of {seeds} seeds from {start} passed in {:.1} s ({threads} threads): {total:?}",
        started.elapsed().as_secs_f64()
    );
    agent_sim::scenario::remove_data_root();
    if let Some((_, failure)) = failures.first() {
        panic!("{failure}");
    }
    // The simulation must actually exercise what it claims to.
    if seeds >= 50 {
        let w = &total.workload;
        assert!(w.writes_ok > 0 && w.reads_ok > 0 && w.cas_ok > 0 && w.writes_unknown > 0);
        assert!(total.snapshots_installed > 0 && total.faults.transfers > 0);
        assert!(total.faults.crashes > 0 && total.faults.leaves_completed > 0);
        assert!(total.faults.partitions > 0 && total.faults.snapshots_corrupted > 0);
    }
}

/// Before default reads were confirmed with a quorum, they returned values
/// older than writes already acknowledged: at seed 9 a new leader answered
/// before it had applied what the last leader acknowledged; at seed 11
/// (found once that was guarded against) a leader cut off from the others
/// kept answering until CheckQuorum deposed it, after the others had
/// elected a new leader that took writes.
#[test]
fn default_reads_see_every_write_acknowledged_before_them_across_leader_changes() {
    agent_sim::trace::install();
    for seed in [9, 11] {
        if let Err(failure) = run_seed(seed, DEFAULT_CHAOS_MS * 1000) {
            panic!("{failure}");
        }
    }
}

/// A follower whose own snapshot finished, unused, while a received one
/// waited to be installed, and whose install then failed (a damaged
/// staging file), rebuilt its Raft core from its own snapshot and a log
/// that still started behind it: the core refused it and the agent stopped
/// (seed 15658). It must recover in place and go on.
#[test]
fn an_abandoned_snapshot_install_never_stops_the_agent() {
    agent_sim::trace::install();
    if let Err(failure) = run_seed(15658, DEFAULT_CHAOS_MS * 1000) {
        panic!("{failure}");
    }
}
