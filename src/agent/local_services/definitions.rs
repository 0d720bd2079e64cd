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
    /// `--log-level` was given: it wins over the files' `log_level`, on
    /// reload too.
    pub log_level_pinned: bool,
    services: BTreeSet<String>,
    checks: BTreeSet<String>,
}

impl LocalServices {
    /// `--log-level` was given: reloads keep it.
    pub fn pin_log_level(&mut self) {
        self.from_files.log_level_pinned = true;
    }

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
    /// Returns the log level to set: the files', unless `--log-level` was
    /// given or they name none.
    pub fn reload(&mut self, now: Instant) -> Result<Option<log::LevelFilter>, String> {
        let mut definitions = load(&self.from_files.sources)?;
        let log_level = match definitions.log_level.take() {
            Some(_) if self.from_files.log_level_pinned => None,
            Some(text) => Some(
                crate::logging::parse_level(&text)
                    .map_err(|e| format!("config: log_level: {e}"))?,
            ),
            None => None,
        };
        let sources = self.from_files.sources.clone();
        let pinned = self.from_files.log_level_pinned;
        let before = std::mem::take(&mut self.from_files);
        self.from_files.log_level_pinned = pinned;
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
        Ok(log_level)
    }
}
