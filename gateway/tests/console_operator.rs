//! The operator's console pages over plain HTTP against the real gateway and store: a person
//! of another console role gets 404 for every operator page and form; replay and discard need
//! the session's CSRF token; a discarded delivery stays readable as discarded, in the console
//! and the admin API, and the discard is audited under the operator's name; the audit trail's
//! filters find it and refuse a date that is not one.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signpost_conformance::simulators::FhirPartner;
use signpost_gateway::store::DeliveryState;

use crate::support::console::{self, get, post, volunteer};
use crate::support::{Setup, TestGateway};

/// How long a delivery may take to go dead: a bound on waiting, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(20);
const REFUSAL: &str = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"unknown practitioner"}]}"#;

/// A gateway whose link-worker partner refuses everything with a 400 (dead at once), the GP's
/// referral posted through the API, and its creation's delivery dead: (gateway, partner, the
/// GP's ServiceRequest, the dead delivery's id).
pub(crate) async fn dead_delivery() -> (TestGateway, FhirPartner, Value, String) {
    let partner = FhirPartner::start().await.expect("partner");
    partner.fail_with(400, REFUSAL);
    partner.set_down(true);
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![(
            "LWS001",
            format!("kind = \"fhir-rest\"\nurl = \"{}\"\n", partner.url()),
        )],
        delivery: "max_attempts = 2\nbackoff_base_ms = 10\nbackoff_max_ms = 20\npoll_interval_ms = 20\nbreaker_failures = 100\n".into(),
        ..Setup::default()
    })
    .await;
    let (sr, _) = gw.referral_with_task().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let dead = gw
            .store
            .list_deliveries(DeliveryState::Dead, 10)
            .await
            .expect("list");
        if let Some(d) = dead.first() {
            return (gw, partner, sr, d.id.clone());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refused delivery never went dead"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Signs in over HTTP and opens `landing`: (session cookie, its CSRF token, the landing status).
async fn sign_in(
    gw: &TestGateway,
    email: &str,
    secret: &str,
    landing: &str,
) -> (String, String, StatusCode) {
    let (session, csrf) = console::sign_in(gw, email, secret).await;
    let status = get(gw, &session, landing).await.0;
    (session, csrf, status)
}

#[tokio::test]
async fn operator_pages_are_for_operators_and_their_forms_need_the_token() {
    let (gw, _partner, _, dead) = dead_delivery().await;
    volunteer(
        &gw,
        "VCS001",
        "Val Volunteer",
        "val@mill-lane.example",
        "a long enough passphrase",
    )
    .await;
    console::operator(&gw, "oona@signpost.example", "an operator's passphrase").await;
    let pages = [
        "/console/operator/deliveries".to_owned(),
        "/console/operator/deliveries?state=pending".to_owned(),
        format!("/console/operator/deliveries/{dead}"),
        format!("/console/operator/deliveries/{dead}/replay"),
        format!("/console/operator/deliveries/{dead}/discard"),
        format!("/console/operator/timeline?q={dead}"),
        "/console/operator/partners".to_owned(),
        "/console/operator/audit".to_owned(),
        "/console/operator/unmet-demand".to_owned(),
    ];

    // A volunteer, signed in with a valid token: every operator page and form is a 404.
    let (val, val_csrf, _) = sign_in(
        &gw,
        "val@mill-lane.example",
        "a long enough passphrase",
        "/console/vcs/referrals",
    )
    .await;
    // The console's own 404, as for a referral that does not exist.
    let (_, not_found) = get(&gw, &val, "/console/vcs/referrals/no-such-referral").await;
    for path in &pages {
        let (status, body) = get(&gw, &val, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, not_found, "{path} tells a volunteer something");
    }
    for action in ["replay", "discard"] {
        let (status, _, _) = post(
            &gw,
            &val,
            &format!("/console/operator/deliveries/{dead}/{action}"),
            &[("csrf", val_csrf.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a volunteer's {action}");
    }

    // The operator sees every page; without the session's token, or with another's, nothing changes.
    let (oona, csrf, status) = sign_in(
        &gw,
        "oona@signpost.example",
        "an operator's passphrase",
        "/console/operator/deliveries",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for path in &pages {
        let (status, _) = get(&gw, &oona, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    for action in ["replay", "discard"] {
        let path = format!("/console/operator/deliveries/{dead}/{action}");
        for form in [vec![], vec![("csrf", val_csrf.as_str())]] {
            let (status, _, _) = post(&gw, &oona, &path, &form).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{action} with {form:?}");
        }
    }
    let still = gw.store.delivery(&dead).await.expect("read").expect("kept");
    assert_eq!(still.state, DeliveryState::Dead);

    // With the token, the discard is done: the delivery stays, readable as discarded.
    let (status, location, _) = post(
        &gw,
        &oona,
        &format!("/console/operator/deliveries/{dead}/discard"),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location.as_deref(),
        Some(format!("/console/operator/deliveries/{dead}").as_str())
    );
    let discarded = gw.store.delivery(&dead).await.expect("read").expect("kept");
    assert_eq!(discarded.state, DeliveryState::Discarded);
    let (status, page) = get(&gw, &oona, &format!("/console/operator/deliveries/{dead}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(">Discarded<"), "{page}");
    assert!(!page.contains("id=\"replay\""), "{page}");
    let (_, listed) = get(&gw, &oona, "/console/operator/deliveries?state=discarded").await;
    assert!(listed.contains(&dead), "{listed}");
    let admin: Value = gw
        .http
        .get(format!("{}/admin/deliveries?state=discarded", gw.base))
        .bearer_auth(gw.token("operator").await)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(admin["deliveries"][0]["id"], dead.as_str(), "{admin}");
    // A second discard finds nothing dead to drop.
    let (status, _, _) = post(
        &gw,
        &oona,
        &format!("/console/operator/deliveries/{dead}/discard"),
        &[("csrf", csrf.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The audit trail, filtered by who and their organisation, names the operator's discard.
    let (status, trail) = get(
        &gw,
        &oona,
        "/console/operator/audit?organisation=LWS001&action=U",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        trail.contains(&format!("outbox delivery {dead}: discarded by an operator")),
        "{trail}"
    );
    assert!(trail.contains("Oona Operator"), "{trail}");
    let (_, elsewhere) = get(&gw, &oona, "/console/operator/audit?organisation=VCS002").await;
    assert!(
        !elsewhere.contains("discarded by an operator"),
        "{elsewhere}"
    );
    let (status, refused) = get(&gw, &oona, "/console/operator/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("nhsuk-error-summary"), "{refused}");
    assert!(refused.contains("href=\"#from\""), "{refused}");
}

/// A referral that came in as a BaRS message is found by the message's `Bundle.id`, which the
/// GP system knows it by; a key that names nothing is the form's error, not an empty timeline.
#[tokio::test]
async fn a_timeline_is_found_by_the_bars_message_a_referral_came_in() {
    let gw = TestGateway::spawn().await;
    let message: Value = serde_json::from_str(include_str!(
        "../../adapters/src/bars/fixtures/referral-request.json"
    ))
    .expect("fixture");
    let bundle_id = message["id"].as_str().expect("Bundle.id").to_owned();
    let sent = gw
        .http
        .post(format!("{}/$process-message", gw.fhir))
        .header("content-type", "application/fhir+json")
        .header("x-request-id", uuid::Uuid::new_v4().to_string())
        .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
        .bearer_auth(gw.token("riverside-gp").await)
        .body(message.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(sent.status(), StatusCode::CREATED);
    let sr: Value = sent.json().await.expect("json");
    let sr_id = sr["id"].as_str().expect("id");

    console::operator(&gw, "oona@signpost.example", "an operator's passphrase").await;
    let (oona, _, _) = sign_in(
        &gw,
        "oona@signpost.example",
        "an operator's passphrase",
        "/console/operator/timeline",
    )
    .await;
    let (status, page) = get(
        &gw,
        &oona,
        &format!("/console/operator/timeline?q={bundle_id}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!(
            "Timeline of <span class=\"nhsuk-u-text-break-word\">ServiceRequest/{sr_id}"
        )),
        "{page}"
    );
    assert!(page.contains("Status <strong>requested</strong>"), "{page}");
    let (status, page) = get(&gw, &oona, "/console/operator/timeline?q=no-such-message").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("No referral has the id or identifier no-such-message"),
        "{page}"
    );
}
