//! One health-check probe, run to completion on a thread of its own (the
//! agent's off-loop work, never the loop): Consul's HTTP check (2xx passing,
//! 429 warning, anything else or no answer critical, the body as output),
//! TCP check (a connection opens within the timeout) and script check
//! (exit 0 passing, 1 warning, anything else critical; killed at the
//! timeout). Outputs are bounded by `truncate_output`.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::local_state::{
    HTTP_CHECK_ACCEPT, HTTP_CHECK_USER_AGENT, ProbeKind, truncate_output,
};
use crate::wire::catalog_registration::{CheckStatus, MAX_CHECK_OUTPUT_BYTES};

/// How often a running script is looked at for its exit.
const SCRIPT_POLL_INTERVAL: Duration = Duration::from_millis(10);

pub fn run_probe(kind: &ProbeKind) -> (CheckStatus, String) {
    match kind {
        ProbeKind::Http {
            url,
            method,
            headers,
            timeout_ms,
        } => http(url, method, headers, *timeout_ms),
        ProbeKind::Tcp {
            address,
            timeout_ms,
        } => tcp(address, *timeout_ms),
        ProbeKind::Script { args, timeout_ms } => script(args, *timeout_ms),
    }
}

fn tcp(address: &str, timeout_ms: u64) -> (CheckStatus, String) {
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let targets = match address.to_socket_addrs() {
        Ok(targets) => targets,
        Err(err) => return (CheckStatus::Critical, format!("dial tcp {address}: {err}")),
    };
    let mut last_error = format!("dial tcp {address}: no address");
    for target in targets {
        match TcpStream::connect_timeout(&target, timeout) {
            Ok(_) => {
                return (
                    CheckStatus::Passing,
                    format!("TCP connect {address}: Success"),
                );
            }
            Err(err) => last_error = format!("dial tcp {target}: {err}"),
        }
    }
    (CheckStatus::Critical, last_error)
}

fn http(
    url: &str,
    method: &str,
    headers: &std::collections::BTreeMap<String, Vec<String>>,
    timeout_ms: u64,
) -> (CheckStatus, String) {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(timeout_ms.max(1))))
        .http_status_as_error(false)
        .build();
    let agent: ureq::Agent = config.into();
    let method = if method.is_empty() { "GET" } else { method };
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("User-Agent", HTTP_CHECK_USER_AGENT)
        .header("Accept", HTTP_CHECK_ACCEPT);
    for (name, values) in headers {
        for value in values {
            request = request.header(name.as_str(), value.as_str());
        }
    }
    let request = match request.body(()) {
        Ok(request) => request,
        Err(err) => return (CheckStatus::Critical, format!("{method} {url}: {err}")),
    };
    let mut response = match agent.run(request) {
        Ok(response) => response,
        Err(err) => return (CheckStatus::Critical, format!("{method} {url}: {err}")),
    };
    let code = response.status().as_u16();
    let mut body = Vec::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(MAX_CHECK_OUTPUT_BYTES as u64)
        .read_to_end(&mut body);
    let status = match code {
        200..=299 => CheckStatus::Passing,
        429 => CheckStatus::Warning,
        _ => CheckStatus::Critical,
    };
    let reason = response.status().canonical_reason().unwrap_or("");
    let output = format!(
        "HTTP {method} {url}: {code} {reason} Output: {}",
        String::from_utf8_lossy(&body)
    );
    (status, truncate_output(&output))
}

fn script(args: &[String], timeout_ms: u64) -> (CheckStatus, String) {
    let Some((program, rest)) = args.split_first() else {
        return (CheckStatus::Critical, "no command to run".into());
    };
    let child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => return (CheckStatus::Critical, format!("{program}: {err}")),
    };
    let deadline = Instant::now() + Duration::from_millis(timeout_ms.max(1));
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(SCRIPT_POLL_INTERVAL),
            Err(err) => return (CheckStatus::Critical, format!("{program}: {err}")),
        }
    };
    let mut output = Vec::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let _ = pipe
            .take(MAX_CHECK_OUTPUT_BYTES as u64)
            .read_to_end(&mut output);
    }
    let text = String::from_utf8_lossy(&output).into_owned();
    let Some(exit) = exit else {
        let message = format!("Timed out ({timeout_ms}ms) running check");
        return (CheckStatus::Critical, message);
    };
    let status = match exit.code() {
        Some(0) => CheckStatus::Passing,
        Some(1) => CheckStatus::Warning,
        _ => CheckStatus::Critical,
    };
    (status, truncate_output(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn tcp_passes_on_a_listener_and_fails_without_one() {
        let listener = TcpListener::bind("127.0.151.7:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (status, _) = tcp(&address, 1000);
        assert_eq!(status, CheckStatus::Passing);
        // Port 1 (tcpmux) has no listener: a freed ephemeral port may be
        // taken at once by another test's wildcard listener.
        let (status, output) = tcp("127.0.151.7:1", 1000);
        assert_eq!(status, CheckStatus::Critical, "{output}");
    }

    #[test]
    fn scripts_map_exit_codes_and_time_out() {
        let run = |script: &str, timeout_ms| {
            let args = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
            self::script(&args, timeout_ms)
        };
        assert_eq!(
            run("echo fine", 5000),
            (CheckStatus::Passing, "fine\n".into())
        );
        assert_eq!(run("exit 1", 5000).0, CheckStatus::Warning);
        assert_eq!(run("exit 2", 5000).0, CheckStatus::Critical);
        let (status, output) = run("sleep 5", 100);
        assert_eq!(status, CheckStatus::Critical);
        assert!(output.contains("Timed out"), "{output}");
    }
}
