use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use super::*;

/// The reference vector of the Standard Webhooks test suite.
const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
const VECTOR_BODY: &str = r#"{"test": 2432232314}"#;
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn signs_the_reference_vector() {
    let secret = Secret::parse(VECTOR_SECRET).expect("secret");
    assert_eq!(
        secret.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY.as_bytes()),
        VECTOR_SIGNATURE
    );
}

#[test]
fn verifies_the_reference_vector_and_refuses_tampering_and_staleness() {
    let secret = Secret::parse(VECTOR_SECRET).expect("secret");
    let ts = VECTOR_TIMESTAMP.to_string();
    let body = VECTOR_BODY.as_bytes();
    assert_eq!(
        secret.verify(
            VECTOR_ID,
            &ts,
            body,
            VECTOR_SIGNATURE,
            VECTOR_TIMESTAMP + 10
        ),
        Ok(())
    );
    // One of several signatures (key rotation) is enough.
    let rotated = format!("v1,AAAA {VECTOR_SIGNATURE}");
    assert_eq!(
        secret.verify(VECTOR_ID, &ts, body, &rotated, VECTOR_TIMESTAMP),
        Ok(())
    );
    assert_eq!(
        secret.verify(
            VECTOR_ID,
            &ts,
            br#"{"test": 2432232315}"#,
            VECTOR_SIGNATURE,
            VECTOR_TIMESTAMP
        ),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        secret.verify("msg_other", &ts, body, VECTOR_SIGNATURE, VECTOR_TIMESTAMP),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        secret.verify(
            VECTOR_ID,
            &ts,
            body,
            VECTOR_SIGNATURE,
            VECTOR_TIMESTAMP + 301
        ),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        secret.verify(
            VECTOR_ID,
            &ts,
            body,
            VECTOR_SIGNATURE,
            VECTOR_TIMESTAMP - 301
        ),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        secret.verify(VECTOR_ID, "soon", body, VECTOR_SIGNATURE, VECTOR_TIMESTAMP),
        Err(SignatureError::BadTimestamp)
    );
    let other = Secret::parse("whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==").expect("secret");
    assert_eq!(
        other.verify(VECTOR_ID, &ts, body, VECTOR_SIGNATURE, VECTOR_TIMESTAMP),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn short_or_malformed_secrets_are_refused() {
    for bad in ["whsec_c2hvcnQ=", "whsec_not base64!", ""] {
        assert!(Secret::parse(bad).is_err(), "{bad}");
    }
    assert!(build(&json!({"url": "http://x/hook", "secret": "whsec_c2hvcnQ="})).is_err());
}

/// Requests the test receiver saw.
type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

fn delivery() -> Delivery {
    Delivery {
        id: "d1".into(),
        idempotency_key: "key-7".into(),
        correlation_id: "corr-7".into(),
        destination: "VCS001".into(),
        event: DeliveryEvent::TaskCreated,
        task: json!({"resourceType": "Task", "id": "t1", "meta": {"versionId": "1"}, "status": "requested",
            "owner": {"identifier": {"value": "VCS001"}}, "requester": {"identifier": {"value": "LWS001"}},
            "for": {"identifier": {"value": "9434765919"}}}),
        focus: json!({"resourceType": "ServiceRequest", "id": "s1", "status": "active",
            "code": {"coding": [{"display": "Referral to social prescribing service"}]},
            "reasonCode": [{"text": "Lonely since bereavement"}]}),
        attempt: 1,
        traceparent: None,
    }
}

/// A receiver on 127.0.0.1 that records every request; its URL.
async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                record.lock().expect("lock").push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAA";

/// A stored version an adapter cannot read into a tree (well-formed JSON nested deeper than
/// it reads) is refused for good, and the partner is sent nothing in its place; one it can
/// read goes out as from the tree.
#[tokio::test]
async fn a_stored_body_that_cannot_be_read_is_refused_unsent() {
    let (url, seen) = receiver().await;
    let adapter = build(&json!({"url": url, "secret": SECRET})).expect("adapter");
    let readable = delivery().stored().expect("json");
    adapter
        .outbound
        .deliver_stored(&readable)
        .await
        .expect("delivered");
    let nested = format!(
        "{{\"resourceType\":\"Task\",\"id\":\"t1\",\"extension\":{}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let mut unreadable = readable.clone();
    unreadable.task = serde_json::value::RawValue::from_string(nested).expect("json");
    match adapter.outbound.deliver_stored(&unreadable).await {
        Err(e @ DeliveryError::Permanent { .. }) => {
            assert!(e.to_string().contains("cannot be read"), "{e}")
        }
        other => panic!("expected a permanent refusal, got {other:?}"),
    }
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1, "only the readable delivery was sent");
    let event: Value = serde_json::from_slice(&seen[0].1).expect("json");
    assert_eq!(event["task"]["id"], "t1");
}

#[tokio::test]
async fn delivers_a_compact_signed_event_that_verifies() {
    let (url, seen) = receiver().await;
    let secret = SECRET;
    let adapter = build(&json!({"url": url, "secret": secret})).expect("adapter");
    adapter
        .outbound
        .deliver(&delivery())
        .await
        .expect("delivered");
    adapter
        .outbound
        .deliver(&delivery())
        .await
        .expect("delivered again");

    let seen = seen.lock().expect("lock");
    let (headers, body) = &seen[0];
    let header = |n: &str| headers[n].to_str().expect("ascii").to_owned();
    assert_eq!(header("webhook-id"), "key-7");
    assert_eq!(
        seen[1].0["webhook-id"], "key-7",
        "the webhook-id stays the same across retries"
    );
    let now = OffsetDateTime::now_utc().unix_timestamp();
    Secret::parse(secret)
        .expect("secret")
        .verify(
            &header("webhook-id"),
            &header("webhook-timestamp"),
            body,
            &header("webhook-signature"),
            now,
        )
        .expect("the partner can verify what it received");
    let event: Value = serde_json::from_slice(body).expect("json");
    assert_eq!(event["type"], "task.created");
    assert_eq!(event["task"]["id"], "t1");
    assert_eq!(event["task"]["status"], "requested");
    assert_eq!(event["task"]["owner"], "VCS001");
    assert_eq!(event["task"]["focus"]["reason"], "Lonely since bereavement");
    assert!(
        event["occurred_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        !String::from_utf8_lossy(body).contains("9434765919"),
        "the event is compact: no patient identifiers"
    );
}
