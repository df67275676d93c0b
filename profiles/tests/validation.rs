//! The validator against Signpost's own examples: every valid one accepted, each invalid case
//! refused with its particular issue code and location.

use std::path::PathBuf;

use serde_json::{Value, json};
use signpost_profiles::{Severity, Validator, has_errors, operation_outcome};

fn examples_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(kind)
}

fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(examples_dir("valid").join(name)).expect("example exists");
    serde_json::from_str(&text).expect("example is JSON")
}

fn validator() -> &'static Validator {
    Validator::standard().expect("shipped definitions load")
}

#[test]
fn every_valid_example_is_accepted_without_any_issue() {
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir("valid")).expect("valid examples") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        let result = validator().check(&bytes, None);
        assert!(
            result.resource.is_some(),
            "{}: {:?}",
            path.display(),
            result.issues
        );
        assert!(
            result.issues.is_empty(),
            "{}: {:#?}",
            path.display(),
            result.issues
        );
        checked += 1;
    }
    assert!(
        checked >= 6,
        "expected the shipped examples, found {checked}"
    );
}

#[test]
fn every_profile_has_a_valid_example() {
    let examples: Vec<Value> = std::fs::read_dir(examples_dir("valid"))
        .expect("valid examples")
        .map(|e| {
            serde_json::from_slice(&std::fs::read(e.expect("entry").path()).expect("read"))
                .expect("json")
        })
        .collect();
    let mut types: Vec<String> = Vec::new();
    for e in &examples {
        types.push(e["resourceType"].as_str().unwrap_or_default().to_owned());
        for entry in e["entry"].as_array().into_iter().flatten() {
            types.push(
                entry["resource"]["resourceType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    for (url, resource_type) in validator().profiles() {
        assert!(
            types.iter().any(|t| t == resource_type),
            "no valid example for {url}"
        );
    }
}

/// One invalid case: start from a valid example, break one thing, expect one particular issue.
struct Case {
    name: &'static str,
    example: &'static str,
    mutate: fn(&mut Value),
    severity: Severity,
    code: &'static str,
    expression: &'static str,
}

const SR: &str = "referral-from-gp.json";
const ONWARD: &str = "onward-referral-to-vcs.json";
const TASK: &str = "task-completed-with-outcomes.json";
const ORG: &str = "organization-vcs-provider.json";
const PATIENT: &str = "patient.json";
const BUNDLE: &str = "bundle-referral-with-patient.json";

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let parent = v.pointer_mut(parent).expect("parent exists");
    match parent {
        Value::Object(o) => {
            o.remove(key).expect("element exists");
        }
        Value::Array(a) => {
            a.remove(key.parse().expect("index"));
        }
        _ => panic!("{pointer} is not in an object or array"),
    }
}

/// Sets (or adds, in an object) the element at `pointer`.
fn set(v: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    match v.pointer_mut(parent).expect("parent exists") {
        Value::Object(o) => {
            o.insert(key.to_owned(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().expect("index")] = value,
        _ => panic!("{pointer} is not in an object or array"),
    }
}

fn error(
    name: &'static str,
    example: &'static str,
    mutate: fn(&mut Value),
    code: &'static str,
    expression: &'static str,
) -> Case {
    Case {
        name,
        example,
        mutate,
        severity: Severity::Error,
        code,
        expression,
    }
}

fn warning(
    name: &'static str,
    example: &'static str,
    mutate: fn(&mut Value),
    code: &'static str,
    expression: &'static str,
) -> Case {
    Case {
        name,
        example,
        mutate,
        severity: Severity::Warning,
        code,
        expression,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // ServiceRequest: bindings
        error(
            "status outside request-status",
            SR,
            |v| set(v, "/status", json!("sent")),
            "code-invalid",
            "ServiceRequest.status",
        ),
        error(
            "intent outside the referral intents",
            SR,
            |v| set(v, "/intent", json!("proposal")),
            "code-invalid",
            "ServiceRequest.intent",
        ),
        error(
            "priority outside request-priority",
            SR,
            |v| set(v, "/priority", json!("whenever")),
            "code-invalid",
            "ServiceRequest.priority",
        ),
        warning(
            "service code not a social prescribing referral",
            SR,
            |v| set(v, "/code/coding/0/code", json!("183524004")),
            "code-invalid",
            "ServiceRequest.code",
        ),
        warning(
            "need coded outside the needs value set",
            SR,
            |v| {
                set(
                    v,
                    "/reasonCode/0",
                    json!({"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}),
                )
            },
            "code-invalid",
            "ServiceRequest.reasonCode[0]",
        ),
        // ServiceRequest: cardinality
        error(
            "no service code",
            SR,
            |v| remove(v, "/code"),
            "required",
            "ServiceRequest.code",
        ),
        error(
            "service code as text only",
            SR,
            |v| set(v, "/code", json!({"text": "social prescribing"})),
            "required",
            "ServiceRequest.code.coding",
        ),
        error(
            "no subject",
            SR,
            |v| remove(v, "/subject"),
            "required",
            "ServiceRequest.subject",
        ),
        error(
            "no requester",
            SR,
            |v| remove(v, "/requester"),
            "required",
            "ServiceRequest.requester",
        ),
        error(
            "requester named but not identified",
            SR,
            |v| remove(v, "/requester/identifier"),
            "required",
            "ServiceRequest.requester.identifier",
        ),
        error(
            "requester identifier without a value",
            SR,
            |v| remove(v, "/requester/identifier/value"),
            "required",
            "ServiceRequest.requester.identifier.value",
        ),
        // ServiceRequest: fixed values and identifiers
        error(
            "subject identified by another system",
            SR,
            |v| {
                set(
                    v,
                    "/subject/identifier/system",
                    json!("https://fhir.nhs.uk/Id/nhs-numbr"),
                )
            },
            "value",
            "ServiceRequest.subject.identifier.system",
        ),
        error(
            "requester identified by another system",
            SR,
            |v| {
                set(
                    v,
                    "/requester/identifier/system",
                    json!("https://fhir.nhs.uk/Id/ods-site-code"),
                )
            },
            "value",
            "ServiceRequest.requester.identifier.system",
        ),
        error(
            "NHS number with a wrong check digit",
            SR,
            |v| set(v, "/subject/identifier/value", json!("9434765918")),
            "value",
            "ServiceRequest.subject.identifier.value",
        ),
        error(
            "NHS number of nine digits",
            SR,
            |v| set(v, "/subject/identifier/value", json!("943476591")),
            "value",
            "ServiceRequest.subject.identifier.value",
        ),
        error(
            "NHS number with letters",
            SR,
            |v| set(v, "/subject/identifier/value", json!("94347659AB")),
            "value",
            "ServiceRequest.subject.identifier.value",
        ),
        error(
            "ODS code in lower case",
            SR,
            |v| set(v, "/requester/identifier/value", json!("a81001")),
            "value",
            "ServiceRequest.requester.identifier.value",
        ),
        error(
            "ODS code too long",
            SR,
            |v| set(v, "/requester/identifier/value", json!("A81001A81001")),
            "value",
            "ServiceRequest.requester.identifier.value",
        ),
        // ServiceRequest: types and references
        error(
            "occurrence as a Timing",
            SR,
            |v| {
                v["occurrenceTiming"] = json!({"code": {"text": "weekly"}});
            },
            "structure",
            "ServiceRequest.occurrenceTiming",
        ),
        error(
            "subject references a Group",
            SR,
            |v| {
                set(v, "/subject/reference", json!("Group/12"));
                // The contained Patient is no longer referred to: dom-3 would refuse it first.
                if let Some(o) = v.as_object_mut() {
                    o.remove("contained");
                }
            },
            "invalid",
            "ServiceRequest.subject.reference",
        ),
        error(
            "requester references a Practitioner",
            SR,
            |v| {
                set(
                    v,
                    "/requester",
                    json!({"reference": "Practitioner/dr-shah", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}}),
                )
            },
            "invalid",
            "ServiceRequest.requester.reference",
        ),
        error(
            "requester typed as a Device",
            SR,
            |v| {
                v["requester"]["type"] = json!("Device");
            },
            "invalid",
            "ServiceRequest.requester.type",
        ),
        error(
            "performer is a Patient",
            ONWARD,
            |v| set(v, "/performer/0", json!({"reference": "Patient/1"})),
            "invalid",
            "ServiceRequest.performer[0].reference",
        ),
        error(
            "based on a Task",
            ONWARD,
            |v| set(v, "/basedOn/0/reference", json!("Task/1")),
            "invalid",
            "ServiceRequest.basedOn[0].reference",
        ),
        // ServiceRequest: profile claims
        error(
            "claims the Task profile",
            SR,
            |v| {
                v["meta"] = json!({"profile": ["https://signpost.example/fhir/StructureDefinition/SignpostTask"]});
            },
            "invalid",
            "ServiceRequest.meta.profile[0]",
        ),
        warning(
            "claims a profile Signpost does not hold",
            SR,
            |v| {
                v["meta"] =
                    json!({"profile": ["https://example.org/StructureDefinition/SomethingElse"]});
            },
            "not-supported",
            "ServiceRequest.meta.profile[0]",
        ),
        // Contained Patient
        error(
            "contained patient's NHS number is wrong",
            SR,
            |v| set(v, "/contained/0/identifier/0/value", json!("9434765910")),
            "value",
            "ServiceRequest.contained[0].identifier[0].value",
        ),
        error(
            "contained patient's gender is not a code",
            SR,
            |v| set(v, "/contained/0/gender", json!("F")),
            "code-invalid",
            "ServiceRequest.contained[0].gender",
        ),
        error(
            "contained patient has two NHS numbers",
            SR,
            |v| {
                v["contained"][0]["identifier"].as_array_mut().expect("array").push(json!({"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}));
            },
            "structure",
            "ServiceRequest.contained[0].identifier",
        ),
        error(
            "contained patient's NHS number has no value",
            SR,
            |v| remove(v, "/contained/0/identifier/0/value"),
            "required",
            "ServiceRequest.contained[0].identifier[0].value",
        ),
        // Task
        error(
            "task status outside task-status",
            TASK,
            |v| set(v, "/status", json!("done")),
            "code-invalid",
            "Task.status",
        ),
        error(
            "task intent not order",
            TASK,
            |v| set(v, "/intent", json!("plan")),
            "value",
            "Task.intent",
        ),
        error(
            "task code not fulfill",
            TASK,
            |v| set(v, "/code/coding/0/code", json!("approve")),
            "value",
            "Task.code",
        ),
        error(
            "task without focus",
            TASK,
            |v| remove(v, "/focus"),
            "required",
            "Task.focus",
        ),
        error(
            "task focus is a Patient",
            TASK,
            |v| set(v, "/focus/reference", json!("Patient/1")),
            "invalid",
            "Task.focus.reference",
        ),
        error(
            "task for a wrong NHS number",
            TASK,
            |v| set(v, "/for/identifier/value", json!("1234567890")),
            "value",
            "Task.for.identifier.value",
        ),
        error(
            "task without owner",
            TASK,
            |v| remove(v, "/owner"),
            "required",
            "Task.owner",
        ),
        error(
            "task owner by another system",
            TASK,
            |v| {
                set(
                    v,
                    "/owner/identifier/system",
                    json!("https://example.org/org"),
                )
            },
            "value",
            "Task.owner.identifier.system",
        ),
        error(
            "outcome measure not in the code system",
            TASK,
            |v| set(v, "/output/0/type/coding/0/code", json!("happiness-score")),
            "code-invalid",
            "Task.output[0].type",
        ),
        error(
            "outcome as a string",
            TASK,
            |v| {
                let o = v["output"][0].as_object_mut().expect("object");
                o.remove("valueInteger");
                o.insert("valueString".into(), json!("8"));
            },
            "structure",
            "Task.output[0].valueString",
        ),
        error(
            "task part of a ServiceRequest",
            TASK,
            |v| {
                v["partOf"] = json!([{"reference": "ServiceRequest/1"}]);
            },
            "invalid",
            "Task.partOf[0].reference",
        ),
        // Organization
        error(
            "organisation without identifiers",
            ORG,
            |v| remove(v, "/identifier"),
            "required",
            "Organization.identifier",
        ),
        error(
            "organisation without an ODS code",
            ORG,
            |v| remove(v, "/identifier/0"),
            "required",
            "Organization.identifier",
        ),
        error(
            "organisation with two ODS codes",
            ORG,
            |v| {
                v["identifier"].as_array_mut().expect("array").push(json!({"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "VCS002"}));
            },
            "structure",
            "Organization.identifier",
        ),
        error(
            "organisation without a name",
            ORG,
            |v| remove(v, "/name"),
            "required",
            "Organization.name",
        ),
        // Patient
        error(
            "patient managed by a Patient",
            PATIENT,
            |v| {
                v["managingOrganization"] = json!({"reference": "Patient/2"});
            },
            "invalid",
            "Patient.managingOrganization.reference",
        ),
        error(
            "patient's GP is a Device",
            PATIENT,
            |v| set(v, "/generalPractitioner/0/reference", json!("Device/7")),
            "invalid",
            "Patient.generalPractitioner[0].reference",
        ),
        // Bundles: each entry checked in place
        error(
            "bundle entry referral with a bad status",
            BUNDLE,
            |v| set(v, "/entry/0/resource/status", json!("sent")),
            "code-invalid",
            "Bundle.entry[0].resource.status",
        ),
        error(
            "bundle entry patient with a bad NHS number",
            BUNDLE,
            |v| {
                set(
                    v,
                    "/entry/1/resource/identifier/0/value",
                    json!("9434765918"),
                )
            },
            "value",
            "Bundle.entry[1].resource.identifier[0].value",
        ),
        // FHIR R4 structure (fhirbolt), reported the same way
        error(
            "an element R4 does not define",
            SR,
            |v| {
                v["colour"] = json!("blue");
            },
            "structure",
            "ServiceRequest.colour",
        ),
        error(
            "a number where R4 has a code",
            SR,
            |v| set(v, "/status", json!(3)),
            "structure",
            "ServiceRequest.status",
        ),
        error(
            "an empty list (fhirbolt panicked on these)",
            SR,
            |v| set(v, "/identifier", json!([])),
            "structure",
            "ServiceRequest.identifier",
        ),
        error(
            "a null element",
            SR,
            |v| set(v, "/authoredOn", Value::Null),
            "structure",
            "ServiceRequest.authoredOn",
        ),
        error(
            "an empty object",
            SR,
            |v| set(v, "/code/coding/0", json!({})),
            "structure",
            "ServiceRequest.code.coding[0]",
        ),
        error(
            "a single value where R4 has a list",
            SR,
            |v| {
                set(
                    v,
                    "/identifier",
                    json!({"system": "https://example.org/ref", "value": "1"}),
                )
            },
            "structure",
            "ServiceRequest.identifier",
        ),
        error(
            "a list where R4 has a single value, in a contained resource",
            SR,
            |v| set(v, "/contained/0/birthDate", json!(["1948-03-14"])),
            "structure",
            "ServiceRequest.contained[0].birthDate",
        ),
    ]
}

#[test]
fn each_invalid_case_gets_its_own_issue_code_and_expression() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in &cases {
        let mut resource = example(case.example);
        (case.mutate)(&mut resource);
        let bytes = serde_json::to_vec(&resource).expect("serialise");
        let result = validator().check(&bytes, None);
        let found = result.issues.iter().any(|i| {
            i.severity == case.severity
                && i.code.code() == case.code
                && i.expression.as_deref() == Some(case.expression)
        });
        if !found {
            failures.push(format!(
                "{}: expected {:?} {} at {}, got {:#?}",
                case.name, case.severity, case.code, case.expression, result.issues
            ));
        }
        // Warnings alone never refuse a resource.
        assert_eq!(
            result.has_errors(),
            case.severity == Severity::Error,
            "{}: {:#?}",
            case.name,
            result.issues
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn all_problems_are_reported_together() {
    let mut sr = example(SR);
    set(&mut sr, "/status", json!("sent"));
    set(&mut sr, "/subject/identifier/value", json!("9434765918"));
    remove(&mut sr, "/requester");
    let issues = validator().validate(&sr);
    let at: Vec<&str> = issues
        .iter()
        .filter_map(|i| i.expression.as_deref())
        .collect();
    for expected in [
        "ServiceRequest.status",
        "ServiceRequest.subject.identifier.value",
        "ServiceRequest.requester",
    ] {
        assert!(at.contains(&expected), "{expected} missing from {at:?}");
    }
    let oo = operation_outcome(&issues);
    assert_eq!(oo["issue"].as_array().map(Vec::len), Some(issues.len()));
    assert!(has_errors(&issues));
}

/// `examples/invalid/` ships files for people to try; `invalid-expected.json` says what each must report.
#[test]
fn shipped_invalid_examples_report_what_they_document() {
    let dir = examples_dir("invalid");
    let expected: Value = serde_json::from_slice(
        &std::fs::read(dir.with_file_name("invalid-expected.json")).expect("invalid-expected.json"),
    )
    .expect("json");
    let expected = expected.as_object().expect("an object of file → issues");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .expect("invalid examples")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.is_empty());
    for file in files {
        let wanted = expected
            .get(&file)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{file} is not in invalid-expected.json"));
        let result = validator().check(&std::fs::read(dir.join(&file)).expect("read"), None);
        assert!(result.has_errors(), "{file} passed");
        for w in wanted {
            let (code, expression) = (
                w[0].as_str().expect("code"),
                w[1].as_str().expect("expression"),
            );
            assert!(
                result
                    .issues
                    .iter()
                    .any(|i| i.code.code() == code && i.expression.as_deref() == Some(expression)),
                "{file}: expected {code} at {expression}, got {:#?}",
                result.issues
            );
        }
    }
}
