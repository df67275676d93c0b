use serde_json::{Value, json};

use super::*;

fn shipped() -> Vec<(&'static str, &'static str)> {
    crate::embedded::EMBEDDED.to_vec()
}

const DERIVED: &str = r#"{
  "resourceType": "StructureDefinition",
  "url": "https://example.org/StructureDefinition/DatedReferral",
  "name": "DatedReferral",
  "type": "ServiceRequest",
  "baseDefinition": "https://signpost.example/fhir/StructureDefinition/SignpostServiceRequest",
  "differential": { "element": [
    { "id": "ServiceRequest", "path": "ServiceRequest" },
    { "id": "ServiceRequest.authoredOn", "path": "ServiceRequest.authoredOn", "min": 1 }
  ] }
}"#;

fn referral() -> Value {
    serde_json::from_str(crate::examples::REFERRAL_FROM_GP).expect("example")
}

#[test]
fn a_new_profile_is_a_data_change_and_applies_when_claimed() {
    let mut files = shipped();
    files.push(("dated.json", DERIVED));
    let validator = Validator::from_definitions(files.into_iter()).expect("loads");
    let mut sr = referral();
    sr.as_object_mut().expect("object").remove("authoredOn");
    assert!(
        validator.validate(&sr).is_empty(),
        "unclaimed profiles do not apply"
    );
    sr["meta"] = json!({"profile": ["https://example.org/StructureDefinition/DatedReferral"]});
    let issues = validator.validate(&sr);
    assert_eq!(issues.len(), 1, "{issues:#?}");
    assert_eq!(issues[0].code, IssueType::Required);
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("ServiceRequest.authoredOn")
    );
    // The derived profile's base still applies through it.
    sr["status"] = json!("sent");
    assert!(
        validator
            .validate(&sr)
            .iter()
            .any(|i| i.expression.as_deref() == Some("ServiceRequest.status"))
    );
}

#[test]
fn claiming_the_uk_core_base_is_not_a_warning() {
    let mut sr = referral();
    sr["meta"] =
        json!({"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-ServiceRequest"]});
    let issues = Validator::standard().expect("loads").validate(&sr);
    assert!(issues.is_empty(), "{issues:#?}");
}

#[test]
fn a_binding_to_a_missing_value_set_is_refused_at_load() {
    let broken = DERIVED.replace(
        r#""min": 1 }"#,
        r#""binding": {"strength": "required", "valueSet": "https://example.org/ValueSet/nowhere"} }"#,
    );
    let mut files = shipped();
    files.push(("broken.json", &broken));
    let err = Validator::from_definitions(files.into_iter()).expect_err("refused");
    assert!(
        err.message.contains("https://example.org/ValueSet/nowhere"),
        "{err}"
    );
}

#[test]
fn a_slice_without_a_discriminator_is_refused_at_load() {
    let broken = DERIVED.replace(
        r#"{ "id": "ServiceRequest.authoredOn", "path": "ServiceRequest.authoredOn", "min": 1 }"#,
        r#"{ "id": "ServiceRequest.identifier:local", "path": "ServiceRequest.identifier", "sliceName": "local", "min": 1 }"#,
    );
    let mut files = shipped();
    files.push(("broken.json", &broken));
    let err = Validator::from_definitions(files.into_iter()).expect_err("refused");
    assert!(err.message.contains("slicing discriminator"), "{err}");
}

#[test]
fn two_root_profiles_for_one_type_are_refused() {
    let second = DERIVED.replace("DatedReferral", "Other").replace(
        "https://signpost.example/fhir/StructureDefinition/SignpostServiceRequest",
        "https://example.org/elsewhere",
    );
    let mut files = shipped();
    files.push(("second.json", &second));
    let err = Validator::from_definitions(files.into_iter()).expect_err("refused");
    assert!(err.message.contains("root profile"), "{err}");
}

#[test]
fn every_binding_of_the_shipped_profiles_resolves() {
    let validator = Validator::standard().expect("loads");
    assert_eq!(validator.profiles().len(), 4);
    for t in ["ServiceRequest", "Task", "Patient", "Organization"] {
        assert!(validator.default_profile(t).is_some(), "{t}");
    }
}
