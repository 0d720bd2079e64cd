//! Seeded simulation of Raft clusters (1 to 7 servers) under crashes,
//! partitions, message loss, duplication and reordering, with membership
//! changes, leadership transfers, snapshots and clients whose histories are
//! checked for linearizability.
//!
//! `SIM_SEEDS=N` and `SIM_SEED_START=S` choose the seeds; a failure prints
//! the command that replays it.

// The checker is shared with the `it` binary, which tests it.
#[path = "raft_sim/cluster.rs"]
mod cluster;
#[path = "it/support/linearizability.rs"]
mod linearizability;

use cluster::{Sim, SimStats};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn raft_is_safe_and_live_under_faults_across_seeds() {
    let start = env_u64("SIM_SEED_START", 0);
    let seeds = env_u64("SIM_SEEDS", 1000);
    let mut total = SimStats::default();
    let mut operations = 0usize;
    for seed in start..start + seeds {
        let mut sim = Sim::new(seed);
        sim.run();
        operations += sim.history.len();
        let s = &sim.stats;
        total.crashes += s.crashes;
        total.elections += s.elections;
        total.puts_ok += s.puts_ok;
        total.gets_ok += s.gets_ok;
        total.snapshots_installed += s.snapshots_installed;
        total.transfers += s.transfers;
        total.membership_changes += s.membership_changes;
        total.reads_by_deposed_leaders += s.reads_by_deposed_leaders;
    }
    eprintln!("{seeds} seeds from {start}: {total:?}, {operations} client operations checked");
    // The simulation must actually exercise the protocol.
    if seeds >= 50 {
        assert!(total.puts_ok > 0 && total.gets_ok > 0 && total.elections > seeds);
        assert!(total.snapshots_installed > 0 && total.membership_changes > 0);
    }
}
