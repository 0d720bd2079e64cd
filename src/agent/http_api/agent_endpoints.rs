//! The agent and catalog endpoints, answered from the agent's own view.

use crate::http::HttpResponse;
use crate::http::api_request::ApiRequest;

use crate::agent::handler::AgentHandler;

impl AgentHandler {
    pub(crate) fn answer_agent_endpoint(&self, request: ApiRequest, pretty: bool) -> HttpResponse {
        let _ = pretty;
        HttpResponse::text(
            501,
            &format!("{request:?} is not implemented by this agent yet"),
        )
    }
}
