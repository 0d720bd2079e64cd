//! One seed's run: a server bootstraps, more servers and client agents
//! start and are joined, clients send requests through any agent while the
//! seed's faults strike; then the faults heal, a leader must appear and
//! take a write within a bound, and final reads of every key through the
//! leader and through every agent close the history.

use std::net::SocketAddr;
use std::path::PathBuf;

use concord::deterministic_rng::SplitMix64;

use super::faults::{FAULT_INTERVAL_US, FaultRates, FaultStats, Operator};
use super::net::{AgentIndex, NetFaults, Network};
use super::node::{Agent, Status};
use super::sim_io::OffLoopPolicy;
use super::trace;
use super::workload::{CLIENT_TIMEOUT_US, KEYS, OpKind, Workload, WorkloadStats};
use super::world::World;

/// The scenario looks at the world this often (clients, the operator).
const DECISION_INTERVAL_US: u64 = 5_000;
const WORKLOAD_START_US: u64 = 300_000;
const CHAOS_START_US: u64 = 2_000_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub servers: usize,
    pub client_agents: usize,
    pub clients: usize,
    pub chaos_us: u64,
    /// After healing, a leader must take a write within this long.
    pub heal_bound_us: u64,
    pub net: NetFaults,
    pub off_loop: OffLoopPolicy,
    pub snapshot_every_entries: u64,
    pub rates: FaultRates,
}

impl Options {
    pub fn from_seed(rng: &mut SplitMix64, chaos_us: u64) -> Options {
        Options {
            servers: rng.range(3, 6) as usize,
            client_agents: rng.range(1, 3) as usize,
            clients: rng.range(3, 7) as usize,
            chaos_us,
            heal_bound_us: 30_000_000,
            net: NetFaults {
                min_latency_us: 1_000,
                max_latency_us: rng.range(2_000, 15_001),
                datagram_loss_per_mille: rng.range(0, 200),
                datagram_duplicate_per_mille: rng.range(0, 50),
                black_hole_dial_us: rng.range(100_000, 1_000_000),
            },
            off_loop: OffLoopPolicy {
                deferred_percent: rng.range(0, 101),
                max_delay_us: rng.range(1_000, 200_000),
            },
            snapshot_every_entries: rng.range(8, 129),
            rates: FaultRates {
                partition: rng.range(0, 120),
                heal: rng.range(100, 400),
                crash: rng.range(0, 60),
                leave: rng.range(0, 30),
                transfer: rng.range(0, 60),
                long_outage_percent: rng.range(0, 60),
                corrupt_staged_snapshot: if rng.range(0, 2) == 0 {
                    0
                } else {
                    rng.range(0, 300)
                },
            },
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SimStats {
    pub faults: FaultStats,
    pub workload: WorkloadStats,
    pub snapshots_taken: u64,
    pub snapshots_installed: u64,
    pub steps: u64,
    pub leaders: u64,
    pub sim_us: u64,
    /// Histories the checker gave up on (its step budget ran out).
    pub checker_timeouts: u64,
}

/// The seed's data directories, removed when the run ends.
struct DataRoot(PathBuf);

impl Drop for DataRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// This process's directory for the seeds' data: in memory when
/// `/dev/shm` exists, so fsyncs cost no disk time.
fn process_root() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!("concord-agent-sim-{}", std::process::id()))
}

fn data_root(seed: u64) -> PathBuf {
    process_root().join(format!("seed-{seed}"))
}

/// Removes what the seeds left (each removes its own; this is the parent).
pub fn remove_data_root() {
    let _ = std::fs::remove_dir_all(process_root());
}

/// The command that runs `seed` alone, traced.
pub fn replay_command(seed: u64) -> String {
    format!(
        "SIM_SEED_START={seed} SIM_SEEDS=1 SIM_TRACE=1 cargo test --release --test agent_sim across_seeds -- --nocapture"
    )
}

pub struct Sim {
    pub seed: u64,
    pub opts: Options,
    pub world: World,
    operator: Operator,
    rng: SplitMix64,
    _root: DataRoot,
}

impl Sim {
    pub fn new(seed: u64, chaos_us: u64) -> Sim {
        let mut rng = SplitMix64::new(seed);
        let opts = Options::from_seed(&mut rng, chaos_us);
        let root = data_root(seed);
        let _ = std::fs::remove_dir_all(&root);
        let count = opts.servers + opts.client_agents;
        let addresses: Vec<SocketAddr> = (0..count)
            .map(|i| SocketAddr::from(([10, 0, 0, i as u8 + 1], 8300)))
            .collect();
        let mut agents: Vec<Agent> = (0..count)
            .map(|i| {
                let server = i < opts.servers;
                let name = if server {
                    format!("s{i}")
                } else {
                    format!("c{}", i - opts.servers)
                };
                let dir = root.join(&name);
                let mut agent = Agent::new(
                    name,
                    addresses[i],
                    server,
                    dir,
                    rng.next_u64(),
                    opts.snapshot_every_entries,
                );
                // Half of them are started with `--join` (an earlier agent).
                if i > 0 && rng.range(0, 2) == 0 {
                    agent.join = vec![addresses[rng.below(i)]];
                }
                agent
            })
            .collect();
        agents[0].bootstrap = true;
        let net = Network::new(&addresses, opts.net.clone(), rng.next_u64());
        let workload = Workload::new(opts.clients, 1, rng.next_u64());
        let world = World::new(net, agents, workload, opts.off_loop);
        let mut operator = Operator::new(rng.next_u64());
        operator.schedule_start(0, 0);
        for i in 1..count {
            operator.schedule_start(i, rng.range(50_000, 1_200_000));
        }
        Sim {
            seed,
            opts,
            world,
            operator,
            rng,
            _root: DataRoot(root),
        }
    }

    pub fn stats(&self) -> SimStats {
        SimStats {
            faults: self.operator.stats,
            workload: self.world.workload.stats,
            steps: self.world.steps,
            leaders: self.world.checks.stats.leaders_seen,
            checker_timeouts: self.world.checks.stats.checker_timeouts,
            sim_us: self.world.now_us,
            ..SimStats::default()
        }
    }

    fn fail(&self, what: String) -> String {
        format!(
            "seed {}: at {:.3} s: {what}\nagents:\n{}\nreplay: {}",
            self.seed,
            self.world.now_us as f64 / 1e6,
            self.world.describe(),
            replay_command(self.seed)
        )
    }

    pub fn run(&mut self) -> Result<SimStats, String> {
        self.run_inner().map_err(|what| self.fail(what))?;
        let counts = trace::take_counts();
        let mut stats = self.stats();
        stats.snapshots_taken = counts.snapshots_taken;
        stats.snapshots_installed = counts.snapshots_installed;
        Ok(stats)
    }

    fn run_inner(&mut self) -> Result<(), String> {
        trace::take_counts();
        let chaos_end = CHAOS_START_US + self.opts.chaos_us;
        self.drive(chaos_end, true)?;
        self.heal()?;
        self.final_reads()?;
        self.world.workload.abandon_all(self.world.now_us);
        self.world.checks.after_run(&self.world.workload)
    }

    /// Runs to `until_us`, the clients sending requests (`issuing`), the
    /// operator starting and joining agents, and the faults rolling
    /// during the chaos window.
    fn drive(&mut self, until_us: u64, issuing: bool) -> Result<(), String> {
        let mut next_fault = CHAOS_START_US;
        while self.world.now_us < until_us {
            let now = self.world.now_us;
            self.operator.run(&mut self.world);
            self.world.workload.expire(now, &mut self.world.net);
            if issuing && now >= WORKLOAD_START_US {
                let targets = self.world.up_agents();
                let w = &mut self.world;
                w.workload.issue_random(now, &mut w.net, &targets);
            }
            if issuing && now >= CHAOS_START_US {
                let per_mille = self.opts.rates.corrupt_staged_snapshot;
                self.operator
                    .corrupt_staged_snapshots(&self.world, per_mille);
            }
            if issuing && now >= next_fault {
                next_fault += FAULT_INTERVAL_US;
                let rates = self.opts.rates.clone();
                self.operator.roll(&mut self.world, &rates);
            }
            let next = (now + DECISION_INTERVAL_US).min(until_us);
            self.world.run_until(next)?;
        }
        Ok(())
    }

    /// The faults end: partitions heal and every agent runs again. Then a
    /// leader must take a write, through it, within the bound.
    fn heal(&mut self) -> Result<(), String> {
        trace::sim(|| "heal everything".into());
        self.world.net.heal();
        self.operator.restart_everyone(&mut self.world);
        let deadline = self.world.now_us + self.opts.heal_bound_us;
        let probe = self.world.workload.first_driven_client();
        while self.world.now_us < deadline {
            if self.world.workload.is_idle(probe) {
                if self.world.workload.take_result(probe) == Some(true) {
                    return Ok(());
                }
                if let Some(leader) = self.world.leader() {
                    let key = KEYS[self.rng.below(KEYS.len())];
                    let w = &mut self.world;
                    w.workload
                        .issue(w.now_us, &mut w.net, probe, leader, OpKind::Put, key);
                }
            }
            let next = self.world.now_us + DECISION_INTERVAL_US;
            self.drive(next, false)?;
        }
        Err(format!(
            "no write succeeded through a leader within {} s after the faults healed",
            self.opts.heal_bound_us / 1_000_000
        ))
    }

    /// Every key read through the leader (consistent) and through every
    /// agent (default): an acknowledged write lost would show here.
    fn final_reads(&mut self) -> Result<(), String> {
        let probe = self.world.workload.first_driven_client();
        for key in KEYS {
            let mut reads: Vec<(AgentIndex, OpKind)> = Vec::new();
            if let Some(leader) = self.world.leader() {
                reads.push((leader, OpKind::GetConsistent));
            }
            for agent in self.world.up_agents() {
                reads.push((agent, OpKind::GetDefault));
            }
            for (agent, kind) in reads {
                if self.world.agents[agent].status != Status::Up {
                    continue;
                }
                let w = &mut self.world;
                w.workload
                    .issue(w.now_us, &mut w.net, probe, agent, kind, key);
                let deadline = self.world.now_us + CLIENT_TIMEOUT_US + DECISION_INTERVAL_US;
                while !self.world.workload.is_idle(probe) && self.world.now_us < deadline {
                    let next = self.world.now_us + DECISION_INTERVAL_US;
                    self.drive(next, false)?;
                }
            }
        }
        Ok(())
    }
}
