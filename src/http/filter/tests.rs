use super::*;
use serde_json::{Value, json};

fn node() -> Value {
    json!({
        "Node": "solo",
        "Address": "127.0.0.1",
        "Port": 8301,
        "Healthy": true,
        "Meta": {"env": "prod", "rack": ""},
        "Tags": ["web", "v1"],
        "Empty": [],
        "Nothing": null,
        "Service": {"Tags": ["primary"], "Meta": {}}
    })
}

fn eval(text: &str) -> bool {
    Filter::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .matches(&node())
}

fn error(text: &str) -> FilterError {
    Filter::parse(text).expect_err(text)
}

#[test]
fn equality_and_inequality() {
    assert!(eval("Node == solo"));
    assert!(eval(r#"Node == "solo""#));
    assert!(!eval("Node == other"));
    assert!(eval("Node != other"));
    assert!(!eval("Node != `solo`"));
    assert!(!eval("Missing == solo"));
    assert!(eval("Missing != solo"));
}

#[test]
fn literals_are_coerced_to_the_field_type() {
    assert!(eval("Port == 8301"));
    assert!(eval(r#"Port == "8301""#));
    assert!(!eval("Port == 8300"));
    assert!(!eval("Port == eighty"));
    assert!(eval("Healthy == true"));
    assert!(eval("Healthy != false"));
}

#[test]
fn in_and_contains_over_lists_maps_and_strings() {
    assert!(eval("web in Tags"));
    assert!(eval(r#""v1" in Tags"#));
    assert!(eval("Tags contains web"));
    assert!(!eval("Tags contains db"));
    assert!(eval("db not in Tags"));
    assert!(eval("Tags not contains db"));
    assert!(eval("env in Meta"));
    assert!(!eval("zone in Meta"));
    assert!(eval("Address contains `0.0`"));
    assert!(eval(r#""127" in Address"#));
    assert!(eval("Service.Tags contains primary"));
}

#[test]
fn emptiness() {
    for empty in ["Missing", "Nothing", "Empty", "Meta.rack", "Service.Meta"] {
        assert!(eval(&format!("{empty} is empty")), "{empty}");
        assert!(!eval(&format!("{empty} is not empty")), "{empty}");
    }
    assert!(eval("Tags is not empty"));
    assert!(eval("Port is not empty"));
}

#[test]
fn nested_selectors() {
    assert!(eval("Meta.env == prod"));
    assert!(!eval("Meta.env.deeper == prod"));
    assert!(!eval("Node.x == solo"));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    // or binds loosest: true or (false and false)
    assert!(eval("Node == solo or Node == x and Node == y"));
    // and before or: (false and true) or false
    assert!(!eval("Node == x and Node == solo or Node == y"));
    assert!(!eval("(Node == solo or Node == x) and Node == y"));
    // not binds tightest: (not false) and true
    assert!(eval("not Node == x and Node == solo"));
    assert!(!eval("not (Node == solo and Port == 8301)"));
    assert!(eval("not not Node == solo"));
}

#[test]
fn quoting_and_escapes() {
    let filter = Filter::parse(r#"Name == "a \"b\" c""#).unwrap();
    assert!(filter.matches(&json!({"Name": "a \"b\" c"})));
    let raw = Filter::parse(r"Name == `a\n`").unwrap();
    assert!(raw.matches(&json!({"Name": "a\\n"})));
    assert!(
        Filter::parse(r#"Name == "with space and or""#)
            .unwrap()
            .matches(&json!({"Name": "with space and or"}))
    );
}

#[test]
fn errors_give_position_and_expectation() {
    let e = error("Node ==");
    assert_eq!(e.position, 7);
    assert!(e.expected.contains("value"), "{e}");
    let e = error("Node = solo");
    assert_eq!(e.position, 5);
    let e = error(r#"Node == "solo"#);
    assert_eq!(e.position, 8);
    let e = error("(Node == solo");
    assert!(e.expected.contains(')'), "{e}");
    let e = error("Node == solo garbage");
    assert_eq!(e.position, 13);
    let e = error("Node matches `so.*`");
    assert!(e.expected.contains("matches"), "{e}");
    assert!(e.expected.contains("not supported"), "{e}");
    let e = error("Node is full");
    assert!(e.expected.contains("empty"), "{e}");
    assert!(
        error("")
            .to_string()
            .starts_with("Failed to create boolean expression evaluator: 1:1: ")
    );
    assert!(error("Node == solo and").to_string().contains("1:17:"));
}

#[test]
fn bounds_on_length_and_depth() {
    let long = format!("Node == {}", "a".repeat(MAX_EXPRESSION_BYTES));
    assert!(error(&long).expected.contains("longer"));
    let deep_ok = format!("{}Node == solo{}", "(".repeat(31), ")".repeat(31));
    assert!(eval(&deep_ok));
    let too_deep = format!("{}Node == solo{}", "(".repeat(33), ")".repeat(33));
    assert!(error(&too_deep).expected.contains("nested"));
    let nots = format!("{}Node == solo", "not ".repeat(1000));
    assert!(error(&nots).expected.contains("nested"));
    let hostile = "(".repeat(MAX_EXPRESSION_BYTES);
    assert!(Filter::parse(&hostile).is_err());
}

#[test]
fn retain_json_keeps_matches() {
    let mut entries = vec![
        json!({"Node": "a"}),
        json!({"Node": "b"}),
        json!({"Node": "a"}),
    ];
    Filter::parse("Node == a")
        .unwrap()
        .retain_json(&mut entries);
    assert_eq!(entries, vec![json!({"Node": "a"}), json!({"Node": "a"})]);
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(filter) = Filter::parse(&text) {
            let _ = filter.matches(&node());
        }
    }

    #[test]
    fn grammar_shaped_text_never_panics(
        parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "(", ")", "not", "and", "or", "==", "!=", "in", "contains",
                "is", "empty", "Node", "Meta.env", "Tags", "\"x\"", "`y`", "solo",
            ]),
            0..40,
        )
    ) {
        if let Ok(filter) = Filter::parse(&parts.join(" ")) {
            let _ = filter.matches(&node());
        }
    }
}
