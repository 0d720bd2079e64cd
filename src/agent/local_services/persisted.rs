//! The services and checks registered over HTTP, kept in the data
//! directory (`storage::agent_definitions`) as Consul keeps them, so a
//! restarted agent has them again and its first sync does not remove them
//! from the catalog. A body that no longer registers (a check whose
//! service is gone) is dropped with a warning.

use std::time::Instant;

use serde_json::Value;

use crate::http::agent_checks::decode_check_register;
use crate::http::agent_services::decode_service_register;
use crate::storage::agent_definitions::{AgentDefinitions, AgentDefinitionsStore};

use crate::agent::local_services::LocalServices;
use crate::agent::local_state::RegistrationSource;

#[derive(Debug, Default)]
pub struct Persisted {
    store: Option<AgentDefinitionsStore>,
    saved: AgentDefinitions,
}

impl LocalServices {
    /// At start: what the last run kept, registered again.
    pub fn restore(&mut self, store: AgentDefinitionsStore, now: Instant) {
        let saved = match store.load() {
            Ok(saved) => saved,
            Err(err) => {
                log::error!(target: "agent", "cannot read the saved services and checks: {err}");
                AgentDefinitions::default()
            }
        };
        let now_ms = self.now_ms(now);
        let mut kept = AgentDefinitions::default();
        for (id, body) in saved.services {
            let bytes = body.to_string().into_bytes();
            let added = decode_service_register(&bytes, false)
                .map_err(|e| e.reason)
                .and_then(|r| self.state.add_service(r, now_ms).map_err(|e| e.to_string()));
            match added {
                Ok(_) => drop(kept.services.insert(id, body)),
                Err(err) => log::warn!(target: "agent", "dropping saved service {id:?}: {err}"),
            }
        }
        for (id, body) in saved.checks {
            let bytes = body.to_string().into_bytes();
            let added = decode_check_register(&bytes)
                .map_err(|e| e.reason)
                .and_then(|spec| {
                    let source = RegistrationSource::Remote;
                    self.state
                        .add_check(spec, source, now_ms)
                        .map_err(|e| e.to_string())
                });
            match added {
                Ok(_) => drop(kept.checks.insert(id, body)),
                Err(err) => log::warn!(target: "agent", "dropping saved check {id:?}: {err}"),
            }
        }
        if !kept.services.is_empty() || !kept.checks.is_empty() {
            log::info!(target: "agent", "restored {} services and {} checks registered before the restart",
                kept.services.len(), kept.checks.len());
        }
        self.persisted = Persisted {
            store: Some(store),
            saved: kept,
        };
        self.sync.mark_dirty();
    }

    fn save(&self) {
        if let Some(store) = &self.persisted.store
            && let Err(err) = store.save(&self.persisted.saved)
        {
            log::error!(target: "agent", "cannot save the agent's services and checks: {err}");
        }
    }

    /// A service registered (`Some(body)`) or deregistered; true: changed.
    pub(super) fn persist_service(&mut self, id: String, body: Option<Value>) -> bool {
        match body {
            Some(body) => drop(self.persisted.saved.services.insert(id, body)),
            None => drop(self.persisted.saved.services.remove(&id)),
        }
        self.save();
        true
    }

    pub(super) fn persist_check(&mut self, id: String, body: Option<Value>) -> bool {
        match body {
            Some(body) => drop(self.persisted.saved.checks.insert(id, body)),
            None => drop(self.persisted.saved.checks.remove(&id)),
        }
        self.save();
        true
    }
}
