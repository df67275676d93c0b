use serde_json::{Value, json};

use super::*;

/// A BaRS referral request built from the published specification (see the fixture).
const FIXTURE: &str = include_str!("fixtures/referral-request.json");

fn config() -> BarsConfig {
    serde_json::from_value(
        json!({"url": "http://127.0.0.1:9/fhir", "target_identifier": "2000123456"}),
    )
    .expect("config")
}

fn delivery(event: DeliveryEvent) -> Delivery {
    Delivery {
        id: "0193a0b4-0000-7000-8000-000000000001".into(),
        idempotency_key: "6f1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b".into(),
        correlation_id: "corr-1".into(),
        event,
        task: json!({"resourceType": "Task", "id": "t1", "meta": {"versionId": "1", "lastUpdated": "2026-11-20T09:42:01Z"},
            "status": "requested", "requester": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}, "display": "Riverside Surgery"}}),
        focus: json!({"resourceType": "ServiceRequest", "id": "s1", "status": "active"}),
        attempt: 1,
        traceparent: None,
    }
}

fn header(message: &Value) -> &Value {
    &message["entry"][0]["resource"]
}

#[test]
fn the_message_has_the_shape_of_the_published_referral_request() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("fixture");
    let ours = message(&delivery(DeliveryEvent::TaskCreated), &config());
    for pointer in ["/resourceType", "/type", "/meta/profile/0"] {
        assert_eq!(ours.pointer(pointer), fixture.pointer(pointer), "{pointer}");
    }
    let (mine, theirs) = (header(&ours), header(&fixture));
    assert_eq!(
        mine["resourceType"], "MessageHeader",
        "bdl-12: the MessageHeader comes first"
    );
    for field in ["eventCoding", "definition"] {
        assert_eq!(mine[field], theirs[field], "{field}");
    }
    assert_eq!(
        mine["reason"], theirs["reason"],
        "a new referral has reason new"
    );
    assert_eq!(
        mine["destination"][0]["endpoint"],
        theirs["destination"][0]["endpoint"]
    );
    assert!(
        mine["source"]["endpoint"]
            .as_str()
            .is_some_and(|e| e.contains('|'))
    );
    // The focus resolves to the ServiceRequest entry, as in the specification.
    let focus = mine["focus"][0]["reference"].as_str().expect("focus");
    let target = ours["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["fullUrl"] == focus)
        .expect("focus entry");
    assert_eq!(target["resource"]["resourceType"], "ServiceRequest");
    let fixture_focus = theirs["focus"][0]["reference"]
        .as_str()
        .expect("fixture focus");
    assert!(
        fixture["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["fullUrl"] == fixture_focus
                && e["resource"]["resourceType"] == "ServiceRequest")
    );
}

#[test]
fn an_update_has_reason_update_and_a_retry_is_byte_identical() {
    let update = message(&delivery(DeliveryEvent::TaskUpdated), &config());
    assert_eq!(header(&update)["reason"]["coding"][0]["code"], "update");
    let again = message(&delivery(DeliveryEvent::TaskUpdated), &config());
    assert_eq!(
        serde_json::to_string(&update).ok(),
        serde_json::to_string(&again).ok()
    );
}

#[test]
fn the_target_identifier_header_is_base64_json_of_system_and_value() {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(target_identifier(&config()))
        .expect("base64");
    let json: Value = serde_json::from_slice(&decoded).expect("json");
    assert_eq!(
        json,
        json!({"value": "2000123456", "system": "https://fhir.nhs.uk/Id/dos-service-id"})
    );
}
