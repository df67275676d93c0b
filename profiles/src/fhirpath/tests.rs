use serde_json::{Value, json};

use super::{Env, Invariant};

fn holds(expression: &str, node: &Value) -> Option<bool> {
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
    assert_eq!(inv.holds(&json!({"reference": "#o"}), env), Some(true));
    assert_eq!(inv.holds(&json!({"reference": "#p"}), env), Some(false));
    assert_eq!(
        inv.holds(&json!({"reference": "Patient/1"}), env),
        Some(true)
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
