//! Gossip between real `node agent` processes, each test on its own
//! loopback addresses (127.0.6.x / 127.0.7.x, distinct ports): join, retry
//! join at startup, failure detection, graceful leave, the restart rules and
//! hostile datagrams. Every process is killed when its guard drops, also
//! when a test fails; every wait polls with a bound.

use std::net::{SocketAddr, UdpSocket};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::in_process_loop::{InProcessLoop, run_in_process};
use crate::support::node_process::{NodeProcess, node_at, text, wraps_node_process};
use crate::support::scratch::ScratchDir;
use crate::support::wait::{holds_for, wait_until};

/// Long enough for the default timers (1 s probes, suspicion ≤ 24 s for 3
/// members) with margin on a loaded machine.
const CONVERGE: Duration = Duration::from_secs(20);
const FAILURE_DETECTED: Duration = Duration::from_secs(40);

/// One `node agent`; its address, name and data directory outlive the
/// process, so it can be restarted on the same data.
struct Agent(NodeProcess);

wraps_node_process!(Agent);

impl Agent {
    fn new(bind: &str, name: &str) -> Agent {
        Agent(NodeProcess::new(bind, name))
    }

    /// Starts `node agent` without waiting for its port.
    fn spawn(&mut self, extra: &[&str]) {
        self.0.spawn(&[&["agent"], extra].concat());
    }

    /// Starts `node agent` and waits until its port accepts connections.
    fn start(&mut self, extra: &[&str]) {
        self.spawn(extra);
        self.wait_listening(Duration::from_secs(10));
    }

    fn started(bind: &str, name: &str, extra: &[&str]) -> Agent {
        let mut agent = Agent::new(bind, name);
        agent.start(extra);
        agent
    }

    /// `(name, status)` of every member `node members` lists.
    fn members(&self) -> Vec<(String, String)> {
        let output = self.node(&["members"]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stdout)
            .lines()
            .skip(1)
            .map(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                (cells[0].to_owned(), cells[2].to_owned())
            })
            .collect()
    }

    fn status_of(&self, member: &str) -> Option<String> {
        self.members()
            .into_iter()
            .find(|(name, _)| name == member)
            .map(|(_, status)| status)
    }

    fn join(&self, seed: &Agent) -> Output {
        self.node(&["join", &seed.bind])
    }
}

/// The value of `\tNAME = VALUE` in `node info` of `agent`.
fn info_field(agent: &Agent, name: &str) -> Option<String> {
    let info = text(&agent.node(&["info"]).stdout);
    let prefix = format!("\t{name} = ");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(str::to_string)
}

fn sees(observer: &Agent, member: &Agent, status: &str) -> bool {
    observer.status_of(&member.name).as_deref() == Some(status)
}

fn assert_join_succeeds(joiner: &Agent, seed: &Agent) {
    let output = joiner.join(seed);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Successfully joined cluster by contacting 1 nodes.\n"
    );
}

/// Three agents on `binds` joined into one pool, each seeing all three alive.
fn three_joined(binds: [&str; 3], names: [&str; 3]) -> [Agent; 3] {
    let a = Agent::started(binds[0], names[0], &["--server"]);
    let b = Agent::started(binds[1], names[1], &[]);
    let c = Agent::started(binds[2], names[2], &[]);
    assert_join_succeeds(&b, &a);
    assert_join_succeeds(&c, &b);
    let agents = [a, b, c];
    for observer in &agents {
        wait_until(CONVERGE, "every member alive everywhere", || {
            agents.iter().all(|m| sees(observer, m, "alive"))
        });
    }
    agents
}

#[test]
fn three_agents_joined_through_each_other_all_see_each_other_alive() {
    let [a, b, c] = three_joined(
        ["127.0.6.1:18401", "127.0.6.2:18402", "127.0.6.3:18403"],
        ["j-a", "j-b", "j-c"],
    );
    let output = a.node(&["members"]);
    let stdout = text(&output.stdout);
    let row = stdout.lines().find(|l| l.starts_with("j-a ")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..4], ["j-a", "127.0.6.1:18401", "alive", "server"]);
    assert_eq!(cells[4], env!("CARGO_PKG_VERSION"));
    assert_eq!(cells[6], "dc1");
    let row = stdout.lines().find(|l| l.starts_with("j-b ")).unwrap();
    assert_eq!(row.split_whitespace().nth(3), Some("client"));
    let info = text(&c.node(&["info"]).stdout);
    assert!(info.lines().any(|l| l == "\tmembers = 3"), "{info}");
    assert!(info.lines().any(|l| l == "\talive = 3"), "{info}");
    assert!(info.lines().any(|l| l.starts_with("\thealth_score = ")));
    assert!(info.lines().any(|l| l.starts_with("\tincarnation = ")));
    drop(b);
}

#[test]
fn join_at_startup_retries_until_the_seed_starts() {
    let mut seed = Agent::new("127.0.6.4:18404", "r-seed");
    let joiner = Agent::started(
        "127.0.6.5:18405",
        "r-joiner",
        &["--join", "127.0.6.4:18404"],
    );
    // The joiner's first attempts fail while the seed is down; it keeps
    // serving alone meanwhile.
    assert_eq!(joiner.members().len(), 1);
    joiner.wait_log("Join failed (attempt 2)", CONVERGE);
    assert_eq!(joiner.members().len(), 1);
    seed.start(&[]);
    wait_until(CONVERGE, "the retried join to reach the seed", || {
        sees(&seed, &joiner, "alive") && sees(&joiner, &seed, "alive")
    });
}

#[test]
fn a_killed_agent_is_marked_failed_by_the_others() {
    let [a, b, mut c] = three_joined(
        ["127.0.6.6:18406", "127.0.6.7:18407", "127.0.6.8:18408"],
        ["f-a", "f-b", "f-c"],
    );
    c.kill();
    wait_until(FAILURE_DETECTED, "the killed agent to be failed", || {
        sees(&a, &c, "failed") && sees(&b, &c, "failed")
    });
    assert!(sees(&a, &b, "alive"));
}

#[test]
fn node_leave_is_seen_as_left_and_the_leaver_exits_cleanly() {
    let [a, b, mut c] = three_joined(
        ["127.0.6.9:18409", "127.0.6.10:18410", "127.0.6.11:18411"],
        ["l-a", "l-b", "l-c"],
    );
    let output = c.node(&["leave"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "Graceful leave complete\n");
    assert!(c.wait_exit(Duration::from_secs(10)).success());
    wait_until(CONVERGE, "the leaver to be left everywhere", || {
        sees(&a, &c, "left") && sees(&b, &c, "left")
    });
}

#[test]
fn an_agent_restarted_after_sigterm_rejoins_by_itself() {
    let [a, b, mut c] = three_joined(
        ["127.0.7.1:18501", "127.0.7.2:18502", "127.0.7.3:18503"],
        ["t-a", "t-b", "t-c"],
    );
    c.signal("TERM");
    assert_eq!(c.wait_exit(Duration::from_secs(10)).code(), Some(0));
    // No --join: only the remembered members can bring it back.
    c.start(&[]);
    wait_until(CONVERGE, "the restarted agent to rejoin", || {
        sees(&c, &a, "alive") && sees(&c, &b, "alive") && sees(&a, &c, "alive")
    });
}

#[test]
fn an_agent_restarted_after_leaving_stays_out_until_node_join() {
    let [a, b, mut c] = three_joined(
        ["127.0.7.4:18504", "127.0.7.5:18505", "127.0.7.6:18506"],
        ["g-a", "g-b", "g-c"],
    );
    c.signal("INT");
    assert!(c.wait_exit(Duration::from_secs(10)).success());
    wait_until(CONVERGE, "the leaver to be left", || sees(&a, &c, "left"));
    c.start(&[]);
    // What is tested is that nothing happens: a rejoin would be tried at
    // once (and retried after 0.5 s, 1.5 s), so watch well past the first
    // attempts.
    holds_for(
        Duration::from_secs(3),
        "the left agent staying out (alone in its members, left in A's)",
        || c.members().len() == 1 && sees(&a, &c, "left"),
    );
    assert_join_succeeds(&c, &a);
    wait_until(CONVERGE, "the explicit join to bring it back", || {
        sees(&a, &c, "alive") && sees(&b, &c, "alive") && sees(&c, &b, "alive")
    });
    // The join cleared the left marker: a later SIGTERM restart rejoins.
    c.signal("TERM");
    assert_eq!(c.wait_exit(Duration::from_secs(10)).code(), Some(0));
    c.start(&[]);
    wait_until(CONVERGE, "the rejoin after the marker was cleared", || {
        sees(&c, &a, "alive")
    });
}

#[test]
fn a_join_to_an_unreachable_address_fails_with_exit_1() {
    let a = Agent::started("127.0.7.7:18507", "u-a", &[]);
    let output = a.node(&["join", "127.0.7.8:18508"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error joining address '127.0.7.8:18508': "),
        "{stderr}"
    );
    assert!(stderr.ends_with("Failed to join any nodes.\n"), "{stderr}");
    assert_eq!(a.members().len(), 1);
}

#[test]
fn random_datagrams_do_not_disturb_the_agent() {
    let a = Agent::started("127.0.7.9:18509", "h-a", &[]);
    let b = Agent::started("127.0.7.10:18510", "h-b", &[]);
    assert_join_succeeds(&b, &a);
    wait_until(CONVERGE, "the pair to converge", || sees(&a, &b, "alive"));
    let socket = UdpSocket::bind("127.0.7.11:0").unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..500 {
        let len = (next() % 1500) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half of them start with the datagram magic, to get past it.
        if i % 2 == 0 && bytes.len() >= 2 {
            bytes[..2].copy_from_slice(b"CG");
        }
        socket.send_to(&bytes, &a.bind).unwrap();
    }
    assert_eq!(a.members().len(), 2);
    assert!(sees(&a, &b, "alive"));
    assert!(sees(&b, &a, "alive"));
}

#[test]
fn a_join_under_a_name_held_by_a_live_member_is_refused_with_the_reason() {
    let seed = Agent::started("127.0.7.12:18512", "n-seed", &[]);
    let first = Agent::started("127.0.7.13:18513", "n-twin", &[]);
    assert_join_succeeds(&first, &seed);
    let second = Agent::started("127.0.7.14:18514", "n-twin", &[]);
    let output = second.join(&seed);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("Error joining address '127.0.7.12:18512': join refused: member name \"n-twin\" is already held by a live member at 127.0.7.13:18513"),
        "{stderr}"
    );
    assert!(stderr.ends_with("Failed to join any nodes.\n"), "{stderr}");
    assert_eq!(seed.members().len(), 2);
    assert!(sees(&seed, &first, "alive"));
}

/// An agent in this process, so the test can give it a cluster ID (only the
/// Raft side sets one in a real agent, and it is not wired in yet); its
/// data directory goes with it.
fn in_process_agent(bind: &str, name: &str, cluster_id: u128) -> (InProcessLoop, ScratchDir) {
    use concord::agent::config::{AgentConfig, Bootstrap};
    use concord::agent::handler::AgentHandler;
    let bind: SocketAddr = bind.parse().unwrap();
    let scratch = ScratchDir::new(name);
    let config = AgentConfig {
        server: true,
        bootstrap: Bootstrap::None,
        data_dir: scratch.join("data"),
        bind,
        advertise: bind,
        node_name: name.into(),
        datacenter: "dc1".into(),
        join: vec![],
    };
    let running = run_in_process(bind, move || {
        let mut agent = AgentHandler::new(config, None, Default::default(), Instant::now(), 7);
        agent
            .membership_mut()
            .set_cluster_id(cluster_id, Instant::now());
        agent
    });
    (running, scratch)
}

#[test]
fn a_join_between_two_bootstrapped_clusters_is_refused_naming_both_ids_and_the_fix() {
    let _seed = in_process_agent("127.0.7.20:18520", "c-seed", 0xaaaa);
    let joiner = in_process_agent("127.0.7.21:18521", "c-joiner", 0xbbbb);
    let output = node_at("127.0.7.21:18521", &["join", "127.0.7.20:18520"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("cluster ID mismatch"), "{stderr}");
    assert!(stderr.contains(&format!("{:032x}", 0xaaaa)), "{stderr}");
    assert!(stderr.contains(&format!("{:032x}", 0xbbbb)), "{stderr}");
    assert!(stderr.contains("remove the raft/ folder"), "{stderr}");
    assert!(stderr.contains("without --bootstrap"), "{stderr}");
    assert!(stderr.ends_with("Failed to join any nodes.\n"), "{stderr}");
    drop(joiner);
}

#[test]
fn a_damaged_member_list_only_costs_the_rejoin() {
    let seed = Agent::started("127.0.7.15:18515", "d-seed", &[]);
    let mut agent = Agent::new("127.0.7.16:18516", "d-agent");
    std::fs::create_dir_all(agent.data_dir.join("gossip")).unwrap();
    std::fs::write(agent.data_dir.join("gossip/members"), b"not a member list").unwrap();
    agent.start(&[]);
    assert_eq!(agent.members().len(), 1);
    // The agent still joins, and the list is rewritten: a SIGTERM restart
    // now rejoins.
    assert_join_succeeds(&agent, &seed);
    wait_until(CONVERGE, "the join", || sees(&agent, &seed, "alive"));
    agent.signal("TERM");
    assert_eq!(agent.wait_exit(Duration::from_secs(10)).code(), Some(0));
    agent.start(&[]);
    wait_until(CONVERGE, "the rejoin from the rewritten list", || {
        sees(&agent, &seed, "alive")
    });
}

/// `node join B C` sends both push/pulls at once. C is stopped (SIGSTOP)
/// while A joins: its kernel accepts A's connection, but the agent reads
/// the push/pull (made when A knew only itself) after A's alive broadcast
/// about B has run out its retransmissions. C must still learn of B, and B
/// of C, within a few gossip rounds, not at the next 30 s push/pull.
#[test]
fn a_join_through_two_agents_introduces_them_to_each_other_when_one_answers_late() {
    const INTRODUCED: Duration = Duration::from_secs(5);
    let a = Agent::started("127.0.53.1:18801", "cj-a", &["--server"]);
    let b = Agent::started("127.0.53.2:18802", "cj-b", &["--server"]);
    let c = Agent::started("127.0.53.3:18803", "cj-c", &["--server"]);
    c.signal("STOP");
    let (a_bind, b_bind, c_bind) = (a.bind.clone(), b.bind.clone(), c.bind.clone());
    let join = std::thread::spawn(move || node_at(&a_bind, &["join", &b_bind, &c_bind]));
    wait_until(CONVERGE, "A to know B", || sees(&a, &b, "alive"));
    // A's alive broadcast about B runs out after four retransmissions, one
    // per 200 ms gossip round to B alone: wait until A has none left.
    wait_until(
        CONVERGE,
        "A's broadcasts (the one about B among them) to run out",
        || info_field(&a, "pending_broadcasts").as_deref() == Some("0"),
    );
    c.signal("CONT");
    let output = join.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout),
        "Successfully joined cluster by contacting 2 nodes.\n"
    );
    let agents = [&a, &b, &c];
    wait_until(INTRODUCED, "B and C to list all three alive", || {
        [&b, &c]
            .iter()
            .all(|observer| agents.iter().all(|m| sees(observer, m, "alive")))
    });
}

/// The member list on disk is what a restart rejoins from: once `node join`
/// has answered, the peers it joined must be on disk, even when the agent
/// wrote the list less than a second before (at its start) and is killed
/// with SIGKILL at once, before any later write could happen.
#[test]
fn an_agent_killed_right_after_its_join_answered_rejoins_by_itself_on_restart() {
    let seed = Agent::started("127.0.53.4:18804", "k-seed", &[]);
    let mut agent = Agent::started("127.0.53.5:18805", "k-agent", &[]);
    assert_join_succeeds(&agent, &seed);
    agent.signal("KILL");
    let _ = agent.wait_exit(Duration::from_secs(10));
    // Until then the seed's own alive broadcast may still be piggybacked to
    // the agent's address, which would reintroduce it without the list.
    wait_until(
        FAILURE_DETECTED,
        "the seed to mark the agent failed",
        || sees(&seed, &agent, "failed"),
    );
    // No --join: only the remembered members can bring it back.
    agent.start(&[]);
    wait_until(CONVERGE, "the restarted agent to rejoin the seed", || {
        sees(&agent, &seed, "alive")
    });
}

/// The other side of the join above: the agent that answered the joiner's
/// push/pull writes the joiner to its list before answering, so killing it
/// right after `node join` returned does not lose the joiner either.
#[test]
fn an_agent_killed_right_after_answering_a_join_rejoins_by_itself_on_restart() {
    let mut seed = Agent::started("127.0.53.6:18806", "ks-seed", &[]);
    let joiner = Agent::started("127.0.53.7:18807", "ks-joiner", &[]);
    assert_join_succeeds(&joiner, &seed);
    seed.signal("KILL");
    let _ = seed.wait_exit(Duration::from_secs(10));
    wait_until(
        FAILURE_DETECTED,
        "the joiner to mark the seed failed",
        || sees(&joiner, &seed, "failed"),
    );
    seed.start(&[]);
    wait_until(CONVERGE, "the restarted seed to rejoin the joiner", || {
        sees(&seed, &joiner, "alive") && sees(&joiner, &seed, "alive")
    });
}
