//! Services and checks from the configuration files: registered at start,
//! and on reload replaced as a set (Consul's `unloadServices` and
//! `loadServices` for the local source), leaving what the HTTP API
//! registered alone.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::agent::config_file::{ConfigSources, FileConfig, load};
use crate::agent::local_services::LocalServices;
use crate::agent::local_state::RegistrationSource;

/// What the files registered, so a reload knows what to take back.
#[derive(Debug, Default)]
pub struct FromFiles {
    pub sources: ConfigSources,
    services: BTreeSet<String>,
    checks: BTreeSet<String>,
}

impl LocalServices {
    /// The files' services and checks; the first refusal is the error.
    pub fn register_definitions(
        &mut self,
        definitions: FileConfig,
        sources: &ConfigSources,
        now: Instant,
    ) -> Result<(), String> {
        let now_ms = self.now_ms(now);
        self.from_files.sources = sources.clone();
        for registration in definitions.services {
            let name = registration.service.service.clone();
            let (id, check_ids) = self
                .state
                .add_service(registration, now_ms)
                .map_err(|err| format!("config: service {name:?}: {err}"))?;
            self.from_files.services.insert(id);
            self.from_files.checks.extend(check_ids);
        }
        for check in definitions.checks {
            let name = check.name.clone();
            let id = self
                .state
                .add_check(check, RegistrationSource::Local, now_ms)
                .map_err(|err| format!("config: check {name:?}: {err}"))?;
            self.from_files.checks.insert(id);
        }
        self.sync.mark_dirty();
        Ok(())
    }

    /// Reads the files again and replaces their services and checks. A
    /// bad file changes nothing and is the answer.
    pub fn reload(&mut self, now: Instant) -> Result<(), String> {
        let definitions = load(&self.from_files.sources)?;
        let sources = self.from_files.sources.clone();
        let before = std::mem::take(&mut self.from_files);
        let kept_state = self.state.clone();
        for id in &before.checks {
            let _ = self.state.remove_check(id);
        }
        for id in &before.services {
            let _ = self.state.remove_service(id);
        }
        if let Err(err) = self.register_definitions(definitions, &sources, now) {
            self.state = kept_state;
            self.from_files = before;
            return Err(err);
        }
        log::info!(target: "agent", "Reloaded {} services and {} checks from the configuration",
            self.from_files.services.len(), self.from_files.checks.len());
        Ok(())
    }
}
