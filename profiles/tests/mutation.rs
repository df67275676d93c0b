//! Property: whatever is done to a valid resource, or sent as any R4 resource type, the validator
//! answers with an OperationOutcome whose issues are well formed (severity, code, the element's
//! path and words), and never panics.

use proptest::prelude::*;
use serde_json::{Value, json};
use signpost_profiles::{Checked, Severity, Validator, operation_outcome};

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

/// A JSON number as written, beyond what binary floating point (or exact decimals) holds.
fn number(text: &'static str) -> Value {
    serde_json::from_str(text).expect("a JSON number")
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        // Decimals the FHIRPath engine computes with exactly, and ones too long for it.
        prop_oneof![
            Just(number("0.1")),
            Just(number("2.50")),
            Just(number("1e-40")),
            Just(number("123456789012345678901234567890123456789012.5")),
            Just(number("-0")),
        ],
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
            // Other R4 resource types (a Bundle entry or contained resource can be any) and
            // choice elements whose names carry their type (is/as/ofType read them).
            Just("CareTeam"),
            Just("Questionnaire"),
            Just("Bundle"),
            Just("Composition"),
            Just("MessageHeader"),
            Just("Practitioner"),
            Just("DomainResource"),
            Just("valueQuantity"),
            Just("answerBoolean"),
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
                "[a-zA-Z]{1,12}|resourceType|reference|system|value|code|coding|identifier|valueQuantity|valueBoolean|entry|resource|contained|id",
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
            "[a-zA-Z]{1,12}|valueString|occurrenceTiming|contained|meta|valueQuantity|text",
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

/// What every answer must be: an OperationOutcome, each issue with its severity, code, the path
/// of the element it is about (inside the resource when one was read) and words to act on; a
/// refusal says why.
fn well_formed(checked: &Checked) -> Result<(), TestCaseError> {
    let outcome = operation_outcome(&checked.issues);
    prop_assert_eq!(&outcome["resourceType"], "OperationOutcome");
    let listed = outcome["issue"].as_array().map_or(0, Vec::len);
    prop_assert_eq!(listed, checked.issues.len());
    for (issue, json) in checked
        .issues
        .iter()
        .zip(outcome["issue"].as_array().into_iter().flatten())
    {
        prop_assert!(
            json["severity"].is_string() && json["code"].is_string(),
            "{}",
            json
        );
        prop_assert!(!issue.code.code().is_empty());
        prop_assert!(issue.diagnostics.trim().len() > 10, "no words: {:?}", issue);
        let expression = issue.expression.as_deref().unwrap_or("");
        prop_assert!(!expression.is_empty(), "no path: {:?}", issue);
        if let Some(resource) = &checked.resource {
            prop_assert!(
                expression.starts_with(&resource.resource_type),
                "{} outside {}",
                expression,
                resource.resource_type
            );
        }
    }
    if checked.resource.is_none() {
        prop_assert!(checked.issues.iter().any(|i| i.severity == Severity::Error));
    }
    Ok(())
}

/// Every R4 resource type with the names of its top-level elements (choice elements by each
/// JSON name), from the shipped base definitions.
fn r4_types() -> &'static [(String, Vec<String>)] {
    static TYPES: std::sync::OnceLock<Vec<(String, Vec<String>)>> = std::sync::OnceLock::new();
    TYPES.get_or_init(read_r4_types)
}

fn read_r4_types() -> Vec<(String, Vec<String>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("definitions/r4");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("definitions/r4")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for file in files {
        let sd: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        if sd["kind"] != "resource" || sd["abstract"] == true {
            continue;
        }
        let name = sd["id"].as_str().expect("id").to_owned();
        let mut elements = Vec::new();
        for e in sd["snapshot"]["element"].as_array().expect("snapshot") {
            let path = e["path"].as_str().expect("path");
            let Some(member) = path.strip_prefix(&format!("{name}.")) else {
                continue;
            };
            if member.contains('.') {
                continue;
            }
            match member.strip_suffix("[x]") {
                Some(stem) => {
                    for t in e["type"].as_array().into_iter().flatten() {
                        let code = t["code"].as_str().expect("code");
                        let mut chars = code.chars();
                        let first = chars
                            .next()
                            .map(|c| c.to_ascii_uppercase())
                            .expect("a code");
                        elements.push(format!("{stem}{first}{}", chars.as_str()));
                    }
                }
                None => elements.push(member.to_owned()),
            }
        }
        out.push((name, elements));
    }
    out
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
        well_formed(&validator.check(&bytes, None))?;
    }

    #[test]
    fn any_r4_resource_type_with_any_members_gets_a_well_formed_answer(
        which in any::<prop::sample::Index>(),
        members in prop::collection::vec((any::<prop::sample::Index>(), any_json()), 0..6),
        nest in 0u8..3,
    ) {
        let validator = Validator::standard().expect("definitions load");
        let types = r4_types();
        prop_assert!(types.len() > 140, "{} resource types", types.len());
        let (name, elements) = &types[which.index(types.len())];
        let mut resource = json!({"resourceType": name});
        for (at, value) in members {
            if !elements.is_empty() {
                resource[elements[at.index(elements.len())].as_str()] = value;
            }
        }
        // The same resource alone, contained in a ServiceRequest, and as a Bundle entry.
        let doc = match nest {
            0 => resource,
            1 => json!({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                "subject": {"reference": "#r"}, "contained": [resource]}),
            _ => json!({"resourceType": "Bundle", "type": "collection",
                "entry": [{"fullUrl": "urn:uuid:0b9a3a1e-1f43-4a5f-9e3c-2f1d6b3a9c11", "resource": resource}]}),
        };
        let bytes = serde_json::to_vec(&doc).expect("serialise");
        well_formed(&validator.check(&bytes, None))?;
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
