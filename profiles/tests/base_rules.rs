//! The FHIR R4 base definitions applied to the shipped examples made wrong in one place each:
//! primitives' lexical forms and value spaces, structure, cardinality, duplicate member names,
//! NHS number form. Each case is the issue's own list or a rule read from the R4 definitions.

use serde_json::{Value, json};
use signpost_profiles::{Issue, Validator, examples::REFERRAL_FROM_GP};

fn referral() -> Value {
    serde_json::from_str(REFERRAL_FROM_GP).expect("example")
}

fn issues_for(doc: &Value) -> Vec<Issue> {
    let bytes = serde_json::to_vec(doc).expect("serialise");
    Validator::standard()
        .expect("definitions load")
        .check(&bytes, None)
        .issues
}

/// The error at `expression`, with its code; its words must contain `words`.
fn assert_error(doc: &Value, code: &str, expression: &str, words: &str) {
    let issues = issues_for(doc);
    let found = issues
        .iter()
        .find(|i| i.expression.as_deref() == Some(expression))
        .unwrap_or_else(|| panic!("no issue at {expression}: {issues:#?}"));
    assert_eq!(found.severity.code(), "error", "{found:?}");
    assert_eq!(found.code.code(), code, "{found:?}");
    assert!(
        found.diagnostics.contains(words),
        "{expression}: {:?} lacks {words:?}",
        found.diagnostics
    );
}

fn with(pointer: &str, value: Value) -> Value {
    let mut doc = referral();
    *doc.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = value;
    doc
}

#[test]
fn a_date_time_must_be_a_date_time() {
    assert_error(
        &with("/authoredOn", json!("yesterday")),
        "value",
        "ServiceRequest.authoredOn",
        "'yesterday' is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)",
    );
    assert_error(
        &with("/authoredOn", json!("2024-13-45T10:00:00Z")),
        "value",
        "ServiceRequest.authoredOn",
        "is not a FHIR dateTime",
    );
    assert_error(
        &with("/authoredOn", json!("2023-02-29")),
        "value",
        "ServiceRequest.authoredOn",
        "month 2 of 2023 has 28 days",
    );
    assert_error(
        &with("/authoredOn", json!("2024-03-01T10:00:00")),
        "value",
        "ServiceRequest.authoredOn",
        "is not a FHIR dateTime",
    );
    assert_error(
        &with("/authoredOn", json!(20240301)),
        "structure",
        "ServiceRequest.authoredOn",
        "sent as a JSON string, not as a number",
    );
}

#[test]
fn a_contained_birth_date_is_checked_where_it_sits() {
    let mut doc = referral();
    doc["contained"][0]["birthDate"] = json!("14/03/1948");
    assert_error(
        &doc,
        "value",
        "ServiceRequest.contained[0].birthDate",
        "'14/03/1948' is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)",
    );
}

#[test]
fn ids_strings_uris_and_references_have_their_forms() {
    assert_error(
        &with("/contained/0/id", json!("has spaces")),
        "value",
        "ServiceRequest.contained[0].id",
        "is not a FHIR id",
    );
    assert_error(
        &with("/note/0/text", json!("")),
        "value",
        "ServiceRequest.note[0].text",
        "empty strings are not FHIR values",
    );
    assert_error(
        &with("/note/0/text", json!(" \n ")),
        "value",
        "ServiceRequest.note[0].text",
        "more than whitespace",
    );
    let mut doc = referral();
    doc["instantiatesUri"] = json!(["http://example.org/a plan"]);
    assert_error(
        &doc,
        "value",
        "ServiceRequest.instantiatesUri[0]",
        "is not a FHIR uri (no spaces",
    );
    let mut doc = referral();
    doc["basedOn"] = json!([{"reference": "::::"}]);
    assert_error(
        &doc,
        "value",
        "ServiceRequest.basedOn[0].reference",
        "'::::' is not a reference",
    );
    let mut doc = referral();
    doc["code"]["coding"][0]["code"] = json!(" 12345");
    assert_error(
        &doc,
        "value",
        "ServiceRequest.code.coding[0].code",
        "is not a FHIR code",
    );
}

#[test]
fn extension_values_are_typed_by_their_suffix() {
    let ext = |value: Value| {
        let mut doc = referral();
        doc["extension"] = json!([value]);
        doc
    };
    let url = "https://example.org/x";
    assert_error(
        &ext(json!({"url": url, "valueInteger": 3_000_000_000_u64})),
        "value",
        "ServiceRequest.extension[0].valueInteger",
        "32-bit",
    );
    assert_error(
        &ext(json!({"url": url, "valuePositiveInt": 0})),
        "value",
        "ServiceRequest.extension[0].valuePositiveInt",
        "is not a FHIR positiveInt",
    );
    assert_error(
        &ext(json!({"url": url, "valueBoolean": "true"})),
        "structure",
        "ServiceRequest.extension[0].valueBoolean",
        "JSON true or false",
    );
    assert_error(
        &ext(json!({"url": url, "valueDecimal": "1.5"})),
        "structure",
        "ServiceRequest.extension[0].valueDecimal",
        "a JSON number",
    );
    assert_error(
        &ext(json!({"url": url, "valueUuid": "urn:uuid:NOT-A-UUID"})),
        "value",
        "ServiceRequest.extension[0].valueUuid",
        "is not a FHIR uuid",
    );
    assert_error(
        &ext(json!({"url": url, "valueFoo": "x"})),
        "structure",
        "ServiceRequest.extension[0].valueFoo",
        "value[x] is one of",
    );
    assert_error(
        &ext(json!({"url": url, "valueString": "a", "valueCode": "b"})),
        "structure",
        "ServiceRequest.extension[0].valueCode",
        "holds one value",
    );
}

#[test]
fn an_extension_without_url_is_named_inside_that_extension() {
    let mut doc = referral();
    doc["extension"] = json!([{"valueString": "x"}]);
    assert_error(
        &doc,
        "required",
        "ServiceRequest.extension[0].url",
        "ServiceRequest.extension[0] has none",
    );
}

#[test]
fn structure_and_cardinality_come_from_the_base_definitions() {
    let mut doc = referral();
    doc.as_object_mut().expect("object").remove("intent");
    assert_error(&doc, "required", "ServiceRequest.intent", "minimum 1");
    assert_error(
        &with("/subject", json!([{"reference": "#pat"}])),
        "structure",
        "ServiceRequest.subject",
        "single value in FHIR R4",
    );
    assert_error(
        &with("/category", json!({"text": "x"})),
        "structure",
        "ServiceRequest.category",
        "is a list in FHIR R4",
    );
    let mut doc = referral();
    doc["_authoredOn"] =
        json!({"extension": [{"url": "https://example.org/x", "valueString": "y"}]});
    let issues = issues_for(&doc);
    assert!(
        !issues.iter().any(|i| i
            .expression
            .as_deref()
            .is_some_and(|e| e.contains("_authoredOn"))),
        "a primitive's _name companion is allowed: {issues:#?}"
    );
    let mut doc = referral();
    doc["_subject"] = json!({"id": "x"});
    assert_error(
        &doc,
        "structure",
        "ServiceRequest._subject",
        "only primitive elements",
    );
    assert_error(
        &with("/contained/0/gender", json!({"code": "female"})),
        "structure",
        "ServiceRequest.contained[0].gender",
        "a FHIR code is sent as a JSON string",
    );
}

#[test]
fn bundle_entries_are_checked_with_their_index() {
    let mut bundle: Value = serde_json::from_str(include_str!(
        "../examples/valid/bundle-referral-with-patient.json"
    ))
    .expect("example");
    bundle["entry"][0]["resource"]["authoredOn"] = json!("yesterday");
    bundle["entry"][1]["resource"]["birthDate"] = json!("1948-02-30");
    assert_error(
        &bundle,
        "value",
        "Bundle.entry[0].resource.authoredOn",
        "is not a FHIR dateTime",
    );
    assert_error(
        &bundle,
        "value",
        "Bundle.entry[1].resource.birthDate",
        "has 29 days",
    );
}

#[test]
fn duplicate_member_names_are_refused_and_named() {
    let text = REFERRAL_FROM_GP.replacen(
        "\"subject\": {",
        "\"subject\": {\"identifier\": {\"value\": \"1\"},",
        1,
    );
    assert_ne!(text, REFERRAL_FROM_GP, "the example's subject is found");
    let issues = Validator::standard()
        .expect("definitions")
        .check(text.as_bytes(), None)
        .issues;
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("ServiceRequest.subject.identifier")
    );
    assert!(
        issues[0].diagnostics.contains("appears twice"),
        "{issues:?}"
    );

    let two_types = REFERRAL_FROM_GP.replacen("{", "{\"resourceType\": \"Task\",", 1);
    let issues = Validator::standard()
        .expect("definitions")
        .check(two_types.as_bytes(), None)
        .issues;
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("ServiceRequest.resourceType"),
        "{issues:?}"
    );
}

#[test]
fn an_nhs_number_with_spaces_or_dashes_is_refused_saying_so() {
    for written in ["943 476 5919", "943-476-5919"] {
        assert_error(
            &with("/subject/identifier/value", json!(written)),
            "value",
            "ServiceRequest.subject.identifier.value",
            "no spaces or separators",
        );
    }
}
