use std::sync::{Arc, Mutex};

use axum::{Router, http::HeaderMap, http::StatusCode, routing::post};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::*;
use crate::DeliveryEvent;

fn delivery() -> Delivery {
    Delivery {
        id: "d1".into(),
        idempotency_key: "key-1".into(),
        correlation_id: "corr-1".into(),
        destination: "LWS001".into(),
        event: DeliveryEvent::TaskCreated,
        task: json!({"resourceType": "Task", "id": "t1", "focus": {"reference": "ServiceRequest/s1"}}),
        focus: json!({"resourceType": "ServiceRequest", "id": "s1"}),
        attempt: 1,
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    }
}

async fn partner(
    answer: StatusCode,
    extra: Option<(&'static str, &'static str)>,
) -> (String, Arc<Mutex<Vec<(HeaderMap, Value)>>>) {
    let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/fhir",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                record.lock().expect("lock").push((headers, json));
                let mut response = axum::response::Response::new(axum::body::Body::from("{}"));
                *response.status_mut() = answer;
                if let Some((k, v)) = extra {
                    response.headers_mut().insert(k, v.parse().expect("header"));
                }
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/fhir"), seen)
}

fn adapter(url: String) -> FhirRest {
    FhirRest::new(FhirRestConfig {
        url,
        connect_timeout_seconds: Some(1),
        timeout_seconds: Some(2),
    })
    .expect("adapter")
}

#[tokio::test]
async fn posts_a_transaction_with_the_service_request_then_the_task() {
    let (url, seen) = partner(StatusCode::OK, None).await;
    let base = url.clone();
    let receipt = adapter(url).deliver(&delivery()).await.expect("delivered");
    assert_eq!(receipt.status, 200);
    let seen = seen.lock().expect("lock");
    let (headers, bundle) = &seen[0];
    assert_eq!(headers["x-request-id"], "key-1");
    assert_eq!(headers["x-correlation-id"], "corr-1");
    assert_eq!(
        headers["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(headers["content-type"], "application/fhir+json");
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    assert_eq!(bundle["entry"][0]["request"]["url"], "ServiceRequest/s1");
    assert_eq!(bundle["entry"][1]["request"]["method"], "PUT");
    assert_eq!(bundle["entry"][1]["resource"]["id"], "t1");
    // R4 (Bundle.entry.fullUrl): absolute, the partner's own base plus type and id.
    assert_eq!(
        bundle["entry"][0]["fullUrl"],
        format!("{base}/ServiceRequest/s1")
    );
    assert_eq!(bundle["entry"][1]["fullUrl"], format!("{base}/Task/t1"));
}

#[test]
fn full_urls_are_absolute_on_the_partner_base_whatever_its_trailing_slash() {
    for base in [
        "https://partner.example/fhir",
        "https://partner.example/fhir/",
    ] {
        let stored = delivery().stored().expect("json");
        let bundle =
            serde_json::to_value(transaction_bundle(&stored, base).expect("bundle")).expect("json");
        let urls: Vec<&str> = bundle["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["fullUrl"].as_str())
            .collect();
        assert_eq!(
            urls,
            [
                "https://partner.example/fhir/ServiceRequest/s1",
                "https://partner.example/fhir/Task/t1"
            ]
        );
    }
}

#[test]
fn a_resource_without_an_id_is_refused_not_sent_with_an_empty_address() {
    let mut delivery = delivery();
    delivery.focus = json!({"resourceType": "ServiceRequest"});
    let stored = delivery.stored().expect("json");
    match transaction_bundle(&stored, "https://partner.example/fhir") {
        Err(e @ DeliveryError::Permanent { .. }) => assert!(e.to_string().contains("no id"), "{e}"),
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
}

/// Each resource goes out exactly as the store holds it: nothing reads it into a tree and writes
/// it out again on the way (issue 27), so nothing in it is respelled.
#[test]
fn each_resource_is_sent_byte_for_byte_as_stored() {
    let task = r#"{"resourceType":"Task","id":"t1","note":[{"text":"Caf\u00e9 at 10"}],"input":[{"valueDecimal":1.50}]}"#;
    let focus = r#"{"resourceType":"ServiceRequest","id":"s1","status":"active"}"#;
    let raw = |text: &str| RawValue::from_string(text.to_owned()).expect("json");
    let stored = delivery().carrying(raw(task), raw(focus));
    let body = serde_json::to_string(
        &transaction_bundle(&stored, "https://partner.example/fhir").expect("bundle"),
    )
    .expect("body");
    assert!(body.contains(task), "the Task was rewritten: {body}");
    assert!(
        body.contains(focus),
        "the ServiceRequest was rewritten: {body}"
    );
}

#[test]
fn a_resource_that_is_not_an_object_is_refused() {
    let stored = delivery().carrying(
        RawValue::from_string("[]".into()).expect("json"),
        RawValue::from_string(r#"{"resourceType":"ServiceRequest","id":"s1"}"#.into())
            .expect("json"),
    );
    match transaction_bundle(&stored, "https://partner.example/fhir") {
        Err(e @ DeliveryError::Permanent { .. }) => {
            assert!(e.to_string().contains("cannot be addressed"), "{e}")
        }
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_and_throttling_are_transient() {
    let (url, _) = partner(StatusCode::SERVICE_UNAVAILABLE, None).await;
    assert!(matches!(
        adapter(url).deliver(&delivery()).await,
        Err(DeliveryError::Transient { .. })
    ));
    let (url, _) = partner(StatusCode::TOO_MANY_REQUESTS, Some(("retry-after", "7"))).await;
    match adapter(url).deliver(&delivery()).await {
        Err(DeliveryError::Transient { retry_after, .. }) => {
            assert_eq!(retry_after, Some(std::time::Duration::from_secs(7)))
        }
        other => panic!("expected transient, got {other:?}"),
    }
}

#[tokio::test]
async fn client_errors_are_permanent_and_keep_the_answer() {
    let (url, _) = partner(StatusCode::UNPROCESSABLE_ENTITY, None).await;
    match adapter(url).deliver(&delivery()).await {
        Err(e @ DeliveryError::Permanent { .. }) => {
            assert!(e.to_string().contains("422"), "{e}");
            assert!(
                e.record().contains("{}"),
                "the partner's answer is kept for the operator: {}",
                e.record()
            );
        }
        other => panic!("expected permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let result = adapter(format!("http://{addr}/fhir"))
        .deliver(&delivery())
        .await;
    assert!(
        matches!(result, Err(DeliveryError::Transient { .. })),
        "{result:?}"
    );
}
