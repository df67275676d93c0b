//! The delivery engine every adapter shares, and the webhook adapter end to end: retries,
//! dead letters and replay, permanent refusals, circuit breaking, isolation from a hung
//! partner, per-Task ordering, signed events out and signed status updates in.

use crate::support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_adapters::webhook::Secret;
use signpost_conformance::simulators::FhirPartner;
use support::{REFERRAL, Setup, TestGateway, answer, issue, referral};

const PATIENCE: Duration = Duration::from_secs(20);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA";

fn fhir_rest(partner: &FhirPartner) -> String {
    format!(
        "kind = \"fhir-rest\"\nurl = \"{}\"\ntimeout_seconds = 30\n",
        partner.url()
    )
}

async fn admin(gw: &TestGateway, client: &str, state: &str) -> (StatusCode, Value) {
    let response = gw
        .http
        .get(format!("{}/admin/deliveries?state={state}", gw.base))
        .bearer_auth(gw.token(client).await)
        .send()
        .await
        .expect("get");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_for<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_partner_that_stays_down_goes_dead_and_is_replayed_once_it_is_up() {
    let partner = FhirPartner::start().await.expect("partner");
    partner.set_down(true);
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("LWS001", fhir_rest(&partner))],
        delivery: "max_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 20\npoll_interval_ms = 20\nbreaker_failures = 100\n".into(),
        extra: String::new(),
        ..Setup::default()
    })
    .await;
    assert_eq!(gw.post_referral(REFERRAL).await.0, StatusCode::CREATED);
    assert!(
        wait_for(|| async { admin(&gw, "operator", "dead").await.1["count"] == 1 }).await,
        "never went dead"
    );

    let (_, dead) = admin(&gw, "operator", "dead").await;
    let record = &dead["deliveries"][0];
    assert_eq!(record["organisation"], "LWS001");
    assert_eq!(record["adapter"], "fhir-rest");
    assert_eq!(record["attempts"], 3);
    assert!(
        record["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("503"),
        "{record}"
    );
    let tries = partner.received();
    assert_eq!(tries.len(), 3);
    assert!(
        tries.iter().all(|r| r.request_id == tries[0].request_id),
        "the idempotency key changed between attempts"
    );

    assert_eq!(
        admin(&gw, "riverside-gp", "dead").await.0,
        StatusCode::FORBIDDEN,
        "only operators see deliveries"
    );
    let id = record["id"].as_str().expect("id");
    let replay = |client: &'static str, id: String| {
        let gw = &gw;
        async move {
            let response = gw
                .http
                .post(format!("{}/admin/deliveries/{id}/replay", gw.base))
                .bearer_auth(gw.token(client).await)
                .send()
                .await
                .expect("post");
            answer(response).await
        }
    };
    assert_eq!(
        replay("riverside-lw", id.to_owned()).await.0,
        StatusCode::FORBIDDEN
    );

    partner.set_down(false);
    assert_eq!(
        replay("operator", id.to_owned()).await.0,
        StatusCode::ACCEPTED
    );
    assert!(
        partner
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "the replay was not delivered"
    );
    assert_eq!(
        partner.received().last().and_then(|r| r.request_id.clone()),
        tries[0].request_id,
        "a replay keeps the key"
    );
    assert!(wait_for(|| async { admin(&gw, "operator", "delivered").await.1["count"] == 1 }).await);
    assert_eq!(admin(&gw, "operator", "dead").await.1["count"], 0);
    let (status, _, outcome) = replay("operator", id.to_owned()).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::CONFLICT, "conflict"),
        "only dead deliveries are replayed"
    );
    assert_eq!(
        replay("operator", "no-such-delivery".into()).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_partner_refusing_the_content_makes_it_dead_at_once_with_its_answer_kept() {
    let partner = FhirPartner::start().await.expect("partner");
    partner.set_down(true);
    partner.fail_with(422, "Task.owner LWS001 is not an organisation we know");
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("LWS001", fhir_rest(&partner))],
        delivery: "max_attempts = 10\nbackoff_base_ms = 10\npoll_interval_ms = 20\n".into(),
        extra: String::new(),
        ..Setup::default()
    })
    .await;
    gw.post_referral(REFERRAL).await;
    assert!(wait_for(|| async { admin(&gw, "operator", "dead").await.1["count"] == 1 }).await);
    let (_, dead) = admin(&gw, "operator", "dead").await;
    assert_eq!(
        dead["deliveries"][0]["attempts"], 1,
        "a permanent refusal is not retried"
    );
    let error = dead["deliveries"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("422") && error.contains("not an organisation we know"),
        "{error}"
    );
    assert_eq!(partner.received().len(), 1);
}

#[tokio::test]
async fn a_failing_partner_trips_its_breaker_instead_of_burning_attempts() {
    let partner = FhirPartner::start().await.expect("partner");
    partner.set_down(true);
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("LWS001", fhir_rest(&partner))],
        delivery: "max_attempts = 1000\nbackoff_base_ms = 10\nbackoff_max_ms = 20\npoll_interval_ms = 20\n\
                   per_partner_concurrency = 1\nbreaker_failures = 2\nbreaker_open_seconds = 600\n"
            .into(),
        extra: String::new(),
        ..Setup::default()
    })
    .await;
    for n in 0..3 {
        let body = REFERRAL.replace("RS-2026-000184", &format!("RS-B-{n}"));
        assert_eq!(gw.post_referral(body).await.0, StatusCode::CREATED);
    }
    assert!(partner.wait_until(PATIENCE, |r| r.len() >= 2).await);
    // Without the breaker, 10-20 ms backoff would bring dozens of attempts in this window.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        partner.received().len(),
        2,
        "the breaker let more attempts through"
    );
    let (_, pending) = admin(&gw, "operator", "pending").await;
    assert_eq!(
        pending["count"], 3,
        "nothing is lost or dead while the breaker is open"
    );
}

#[tokio::test]
async fn a_hung_partner_holds_up_no_other() {
    let hung = FhirPartner::start().await.expect("hung");
    hung.delay(Duration::from_secs(120));
    let prompt = FhirPartner::start().await.expect("prompt");
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("LWS001", fhir_rest(&hung)), ("LWS002", fhir_rest(&prompt))],
        delivery: "concurrency = 4\nper_partner_concurrency = 2\npoll_interval_ms = 20\n".into(),
        extra: "[[route]]\nfrom = \"A81002\"\nto = \"LWS002\"\n".into(),
        ..Setup::default()
    })
    .await;
    for n in 0..6 {
        let body = REFERRAL.replace("RS-2026-000184", &format!("RS-H-{n}"));
        assert_eq!(gw.post_referral(body).await.0, StatusCode::CREATED);
    }
    assert!(
        hung.wait_until(PATIENCE, |r| r.len() >= 2).await,
        "the hung partner was never called"
    );
    let other = REFERRAL.replace("\"A81001\"", "\"A81002\"");
    assert_eq!(
        gw.post_as("hillside-gp", "ServiceRequest", other, &[])
            .await
            .0,
        StatusCode::CREATED
    );
    assert!(
        prompt
            .wait_until(PATIENCE, |r| r.iter().any(|r| r.accepted))
            .await,
        "the prompt partner waited behind the hung one"
    );
    assert_eq!(
        hung.received().len(),
        2,
        "more than the per-partner cap went to the hung partner"
    );
}

#[tokio::test]
async fn a_backlog_to_one_partner_moves_on_as_each_delivery_ends_not_at_each_poll() {
    let partner = FhirPartner::start().await.expect("partner");
    // A poll an hour apart: only a finished delivery can start the next one in time.
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("LWS001", fhir_rest(&partner))],
        delivery: "per_partner_concurrency = 1\npoll_interval_ms = 3600000\n".into(),
        extra: String::new(),
        ..Setup::default()
    })
    .await;
    // Posted together, so one wake-up finds them all queued.
    let body = |n: usize| REFERRAL.replace("RS-2026-000184", &format!("RS-B-{n}"));
    let answers = tokio::join!(
        gw.post_referral(body(0)),
        gw.post_referral(body(1)),
        gw.post_referral(body(2)),
        gw.post_referral(body(3)),
        gw.post_referral(body(4)),
    );
    for (status, _, _) in [answers.0, answers.1, answers.2, answers.3, answers.4] {
        assert_eq!(status, StatusCode::CREATED);
    }
    assert!(
        partner
            .wait_until(PATIENCE, |r| r.iter().filter(|r| r.accepted).count() >= 5)
            .await,
        "the backlog waited for the poll: {} of 5 delivered",
        partner.accepted_tasks().len()
    );
}

#[tokio::test]
async fn updates_to_one_task_arrive_in_order_even_through_retries() {
    let gp_system = FhirPartner::start().await.expect("gp");
    gp_system.fail_next(2);
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![("A81001", fhir_rest(&gp_system))],
        delivery: "backoff_base_ms = 50\nbackoff_max_ms = 100\npoll_interval_ms = 20\nbreaker_failures = 100\n".into(),
        extra: String::new(),
        ..Setup::default()
    })
    .await;
    let (_, task) = gw.referral_with_task().await;
    let accepted = gw.move_task("riverside-lw", &task, "accepted").await;
    let working = gw.move_task("riverside-lw", &accepted, "in-progress").await;
    gw.move_task("riverside-lw", &working, "on-hold").await;
    assert!(
        gp_system
            .wait_until(PATIENCE, |_| gp_system.accepted_tasks().len() == 3)
            .await,
        "not all updates arrived"
    );
    let version = |t: &Value| {
        t["meta"]["versionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let arrived: Vec<String> = gp_system.accepted_tasks().iter().map(version).collect();
    assert_eq!(arrived, vec!["2", "3", "4"]);
    // Not even a failed attempt of a later version went before an earlier one was delivered.
    let attempted: Vec<String> = gp_system
        .received()
        .iter()
        .filter_map(|r| {
            r.body["entry"][1]["resource"]["meta"]["versionId"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let mut sorted = attempted.clone();
    sorted.sort();
    assert_eq!(attempted, sorted, "attempts out of order: {attempted:?}");
}

/// Signs a status update as the webhook partner would.
fn signed(body: &Value, id: &str, timestamp: i64) -> Vec<(String, String)> {
    let bytes = body.to_string();
    let signature = Secret::parse(SECRET)
        .expect("secret")
        .sign(id, timestamp, bytes.as_bytes());
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signature),
    ]
}

async fn post_status(
    gw: &TestGateway,
    ods: &str,
    body: &Value,
    headers: Vec<(String, String)>,
) -> (StatusCode, Value) {
    let mut request = gw
        .http
        .post(format!("{}/webhooks/{ods}/status", gw.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let (status, _, json) = answer(request.send().await.expect("post")).await;
    (status, json)
}

#[tokio::test]
async fn a_webhook_partner_gets_signed_events_and_reports_status_back() {
    let charity_app = FhirPartner::start().await.expect("charity");
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![(
            "VCS001",
            format!(
                "kind = \"webhook\"\nurl = \"{}\"\nsecret = \"{SECRET}\"\n",
                charity_app.url()
            ),
        )],
        delivery: "poll_interval_ms = 20\n".into(),
        ..Setup::default()
    })
    .await;
    let (sr, task) = gw.referral_with_task().await;
    gw.move_task("riverside-lw", &task, "accepted").await;
    let mut onward = referral();
    onward["requester"] = json!({"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "LWS001"}});
    onward["performer"] = json!([{"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "VCS001"}}]);
    onward["basedOn"] =
        json!([{"reference": format!("ServiceRequest/{}", sr["id"].as_str().expect("id"))}]);
    assert_eq!(
        gw.post_as("riverside-lw", "ServiceRequest", onward.to_string(), &[])
            .await
            .0,
        StatusCode::CREATED
    );

    assert!(
        charity_app.wait_until(PATIENCE, |r| !r.is_empty()).await,
        "no event arrived"
    );
    let event = &charity_app.received()[0];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Secret::parse(SECRET)
        .expect("secret")
        .verify(
            event.header("webhook-id").expect("id"),
            event.header("webhook-timestamp").expect("timestamp"),
            &event.raw,
            event.header("webhook-signature").expect("signature"),
            now,
        )
        .expect("the event verifies with the shared secret");
    assert_eq!(event.body["type"], "task.created");
    assert_eq!(event.body["task"]["owner"], "VCS001");
    assert!(!String::from_utf8_lossy(&event.raw).contains("9434765919"));
    let task_id = event.body["task"]["id"]
        .as_str()
        .expect("task id")
        .to_owned();

    let update =
        json!({"task_id": task_id, "status": "accepted", "reason": "We have a place on Thursdays"});
    let (status, body) = post_status(&gw, "VCS001", &update, signed(&update, "msg_1", now)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["meta"]["versionId"].as_str()),
        (Some("accepted"), Some("2"))
    );

    // Refused: a replayed id, a wrong signature, an old timestamp, an unknown partner, a forbidden move.
    let (status, outcome) =
        post_status(&gw, "VCS001", &update, signed(&update, "msg_1", now)).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::CONFLICT, "duplicate")
    );
    let mut forged = signed(&update, "msg_2", now);
    forged[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    assert_eq!(
        post_status(&gw, "VCS001", &update, forged).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, outcome) =
        post_status(&gw, "VCS001", &update, signed(&update, "msg_3", now - 400)).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::UNAUTHORIZED, "login")
    );
    // An organisation that is no webhook partner gets the answer a bad signature gets.
    assert_eq!(
        post_status(&gw, "VCS002", &update, signed(&update, "msg_4", now))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let cancel = json!({"task_id": task_id, "status": "cancelled"});
    assert_eq!(
        post_status(&gw, "VCS001", &cancel, signed(&cancel, "msg_5", now))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "only the requester cancels"
    );
    let (_, _, stored) = gw.get_as("riverside-lw", &format!("Task/{task_id}")).await;
    assert_eq!(
        (
            stored["status"].as_str(),
            stored["meta"]["versionId"].as_str()
        ),
        (Some("accepted"), Some("2")),
        "a refusal changed the Task"
    );
    assert_eq!(
        stored["statusReason"]["text"],
        "We have a place on Thursdays"
    );

    // A refused update does not use up its id: the partner may fix it and send it again.
    let premature = json!({"task_id": task_id, "status": "completed"});
    assert_eq!(
        post_status(&gw, "VCS001", &premature, signed(&premature, "msg_6", now))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let started = json!({"task_id": task_id, "status": "in-progress"});
    let (status, body) = post_status(&gw, "VCS001", &started, signed(&started, "msg_6", now)).await;
    assert_eq!(
        (status, body["meta"]["versionId"].as_str()),
        (StatusCode::OK, Some("3")),
        "{body}"
    );
    assert_eq!(
        post_status(&gw, "VCS001", &started, signed(&started, "msg_6", now))
            .await
            .0,
        StatusCode::CONFLICT,
        "now it is used"
    );
}

#[tokio::test]
async fn deliveries_waiting_longer_than_their_lease_keep_it_and_go_once() {
    let partner = FhirPartner::start().await.expect("partner");
    partner.delay(Duration::from_millis(600));
    // One at a time, 600 ms each: the last of six waits about 3 s behind the others, longer
    // than its 2 s lease. Renewed, it is neither claimed again nor given back and sent twice.
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![(
            "LWS001",
            format!(
                "kind = \"fhir-rest\"\nurl = \"{}\"\ntimeout_seconds = 1\n",
                partner.url()
            ),
        )],
        delivery: "per_partner_concurrency = 1\nlease_seconds = 2\npoll_interval_ms = 20\n".into(),
        ..Setup::default()
    })
    .await;
    let body = |n: usize| REFERRAL.replace("RS-2026-000184", &format!("RS-L-{n}"));
    let answers = tokio::join!(
        gw.post_referral(body(0)),
        gw.post_referral(body(1)),
        gw.post_referral(body(2)),
        gw.post_referral(body(3)),
        gw.post_referral(body(4)),
        gw.post_referral(body(5)),
    );
    for (status, _, _) in [
        answers.0, answers.1, answers.2, answers.3, answers.4, answers.5,
    ] {
        assert_eq!(status, StatusCode::CREATED);
    }
    assert!(
        wait_for(|| async { admin(&gw, "operator", "delivered").await.1["count"] == 6 }).await,
        "not all delivered"
    );
    let received = partner.received();
    assert_eq!(
        received.len(),
        6,
        "a delivery was sent twice: {:?}",
        received.iter().map(|r| &r.request_id).collect::<Vec<_>>()
    );
    let (_, delivered) = admin(&gw, "operator", "delivered").await;
    let attempts: Vec<&Value> = delivered["deliveries"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| &d["attempts"])
        .collect();
    assert!(attempts.iter().all(|a| **a == 1), "{attempts:?}");
}
