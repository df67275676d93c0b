//! NHS BaRS messaging: a GP system's referral message in through `$process-message`, the
//! same intake as `POST /fhir/ServiceRequest`, and out to a BaRS link-worker platform.

use crate::support;

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_conformance::simulators::FhirPartner;
use support::{Setup, TestGateway, answer, issue};

const FIXTURE: &str = include_str!("../../adapters/src/bars/fixtures/referral-request.json");
const PATIENCE: Duration = Duration::from_secs(20);

/// The conversation id every message in these tests carries.
const CORRELATION: &str = "5b1f0c3e-8a2d-4c6b-9e7f-1a2b3c4d5e6f";

/// A UUID of its own for each label, so a test reads as "the same message" or "another".
fn rid(label: &str) -> String {
    let n = label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        n >> 32,
        n & 0xffff_ffff_ffff
    )
}

async fn send(
    gw: &TestGateway,
    client: &str,
    message: &Value,
    request_id: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let id = request_id.map(rid);
    let mut headers = vec![("x-correlation-id", CORRELATION)];
    if let Some(id) = &id {
        headers.push(("x-request-id", id.as_str()));
    }
    send_with(gw, Some(client), message, &headers).await
}

/// Posts a message with exactly these headers (and a token for `client`, if one).
async fn send_with(
    gw: &TestGateway,
    client: Option<&str>,
    message: &Value,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = gw
        .http
        .post(format!("{}/$process-message", gw.fhir))
        .header("content-type", "application/fhir+json")
        .body(message.to_string());
    if let Some(client) = client {
        request = request.bearer_auth(gw.token(client).await);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send().await.expect("post")).await
}

async fn spawn_with_bars_partner() -> (TestGateway, FhirPartner) {
    let partner = FhirPartner::start().await.expect("partner");
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![(
            "LWS001",
            format!(
                "kind = \"bars\"\nurl = \"{}\"\ntarget_identifier = \"2000123456\"\n",
                partner.url()
            ),
        )],
        delivery: "poll_interval_ms = 20\n".into(),
        ..Setup::default()
    })
    .await;
    (gw, partner)
}

fn fixture() -> Value {
    serde_json::from_str(FIXTURE).expect("fixture")
}

#[tokio::test]
async fn a_bars_referral_comes_in_and_goes_out_to_a_bars_link_worker_platform() {
    let (gw, partner) = spawn_with_bars_partner().await;
    let (status, headers, sr) = send(&gw, "riverside-gp", &fixture(), Some("req-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    assert_eq!(headers["x-request-id"], rid("req-1").as_str());
    assert_eq!(headers["x-correlation-id"], CORRELATION);
    assert_eq!(sr["subject"]["identifier"]["value"], "9476719931");
    assert_eq!(sr["contained"][0]["name"][0]["family"], "Chalmers");
    assert_eq!(sr["requester"]["identifier"]["value"], "A81001");
    assert!(
        !sr.to_string().contains("urn:uuid:"),
        "no dangling references into the message"
    );
    let id = sr["id"].as_str().expect("id");
    let (_, _, tasks) = gw
        .get_as("riverside-lw", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    assert_eq!(tasks["total"], 1);

    // Out again to the link-worker platform, as a BaRS message.
    assert!(
        partner
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "nothing delivered"
    );
    let delivered = &partner.received()[0];
    let message = &delivered.body;
    assert_eq!(message["type"], "message");
    let header = &message["entry"][0]["resource"];
    assert_eq!(header["resourceType"], "MessageHeader");
    assert_eq!(
        header["eventCoding"],
        fixture()["entry"][0]["resource"]["eventCoding"]
    );
    assert_eq!(header["reason"]["coding"][0]["code"], "new");
    assert_eq!(header["focus"][0]["reference"], format!("urn:uuid:{id}"));
    assert_eq!(
        message["entry"][1]["resource"]["subject"]["identifier"]["value"],
        "9476719931"
    );
    assert_eq!(
        delivered.correlation_id.as_deref(),
        Some(CORRELATION),
        "one correlation id threads GP to link worker"
    );
    let target = delivered
        .header("nhsd-target-identifier")
        .expect("target header");
    let target: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(target)
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(target["value"], "2000123456");
    assert!(
        delivered.header("nhsd-requesting-software").is_some()
            && delivered.header("nhsd-end-user-organisation").is_some()
    );
}

#[tokio::test]
async fn a_repeated_request_id_is_409_duplicate_and_stores_nothing_new() {
    let (gw, _) = spawn_with_bars_partner().await;
    assert_eq!(
        send(&gw, "riverside-gp", &fixture(), Some("req-dup"))
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, _, outcome) = send(&gw, "riverside-gp", &fixture(), Some("req-dup")).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::CONFLICT, "duplicate")
    );
    assert_eq!(gw.stored().await.0, 1);
}

#[tokio::test]
async fn bad_messages_get_the_same_answers_as_intake() {
    let (gw, _) = spawn_with_bars_partner().await;
    let (status, _, outcome) = send(&gw, "riverside-gp", &fixture(), None).await;
    assert_eq!(
        (status, issue(&outcome)),
        (StatusCode::BAD_REQUEST, ("required", "X-Request-Id"))
    );
    let mut collection = fixture();
    collection["type"] = json!("collection");
    assert_eq!(
        send(&gw, "riverside-gp", &collection, Some("r1")).await.0,
        StatusCode::BAD_REQUEST
    );
    let mut header_last = fixture();
    let entries = header_last["entry"].as_array_mut().expect("entries");
    entries.rotate_left(1);
    let (status, _, outcome) = send(&gw, "riverside-gp", &header_last, Some("r2")).await;
    // R4's own rule, bdl-12, answers before BaRS's: the message is refused at the Bundle.
    assert_eq!(
        (status, issue(&outcome)),
        (StatusCode::BAD_REQUEST, ("invariant", "Bundle"))
    );
    assert!(
        outcome["issue"][0]["diagnostics"].as_str().is_some_and(
            |d| d.contains("bdl-12: A message must have a MessageHeader as the first resource")
        ),
        "{outcome}"
    );
    let bad_number = FIXTURE.replace("9476719931", "9476719932");
    let (status, _, outcome) = send(
        &gw,
        "riverside-gp",
        &serde_json::from_str(&bad_number).expect("json"),
        Some("r3"),
    )
    .await;
    assert_eq!(
        (status, issue(&outcome)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            ("value", "Bundle.entry[2].resource.identifier[0].value")
        )
    );
    let (status, _, _) = send(&gw, "hillside-gp", &fixture(), Some("r4")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "one practice cannot refer for another, whichever way it arrives"
    );
    let mut unknown_event = fixture();
    unknown_event["entry"][0]["resource"]["eventCoding"]["code"] = json!("booking-request");
    assert_eq!(
        send(&gw, "riverside-gp", &unknown_event, Some("r5"))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(gw.stored().await.0, 0, "nothing refused was stored");
}

#[tokio::test]
async fn a_bars_cancellation_cancels_the_referral_and_the_platform_hears_of_it() {
    let (gw, partner) = spawn_with_bars_partner().await;
    let (_, _, sr) = send(&gw, "riverside-gp", &fixture(), Some("req-new")).await;
    let mut cancellation = fixture();
    cancellation["entry"][0]["resource"]["reason"]["coding"][0]["code"] = json!("update");
    cancellation["entry"][1]["resource"]["status"] = json!("revoked");
    cancellation["entry"][1]["resource"]["reasonCode"] = json!([{"text": "Patient moved away"}]);
    let (status, _, task) = send(&gw, "riverside-gp", &cancellation, Some("req-cancel")).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task["status"], "cancelled");
    assert_eq!(task["statusReason"]["text"], "Patient moved away");
    let id = sr["id"].as_str().expect("id");
    assert_eq!(
        gw.get_as("riverside-gp", &format!("ServiceRequest/{id}"))
            .await
            .2["status"],
        "revoked"
    );
    let cancelled_arrived = partner
        .wait_until(PATIENCE, |r| {
            r.iter().any(|r| {
                r.accepted
                    && r.body["entry"][0]["resource"]["reason"]["coding"][0]["code"] == "update"
            })
        })
        .await;
    assert!(cancelled_arrived, "the platform was not told");
    let update = partner
        .received()
        .into_iter()
        .find(|r| r.body["entry"][0]["resource"]["reason"]["coding"][0]["code"] == "update")
        .expect("update");
    let of_type = |rtype: &str| {
        update.body["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == rtype)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of_type("ServiceRequest")["status"], "revoked");
    assert_eq!(of_type("Task")["status"], "cancelled");
}

#[tokio::test]
async fn a_refused_message_does_not_use_up_its_request_id() {
    let (gw, _) = spawn_with_bars_partner().await;
    let bad = FIXTURE.replace("9476719931", "9476719932");
    let (status, _, _) = send(
        &gw,
        "riverside-gp",
        &serde_json::from_str(&bad).expect("json"),
        Some("req-fixed"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // The sender corrects the message and sends it again: it is processed, not called a duplicate.
    assert_eq!(
        send(&gw, "riverside-gp", &fixture(), Some("req-fixed"))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        send(&gw, "riverside-gp", &fixture(), Some("req-fixed"))
            .await
            .0,
        StatusCode::CONFLICT
    );
}

/// An official BaRS example from `../shared/fixtures/bars/`, verbatim.
fn official(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/bars")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The BaRS IG's REFREQ03 (GP to service referral), verbatim.
fn refreq03() -> Value {
    serde_json::from_str(&official("bars-REFREQ03-referral.json")).expect("REFREQ03")
}

/// REFREQ03 with three fields changed: the patient's NHS number (entry 6; the IG's 3478526985
/// fails modulus 11) to the valid 9434765919, the sender Organization's ODS code (entry 12,
/// "RND") to the sandbox practice's, A81001, and the receiving Organization's (entry 11, "RYE",
/// the performer HealthcareService's `providedBy`) to the sandbox link-worker service's, LWS001:
/// a GP referral's performer must be a link-worker service registered here. Everything else, the
/// lower-case `/id/` ODS systems included, is as published.
fn refreq03_from_riverside() -> Value {
    let mut message = refreq03();
    assert_eq!(message["entry"][6]["resource"]["resourceType"], "Patient");
    message["entry"][6]["resource"]["identifier"][0]["value"] = json!("9434765919");
    assert_eq!(
        message["entry"][12]["resource"]["name"],
        "Sender Organization"
    );
    message["entry"][12]["resource"]["identifier"][0]["value"] = json!("A81001");
    assert_eq!(
        message["entry"][11]["resource"]["identifier"][0]["value"],
        "RYE"
    );
    message["entry"][11]["resource"]["identifier"][0]["value"] = json!("LWS001");
    message
}

/// Each issue as (severity, code, expression, BaRS error code).
fn bars_issues(outcome: &Value) -> Vec<(String, String, String, String)> {
    assert_eq!(outcome["resourceType"], "OperationOutcome", "{outcome}");
    outcome["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let coding = &i["details"]["coding"][0];
            let bars = if coding["system"] == "https://fhir.nhs.uk/Codesystem/http-error-codes" {
                text(&coding["code"])
            } else {
                String::new()
            };
            (
                text(&i["severity"]),
                text(&i["code"]),
                text(&i["expression"][0]),
                bars,
            )
        })
        .collect()
}

fn expect(rows: &[(&str, &str, &str, &str)]) -> Vec<(String, String, String, String)> {
    rows.iter()
        .map(|(a, b, c, d)| ((*a).into(), (*b).into(), (*c).into(), (*d).into()))
        .collect()
}

fn echoed(headers: &reqwest::header::HeaderMap, request_id: &str) {
    assert_eq!(headers["x-request-id"], request_id);
    assert_eq!(headers["x-correlation-id"], CORRELATION);
}

#[tokio::test]
async fn refreq03_as_published_is_refused_for_its_nhs_number_named_where_the_message_has_it() {
    let (gw, _) = spawn_with_bars_partner().await;
    let (status, headers, outcome) = send(&gw, "riverside-gp", &refreq03(), Some("refreq03")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    echoed(&headers, &rid("refreq03"));
    assert_eq!(
        bars_issues(&outcome),
        expect(&[(
            "error",
            "value",
            "Bundle.entry[6].resource.identifier[0].value",
            "REC_UNPROCESSABLE_ENTITY"
        )]),
        "{outcome}"
    );
    assert!(
        !outcome.to_string().contains("ServiceRequest.contained"),
        "{outcome}"
    );
    assert_eq!(gw.stored().await.0, 0);
}

#[tokio::test]
async fn a_referral_to_a_receiver_not_registered_here_is_refused_naming_its_entry() {
    let (gw, _) = spawn_with_bars_partner().await;
    let mut message = refreq03_from_riverside();
    message["entry"][11]["resource"]["identifier"][0]["value"] = json!("RYE");
    let (status, headers, outcome) = send(&gw, "riverside-gp", &message, Some("to-rye")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    echoed(&headers, &rid("to-rye"));
    assert_eq!(
        bars_issues(&outcome),
        expect(&[(
            "error",
            "business-rule",
            "Bundle.entry[11].resource.identifier[0].value",
            "REC_UNPROCESSABLE_ENTITY"
        )]),
        "{outcome}"
    );
    assert_eq!(gw.stored().await.0, 0);
}

#[tokio::test]
async fn refreq03_from_the_sandbox_practice_becomes_a_social_prescribing_referral() {
    let (gw, partner) = spawn_with_bars_partner().await;
    let (status, headers, outcome) = send_with(
        &gw,
        Some("riverside-gp"),
        &refreq03_from_riverside(),
        &[
            ("x-request-id", &rid("refreq03-riverside")),
            ("x-correlation-id", CORRELATION),
            ("prefer", "return=OperationOutcome"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{outcome}");
    echoed(&headers, &rid("refreq03-riverside"));
    let ods_read_canonical = |entry: usize| {
        (
            "warning",
            "value",
            format!("Bundle.entry[{entry}].resource.identifier[0].system"),
            "",
        )
    };
    let warnings: Vec<_> = bars_issues(&outcome).into_iter().skip(1).collect();
    let (patients_surgery, sender, performer) = (
        ods_read_canonical(9),
        ods_read_canonical(12),
        ods_read_canonical(11),
    );
    assert_eq!(
        warnings,
        expect(&[
            (
                patients_surgery.0,
                patients_surgery.1,
                &patients_surgery.2,
                patients_surgery.3
            ),
            (sender.0, sender.1, &sender.2, sender.3),
            (performer.0, performer.1, &performer.2, performer.3),
            (
                "warning",
                "informational",
                "Bundle.entry[1].resource.code",
                ""
            ),
        ]),
        "{outcome}"
    );
    let location = headers["location"].to_str().expect("location");
    let id = location
        .split("/ServiceRequest/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("id");
    let (_, _, sr) = gw
        .get_as("riverside-gp", &format!("ServiceRequest/{id}"))
        .await;
    // The organisation is the message's sender: the requester Practitioner names none.
    assert_eq!(
        sr["requester"]["identifier"],
        json!({"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A81001"})
    );
    assert_eq!(
        sr["subject"]["identifier"],
        json!({"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"})
    );
    assert_eq!(
        sr["code"]["coding"][0]["code"], "871731000000106",
        "recognised as social prescribing"
    );
    assert_eq!(
        sr["contained"][0]["generalPractitioner"][0]["identifier"],
        json!({"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "G82080"}),
        "a message-local reference becomes a logical one, stored canonical"
    );
    assert!(
        sr["extension"]
            .as_array()
            .expect("extensions")
            .contains(&json!({
                "url": "https://signpost.example/fhir/StructureDefinition/bars-source-endpoint",
                "valueString": "https://fhir.nhs.uk/Id/dos-service-id|2222222222"
            })),
        "the way back is kept: {sr}"
    );
    assert!(!sr.to_string().contains("urn:uuid:"), "dangling: {sr}");
    assert!(!sr.to_string().contains("/id/"), "non-canonical: {sr}");
    assert!(
        sr.get("basedOn").is_none(),
        "the CarePlan is not a referral"
    );
    let (_, _, tasks) = gw
        .get_as("riverside-lw", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    assert_eq!(tasks["total"], 1);
    assert!(
        partner
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "nothing delivered"
    );
}

#[tokio::test]
async fn a_bars_validation_request_is_refused_as_not_supported_and_creates_nothing() {
    let (gw, partner) = spawn_with_bars_partner().await;
    let validation: Value =
        serde_json::from_str(&official("bars-ValidationRequest-official.json")).expect("json");
    let (status, headers, outcome) =
        send(&gw, "riverside-gp", &validation, Some("validation")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    echoed(&headers, &rid("validation"));
    assert_eq!(
        bars_issues(&outcome),
        expect(&[(
            "error",
            "not-supported",
            "Bundle.entry[0].resource.definition",
            "REC_UNPROCESSABLE_ENTITY"
        )])
    );
    // Even named as a referral, a ServiceRequest of category validation is not one.
    let mut relabelled = validation.clone();
    relabelled["entry"][0]["resource"]["definition"] =
        json!("https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-referral");
    let (status, _, outcome) = send(
        &gw,
        "riverside-gp",
        &relabelled,
        Some("validation-relabelled"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    let category = &bars_issues(&outcome)[0];
    assert_eq!(
        (category.1.as_str(), category.3.as_str()),
        ("not-supported", "REC_UNPROCESSABLE_ENTITY")
    );
    assert!(
        category.2.starts_with("Bundle.entry[1].resource.category["),
        "{outcome}"
    );

    let booking: Value =
        serde_json::from_str(&official("bars-booking-request-official.json")).expect("json");
    let (status, _, outcome) = send(&gw, "riverside-gp", &booking, Some("booking")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    assert_eq!(
        bars_issues(&outcome),
        expect(&[(
            "error",
            "not-supported",
            "Bundle.entry[0].resource.eventCoding",
            "REC_UNPROCESSABLE_ENTITY"
        )])
    );
    assert_eq!(gw.stored().await.0, 0, "no referral");
    assert_eq!(gw.stored().await.1, 0, "no Task");
    assert!(partner.received().is_empty());
}

#[tokio::test]
async fn both_ids_are_required_uuids_and_echoed_on_every_answer_with_the_bars_error_code() {
    let (gw, _) = spawn_with_bars_partner().await;
    let message = refreq03_from_riverside();
    let request_id = rid("headers");

    let (status, headers, outcome) = send_with(
        &gw,
        Some("riverside-gp"),
        &message,
        &[("x-correlation-id", CORRELATION)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-correlation-id"], CORRELATION);
    assert_eq!(
        bars_issues(&outcome),
        expect(&[("error", "required", "X-Request-Id", "REC_BAD_REQUEST")])
    );

    let (status, headers, outcome) = send_with(
        &gw,
        Some("riverside-gp"),
        &message,
        &[("x-request-id", &request_id)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-request-id"], request_id.as_str());
    assert_eq!(
        bars_issues(&outcome),
        expect(&[("error", "required", "X-Correlation-Id", "REC_BAD_REQUEST")])
    );

    for (request, correlation, named) in [
        ("req-1", CORRELATION, "X-Request-Id"),
        (request_id.as_str(), "xyz", "X-Correlation-Id"),
    ] {
        let (status, headers, outcome) = send_with(
            &gw,
            Some("riverside-gp"),
            &message,
            &[("x-request-id", request), ("x-correlation-id", correlation)],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{outcome}");
        assert_eq!(headers["x-request-id"], request);
        assert_eq!(headers["x-correlation-id"], correlation);
        assert_eq!(
            bars_issues(&outcome),
            expect(&[("error", "invalid", named, "REC_BAD_REQUEST")])
        );
    }

    let ids = [
        ("x-request-id", request_id.as_str()),
        ("x-correlation-id", CORRELATION),
    ];
    let (status, headers, outcome) = send_with(&gw, None, &message, &ids).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    echoed(&headers, &request_id);
    assert_eq!(bars_issues(&outcome)[0].3, "REC_UNAUTHORIZED");

    assert_eq!(gw.stored().await.0, 0, "nothing refused was stored");
    let (status, headers, _) = send_with(&gw, Some("riverside-gp"), &message, &ids).await;
    assert_eq!(status, StatusCode::CREATED);
    echoed(&headers, &request_id);
    let (status, headers, outcome) = send_with(&gw, Some("riverside-gp"), &message, &ids).await;
    assert_eq!(status, StatusCode::CONFLICT);
    echoed(&headers, &request_id);
    assert_eq!(
        bars_issues(&outcome),
        expect(&[("error", "duplicate", "", "REC_CONFLICT")])
    );
    assert_eq!(gw.stored().await.0, 1);
}

/// The variant as a cancellation: reason `update`, the ServiceRequest `revoked`.
fn cancelling(mut message: Value, id: Option<&str>, identifier: Option<Value>) -> Value {
    message["entry"][0]["resource"]["reason"]["coding"][0]["code"] = json!("update");
    message["entry"][0]["resource"]["definition"] = json!(
        "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request-cancelled"
    );
    let sr = &mut message["entry"][1]["resource"];
    sr["status"] = json!("revoked");
    if let Some(id) = id {
        sr["id"] = json!(id);
    }
    if let Some(identifier) = identifier {
        sr["identifier"] = json!([identifier]);
    }
    message
}

async fn task_status(gw: &TestGateway, sr_id: &str) -> Value {
    let (_, _, tasks) = gw
        .get_as(
            "riverside-gp",
            &format!("Task?focus=ServiceRequest/{sr_id}"),
        )
        .await;
    tasks["entry"][0]["resource"]["status"].clone()
}

#[tokio::test]
async fn a_cancellation_names_the_referral_by_signposts_id() {
    let (gw, _) = spawn_with_bars_partner().await;
    let (status, _, sr) = send(&gw, "riverside-gp", &refreq03_from_riverside(), Some("new")).await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    let id = sr["id"].as_str().expect("id");
    let message = cancelling(refreq03_from_riverside(), Some(id), None);
    let (status, headers, task) = send(&gw, "riverside-gp", &message, Some("cancel")).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    echoed(&headers, &rid("cancel"));
    assert_eq!(task["status"], "cancelled");
    assert_eq!(
        gw.get_as("riverside-gp", &format!("ServiceRequest/{id}"))
            .await
            .2["status"],
        "revoked"
    );
}

#[tokio::test]
async fn a_referral_that_has_ended_cannot_be_cancelled_and_the_answer_names_the_message_status() {
    let (gw, _) = spawn_with_bars_partner().await;
    let (_, _, sr) = send(&gw, "riverside-gp", &refreq03_from_riverside(), Some("new")).await;
    let id = sr["id"].as_str().expect("id");
    let (_, _, tasks) = gw
        .get_as("riverside-lw", &format!("Task?focus=ServiceRequest/{id}"))
        .await;
    gw.move_task("riverside-lw", &tasks["entry"][0]["resource"], "rejected")
        .await;
    let message = cancelling(refreq03_from_riverside(), Some(id), None);
    let (status, headers, outcome) = send(&gw, "riverside-gp", &message, Some("late")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    echoed(&headers, &rid("late"));
    assert_eq!(
        bars_issues(&outcome),
        expect(&[(
            "error",
            "business-rule",
            "Bundle.entry[1].resource.status",
            "REC_UNPROCESSABLE_ENTITY"
        )])
    );
    assert_eq!(task_status(&gw, id).await, "rejected");
}

#[tokio::test]
async fn a_cancellation_by_an_identifier_of_several_live_referrals_is_refused_and_changes_nothing()
{
    let (gw, _) = spawn_with_bars_partner().await;
    let identifier = json!({"system": "https://gp.example/referrals", "value": "R-7"});
    let mut ids = Vec::new();
    for n in 0..2 {
        let mut message = refreq03_from_riverside();
        message["entry"][1]["resource"]["identifier"] = json!([identifier]);
        let (status, _, sr) = send(&gw, "riverside-gp", &message, Some(&format!("new-{n}"))).await;
        assert_eq!(status, StatusCode::CREATED, "{sr}");
        ids.push(sr["id"].as_str().expect("id").to_owned());
    }
    let message = cancelling(refreq03_from_riverside(), None, Some(identifier.clone()));
    let (status, headers, outcome) = send(&gw, "riverside-gp", &message, Some("ambiguous")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    echoed(&headers, &rid("ambiguous"));
    assert_eq!(
        bars_issues(&outcome),
        expect(&[(
            "error",
            "multiple-matches",
            "Bundle.entry[1].resource.identifier[0]",
            "REC_UNPROCESSABLE_ENTITY"
        )])
    );
    for id in &ids {
        assert_eq!(task_status(&gw, id).await, "requested", "nothing changed");
    }
    // Named by Signpost's id, the same message cancels exactly that one.
    let message = cancelling(refreq03_from_riverside(), Some(&ids[1]), Some(identifier));
    let (status, _, task) = send(&gw, "riverside-gp", &message, Some("by-id")).await;
    assert_eq!(status, StatusCode::OK, "{task}");
    assert_eq!(task_status(&gw, &ids[0]).await, "requested");
    assert_eq!(task_status(&gw, &ids[1]).await, "cancelled");
}

#[tokio::test]
async fn a_lower_case_nhs_number_system_is_accepted_with_a_warning_and_stored_canonical() {
    let (gw, _) = spawn_with_bars_partner().await;
    let mut message = refreq03_from_riverside();
    message["entry"][6]["resource"]["identifier"][0]["system"] =
        json!("https://fhir.nhs.uk/id/nhs-number");
    let (status, headers, sr) = send(&gw, "riverside-gp", &message, Some("lower")).await;
    assert_eq!(status, StatusCode::CREATED, "{sr}");
    assert_eq!(
        sr["subject"]["identifier"]["system"],
        "https://fhir.nhs.uk/Id/nhs-number"
    );
    assert_eq!(
        sr["contained"][0]["identifier"][0]["system"],
        "https://fhir.nhs.uk/Id/nhs-number"
    );
    let warnings: Vec<&str> = headers
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("https://fhir.nhs.uk/id/nhs-number")),
        "{warnings:?}"
    );
}
