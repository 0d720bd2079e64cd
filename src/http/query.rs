//! A request's query string, read the way Consul's handlers read it through
//! Go's `url.Values`: a parameter given with no value is still present
//! (`_, ok := query["recurse"]`), `Get` is the first value, and repeated
//! parameters keep every value. Decoding is `form_urlencoded`'s.

use std::fmt;

/// The decoded `name=value` pairs of a query, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Go rejects a query with a bad escape or a `;` separator; Consul then
    /// answers 500. A client's mistake is a 400 here, with Go's wording.
    pub fn parse(raw_query: &str) -> Result<Query, String> {
        for segment in raw_query.split('&') {
            if segment.contains(';') {
                return Err("invalid semicolon separator in query".to_string());
            }
            check_percent_escapes(segment)?;
        }
        let pairs = form_urlencoded::parse(raw_query.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Ok(Query { pairs })
    }

    /// The parameter is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }

    /// The first value, as Go's `Get`; `Some("")` for `?name` or `?name=`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value when it is not empty: Consul's common
    /// `if v := query.Get(name); v != ""`.
    pub fn get_non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|value| !value.is_empty())
    }

    /// Every value given for a repeated parameter, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A present parameter's first value as a u64, with Go's
    /// `strconv.ParseUint` rules; `Ok(None)` when absent.
    pub fn u64_value(&self, name: &str) -> Result<Option<u64>, GoUintError> {
        self.get(name).map(parse_go_uint).transpose()
    }

    /// Re-encodes the query as Go's `url.Values.Encode` does: sorted by
    /// name, values in the order sent. Consul echoes it in some errors.
    pub fn encode_sorted(&self) -> String {
        let mut sorted: Vec<&(String, String)> = self.pairs.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (name, value) in sorted {
            serializer.append_pair(name, value);
        }
        serializer.finish()
    }
}

/// Every `%` must start a two-digit hex escape; Go rejects the text
/// otherwise, naming the bad escape.
pub fn check_percent_escapes(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('%') {
        let escape = &bytes[at..bytes.len().min(at + 3)];
        if escape.len() < 3 || !escape[1..].iter().all(u8::is_ascii_hexdigit) {
            return Err(format!(
                "invalid URL escape {}",
                go_quote(&String::from_utf8_lossy(escape))
            ));
        }
    }
    Ok(())
}

/// Go's `strconv.ParseUint(text, 10, 64)` failing, with Go's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoUintError {
    InvalidSyntax(String),
    OutOfRange(String),
}

impl fmt::Display for GoUintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GoUintError::InvalidSyntax(text) => write!(
                f,
                "strconv.ParseUint: parsing {}: invalid syntax",
                go_quote(text)
            ),
            GoUintError::OutOfRange(text) => write!(
                f,
                "strconv.ParseUint: parsing {}: value out of range",
                go_quote(text)
            ),
        }
    }
}

/// Decimal digits only: unlike Rust's `u64::from_str`, Go takes no `+`.
pub fn parse_go_uint(text: &str) -> Result<u64, GoUintError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GoUintError::InvalidSyntax(text.to_string()));
    }
    text.parse::<u64>()
        .map_err(|_| GoUintError::OutOfRange(text.to_string()))
}

/// Go's `%q` for the ASCII text Consul's messages quote: backslash escapes
/// for quotes, backslashes and control characters.
pub fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_without_value_is_present_and_empty() {
        let query = Query::parse("recurse&keys=").unwrap();
        assert!(query.has("recurse"));
        assert_eq!(query.get("recurse"), Some(""));
        assert_eq!(query.get_non_empty("keys"), None);
        assert!(!query.has("raw"));
    }

    #[test]
    fn get_is_the_first_of_repeated_values() {
        let query = Query::parse("tag=a&tag=b&x=1").unwrap();
        assert_eq!(query.get("tag"), Some("a"));
        assert_eq!(query.values("tag").collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn values_are_form_decoded() {
        let query = Query::parse("near=a%2Fb&sep=+").unwrap();
        assert_eq!(query.get("near"), Some("a/b"));
        assert_eq!(query.get("sep"), Some(" "));
    }

    #[test]
    fn u64_values_follow_go_parse_uint() {
        let query =
            Query::parse("cas=18446744073709551615&bad=%2B1&big=18446744073709551616").unwrap();
        assert_eq!(query.u64_value("cas"), Ok(Some(u64::MAX)));
        assert_eq!(query.u64_value("missing"), Ok(None));
        assert_eq!(
            query.u64_value("bad").unwrap_err().to_string(),
            "strconv.ParseUint: parsing \"+1\": invalid syntax"
        );
        assert_eq!(
            query.u64_value("big").unwrap_err().to_string(),
            "strconv.ParseUint: parsing \"18446744073709551616\": value out of range"
        );
    }

    #[test]
    fn bad_escape_and_semicolon_are_rejected_as_go_does() {
        assert_eq!(
            Query::parse("a=%zz").unwrap_err(),
            "invalid URL escape \"%zz\""
        );
        assert_eq!(
            Query::parse("a=%4").unwrap_err(),
            "invalid URL escape \"%4\""
        );
        assert_eq!(
            Query::parse("a=1;b=2").unwrap_err(),
            "invalid semicolon separator in query"
        );
    }

    #[test]
    fn encode_sorted_orders_by_name_like_url_values() {
        let query = Query::parse("release=s2&cas=5&acquire=s1").unwrap();
        assert_eq!(query.encode_sorted(), "acquire=s1&cas=5&release=s2");
    }
}
