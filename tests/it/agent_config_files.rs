//! `--config-file` and `--config-dir` on a real server: a file's options
//! and its service with a TTL check, in the catalog; SIGHUP and
//! `PUT /v1/agent/reload` re-reading the services; a bad file refused at
//! start (one line naming the file and the field) and on reload (nothing
//! changes); the DNS keys; the log level on reload. Addresses
//! 127.0.137.1-5; ports 18300, 18500 and
//! 18600 (DNS).

use serde_json::Value;

use crate::support::dns::dig;
use crate::support::http_agents::{HttpAgent, WAIT};
use crate::support::node_process::{node_command, text};
use crate::support::scratch::ScratchDir;
use crate::support::wait::wait_until_ok;

fn service_names(agent: &HttpAgent) -> Vec<String> {
    let services = agent.http().get("/v1/catalog/services").json();
    let mut names: Vec<String> = services
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn wait_for_services(agent: &HttpAgent, wanted: &[&str]) {
    wait_until_ok(
        WAIT,
        &format!("the catalog's services are {wanted:?}"),
        || {
            let names = service_names(agent);
            match names == wanted {
                true => Ok(()),
                false => Err(format!("{names:?}")),
            }
        },
    );
}

#[test]
fn services_come_from_the_files_and_a_reload_replaces_them() {
    let scratch = ScratchDir::new("config-files");
    let dir = scratch.join("conf.d");
    std::fs::create_dir_all(&dir).unwrap();
    let main = scratch.join("agent.json");
    std::fs::write(
        &main,
        r#"{"datacenter": "east", "bootstrap": true,
        "service": {"name": "web", "port": 80, "check": {"ttl": "30s"}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("10-db.json"),
        r#"{"services": [{"name": "db", "port": 5432}]}"#,
    )
    .unwrap();
    let (main_arg, dir_arg) = (
        main.to_string_lossy().into_owned(),
        dir.to_string_lossy().into_owned(),
    );
    let agent = HttpAgent::start(
        "127.0.137.1:18300",
        "127.0.137.1:18500",
        "files",
        &["--config-file", &main_arg, "--config-dir", &dir_arg],
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    wait_for_services(&agent, &["consul", "db", "web"]);
    let nodes = agent.http().get("/v1/catalog/nodes").json();
    assert_eq!(
        nodes[0]["Datacenter"], "east",
        "the file's datacenter: {nodes}"
    );
    let checks = agent.http().get("/v1/agent/checks").json();
    assert_eq!(checks["service:web"]["Type"], "ttl", "{checks}");

    std::fs::write(
        dir.join("10-db.json"),
        r#"{"services": [{"name": "cache", "port": 6379}]}"#,
    )
    .unwrap();
    agent.signal("HUP");
    wait_for_services(&agent, &["cache", "consul", "web"]);

    std::fs::write(dir.join("10-db.json"), r#"{"services": [{"name": 7}]}"#).unwrap();
    let refused = agent.http().put("/v1/agent/reload", b"");
    assert_eq!(refused.status, 500, "{}", refused.text());
    assert!(refused.text().contains("10-db.json"), "{}", refused.text());
    let services: Value = agent.http().get("/v1/agent/services").json();
    assert!(
        services.get("cache").is_some(),
        "a bad file changes nothing: {services}"
    );

    std::fs::remove_file(dir.join("10-db.json")).unwrap();
    assert_eq!(agent.http().put("/v1/agent/reload", b"").status, 200);
    wait_for_services(&agent, &["consul", "web"]);
}

#[test]
fn a_bad_file_stops_the_start_with_one_line_naming_it() {
    let scratch = ScratchDir::new("config-bad");
    let file = scratch.join("bad.json");
    std::fs::write(&file, r#"{"bootstrap_expect": "three"}"#).unwrap();
    let output = node_command()
        .args([
            "--config-file",
            &file.to_string_lossy(),
            "--bind",
            "127.0.137.2:18300",
        ])
        .args([
            "--data-dir",
            &scratch.join("data").to_string_lossy(),
            "--http-addr",
            "",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("Error: config file ")
            && stderr.contains("bad.json: field bootstrap_expect"),
        "{stderr}"
    );
}

/// The DNS keys of a file: the port and address, the domain and the TTLs
/// by service name, answered to `dig`. Address 127.0.137.3.
#[test]
fn a_files_dns_keys_set_the_port_domain_and_ttls() {
    let scratch = ScratchDir::new("config-dns");
    let file = scratch.join("dns.json");
    std::fs::write(
        &file,
        r#"{"bootstrap": true, "addresses": {"dns": "127.0.137.3"}, "ports": {"dns": 18600},
        "domain": "internal", "dns_config": {"node_ttl": "30s",
        "service_ttl": {"*": "5s", "web": "1m"}},
        "services": [{"name": "web", "port": 80}, {"name": "db", "port": 5432}]}"#,
    )
    .unwrap();
    let file_arg = file.to_string_lossy().into_owned();
    let agent = HttpAgent::start(
        "127.0.137.3:18300",
        "127.0.137.3:18500",
        "dnsfile",
        &["--config-file", &file_arg],
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    wait_for_services(&agent, &["consul", "db", "web"]);
    let ttl_of = |name: &str| {
        let what = format!("dig answers {name} with a TTL");
        let mut ttl = String::new();
        wait_until_ok(WAIT, &what, || {
            let answer = dig("127.0.137.3", &[name, "+noall", "+answer"]);
            let line = answer.lines().find(|l| l.starts_with(name));
            match line.and_then(|l| l.split_whitespace().nth(1)) {
                Some(found) => {
                    ttl = found.to_string();
                    Ok(())
                }
                None => Err(answer),
            }
        });
        ttl
    };
    assert_eq!(ttl_of("web.service.internal."), "60");
    assert_eq!(ttl_of("db.service.internal."), "5");
    assert_eq!(ttl_of("dnsfile.node.internal."), "30");
}

/// A reload sets the files' `log_level`, unless `--log-level` was given.
/// Addresses 127.0.137.4 and .5.
#[test]
fn a_reload_sets_the_files_log_level_unless_the_flag_pinned_it() {
    let scratch = ScratchDir::new("config-log-level");
    let file = scratch.join("agent.json");
    std::fs::write(&file, r#"{"bootstrap": true, "log_level": "warn"}"#).unwrap();
    let file_arg = file.to_string_lossy().into_owned();
    let agent = HttpAgent::start(
        "127.0.137.4:18300",
        "127.0.137.4:18500",
        "loglevel",
        &["--config-file", &file_arg],
    );
    std::fs::write(&file, r#"{"bootstrap": true, "log_level": "info"}"#).unwrap();
    assert_eq!(agent.http().put("/v1/agent/reload", b"").status, 200);
    let log = agent.log();
    assert!(
        !log.contains("Reloading configuration..."),
        "at warn, the reload's INFO line is not written: {log}"
    );
    assert!(log.contains("[INFO] agent: Log level set to INFO"), "{log}");
    assert_eq!(agent.http().put("/v1/agent/reload", b"").status, 200);
    assert!(agent.log().contains("Reloading configuration..."));

    let pinned = HttpAgent::start(
        "127.0.137.5:18300",
        "127.0.137.5:18500",
        "pinned",
        &["--log-level", "info", "--config-file", &file_arg],
    );
    std::fs::write(&file, r#"{"bootstrap": true, "log_level": "debug"}"#).unwrap();
    assert_eq!(pinned.http().put("/v1/agent/reload", b"").status, 200);
    let log = pinned.log();
    assert!(log.contains("Reloading configuration..."), "{log}");
    assert!(!log.contains("Log level set"), "the flag wins: {log}");
}
