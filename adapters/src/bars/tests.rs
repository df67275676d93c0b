use std::sync::{Arc, Mutex};

use axum::{Router, http::HeaderMap, routing::post};
use serde_json::{Value, json};

use super::*;
use crate::DeliveryEvent;

/// The BaRS IG's REFREQ03 (GP to a community service), as published (see shared/fixtures/README.md).
fn refreq03() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/bars/bars-REFREQ03-referral.json");
    let text = std::fs::read_to_string(&path).expect("the official REFREQ03 example");
    serde_json::from_str(&text).expect("REFREQ03 is JSON")
}

fn config() -> BarsConfig {
    serde_json::from_value(
        json!({"url": "http://127.0.0.1:9/fhir", "target_identifier": "2000123456"}),
    )
    .expect("config")
}

const SR_ID: &str = "0193a0b4-1111-7000-8000-00000000000a";
const TASK_ID: &str = "0193a0b4-2222-7000-8000-00000000000b";
const PARENT_TASK_ID: &str = "0193a0b4-3333-7000-8000-00000000000c";

/// The stored referral as Signpost keeps it: its own example (contained Patient, requester by ODS
/// code), with the id, meta and routed performer Signpost adds.
fn stored_referral() -> Value {
    let mut sr: Value =
        serde_json::from_str(signpost_profiles::examples::REFERRAL_FROM_GP).expect("example");
    sr["id"] = json!(SR_ID);
    sr["meta"] = json!({"versionId": "1", "lastUpdated": "2026-11-20T09:42:01Z"});
    sr["performer"] = json!([{"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}, "display": "Link workers"}]);
    sr
}

fn task(version: &str, status: &str) -> Value {
    json!({"resourceType": "Task", "id": TASK_ID, "meta": {"versionId": version, "lastUpdated": "2026-11-20T09:42:01Z"},
        "status": status, "intent": "order",
        "focus": {"reference": format!("ServiceRequest/{SR_ID}")},
        "for": {"type": "Patient", "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}},
        "authoredOn": "2026-11-20T09:42:01Z",
        "requester": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"}, "display": "Riverside Surgery"},
        "owner": {"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}, "display": "Link workers"}})
}

fn delivery(event: DeliveryEvent, destination: &str, task: Value) -> Delivery {
    Delivery {
        id: "0193a0b4-0000-7000-8000-000000000001".into(),
        idempotency_key: "6f1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b".into(),
        correlation_id: "0b7a3c2d-1e4f-4a5b-8c6d-7e8f9a0b1c2d".into(),
        destination: destination.into(),
        event,
        task,
        focus: stored_referral(),
        attempt: 1,
        traceparent: None,
    }
}

/// The GP's request message id and reply address, as the inbound side keeps them.
const GP_MESSAGE: &str = "9ae77bb4-db12-42f3-a90c-733fe232f26c";
const GP_ENDPOINT: &str = "https://fhir.nhs.uk/Id/dos-service-id|2222222222";

/// `d` about a referral that came in as a BaRS message.
fn from_bars(mut d: Delivery) -> Delivery {
    d.focus["extension"] = json!([
        {"url": inbound::REQUEST_MESSAGE_EXTENSION, "valueString": GP_MESSAGE},
        {"url": inbound::SOURCE_ENDPOINT_EXTENSION, "valueString": GP_ENDPOINT}
    ]);
    d
}

fn new_referral() -> Value {
    message(
        &delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested")),
        &config(),
    )
    .expect("message")
}

fn header(message: &Value) -> &Value {
    &message["entry"][0]["resource"]
}

/// The entry a reference resolves to within the message.
fn resolve<'a>(message: &'a Value, reference: &Value) -> &'a Value {
    let target = reference["reference"]
        .as_str()
        .expect("a literal reference");
    message["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["fullUrl"] == target)
        .map(|e| &e["resource"])
        .unwrap_or_else(|| panic!("{target} resolves to no entry"))
}

fn of_type<'a>(message: &'a Value, rtype: &str) -> Vec<&'a Value> {
    message["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == rtype)
        .collect()
}

/// Every `reference` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("reference") {
                found.push(r.clone());
            }
            o.values().for_each(|v| references(v, found));
        }
        Value::Array(a) => a.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn a_new_referral_is_built_as_refreq03_is() {
    let (ours, theirs) = (new_referral(), refreq03());
    // Bundle: type, profile and its own lastUpdated and timestamp.
    for pointer in ["/resourceType", "/type", "/meta/profile"] {
        assert_eq!(ours.pointer(pointer), theirs.pointer(pointer), "{pointer}");
    }
    for pointer in ["/meta/lastUpdated", "/timestamp", "/id"] {
        assert!(
            ours.pointer(pointer).is_some_and(Value::is_string),
            "{pointer}"
        );
        assert!(
            theirs.pointer(pointer).is_some_and(Value::is_string),
            "{pointer}"
        );
    }
    // MessageHeader, first (bdl-12), with the same profile, event, reason and definition.
    let (mine, fixture) = (header(&ours), header(&theirs));
    assert_eq!(mine["resourceType"], "MessageHeader");
    for field in ["eventCoding", "reason", "definition"] {
        assert_eq!(mine[field], fixture[field], "MessageHeader.{field}");
    }
    assert_eq!(mine["meta"]["profile"], fixture["meta"]["profile"]);
    assert_eq!(
        mine["destination"][0]["endpoint"],
        "https://fhir.nhs.uk/Id/dos-service-id|2000123456"
    );
    // sender and destination.receiver are Organization entries with ODS codes, in both.
    for message in [&ours, &theirs] {
        let h = header(message);
        for who in [&h["sender"], &h["destination"][0]["receiver"]] {
            let org = resolve(message, who);
            assert_eq!(org["resourceType"], "Organization");
            assert!(org["identifier"][0]["value"].is_string(), "{org}");
        }
        assert_eq!(
            resolve(message, &h["focus"][0])["resourceType"],
            "ServiceRequest"
        );
    }
    assert_eq!(
        resolve(&ours, &mine["sender"])["identifier"][0]["value"],
        "A81001"
    );
    assert_eq!(
        resolve(&ours, &mine["destination"][0]["receiver"])["identifier"][0]["value"],
        "LWS001"
    );

    // ServiceRequest: the BaRS profile, intent plan, the referral category, subject a Patient entry.
    let (sr, their_sr) = (
        resolve(&ours, &mine["focus"][0]),
        resolve(&theirs, &fixture["focus"][0]),
    );
    assert_eq!(sr["meta"]["profile"], their_sr["meta"]["profile"]);
    assert_eq!(sr["intent"], their_sr["intent"]);
    assert_eq!(sr["status"], their_sr["status"]);
    assert_eq!(
        sr["category"].as_array().map(Vec::len),
        Some(1),
        "BaRS allows one category"
    );
    assert_eq!(
        sr["category"][0]["coding"][0],
        their_sr["category"][0]["coding"][0]
    );
    assert!(
        sr.get("contained").is_none(),
        "the Patient is an entry, not contained"
    );
    let (patient, their_patient) = (
        resolve(&ours, &sr["subject"]),
        resolve(&theirs, &their_sr["subject"]),
    );
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["meta"]["profile"], their_patient["meta"]["profile"]);
    assert_eq!(patient["identifier"][0]["value"], "9434765919");
    assert_eq!(patient["name"][0]["family"], "Okafor");
    // performer: the receiver's HealthcareService (its DoS id), provided by the receiver, as in REFREQ03.
    for (message, sr) in [(&ours, sr), (&theirs, their_sr)] {
        let service = resolve(message, &sr["performer"][0]);
        assert_eq!(service["resourceType"], "HealthcareService");
        let provider = resolve(message, &service["providedBy"]);
        assert_eq!(
            provider,
            resolve(message, &header(message)["destination"][0]["receiver"])
        );
    }
    assert_eq!(
        resolve(&ours, &sr["performer"][0])["identifier"][0],
        json!({"system": "https://fhir.nhs.uk/Id/dos-service-id", "value": "2000123456"})
    );
    // The requester organisation is named by its entry as well as its ODS code.
    assert_eq!(
        resolve(&ours, &sr["requester"])["identifier"][0]["value"],
        "A81001"
    );

    // The Task points at the entries.
    let task = of_type(&ours, "Task")[0];
    assert_eq!(resolve(&ours, &task["focus"]), sr);
    assert_eq!(resolve(&ours, &task["basedOn"][0]), sr);
    assert_eq!(resolve(&ours, &task["for"]), patient);
    assert_eq!(
        resolve(&ours, &task["owner"])["identifier"][0]["value"],
        "LWS001"
    );

    // What REFREQ03 has that BaRS requires and Signpost sends: every one of these types.
    for rtype in [
        "MessageHeader",
        "ServiceRequest",
        "Patient",
        "HealthcareService",
    ] {
        assert_eq!(of_type(&ours, rtype).len(), 1, "{rtype}");
        assert!(!of_type(&theirs, rtype).is_empty(), "{rtype}");
    }
    assert_eq!(of_type(&ours, "Organization").len(), 2);
    // Every entry carries meta.lastUpdated and a profile, as in REFREQ03.
    for message in [&ours, &theirs] {
        for entry in message["entry"].as_array().expect("entries") {
            let meta = &entry["resource"]["meta"];
            assert!(meta["lastUpdated"].is_string(), "{entry}");
            assert!(meta["profile"][0].is_string(), "{entry}");
        }
    }
}

#[test]
fn every_reference_in_the_message_resolves_to_one_of_its_entries() {
    let mut onward = delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested"));
    // An onward referral: basedOn the GP's ServiceRequest, its Task partOf the link worker's.
    onward.focus["basedOn"] = json!([{"reference": format!("ServiceRequest/{PARENT_TASK_ID}")}]);
    onward.task["partOf"] = json!([{"reference": format!("Task/{PARENT_TASK_ID}")}]);
    let ours = message(&onward, &config()).expect("message");
    let urls: Vec<&str> = ours["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["fullUrl"].as_str().expect("fullUrl"))
        .collect();
    assert!(urls.iter().all(|u| u.starts_with("urn:uuid:")), "{urls:?}");
    let mut found = Vec::new();
    references(&ours, &mut found);
    assert!(found.len() >= 10, "{found:?}");
    for reference in &found {
        assert!(urls.contains(&reference.as_str()), "{reference} dangles");
    }
    // An organisation named Signpost's way, `Organization/{ods}`, is its entry or its ODS code.
    let mut by_ods = delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested"));
    by_ods.focus["requester"] = json!({"reference": "Organization/A81001"});
    by_ods.focus["performer"] = json!([{"reference": "Organization/LWS002"}, {"reference": "HealthcareService/mill-lane-walks"}]);
    let linked = message(&by_ods, &config()).expect("message");
    let sr = of_type(&linked, "ServiceRequest")[0];
    assert_eq!(
        resolve(&linked, &sr["requester"])["identifier"][0]["value"],
        "A81001"
    );
    assert_eq!(
        sr["performer"][1],
        json!({"type": "Organization", "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS002"}})
    );
    // A directory service whose id is not a UUID is named by that id, not refused.
    assert_eq!(
        sr["performer"][2],
        json!({"type": "HealthcareService", "identifier": {"value": "mill-lane-walks"}})
    );
    // What the message cannot carry is named logically, by the urn:uuid: of the resource.
    let task = of_type(&ours, "Task")[0];
    assert_eq!(
        task["partOf"][0],
        json!({"type": "Task", "identifier": {"system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{PARENT_TASK_ID}")}})
    );
}

#[test]
fn the_performers_progress_goes_back_as_a_servicerequest_response() {
    let accepted = from_bars(delivery(
        DeliveryEvent::TaskUpdated,
        "A81001",
        task("2", "accepted"),
    ));
    let ours = message(&accepted, &config()).expect("message");
    let h = header(&ours);
    assert_eq!(
        h["eventCoding"],
        json!({"system": EVENT_SYSTEM, "code": "servicerequest-response"})
    );
    assert_eq!(h["meta"]["profile"][0], RESPONSE_HEADER_PROFILE);
    assert_eq!(h["definition"], RESPONSE_DEFINITION);
    assert_eq!(h["reason"]["coding"][0]["code"], "new");
    // BaRS: the Bundle.id of the GP's request, not the ServiceRequest's or MessageHeader's id.
    assert_eq!(
        h["response"],
        json!({"identifier": GP_MESSAGE, "code": "ok"})
    );
    assert_eq!(h["destination"][0]["endpoint"], GP_ENDPOINT);
    assert_ne!(
        ours["id"], GP_MESSAGE,
        "the response is a message of its own"
    );
    // From the performer's side: the link worker sends, the practice receives.
    assert_eq!(
        resolve(&ours, &h["sender"])["identifier"][0]["value"],
        "LWS001"
    );
    assert_eq!(
        resolve(&ours, &h["destination"][0]["receiver"])["identifier"][0]["value"],
        "A81001"
    );
    assert_eq!(of_type(&ours, "Task")[0]["status"], "accepted");
    // A later change updates that response.
    let completed = from_bars(delivery(
        DeliveryEvent::TaskUpdated,
        "A81001",
        task("4", "completed"),
    ));
    let later = message(&completed, &config()).expect("message");
    assert_eq!(header(&later)["reason"]["coding"][0]["code"], "update");
    assert_eq!(header(&later)["response"]["identifier"], GP_MESSAGE);
}

#[test]
fn a_response_about_a_referral_that_came_in_another_way_is_refused_not_made_up() {
    let rest = delivery(DeliveryEvent::TaskUpdated, "A81001", task("2", "accepted"));
    assert_eq!(
        message(&rest, &config()).err(),
        Some(MessageError::NoRequestMessage)
    );
}

#[test]
fn the_request_bundle_id_is_the_one_a_performer_response_is_checked_against() {
    let first = new_referral();
    assert_eq!(
        first["id"].as_str(),
        request_message_id(TASK_ID, 1).as_deref()
    );
    let update = message(
        &delivery(DeliveryEvent::TaskUpdated, "LWS001", task("2", "cancelled")),
        &config(),
    )
    .expect("message");
    assert_eq!(
        update["id"].as_str(),
        request_message_id(TASK_ID, 2).as_deref()
    );
    assert_ne!(first["id"], update["id"]);
}

#[test]
fn the_entries_the_gp_sent_are_relayed_as_entries() {
    let mut d = delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested"));
    let sr = d.focus.as_object_mut().expect("object");
    sr.insert("encounter".into(), json!({"reference": "#encounter"}));
    sr.insert("extension".into(), ["careplan", "consent-1", "requester-role-1"].iter().map(|l| json!({"url": inbound::RELAYED_EXTENSION, "valueReference": {"reference": format!("#{l}")}})).collect());
    let contained = sr["contained"].as_array_mut().expect("contained");
    contained.extend([
        json!({"resourceType": "Encounter", "id": "encounter", "status": "finished", "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "subject": {"reference": "#pat"}}),
        json!({"resourceType": "CarePlan", "id": "careplan", "status": "completed", "intent": "plan", "subject": {"reference": "#pat"}, "encounter": {"reference": "#encounter"}}),
        json!({"resourceType": "Consent", "id": "consent-1", "status": "active", "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]}, "category": [{"coding": [{"system": "https://fhir.nhs.uk/CodeSystem/consent-categories-bars", "code": "DRC"}]}], "patient": {"reference": "#pat"}}),
        json!({"resourceType": "Practitioner", "id": "requester", "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "PT2489"}]}),
        json!({"resourceType": "PractitionerRole", "id": "requester-role-1", "practitioner": {"reference": "#requester"}}),
    ]);
    let ours = message(&d, &config()).expect("message");
    let sr = of_type(&ours, "ServiceRequest")[0];
    assert_eq!(
        resolve(&ours, &sr["encounter"])["resourceType"],
        "Encounter"
    );
    let relayed: Vec<&Value> = sr["extension"]
        .as_array()
        .expect("extension")
        .iter()
        .map(|e| &resolve(&ours, &e["valueReference"])["resourceType"])
        .collect();
    assert_eq!(relayed, ["CarePlan", "Consent", "PractitionerRole"]);
    // As in REFREQ03, the ServiceRequest is basedOn the CarePlan.
    assert_eq!(
        resolve(&ours, &sr["basedOn"][0])["resourceType"],
        "CarePlan"
    );
    let role = of_type(&ours, "PractitionerRole")[0];
    assert_eq!(
        resolve(&ours, &role["practitioner"])["identifier"][0]["value"],
        "PT2489"
    );
    let patient = of_type(&ours, "Patient")[0];
    for rtype in ["Encounter", "CarePlan"] {
        assert_eq!(
            resolve(&ours, &of_type(&ours, rtype)[0]["subject"]),
            patient,
            "{rtype}"
        );
    }
    assert_eq!(
        resolve(&ours, &of_type(&ours, "Consent")[0]["patient"]),
        patient
    );
    for rtype in [
        "Encounter",
        "CarePlan",
        "Consent",
        "Practitioner",
        "PractitionerRole",
    ] {
        assert_eq!(of_type(&ours, rtype).len(), 1, "{rtype}");
        let meta = &of_type(&ours, rtype)[0]["meta"];
        assert!(meta["lastUpdated"].is_string(), "{rtype}: {meta}");
        assert_eq!(
            meta["profile"][0],
            format!("https://fhir.hl7.org.uk/StructureDefinition/UKCore-{rtype}")
        );
    }
}

#[test]
fn a_cancellation_is_a_request_update_under_the_cancellation_definition() {
    let mut cancelled = delivery(DeliveryEvent::TaskUpdated, "LWS001", task("2", "cancelled"));
    cancelled.focus["status"] = json!("revoked");
    let ours = message(&cancelled, &config()).expect("message");
    let h = header(&ours);
    assert_eq!(h["eventCoding"]["code"], "servicerequest-request");
    assert_eq!(h["reason"]["coding"][0]["code"], "update");
    assert_eq!(h["definition"], CANCELLED_DEFINITION);
    assert_eq!(resolve(&ours, &h["focus"][0])["status"], "revoked");
}

#[test]
fn a_retry_is_byte_identical() {
    let d = from_bars(delivery(
        DeliveryEvent::TaskUpdated,
        "A81001",
        task("3", "in-progress"),
    ));
    let (first, again) = (message(&d, &config()), message(&d, &config()));
    assert_eq!(first.map(|m| m.to_string()), again.map(|m| m.to_string()));
}

#[test]
fn what_cannot_be_addressed_or_sent_is_refused_never_sent_empty() {
    let mut d = delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested"));
    d.focus["id"] = json!("s1");
    assert_eq!(
        message(&d, &config()).err(),
        Some(MessageError::NotUuid("s1".into()))
    );
    let d = delivery(DeliveryEvent::TaskCreated, "ELSE01", task("1", "requested"));
    assert_eq!(
        message(&d, &config()).err(),
        Some(MessageError::UnknownParty("ELSE01".into()))
    );
    let mut d = delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested"));
    d.task["meta"] = json!({"versionId": "1"});
    assert_eq!(
        message(&d, &config()).err(),
        Some(MessageError::NoTimestamp)
    );
}

#[test]
fn the_target_identifier_header_is_base64_json_of_system_and_value() {
    let header = |d: &Delivery| -> Value {
        let decoded = STANDARD
            .decode(target_identifier(d, &config()))
            .expect("base64");
        serde_json::from_slice(&decoded).expect("json")
    };
    let request = from_bars(delivery(
        DeliveryEvent::TaskCreated,
        "LWS001",
        task("1", "requested"),
    ));
    assert_eq!(
        header(&request),
        json!({"value": "2000123456", "system": "https://fhir.nhs.uk/Id/dos-service-id"})
    );
    // A response goes to the endpoint the GP's message named as its source.
    let response = from_bars(delivery(
        DeliveryEvent::TaskUpdated,
        "A81001",
        task("2", "accepted"),
    ));
    assert_eq!(
        header(&response),
        json!({"value": "2222222222", "system": "https://fhir.nhs.uk/Id/dos-service-id"})
    );
}

fn decoded(headers: &HeaderMap, name: &str) -> Value {
    let raw = headers[name].to_str().expect("ascii");
    serde_json::from_slice(&STANDARD.decode(raw).expect("base64")).expect("json")
}

#[tokio::test]
async fn posts_the_message_with_the_bars_headers() {
    let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/fhir/$process-message",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                record.lock().expect("lock").push((headers, json.clone()));
                axum::Json(json)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut settings = json!({"url": format!("http://{addr}/fhir"), "target_identifier": "2000123456", "api_version": "1.4.0"});
    let adapter = build(&settings).expect("adapter").outbound;
    let d = delivery(DeliveryEvent::TaskCreated, "LWS001", task("1", "requested"));
    let receipt = adapter.deliver(&d).await.expect("delivered");
    assert_eq!(receipt.status, 200);
    assert!(
        receipt.answer.is_some_and(|a| a.contains("MessageHeader")),
        "the answer is kept"
    );
    let seen = seen.lock().expect("lock");
    let (headers, body) = &seen[0];
    assert_eq!(headers["accept"], "application/fhir+json; version=1.4.0");
    assert_eq!(headers["x-request-id"], d.idempotency_key.as_str());
    assert_eq!(headers["x-correlation-id"], d.correlation_id.as_str());
    let device = decoded(headers, "nhsd-requesting-software");
    assert_eq!(device["resourceType"], "Device");
    assert_eq!(device["deviceName"][0]["name"], "Signpost");
    assert_eq!(device["version"][0]["value"], env!("CARGO_PKG_VERSION"));
    assert_eq!(device["identifier"][0]["value"], SOFTWARE_ID);
    let org = decoded(headers, "nhsd-end-user-organisation");
    assert_eq!(org["identifier"][0]["value"], "A81001");
    assert_eq!(org["name"], "Riverside Surgery");
    assert_eq!(body, &message(&d, &config()).expect("message"));
    // The version defaults to the one the BaRS API publishes.
    settings.as_object_mut().map(|o| o.remove("api_version"));
    let config: BarsConfig = serde_json::from_value(settings).expect("config");
    assert_eq!(accept(&config), "application/fhir+json; version=1.0.0");
}
