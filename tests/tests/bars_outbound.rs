//! What Signpost sends partners, checked by what we did not write: the independent validator
//! (tests/oracle) and the elements the BaRS profiles make mandatory, which the IG's own REFREQ03
//! example must pass too (so the table below is faithful to the profiles).

use crate::support::oracle;

use serde_json::{Value, json};
use signpost_adapters::bars::{self, BarsConfig};
use signpost_adapters::{Delivery, DeliveryEvent, fhir_rest};

const SR_ID: &str = "0193a0b4-1111-7000-8000-00000000000a";
const TASK_ID: &str = "0193a0b4-2222-7000-8000-00000000000b";
const PARENT_ID: &str = "0193a0b4-3333-7000-8000-00000000000c";

fn refreq03() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/bars/bars-REFREQ03-referral.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("REFREQ03")).expect("json")
}

fn config() -> BarsConfig {
    serde_json::from_value(
        json!({"url": "https://receiver.example/fhir", "target_identifier": "2000123456"}),
    )
    .expect("config")
}

/// Signpost's own example referral as stored (id, meta and the routed performer added) and its Task.
fn delivery(destination: &str, event: DeliveryEvent, status: &str, version: &str) -> Delivery {
    let mut sr: Value =
        serde_json::from_str(signpost_profiles::examples::REFERRAL_FROM_GP).expect("example");
    sr["id"] = json!(SR_ID);
    sr["meta"] = json!({"versionId": "1", "lastUpdated": "2026-11-20T09:42:01Z"});
    sr["performer"] = json!([{"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}}]);
    // As the inbound side keeps a BaRS referral: the GP's request Bundle.id and reply address.
    sr["extension"] = json!([
        {"url": bars::inbound::REQUEST_MESSAGE_EXTENSION, "valueString": "9ae77bb4-db12-42f3-a90c-733fe232f26c"},
        {"url": bars::inbound::SOURCE_ENDPOINT_EXTENSION, "valueString": "https://fhir.nhs.uk/Id/dos-service-id|2222222222"}
    ]);
    delivery_of(sr, destination, event, status, version)
}

/// REFREQ03 from the sandbox practice (valid NHS number, A81001 sending to LWS001), read by the
/// inbound side and stored as Signpost keeps it: the GP's Encounter, CarePlan, Consent and
/// requesting Practitioner and PractitionerRole contained with it.
fn relayed(destination: &str, event: DeliveryEvent, status: &str, version: &str) -> Delivery {
    let mut m = refreq03();
    m["entry"][6]["resource"]["identifier"][0]["value"] = json!("9434765919");
    m["entry"][12]["resource"]["identifier"][0]["value"] = json!("A81001");
    m["entry"][11]["resource"]["identifier"][0]["value"] = json!("LWS001");
    let Ok(bars::inbound::BarsMessage::NewReferral(referral)) = bars::inbound::parse(&m) else {
        panic!("REFREQ03 is not read as a new referral");
    };
    let mut sr = referral.service_request;
    sr["id"] = json!(SR_ID);
    sr["meta"] = json!({"versionId": "1", "lastUpdated": "2026-11-20T09:42:01Z"});
    sr["status"] = json!("active");
    delivery_of(sr, destination, event, status, version)
}

fn delivery_of(
    sr: Value,
    destination: &str,
    event: DeliveryEvent,
    status: &str,
    version: &str,
) -> Delivery {
    let task = json!({"resourceType": "Task", "id": TASK_ID, "meta": {"versionId": version, "lastUpdated": "2026-11-21T10:00:00Z"},
        "status": status, "intent": "order",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": format!("ServiceRequest/{SR_ID}")},
        "for": {"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
        "authoredOn": "2026-11-20T09:42:01Z", "lastModified": "2026-11-21T10:00:00Z",
        "partOf": [{"reference": format!("Task/{PARENT_ID}")}],
        "requester": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}, "display": "Riverside Surgery"},
        "owner": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}, "display": "Link workers"}});
    Delivery {
        id: "0193a0b4-0000-7000-8000-000000000001".into(),
        idempotency_key: "6f1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b".into(),
        correlation_id: "0b7a3c2d-1e4f-4a5b-8c6d-7e8f9a0b1c2d".into(),
        destination: destination.into(),
        event,
        task,
        focus: sr,
        attempt: 1,
        traceparent: None,
    }
}

/// Every kind of message the bars adapter sends: a new referral, a cancellation, progress back.
fn messages() -> Vec<(&'static str, Value)> {
    let mut cancelled = delivery("LWS001", DeliveryEvent::TaskUpdated, "cancelled", "2");
    cancelled.focus["status"] = json!("revoked");
    [
        (
            "new referral",
            delivery("LWS001", DeliveryEvent::TaskCreated, "requested", "1"),
        ),
        ("cancellation", cancelled),
        (
            "accepted, back to the GP",
            delivery("A81001", DeliveryEvent::TaskUpdated, "accepted", "2"),
        ),
        (
            "completed, back to the GP",
            delivery("A81001", DeliveryEvent::TaskUpdated, "completed", "5"),
        ),
        (
            "REFREQ03's entries relayed to the link worker",
            relayed("LWS001", DeliveryEvent::TaskCreated, "requested", "1"),
        ),
        (
            "REFREQ03's entries relayed back to the GP",
            relayed("A81001", DeliveryEvent::TaskUpdated, "accepted", "2"),
        ),
    ]
    .into_iter()
    .map(|(what, d)| (what, bars::message(&d, &config()).expect("message")))
    .collect()
}

#[test]
fn every_bars_message_and_the_fhir_rest_transaction_pass_the_independent_validator() {
    let mut sent: Vec<(&str, Value)> = messages();
    let d = delivery("LWS001", DeliveryEvent::TaskCreated, "requested", "1")
        .stored()
        .expect("json");
    sent.push((
        "fhir-rest transaction",
        serde_json::to_value(
            fhir_rest::transaction_bundle(&d, "https://partner.example/fhir").expect("bundle"),
        )
        .expect("json"),
    ));
    // A control: the same referral with a broken element, which the oracle must catch.
    let mut broken = sent[0].1.clone();
    broken["entry"][1]["resource"]["intent"] = Value::Null;
    broken["entry"][2]["resource"]["birthDate"] = json!("14/03/1948");
    sent.push(("control", broken));
    let resources: Vec<Value> = sent.iter().map(|(_, r)| r.clone()).collect();
    let verdicts = oracle::validate(&resources);
    let (control, verdicts) = verdicts.split_last().expect("verdicts");
    assert!(
        !control.valid && control.errors().len() >= 2,
        "the oracle must reject the control: {:?}",
        control.issues
    );
    for ((what, _), verdict) in sent.iter().zip(verdicts) {
        assert!(verdict.valid, "{what}: {:?}", verdict.errors());
    }
}

/// The elements each BaRS profile makes mandatory (min 1 or a fixed value in its differential,
/// BaRS IG `StructureDefinition/BARS*.xml`), as JSON pointers with the value required, if fixed.
const BUNDLE_MUST: &[(&str, Option<&str>)] = &[("/type", Some("message")), ("/timestamp", None)];
const REQUEST_HEADER_MUST: &[(&str, Option<&str>)] = &[
    (
        "/eventCoding/system",
        Some("https://fhir.nhs.uk/CodeSystem/message-events-bars"),
    ),
    ("/eventCoding/code", Some("servicerequest-request")),
    ("/destination/0/receiver/reference", None),
    ("/sender/reference", None),
    (
        "/reason/coding/0/system",
        Some("https://fhir.nhs.uk/CodeSystem/message-reason-bars"),
    ),
    ("/focus/0/reference", None),
];
const RESPONSE_HEADER_MUST: &[(&str, Option<&str>)] = &[
    (
        "/eventCoding/system",
        Some("https://fhir.nhs.uk/CodeSystem/message-events-bars"),
    ),
    ("/eventCoding/code", Some("servicerequest-response")),
    ("/destination/0/receiver/reference", None),
    ("/sender/reference", None),
    (
        "/reason/coding/0/system",
        Some("https://fhir.nhs.uk/CodeSystem/message-reason-bars"),
    ),
    ("/response/identifier", None),
    ("/response/code", None),
    ("/focus/0/reference", None),
];
const SERVICE_REQUEST_MUST: &[(&str, Option<&str>)] = &[
    ("/intent", Some("plan")),
    ("/category/0/coding/0/code", None),
    ("/authoredOn", None),
    ("/subject/reference", None),
];

/// The mandatory elements of the profiles `message` claims, missing or wrong ones listed.
fn missing(message: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |what: &str, resource: &Value, rules: &[(&str, Option<&str>)]| {
        for (pointer, fixed) in rules {
            match (resource.pointer(pointer), fixed) {
                (None, _) => problems.push(format!("{what}{pointer} is missing")),
                (Some(v), Some(want)) if v != want => {
                    problems.push(format!("{what}{pointer} is {v}, the profile fixes {want}"))
                }
                _ => {}
            }
        }
    };
    check("Bundle", message, BUNDLE_MUST);
    for entry in message["entry"].as_array().into_iter().flatten() {
        let resource = &entry["resource"];
        for profile in resource["meta"]["profile"].as_array().into_iter().flatten() {
            let rules = match profile.as_str() {
                Some(bars::REQUEST_HEADER_PROFILE) => REQUEST_HEADER_MUST,
                Some(bars::RESPONSE_HEADER_PROFILE) => RESPONSE_HEADER_MUST,
                Some(bars::SERVICE_REQUEST_PROFILE) => SERVICE_REQUEST_MUST,
                _ => continue,
            };
            check(
                resource["resourceType"].as_str().unwrap_or("?"),
                resource,
                rules,
            );
        }
    }
    // ServiceRequest.category is 1..1 in the referral profile.
    let srs = message["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"]);
    for sr in srs.filter(|r| r["resourceType"] == "ServiceRequest") {
        if sr["category"].as_array().map(Vec::len) != Some(1) {
            problems.push("ServiceRequest.category must have exactly one element".into());
        }
    }
    problems
}

#[test]
fn every_bars_message_has_the_elements_the_bars_profiles_make_mandatory() {
    assert_eq!(
        missing(&refreq03()),
        Vec::<String>::new(),
        "the IG's own example passes the table"
    );
    for (what, message) in messages() {
        assert_eq!(missing(&message), Vec::<String>::new(), "{what}");
        assert_eq!(
            message["meta"]["profile"][0],
            bars::BUNDLE_PROFILE,
            "{what}"
        );
        let header = &message["entry"][0]["resource"];
        let claimed = header["meta"]["profile"][0].as_str().expect("profile");
        assert!(
            [bars::REQUEST_HEADER_PROFILE, bars::RESPONSE_HEADER_PROFILE].contains(&claimed),
            "{what}: {claimed}"
        );
    }
    // The entries the referral MessageDefinition requires (min >= 1) that the GP sent are relayed.
    let (_, relayed) = &messages()[4];
    for (rtype, min) in [
        ("Patient", 1),
        ("Encounter", 1),
        ("CarePlan", 1),
        ("Organization", 2),
        ("Practitioner", 1),
        ("PractitionerRole", 1),
        ("Consent", 1),
        ("HealthcareService", 1),
    ] {
        let n = relayed["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["resource"]["resourceType"] == rtype)
            .count();
        assert!(n >= min, "{rtype}: {n} in {relayed}");
    }
    // The table catches what the profiles forbid: Signpost's stored intent, a missing category.
    let mut wrong = messages().remove(0).1;
    wrong["entry"][1]["resource"]["intent"] = json!("order");
    wrong["entry"][0]["resource"]["sender"] = json!({});
    assert_eq!(missing(&wrong).len(), 2, "{:?}", missing(&wrong));
}
