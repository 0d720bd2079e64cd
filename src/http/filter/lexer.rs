//! Bytes of a filter expression to tokens with their positions.

use super::FilterError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    OpenParen,
    CloseParen,
    Equal,
    NotEqual,
    /// A bare word: a selector, keyword, number or unquoted value.
    Word(String),
    /// A "double-quoted" or `backtick` string.
    Quoted(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub position: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '+')
}

pub fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(position, c)) = chars.peek() {
        let kind = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '(' => {
                chars.next();
                TokenKind::OpenParen
            }
            ')' => {
                chars.next();
                TokenKind::CloseParen
            }
            '=' | '!' => {
                chars.next();
                match chars.next() {
                    Some((_, '=')) if c == '=' => TokenKind::Equal,
                    Some((_, '=')) => TokenKind::NotEqual,
                    _ => return Err(expected(position, "expected \"==\" or \"!=\"")),
                }
            }
            '"' | '`' => TokenKind::Quoted(quoted(&mut chars, position, c)?),
            c if is_word_char(c) => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek().filter(|(_, c)| is_word_char(*c)) {
                    word.push(c);
                    chars.next();
                }
                TokenKind::Word(word)
            }
            _ => return Err(expected(position, &format!("unexpected character {c:?}"))),
        };
        tokens.push(Token { kind, position });
    }
    Ok(tokens)
}

/// A quoted string; double quotes take backslash escapes, backticks are raw.
fn quoted(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    position: usize,
    quote: char,
) -> Result<String, FilterError> {
    chars.next();
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err(expected(position, "expected closing quote")),
            Some((_, c)) if c == quote => return Ok(value),
            Some((at, '\\')) if quote == '"' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, c @ ('"' | '\\'))) => value.push(c),
                _ => return Err(expected(at, "expected a valid escape")),
            },
            Some((_, c)) => value.push(c),
        }
    }
}

pub fn expected(position: usize, what: &str) -> FilterError {
    FilterError {
        position,
        expected: what.to_string(),
    }
}
