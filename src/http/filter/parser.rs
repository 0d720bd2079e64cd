//! Tokens to an expression tree: `or` binds loosest, then `and`, then `not`.
//! Recursion is bounded by [`MAX_NESTING_DEPTH`], so hostile input cannot
//! exhaust the stack.

use super::lexer::{Token, TokenKind, expected};
use super::{FilterError, MAX_NESTING_DEPTH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    /// The list has the element, the map the key, or the string the substring.
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Match {
        selector: Vec<String>,
        op: MatchOp,
        value: String,
    },
}

struct Parser<'a> {
    tokens: &'a [Token],
    next: usize,
    end_position: usize,
}

pub fn parse(tokens: &[Token], end_position: usize) -> Result<Expr, FilterError> {
    let mut parser = Parser {
        tokens,
        next: 0,
        end_position,
    };
    let expr = parser.or_expr(0)?;
    match parser.peek() {
        None => Ok(expr),
        Some(_) => Err(parser.error("expected \"and\", \"or\" or end of expression")),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.next).map(|t| &t.kind)
    }

    fn peek_word(&self, offset: usize) -> Option<&str> {
        match self.tokens.get(self.next + offset).map(|t| &t.kind) {
            Some(TokenKind::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.next)
            .map_or(self.end_position, |t| t.position)
    }

    fn error(&self, what: &str) -> FilterError {
        expected(self.position(), what)
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.peek_word(0) == Some(word) {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut left = self.and_expr(depth)?;
        while self.eat_word("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr(depth)?));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut left = self.unary(depth)?;
        while self.eat_word("and") {
            left = Expr::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth >= MAX_NESTING_DEPTH {
            return Err(self.error(&format!(
                "expression nested deeper than {MAX_NESTING_DEPTH}"
            )));
        }
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.peek() == Some(&TokenKind::OpenParen) {
            self.next += 1;
            let inner = self.or_expr(depth + 1)?;
            if self.peek() != Some(&TokenKind::CloseParen) {
                return Err(self.error("expected \")\""));
            }
            self.next += 1;
            return Ok(inner);
        }
        self.match_expr()
    }

    /// `Sel op value`, `Sel is [not] empty`, or `value [not] in Sel`.
    fn match_expr(&mut self) -> Result<Expr, FilterError> {
        let value_first = matches!(self.peek(), Some(TokenKind::Quoted(_)))
            || self.peek_word(1) == Some("in")
            || (self.peek_word(1) == Some("not") && self.peek_word(2) == Some("in"));
        if value_first {
            let value = self.value()?;
            let op = if self.eat_word("not") {
                MatchOp::NotIn
            } else {
                MatchOp::In
            };
            if !self.eat_word("in") {
                return Err(self.error("expected \"in\" or \"not in\""));
            }
            let selector = self.selector()?;
            return Ok(Expr::Match {
                selector,
                op,
                value,
            });
        }
        let selector = self.selector()?;
        let (op, value) = self.operator_and_value()?;
        Ok(Expr::Match {
            selector,
            op,
            value,
        })
    }

    fn operator_and_value(&mut self) -> Result<(MatchOp, String), FilterError> {
        match self.peek() {
            Some(TokenKind::Equal) => {
                self.next += 1;
                return Ok((MatchOp::Equal, self.value()?));
            }
            Some(TokenKind::NotEqual) => {
                self.next += 1;
                return Ok((MatchOp::NotEqual, self.value()?));
            }
            _ => {}
        }
        if self.eat_word("is") {
            let op = if self.eat_word("not") {
                MatchOp::IsNotEmpty
            } else {
                MatchOp::IsEmpty
            };
            if !self.eat_word("empty") {
                return Err(self.error("expected \"empty\""));
            }
            return Ok((op, String::new()));
        }
        let negated = self.eat_word("not");
        if self.eat_word("contains") {
            let op = if negated { MatchOp::NotIn } else { MatchOp::In };
            return Ok((op, self.value()?));
        }
        if self.peek_word(0) == Some("matches") {
            return Err(self.error("the \"matches\" operator is not supported by this agent"));
        }
        Err(self.error(
            "expected \"==\", \"!=\", \"contains\", \"not contains\", \"is empty\" or \"is not empty\"",
        ))
    }

    fn selector(&mut self) -> Result<Vec<String>, FilterError> {
        match self.peek_word(0) {
            Some(w) if !w.starts_with('.') && !w.ends_with('.') && !w.contains("..") => {
                let path = w.split('.').map(str::to_string).collect();
                self.next += 1;
                Ok(path)
            }
            _ => Err(self.error("expected a selector")),
        }
    }

    fn value(&mut self) -> Result<String, FilterError> {
        match self.peek() {
            Some(TokenKind::Word(w) | TokenKind::Quoted(w)) => {
                let value = w.clone();
                self.next += 1;
                Ok(value)
            }
            _ => Err(self.error("expected a value")),
        }
    }
}
