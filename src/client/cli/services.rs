//! `services register FILE` and `services deregister ID`, as Consul's
//! `consul services` does them: through the agent's HTTP API (the
//! services are the agent's own, not the cluster's), printing Consul's
//! lines. FILE is a service definition in the configuration files' format
//! (`{"service": {...}}` or `{"services": [...]}`) or a bare service.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::CliError;

/// A definition file is kilobytes.
const MAX_DEFINITION_FILE_BYTES: u64 = 1 << 20;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn put(http: SocketAddr, path: &str, body: &[u8]) -> Result<(u16, String), CliError> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(HTTP_TIMEOUT))
        .http_status_as_error(false)
        .build();
    let agent: ureq::Agent = config.into();
    let url = format!("http://{http}{path}");
    let mut response = agent.put(&url).send(body).map_err(|err| {
        CliError::Message(format!(
            "cannot reach the agent's HTTP API at {http}: {err}"
        ))
    })?;
    let mut text = String::new();
    let _ = response
        .body_mut()
        .as_reader()
        .take(64 * 1024)
        .read_to_string(&mut text);
    Ok((response.status().as_u16(), text))
}

/// The service objects a definition file holds.
fn definitions(path: &Path) -> Result<Vec<Value>, CliError> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| CliError::Message(format!("cannot read {shown}: {e}")))?
        .len();
    if size > MAX_DEFINITION_FILE_BYTES {
        return Err(CliError::Message(format!(
            "{shown}: {size} bytes is too large"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Message(format!("cannot read {shown}: {e}")))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Message(format!("{shown}: invalid JSON: {e}")))?;
    let services = match (value.get("service"), value.get("services")) {
        (Some(one), None) => vec![one.clone()],
        (None, Some(Value::Array(list))) => list.clone(),
        (None, Some(one @ Value::Object(_))) => vec![one.clone()],
        (None, None) if value.is_object() => vec![value],
        _ => return Err(CliError::Message(format!("{shown}: no service definition"))),
    };
    Ok(services)
}

pub fn services_register(
    http: SocketAddr,
    file: &Path,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    for service in definitions(file)? {
        let name = service
            .get("name")
            .or_else(|| service.get("Name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body = serde_json::to_vec(&service).map_err(|e| CliError::Message(e.to_string()))?;
        match put(http, "/v1/agent/service/register", &body)? {
            (200, _) => writeln!(out, "Registered service: {name}")?,
            (code, text) => {
                return Err(CliError::Message(format!(
                    "cannot register service {name:?}: Unexpected response code: {code} ({})",
                    text.trim()
                )));
            }
        }
    }
    Ok(())
}

pub fn services_deregister(
    http: SocketAddr,
    id: &str,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let path = format!("/v1/agent/service/deregister/{}", percent_encode(id));
    match put(http, &path, b"")? {
        (200, _) => writeln!(out, "Deregistered service: {id}")?,
        (code, text) => {
            return Err(CliError::Message(format!(
                "cannot deregister service {id:?}: Unexpected response code: {code} ({})",
                text.trim()
            )));
        }
    }
    Ok(())
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
