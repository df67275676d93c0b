//! `POST /fhir` transaction Bundles over real HTTP, with the real router and a real SQLite store.
//! The Patient and the Organization are the official UK Core examples (shared/fixtures/ukcore).

use crate::support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{FHIR_JSON, TestGateway, answer, issue, referral};

fn ukcore(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/ukcore")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("json")
}

const PATIENT_URL: &str = "urn:uuid:6b1f0c2e-1d3a-4e5b-8f70-9a1b2c3d4e5f";
const PRACTICE_URL: &str = "urn:uuid:7c2a1d3f-2e4b-4f6c-9a81-0b2c3d4e5f60";

/// The usual GP transaction: UK Core's Richard Smith verbatim, its White Rose practice with one
/// change (the ODS code made the test practice's, A81001, so the client may act for it), and
/// Signpost's example referral pointing at both by `urn:uuid:`.
fn transaction() -> Value {
    let mut practice = ukcore("ukcore-Organization-WhiteRose.json");
    practice["identifier"][0]["value"] = json!("A81001");
    let mut sr = referral();
    sr.as_object_mut().map(|o| o.remove("contained"));
    sr["subject"] = json!({"reference": PATIENT_URL});
    sr["requester"] = json!({"reference": PRACTICE_URL});
    json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": PATIENT_URL, "resource": ukcore("ukcore-Patient-RichardSmith.json"), "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": PRACTICE_URL, "resource": practice, "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:8d3b2e4a-3f5c-4a7d-8b92-1c3d4e5f6a71", "resource": sr, "request": {"method": "POST", "url": "ServiceRequest"}},
    ]})
}

async fn post(gw: &TestGateway, bundle: &Value) -> (StatusCode, Value) {
    let response = gw
        .http
        .post(&gw.fhir)
        .bearer_auth(gw.token("riverside-gp").await)
        .header("content-type", FHIR_JSON)
        .body(bundle.to_string())
        .send()
        .await
        .expect("post");
    let (status, _, body) = answer(response).await;
    (status, body)
}

#[tokio::test]
async fn a_patient_and_practice_by_urn_uuid_make_one_referral_answered_per_entry() {
    let gw = TestGateway::spawn().await;
    let (status, answer) = post(&gw, &transaction()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["type"], "transaction-response");
    let entries = answer["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 3, "one response per entry");
    let sr_response = &entries[2]["response"];
    assert_eq!(sr_response["status"], "201 Created");
    assert_eq!(sr_response["etag"], "W/\"1\"");
    let location = sr_response["location"].as_str().expect("location");
    let id = location
        .strip_prefix("ServiceRequest/")
        .and_then(|l| l.strip_suffix("/_history/1"))
        .expect("ServiceRequest/{id}/_history/1");
    for entry in &entries[..2] {
        assert!(entry["response"]["status"].is_string(), "{entry}");
    }

    let (status, _, sr) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{sr}");
    assert_eq!(sr["subject"]["reference"], "#patient");
    assert_eq!(sr["contained"][0]["identifier"][0]["value"], "9912003888");
    assert_eq!(sr["contained"][0]["name"][0]["family"], "SMITH");
    assert_eq!(sr["requester"]["identifier"]["value"], "A81001");
    assert_eq!(sr["requester"]["display"], "WHITE ROSE MEDICAL CENTRE");
    assert!(
        !sr.to_string().contains("urn:uuid:"),
        "nothing dangling: {sr}"
    );
    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!((srs, tasks, outbox.pending), (1, 1, 1));
}

#[tokio::test]
async fn a_bad_entry_refuses_the_whole_transaction_naming_it_as_sent() {
    let gw = TestGateway::spawn().await;
    // Variant: the Patient's NHS number with its check digit changed (fails modulus 11).
    let mut bundle = transaction();
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = json!("9912003889");
    let (status, outcome) = post(&gw, &bundle).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    let expressions: Vec<&str> = outcome["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert!(
        expressions.contains(&"Bundle.entry[0].resource.identifier[0].value"),
        "{outcome}"
    );
    assert!(
        expressions.iter().all(|e| e.starts_with("Bundle.entry[")),
        "into the Bundle as sent, not Signpost's rewrite: {expressions:?}"
    );
    // An entry of a type a referral transaction does not carry.
    let mut bundle = transaction();
    bundle["entry"].as_array_mut().expect("entries").push(json!({"fullUrl": "urn:uuid:9e4c3f5b-4a6d-4b8e-9ca3-2d4e5f6a7b82",
        "resource": {"resourceType": "Encounter", "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}},
        "request": {"method": "POST", "url": "Encounter"}}));
    let (status, outcome) = post(&gw, &bundle).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        issue(&outcome),
        ("not-supported", "Bundle.entry[3].resource.resourceType")
    );
    let (srs, tasks, outbox) = gw.stored().await;
    assert_eq!(
        (srs, tasks, outbox.pending + outbox.delivered + outbox.dead),
        (0, 0, 0),
        "nothing stored"
    );
}

#[tokio::test]
async fn conditional_references_resolve_by_identifier() {
    let gw = TestGateway::spawn().await;
    let mut bundle = transaction();
    let sr = &mut bundle["entry"][2]["resource"];
    sr["subject"] =
        json!({"reference": "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9912003888"});
    sr["requester"] = json!({"reference": "Organization?identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fods-organization-code%7CA81001"});
    bundle["entry"].as_array_mut().expect("entries").remove(1);
    let (status, answer) = post(&gw, &bundle).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["entry"].as_array().map(Vec::len), Some(2));
    let location = answer["entry"][1]["response"]["location"]
        .as_str()
        .expect("location");
    let (_, _, stored) = gw
        .get_as("riverside-gp", location.trim_end_matches("/_history/1"))
        .await;
    assert_eq!(
        stored["contained"][0]["name"][0]["family"], "SMITH",
        "the Patient entry the criteria match is the one kept"
    );
    assert_eq!(stored["requester"]["identifier"]["value"], "A81001");
}

#[tokio::test]
async fn a_batch_is_refused_clearly_and_stores_nothing() {
    let gw = TestGateway::spawn().await;
    let mut bundle = transaction();
    bundle["type"] = json!("batch");
    let (status, outcome) = post(&gw, &bundle).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(issue(&outcome), ("not-supported", "Bundle.type"));
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("transaction")),
        "{outcome}"
    );
    assert_eq!(gw.stored().await.0, 0);
}

#[tokio::test]
async fn the_capability_statement_declares_the_transaction_interaction() {
    let gw = TestGateway::spawn().await;
    let (status, _, cs) = gw.get_as("riverside-gp", "metadata").await;
    assert_eq!(status, StatusCode::OK);
    let system: Vec<&str> = cs["rest"][0]["interaction"]
        .as_array()
        .expect("system interactions")
        .iter()
        .filter_map(|i| i["code"].as_str())
        .collect();
    assert_eq!(system, ["transaction"], "batch is not offered");
}
