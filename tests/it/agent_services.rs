//! The agent's own services and checks on a real cluster: registered on a
//! client agent over HTTP, synced into the catalog by anti-entropy (read
//! back from a server), with a TTL check driven by `/pass` and expiring, a
//! TCP check against a listener of the test's, HTTP checks against the
//! agent's own API (200 passing, 404 critical), a script check refused
//! without `--enable-script-checks` and run with it (exit codes to
//! statuses), maintenance mode, and deregistration. Addresses 127.0.136.x
//! and 127.0.148.1; ports 18300 and 18500.

use std::net::TcpListener;

use serde_json::{Value, json};

use crate::support::http_agents::{HttpAgent, WAIT, cluster};
use crate::support::wait::wait_until_ok;

fn put(agent: &HttpAgent, path: &str, body: &Value) -> (u16, String) {
    let reply = agent.http().put(path, body.to_string().as_bytes());
    (reply.status, reply.text())
}

/// The statuses of `service`'s checks in the catalog, by check ID.
fn catalog_checks(server: &HttpAgent, service: &str) -> Vec<(String, String)> {
    let checks = server
        .http()
        .get(&format!("/v1/health/checks/{service}"))
        .json();
    checks
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| {
                    (
                        c["CheckID"].as_str().unwrap_or("?").to_owned(),
                        c["Status"].as_str().unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn wait_for_checks(server: &HttpAgent, service: &str, wanted: &[(&str, &str)]) {
    let wanted: Vec<(String, String)> = wanted
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    wait_until_ok(
        WAIT,
        &format!("{service}'s checks in the catalog: {wanted:?}"),
        || {
            let seen = catalog_checks(server, service);
            match seen == wanted {
                true => Ok(()),
                false => Err(format!("{seen:?}")),
            }
        },
    );
}

#[test]
fn services_registered_on_an_agent_reach_the_catalog_with_their_checks() {
    let agents = cluster("127.0.136");
    let (server, client) = (&agents[1], &agents[3]);
    let listener = TcpListener::bind("127.0.136.9:0").unwrap();
    let tcp_target = listener.local_addr().unwrap().to_string();
    let web = json!({
        "name": "web", "port": 8080, "tags": ["v1"],
        "checks": [
            {"name": "alive", "ttl": "2s"},
            {"name": "port", "tcp": tcp_target, "interval": "1s", "timeout": "500ms"}
        ]
    });
    assert_eq!(
        put(client, "/v1/agent/service/register", &web),
        (200, String::new())
    );
    let listed = client.http().get("/v1/agent/services").json();
    assert_eq!(listed["web"]["Service"], "web", "{listed}");
    assert_eq!(listed["web"]["Port"], 8080, "{listed}");
    let instances = |s: &HttpAgent| s.http().get("/v1/catalog/service/web").json();
    wait_until_ok(WAIT, "web in the catalog", || {
        let found = instances(server);
        match found.as_array().map(|a| a.len()) {
            Some(1) if found[0]["Node"] == "c4" && found[0]["ServicePort"] == 8080 => Ok(()),
            _ => Err(found.to_string()),
        }
    });
    wait_for_checks(
        server,
        "web",
        &[("service:web:1", "critical"), ("service:web:2", "passing")],
    );

    let pass = client
        .http()
        .put("/v1/agent/check/pass/service:web:1?note=ok", b"");
    assert_eq!(pass.status, 200, "{}", pass.text());
    wait_for_checks(
        server,
        "web",
        &[("service:web:1", "passing"), ("service:web:2", "passing")],
    );
    // No more passes: the TTL runs out; the listener goes: the TCP check fails.
    drop(listener);
    wait_for_checks(
        server,
        "web",
        &[("service:web:1", "critical"), ("service:web:2", "critical")],
    );
    let checks = client.http().get("/v1/agent/checks").json();
    let output = checks["service:web:1"]["Output"]
        .as_str()
        .unwrap_or_default();
    assert!(output.starts_with("TTL expired"), "{checks}");

    let http_checked = |name: &str, path: &str| {
        json!({"name": name, "port": 1, "check": {
            "http": format!("http://{}{path}", client.1), "interval": "1s"}})
    };
    let api = http_checked("api", "/v1/status/leader");
    assert_eq!(put(client, "/v1/agent/service/register", &api).0, 200);
    let missing = http_checked("missing", "/v1/no-such-endpoint");
    assert_eq!(put(client, "/v1/agent/service/register", &missing).0, 200);
    wait_for_checks(server, "api", &[("service:api", "passing")]);
    wait_for_checks(server, "missing", &[("service:missing", "critical")]);
    let script = json!({"name": "cron", "check": {"args": ["true"], "interval": "10s"}});
    let refused = put(client, "/v1/agent/service/register", &script);
    assert_eq!(refused.0, 500, "scripts are off by default: {}", refused.1);
    assert!(refused.1.contains("Scripts are disabled"), "{}", refused.1);

    let maintenance = client
        .http()
        .put("/v1/agent/maintenance?enable=true&reason=upgrade", b"");
    assert_eq!(maintenance.status, 200);
    wait_until_ok(WAIT, "node maintenance in the catalog", || {
        let node = server.http().get("/v1/health/node/c4").json();
        let found = node.as_array().into_iter().flatten().any(|c| {
            c["CheckID"] == "_node_maintenance"
                && c["Status"] == "critical"
                && c["Notes"] == "upgrade"
        });
        match found {
            true => Ok(()),
            false => Err(node.to_string()),
        }
    });
    assert_eq!(
        client.http().put("/v1/agent/maintenance", b"").status,
        400,
        "enable is required"
    );
    let unknown = client.http().put("/v1/agent/service/deregister/nope", b"");
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    let gone = client.http().put("/v1/agent/service/deregister/web", b"");
    assert_eq!(gone.status, 200, "{}", gone.text());
    wait_until_ok(WAIT, "web gone from the catalog", || {
        let found = instances(server);
        match found.as_array().map(|a| a.len()) {
            Some(0) => Ok(()),
            _ => Err(found.to_string()),
        }
    });
}

/// A client agent killed: gossip marks it failed, the leader turns its
/// `serfHealth` critical, and its services drop out of `?passing`, as
/// Consul's do. Addresses 127.0.146.x.
#[test]
fn a_failed_agents_services_turn_critical_through_its_serf_health() {
    let mut agents = cluster("127.0.146");
    let web = json!({"name": "web", "port": 80});
    assert_eq!(
        put(&agents[3], "/v1/agent/service/register", &web),
        (200, String::new())
    );
    let passing = |s: &HttpAgent| s.http().get("/v1/health/service/web?passing").json();
    wait_until_ok(WAIT, "web passing on c4", || {
        let found = passing(&agents[0]);
        match found.as_array().map(|a| a.len()) {
            Some(1) => Ok(()),
            _ => Err(found.to_string()),
        }
    });
    agents[3].kill();
    let server = &agents[0];
    wait_until_ok(
        WAIT,
        "c4's serfHealth critical and web out of ?passing",
        || {
            let all = server.http().get("/v1/health/service/web").json();
            let serf_critical = all[0]["Checks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["CheckID"] == "serfHealth" && c["Status"] == "critical");
            let still_passing = passing(server).as_array().map_or(0, |a| a.len());
            match serf_critical && still_passing == 0 {
                true => Ok(()),
                false => Err(all.to_string()),
            }
        },
    );
}

/// Services and checks registered over HTTP are kept in the data
/// directory: a client agent stopped and started again has them, and its
/// first sync leaves them in the catalog. Addresses 127.0.147.x.
#[test]
fn services_registered_over_http_survive_a_restart() {
    let mut agents = cluster("127.0.147");
    let db = json!({"name": "db", "port": 5432, "check": {"ttl": "1h"}});
    assert_eq!(put(&agents[3], "/v1/agent/service/register", &db).0, 200);
    let disk = json!({"name": "disk", "ttl": "1h"});
    assert_eq!(put(&agents[3], "/v1/agent/check/register", &disk).0, 200);
    let in_catalog = |s: &HttpAgent| {
        let found = s.http().get("/v1/catalog/service/db").json();
        found.as_array().is_some_and(|a| a.len() == 1)
    };
    wait_until_ok(WAIT, "db in the catalog", || match in_catalog(&agents[0]) {
        true => Ok(()),
        false => Err("not yet".into()),
    });
    let client = &mut agents[3];
    client.signal("TERM");
    client.wait_exit(WAIT);
    let http = client.1.clone();
    let join = "127.0.147.1:18300".to_string();
    client.start(&["--join", &join, "--http-addr", &http], WAIT);
    wait_until_ok(WAIT, "db and disk back on the restarted agent", || {
        let services = agents[3].http().try_get("/v1/agent/services")?.json();
        let checks = agents[3].http().try_get("/v1/agent/checks")?.json();
        match services.get("db").is_some() && checks.get("disk").is_some() {
            true => Ok(()),
            false => Err(format!("{services} {checks}")),
        }
    });
    assert!(agents[3].log().contains("restored 1 services and 1 checks"));
    wait_for_checks(&agents[0], "db", &[("service:db", "critical")]);
    assert!(
        in_catalog(&agents[0]),
        "the first sync after the restart keeps db"
    );
}

/// With `--enable-script-checks`, a script check runs its command: exit 0
/// passes, 1 warns, anything else is critical, as Consul maps them; the
/// output is kept. Address 127.0.148.1.
#[test]
fn script_checks_run_when_enabled_and_map_exit_codes() {
    let agent = HttpAgent::start(
        "127.0.148.1:18300",
        "127.0.148.1:18500",
        "scripts",
        &["--bootstrap", "--enable-script-checks"],
    );
    agent.wait_log("cluster leadership acquired", WAIT);
    for (id, code) in [("ok", 0), ("warn", 1), ("bad", 2)] {
        let body = json!({
            "ID": id,
            "Name": id,
            "Args": ["sh", "-c", format!("echo said-{id}; exit {code}")],
            "Interval": "1s",
        });
        let (status, text) = put(&agent, "/v1/agent/check/register", &body);
        assert_eq!(status, 200, "{text}");
    }
    wait_until_ok(WAIT, "the script checks' statuses", || {
        let checks = agent.http().get("/v1/agent/checks").json();
        let seen: Vec<(String, String)> = ["ok", "warn", "bad"]
            .iter()
            .map(|id| {
                let check = &checks[*id];
                (
                    check["Status"].as_str().unwrap_or("?").to_owned(),
                    check["Output"].as_str().unwrap_or("").trim().to_owned(),
                )
            })
            .collect();
        let wanted = [
            ("passing", "said-ok"),
            ("warning", "said-warn"),
            ("critical", "said-bad"),
        ];
        let matches = seen
            .iter()
            .zip(wanted)
            .all(|((status, output), (s, o))| status == s && output.contains(o));
        match matches {
            true => Ok(()),
            false => Err(format!("{seen:?}")),
        }
    });
}
