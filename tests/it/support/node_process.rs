//! A real `node` process owned by a test, and the `node` CLI run against it.
//! Each process has its own scratch directory holding its data directory
//! and its stderr. The process is killed when its guard drops, also when the
//! test panics, so a failing test never leaves an agent holding its
//! loopback address; the scratch directory is then kept.

use std::ffi::OsStr;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::scratch::ScratchDir;
use super::wait::{self, wait_until, wait_until_ok};

/// The `node` binary under test.
pub const NODE_BINARY: &str = env!("CARGO_BIN_EXE_node");

/// Gives a test's own agent type (a newtype around `NodeProcess` that adds
/// the test's helpers) every `NodeProcess` field and method.
macro_rules! wraps_node_process {
    ($wrapper:ident) => {
        impl std::ops::Deref for $wrapper {
            type Target = $crate::support::node_process::NodeProcess;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl std::ops::DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
}
pub(crate) use wraps_node_process;

/// `node` with nothing of the environment running the tests that would
/// change what it does: no NODE_RPC_ADDR, no RUST_LOG.
pub fn node_command() -> Command {
    let mut command = Command::new(NODE_BINARY);
    command.env_remove("NODE_RPC_ADDR").env_remove("RUST_LOG");
    command
}

/// Runs `node [args...]` to its end.
pub fn node(args: &[&str]) -> Output {
    node_command().args(args).output().expect("run node")
}

/// `node [args...] --rpc-addr RPC`.
pub fn node_at(rpc: &str, args: &[&str]) -> Output {
    node(&[args, &["--rpc-addr", rpc]].concat())
}

/// `node [args...]` with the agent address given by NODE_RPC_ADDR, as an
/// operator's environment would.
pub fn node_with_rpc_env(rpc: &str, args: &[&str]) -> Output {
    node_command()
        .args(args)
        .env("NODE_RPC_ADDR", rpc)
        .output()
        .expect("run node")
}

/// Runs `node --bind BIND --node NAME --http-addr "" --dns-addr ""
/// --data-dir DIR` in the foreground until it exits: for starts that must
/// fail. Without HTTP and DNS, so another test's agent on their default
/// addresses adds no warning to the stderr these tests read line by line.
pub fn run_agent_to_exit(bind: &str, name: &str, data_dir: impl AsRef<OsStr>) -> Output {
    node_command()
        .args([
            "--bind",
            bind,
            "--node",
            name,
            "--http-addr",
            "",
            "--dns-addr",
            "",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .expect("run node")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One agent's bind address, name and data directory; they outlive the
/// process, so it can be restarted on the same data. Every run appends its
/// stderr to the same log.
pub struct NodeProcess {
    child: Option<Child>,
    pub bind: String,
    pub name: String,
    /// `data/` of the scratch directory; created by the agent.
    pub data_dir: PathBuf,
    log_path: PathBuf,
    /// Dropped after the process is killed (see `Drop`).
    _scratch: ScratchDir,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
        wait::forget_log(&self.log_path);
        if std::thread::panicking() && !wait::log_tails_shown() {
            eprint!("{}", wait::log_tail(&self.name, &self.log_path));
        }
    }
}

impl NodeProcess {
    /// Not started yet.
    pub fn new(bind: &str, name: &str) -> Self {
        let scratch = ScratchDir::new(&format!("{name}-{bind}"));
        let log_path = scratch.join("stderr.log");
        wait::register_log(name, &log_path);
        NodeProcess {
            child: None,
            bind: bind.into(),
            name: name.into(),
            data_dir: scratch.join("data"),
            log_path,
            _scratch: scratch,
        }
    }

    /// Starts `node [args...] --bind BIND --node NAME --data-dir DIR`
    /// without waiting for its port.
    pub fn spawn(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let child = node_command()
            .args(args)
            .args(["--bind", &self.bind, "--node", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn node");
        self.child = Some(child);
    }

    /// Waits until the bind address accepts TCP connections; fails at once
    /// if the process exits instead.
    pub fn wait_listening(&mut self, within: Duration) {
        let address: SocketAddr = self.bind.parse().unwrap();
        let what = format!("{} listens on {}", self.name, self.bind);
        let child = self.child.as_mut().expect("started");
        wait_until(within, &what, || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{what}: it exited first, {status}");
            }
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        });
    }

    /// `spawn` then `wait_listening`.
    pub fn start(&mut self, args: &[&str], within: Duration) {
        self.spawn(args);
        self.wait_listening(within);
    }

    /// The running process's ID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        let child = self.child.as_mut().expect("running");
        let mut exited = None;
        wait_until(within, &format!("{} exits", self.name), || {
            exited = child.try_wait().unwrap();
            exited.is_some()
        });
        self.child = None;
        exited.unwrap()
    }

    /// Everything the process (and earlier runs of it) wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits until the log holds `line`.
    pub fn wait_log(&self, line: &str, within: Duration) {
        wait_until(within, &format!("{} logs {line:?}", self.name), || {
            self.log().contains(line)
        });
    }

    /// The `node` CLI with `--rpc-addr` of this agent.
    pub fn node(&self, args: &[&str]) -> Output {
        node_at(&self.bind, args)
    }

    /// Writes until one write succeeds (a leader may be being elected).
    pub fn put(&self, key: &str, value: &str, within: Duration) {
        let what = format!("put {key} through {} succeeds", self.name);
        wait_until_ok(within, &what, || {
            let output = self.node(&["kv", "put", key, value]);
            match output.status.code() {
                Some(0) => Ok(()),
                _ => Err(text(&output.stderr)),
            }
        });
    }

    /// The value of `key` in this agent's replica (`kv get --stale`).
    pub fn stale_get(&self, key: &str) -> Option<String> {
        let output = self.node(&["kv", "get", key, "--stale"]);
        (output.status.code() == Some(0)).then(|| text(&output.stdout).trim_end().to_string())
    }

    /// Waits until this agent's replica holds `key` = `value`.
    pub fn wait_value(&self, key: &str, value: &str, within: Duration) {
        wait_until(within, &format!("{} has {key}={value}", self.name), || {
            self.stale_get(key).as_deref() == Some(value)
        });
    }

    /// `node info` says this agent is the Raft leader.
    pub fn is_leader(&self) -> bool {
        text(&self.node(&["info"]).stdout).contains("\tstate = leader")
    }
}
