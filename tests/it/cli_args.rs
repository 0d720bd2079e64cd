//! The `node` command line as an operator meets it: complete help, one-line
//! errors with exit code 1 for every mistake, and no backtrace when the
//! agent is unreachable. Runs the real binary.

use std::process::Output;

use crate::support::node_process::{node, node_with_rpc_env};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One line on stderr starting with `Error: `, exit code 1, no backtrace.
fn assert_one_line_error(output: &Output, contains: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {text}");
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    assert!(text.starts_with("Error: "), "{text:?}");
    assert!(text.contains(contains), "{text:?} lacks {contains:?}");
    assert!(!text.contains("panicked"), "{text:?}");
}

/// Every flag is listed in the help and has a description on its line.
fn assert_help_describes(path: &[&str], flags: &[&str]) {
    let mut args = path.to_vec();
    args.push("--help");
    let output = node(&args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let help = stdout(&output);
    for flag in flags {
        // Long help puts the description on the next line, short help on the same.
        let lines: Vec<&str> = help.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some(flag))
            .unwrap_or_else(|| panic!("{path:?} help lacks {flag}:\n{help}"));
        let same_line = lines[at].trim_start()[flag.len()..]
            .trim_start()
            .trim_start_matches(|c: char| c != ' ')
            .split("  ")
            .any(|part| part.trim().len() > 8);
        let next_line = lines.get(at + 1).is_some_and(|l| l.trim().len() > 8);
        assert!(
            same_line || next_line,
            "{path:?}: {flag} has no description:\n{help}"
        );
    }
}

#[test]
fn help_describes_every_flag_of_every_subcommand() {
    let agent_flags = [
        "--server",
        "--bootstrap",
        "--bootstrap-expect",
        "--data-dir",
        "--bind",
        "--advertise",
        "--node",
        "--datacenter",
        "--join",
        "--log-level",
    ];
    assert_help_describes(&[], &agent_flags);
    assert_help_describes(&["agent"], &agent_flags);
    for path in [
        &["join"][..],
        &["leave"],
        &["members"],
        &["peers"],
        &["info"],
        &["catalog", "nodes"],
    ] {
        assert_help_describes(path, &["--rpc-addr", "--log-level"]);
    }
    assert_help_describes(&["kv", "put"], &["--cas", "--rpc-addr"]);
    assert_help_describes(
        &["kv", "get"],
        &["--stale", "--consistent", "--recurse", "--rpc-addr"],
    );
    assert_help_describes(&["kv", "delete"], &["--recurse", "--rpc-addr"]);
    assert_help_describes(
        &["bench"],
        &[
            "--clients",
            "--requests",
            "--value-size",
            "--window",
            "--stale",
            "--consistent",
            "--rpc-addr",
        ],
    );
    let top = stdout(&node(&["--help"]));
    for sub in [
        "agent", "join", "leave", "members", "peers", "info", "kv", "catalog", "bench",
    ] {
        assert!(
            top.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing:\n{top}"
        );
    }
}

#[test]
fn bootstrap_and_bootstrap_expect_exclude_each_other() {
    let output = node(&["--bootstrap", "--bootstrap-expect", "3"]);
    assert_one_line_error(&output, "--bootstrap");
    let output = node(&["agent", "--bootstrap-expect", "0"]);
    assert_one_line_error(&output, "--bootstrap-expect");
}

#[test]
fn addresses_are_validated_with_a_clear_error() {
    assert_one_line_error(&node(&["join", "1.2.3"]), "expected IP or IP:PORT");
    assert_one_line_error(
        &node(&["--bind", "localhost:8300"]),
        "expected IP or IP:PORT",
    );
    assert_one_line_error(
        &node(&["agent", "--advertise", "127.0.0.1:70000"]),
        "expected IP or IP:PORT",
    );
    assert_one_line_error(
        &node(&["members", "--rpc-addr", "nowhere"]),
        "expected IP or IP:PORT",
    );
    let output = node_with_rpc_env("not-an-ip", &["members"]);
    assert_one_line_error(&output, "NODE_RPC_ADDR");
}

#[test]
fn usage_mistakes_exit_1_with_one_line() {
    assert_one_line_error(&node(&["--no-such-flag"]), "--no-such-flag");
    assert_one_line_error(&node(&["kv", "put", "only-key"]), "VALUE");
    assert_one_line_error(&node(&["join"]), "ADDR");
    assert_one_line_error(&node(&["kv", "put", "k", "v", "--cas", "x"]), "--cas");
    assert_one_line_error(
        &node(&["kv", "get", "k", "--stale", "--consistent"]),
        "--consistent",
    );
    assert_one_line_error(&node(&["bench", "scan"]), "scan");
    assert_one_line_error(&node(&["info", "--log-level", "loud"]), "loud");
}

#[test]
fn missing_subcommand_of_a_group_prints_help_and_exits_1() {
    let output = node(&["kv"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("Usage"));
}

#[test]
fn version_prints_and_exits_0() {
    let output = node(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unreachable_agent_is_one_line_and_exit_1() {
    // Nothing listens on 127.0.5.250:18399.
    let rpc = ["--rpc-addr", "127.0.5.250:18399"];
    let commands: Vec<Vec<&str>> = vec![
        vec!["join", "127.0.0.1"],
        vec!["leave"],
        vec!["members"],
        vec!["peers"],
        vec!["info"],
        vec!["kv", "put", "k", "v"],
        vec!["kv", "get", "k"],
        vec!["kv", "delete", "k"],
        vec!["catalog", "nodes"],
        vec!["bench", "put", "--requests", "10"],
    ];
    for mut command in commands {
        command.extend_from_slice(&rpc);
        let output = node(&command);
        assert_one_line_error(&output, "127.0.5.250:18399");
    }
    // The same address from the environment.
    let output = node_with_rpc_env("127.0.5.250:18399", &["members"]);
    assert_one_line_error(&output, "127.0.5.250:18399");
}

#[test]
fn bench_arguments_are_checked_before_connecting() {
    assert_one_line_error(
        &node(&[
            "bench",
            "put",
            "--clients",
            "0",
            "--rpc-addr",
            "127.0.5.250:18399",
        ]),
        "--clients",
    );
    assert_one_line_error(
        &node(&[
            "bench",
            "get",
            "--value-size",
            "9999999",
            "--rpc-addr",
            "127.0.5.250:18399",
        ]),
        "--value-size",
    );
}

#[test]
fn agent_settings_are_validated_before_binding() {
    assert_one_line_error(
        &node(&["--bind", "0.0.0.0:18398", "--node", "n1"]),
        "--advertise",
    );
    assert_one_line_error(
        &node(&["agent", "--bind", "127.0.5.251:18398", "--node", "a b"]),
        "whitespace",
    );
    assert_one_line_error(
        &node(&["agent", "--bind", "127.0.5.251:18398", "--datacenter", ""]),
        "datacenter",
    );
}

#[test]
fn global_options_are_accepted_before_or_after_the_subcommand() {
    // Nothing listens on 127.0.5.250:18399: reaching the connect error
    // proves the line was accepted and --rpc-addr was used.
    let unreachable = "127.0.5.250:18399";
    let accepted: Vec<Vec<&str>> = vec![
        vec!["--log-level", "debug", "info", "--rpc-addr", unreachable],
        vec![
            "--log-level",
            "warn",
            "kv",
            "get",
            "k",
            "--rpc-addr",
            unreachable,
        ],
        vec!["--rpc-addr", unreachable, "members"],
        vec![
            "--rpc-addr",
            unreachable,
            "--log-level",
            "err",
            "catalog",
            "nodes",
        ],
        vec!["kv", "--rpc-addr", unreachable, "put", "k", "v"],
        vec![
            "join",
            "127.0.0.1",
            "--rpc-addr",
            unreachable,
            "--log-level",
            "info",
        ],
        vec![
            "--rpc-addr",
            unreachable,
            "bench",
            "put",
            "--requests",
            "10",
        ],
    ];
    for args in accepted {
        let output = node(&args);
        assert_one_line_error(&output, unreachable);
        assert!(stderr(&output).contains("cannot connect"), "{args:?}");
    }
    // The level given before the subcommand is the one parsed.
    assert_one_line_error(&node(&["--log-level", "loud", "info"]), "loud");
    // A later --rpc-addr is the one used.
    let output = node(&[
        "--rpc-addr",
        "127.0.5.249:18399",
        "members",
        "--rpc-addr",
        unreachable,
    ]);
    assert_one_line_error(&output, unreachable);
}

#[test]
fn agent_flags_before_a_subcommand_are_refused() {
    assert_one_line_error(&node(&["--server", "info"]), "--server");
    assert_one_line_error(&node(&["--bind", "127.0.0.2", "kv", "get", "k"]), "--bind");
    assert_one_line_error(
        &node(&["--log-level", "debug", "--bootstrap", "agent"]),
        "--bootstrap",
    );
}

#[test]
fn without_a_subcommand_the_global_options_go_with_the_agent_flags() {
    // These reach the agent's own validation, so they ran as `node agent`.
    assert_one_line_error(
        &node(&[
            "--log-level",
            "debug",
            "--server",
            "--bind",
            "127.0.5.251:18398",
            "--node",
            "a b",
        ]),
        "whitespace",
    );
    assert_one_line_error(
        &node(&[
            "--bootstrap",
            "--bind",
            "127.0.5.251:18398",
            "--datacenter",
            "",
            "--log-level",
            "warn",
        ]),
        "datacenter",
    );
    assert_one_line_error(
        &node(&[
            "--log-level",
            "debug",
            "--bootstrap",
            "--bootstrap-expect",
            "3",
        ]),
        "--bootstrap",
    );
}

#[test]
fn rpc_addr_is_refused_when_running_the_agent() {
    assert_one_line_error(
        &node(&["--rpc-addr", "127.0.5.250:18399"]),
        "--rpc-addr' is for the client subcommands",
    );
    assert_one_line_error(
        &node(&["agent", "--server", "--rpc-addr", "127.0.5.250:18399"]),
        "--rpc-addr' is for the client subcommands",
    );
}
