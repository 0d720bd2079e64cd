//! The leader's reconciliation of failed servers (`src/agent/cluster/leader_reconciliation.rs`)
//! with real `node` processes: a server gossip reports `failed` is removed
//! from the Raft configuration after the grace period (30 s), never when the
//! removal would cost the remaining voters their quorum, and not at all if
//! it comes back in time.
//!
//! Each test has its own loopback addresses (127.0.51.x / 127.0.52.x, ports
//! 18700-18799). Every process is killed when its guard drops, also when a
//! test fails; every wait polls with a bound. The grace period is checked
//! from the leader's own log timestamps (one-second resolution), never by a
//! timed assertion of the test.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::node_process::{NodeProcess, text, wraps_node_process};
use crate::support::wait::wait_until;

/// The agent's grace period (`FAILED_SERVER_GRACE`).
const GRACE: Duration = Duration::from_secs(30);
/// Starting, joining, electing, a write.
const WAIT: Duration = Duration::from_secs(20);
/// A killed server is marked failed: suspicion lasts 4 s with a peer
/// confirming it, up to 24 s when no other member can (3 members); margin
/// for a loaded machine.
const FAILURE_DETECTED: Duration = Duration::from_secs(45);
/// From `failed` to the removal: the grace, a reconciliation pass (1 s) and
/// margin.
const REMOVED_AFTER_FAILURE: Duration = Duration::from_secs(GRACE.as_secs() + 30);

/// One server; its log is shown when the test fails.
struct Server(NodeProcess);

wraps_node_process!(Server);

impl Server {
    fn new(bind: &str, name: &str) -> Server {
        Server(NodeProcess::new(bind, name))
    }

    fn start(&mut self, extra: &[&str]) {
        self.0.start(extra, WAIT);
    }

    /// `(name, status)` of every member this server's gossip knows.
    fn members(&self) -> Vec<(String, String)> {
        let output = self.node(&["members"]);
        text(&output.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                Some((cells.first()?.to_string(), cells.get(2)?.to_string()))
            })
            .collect()
    }

    fn sees(&self, member: &Server, status: &str) -> bool {
        self.members()
            .iter()
            .any(|(name, s)| *name == member.name && s == status)
    }

    /// `(name, voter)` of every server in this server's latest Raft
    /// configuration (`node peers`).
    fn peers(&self) -> Vec<(String, bool)> {
        let output = self.node(&["peers"]);
        text(&output.stdout)
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                Some((cells.first()?.to_string(), *cells.last()? == "true"))
            })
            .collect()
    }

    fn peer_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.peers().into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    }

    fn is_voter(&self, member: &Server) -> bool {
        self.peers()
            .iter()
            .any(|(name, voter)| *name == member.name && *voter)
    }

    /// This server's gossip member list on disk (`gossip/members`, which a
    /// restart rejoins from) holds `member`'s name and address.
    fn remembers(&self, member: &Server) -> bool {
        let bytes = std::fs::read(self.data_dir.join("gossip/members")).unwrap_or_default();
        let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        holds(&member.name) && holds(&member.bind)
    }

    /// The leader's log line for removing `member` (with its subsystem, so
    /// the `not removing server` warning does not match).
    fn removal_line(member: &Server) -> String {
        format!(
            "agent: removing server {} ({}) from the Raft configuration",
            member.name, member.bind
        )
    }

    /// Unix seconds of the first line of this server's log containing
    /// `needle`.
    fn logged_at(&self, needle: &str) -> Option<u64> {
        self.log()
            .lines()
            .find(|line| line.contains(needle))
            .map(|line| log_timestamp(line).unwrap_or_else(|| panic!("no timestamp: {line}")))
    }

    fn failed_at(&self, member: &Server) -> u64 {
        self.logged_at(&format!("EventMemberFailed: {} ", member.name))
            .unwrap_or_else(|| panic!("{} never logged {} failed", self.name, member.name))
    }
}

/// `2026/11/27 05:12:40 [INFO] ...` (UTC, `src/logging.rs`) as Unix seconds.
fn log_timestamp(line: &str) -> Option<u64> {
    let stamp = line.get(..19)?;
    let number = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The names of `servers`, sorted as [`Server::peer_names`] lists them.
fn names(servers: &[&Server]) -> Vec<String> {
    let mut names: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
    names.sort();
    names
}

/// Three servers formed the seed's way (`--bootstrap` on the first, `node
/// join` of the others to it), on `ips[i]:port`; returned leader first.
fn three_servers(ips: [&str; 3], port: u16) -> [Server; 3] {
    let mut servers: Vec<Server> = ["node-a", "node-b", "node-c"]
        .iter()
        .zip(ips)
        .map(|(name, ip)| Server::new(&format!("{ip}:{port}"), name))
        .collect();
    servers[0].start(&["--bootstrap"]);
    servers[0].wait_log("cluster leadership acquired", WAIT);
    servers[1].start(&["--server"]);
    servers[2].start(&["--server"]);
    // One at a time: the second joiner's push/pull then carries the first,
    // and the first hears of the second from the seed's broadcast.
    for joiner in &servers[1..] {
        let output = joiner.node(&["join", &servers[0].bind]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    }
    wait_until(WAIT, "three voters", || {
        servers[0]
            .peers()
            .iter()
            .filter(|(_, voter)| *voter)
            .count()
            == 3
    });
    for observer in &servers {
        wait_until(WAIT, "every server alive everywhere", || {
            servers.iter().all(|s| observer.sees(s, "alive"))
        });
    }
    // The member list a restart rejoins from is written at most once a
    // second: a kill -9 sooner would restart a server that knows no one.
    for server in &servers {
        wait_until(WAIT, "every server to remember the others", || {
            servers
                .iter()
                .filter(|other| other.name != server.name)
                .all(|other| server.remembers(other))
        });
    }
    servers[0].put("formed", "yes", WAIT);
    let leader = servers
        .iter()
        .position(|s| s.is_leader())
        .expect("a leader after a write");
    servers.swap(0, leader);
    let c = servers.pop().unwrap();
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    [a, b, c]
}

/// With three voters, one failed follower can go: the two left are both
/// live, a quorum of the two-voter configuration.
#[test]
fn a_failed_follower_is_removed_after_the_grace_period_and_writes_continue() {
    let [leader, follower, mut victim] =
        three_servers(["127.0.51.1", "127.0.51.2", "127.0.51.3"], 18701);
    victim.kill();
    wait_until(
        FAILURE_DETECTED,
        "the leader to mark the victim failed",
        || leader.sees(&victim, "failed"),
    );
    // Failed, but within the grace period: still in the configuration.
    assert!(leader.is_voter(&victim), "{:?}", leader.peers());

    wait_until(
        REMOVED_AFTER_FAILURE,
        "the leader to remove the failed server",
        || !leader.peer_names().contains(&victim.name),
    );
    assert_eq!(leader.peer_names(), names(&[&leader, &follower]));
    let failed_at = leader.failed_at(&victim);
    let removed_at = leader
        .logged_at(&Server::removal_line(&victim))
        .expect("the leader logged the removal");
    // Log times are truncated to the second: 30 s apart can read as 29.
    assert!(
        removed_at >= failed_at + GRACE.as_secs() - 1,
        "removed {} s after failing; grace {GRACE:?}",
        removed_at.saturating_sub(failed_at)
    );
    wait_until(WAIT, "the follower to apply the removal", || {
        !follower.peer_names().contains(&victim.name)
    });
    // Still failed (not forgotten) in gossip: only Raft dropped it.
    assert!(leader.sees(&victim, "failed"));

    leader.put("after-removal", "1", WAIT);
    follower.put("after-removal-2", "2", WAIT);
    follower.wait_value("after-removal", "1", WAIT);
    leader.wait_value("after-removal-2", "2", WAIT);
}

/// Two of three voters killed. The leader has no quorum, CheckQuorum makes
/// it step down within an election timeout, long before gossip marks
/// anyone failed, so no leader reconciles and the configuration keeps all
/// three. That alone does not exercise the quorum rule of the removal, so
/// one of the two is then restarted without its gossip member list: its
/// Raft is back (a leader with a quorum again), but gossip still reports
/// it failed (past the grace period), as when UDP to a server is blocked
/// but TCP is not. Removing either failed server would now leave one live
/// voter of two; the leader must refuse. (Without the rule it would drop a
/// working voter or the dead one's partner in a two-voter configuration
/// that cannot commit.) Then the cluster recovers.
#[test]
fn a_failed_server_is_not_removed_when_the_remaining_voters_would_lose_quorum() {
    let [leader, mut first, mut second] =
        three_servers(["127.0.51.11", "127.0.51.12", "127.0.51.13"], 18702);
    first.kill();
    second.kill();
    wait_until(
        FAILURE_DETECTED,
        "the old leader to mark both failed",
        || leader.sees(&first, "failed") && leader.sees(&second, "failed"),
    );
    assert!(!leader.is_leader(), "a leader without a quorum");

    // Both are past the grace period on the old leader's gossip clock, and
    // past gossip's 30 s of still talking to the dead (which would tell the
    // restarted server it was declared dead, and let it refute).
    let last_failed = leader.failed_at(&first).max(leader.failed_at(&second));
    let past_grace = last_failed + GRACE.as_secs() + 2;
    wait_until(
        GRACE + Duration::from_secs(5),
        "the grace period to pass",
        || unix_now() >= past_grace,
    );
    assert_eq!(leader.peer_names(), names(&[&leader, &first, &second]));

    // `first` comes back to Raft but not to gossip.
    std::fs::remove_dir_all(first.data_dir.join("gossip")).unwrap();
    first.start(&["--server"]);
    leader.put("quorum/raft-back", "1", WAIT);
    let refusing = [&leader, &first]
        .into_iter()
        .find(|s| s.is_leader())
        .expect("a leader after a write");
    // If `first` leads, its gossip knows no one: the others are unknown
    // to it, due for removal only a grace period after its start.
    refusing.wait_log(
        "the remaining voters would lose their quorum (1 of 2 live)",
        REMOVED_AFTER_FAILURE,
    );
    assert!(
        leader.sees(&first, "failed") && leader.sees(&second, "failed"),
        "{:?}",
        leader.members()
    );
    for server in [&leader, &first] {
        assert_eq!(
            server.peer_names(),
            names(&[&leader, &first, &second]),
            "{} removed a server",
            server.name
        );
        for gone in [&first, &second] {
            assert!(
                !server.log().contains(&Server::removal_line(gone)),
                "{} removed {}",
                server.name,
                gone.name
            );
        }
    }
    first.put("quorum/still-writable", "2", WAIT);

    // Recovery: `first` rejoins gossip, `second` restarts as it was.
    let output = first.node(&["join", &leader.bind]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    second.start(&["--server"]);
    for observer in [&leader, &first, &second] {
        wait_until(
            REMOVED_AFTER_FAILURE,
            "every server alive everywhere",
            || {
                [&leader, &first, &second]
                    .iter()
                    .all(|s| observer.sees(s, "alive"))
            },
        );
    }
    // `second`, failed past the grace, may have been removed (correctly)
    // while `first` was live again; a live server is added back.
    wait_until(REMOVED_AFTER_FAILURE, "three voters again", || {
        [&leader, &first, &second]
            .iter()
            .all(|s| leader.is_voter(s))
    });
    second.put("quorum/recovered", "3", WAIT);
    for server in [&leader, &first, &second] {
        server.wait_value("quorum/recovered", "3", WAIT);
        server.wait_value("quorum/still-writable", "2", WAIT);
    }
}

/// A server killed and restarted within the grace period stays a voter,
/// while one that fails later and stays down is removed: when that removal
/// happens, the first one's grace has long passed.
#[test]
fn a_failed_server_back_before_the_grace_period_ends_is_not_removed() {
    let [leader, mut returning, mut staying_down] =
        three_servers(["127.0.52.1", "127.0.52.2", "127.0.52.3"], 18703);
    returning.kill();
    wait_until(FAILURE_DETECTED, "the leader to mark it failed", || {
        leader.sees(&returning, "failed")
    });
    let returning_failed_at = leader.failed_at(&returning);
    assert!(leader.is_voter(&returning));
    // Restarted without --join: it rejoins the members it remembers.
    returning.start(&["--server"]);
    wait_until(WAIT, "the leader to see it alive again", || {
        leader.sees(&returning, "alive")
    });
    returning.put("back/restarted", "1", WAIT);
    returning.wait_value("back/restarted", "1", WAIT);

    staying_down.kill();
    wait_until(
        FAILURE_DETECTED,
        "the leader to mark the other failed",
        || leader.sees(&staying_down, "failed"),
    );
    wait_until(
        REMOVED_AFTER_FAILURE,
        "the server that stayed down to be removed",
        || !leader.peer_names().contains(&staying_down.name),
    );
    let removed_at = leader
        .logged_at(&Server::removal_line(&staying_down))
        .expect("the leader logged the removal");
    assert!(removed_at >= returning_failed_at + GRACE.as_secs());
    assert!(leader.is_voter(&returning), "{:?}", leader.peers());
    assert!(
        !leader.log().contains(&Server::removal_line(&returning)),
        "{}",
        leader.log()
    );
    returning.put("back/two-voters", "2", WAIT);
    leader.wait_value("back/two-voters", "2", WAIT);
}

/// A server still down when the others restart is unknown to their gossip
/// (nobody can tell them about it), not failed. It is still given the
/// grace period, counted from the agent's start, before the leader removes
/// it; when it comes back it is a voter again.
#[test]
fn a_server_down_across_a_full_restart_is_removed_only_after_the_grace_period() {
    let [mut a, mut b, mut down] =
        three_servers(["127.0.52.11", "127.0.52.12", "127.0.52.13"], 18704);
    a.put("restart/before", "1", WAIT);
    for server in [&mut a, &mut b, &mut down] {
        server.kill();
    }
    let restarted_at = unix_now();
    a.start(&["--server"]);
    b.start(&["--server"]);
    a.put("restart/after", "2", WAIT);
    assert!(a.is_voter(&down), "{:?}", a.peers());
    let leader = [&a, &b]
        .into_iter()
        .find(|s| s.is_leader())
        .expect("a leader after a write");
    assert!(
        !leader.members().iter().any(|(name, _)| *name == down.name),
        "gossip knows the server that stayed down: {:?}",
        leader.members()
    );
    wait_until(
        REMOVED_AFTER_FAILURE,
        "the server that stayed down to be removed",
        || !leader.peer_names().contains(&down.name),
    );
    let removed_at = leader
        .logged_at(&Server::removal_line(&down))
        .expect("the leader logged the removal");
    assert!(
        removed_at >= restarted_at + GRACE.as_secs(),
        "removed {} s after the restart; grace {GRACE:?}",
        removed_at.saturating_sub(restarted_at)
    );

    // Back: it rejoins the members it remembers and is added again.
    down.start(&["--server"]);
    wait_until(REMOVED_AFTER_FAILURE, "three voters again", || {
        [&a, &b, &down].iter().all(|s| leader.is_voter(s))
    });
    down.wait_value("restart/after", "2", WAIT);
}
