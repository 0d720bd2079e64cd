//! How the agent serves its HTTP API: `--http-addr` (an explicit address
//! must bind, the default may be taken and is then skipped with a
//! warning, "" serves none) and `--dev`. Addresses 127.0.85.x; the default
//! address 127.0.0.1:8500 only in the test that needs it taken.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Stdio};

use crate::support::http_agents::{HttpAgent, WAIT};
use crate::support::http_client::Http;
use crate::support::node_process::{NodeProcess, node_command, text};
use crate::support::scratch::ScratchDir;
use crate::support::wait::wait_until;

#[test]
fn an_explicit_http_address_that_cannot_be_bound_fails_the_start() {
    let _taken = TcpListener::bind("127.0.85.1:18500").unwrap();
    let scratch = ScratchDir::new("http-taken");
    let output = node_command()
        .args([
            "--bind",
            "127.0.85.1:18300",
            "--http-addr",
            "127.0.85.1:18500",
        ])
        .args(["--node", "taken", "--data-dir"])
        .arg(scratch.join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Error: cannot bind the HTTP API to 127.0.85.1:18500"),
        "{stderr}"
    );
}

#[test]
fn a_taken_default_http_address_is_skipped_with_a_warning() {
    // Held by this test, or already by another agent on the machine.
    let _held = TcpListener::bind("127.0.0.1:8500");
    let mut agent = NodeProcess::new("127.0.85.2:18300", "no-http");
    agent.start(&["--bootstrap"], WAIT);
    agent.wait_log(
        "[WARN] agent: cannot bind the HTTP API to 127.0.0.1:8500",
        WAIT,
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    agent.put("k", "v", WAIT);
    assert!(!agent.log().contains("Started HTTP server"));
}

#[test]
fn an_empty_http_address_serves_no_http() {
    let mut agent = NodeProcess::new("127.0.85.3:18300", "off");
    agent.start(&["--bootstrap", "--http-addr", ""], WAIT);
    agent.wait_log("cluster leadership acquired", WAIT);
    agent.put("k", "v", WAIT);
    let log = agent.log();
    assert!(!log.contains("HTTP"), "{log}");
}

#[test]
fn http_addr_without_a_port_takes_8500_and_a_bad_one_is_refused() {
    let output = node_command()
        .args(["--http-addr", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).starts_with("Error: "),
        "{}",
        text(&output.stderr)
    );
    let agent = HttpAgent::start(
        "127.0.85.5:18300",
        "127.0.85.5:8500",
        "port",
        &["--bootstrap"],
    );
    assert!(
        agent
            .log()
            .contains("Started HTTP server on 127.0.85.5:8500 (tcp)")
    );
}

/// A `node --dev` process, killed on drop.
struct Dev {
    child: Child,
    log: PathBuf,
    _scratch: ScratchDir,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    fn start(ip: &str) -> Dev {
        let scratch = ScratchDir::new("dev");
        let log = scratch.join("stderr.log");
        let stderr = std::fs::File::create(&log).unwrap();
        let child = node_command()
            .args(["--dev", "--node", "dev", "--bind", &format!("{ip}:18300")])
            .args(["--http-addr", &format!("{ip}:18500")])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Dev {
            child,
            log,
            _scratch: scratch,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The data directory it logged.
    fn data_dir(&self) -> PathBuf {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.contains("dev mode: data in "))
            .unwrap_or_else(|| panic!("no data directory in {log}"));
        let rest = line.split("dev mode: data in ").nth(1).unwrap();
        PathBuf::from(rest.trim_end_matches(" (removed at exit)"))
    }
}

#[test]
fn dev_mode_is_a_bootstrapped_server_whose_data_goes_away_at_exit() {
    for signal in ["TERM", "INT"] {
        let mut dev = Dev::start("127.0.85.4");
        let http = Http::new("127.0.85.4:18500");
        wait_until(WAIT, "the dev agent takes a write", || {
            http.try_get("/v1/status/leader").is_ok()
                && http.put("/v1/kv/hello", b"world").text() == "true"
        });
        assert_eq!(http.get("/v1/kv/hello?raw").text(), "world");
        let data = dev.data_dir();
        assert!(data.join("raft").is_dir(), "{}", data.display());
        let pid = dev.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
        wait_until(WAIT, "the dev agent exits", || {
            dev.child.try_wait().unwrap().is_some()
        });
        assert!(
            !data.exists(),
            "{} is left after SIG{signal}",
            data.display()
        );
        assert!(dev.log().contains("dev mode: removed the data directory"));
    }
}

#[test]
fn dev_mode_refuses_a_data_directory() {
    let output = node_command()
        .args(["--dev", "--data-dir", "/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("--data-dir"),
        "{}",
        text(&output.stderr)
    );
}
