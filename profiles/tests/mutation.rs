//! Property: whatever is done to a valid resource, the validator answers with an OperationOutcome
//! whose issues are well formed, and never panics.

use proptest::prelude::*;
use serde_json::{Value, json};
use signpost_profiles::{Severity, Validator, operation_outcome};

fn examples() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/valid");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json"))
        .collect()
}

/// Every JSON pointer in a document, the root included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                pointers(c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// One change to one element.
#[derive(Debug, Clone)]
enum Mutation {
    Delete,
    Replace(Value),
    WrapInList,
    Unwrap,
    AddKey(String, Value),
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9 /#:._-]{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("9434765919"),
            Just("9434765918"),
            Just("A81001"),
            Just("https://fhir.nhs.uk/Id/nhs-number"),
            Just("https://fhir.nhs.uk/Id/ods-organization-code"),
            Just("Patient/1"),
            Just("#pat"),
            Just("ServiceRequest"),
            Just("Task"),
            Just("order"),
            Just("active"),
            Just("valueString"),
            Just("resourceType"),
            // Malformed primitives: each breaks a lexical form or value space from the R4 definitions.
            Just("yesterday"),
            Just("2024-13-45T10:00:00Z"),
            Just("2024-02-30"),
            Just("2024-03-01T10:00:00"),
            Just("14/03/1948"),
            Just("has spaces"),
            Just(""),
            Just("   "),
            Just("::::"),
            Just("urn:uuid:NOT-A-UUID"),
            Just("943 476 5919"),
            Just("3000000000")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-zA-Z]{1,12}|resourceType|reference|system|value|code|coding|identifier",
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Delete),
        any_json().prop_map(Mutation::Replace),
        Just(Mutation::WrapInList),
        Just(Mutation::Unwrap),
        (
            "[a-zA-Z]{1,12}|valueString|occurrenceTiming|contained|meta",
            any_json()
        )
            .prop_map(|(k, v)| Mutation::AddKey(k, v)),
    ]
}

fn apply(doc: &mut Value, pointer: &str, m: &Mutation) {
    if pointer.is_empty() {
        if let (Mutation::AddKey(k, v), Some(o)) = (m, doc.as_object_mut()) {
            o.insert(k.clone(), v.clone());
        }
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').expect("non-root pointer");
    let key = key.replace("~1", "/").replace("~0", "~");
    let Some(parent) = doc.pointer_mut(parent) else {
        return;
    };
    let slot = match parent {
        Value::Object(o) => {
            if matches!(m, Mutation::Delete) {
                o.remove(&key);
                return;
            }
            o.get_mut(&key)
        }
        Value::Array(a) => {
            let i: usize = key.parse().expect("index");
            if matches!(m, Mutation::Delete) {
                a.remove(i);
                return;
            }
            a.get_mut(i)
        }
        _ => None,
    };
    let Some(slot) = slot else { return };
    match m {
        Mutation::Delete => {}
        Mutation::Replace(v) => *slot = v.clone(),
        Mutation::WrapInList => *slot = json!([slot.take()]),
        Mutation::Unwrap => {
            if let Some(first) = slot.as_array().and_then(|a| a.first()).cloned() {
                *slot = first;
            }
        }
        Mutation::AddKey(k, v) => {
            if let Some(o) = slot.as_object_mut() {
                o.insert(k.clone(), v.clone());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_resources_always_get_an_operation_outcome(
        which in any::<prop::sample::Index>(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..4),
    ) {
        let validator = Validator::standard().expect("definitions load");
        let examples = examples();
        let mut doc = examples[which.index(examples.len())].clone();
        for (at, m) in &changes {
            let mut all = Vec::new();
            pointers(&doc, String::new(), &mut all);
            let pointer = all[at.index(all.len())].clone();
            apply(&mut doc, &pointer, m);
        }
        let bytes = serde_json::to_vec(&doc).expect("serialise");
        let checked = validator.check(&bytes, None);
        let outcome = operation_outcome(&checked.issues);
        prop_assert_eq!(&outcome["resourceType"], "OperationOutcome");
        for issue in &checked.issues {
            prop_assert!(!issue.diagnostics.is_empty());
            if let (Some(resource), Some(expression)) = (&checked.resource, &issue.expression) {
                prop_assert!(expression.starts_with(&resource.resource_type), "{} outside {}", expression, resource.resource_type);
            }
        }
        // A refusal always says why; an acceptance has no errors.
        if checked.resource.is_none() {
            prop_assert!(checked.issues.iter().any(|i| i.severity == Severity::Error));
        }
    }

    #[test]
    fn a_repeated_member_name_is_always_refused_and_named(
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
    ) {
        let validator = Validator::standard().expect("definitions load");
        let examples = examples();
        let doc = &examples[which.index(examples.len())];
        // Repeat one member of one object, textually, right after itself.
        let mut objects = Vec::new();
        pointers(doc, String::new(), &mut objects);
        objects.retain(|p| doc.pointer(p).and_then(Value::as_object).is_some_and(|o| !o.is_empty()));
        let pointer = &objects[at.index(objects.len())];
        let object = doc.pointer(pointer).and_then(Value::as_object).expect("an object");
        let (key, value) = object.iter().next().expect("a member");
        let text = serde_json::to_string(doc).expect("serialise");
        let member = format!("{}:{}", json!(key), value);
        let target = format!("{{{}", member);
        let Some(start) = text.find(&target) else {
            return Ok(());
        };
        let mut bytes = text.clone();
        bytes.insert_str(start + target.len(), &format!(",{member}"));
        let checked = validator.check(bytes.as_bytes(), None);
        prop_assert!(checked.resource.is_none(), "{} accepted twice", key);
        let issue = &checked.issues[0];
        prop_assert!(issue.diagnostics.contains("appears twice"), "{}", issue.diagnostics);
        let expression = issue.expression.as_deref().unwrap_or("");
        prop_assert!(expression.ends_with(&format!(".{key}")), "{} for {}", expression, key);
    }
}
