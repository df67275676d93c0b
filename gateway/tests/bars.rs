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

async fn send(
    gw: &TestGateway,
    client: &str,
    message: &Value,
    request_id: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = gw
        .http
        .post(format!("{}/$process-message", gw.fhir))
        .bearer_auth(gw.token(client).await)
        .header("content-type", "application/fhir+json")
        .header("x-correlation-id", "corr-bars-1")
        .body(message.to_string());
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
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
    assert_eq!(headers["x-request-id"], "req-1");
    assert_eq!(headers["x-correlation-id"], "corr-bars-1");
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
        Some("corr-bars-1"),
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
        (StatusCode::BAD_REQUEST, ("invalid", "X-Request-Id"))
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
    assert_eq!(
        (status, issue(&outcome).1),
        (StatusCode::BAD_REQUEST, "Bundle.entry[0].resource")
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
            ("value", "ServiceRequest.subject.identifier.value")
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
