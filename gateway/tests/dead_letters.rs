//! Dead letters keep each Task's order at its partner, with every adapter: a delivery that went
//! dead holds back the later deliveries of its Task to the same partner until an operator
//! replays or discards it, and a replay never leaves the partner holding an older version.

use crate::support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use signpost_gateway::store::{SearchQuery, SortOrder};
use support::{Setup, TestGateway, answer};

const PATIENCE: Duration = Duration::from_secs(20);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA";
const REFUSAL: &str = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"unknown practitioner"}]}"#;

/// The `[organisation.adapter]` body of each adapter, pointing at `partner`.
fn adapter(kind: &str, partner: &FhirPartner) -> String {
    let url = partner.url();
    match kind {
        "fhir-rest" => format!("kind = \"fhir-rest\"\nurl = \"{url}\"\n"),
        "bars" => {
            format!("kind = \"bars\"\nurl = \"{url}\"\ntarget_identifier = \"2000123456\"\n")
        }
        "webhook" => format!("kind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n"),
        other => panic!("no adapter {other}"),
    }
}

/// The Task a delivery carries, whatever the adapter: a webhook event's `task`, or the Task
/// entry of a FHIR or BaRS Bundle.
fn task_in(body: &Value) -> Option<Value> {
    if body["task"].is_object() {
        return Some(body["task"].clone());
    }
    body["entry"].as_array().and_then(|entries| {
        entries
            .iter()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == "Task")
            .cloned()
    })
}

/// (version, status) of the Task in each delivery the partner accepted, in arrival order.
fn accepted_versions(partner: &FhirPartner) -> Vec<(String, String)> {
    partner
        .received()
        .iter()
        .filter(|r| r.accepted)
        .filter_map(|r| task_in(&r.body))
        .map(|t| {
            // A webhook event names the version itself; a FHIR Task carries it in `meta`.
            let version = t["version"].as_str().or(t["meta"]["versionId"].as_str());
            (
                version.unwrap_or("?").to_owned(),
                t["status"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

async fn deliveries(gw: &TestGateway, state: &str) -> Value {
    let response = gw
        .http
        .get(format!("{}/admin/deliveries?state={state}", gw.base))
        .bearer_auth(gw.token("operator").await)
        .send()
        .await
        .expect("get");
    response.json().await.expect("json")
}

async fn operator(gw: &TestGateway, id: &str, action: &str) -> (StatusCode, Value) {
    let response = gw
        .http
        .post(format!("{}/admin/deliveries/{id}/{action}", gw.base))
        .bearer_auth(gw.token("operator").await)
        .send()
        .await
        .expect("post");
    let (status, _, body) = answer(response).await;
    (status, body)
}

async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// The issue's scenario: the partner refuses the creation (it goes dead), the GP cancels, and
/// the cancellation waits; returns the gateway, the partner (now healthy) and the dead delivery's id.
async fn creation_dead_and_cancellation_held(kind: &str) -> (TestGateway, FhirPartner, String) {
    let partner = FhirPartner::start().await.expect("partner");
    partner.fail_with(400, REFUSAL);
    partner.set_down(true);
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("LWS001", adapter(kind, &partner))],
        delivery: "max_attempts = 2\nbackoff_base_ms = 10\nbackoff_max_ms = 20\npoll_interval_ms = 20\nbreaker_failures = 100\n".into(),
        ..Setup::default()
    })
    .await;
    let (_, task) = gw.referral_with_task().await;
    assert!(
        eventually(|| async { deliveries(&gw, "dead").await["count"] == 1 }).await,
        "{kind}: the refused creation never went dead"
    );
    let dead = deliveries(&gw, "dead").await;
    let id = dead["deliveries"][0]["id"].as_str().expect("id").to_owned();
    let refused = partner.received().len();
    gw.move_task("riverside-gp", &task, "cancelled").await;
    // The worker polls every 20 ms: given many polls, the cancellation must still be waiting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        partner.received().len(),
        refused,
        "{kind}: the cancellation overtook the dead creation"
    );
    let pending = deliveries(&gw, "pending").await;
    assert_eq!(pending["count"], 1, "{kind}: {pending}");
    assert_eq!(
        pending["deliveries"][0]["task"],
        format!("Task/{}/_history/2", task["id"].as_str().expect("task id")),
        "{kind}: the held delivery is the cancellation"
    );
    partner.set_down(false);
    (gw, partner, id)
}

/// Replayed, the creation goes first and the cancellation after it: the partner ends holding
/// the cancelled Task.
async fn a_replayed_creation_goes_before_the_cancellation_it_held_back(kind: &str) {
    let (gw, partner, id) = creation_dead_and_cancellation_held(kind).await;
    let (status, body) = operator(&gw, &id, "replay").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{kind}: {body}");
    assert!(
        eventually(|| async { accepted_versions(&partner).len() == 2 }).await,
        "{kind}: not both delivered: {:?}",
        accepted_versions(&partner)
    );
    assert_eq!(
        accepted_versions(&partner),
        vec![
            ("1".to_owned(), "requested".to_owned()),
            ("2".to_owned(), "cancelled".to_owned())
        ],
        "{kind}: the partner must end with the cancelled Task"
    );
    assert!(
        eventually(|| async { deliveries(&gw, "delivered").await["count"] == 2 }).await,
        "{kind}: both deliveries are recorded delivered"
    );
}

#[tokio::test]
async fn fhir_rest_a_replayed_creation_goes_before_the_cancellation_it_held_back() {
    a_replayed_creation_goes_before_the_cancellation_it_held_back("fhir-rest").await;
}

#[tokio::test]
async fn bars_a_replayed_creation_goes_before_the_cancellation_it_held_back() {
    a_replayed_creation_goes_before_the_cancellation_it_held_back("bars").await;
}

#[tokio::test]
async fn webhook_a_replayed_creation_goes_before_the_cancellation_it_held_back() {
    a_replayed_creation_goes_before_the_cancellation_it_held_back("webhook").await;
}

/// Discarded, the creation is never sent and the cancellation goes on; the discard is audited,
/// and only a dead delivery can be discarded.
async fn a_discarded_creation_lets_the_cancellation_go(kind: &str) {
    let (gw, partner, id) = creation_dead_and_cancellation_held(kind).await;
    let (status, body) = operator(&gw, &id, "discard").await;
    assert_eq!(
        (status, body["state"].as_str()),
        (StatusCode::OK, Some("discarded")),
        "{kind}: {body}"
    );
    assert!(
        eventually(|| async { accepted_versions(&partner).len() == 1 }).await,
        "{kind}: the cancellation was not delivered"
    );
    assert_eq!(
        accepted_versions(&partner),
        vec![("2".to_owned(), "cancelled".to_owned())],
        "{kind}"
    );
    let (status, body) = operator(&gw, &id, "discard").await;
    assert_eq!(status, StatusCode::CONFLICT, "{kind}: {body}");
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(
        operator(&gw, &id, "replay").await.0,
        StatusCode::CONFLICT,
        "{kind}: a discarded delivery is not replayed"
    );
    assert_eq!(deliveries(&gw, "discarded").await["count"], 1);
    let audits = gw
        .store
        .search(&SearchQuery {
            resource_type: "AuditEvent".into(),
            criteria: vec![],
            count: 1000,
            offset: 0,
            sort: SortOrder::default(),
        })
        .await
        .expect("audit events");
    let recorded = audits.resources.iter().any(|r| {
        let event: Value = serde_json::from_str(r.body.get()).unwrap_or(Value::Null);
        event["entity"][0]["what"]["display"] == format!("outbox delivery {id}")
            && event["entity"][0]["description"] == "discarded by an operator"
            && event["agent"][0]["who"]["identifier"]["value"] == "operator"
    });
    assert!(recorded, "{kind}: the discard was not audited");
}

#[tokio::test]
async fn fhir_rest_a_discarded_creation_lets_the_cancellation_go() {
    a_discarded_creation_lets_the_cancellation_go("fhir-rest").await;
}

#[tokio::test]
async fn bars_a_discarded_creation_lets_the_cancellation_go() {
    a_discarded_creation_lets_the_cancellation_go("bars").await;
}

#[tokio::test]
async fn webhook_a_discarded_creation_lets_the_cancellation_go() {
    a_discarded_creation_lets_the_cancellation_go("webhook").await;
}
