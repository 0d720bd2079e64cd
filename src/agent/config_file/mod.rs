//! Configuration files (`--config-file FILE`, repeatable, and
//! `--config-dir DIR`: its `*.json` files in name order), in Consul's JSON
//! agent-configuration format. Files are read in the order given, a later
//! one overriding an earlier one's options and adding to its services and
//! checks; flags override files. A bad file is one error naming the file
//! and the field. Reading happens at start and on reload (SIGHUP,
//! `PUT /v1/agent/reload`), which re-reads services and checks only.

mod dns;
mod parse;
pub mod resolve;

use std::path::{Path, PathBuf};

pub use dns::DnsFile;
pub use parse::{FieldError, FileConfig, parse_file};

/// A file larger than this is refused: a configuration is kilobytes.
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 << 20;
/// Files read from one `--config-dir`.
pub const MAX_FILES_PER_DIR: usize = 1024;

/// Where the agent's configuration comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSources {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
}

impl ConfigSources {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }
}

fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("config dir {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("config dir {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            files.push(path);
        }
        if files.len() > MAX_FILES_PER_DIR {
            return Err(format!(
                "config dir {}: more than {MAX_FILES_PER_DIR} files",
                dir.display()
            ));
        }
    }
    files.sort();
    Ok(files)
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("config file {shown}: {e}"))?
        .len();
    if size > MAX_CONFIG_FILE_BYTES {
        return Err(format!(
            "config file {shown}: {size} bytes, more than {MAX_CONFIG_FILE_BYTES}"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("config file {shown}: {e}"))?;
    parse_file(&text).map_err(|e| format!("config file {shown}: field {}: {}", e.field, e.reason))
}

/// Later values win; lists add up.
fn merge(into: &mut FileConfig, next: FileConfig) {
    macro_rules! later {
        ($($field:ident),*) => { $( if next.$field.is_some() { into.$field = next.$field; } )* };
    }
    later!(
        server,
        bootstrap,
        bootstrap_expect,
        datacenter,
        node_name,
        data_dir,
        bind_addr,
        advertise_addr,
        server_port,
        http_addr,
        http_port,
        log_level,
        enable_script_checks
    );
    into.join.extend(next.join);
    into.services.extend(next.services);
    into.checks.extend(next.checks);
    into.dns.merge(next.dns);
}

/// Every file of `sources`, merged.
pub fn load(sources: &ConfigSources) -> Result<FileConfig, String> {
    let mut merged = FileConfig::default();
    let mut paths = sources.files.clone();
    for dir in &sources.dirs {
        paths.extend(dir_files(dir)?);
    }
    for path in paths {
        merge(&mut merged, read_file(&path)?);
    }
    Ok(merged)
}
