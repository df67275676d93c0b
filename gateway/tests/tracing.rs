//! One trace from a GP system's post, through the outbox and the background delivery, to the
//! partner's receipt, exported to an in-memory exporter.

mod support;

use std::time::Duration;

use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use reqwest::StatusCode;
use signpost_conformance::simulators::FhirPartner;
use signpost_gateway::telemetry::traces;
use support::{REFERRAL, Setup, TestGateway};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn one_trace_runs_from_intake_through_delivery_to_the_partner() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    tracing_subscriber::registry()
        .with(traces::layer(&provider))
        .init();

    let partner = FhirPartner::start().await.expect("partner");
    let gw = TestGateway::spawn_setup(Setup {
        adapters: vec![(
            "LWS001",
            format!("kind = \"fhir-rest\"\nurl = \"{}\"\n", partner.url()),
        )],
        delivery: "poll_interval_ms = 20\n".into(),
        ..Setup::default()
    })
    .await;
    let token = gw.token("riverside-gp").await;
    let response = gw
        .http
        .post(format!("{}/ServiceRequest", gw.fhir))
        .bearer_auth(token)
        .header("content-type", "application/fhir+json")
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .header("x-correlation-id", "7c9e6679-7425-40de-944b-e07fc1f90ae7")
        .body(REFERRAL)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["x-correlation-id"],
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "the correlation id is echoed"
    );

    assert!(
        partner
            .wait_until(Duration::from_secs(20), |r| r.iter().any(|r| r.accepted))
            .await,
        "not delivered"
    );
    let received = &partner.received()[0];
    let traceparent = received
        .header("traceparent")
        .expect("the partner got a traceparent");
    assert_eq!(
        traceparent.split('-').nth(1),
        Some(TRACE_ID),
        "{traceparent}"
    );
    assert_eq!(
        received.correlation_id.as_deref(),
        Some("7c9e6679-7425-40de-944b-e07fc1f90ae7")
    );

    let expected = TraceId::from_hex(TRACE_ID).expect("trace id");
    let mut names = Vec::new();
    for _ in 0..100 {
        names = exporter
            .get_finished_spans()
            .expect("spans")
            .into_iter()
            .filter(|s| s.span_context.trace_id() == expected)
            .map(|s| s.name.to_string())
            .collect();
        if names.contains(&"request".to_owned()) && names.contains(&"delivery".to_owned()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        names.contains(&"request".to_owned()),
        "the intake span is not in the caller's trace: {names:?}"
    );
    assert!(
        names.contains(&"delivery".to_owned()),
        "the background delivery is not in the same trace: {names:?}"
    );
    // The partner's traceparent names the delivery span as parent: a span of this trace.
    let parent = traceparent.split('-').nth(2).expect("span id");
    let delivery_span = exporter
        .get_finished_spans()
        .expect("spans")
        .into_iter()
        .find(|s| s.name == "delivery")
        .expect("delivery span");
    assert_eq!(delivery_span.span_context.span_id().to_string(), parent);
}
