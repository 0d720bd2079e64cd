//! The requests of the agent's own services and checks
//! (`/v1/agent/service/*`, `/v1/agent/check/*`, `/v1/agent/maintenance`):
//! answered from the agent's local state, never sent to a server.

use crate::agent::local_state::{CheckSpec, ServiceRegistration};
use crate::wire::catalog_registration::CheckStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentLocalRequest {
    /// `PUT /v1/agent/service/register`, with the body as sent (kept in
    /// the data directory once registered).
    RegisterService {
        registration: Box<ServiceRegistration>,
        body: serde_json::Value,
    },
    /// `PUT /v1/agent/service/deregister/<id>`.
    DeregisterService { id: String },
    /// `GET /v1/agent/services`, with `?filter`.
    Services { filter: Option<String> },
    /// `GET /v1/agent/service/<id>`.
    Service { id: String },
    /// `PUT /v1/agent/service/maintenance/<id>?enable=&reason=`.
    ServiceMaintenance {
        id: String,
        enable: bool,
        reason: String,
    },
    /// `PUT /v1/agent/maintenance?enable=&reason=`.
    NodeMaintenance { enable: bool, reason: String },
    /// `GET /v1/agent/checks`, with `?filter`.
    Checks { filter: Option<String> },
    /// `PUT /v1/agent/check/register`, with the body as sent.
    RegisterCheck {
        spec: Box<CheckSpec>,
        body: serde_json::Value,
    },
    /// `PUT /v1/agent/check/deregister/<id>`.
    DeregisterCheck { id: String },
    /// `PUT /v1/agent/check/pass|warn|fail/<id>?note=` and
    /// `/v1/agent/check/update/<id>` (`{Status, Output}`).
    UpdateTtl {
        id: String,
        status: CheckStatus,
        output: String,
    },
}
