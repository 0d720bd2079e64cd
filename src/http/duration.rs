//! Go's `time.ParseDuration` and `Duration.String`, since Consul reads
//! `?wait=` and `?max_stale=` with the former: "10s", "1m30s", "1.5h",
//! "300ms", "2us", "2µs", "10ns", "-1s", a bare "0". A bare number such as
//! "10" has no unit and is an error, so Consul answers "Invalid wait time".

use std::fmt;
use std::time::Duration;

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u64 = 60 * NANOS_PER_MINUTE;
/// Go accumulates magnitudes in a uint64 and allows up to 1<<63 so that
/// the most negative duration parses.
const MAGNITUDE_LIMIT: u64 = 1 << 63;

/// A duration as Go holds it: signed nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration {
    pub nanoseconds: i64,
}

impl GoDuration {
    /// Negative durations have no `std` form; callers decide what they mean
    /// (Consul treats a negative wait like no wait).
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.nanoseconds)
            .ok()
            .map(Duration::from_nanos)
    }
}

/// Go's `time.ParseDuration` failing, with Go's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Invalid {
        text: String,
    },
    MissingUnit {
        text: String,
    },
    UnknownUnit {
        unit: String,
        text: String,
    },
    /// Only from [`parse_duration`]: Go accepts it, `std` cannot hold it.
    Negative {
        text: String,
    },
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Invalid { text } => {
                write!(f, "time: invalid duration {}", quote(text.as_bytes()))
            }
            DurationError::MissingUnit { text } => {
                write!(
                    f,
                    "time: missing unit in duration {}",
                    quote(text.as_bytes())
                )
            }
            DurationError::UnknownUnit { unit, text } => write!(
                f,
                "time: unknown unit {} in duration {}",
                quote(unit.as_bytes()),
                quote(text.as_bytes())
            ),
            DurationError::Negative { text } => {
                write!(f, "negative duration {}", quote(text.as_bytes()))
            }
        }
    }
}

impl std::error::Error for DurationError {}

/// [`parse_go_duration`] for callers that need a `std::time::Duration`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text)?
        .to_std()
        .ok_or_else(|| DurationError::Negative {
            text: text.to_string(),
        })
}

/// Go's grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or a bare `0`.
pub fn parse_go_duration(text: &str) -> Result<GoDuration, DurationError> {
    let invalid = || DurationError::Invalid {
        text: text.to_string(),
    };
    let (negative, mut rest) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if rest == b"0" {
        return Ok(GoDuration { nanoseconds: 0 });
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (term, after) = parse_term(rest, text)?;
        total = total
            .checked_add(term)
            .filter(|&t| t <= MAGNITUDE_LIMIT)
            .ok_or_else(invalid)?;
        rest = after;
    }
    let nanoseconds = if negative {
        // 1<<63 is exactly i64::MIN's magnitude.
        0i64.wrapping_sub_unsigned(total)
    } else {
        i64::try_from(total).map_err(|_| invalid())?
    };
    Ok(GoDuration { nanoseconds })
}

/// One `number unit` term: its magnitude in nanoseconds and what follows.
fn parse_term<'a>(input: &'a [u8], text: &str) -> Result<(u64, &'a [u8]), DurationError> {
    let invalid = || DurationError::Invalid {
        text: text.to_string(),
    };
    if !input
        .first()
        .is_some_and(|&b| b == b'.' || b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let (whole, rest) = leading_int(input).ok_or_else(invalid)?;
    let has_whole = rest.len() != input.len();
    let (fraction, scale, rest, has_fraction) = match rest {
        [b'.', after @ ..] => {
            let (fraction, scale, rest) = leading_fraction(after);
            (fraction, scale, rest, rest.len() != after.len())
        }
        _ => (0, 1.0, rest, false),
    };
    if !has_whole && !has_fraction {
        return Err(invalid());
    }
    let unit_len = rest
        .iter()
        .position(|&b| b == b'.' || b.is_ascii_digit())
        .unwrap_or(rest.len());
    if unit_len == 0 {
        return Err(DurationError::MissingUnit {
            text: text.to_string(),
        });
    }
    let (unit_bytes, rest) = rest.split_at(unit_len);
    let unit = unit_nanoseconds(unit_bytes).ok_or_else(|| DurationError::UnknownUnit {
        unit: String::from_utf8_lossy(unit_bytes).into_owned(),
        text: text.to_string(),
    })?;
    if whole > MAGNITUDE_LIMIT / unit {
        return Err(invalid());
    }
    let mut magnitude = whole * unit;
    if fraction > 0 {
        // Go computes the fraction in float64: nanosecond-exact even for
        // fractions of hours, and the rounding is Go's too.
        magnitude += (fraction as f64 * (unit as f64 / scale)) as u64;
        if magnitude > MAGNITUDE_LIMIT {
            return Err(invalid());
        }
    }
    Ok((magnitude, rest))
}

fn unit_nanoseconds(unit: &[u8]) -> Option<u64> {
    match unit {
        b"ns" => Some(1),
        // "µs" is U+00B5 MICRO SIGN, "μs" U+03BC GREEK SMALL LETTER MU.
        b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => Some(NANOS_PER_MICRO),
        b"ms" => Some(NANOS_PER_MILLI),
        b"s" => Some(NANOS_PER_SECOND),
        b"m" => Some(NANOS_PER_MINUTE),
        b"h" => Some(NANOS_PER_HOUR),
        _ => None,
    }
}

/// Leading decimal digits; `None` when they overflow Go's limit.
fn leading_int(input: &[u8]) -> Option<(u64, &[u8])> {
    let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut value: u64 = 0;
    for &digit in &input[..digits] {
        if value > MAGNITUDE_LIMIT / 10 {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > MAGNITUDE_LIMIT {
            return None;
        }
    }
    Some((value, &input[digits..]))
}

/// Leading fraction digits and their scale (10^digits kept). Digits past
/// what fits are consumed but, as in Go, add no precision.
fn leading_fraction(input: &[u8]) -> (u64, f64, &[u8]) {
    let digits = input.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut value: u64 = 0;
    let mut scale = 1.0;
    let mut overflowed = false;
    for &digit in &input[..digits] {
        if overflowed {
            continue;
        }
        if value > (MAGNITUDE_LIMIT - 1) / 10 {
            overflowed = true;
            continue;
        }
        let next = value * 10 + u64::from(digit - b'0');
        if next > MAGNITUDE_LIMIT {
            overflowed = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, &input[digits..])
}

/// Go's quoting in time errors: non-ASCII and control bytes as `\xNN`.
fn quote(bytes: &[u8]) -> String {
    let mut quoted = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                quoted.push('\\');
                quoted.push(char::from(b));
            }
            0x20..=0x7e => quoted.push(char::from(b)),
            _ => quoted.push_str(&format!("\\x{b:02x}")),
        }
    }
    quoted.push('"');
    quoted
}

/// A duration in ms as Consul's check JSON shows it: Go's text, empty for
/// none (0).
pub fn check_duration_text(duration_ms: u64) -> String {
    match duration_ms {
        0 => String::new(),
        ms => format_go_duration(GoDuration {
            nanoseconds: i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX),
        }),
    }
}

/// Go's `Duration.String`: "1h2m3.5s", "1.5ms", "2µs", "0s".
pub fn format_go_duration(duration: GoDuration) -> String {
    let magnitude = duration.nanoseconds.unsigned_abs();
    let sign = if duration.nanoseconds < 0 { "-" } else { "" };
    if magnitude == 0 {
        return "0s".to_string();
    }
    if magnitude < NANOS_PER_SECOND {
        let (unit, digits) = if magnitude < NANOS_PER_MICRO {
            ("ns", 0)
        } else if magnitude < NANOS_PER_MILLI {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (whole, fraction) = split_fraction(magnitude, digits);
        return format!("{sign}{whole}{fraction}{unit}");
    }
    let (seconds_total, fraction) = split_fraction(magnitude, 9);
    let seconds = seconds_total % 60;
    let minutes_total = seconds_total / 60;
    let seconds_text = format!("{seconds}{fraction}s");
    if minutes_total == 0 {
        return format!("{sign}{seconds_text}");
    }
    let minutes = minutes_total % 60;
    let hours = minutes_total / 60;
    if hours == 0 {
        format!("{sign}{minutes}m{seconds_text}")
    } else {
        format!("{sign}{hours}h{minutes}m{seconds_text}")
    }
}

/// `value / 10^digits` and its fraction as ".123" without trailing zeros
/// (empty when the fraction is zero).
fn split_fraction(value: u64, digits: u32) -> (u64, String) {
    let divisor = 10u64.pow(digits);
    let fraction = value % divisor;
    if fraction == 0 {
        return (value / divisor, String::new());
    }
    let padded = format!("{fraction:0width$}", width = digits as usize);
    (
        value / divisor,
        format!(".{}", padded.trim_end_matches('0')),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(text: &str) -> i64 {
        parse_go_duration(text).unwrap().nanoseconds
    }

    #[test]
    fn go_examples_parse() {
        assert_eq!(nanos("10s"), 10 * 1_000_000_000);
        assert_eq!(nanos("1m30s"), 90 * 1_000_000_000);
        assert_eq!(nanos("1.5h"), 5_400 * 1_000_000_000);
        assert_eq!(nanos("300ms"), 300_000_000);
        assert_eq!(nanos("2us"), 2_000);
        assert_eq!(nanos("2µs"), 2_000);
        assert_eq!(nanos("2μs"), 2_000);
        assert_eq!(nanos("10ns"), 10);
        assert_eq!(nanos("0"), 0);
        assert_eq!(nanos("-0"), 0);
        assert_eq!(nanos("+5s"), 5_000_000_000);
        assert_eq!(nanos("-1.5s"), -1_500_000_000);
        assert_eq!(nanos(".5s"), 500_000_000);
        assert_eq!(nanos("5.s"), 5_000_000_000);
        assert_eq!(nanos("1h1h"), 2 * 3_600 * 1_000_000_000);
    }

    #[test]
    fn bare_number_without_unit_is_an_error() {
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            "time: missing unit in duration \"10\""
        );
    }

    #[test]
    fn malformed_durations_are_errors_with_gos_words() {
        assert_eq!(
            parse_go_duration("").unwrap_err().to_string(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_go_duration(".s").unwrap_err().to_string(),
            "time: invalid duration \".s\""
        );
        assert_eq!(
            parse_go_duration("3d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"3d\""
        );
        assert_eq!(
            parse_go_duration("1 s").unwrap_err().to_string(),
            "time: unknown unit \" s\" in duration \"1 s\""
        );
        assert!(parse_go_duration("s").is_err());
        assert!(parse_go_duration("-").is_err());
        assert!(parse_go_duration("1.2.3s").is_err());
    }

    #[test]
    fn magnitudes_past_int64_are_errors_but_int64_min_parses() {
        assert!(parse_go_duration("9223372036854775808ns").is_err());
        assert_eq!(nanos("9223372036854775807ns"), i64::MAX);
        assert_eq!(nanos("-9223372036854775808ns"), i64::MIN);
        assert!(parse_go_duration("2562048h").is_err());
        assert!(parse_go_duration("99999999999999999999s").is_err());
    }

    #[test]
    fn std_form_rejects_negative_durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(matches!(
            parse_duration("-1s"),
            Err(DurationError::Negative { .. })
        ));
    }

    #[test]
    fn formats_like_go_duration_string() {
        let format = |n| format_go_duration(GoDuration { nanoseconds: n });
        assert_eq!(format(0), "0s");
        assert_eq!(format(1), "1ns");
        assert_eq!(format(1_500), "1.5µs");
        assert_eq!(format(1_500_000), "1.5ms");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(format(-1_000_000_000), "-1s");
        assert_eq!(format(i64::MIN), "-2562047h47m16.854775808s");
    }
}
