//! `/v1/agent/service/*`, `/v1/agent/check/*` and `/v1/agent/maintenance`
//! answered from the local state, as Consul's `agent_endpoint.go` does: a
//! change is in the local state when the answer leaves (an empty 200) and
//! reaches the catalog with the next sync, started at once.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::http::HttpResponse;
use crate::http::agent_checks::{agent_checks, local_state_error};
use crate::http::agent_local_request::AgentLocalRequest;
use crate::http::agent_services::{agent_service, agent_services, unknown_service};
use crate::http::error::HttpError;
use crate::http::filter::Filter;

use crate::agent::local_services::LocalServices;
use crate::agent::local_state::{LocalStateError, RegistrationSource};

fn refused(err: &LocalStateError) -> HttpResponse {
    HttpResponse::from_error(&local_state_error(err))
}

/// A map of entries, those the filter keeps (each judged as the client
/// sees it).
fn filtered_map<T: Serialize>(
    entries: BTreeMap<String, T>,
    filter: Option<&str>,
    pretty: bool,
) -> HttpResponse {
    let Some(text) = filter else {
        return HttpResponse::json(200, &entries, pretty);
    };
    let filter = match Filter::parse(text) {
        Ok(filter) => filter,
        Err(err) => return HttpResponse::text(400, &err.to_string()),
    };
    let kept: BTreeMap<String, T> = entries
        .into_iter()
        .filter(|(_, entry)| serde_json::to_value(entry).is_ok_and(|value| filter.matches(&value)))
        .collect();
    HttpResponse::json(200, &kept, pretty)
}

impl LocalServices {
    pub fn serve(
        &mut self,
        request: AgentLocalRequest,
        pretty: bool,
        now: Instant,
    ) -> HttpResponse {
        let now_ms = self.now_ms(now);
        let datacenter = self.identity.datacenter.clone();
        let changed: Result<bool, HttpResponse> = match request {
            AgentLocalRequest::Services { filter } => {
                let services = agent_services(&self.state, &datacenter);
                return filtered_map(services, filter.as_deref(), pretty);
            }
            AgentLocalRequest::Service { id } => {
                return match agent_service(&self.state, &id, &datacenter) {
                    Some(service) => HttpResponse::json(200, &service, pretty),
                    None => HttpResponse::from_error(&unknown_service(&id)),
                };
            }
            AgentLocalRequest::Checks { filter } => {
                let checks = agent_checks(&self.state, &self.identity.node);
                return filtered_map(checks, filter.as_deref(), pretty);
            }
            AgentLocalRequest::RegisterService { registration, body } => self
                .state
                .add_service(*registration, now_ms)
                .map(|(id, _)| self.persist_service(id, Some(body)))
                .map_err(|err| refused(&err)),
            AgentLocalRequest::DeregisterService { id } => match self.state.remove_service(&id) {
                Ok(true) => Ok(self.persist_service(id, None)),
                Ok(false) => Err(HttpResponse::from_error(&unknown_service(&id))),
                Err(err) => Err(refused(&err)),
            },
            AgentLocalRequest::RegisterCheck { spec, body } => self
                .state
                .add_check(*spec, RegistrationSource::Remote, now_ms)
                .map(|id| self.persist_check(id, Some(body)))
                .map_err(|err| refused(&err)),
            AgentLocalRequest::DeregisterCheck { id } => match self.state.remove_check(&id) {
                Ok(true) => Ok(self.persist_check(id, None)),
                Ok(false) => Err(HttpResponse::from_error(&HttpError::new(
                    404,
                    format!(
                        "Unknown check ID {id:?}. Ensure that the check ID is passed, not the check name."
                    ),
                ))),
                Err(err) => Err(refused(&err)),
            },
            AgentLocalRequest::UpdateTtl { id, status, output } => self
                .state
                .update_ttl_check(&id, status, &output, now_ms)
                .map_err(|err| refused(&err)),
            AgentLocalRequest::ServiceMaintenance { id, enable, reason } => match enable {
                true => self.state.enable_service_maintenance(&id, &reason, now_ms),
                false => self.state.disable_service_maintenance(&id),
            }
            .map_err(|err| refused(&err)),
            AgentLocalRequest::NodeMaintenance { enable, reason } => Ok(match enable {
                true => self.state.enable_node_maintenance(&reason, now_ms),
                false => self.state.disable_node_maintenance(),
            }),
        };
        match changed {
            Ok(changed) => {
                if changed {
                    self.sync.mark_dirty();
                }
                HttpResponse::new(200)
            }
            Err(response) => response,
        }
    }
}
