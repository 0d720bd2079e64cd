//! A real `node` process owned by a test, and the `node` CLI run against it.
//! The process is killed when its guard drops, also when the test panics,
//! so a failing test never leaves an agent holding its loopback address.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `node` binary under test.
pub const NODE_BINARY: &str = env!("CARGO_BIN_EXE_node");

/// Pause between two polls of a process that is starting or exiting.
const PROCESS_POLL: Duration = Duration::from_millis(20);
/// Pause between two polls of a condition read through the CLI.
const CONDITION_POLL: Duration = Duration::from_millis(100);

/// Gives a test's own agent type (a newtype around `NodeProcess` that adds
/// the test's helpers) every `NodeProcess` field and method.
#[macro_export]
macro_rules! wraps_node_process {
    ($wrapper:ident) => {
        impl std::ops::Deref for $wrapper {
            type Target = NodeProcess;
            fn deref(&self) -> &NodeProcess {
                &self.0
            }
        }

        impl std::ops::DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut NodeProcess {
                &mut self.0
            }
        }
    };
}

/// One agent's bind address, name and data directory; they outlive the
/// process, so it can be restarted on the same data.
pub struct NodeProcess {
    child: Option<Child>,
    pub bind: String,
    pub name: String,
    pub data_dir: PathBuf,
    /// Where stderr is appended; printed when the test panics. `None`
    /// discards stderr.
    log_path: Option<PathBuf>,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && self.log_path.is_some() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl NodeProcess {
    /// Not started yet; `log_path` (if any) receives stderr.
    pub fn new(bind: &str, name: &str, data_dir: PathBuf, log_path: Option<PathBuf>) -> Self {
        NodeProcess {
            child: None,
            bind: bind.into(),
            name: name.into(),
            data_dir,
            log_path,
        }
    }

    /// Starts `node [args...] --bind BIND --node NAME --data-dir DIR`
    /// without waiting for its port.
    pub fn spawn(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let stderr = match &self.log_path {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap(),
            ),
            None => Stdio::null(),
        };
        let child = Command::new(NODE_BINARY)
            .args(args)
            .args(["--bind", &self.bind, "--node", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn node");
        self.child = Some(child);
    }

    /// Waits until the bind address accepts TCP connections.
    pub fn wait_listening(&self, within: Duration) {
        let address: SocketAddr = self.bind.parse().unwrap();
        let deadline = Instant::now() + within;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "agent {} on {} did not start",
                self.name,
                self.bind
            );
            std::thread::sleep(PROCESS_POLL);
        }
    }

    /// `spawn` then `wait_listening`.
    pub fn start(&mut self, args: &[&str], within: Duration) {
        self.spawn(args);
        self.wait_listening(within);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the started process has exited (it is not reaped here).
    pub fn has_exited(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        child.try_wait().unwrap().is_some()
    }

    /// Kills the process if it runs and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `kill -NAME` to the running process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits until the process exits on its own; it is no longer running
    /// afterwards.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "agent {} did not exit",
                self.name
            );
            std::thread::sleep(PROCESS_POLL);
        }
    }

    /// Everything the process (and earlier runs of it) wrote to stderr.
    pub fn log(&self) -> String {
        self.log_path
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    /// The `node` CLI with `--rpc-addr` of this agent.
    pub fn node(&self, args: &[&str]) -> Output {
        node_at(&self.bind, args)
    }
}

/// `node [args...] --rpc-addr RPC`, ignoring any NODE_RPC_ADDR of the
/// environment running the tests.
pub fn node_at(rpc: &str, args: &[&str]) -> Output {
    Command::new(NODE_BINARY)
        .args(args)
        .args(["--rpc-addr", rpc])
        .env_remove("NODE_RPC_ADDR")
        .output()
        .expect("run node")
}

/// `node [args...]` with the agent address given by NODE_RPC_ADDR, as an
/// operator's environment would.
pub fn node_with_rpc_env(rpc: &str, args: &[&str]) -> Output {
    Command::new(NODE_BINARY)
        .args(args)
        .env("NODE_RPC_ADDR", rpc)
        .output()
        .expect("run node")
}

/// Runs `node --bind BIND --node NAME --data-dir DIR` in the foreground
/// until it exits: for starts that must fail.
pub fn run_agent_to_exit(bind: &str, name: &str, data_dir: impl AsRef<OsStr>) -> Output {
    Command::new(NODE_BINARY)
        .args(["--bind", bind, "--node", name, "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `check` until it holds, failing the test after `within`.
pub fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(CONDITION_POLL);
    }
}
