//! The read options Consul's `s.parse` takes from every read endpoint's
//! query: `?dc`, the consistency mode (`?stale`, `?consistent`,
//! `?max_stale`), and the blocking-query pair `?index` and `?wait`. Checks
//! run in Consul's order (consistency, then wait, then index), so a request
//! with two mistakes gets the message Consul would give.

use std::time::Duration;

use super::duration::parse_go_duration;
use super::error::HttpError;
use super::query::{Query, go_quote, parse_go_uint};

/// Consul's `default_query_time`: a blocking query with no `?wait`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
/// Consul's `max_query_time`: longer waits are cut to this.
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);
/// Consul's `structs.JitterFraction`: up to wait/16 is added to each wait so
/// that clients woken together do not return together.
pub const JITTER_FRACTION: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Served by the leader, without a leadership check.
    Default,
    /// Any server may answer from its own state.
    Stale,
    /// The leader confirms it still leads before answering.
    Consistent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingParams {
    /// `?dc`; `None` means the agent's own datacenter.
    pub datacenter: Option<String>,
    pub consistency: Consistency,
    /// `?max_stale`, when positive: a stale read whose server is further
    /// behind than this is retried on the leader.
    pub max_stale: Option<Duration>,
    /// `?index`: block until the result's index passes this; 0 never blocks.
    pub index: u64,
    /// `?wait`, already defaulted and capped as Consul's servers do.
    pub wait: Duration,
}

impl Default for BlockingParams {
    fn default() -> Self {
        BlockingParams {
            datacenter: None,
            consistency: Consistency::Default,
            max_stale: None,
            index: 0,
            wait: DEFAULT_WAIT,
        }
    }
}

impl BlockingParams {
    pub fn parse(query: &Query) -> Result<BlockingParams, HttpError> {
        let (consistency, max_stale) = parse_consistency(query)?;
        let wait = parse_wait(query)?;
        let index = match query.get_non_empty("index") {
            Some(text) => {
                parse_go_uint(text).map_err(|_| HttpError::bad_request("Invalid index"))?
            }
            None => 0,
        };
        Ok(BlockingParams {
            datacenter: query.get_non_empty("dc").map(str::to_string),
            consistency,
            max_stale,
            index,
            wait,
        })
    }

    pub fn is_blocking(&self) -> bool {
        self.index > 0
    }

    /// The most jitter one wait may get: Consul's `wait / JitterFraction`.
    pub fn jitter_bound(&self) -> Duration {
        self.wait / JITTER_FRACTION
    }

    /// How long a blocking query waits, given a random draw: the wait plus
    /// `random mod jitter_bound` (Consul's `lib.RandomStagger`). The draw is
    /// an argument so this stays deterministic.
    pub fn timeout_with_jitter(&self, random: u64) -> Duration {
        let bound_nanos = u64::try_from(self.jitter_bound().as_nanos()).unwrap_or(u64::MAX);
        if bound_nanos == 0 {
            return self.wait;
        }
        self.wait + Duration::from_nanos(random % bound_nanos)
    }
}

fn parse_consistency(query: &Query) -> Result<(Consistency, Option<Duration>), HttpError> {
    let mut stale = query.has("stale");
    let consistent = query.has("consistent");
    let mut max_stale = None;
    if let Some(text) = query.get_non_empty("max_stale") {
        let parsed = parse_go_duration(text).map_err(|_| {
            HttpError::bad_request(format!("Invalid max_stale value {}", go_quote(text)))
        })?;
        if let Some(duration) = parsed.to_std().filter(|d| !d.is_zero()) {
            max_stale = Some(duration);
            stale = true;
        }
    }
    match (stale, consistent) {
        (true, true) => Err(HttpError::bad_request(
            "Cannot specify ?stale with ?consistent, conflicting semantics.",
        )),
        (true, false) => Ok((Consistency::Stale, max_stale)),
        (false, true) => Ok((Consistency::Consistent, None)),
        (false, false) => Ok((Consistency::Default, None)),
    }
}

/// A wait of zero or less means "no wait given"; one past the maximum is
/// cut to it rather than refused.
fn parse_wait(query: &Query) -> Result<Duration, HttpError> {
    let Some(text) = query.get_non_empty("wait") else {
        return Ok(DEFAULT_WAIT);
    };
    let parsed =
        parse_go_duration(text).map_err(|_| HttpError::bad_request("Invalid wait time"))?;
    Ok(match parsed.to_std() {
        Some(wait) if wait.is_zero() => DEFAULT_WAIT,
        Some(wait) => wait.min(MAX_WAIT),
        None => DEFAULT_WAIT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<BlockingParams, HttpError> {
        BlockingParams::parse(&Query::parse(raw).unwrap())
    }

    #[test]
    fn no_parameters_give_consuls_defaults() {
        let params = parse("").unwrap();
        assert_eq!(params, BlockingParams::default());
        assert!(!params.is_blocking());
        assert_eq!(params.wait, Duration::from_secs(300));
    }

    #[test]
    fn index_and_wait_are_read() {
        let params = parse("index=42&wait=30s&dc=east").unwrap();
        assert_eq!(params.index, 42);
        assert!(params.is_blocking());
        assert_eq!(params.wait, Duration::from_secs(30));
        assert_eq!(params.datacenter.as_deref(), Some("east"));
    }

    #[test]
    fn wait_over_ten_minutes_is_capped() {
        assert_eq!(parse("wait=1h").unwrap().wait, MAX_WAIT);
    }

    #[test]
    fn zero_or_negative_wait_means_the_default() {
        assert_eq!(parse("wait=0").unwrap().wait, DEFAULT_WAIT);
        assert_eq!(parse("wait=-5s").unwrap().wait, DEFAULT_WAIT);
    }

    #[test]
    fn wait_without_unit_is_invalid_wait_time() {
        let error = parse("wait=10").unwrap_err();
        assert_eq!(
            (error.status, error.reason.as_str()),
            (400, "Invalid wait time")
        );
    }

    #[test]
    fn bad_index_is_invalid_index() {
        let error = parse("index=-1").unwrap_err();
        assert_eq!(error.reason, "Invalid index");
    }

    #[test]
    fn stale_with_consistent_is_400_with_consuls_text() {
        let error = parse("stale&consistent").unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(
            error.reason,
            "Cannot specify ?stale with ?consistent, conflicting semantics."
        );
    }

    #[test]
    fn consistency_is_checked_before_wait() {
        let error = parse("wait=bad&stale&consistent").unwrap_err();
        assert!(error.reason.starts_with("Cannot specify ?stale"));
    }

    #[test]
    fn positive_max_stale_implies_stale() {
        let params = parse("max_stale=5s").unwrap();
        assert_eq!(params.consistency, Consistency::Stale);
        assert_eq!(params.max_stale, Some(Duration::from_secs(5)));
        let error = parse("max_stale=5s&consistent").unwrap_err();
        assert!(error.reason.starts_with("Cannot specify ?stale"));
        let error = parse("max_stale=5").unwrap_err();
        assert_eq!(error.reason, "Invalid max_stale value \"5\"");
    }

    #[test]
    fn jitter_is_bounded_by_a_sixteenth_of_the_wait() {
        let params = parse("index=1&wait=160s").unwrap();
        assert_eq!(params.jitter_bound(), Duration::from_secs(10));
        assert_eq!(params.timeout_with_jitter(0), Duration::from_secs(160));
        let most = params.timeout_with_jitter(u64::MAX);
        assert!(most >= Duration::from_secs(160) && most < Duration::from_secs(170));
        let seven = params.timeout_with_jitter(7_000_000_000);
        assert_eq!(seven, Duration::from_secs(167));
    }

    #[test]
    fn flags_given_with_false_still_count_as_present() {
        assert_eq!(
            parse("stale=false").unwrap().consistency,
            Consistency::Stale
        );
    }
}
