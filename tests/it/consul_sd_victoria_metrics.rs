//! A real Prometheus-style scraper discovering services through Consul's
//! API: Debian's `victoria-metrics` (its `consul_sd_configs` are
//! Prometheus's; Debian's `prometheus` has Consul discovery compiled out)
//! against a server agent. It must list a registered instance with its
//! tags and health, see it turn critical, and see it go when deregistered.
//! `.ci/run` installs it. Address 127.0.138.1; ports 18300, 18500, 18428.

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::http_agents::{HttpAgent, WAIT, single_server};
use crate::support::http_client::Http;
use crate::support::scratch::ScratchDir;
use crate::support::wait::wait_until_ok;

const VM_HTTP: &str = "127.0.138.1:18428";

/// The scraper, killed when dropped.
struct Scraper(Child);

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_scraper(scratch: &ScratchDir, consul: &str) -> Scraper {
    let config = scratch.join("scrape.yml");
    let yaml = format!(
        "scrape_configs:\n  - job_name: consul\n    scrape_interval: 1s\n    consul_sd_configs:\n      - server: {consul}\n    relabel_configs:\n      - source_labels: [__meta_consul_health]\n        target_label: health\n      - source_labels: [__meta_consul_tags]\n        target_label: tags\n      - source_labels: [__meta_consul_service]\n        target_label: service\n"
    );
    std::fs::write(&config, yaml).unwrap();
    let child = Command::new("victoria-metrics")
        .arg(format!("-promscrape.config={}", config.display()))
        .arg(format!("-httpListenAddr={VM_HTTP}"))
        .arg(format!(
            "-storageDataPath={}",
            scratch.join("vmdata").display()
        ))
        .arg("-promscrape.consulSDCheckInterval=1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("victoria-metrics runs (apt-get install -y victoria-metrics; .ci/run installs it)");
    Scraper(child)
}

/// The labels of the `web` targets. Health and tags are copied into
/// target labels by the scrape config: a target keeps the discovered
/// labels it was first found with, while a change of its labels makes a
/// new target.
fn web_targets() -> Result<Vec<Value>, String> {
    let reply = Http::new(VM_HTTP).try_get("/api/v1/targets")?;
    let targets = reply.json();
    let active = targets["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(active
        .into_iter()
        .map(|t| t["labels"].clone())
        .filter(|labels| labels["service"] == "web")
        .collect())
}

fn wait_for_web(what: &str, wanted: impl Fn(&[Value]) -> bool) {
    wait_until_ok(WAIT, what, || {
        let targets = web_targets()?;
        match wanted(&targets) {
            true => Ok(()),
            false => Err(format!("{targets:?}")),
        }
    });
}

fn put(agent: &HttpAgent, path: &str, body: &[u8]) {
    let reply = agent.http().put(path, body);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
}

#[test]
fn victoria_metrics_discovers_instances_their_health_and_their_removal() {
    let server = single_server("127.0.138.1");
    let scratch = ScratchDir::new("victoria-metrics");
    let service = json!({"Name": "web", "Port": 9999, "Tags": ["prod", "v1"],
        "Check": {"CheckID": "web-ttl", "TTL": "60s"}});
    put(
        &server,
        "/v1/agent/service/register",
        service.to_string().as_bytes(),
    );
    put(&server, "/v1/agent/check/pass/web-ttl", b"");
    let _scraper = start_scraper(&scratch, &server.1);
    wait_for_web("web discovered, passing, with its tags", |targets| {
        targets.len() == 1
            && targets[0]["health"] == "passing"
            && targets[0]["tags"] == ",prod,v1,"
            && targets[0]["instance"] == "127.0.138.1:9999"
    });
    put(&server, "/v1/agent/check/fail/web-ttl?note=down", b"");
    let catalog = |s: &HttpAgent| s.http().get("/v1/health/service/web").text();
    wait_until_ok(WAIT, "web critical in the catalog", || {
        let seen = catalog(&server);
        match seen.contains(r#""Status":"critical""#) {
            true => Ok(()),
            false => Err(seen),
        }
    });
    wait_for_web("web seen critical", |targets| {
        targets.len() == 1 && targets[0]["health"] == "critical"
    });
    put(&server, "/v1/agent/service/deregister/web", b"");
    wait_for_web("web gone", |targets| targets.is_empty());
}
