//! `node kv get --detailed` on a real server: the ModifyIndex it prints is
//! the one `kv put --cas` takes, and the flags an HTTP client stored show.
//! Address 127.0.97.1; ports 18300 (peer) and 18500 (HTTP).

use crate::support::http_agents::single_server;
use crate::support::node_process::text;

fn field(block: &str, label: &str) -> String {
    block
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .map(|rest| rest.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label} in {block:?}"))
}

#[test]
fn the_detailed_entry_gives_the_index_a_cas_write_needs() {
    let server = single_server("127.0.97.1");
    let put = server.http().put("/v1/kv/app/config?flags=42", b"v1");
    assert_eq!(put.status, 200, "{}", put.text());

    let detailed = server.node(&["kv", "get", "--detailed", "app/config"]);
    assert_eq!(
        detailed.status.code(),
        Some(0),
        "{}",
        text(&detailed.stderr)
    );
    let block = text(&detailed.stdout);
    assert_eq!(field(&block, "Key"), "app/config");
    assert_eq!(field(&block, "Flags"), "42");
    assert_eq!(field(&block, "Session"), "-");
    assert_eq!(field(&block, "Value"), "v1");
    let index = field(&block, "ModifyIndex");
    assert!(block.starts_with("CreateIndex      "), "{block}");

    let stale = server.node(&["kv", "put", "--cas", "1", "app/config", "no"]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale.stdout));
    let cas = server.node(&["kv", "put", "--cas", &index, "app/config", "v2"]);
    assert_eq!(cas.status.code(), Some(0), "{}", text(&cas.stderr));
    let again = server.node(&["kv", "get", "--detailed", "app/config"]);
    let block = text(&again.stdout);
    assert_eq!(field(&block, "Value"), "v2");
    assert_ne!(field(&block, "ModifyIndex"), index);

    server.put_until_taken("app/other", "x");
    let tree = server.node(&["kv", "get", "--detailed", "--recurse", "app/"]);
    let blocks = text(&tree.stdout);
    assert_eq!(blocks.matches("CreateIndex").count(), 2, "{blocks}");
    assert!(blocks.contains("\n\nCreateIndex"), "blocks apart: {blocks}");

    let missing = server.node(&["kv", "get", "--detailed", "app/nothing"]);
    assert_eq!(missing.status.code(), Some(1));
    let plain = server.node(&["kv", "get", "app/nothing"]);
    assert_eq!(text(&missing.stderr), text(&plain.stderr));
}
