//! Consul's `?filter=` expressions (the go-bexpr language), pure: parse once
//! where the request is translated (a bad expression is a 400 before anything
//! is sent to a server), evaluate over each entry rendered as JSON.
//!
//! Applying a filter in an endpoint is one line once the entries are JSON:
//! `filter.retain_json(&mut entries)` keeps the entries that match.
//!
//! Supported: dotted selectors (`Meta.env`), bare, "double-quoted" and
//! `backtick` values, `==`, `!=`, `in`, `not in`, `contains`,
//! `not contains`, `is empty`, `is not empty`, `and`, `or`, `not`,
//! parentheses (not > and > or). `matches` needs a regex engine and is
//! refused with a clear error.

mod evaluate;
mod lexer;
mod parser;

pub use parser::{Expr, MatchOp};

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// Deepest nesting of `not` and parentheses accepted.
pub const MAX_NESTING_DEPTH: usize = 32;

/// Why an expression was refused: the byte position and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub position: usize,
    pub expected: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Failed to create boolean expression evaluator: 1:{}: {}",
            self.position + 1,
            self.expected
        )
    }
}

impl std::error::Error for FilterError {}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        if text.len() > MAX_EXPRESSION_BYTES {
            return Err(FilterError {
                position: MAX_EXPRESSION_BYTES,
                expected: format!("expression longer than {MAX_EXPRESSION_BYTES} bytes"),
            });
        }
        let tokens = lexer::tokenize(text)?;
        let expr = parser::parse(&tokens, text.len())?;
        Ok(Filter { expr })
    }

    pub fn matches(&self, entry: &serde_json::Value) -> bool {
        evaluate::evaluate(&self.expr, entry)
    }

    /// Keeps the entries that match.
    pub fn retain_json(&self, entries: &mut Vec<serde_json::Value>) {
        entries.retain(|entry| self.matches(entry));
    }
}

#[cfg(test)]
mod tests;
