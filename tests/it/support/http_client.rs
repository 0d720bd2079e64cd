//! A real HTTP client (ureq) for the agent's HTTP API: every answer comes
//! back whatever its status, with its headers and body, so a test can
//! compare them with Consul's documented ones.

use std::time::Duration;

pub struct Reply {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, named case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.text()))
    }

    /// `X-Consul-Index`.
    pub fn index(&self) -> u64 {
        self.header("X-Consul-Index")
            .unwrap_or_else(|| panic!("no X-Consul-Index in a {} answer", self.status))
            .parse()
            .expect("X-Consul-Index is a number")
    }
}

/// One agent's HTTP API, over keep-alive connections.
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub fn new(address: &str) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(90)))
            .build()
            .into();
        Http {
            agent,
            base: format!("http://{address}"),
        }
    }

    fn finish(
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, String> {
        let mut response = result.map_err(|err| err.to_string())?;
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|err| err.to_string())?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    pub fn try_get(&self, path: &str) -> Result<Reply, String> {
        Http::finish(self.agent.get(format!("{}{path}", self.base)).call())
    }

    pub fn get(&self, path: &str) -> Reply {
        self.try_get(path)
            .unwrap_or_else(|err| panic!("GET {path}: {err}"))
    }

    pub fn put(&self, path: &str, body: &[u8]) -> Reply {
        Http::finish(self.agent.put(format!("{}{path}", self.base)).send(body))
            .unwrap_or_else(|err| panic!("PUT {path}: {err}"))
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        Http::finish(self.agent.post(format!("{}{path}", self.base)).send(body))
            .unwrap_or_else(|err| panic!("POST {path}: {err}"))
    }

    pub fn delete(&self, path: &str) -> Reply {
        Http::finish(self.agent.delete(format!("{}{path}", self.base)).call())
            .unwrap_or_else(|err| panic!("DELETE {path}: {err}"))
    }
}
