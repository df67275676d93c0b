use serde_json::{Value, json};

use super::{Env, Invariant};

fn evaluate(expression: &str, node: &Value) -> Result<Option<bool>, super::EvalError> {
    let inv = Invariant::compile("t-1", "error", "test", expression).expect("compiles");
    inv.holds(
        node,
        Env {
            resource: node,
            root: node,
            context: node,
        },
    )
}

fn holds(expression: &str, node: &Value) -> Option<bool> {
    evaluate(expression, node).expect("evaluates")
}

#[test]
fn ext_1_needs_one_of_extension_and_value() {
    let e = "extension.exists() != value.exists()";
    assert_eq!(
        holds(e, &json!({"url": "u", "valueString": "x"})),
        Some(true)
    );
    assert_eq!(holds(e, &json!({"url": "u"})), Some(false));
    assert_eq!(
        holds(
            e,
            &json!({"url": "u", "valueString": "x", "extension": [{"url": "v"}]})
        ),
        Some(false)
    );
}

#[test]
fn per_1_orders_date_times_of_any_precision() {
    let e = "start.hasValue().not() or end.hasValue().not() or (start <= end)";
    assert_eq!(
        holds(e, &json!({"start": "2024-01-02", "end": "2024-01-01"})),
        Some(false)
    );
    assert_eq!(
        holds(e, &json!({"start": "2024-01-01", "end": "2024-01-02"})),
        Some(true)
    );
    assert_eq!(
        holds(
            e,
            &json!({"start": "2024-01-01T10:00:00+01:00", "end": "2024-01-01T09:30:00Z"})
        ),
        Some(true)
    );
    // Different precisions that overlap cannot be ordered: not a failure.
    assert_eq!(
        holds(e, &json!({"start": "2024-01", "end": "2024-01-15"})),
        None
    );
}

#[test]
fn ref_1_finds_contained_ids() {
    let e = "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))";
    let root = json!({"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o"}]});
    let inv = Invariant::compile("ref-1", "error", "t", e).expect("compiles");
    let env = Env {
        resource: &root,
        root: &root,
        context: &root,
    };
    assert_eq!(inv.holds(&json!({"reference": "#o"}), env), Ok(Some(true)));
    assert_eq!(inv.holds(&json!({"reference": "#p"}), env), Ok(Some(false)));
    assert_eq!(
        inv.holds(&json!({"reference": "Patient/1"}), env),
        Ok(Some(true))
    );
}

#[test]
fn unsupported_functions_are_refused_at_compile_time() {
    assert!(Invariant::compile("x-1", "error", "t", "name.aggregate($this)").is_err());
    assert!(Invariant::compile("x-1", "error", "t", "name.exists(").is_err());
}

#[test]
fn every_base_constraint_compiles_including_the_ones_signpost_needs() {
    // Loading fails with the definition's name if any constraint is outside the engine's subset.
    let base = crate::r4::Base::standard().expect("every constraint compiles");
    let keys = base.invariant_keys();
    for needed in [
        "dom-2", "dom-3", "dom-4", "dom-5", "dom-6", "ele-1", "ext-1", "ref-1", "txt-1", "txt-2",
        "bdl-1", "bdl-2", "bdl-3", "bdl-4", "bdl-5", "bdl-7", "bdl-8", "bdl-9", "bdl-10", "bdl-11",
        "bdl-12", "per-1", "qty-3", "inv-1", "org-1", "pat-1", "prr-1", "sev-1",
    ] {
        assert!(keys.contains(&needed), "{needed} is not among {keys:?}");
    }
}

#[test]
fn a_singleton_operator_given_several_values_is_an_error_not_an_answer() {
    let two_names = json!({"name": [{"text": "a"}, {"text": "b"}]});
    for e in [
        "name.text = 'a' or name.text.startsWith('a')",
        "name.text < 'c'",
        "name.text + 'x' = 'ax'",
        "name.text in ('a' | 'b')",
        "name.text.not()",
        "name.text",
    ] {
        assert!(
            matches!(
                evaluate(e, &two_names),
                Err(super::EvalError::NotSingleton { .. })
            ),
            "{e}: {:?}",
            evaluate(e, &two_names)
        );
    }
    // Collection operators and functions take several values.
    assert_eq!(holds("name.text = ('a' | 'b')", &two_names), Some(true));
    assert_eq!(holds("name.text.count() = 2", &two_names), Some(true));
    assert_eq!(
        holds("name.where(text = 'b').exists()", &two_names),
        Some(true)
    );
    assert_eq!(
        holds("('a' | 'b' | 'c') contains name.text.first()", &two_names),
        Some(true)
    );
}

#[test]
fn an_invariant_that_cannot_be_evaluated_is_reported_with_its_reason() {
    let inv = Invariant::compile(
        "t-2",
        "error",
        "the text starts with a",
        "name.text.startsWith('a')",
    )
    .expect("compiles");
    let node = json!({"name": [{"text": "a"}, {"text": "b"}]});
    let env = Env {
        resource: &node,
        root: &node,
        context: &node,
    };
    let mut issues = Vec::new();
    inv.check(&node, env, "Patient", &mut issues);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].severity, crate::outcome::Severity::Error);
    assert_eq!(issues[0].expression.as_deref(), Some("Patient"));
    assert!(
        issues[0].diagnostics.contains("t-2 could not be evaluated")
            && issues[0]
                .diagnostics
                .contains("startsWith() takes a single value, but was given 2"),
        "{}",
        issues[0].diagnostics
    );
}

#[test]
fn numbers_are_exact_decimals() {
    let node = json!({"a": 0.1, "b": 0.2, "c": 0.3, "d": 1.10});
    assert_eq!(holds("a + b = c", &node), Some(true));
    assert_eq!(holds("d = 1.1", &node), Some(true));
    assert_eq!(holds("a + b > 0.3", &node), Some(false));
    let written: Value = serde_json::from_str(r#"{"v": 2.50}"#).expect("json");
    assert_eq!(holds("v.toString() = '2.50'", &written), Some(true));
    assert_eq!(holds("v = 2.5", &written), Some(true));
}

#[test]
fn is_as_and_of_type_know_a_choice_element_s_type_from_its_name() {
    let q = json!({"valueQuantity": {"value": 3}, "answerBoolean": true, "probabilityDecimal": 40});
    assert_eq!(holds("value is Quantity", &q), Some(true));
    assert_eq!(holds("value is Range", &q), Some(false));
    assert_eq!(holds("value.ofType(Quantity).value = 3", &q), Some(true));
    assert_eq!(holds("answer is Boolean", &q), Some(true));
    assert_eq!(holds("answer is System.Boolean", &q), Some(true));
    assert_eq!(
        holds(
            "probability is decimal implies (probability as decimal) <= 100",
            &q
        ),
        Some(true)
    );
    let range = json!({"probabilityRange": {"low": {"value": 1}}});
    assert_eq!(holds("probability is decimal", &range), Some(false));
    let bundle = json!({"entry": [{"resource": {"resourceType": "Composition"}}]});
    assert_eq!(
        holds("entry.first().resource.is(Composition)", &bundle),
        Some(true)
    );
    assert_eq!(
        holds("entry.first().resource.is(MessageHeader)", &bundle),
        Some(false)
    );
}

#[test]
fn matches_is_a_partial_match_as_fhirpath_n1_says() {
    let node = json!({"name": "my capability 1"});
    assert_eq!(
        holds("name.matches('[A-Z]([A-Za-z0-9_]){0,254}')", &node),
        Some(false)
    );
    assert_eq!(holds("name.matches('cap')", &node), Some(true));
    assert_eq!(holds("name.matches('^cap')", &node), Some(false));
}

#[test]
fn iif_combine_tail_resolve_and_context() {
    let root = json!({
        "resourceType": "CareTeam",
        "contained": [{"resourceType": "Practitioner", "id": "p"}],
        "participant": [{"member": {"reference": "#p"}}, {"member": {"reference": "Patient/1"}}],
        "code": ["a", "b", "c"],
        "more": ["a"]
    });
    let e = "participant.member.resolve().iif(empty(), true, ofType(Practitioner).exists())";
    assert_eq!(holds(e, &root), Some(true));
    assert_eq!(holds("code.combine(more).isDistinct()", &root), Some(false));
    assert_eq!(holds("code.tail().count() = 2", &root), Some(true));
    assert_eq!(
        holds("code.all(%context.code contains $this)", &root),
        Some(true)
    );
    assert_eq!(
        holds("iif(more.exists(), 'y', 'n') = 'y'", &root),
        Some(true)
    );
}
