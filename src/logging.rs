//! Log lines in the shape Consul operators grep for:
//! `2026/11/27 05:12:40 [INFO] raft: cluster leadership acquired`.
//!
//! The subsystem is the log target: code logs with an explicit short target
//! (`log::info!(target: "raft", ...)`); a module-path target such as
//! `concord::gossip::probe` is shortened to its second segment (`gossip`).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Installs the global logger. `level` (from `--log-level`) wins over
/// `RUST_LOG`; with neither, the level is `info`.
pub fn init(level: Option<&str>) -> Result<(), LoggingError> {
    let mut builder = env_logger::Builder::new();
    // A level (given or the default) is the global maximum alone, with the
    // logger passing everything, so a reload can change it
    // (`log::set_max_level`); a `RUST_LOG` spec keeps its own filters.
    let mut max_level = None;
    match level {
        Some(level) => {
            max_level = Some(parse_level(level)?);
            builder.filter_level(log::LevelFilter::Trace);
        }
        None => match std::env::var("RUST_LOG") {
            Ok(spec) if !spec.is_empty() => {
                builder.parse_filters(&spec);
            }
            _ => {
                max_level = Some(log::LevelFilter::Info);
                builder.filter_level(log::LevelFilter::Trace);
            }
        },
    }
    builder.format(|buf, record| {
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        writeln!(
            buf,
            "{} [{}] {}: {}",
            format_utc_timestamp(now_secs),
            level_label(record.level()),
            subsystem(record.target()),
            record.args()
        )
    });
    builder
        .try_init()
        .map_err(|_| LoggingError::AlreadyInitialized)?;
    if let Some(max_level) = max_level {
        log::set_max_level(max_level);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggingError {
    UnknownLevel(String),
    AlreadyInitialized,
}

impl std::fmt::Display for LoggingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoggingError::UnknownLevel(level) => write!(
                f,
                "unknown log level {level:?} (expected trace, debug, info, warn or err)"
            ),
            LoggingError::AlreadyInitialized => write!(f, "logger already initialized"),
        }
    }
}

impl std::error::Error for LoggingError {}

/// Accepts Consul's level names (`err`, `warn`) as well as Rust's.
pub fn parse_level(level: &str) -> Result<log::LevelFilter, LoggingError> {
    match level.to_ascii_lowercase().as_str() {
        "trace" => Ok(log::LevelFilter::Trace),
        "debug" => Ok(log::LevelFilter::Debug),
        "info" => Ok(log::LevelFilter::Info),
        "warn" | "warning" => Ok(log::LevelFilter::Warn),
        "err" | "error" => Ok(log::LevelFilter::Error),
        "off" => Ok(log::LevelFilter::Off),
        _ => Err(LoggingError::UnknownLevel(level.to_string())),
    }
}

/// Consul writes `ERR` rather than `ERROR`.
pub fn level_label(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERR",
        log::Level::Warn => "WARN",
        log::Level::Info => "INFO",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "TRACE",
    }
}

/// `concord::raft::leader` becomes `raft`; an explicit short target stays.
pub fn subsystem(target: &str) -> &str {
    let mut parts = target.split("::");
    match (parts.next(), parts.next()) {
        (Some("concord"), Some(second)) => second,
        (Some(first), _) => first,
        _ => target,
    }
}

/// `YYYY/MM/DD HH:MM:SS` in UTC, computed without a date crate
/// (Howard Hinnant's days-to-civil algorithm).
pub fn format_utc_timestamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs_of_day = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        year,
        month,
        day,
        secs_of_day / 3_600,
        (secs_of_day % 3_600) / 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_matches_consul_layout() {
        // 2026-11-27 05:12:40 UTC
        assert_eq!(format_utc_timestamp(1_795_756_360), "2026/11/27 05:12:40");
        assert_eq!(format_utc_timestamp(0), "1970/01/01 00:00:00");
        // leap day
        assert_eq!(format_utc_timestamp(951_782_400), "2000/02/29 00:00:00");
    }

    #[test]
    fn subsystem_is_the_short_target() {
        assert_eq!(subsystem("raft"), "raft");
        assert_eq!(subsystem("concord::gossip::probe"), "gossip");
        assert_eq!(subsystem("concord"), "concord");
        assert_eq!(subsystem("mio::poll"), "mio");
    }

    #[test]
    fn levels_use_consul_names() {
        assert_eq!(level_label(log::Level::Error), "ERR");
        assert_eq!(parse_level("err").unwrap(), log::LevelFilter::Error);
        assert_eq!(parse_level("WARN").unwrap(), log::LevelFilter::Warn);
        assert!(matches!(
            parse_level("loud"),
            Err(LoggingError::UnknownLevel(_))
        ));
    }
}
