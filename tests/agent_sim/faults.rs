//! The faults a seed chooses, and the operator who starts, joins and
//! leaves agents: partitions (symmetric, one-way, the leader isolated,
//! minority from majority), crashes (SIGKILL or SIGTERM, the leader among
//! them, some long enough that the server needs a snapshot), graceful
//! leaves (`node leave` or SIGINT) and the rejoin after them, leadership
//! transfers; and a disk fault, a received snapshot's staging file
//! damaged before it is installed (the follower must abandon the install
//! and keep its state, `RaftServer::recover_in_place`).

use std::collections::BTreeMap;

use concord::agent::seam::{Handler, Signal};
use concord::deterministic_rng::SplitMix64;
use concord::wire::client_message::{ClientRequest, RequestBody, ResponseBody, RpcResult};
use concord::wire::frame::Purpose;

use super::net::{AgentIndex, DIALER, Endpoint, SimConnId};
use super::node::Status;
use super::sim_io::encode;
use super::trace;
use super::world::{OPERATOR, World};

/// How often a seed's fault dice are rolled during the chaos phase.
pub const FAULT_INTERVAL_US: u64 = 100_000;
/// A failed operator join is tried again after this long.
const JOIN_RETRY_US: u64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct FaultRates {
    /// Chances per mille at each roll.
    pub partition: u64,
    pub heal: u64,
    pub crash: u64,
    pub leave: u64,
    pub transfer: u64,
    /// Percent of crashes that last long enough for the log to move past
    /// the server (it then gets a snapshot).
    pub long_outage_percent: u64,
    /// Chance per mille, each time the scenario looks, that a received
    /// snapshot being staged gets a byte flipped on disk.
    pub corrupt_staged_snapshot: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct FaultStats {
    pub partitions: u64,
    pub crashes: u64,
    pub sigterms: u64,
    pub leaves: u64,
    /// Leaves that ran to the end (the agent stopped as left).
    pub leaves_completed: u64,
    pub joins: u64,
    pub transfers: u64,
    pub snapshots_corrupted: u64,
}

enum Ask {
    Join,
    Leave,
}

/// The operator: agent starts, `node join` and `node leave`.
pub struct Operator {
    rng: SplitMix64,
    pub restarts: BTreeMap<AgentIndex, u64>,
    joins_due: BTreeMap<AgentIndex, u64>,
    asking: BTreeMap<SimConnId, (AgentIndex, Ask)>,
    /// The agent asked to leave and not yet gone.
    pub leaving: Option<AgentIndex>,
    pub stats: FaultStats,
}

impl Operator {
    pub fn new(seed: u64) -> Operator {
        Operator {
            rng: SplitMix64::new(seed),
            restarts: BTreeMap::new(),
            joins_due: BTreeMap::new(),
            asking: BTreeMap::new(),
            leaving: None,
            stats: FaultStats::default(),
        }
    }

    pub fn schedule_start(&mut self, agent: AgentIndex, at_us: u64) {
        self.restarts.insert(agent, at_us);
    }

    pub fn schedule_join(&mut self, agent: AgentIndex, at_us: u64) {
        self.joins_due.insert(agent, at_us);
    }

    /// Starts agents that are due, joins those that need an operator, and
    /// reads the operator's answers.
    pub fn run(&mut self, world: &mut World) {
        let now = world.now_us;
        let due: Vec<AgentIndex> = self
            .restarts
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(a, _)| *a)
            .collect();
        for agent in due {
            if world.agents[agent].is_up() {
                // Still leaving: it comes back once it has gone.
                self.schedule_start(agent, now + JOIN_RETRY_US);
                continue;
            }
            self.restarts.remove(&agent);
            let left = world.agents[agent].status == Status::Left;
            let first = world.agents[agent].status == Status::NotStarted;
            world.start_agent(agent);
            // A left agent does not rejoin by itself; a new one without
            // `--join` waits for `node join`.
            if left || (first && world.agents[agent].join.is_empty()) {
                let delay = self.rng.range(10_000, 300_000);
                self.schedule_join(agent, now + delay);
            }
        }
        if let Some(agent) = self.leaving
            && world.agents[agent].status != Status::Up
        {
            if world.agents[agent].status == Status::Left {
                self.stats.leaves_completed += 1;
            }
            self.leaving = None;
        }
        let joins: Vec<AgentIndex> = self
            .joins_due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(a, _)| *a)
            .collect();
        for agent in joins {
            self.joins_due.remove(&agent);
            self.ask_join(world, agent);
        }
        self.read_answers(world);
    }

    fn ask(&mut self, world: &mut World, agent: AgentIndex, body: RequestBody, ask: Ask) {
        let now = world.now_us;
        let address = world.address(agent);
        let conn = world.net.dial(
            now,
            Endpoint::Client(OPERATOR),
            address,
            Purpose::Client,
            None,
        );
        let request = ClientRequest {
            request_id: 1,
            body,
        };
        world.net.send(now, conn, DIALER, encode(&request));
        self.asking.insert(conn, (agent, ask));
    }

    /// `node join` on `agent` with some of the other live agents.
    fn ask_join(&mut self, world: &mut World, agent: AgentIndex) {
        if !world.agents[agent].is_up() {
            return;
        }
        let mut others: Vec<AgentIndex> = world
            .up_agents()
            .into_iter()
            .filter(|&a| a != agent)
            .collect();
        if others.is_empty() {
            self.schedule_join(agent, world.now_us + JOIN_RETRY_US);
            return;
        }
        self.rng.shuffle(&mut others);
        others.truncate(self.rng.range(1, 3) as usize);
        let addresses = others.iter().map(|&a| world.address(a).to_string());
        let body = RequestBody::Join {
            addresses: addresses.collect(),
        };
        trace::sim(|| format!("operator: join {} via {others:?}", world.agents[agent].name));
        self.stats.joins += 1;
        self.ask(world, agent, body, Ask::Join);
    }

    fn read_answers(&mut self, world: &mut World) {
        let now = world.now_us;
        for answer in std::mem::take(&mut world.operator_inbox) {
            let Some((agent, ask)) = self.asking.remove(&answer.conn) else {
                continue;
            };
            world.net.close(now, answer.conn, DIALER);
            let joined = matches!(
                &answer.response,
                Some(r) if matches!(&r.body, ResponseBody::Ok(RpcResult::Joined { contacted, .. }) if *contacted > 0)
            );
            if matches!(ask, Ask::Join) && !joined && world.agents[agent].is_up() {
                self.schedule_join(agent, now + JOIN_RETRY_US);
            }
        }
    }

    /// One roll of the fault dice.
    pub fn roll(&mut self, world: &mut World, rates: &FaultRates) {
        if world.net.is_partitioned() {
            if self.chance(rates.heal) {
                trace::sim(|| "heal the partition".into());
                world.net.heal();
            }
        } else if self.chance(rates.partition) {
            self.partition(world);
        }
        if self.chance(rates.crash) {
            self.crash(world, rates.long_outage_percent);
        }
        if self.chance(rates.leave) {
            self.leave(world);
        }
        if self.chance(rates.transfer) {
            self.transfer(world);
        }
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.range(0, 1000) < per_mille
    }

    fn partition(&mut self, world: &mut World) {
        let up = world.up_agents();
        if up.len() < 2 {
            return;
        }
        self.stats.partitions += 1;
        let now = world.now_us;
        let leader = world.leader();
        let kind = self.rng.range(0, 5);
        let mut side_a: Vec<AgentIndex> = match (kind, leader) {
            (2 | 3, Some(leader)) => vec![leader],
            (4, _) => {
                let mut shuffled = up.clone();
                self.rng.shuffle(&mut shuffled);
                shuffled.truncate((up.len() - 1) / 2);
                shuffled
            }
            _ => up
                .iter()
                .copied()
                .filter(|_| self.rng.range(0, 2) == 0)
                .collect(),
        };
        if side_a.is_empty() {
            side_a.push(up[self.rng.below(up.len())]);
        }
        let one_way = kind == 1 || kind == 3;
        let a_to_b = self.rng.range(0, 2) == 0;
        trace::sim(|| {
            format!("partition {side_a:?} from the rest (kind {kind}, one way {one_way})")
        });
        for &a in &side_a {
            for &b in up.iter().filter(|b| !side_a.contains(b)) {
                if !one_way || a_to_b {
                    world.net.block(now, a, b);
                }
                if !one_way || !a_to_b {
                    world.net.block(now, b, a);
                }
            }
        }
    }

    fn pick_victim(&mut self, world: &World, leader_per_mille: u64) -> Option<AgentIndex> {
        let candidates: Vec<AgentIndex> = world
            .up_agents()
            .into_iter()
            .filter(|a| Some(*a) != self.leaving)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        if let Some(leader) = world.leader()
            && candidates.contains(&leader)
            && self.chance(leader_per_mille)
        {
            return Some(leader);
        }
        Some(candidates[self.rng.below(candidates.len())])
    }

    fn crash(&mut self, world: &mut World, long_outage_percent: u64) {
        let Some(victim) = self.pick_victim(world, 400) else {
            return;
        };
        let outage = if self.rng.range(0, 100) < long_outage_percent {
            self.rng.range(4_000_000, 12_000_000)
        } else {
            self.rng.range(50_000, 2_500_000)
        };
        self.schedule_start(victim, world.now_us + outage);
        if self.chance(300) {
            trace::sim(|| format!("SIGTERM {}", world.agents[victim].name));
            self.stats.sigterms += 1;
            world.terminating[victim] = true;
            world.with_agent(victim, |h, io| h.on_signal(Signal::Terminate, io));
        } else {
            self.stats.crashes += 1;
            trace::sim(|| format!("crash {}", world.agents[victim].name));
            world.stop_agent(victim, Status::Down);
        }
    }

    /// A graceful leave, one at a time; the agent is restarted and joined
    /// again a while after it has gone.
    fn leave(&mut self, world: &mut World) {
        if self.leaving.is_some() || world.agents.iter().any(|a| a.status == Status::Left) {
            return;
        }
        let Some(agent) = self.pick_victim(world, 300) else {
            return;
        };
        self.stats.leaves += 1;
        self.leaving = Some(agent);
        let back = world.now_us + self.rng.range(8_000_000, 12_000_000);
        self.schedule_start(agent, back);
        if self.chance(500) {
            trace::sim(|| format!("operator: leave {}", world.agents[agent].name));
            self.ask(world, agent, RequestBody::Leave, Ask::Leave);
        } else {
            trace::sim(|| format!("SIGINT {}", world.agents[agent].name));
            world.with_agent(agent, |h, io| h.on_signal(Signal::Interrupt, io));
        }
    }

    fn transfer(&mut self, world: &mut World) {
        let Some(leader) = world.leader() else {
            return;
        };
        let moved = world.with_agent(leader, |h, _| {
            h.raft_mut()
                .map(|raft| raft.node_mut().transfer_leadership(None).is_ok())
        });
        if moved == Some(Some(true)) {
            trace::sim(|| format!("transfer leadership from {}", world.agents[leader].name));
            self.stats.transfers += 1;
        }
    }

    /// A bad sector under a snapshot a follower is receiving: the last
    /// byte of its staging file flips. Only files of snapshots past what
    /// the server applied (received ones, not its own being written).
    pub fn corrupt_staged_snapshots(&mut self, world: &World, per_mille: u64) {
        if per_mille == 0 {
            return;
        }
        for agent in world.agents.iter().filter(|a| a.server && a.is_up()) {
            let Some(applied) = agent
                .handler
                .as_ref()
                .and_then(|h| h.raft())
                .map(|raft| raft.state().applied_index())
            else {
                continue;
            };
            for path in staged_snapshots(&agent.dir, applied) {
                if self.chance(per_mille) && flip_last_byte(&path) {
                    trace::sim(|| format!("corrupt {} on {}", path.display(), agent.name));
                    self.stats.snapshots_corrupted += 1;
                }
            }
        }
    }

    /// Healing: every agent that is down starts now, and the ones that
    /// left are joined again.
    pub fn restart_everyone(&mut self, world: &mut World) {
        let now = world.now_us;
        for agent in 0..world.agents.len() {
            if !world.agents[agent].is_up() {
                self.schedule_start(agent, now);
            }
        }
    }
}

/// Staging files (`snapshot-<index>-<term>.snap.tmp`) of snapshots past
/// `applied`.
fn staged_snapshots(dir: &std::path::Path, applied: u64) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join("raft").join("snapshots")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let index = name
                .strip_prefix("snapshot-")
                .and_then(|rest| rest.strip_suffix(".snap.tmp"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|index| index.parse::<u64>().ok());
            index.is_some_and(|index| index > applied)
        })
        .collect()
}

fn flip_last_byte(path: &std::path::Path) -> bool {
    use std::os::unix::fs::FileExt;
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    else {
        return false;
    };
    let Some(last) = file
        .metadata()
        .map(|m| m.len())
        .ok()
        .and_then(|l| l.checked_sub(1))
    else {
        return false;
    };
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, last).is_ok() && file.write_all_at(&[!byte[0]], last).is_ok()
}
