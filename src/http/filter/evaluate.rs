//! An expression tree applied to one entry rendered as JSON. Literals are
//! coerced to the field's type as go-bexpr does: a number or bool field
//! compares against the literal parsed as that type.

use super::parser::{Expr, MatchOp};
use serde_json::Value;

pub fn evaluate(expr: &Expr, entry: &Value) -> bool {
    match expr {
        Expr::And(a, b) => evaluate(a, entry) && evaluate(b, entry),
        Expr::Or(a, b) => evaluate(a, entry) || evaluate(b, entry),
        Expr::Not(inner) => !evaluate(inner, entry),
        Expr::Match {
            selector,
            op,
            value,
        } => {
            let field = selector
                .iter()
                .try_fold(entry, |node, key| node.as_object()?.get(key));
            match_field(field, *op, value)
        }
    }
}

fn match_field(field: Option<&Value>, op: MatchOp, literal: &str) -> bool {
    match op {
        MatchOp::Equal => field.is_some_and(|f| equals(f, literal)),
        MatchOp::NotEqual => !field.is_some_and(|f| equals(f, literal)),
        MatchOp::In => field.is_some_and(|f| contains(f, literal)),
        MatchOp::NotIn => !field.is_some_and(|f| contains(f, literal)),
        MatchOp::IsEmpty => is_empty(field),
        MatchOp::IsNotEmpty => !is_empty(field),
    }
}

fn equals(field: &Value, literal: &str) -> bool {
    match field {
        Value::String(s) => s == literal,
        Value::Bool(b) => literal.parse::<bool>().is_ok_and(|l| l == *b),
        Value::Number(n) => match (n.as_f64(), literal.parse::<f64>()) {
            (Some(f), Ok(l)) => f == l,
            _ => false,
        },
        _ => false,
    }
}

fn contains(field: &Value, literal: &str) -> bool {
    match field {
        Value::Array(items) => items.iter().any(|item| equals(item, literal)),
        Value::Object(map) => map.contains_key(literal),
        Value::String(s) => s.contains(literal),
        _ => false,
    }
}

fn is_empty(field: Option<&Value>) -> bool {
    match field {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    }
}
