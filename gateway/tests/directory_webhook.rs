//! A VCS provider whose system speaks only webhooks declares its service's capacity by a signed
//! message (`POST /webhooks/{ods}/capacity`, Standard Webhooks, its adapter's secret): the same
//! command as a FHIR PUT/PATCH, so the same rules hold (its own services only, audited, with an
//! expiry), and a refused message changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_adapters::webhook::Secret;
use signpost_gateway::directory::capacity::SIGNPOST_CAPACITY_URL;
use signpost_gateway::workflow::import_directory::import_services;

use crate::support::{Setup, TestGateway, answer, directory_service, issue};

const WALKERS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA";
const ADVICE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBBBB";

/// A walking service in S1 provided by `ods`.
fn service(key: &str, name: &str, ods: &str) -> Value {
    directory_service(key, name, ods, "walking", "S1 2AB", None)
}

/// Both VCS organisations have a webhook adapter, each with its own secret; the walkers provide
/// one service and the advice service another.
async fn gateway() -> (TestGateway, String) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let webhook = |secret: &str| {
        format!(
            "kind = \"webhook\"\nurl = \"http://127.0.0.1:{closed}/events\"\nsecret = \"{secret}\"\n"
        )
    };
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![
            ("VCS001", webhook(WALKERS_SECRET)),
            ("VCS002", webhook(ADVICE_SECRET)),
        ],
        ..Setup::default()
    })
    .await;
    import_services(
        gw.store.as_ref(),
        &[
            service("walk", "Mill Lane Walking Group", "VCS001"),
            service("debt", "Money and Debt Advice", "VCS002"),
        ],
        Some("https://feed.test/services"),
    )
    .await
    .expect("import");
    let (_, _, found) = gw
        .get_as("riverside-lw", "HealthcareService?name=walking")
        .await;
    let id = found["entry"][0]["resource"]["id"]
        .as_str()
        .expect("the walking group")
        .to_owned();
    (gw, id)
}

async fn post_capacity(
    gw: &TestGateway,
    ods: &str,
    secret: &str,
    message_id: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let bytes = body.to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = Secret::parse(secret)
        .expect("secret")
        .sign(message_id, now, bytes.as_bytes());
    let (status, _, json) = answer(
        gw.http
            .post(format!("{}/webhooks/{ods}/capacity", gw.base))
            .header("content-type", "application/json")
            .header("webhook-id", message_id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(bytes)
            .send()
            .await
            .expect("post"),
    )
    .await;
    (status, json)
}

/// The names of the services found with room now.
async fn with_room(gw: &TestGateway) -> Vec<String> {
    let (_, _, found) = gw
        .get_as("riverside-lw", "HealthcareService?capacity=capacity")
        .await;
    found["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["name"].as_str().map(str::to_owned))
        .collect()
}

/// The walking group's stored version, to show a refusal wrote nothing.
async fn version(gw: &TestGateway, id: &str) -> i64 {
    gw.store
        .read("HealthcareService", id)
        .await
        .expect("read")
        .expect("stored")
        .version
}

#[tokio::test]
async fn a_signed_capacity_message_from_the_provider_changes_the_search_result() {
    let (gw, id) = gateway().await;
    assert!(with_room(&gw).await.is_empty());
    let audits = gw.count("AuditEvent").await;

    let declared = json!({"service_id": id, "status": "capacity", "available": 3, "maximum": 10,
        "notes": "Thursday mornings"});
    let (status, body) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_1", &declared).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["meta"]["versionId"], "2");
    assert_eq!(with_room(&gw).await, ["Mill Lane Walking Group"]);
    // Recorded as the provider's, now, with the default expiry, and audited.
    let counts = body["extension"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["url"] == SIGNPOST_CAPACITY_URL))
        .and_then(|e| e["extension"].as_array())
        .expect("counts")
        .clone();
    let field = |name: &str| {
        counts
            .iter()
            .find(|e| e["url"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(field("source")["valueCode"], "provider");
    assert_eq!(field("available")["valueUnsignedInt"], 3);
    assert!(field("expires")["valueInstant"].is_string(), "{counts:?}");
    assert_eq!(gw.count("AuditEvent").await, audits + 1);

    // Full now, by a second message naming the version it saw.
    let full = json!({"service_id": id, "status": "no-capacity", "available": 0, "version": 2});
    let (status, body) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_2", &full).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(with_room(&gw).await.is_empty());
}

#[tokio::test]
async fn forged_foreign_malformed_stale_and_replayed_capacity_messages_change_nothing() {
    let (gw, id) = gateway().await;
    let declared = json!({"service_id": id, "status": "capacity", "available": 3});
    let (status, _) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_1", &declared).await;
    assert_eq!(status, StatusCode::OK);
    let before = version(&gw, &id).await;
    let full = json!({"service_id": id, "status": "no-capacity"});

    // Signed with another secret than the walkers'.
    let (status, outcome) = post_capacity(&gw, "VCS001", ADVICE_SECRET, "msg_2", &full).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::UNAUTHORIZED, "login"),
        "{outcome}"
    );
    // Correctly signed by the advice service, for the walkers' service.
    let (status, outcome) = post_capacity(&gw, "VCS002", ADVICE_SECRET, "msg_3", &full).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{outcome}");
    assert!(
        outcome["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("only the service's provider")),
        "{outcome}"
    );
    // Not a capacity message, an unknown status, an unreadable expiry, an expiry already past.
    for (body, says) in [
        (json!({"service_id": id, "places": 3}), "service_id"),
        (
            json!({"service_id": id, "status": "lots"}),
            "status \"lots\"",
        ),
        (
            json!({"service_id": id, "status": "capacity", "expires": "next week"}),
            "expires \"next week\"",
        ),
    ] {
        let (status, outcome) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_4", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {outcome}");
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .is_some_and(|d| d.contains(says)),
            "{body}: {outcome}"
        );
    }
    let past = json!({"service_id": id, "status": "capacity", "expires": "2020-01-01T00:00:00Z"});
    let (status, outcome) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_5", &past).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
    // Based on a version that is no longer current.
    let stale = json!({"service_id": id, "status": "no-capacity", "version": 1});
    let (status, outcome) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_6", &stale).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{outcome}");
    // The first message again: a replay.
    let (status, outcome) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_1", &full).await;
    assert_eq!(
        (status, issue(&outcome).0),
        (StatusCode::CONFLICT, "duplicate"),
        "{outcome}"
    );
    // A service nobody has.
    let nobody = json!({"service_id": "no-such-service", "status": "capacity"});
    let (status, _) = post_capacity(&gw, "VCS001", WALKERS_SECRET, "msg_7", &nobody).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(version(&gw, &id).await, before, "nothing was written");
    assert_eq!(with_room(&gw).await, ["Mill Lane Walking Group"]);
}
